//! Request-head limits of both listeners: an over-long request target gets 414 and too many
//! header bytes 431, before any handler runs. actix-web's own ceiling (128 KiB of head, 96
//! headers) is far above what a token or admin request needs; these make it configurable.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};

use crate::state::AppState;

/// Which listener's error format to answer in.
#[derive(Clone, Copy)]
enum Wire {
    /// `{"error", "error_description"}`, as the public endpoints answer.
    Public,
    /// `{"error", "message"}`, the admin API's format.
    Admin,
}

fn oversized(req: &ServiceRequest) -> Option<(StatusCode, String)> {
    let server = &req.app_data::<web::Data<AppState>>()?.settings.server;
    let uri = req.uri();
    let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if target > server.max_uri_bytes {
        return Some((
            StatusCode::URI_TOO_LONG,
            format!("the request target exceeds {} bytes", server.max_uri_bytes),
        ));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > server.max_header_bytes {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request headers exceed {} bytes",
                server.max_header_bytes
            ),
        ));
    }
    None
}

async fn check<B: MessageBody>(
    wire: Wire,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some((status, message)) = oversized(&req) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let response = match wire {
        Wire::Public => HttpResponse::build(status).json(serde_json::json!({
            "error": "invalid_request",
            "error_description": message,
        })),
        Wire::Admin => super::admin::error::body(status, "invalid_request", &message),
    };
    Ok(req.into_response(response).map_into_right_body())
}

/// The limits, answering in the public listener's format.
pub async fn public<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    check(Wire::Public, req, next).await
}

/// The limits, answering in the admin API's format.
pub async fn admin<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    check(Wire::Admin, req, next).await
}
