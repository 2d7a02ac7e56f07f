//! The public listener: token endpoint, introspection, revocation and its feed, discovery
//! documents, health.

pub mod discovery;
pub mod health;
pub mod oauth_response;
pub mod revocation;
pub mod token;
pub mod token_request;

use actix_web::{web, HttpResponse};

/// Registers the public routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth/token")
            .route(web::post().to(token::token))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/oauth/introspect")
            .route(web::post().to(revocation::introspect))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/oauth/revoke")
            .route(web::post().to(revocation::revoke))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/oauth/revocations")
            .route(web::get().to(revocation::feed))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/.well-known/jwks.json")
            .route(web::get().to(discovery::jwks))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/.well-known/oauth-authorization-server")
            .route(web::get().to(discovery::metadata))
            .default_service(web::to(method_not_allowed)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .default_service(web::to(not_found));
}

async fn method_not_allowed() -> HttpResponse {
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
