//! Request-head limits of both listeners: an over-long request target gets 414 and too many
//! header bytes 431, before any handler runs. actix-web's own ceiling (128 KiB of head, 96
//! headers) is far above what a token or admin request needs; these make it configurable.
//! Like actix-web's own 431, the answers have no body: the status says it all, and both
//! OpenAPI documents describe them so (see `http::openapi::TransportLimits`).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};

use crate::state::AppState;

fn oversized(req: &ServiceRequest) -> Option<StatusCode> {
    let server = &req.app_data::<web::Data<AppState>>()?.settings.server;
    let uri = req.uri();
    let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if target > server.max_uri_bytes {
        return Some(StatusCode::URI_TOO_LONG);
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > server.max_header_bytes {
        return Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    None
}

/// The limits, as a middleware of both listeners.
pub async fn check<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    match oversized(&req) {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(status) => {
            // The access line shows the status; this only says why, for debugging.
            log::debug!("request refused before routing: {status}");
            Ok(req
                .into_response(HttpResponse::new(status))
                .map_into_right_body())
        }
    }
}
