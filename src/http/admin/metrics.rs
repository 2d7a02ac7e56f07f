//! `GET /metrics` on the admin listener: the process's Prometheus metrics
//! ([`crate::telemetry`]). Open to whoever reaches the listener, unless `metrics.require_token`
//! asks for an admin token (any, scoped or not).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::{bearer_token, client_ip};
use crate::service::admin::admin_tokens::authenticate;
use crate::service::admin::AdminError;
use crate::state::AppState;

/// The path.
pub const PATH: &str = "/metrics";

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics.
///
/// The text exposition format. Needs an admin token only when `metrics.require_token` is set.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    security((), ("admin_token" = [])),
    responses(
        (status = 200, description = "Every metric family, in the Prometheus text format.",
            body = String, content_type = "text/plain"),
        (status = 401, description = "`metrics.require_token` is set and no valid admin token \
            was sent.", body = super::error::AdminErrorBody),
    )
)]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    if state.settings.metrics.require_token {
        let bearer = bearer_token(&req).ok_or(AdminError::Unauthorized)?;
        authenticate(&state, &bearer, None, client_ip(&req)).await?;
    }
    let body = crate::telemetry::render(&state);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
