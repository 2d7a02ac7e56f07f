//! # tessera-guard
//!
//! Offline validation of Tessera access tokens for resource servers: RFC 9068 JWTs signed by
//! the Tessera issuer, checked against the issuer's JWKS and revocation feed, with no database
//! and no call to the issuer per request.
//!
//! - [`Guard`] validates a token and returns its [`Claims`] or a [`GuardError`].
//! - Keys come from a [`KeyStore`]: [`JwksKeyStore`] (the issuer's JWKS over HTTP, cached,
//!   refetched on an unknown `kid` at most once per interval, last good keys kept) or
//!   [`StaticKeyStore`] (a JWK Set or PEM public keys, e.g. for tests). RSA, EC P-256 and
//!   Ed25519 keys are understood; [`GuardConfig::algorithms`] says which algorithms are accepted
//!   (RS256 by default; ES256 and EdDSA when configured), and each key only ever verifies the
//!   algorithm of its own type ([`KeyKind`]).
//! - For tokens of other issuers (Tessera's workload identity federation verifies a CI system's
//!   or a cluster's OIDC token this way): OpenID Connect discovery ([`JwksKeyStore::discover`],
//!   [`discover_jwks_uri`]), the rule for URLs fetched from an issuer ([`check_fetch_url`]:
//!   https, or http on loopback only), [`asymmetric_algorithm`] and [`verify_jws`].
//! - The revocation feed is polled in the background ([`Guard::spawn_refresh_task`]) with
//!   conditional, incremental requests (`If-None-Match`, `?since=<cursor>`), or fed by hand
//!   ([`Guard::apply_revocations`]); it is applied on every validation.
//! - Fail closed: until the first successful poll, and whenever the last one is older than
//!   [`GuardConfig::max_feed_age`], a token that otherwise verifies is refused with
//!   [`GuardError::FeedUnavailable`] (503 with `Retry-After`), unless
//!   [`GuardConfig::fail_open`] is set. [`Guard::feed_is_fresh`] and [`Guard::feed_age`] are
//!   for readiness probes.
//! - With the default `actix` feature: the [`Authenticated`] extractor, the [`RequireAuth`]
//!   middleware and RFC 6750 responses ([`Rejection`]).
//!
//! ```no_run
//! use actix_web::{get, web, App, HttpResponse, HttpServer};
//! use tessera_guard::{Authenticated, Guard, GuardConfig, Rejection};
//!
//! #[get("/workspaces/{workspace_id}/content")]
//! async fn content(auth: Authenticated, path: web::Path<String>) -> Result<HttpResponse, Rejection> {
//!     auth.require_workspace(&path)?;
//!     auth.require_any_role(&["workspace_admin", "content_manager"])?;
//!     Ok(HttpResponse::Ok().json(serde_json::json!({"items": []})))
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let config = GuardConfig::new("http://127.0.0.1:8080", "https://api.example.test/");
//!     let guard = Guard::new(config).expect("valid guard configuration");
//!     let _refresh = guard.spawn_refresh_task();
//!     HttpServer::new(move || App::new().app_data(guard.clone()).service(content))
//!         .bind(("127.0.0.1", 9000))?
//!         .run()
//!         .await
//! }
//! ```

// `missing_docs` and `unsafe_code`: the workspace's `[workspace.lints]` table. Library code
// never unwraps or panics; its unit tests may (integration tests, benches and examples are other
// crates, which these attributes do not reach).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "actix")]
mod actix;
mod cache;
mod claims;
mod config;
mod discovery;
mod error;
mod guard;
mod http;
mod jws;
mod keys;
mod revocation;

#[cfg(test)]
mod tests;

#[cfg(feature = "actix")]
pub use crate::actix::{
    Authenticated, Rejection, RequireAuth, RequireAuthMiddleware, ACTING_USER_HEADER, DEFAULT_REALM,
};
pub use crate::claims::{Claims, KeyType, ACCOUNT_ADMIN_ROLE};
pub use crate::config::GuardConfig;
pub use crate::discovery::{
    check_fetch_url, discover_jwks_uri, discovery_url, http_client, DiscoveryError, UrlError,
    DISCOVERY_PATH, MAX_DISCOVERY_BYTES,
};
pub use crate::error::{ConfigError, FetchError, GuardError, RevocationReason};
pub use crate::guard::{Guard, RefreshTask};
pub use crate::jws::{asymmetric_algorithm, verify_jws};
pub use crate::keys::{
    ed25519_thumbprint, p256_thumbprint, rsa_thumbprint, BoxFuture, JwksKeyStore, KeyKind,
    KeyStore, PublicKey, StaticKeyStore, MAX_JWKS_BYTES,
};
pub use crate::revocation::{
    AccountRevocation, CredentialRevocation, Removal, RevocationFeed, TokenRevocation,
    WorkspaceRevocation,
};
/// The signature algorithms, re-exported from `jsonwebtoken` for [`GuardConfig::algorithms`].
pub use jsonwebtoken::Algorithm;
