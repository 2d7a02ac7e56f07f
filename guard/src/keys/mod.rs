//! Public keys: the [`KeyStore`] trait, a JWKS-over-HTTP store and a static store.
//!
//! Security invariants:
//! - Keys come only from the configured source. The token's `jku`, `x5u`, `jwk` and `x5c`
//!   headers are never read, so a token cannot point the validator at an attacker's key.
//! - Only signing keys of the three kinds Tessera issues are kept: RSA of at least 2048 bits,
//!   EC on P-256 and Ed25519 (OKP). A key's kind fixes the algorithms it verifies (RSA → RS*/PS*,
//!   P-256 → ES256, Ed25519 → EdDSA), whatever a token's header says.
//! - Each key is parsed once, when the key set is loaded, never per request; an EC point that is
//!   not on the curve is refused then.
//! - A fetch triggered by an unknown `kid` happens at most once per `min_refetch_interval`, so
//!   tokens with made-up key ids cannot turn the validator into a load generator against the
//!   issuer; a failed fetch keeps the last good key set.
//!
//! Layout: [`KeyKind`] (what a key's type allows), [`PublicKey`] (one parsed key), `jwk` (JWK
//! Sets and RFC 7638 thumbprints), [`KeyStore`] with [`StaticKeyStore`], and [`JwksKeyStore`]
//! (the issuer's JWKS over HTTP, cached).

mod jwk;
mod jwks_store;
mod kind;
mod public_key;
mod store;

pub(crate) use jwk::parse_jwks;
pub use jwk::{ed25519_thumbprint, p256_thumbprint, rsa_thumbprint};
pub use jwks_store::{JwksKeyStore, MAX_JWKS_BYTES};
pub use kind::KeyKind;
pub use public_key::PublicKey;
pub use store::{BoxFuture, KeyStore, StaticKeyStore};
