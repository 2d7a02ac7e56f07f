//! `/.well-known/jwks.json` and `/.well-known/oauth-authorization-server`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::crypto::keys::JwkSet;
use crate::domain::client_assertion::SIGNING_ALGORITHMS;
use crate::state::AppState;

/// Discovery documents change rarely; five minutes of caching spares the issuer.
const DISCOVERY_MAX_AGE: &str = "public, max-age=300";

/// The public keys that verify access tokens (RFC 7517 JWK Set).
///
/// Every key whose tokens may still be alive; `kid` is the RFC 7638 thumbprint.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    operation_id = "jwks",
    responses(
        (status = 200, description = "The JWK Set.", body = JwkSet,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.settings;
    let body = state.keys.current().jwks(
        state.clock.now().timestamp(),
        settings.tokens.lifetime_seconds,
        settings.keys.leeway_seconds,
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, DISCOVERY_MAX_AGE))
        .json(body)
}

/// RFC 8414 authorization server metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationServerMetadata {
    /// The `iss` of every token.
    pub issuer: String,
    /// `{issuer}/oauth/token`.
    pub token_endpoint: String,
    /// `{issuer}/.well-known/jwks.json`.
    pub jwks_uri: String,
    /// `{issuer}/oauth/introspect` (RFC 7662).
    pub introspection_endpoint: String,
    /// `{issuer}/oauth/revoke` (RFC 7009).
    pub revocation_endpoint: String,
    /// `{issuer}/oauth/revocations`: not an RFC 8414 field; the feed offline validators poll.
    pub revocation_feed_endpoint: String,
    /// `["client_credentials"]`.
    pub grant_types_supported: Vec<&'static str>,
    /// Required by RFC 8414; empty, as there is no authorization endpoint.
    pub response_types_supported: Vec<&'static str>,
    /// `client_secret_basic`, `client_secret_post` and `private_key_jwt`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The token endpoint's methods, and `bearer` (an admin token).
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The token endpoint's methods.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The algorithms a `private_key_jwt` client assertion may be signed with: RS256, ES256,
    /// EdDSA and its fully specified name Ed25519.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// The same, for the introspection endpoint (RFC 8414 asks for it beside `private_key_jwt`).
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// The same, for the revocation endpoint.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// `["RS256"]`.
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    operation_id = "authorization_server_metadata",
    responses(
        (status = 200, description = "The metadata.", body = AuthorizationServerMetadata,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let settings = &state.settings;
    let issuer = &settings.server.issuer;
    // What a validator must accept right now: the algorithms of the keys in the JWKS (two
    // during a switch-over from one algorithm to another).
    let algorithms: Vec<&'static str> = state
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
    // Every endpoint that authenticates clients accepts the same three methods.
    let auth_methods = vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let assertion_algorithms = SIGNING_ALGORITHMS.to_vec();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, DISCOVERY_MAX_AGE))
        .json(AuthorizationServerMetadata {
            issuer: issuer.clone(),
            token_endpoint: format!("{issuer}/oauth/token"),
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            introspection_endpoint: format!("{issuer}/oauth/introspect"),
            revocation_endpoint: format!("{issuer}/oauth/revoke"),
            revocation_feed_endpoint: format!("{issuer}/oauth/revocations"),
            grant_types_supported: vec!["client_credentials"],
            response_types_supported: vec![],
            token_endpoint_auth_methods_supported: auth_methods.clone(),
            introspection_endpoint_auth_methods_supported: [auth_methods.as_slice(), &["bearer"]]
                .concat(),
            revocation_endpoint_auth_methods_supported: auth_methods,
            token_endpoint_auth_signing_alg_values_supported: assertion_algorithms.clone(),
            introspection_endpoint_auth_signing_alg_values_supported: assertion_algorithms.clone(),
            revocation_endpoint_auth_signing_alg_values_supported: assertion_algorithms,
            access_token_signing_alg_values_supported: algorithms,
        })
}
