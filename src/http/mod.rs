//! HTTP: thin handlers that parse, call a service and map its result. Errors become wire bodies
//! in exactly two places: [`public::oauth_response`] (RFC 6749 §5.2) and [`admin::error`].

pub mod access;
pub mod admin;
pub mod client_addr;
pub mod limits;
pub mod openapi;
pub mod public;
pub mod routes;

pub use client_addr::client_ip;

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive, RFC 6750 §2.1),
/// if the request has one. Admin tokens arrive this way on both listeners.
pub fn bearer_token(req: &actix_web::HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
}
