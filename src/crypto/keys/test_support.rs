//! Helpers shared by the key modules' unit tests.

use std::fs;
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey};

use super::SigningKey;

/// RFC 8037 appendix A.1: the Ed25519 private key (seed) `d` and public key `x`.
pub(super) const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
pub(super) const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

pub(super) fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": "https://issuer.test", "sub": "x", "aud": "a",
        "exp": 4_000_000_000i64, "nbf": 1_000, "iat": 1_000,
    })
}

/// The key, as a DecodingKey built from nothing but its published JWK, and the
/// JWK's `alg`: what an outside validator does.
pub(super) fn from_published_jwk(key: &SigningKey) -> (DecodingKey, Algorithm) {
    let json = serde_json::to_value(&key.jwk).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json.clone()).unwrap();
    let alg = json["alg"].as_str().unwrap().parse().unwrap();
    (DecodingKey::from_jwk(&jwk).unwrap(), alg)
}

pub(super) fn pem_file(dir: &Path, name: &str, tag: &str, der: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, pem::encode(&pem::Pem::new(tag, der.to_vec()))).unwrap();
    path
}
