//! Signature checks of compact JWS tokens other than Tessera's own access tokens (for example an
//! external identity provider's token, with a key from a [`JwksKeyStore`](crate::JwksKeyStore)):
//! the same algorithm rules and the same verification as [`Guard`](crate::Guard) uses.

use jsonwebtoken::Algorithm;

use crate::config::is_supported;
use crate::keys::PublicKey;

/// The signature algorithm a JOSE header's `alg` names, if the guard verifies it: RS256/384/512,
/// PS256/384/512, ES256 and EdDSA (also under its fully specified name `Ed25519`). `None` for
/// `none` (in any case), every HMAC algorithm, ES384 (P-384 keys are not supported) and anything
/// unknown.
///
/// ```
/// use tessera_guard::{asymmetric_algorithm, Algorithm};
/// assert_eq!(asymmetric_algorithm("RS256"), Some(Algorithm::RS256));
/// assert_eq!(asymmetric_algorithm("Ed25519"), Some(Algorithm::EdDSA));
/// assert_eq!(asymmetric_algorithm("HS256"), None);
/// assert_eq!(asymmetric_algorithm("none"), None);
/// assert_eq!(asymmetric_algorithm("NONE"), None);
/// ```
pub fn asymmetric_algorithm(alg: &str) -> Option<Algorithm> {
    let algorithm = match alg {
        "Ed25519" => Algorithm::EdDSA,
        other => other.parse().ok()?,
    };
    is_supported(algorithm).then_some(algorithm)
}

/// Whether `token`, a compact JWS (`header.payload.signature`), carries a valid `algorithm`
/// signature by `key`. False when the token is not three base64url segments with a non-empty
/// signature, when `algorithm` is not one [`asymmetric_algorithm`] accepts, or when `key` cannot
/// have `algorithm` ([`PublicKey::accepts`]: the key's type and its JWK's `alg` decide, never
/// the token). The header is not read: the caller has taken `algorithm` from it and `key` from
/// its `kid`, and must still check the claims.
///
/// ```
/// use tessera_guard::{verify_jws, Algorithm, PublicKey};
/// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
/// let key = PublicKey::from_rsa_pem(&pem).unwrap();
/// assert!(!verify_jws(&key, Algorithm::RS256, "e30.e30.c2ln"));
/// assert!(!verify_jws(&key, Algorithm::HS256, "e30.e30.c2ln"));
/// assert!(!verify_jws(&key, Algorithm::RS256, "e30.e30."));
/// ```
pub fn verify_jws(key: &PublicKey, algorithm: Algorithm, token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return false;
    }
    if !is_supported(algorithm) || !key.accepts(algorithm) {
        return false;
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    key.verify(algorithm, signing_input.as_bytes(), signature)
}
