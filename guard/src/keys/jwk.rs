//! JWK Sets as the issuer publishes them, read with jsonwebtoken's JWK model into
//! [`PublicKey`]s, and RFC 7638 thumbprints as jsonwebtoken computes them.

use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
    RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::{KeyKind, PublicKey};

/// The RFC 7638 SHA-256 thumbprint (base64url) of a public key's members.
///
/// jsonwebtoken only refuses a thumbprint to symmetric or unknown key types and to a curve that
/// does not suit its `kty`; the parameters built here are never those, and its SHA-256 cannot
/// fail. Were it to, the empty `kid` would be refused wherever a key is built.
pub(super) fn thumbprint(params: AlgorithmParameters) -> String {
    Jwk {
        common: CommonParameters::default(),
        algorithm: params,
    }
    .thumbprint(ThumbprintHash::SHA256)
    .unwrap_or_default()
}

/// The members of an RSA public key in jsonwebtoken's model.
pub(super) fn rsa_params(n: &str, e: &str) -> RSAKeyParameters {
    RSAKeyParameters {
        key_type: RSAKeyType::RSA,
        n: n.to_owned(),
        e: e.to_owned(),
    }
}

/// The members of a P-256 public key in jsonwebtoken's model.
pub(super) fn p256_params(x: &str, y: &str) -> EllipticCurveKeyParameters {
    EllipticCurveKeyParameters {
        key_type: EllipticCurveKeyType::EC,
        curve: EllipticCurve::P256,
        x: x.to_owned(),
        y: y.to_owned(),
    }
}

/// The members of an Ed25519 public key in jsonwebtoken's model.
pub(super) fn ed25519_params(x: &str) -> OctetKeyPairParameters {
    OctetKeyPairParameters {
        key_type: OctetKeyPairType::OctetKeyPair,
        curve: EllipticCurve::Ed25519,
        x: x.to_owned(),
    }
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
    thumbprint(AlgorithmParameters::RSA(rsa_params(n, e)))
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
    thumbprint(AlgorithmParameters::EllipticCurve(p256_params(x, y)))
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
    thumbprint(AlgorithmParameters::OctetKeyPair(ed25519_params(x)))
}

/// A JWK Set whose entries are read one by one: one malformed entry must not cost the others
/// (jsonwebtoken's `JwkSet` would refuse the whole document).
#[derive(Deserialize)]
struct JwkSetEntries {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK Set, keeping the usable signing keys (RSA, EC P-256, Ed25519) and skipping
/// (with a log line) the rest. Errors only if the document is not a JWK Set at all.
pub(crate) fn parse_jwks(json: &[u8]) -> Result<Vec<PublicKey>, String> {
    let set: JwkSetEntries = serde_json::from_slice(json).map_err(|err| err.to_string())?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for value in set.keys {
        let Some(jwk) = read_jwk(value) else {
            log::warn!("tessera-guard: skipping a malformed JWK");
            continue;
        };
        match parse_jwk(jwk) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => {}
            Err(err) => log::warn!("tessera-guard: skipping JWK: {err}"),
        }
    }
    Ok(keys)
}

/// One JWK in jsonwebtoken's model; `None` if it is not a JSON object of JWK members.
///
/// `alg: "Ed25519"`, the fully specified name of EdDSA with Ed25519 (RFC 9864), is read as
/// `EdDSA`: jsonwebtoken knows only the older, polymorphic name, and both mean the same
/// signatures for an Ed25519 key.
pub(super) fn read_jwk(mut value: serde_json::Value) -> Option<Jwk> {
    if let Some(alg) = value.get_mut("alg") {
        if alg == "Ed25519" {
            *alg = serde_json::Value::from("EdDSA");
        }
    }
    serde_json::from_value(value).ok()
}

/// The kind of key a JWK holds; `None` for one the guard has no use for (symmetric, another
/// type or curve). A JWK of a known kind that jsonwebtoken could not read as such (a member
/// missing or not a string) lands in `Other`; it is still recognised by its `kty` and `crv`, so
/// that it is reported as a broken key rather than skipped as a foreign one.
fn kind_of(params: &AlgorithmParameters) -> Option<KeyKind> {
    match params {
        AlgorithmParameters::RSA(_) => Some(KeyKind::Rsa),
        AlgorithmParameters::EllipticCurve(ec) => {
            (ec.curve == EllipticCurve::P256).then_some(KeyKind::EcP256)
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            (okp.curve == EllipticCurve::Ed25519).then_some(KeyKind::Ed25519)
        }
        AlgorithmParameters::Other(other) => {
            let member = |name: &str| other.fields.get(name).and_then(serde_json::Value::as_str);
            match (member("kty"), member("crv")) {
                (Some("RSA"), _) => Some(KeyKind::Rsa),
                (Some("EC"), Some("P-256")) => Some(KeyKind::EcP256),
                (Some("OKP"), Some("Ed25519")) => Some(KeyKind::Ed25519),
                _ => None,
            }
        }
        _ => None,
    }
}

/// One JWK: `Ok(None)` for a key the guard has no use for (another type or curve, an
/// encryption key), `Err` for a signing key that is broken. Members other than the public key's
/// (private ones such as `d`, certificates, `key_ops`) are not used.
pub(super) fn parse_jwk(jwk: Jwk) -> Result<Option<PublicKey>, String> {
    let kid = jwk.common.key_id.unwrap_or_default();
    let Some(kind) = kind_of(&jwk.algorithm) else {
        log::debug!("tessera-guard: skipping JWK {kid:?}: not an RSA, EC P-256 or Ed25519 key");
        return Ok(None);
    };
    if jwk
        .common
        .public_key_use
        .is_some_and(|u| u != PublicKeyUse::Signature)
    {
        log::debug!("tessera-guard: skipping JWK {kid:?} not meant for signatures");
        return Ok(None);
    }
    let algorithm = match jwk.common.key_algorithm {
        None => None,
        Some(stated) => match Algorithm::try_from(stated) {
            Ok(alg) if kind.accepts(alg) => Some(alg),
            _ => {
                return Err(format!(
                    "key {kid:?} ({}) states algorithm {stated}",
                    kind.kty()
                ))
            }
        },
    };
    let key = match (kind, jwk.algorithm) {
        (KeyKind::Rsa, AlgorithmParameters::RSA(rsa)) => {
            PublicKey::from_rsa_components(kid, &rsa.n, &rsa.e, algorithm)
        }
        (KeyKind::EcP256, AlgorithmParameters::EllipticCurve(ec)) => {
            PublicKey::from_ec_components(kid, &ec.x, &ec.y, algorithm)
        }
        (KeyKind::Ed25519, AlgorithmParameters::OctetKeyPair(okp)) => {
            PublicKey::from_ed25519_components(kid, &okp.x, algorithm)
        }
        (kind, _) => {
            let members = match kind {
                KeyKind::Rsa => "n/e",
                KeyKind::EcP256 => "x/y",
                KeyKind::Ed25519 => "x",
            };
            return Err(format!("{} key {kid:?} without {members}", kind.kty()));
        }
    };
    key.map(Some).map_err(|err| err.to_string())
}
