//! Pure domain rules: identifier and secret formats, credential rules, scopes, the
//! client-credentials decision and the access-token claims. No I/O here; the current time is
//! always a parameter.

pub mod claims;
pub mod client_assertion;
pub mod client_jwks;
pub mod credential;
pub mod grant;
pub mod ids;
pub mod oauth_error;
pub mod quota;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod trust;

/// The base62 alphabet of every generated identifier and secret, in digit order.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether every byte of `s` is a base62 digit.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `len` characters drawn uniformly from [`BASE62`] with the operating system's CSPRNG.
pub fn random_base62(len: usize) -> String {
    use rand::distr::{Alphanumeric, Distribution};
    use rand::rngs::OsRng;
    use rand::TryRngCore;
    // Alphanumeric samples the 62 characters uniformly (rejection sampling), so each character
    // carries log2(62) ≈ 5.95 bits.
    let mut rng = OsRng.unwrap_err();
    Alphanumeric
        .sample_iter(&mut rng)
        .take(len)
        .map(char::from)
        .collect()
}
