//! The one place an [`AdminError`] becomes an HTTP response: `{"error": code, "message": …}`,
//! and the OpenAPI description of those responses.

use actix_web::error::JsonPayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

use crate::service::admin::AdminError;

/// Every admin API error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminErrorBody {
    /// The error code: `invalid_request` (400), `unauthorized` (401), `forbidden` (403),
    /// `not_found` (404), `conflict` or `limit_exceeded` (409), `temporarily_unavailable` (503).
    #[schema(example = "not_found")]
    pub error: String,
    /// A sentence for a human.
    #[schema(example = "credential not found")]
    pub message: String,
}

/// A response in the admin error format.
pub fn body(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(AdminErrorBody {
        error: code.to_owned(),
        message: message.to_owned(),
    })
}

/// The admin bearer token's realm, in every 401 challenge.
const CHALLENGE: &str = "Bearer realm=\"tessera-admin\"";
impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            Self::Validation(_) => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. } => code,
            Self::Unavailable => "temporarily_unavailable",
            Self::Internal => "internal_error",
        };
        let mut response = body(self.status_code(), code, &self.to_string());
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(CHALLENGE),
                );
            }
            Self::Unavailable => {
                headers.insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from_static(crate::http::UNAVAILABLE_RETRY_AFTER),
                );
            }
            _ => {}
        }
        response
    }
}

/// A request body that is not acceptable JSON, as a 400 in the admin format.
pub fn json_error(e: JsonPayloadError) -> AdminError {
    AdminError::Validation(match e {
        JsonPayloadError::ContentType => "Content-Type must be application/json".to_owned(),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            "the request body exceeds 64 KiB".to_owned()
        }
        JsonPayloadError::Deserialize(e) => format!("invalid JSON body: {e}"),
        _ => "the request body could not be read".to_owned(),
    })
}

/// `invalid_request`: the body, a query parameter or a value broke a rule.
#[derive(IntoResponses)]
#[response(status = 400)]
pub struct InvalidRequest(pub AdminErrorBody);

/// `unauthorized`: no admin bearer token, or not a valid one.
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tessera-admin\"`"))
)]
pub struct Unauthorized(pub AdminErrorBody);

/// `forbidden`: the admin token is scoped to another account, or the change is
/// platform-wide (new accounts, plans, suspensions) and the token is scoped.
#[derive(IntoResponses)]
#[response(status = 403)]
pub struct Forbidden(pub AdminErrorBody);

/// `not_found`: no such resource (or an id that cannot be one).
#[derive(IntoResponses)]
#[response(status = 404)]
pub struct NotFound(pub AdminErrorBody);

/// `conflict` (the resource's state forbids the change) or `limit_exceeded` (the plan's
/// limit of active credentials).
#[derive(IntoResponses)]
#[response(status = 409)]
pub struct Conflict(pub AdminErrorBody);

/// `temporarily_unavailable`: the database is unreachable.
#[derive(IntoResponses)]
#[response(
    status = 503,
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))
)]
pub struct Unavailable(pub AdminErrorBody);
