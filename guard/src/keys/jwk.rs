//! JWK Sets as the issuer publishes them, read into [`PublicKey`]s, and RFC 7638 thumbprints.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::{KeyKind, PublicKey};

fn sha256_b64(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key, from its base64url
/// `n` and `e`: the `kid` the Tessera issuer assigns.
///
/// ```
/// // RFC 7638 §3.1's example key.
/// let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
/// assert_eq!(tessera_guard::rsa_thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// ```
pub fn rsa_thumbprint(n: &str, e: &str) -> String {
    // Required members only, in lexicographic order, no whitespace (RFC 7638 §3.2, §3.3).
    sha256_b64(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
}

/// The RFC 7638 JWK thumbprint of a P-256 public key, from its base64url `x` and `y` (members
/// `crv`, `kty`, `x`, `y`): the `kid` the Tessera issuer assigns an ES256 key.
///
/// ```
/// // RFC 9449's example key and its published `jkt`.
/// assert_eq!(
///     tessera_guard::p256_thumbprint(
///         "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
///         "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
///     ),
///     "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
/// );
/// ```
pub fn p256_thumbprint(x: &str, y: &str) -> String {
    sha256_b64(&format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
    ))
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key, from its base64url `x` (members `crv`,
/// `kty`, `x`, RFC 8037 §2): the `kid` the Tessera issuer assigns an EdDSA key.
///
/// ```
/// // RFC 8037 appendix A.3.
/// assert_eq!(
///     tessera_guard::ed25519_thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
///     "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
/// );
/// ```
pub fn ed25519_thumbprint(x: &str) -> String {
    sha256_b64(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
}

/// The JSON of a JWK as far as the guard cares; anything else in it is ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK Set, keeping the usable signing keys (RSA, EC P-256, Ed25519) and skipping
/// (with a log line) the rest. Errors only if the document is not a JWK Set at all.
pub(crate) fn parse_jwks(json: &[u8]) -> Result<Vec<PublicKey>, String> {
    let set: RawJwkSet = serde_json::from_slice(json).map_err(|err| err.to_string())?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for value in set.keys {
        let Ok(raw) = serde_json::from_value::<RawJwk>(value) else {
            log::warn!("tessera-guard: skipping a malformed JWK");
            continue;
        };
        match parse_jwk(raw) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => {}
            Err(err) => log::warn!("tessera-guard: skipping JWK: {err}"),
        }
    }
    Ok(keys)
}

/// One JWK: `Ok(None)` for a key the guard has no use for (another type or curve, an
/// encryption key), `Err` for a signing key that is broken.
fn parse_jwk(raw: RawJwk) -> Result<Option<PublicKey>, String> {
    let kid = raw.kid.unwrap_or_default();
    let kind = match (raw.kty.as_deref(), raw.crv.as_deref()) {
        (Some("RSA"), _) => KeyKind::Rsa,
        (Some("EC"), Some("P-256")) => KeyKind::EcP256,
        (Some("OKP"), Some("Ed25519")) => KeyKind::Ed25519,
        (kty, crv) => {
            log::debug!("tessera-guard: skipping JWK {kid:?} of type {kty:?} {crv:?}");
            return Ok(None);
        }
    };
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        log::debug!("tessera-guard: skipping JWK {kid:?} not meant for signatures");
        return Ok(None);
    }
    let algorithm = match raw.alg.as_deref() {
        None => None,
        Some(name) => match name.parse::<Algorithm>() {
            Ok(alg) if kind.accepts(alg) => Some(alg),
            _ => {
                return Err(format!(
                    "key {kid:?} ({}) states algorithm {name:?}",
                    kind.kty()
                ))
            }
        },
    };
    let missing = |what: &str| format!("{} key {kid:?} without {what}", kind.kty());
    let key = match kind {
        KeyKind::Rsa => {
            let (Some(n), Some(e)) = (raw.n, raw.e) else {
                return Err(missing("n/e"));
            };
            PublicKey::from_rsa_components(kid.clone(), &n, &e, algorithm)
        }
        KeyKind::EcP256 => {
            let (Some(x), Some(y)) = (raw.x, raw.y) else {
                return Err(missing("x/y"));
            };
            PublicKey::from_ec_components(kid.clone(), &x, &y, algorithm)
        }
        KeyKind::Ed25519 => {
            let Some(x) = raw.x else {
                return Err(missing("x"));
            };
            PublicKey::from_ed25519_components(kid.clone(), &x, algorithm)
        }
    };
    key.map(Some).map_err(|err| err.to_string())
}
