//! The public listener's OpenAPI 3.1 document, served at `GET /openapi.json`.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use super::oauth_response::OAuthErrorBody;
use super::{discovery, health, revocation, token};
use crate::http::openapi::{finish, serve, TransportLimits};

/// The public API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera public API",
        description = "The OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4), \
                       introspection (RFC 7662), revocation (RFC 7009) and the revocation feed, \
                       the JWK Set and RFC 8414 metadata, and health checks. Access tokens are \
                       RS256 JWTs (RFC 9068 profile)."
    ),
    paths(
        token::token,
        revocation::introspect,
        revocation::revoke,
        revocation::feed,
        discovery::jwks,
        discovery::metadata,
        health::healthz,
        health::readyz,
        document,
    ),
    components(schemas(OAuthErrorBody)),
    modifiers(&PublicSecurity, &TransportLimits),
    tags(
        (name = "oauth", description = "Tokens: issue, introspect, revoke, and the revocation feed."),
        (name = "discovery", description = "What a validator needs to verify tokens offline."),
        (name = "health", description = "Liveness and readiness."),
        (name = "meta", description = "This document."),
    )
)]
pub struct PublicApi;

struct PublicSecurity;

impl utoipa::Modify for PublicSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "RFC 6749 §2.3.1: the client_id and client_secret, each \
                         form-urlencoded, as HTTP Basic credentials. The alternative, \
                         `client_secret_post`, sends them as `client_id` and `client_secret` \
                         body parameters (the operations' empty security requirement); a \
                         request may not use both.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token from `tessera admin-token create`; accepted by \
                         introspection only.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The finished document, generated once.
pub fn document_bytes() -> &'static [u8] {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    DOCUMENT.get_or_init(|| finish(PublicApi::openapi()))
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "public_openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of the public API.",
        body = Object, content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    serve(document_bytes())
}
