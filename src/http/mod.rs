//! HTTP: thin handlers that parse, call a service and map its result. Errors become wire bodies
//! in exactly two places: [`public::oauth_response`] (RFC 6749 §5.2) and [`admin::error`].

pub mod admin;
pub mod client_addr;
pub mod limits;
pub mod openapi;
pub mod public;
pub mod routes;

pub use client_addr::client_ip;

/// The access-log format: no query string, which is where a careless client might put a secret.
pub const ACCESS_LOG_FORMAT: &str = "%a %{method}xi %U %s %b %Dms";

/// The access logger of both listeners.
pub fn access_log() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new(ACCESS_LOG_FORMAT)
        .custom_request_replace("method", |req| req.method().to_string())
}
