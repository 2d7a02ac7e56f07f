//! RFC 6749 §5.1/§5.2 responses: the one place an [`OAuthError`] becomes HTTP, and the OpenAPI
//! description of those responses.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

use crate::domain::oauth_error::OAuthError;
use crate::service::token::IssuedToken;

/// RFC 6749 §5.1: a successful token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token: an RS256 JWT (RFC 9068 profile).
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 86400)]
    pub expires_in: i64,
    /// The token's space-separated scopes, when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// RFC 6749 §5.2: an error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// The RFC 6749 error code: `invalid_request`, `invalid_client`, `unsupported_grant_type`,
    /// `invalid_target`, `invalid_scope`, `unauthorized_client`, `temporarily_unavailable`,
    /// `rate_limited`, `quota_exceeded`.
    #[schema(example = "invalid_client")]
    pub error: String,
    /// A sentence for the developer.
    pub error_description: String,
}

fn no_store(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// 200 with the token.
pub fn success(token: &IssuedToken) -> HttpResponse {
    let mut response = HttpResponse::Ok().json(TokenResponse {
        access_token: token.access_token.clone(),
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: token.scope.clone(),
    });
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
    let mut response = HttpResponse::build(status(error)).json(OAuthErrorBody {
        error: error.to_string(),
        error_description: error.description(),
    });
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
                HeaderValue::from_static(crate::http::UNAVAILABLE_RETRY_AFTER),
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

/// `invalid_request` (malformed body, wrong Content-Type, missing `grant_type`, a repeated
/// parameter, credentials both in Basic and in the body, body over 16 KiB),
/// `unsupported_grant_type`, `invalid_target`, `invalid_scope` or `unauthorized_client` (the
/// credential's account or workspace is suspended).
#[derive(IntoResponses)]
#[response(
    status = 400,
    headers(
        ("Cache-Control" = String, description = "`no-store`"),
        ("Pragma" = String, description = "`no-cache`"),
    )
)]
pub struct BadRequest(pub OAuthErrorBody);

/// `invalid_client`: unknown client, wrong or malformed secret, deactivated or expired
/// credential, or an `Authorization` scheme that is not a supported client authentication.
/// Unknown client and wrong secret give the same body.
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(
        ("WWW-Authenticate" = String,
            description = "Only when the client authenticated with HTTP Basic: `Basic realm=\"tessera\"`."),
        ("Cache-Control" = String, description = "`no-store`"),
        ("Pragma" = String, description = "`no-cache`"),
    )
)]
pub struct InvalidClient(pub OAuthErrorBody);

/// `quota_exceeded`: the account has used up its plan's monthly token quota.
#[derive(IntoResponses)]
#[response(
    status = 402,
    headers(
        ("Retry-After" = u32, description = "Seconds until the quota resets (the next UTC month)."),
        ("Cache-Control" = String, description = "`no-store`"),
        ("Pragma" = String, description = "`no-cache`"),
    )
)]
pub struct QuotaExceeded(pub OAuthErrorBody);

/// `rate_limited`: too many failed authentications from this client id or address, or more
/// token requests a minute than the credential's plan allows.
#[derive(IntoResponses)]
#[response(
    status = 429,
    headers(
        ("Retry-After" = u32, description = "Seconds to wait before retrying."),
        ("Cache-Control" = String, description = "`no-store`"),
        ("Pragma" = String, description = "`no-cache`"),
    )
)]
pub struct RateLimited(pub OAuthErrorBody);

/// `temporarily_unavailable`: the database is unreachable.
#[derive(IntoResponses)]
#[response(
    status = 503,
    headers(
        ("Retry-After" = u32, description = "Seconds to wait before retrying."),
        ("Cache-Control" = String, description = "`no-store`"),
        ("Pragma" = String, description = "`no-cache`"),
    )
)]
pub struct Unavailable(pub OAuthErrorBody);
