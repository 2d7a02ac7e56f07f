//! Signing keys: private keys in PEM files (RSA, EC P-256 or Ed25519), the JWKS built from them,
//! and RS256 / ES256 / EdDSA signing.
//!
//! Files are named `tessera-<unix seconds>.pem`; that time orders them (a copy or `touch` does not
//! change it). The newest key signs, whatever its type. An older key stays published in the JWKS
//! until every token it can have signed has expired: the token lifetime plus a leeway after the
//! next key replaced it. So switching `keys.algorithm` is a rotation like any other: the new key
//! (of the new type) signs, and the old keys keep verifying until their tokens are gone.
//!
//! Keys are parsed once when the directory is (re)loaded; signing then costs one signature
//! operation (jsonwebtoken's `encode` would parse the PEM on every call).
//!
//! Security invariant: a token is only ever verified with the algorithm of the key its `kid`
//! names. A key's type fixes its algorithm (RSA → RS256, P-256 → ES256, Ed25519 → EdDSA), so a
//! token cannot choose how it is checked.

mod algorithm;
mod der;
mod error;
mod files;
mod jwk;
mod key_set;
mod signing_key;
mod store;
#[cfg(test)]
mod test_support;

pub use algorithm::{KeyAlgorithm, UnknownAlgorithm};
pub use error::KeyError;
pub use files::generate;
pub use jwk::{thumbprint, Jwk, JwkParams, JwkSet};
pub use key_set::{KeySet, KeyState};
pub use signing_key::SigningKey;
pub use store::KeyStore;
