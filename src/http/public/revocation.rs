//! `GET /oauth/revocations`, `POST /oauth/introspect`, `POST /oauth/revoke`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::oauth_response;
use super::token::read_body;
use super::token_request::{self, TokenRequest};
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::http::client_ip;
use crate::service::admin::{admin_tokens, AdminError};
use crate::service::revocation::{self, Introspector};
use crate::state::AppState;

/// Validators poll the feed; a few seconds of caching bounds the load without delaying a
/// revocation noticeably.
const FEED_MAX_AGE: &str = "public, max-age=5";

/// The revocation feed.
pub async fn feed(state: web::Data<AppState>) -> HttpResponse {
    match revocation::feed(&state).await {
        Ok(feed) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, FEED_MAX_AGE))
            .json(feed),
        Err(e) => oauth_response::error(&e, false),
    }
}

async fn parse_form(
    req: &HttpRequest,
    payload: web::Payload,
    authorization: Option<&[u8]>,
) -> Result<TokenRequest, OAuthError> {
    let body = read_body(req, payload).await?;
    token_request::parse(
        req.headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        authorization,
        &body,
    )
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
}

/// RFC 7662 introspection, for callers holding an admin token (Bearer) or a credential.
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let basic = authorization.is_some_and(token_request::is_basic);
    let admin = bearer(&req);
    let result = async {
        let parsed = parse_form(
            &req,
            payload,
            if admin.is_some() { None } else { authorization },
        )
        .await?;
        let caller = match admin {
            Some(token) => {
                let caller = admin_tokens::authenticate(&state, &token, None, client_ip(&req))
                    .await
                    .map_err(|e| match e {
                        AdminError::Unavailable => OAuthError::TemporarilyUnavailable,
                        _ => OAuthError::InvalidClient(CLIENT_AUTH_FAILED),
                    })?;
                Introspector {
                    account_scope: caller.account_scope,
                }
            }
            None => {
                let credential = revocation::authenticate_caller(
                    &state,
                    parsed.client,
                    client_ip(&req).as_deref(),
                )
                .await?;
                Introspector {
                    account_scope: Some(credential.account_id),
                }
            }
        };
        revocation::introspect(&state, &caller, parsed.token).await
    }
    .await;
    match result {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body),
        Err(e) => oauth_response::error(&e, basic),
    }
}

/// RFC 7009 revocation of one of the caller's own tokens.
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let basic = authorization.is_some_and(token_request::is_basic);
    let result = async {
        let parsed = parse_form(&req, payload, authorization).await?;
        revocation::revoke(
            &state,
            parsed.client,
            client_ip(&req).as_deref(),
            parsed.token,
        )
        .await
    }
    .await;
    match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => oauth_response::error(&e, basic),
    }
}
