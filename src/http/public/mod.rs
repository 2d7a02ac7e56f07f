//! The public listener: token endpoint, introspection, revocation and its feed, discovery
//! documents, health, and the OpenAPI document of all of them.

pub mod discovery;
pub mod feed;
pub mod health;
pub mod oauth_response;
pub mod openapi;
pub mod revocation;
pub mod token;
pub mod token_request;

use actix_web::http::Method;
use actix_web::{web, HttpResponse};

use super::routes::RouteTable;

/// The public routes.
pub fn routes() -> RouteTable {
    RouteTable::new()
        .add(Method::POST, "/oauth/token", token::token)
        .add(Method::POST, "/oauth/introspect", revocation::introspect)
        .add(Method::POST, "/oauth/revoke", revocation::revoke)
        .add(Method::GET, "/oauth/revocations", revocation::feed)
        .add(Method::GET, "/.well-known/jwks.json", discovery::jwks)
        .add(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            discovery::metadata,
        )
        .add(Method::GET, "/healthz", health::healthz)
        .add(Method::GET, "/readyz", health::readyz)
        .add(Method::GET, "/openapi.json", openapi::document)
}

/// Registers the public routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes().register(cfg, method_not_allowed);
    cfg.default_service(web::to(not_found));
}

fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({
        "error": "method_not_allowed",
        "error_description": "method not allowed on this path"
    }))
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "error_description": "no such endpoint"
    }))
}
