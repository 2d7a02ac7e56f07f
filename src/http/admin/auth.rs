//! The [`Caller`] extractor: every admin handler takes one, so none runs unauthenticated.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::http::{bearer_token, client_ip};
use crate::service::admin::admin_tokens::authenticate;
use crate::service::admin::{AdminError, Caller};
use crate::state::AppState;

impl FromRequest for Caller {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer_token(req);
        let actor = req
            .headers()
            .get("X-Actor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ip = client_ip(req);
        Box::pin(async move {
            let state = state.ok_or(AdminError::Internal)?;
            let bearer = bearer.ok_or(AdminError::Unauthorized)?;
            authenticate(&state, &bearer, actor.as_deref(), ip).await
        })
    }
}
