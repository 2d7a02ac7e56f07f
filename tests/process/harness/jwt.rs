//! Access tokens and JWK Sets, checked as a resource server would.

use serde_json::Value;

/// The default audience of `config/default.toml`.
pub const AUDIENCE: &str = "https://api.example.test/";

/// The kids of a JWK Set.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// The `kid` of a token's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid")
}

/// Verifies `token` with only the public JWK Set, as a resource server would.
pub fn verify(jwks: &Value, token: &str, issuer: &str) -> Value {
    let kid = kid_of(token);
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS {jwks}"));
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &dk, &v)
        .unwrap_or_else(|e| panic!("token does not verify: {e}"))
        .claims
}
