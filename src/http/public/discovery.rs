//! `/.well-known/jwks.json` and `/.well-known/oauth-authorization-server`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// RFC 7517 JWK Set of every key whose tokens may still be alive.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.settings;
    let body = state.keys.current().jwks(
        state.clock.now().timestamp(),
        settings.tokens.lifetime_seconds,
        settings.keys.leeway_seconds,
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(body)
}

/// RFC 8414 authorization server metadata.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.settings;
    let issuer = &settings.server.issuer;
    // What a validator must accept right now: the algorithms of the keys in the JWKS (two
    // during a switch-over from one algorithm to another).
    let algorithms: Vec<&str> = state
        .keys
        .current()
        .published_algorithms(
            state.clock.now().timestamp(),
            settings.tokens.lifetime_seconds,
            settings.keys.leeway_seconds,
        )
        .into_iter()
        .map(|alg| alg.name())
        .collect();
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth/token"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            // Not an RFC 8414 field: the feed offline validators poll (SPEC §3).
            "revocation_feed_endpoint": format!("{issuer}/oauth/revocations"),
            "grant_types_supported": ["client_credentials"],
            // Required by RFC 8414; there is no authorization endpoint, so no response type.
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "bearer"],
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": [],
            "access_token_signing_alg_values_supported": algorithms,
        }))
}
