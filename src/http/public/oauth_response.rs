//! RFC 6749 §5.1/§5.2 responses: the one place an [`OAuthError`] becomes HTTP.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

use crate::domain::oauth_error::OAuthError;
use crate::service::token::IssuedToken;

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECONDS: &str = "5";

fn no_store(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// 200 with the token.
pub fn success(token: &IssuedToken) -> HttpResponse {
    let mut body = json!({
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
    });
    if let Some(scope) = &token.scope {
        body["scope"] = json!(scope);
    }
    let mut response = HttpResponse::Ok().json(body);
    no_store(&mut response);
    response
}

/// The status of each error.
pub fn status(error: &OAuthError) -> StatusCode {
    match error {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        // 402, as the seed product answers an exhausted quota: the client can do nothing but
        // wait for the next month or have its account's plan changed.
        OAuthError::QuotaExceeded { .. } => StatusCode::PAYMENT_REQUIRED,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The error body and headers. `basic` says the client authenticated with HTTP Basic, which makes
/// a 401 carry a `WWW-Authenticate` challenge (RFC 6749 §5.2).
pub fn error(error: &OAuthError, basic: bool) -> HttpResponse {
    let mut response = HttpResponse::build(status(error)).json(json!({
        "error": error.to_string(),
        "error_description": error.description(),
    }));
    no_store(&mut response);
    let headers = response.headers_mut();
    match error {
        OAuthError::InvalidClient(_) if basic => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\""),
            );
        }
        OAuthError::TemporarilyUnavailable => {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        OAuthError::RateLimited { retry_after, .. }
        | OAuthError::QuotaExceeded { retry_after, .. } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        _ => {}
    }
    response
}
