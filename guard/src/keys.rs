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

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

use crate::error::{ConfigError, FetchError};
use crate::http;

/// A boxed future, as returned by [`KeyStore`] methods (keeps the trait object-safe).
///
/// ```
/// let future: tessera_guard::BoxFuture<'static, u8> = Box::pin(async { 7 });
/// # let _ = future;
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Largest JWKS document read from the issuer.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// What kind of key a [`PublicKey`] is, which fixes the algorithms it can verify.
///
/// ```
/// use tessera_guard::{Algorithm, KeyKind};
/// assert!(KeyKind::Rsa.accepts(Algorithm::RS256));
/// assert!(KeyKind::EcP256.accepts(Algorithm::ES256));
/// assert!(!KeyKind::EcP256.accepts(Algorithm::RS256));
/// assert!(!KeyKind::Ed25519.accepts(Algorithm::ES256));
/// assert_eq!(KeyKind::Ed25519.kty(), "OKP");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An RSA key (`kty: RSA`), 2048 bits or more: RS256/384/512 and PS256/384/512.
    Rsa,
    /// An EC key on P-256 (`kty: EC`, `crv: P-256`): ES256 only.
    EcP256,
    /// An Ed25519 key (`kty: OKP`, `crv: Ed25519`): EdDSA only.
    Ed25519,
}

impl KeyKind {
    /// The JWK `kty`.
    ///
    /// ```
    /// assert_eq!(tessera_guard::KeyKind::EcP256.kty(), "EC");
    /// ```
    pub fn kty(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::EcP256 => "EC",
            Self::Ed25519 => "OKP",
        }
    }

    /// Whether a signature of `algorithm` can be made with a key of this kind. Security
    /// invariant: this, not the token, decides how a signature is checked, so a token cannot
    /// have an RSA key's bytes read as an EC key, an HMAC secret, or anything else.
    ///
    /// ```
    /// use tessera_guard::{Algorithm, KeyKind};
    /// assert!(KeyKind::Rsa.accepts(Algorithm::PS256));
    /// assert!(!KeyKind::Rsa.accepts(Algorithm::HS256));
    /// assert!(KeyKind::Ed25519.accepts(Algorithm::EdDSA));
    /// ```
    pub fn accepts(self, algorithm: Algorithm) -> bool {
        match self {
            Self::Rsa => algorithm.family() == AlgorithmFamily::Rsa,
            Self::EcP256 => algorithm == Algorithm::ES256,
            Self::Ed25519 => algorithm == Algorithm::EdDSA,
        }
    }
}

/// The public key as published (base64url members of its JWK), kept to notice when a kid's key
/// material changes between fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    Rsa { n: String, e: String },
    EcP256 { x: String, y: String },
    Ed25519 { x: String },
}

/// The parsed key that checks signatures.
#[derive(Clone)]
enum Verifier {
    /// jsonwebtoken's RSA verification, for the six RSA algorithms one key may serve.
    Rsa(DecodingKey),
    /// aws-lc's parsed key: the point is decoded and validated once, not per signature.
    Parsed(ParsedPublicKey),
}

/// A public key that can verify token signatures.
///
/// ```
/// use tessera_guard::{KeyKind, PublicKey};
/// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
/// let key = PublicKey::from_rsa_pem(&pem).unwrap();
/// // The kid defaults to the RFC 7638 thumbprint, as the issuer computes it.
/// assert_eq!(key.kid().len(), 43);
/// assert_eq!(key.kind(), KeyKind::Rsa);
/// ```
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    algorithm: Option<Algorithm>,
    material: Material,
    verifier: Verifier,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn check_kid(kid: &str) -> Result<(), ConfigError> {
    if kid.is_empty() {
        return Err(ConfigError::Key("a key id must not be empty".into()));
    }
    Ok(())
}

/// Decodes a base64url coordinate that must be exactly `len` bytes.
fn coordinate(kid: &str, name: &str, value: &str, len: usize) -> Result<Vec<u8>, ConfigError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| ConfigError::Key(format!("key {kid}: {name} is not base64url")))?;
    if bytes.len() != len {
        return Err(ConfigError::Key(format!(
            "key {kid}: {name} must be {len} bytes, not {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl PublicKey {
    /// Builds a key from base64url RSA components (`n`, `e` of a JWK).
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// # let from_pem = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// # let (n, e) = from_pem.rsa_components().unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_components("kid-1", n, e, None).unwrap();
    /// assert_eq!(key.kid(), "kid-1");
    /// ```
    pub fn from_rsa_components(
        kid: impl Into<String>,
        n: &str,
        e: &str,
        algorithm: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let kid = kid.into();
        check_kid(&kid)?;
        if let Some(alg) = algorithm {
            if !KeyKind::Rsa.accepts(alg) {
                return Err(ConfigError::AlgorithmNotAllowed(format!("{alg:?}")));
            }
        }
        let modulus = URL_SAFE_NO_PAD
            .decode(n)
            .map_err(|_| ConfigError::Key(format!("key {kid}: n is not base64url")))?;
        let significant = modulus.iter().skip_while(|b| **b == 0).count();
        if significant < MIN_RSA_MODULUS_BYTES {
            return Err(ConfigError::Key(format!(
                "key {kid}: RSA modulus shorter than 2048 bits"
            )));
        }
        let decoding_key = DecodingKey::from_rsa_components(n, e)
            .map_err(|err| ConfigError::Key(format!("key {kid}: {err}")))?;
        Ok(Self {
            kid,
            algorithm,
            material: Material::Rsa {
                n: n.to_owned(),
                e: e.to_owned(),
            },
            verifier: Verifier::Rsa(decoding_key),
        })
    }

    /// Builds a P-256 key from the base64url coordinates `x`, `y` of an EC JWK. The point must
    /// be on the curve. `algorithm`, if given, must be ES256.
    ///
    /// ```
    /// use tessera_guard::{KeyKind, PublicKey};
    /// // The key of RFC 9449's examples.
    /// let x = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
    /// let y = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA";
    /// let key = PublicKey::from_ec_components("ec-1", x, y, None).unwrap();
    /// assert_eq!(key.kind(), KeyKind::EcP256);
    /// assert_eq!(key.ec_coordinates(), Some((x, y)));
    /// // Change y and the point is no longer on the curve.
    /// assert!(PublicKey::from_ec_components("ec-1", x, x, None).is_err());
    /// ```
    pub fn from_ec_components(
        kid: impl Into<String>,
        x: &str,
        y: &str,
        algorithm: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let kid = kid.into();
        check_kid(&kid)?;
        if let Some(alg) = algorithm {
            if !KeyKind::EcP256.accepts(alg) {
                return Err(ConfigError::AlgorithmNotAllowed(format!("{alg:?}")));
            }
        }
        // Uncompressed SEC 1 point: 0x04 || x || y.
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend(coordinate(&kid, "x", x, 32)?);
        point.extend(coordinate(&kid, "y", y, 32)?);
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .map_err(|_| ConfigError::Key(format!("key {kid}: not a point on P-256")))?;
        Ok(Self {
            kid,
            algorithm,
            material: Material::EcP256 {
                x: x.to_owned(),
                y: y.to_owned(),
            },
            verifier: Verifier::Parsed(parsed),
        })
    }

    /// Builds an Ed25519 key from the base64url public key `x` of an OKP JWK (RFC 8037).
    /// `algorithm`, if given, must be EdDSA.
    ///
    /// ```
    /// use tessera_guard::{KeyKind, PublicKey};
    /// // RFC 8037 appendix A.2.
    /// let key = PublicKey::from_ed25519_components("ed-1", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", None).unwrap();
    /// assert_eq!(key.kind(), KeyKind::Ed25519);
    /// ```
    pub fn from_ed25519_components(
        kid: impl Into<String>,
        x: &str,
        algorithm: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let kid = kid.into();
        check_kid(&kid)?;
        if let Some(alg) = algorithm {
            if !KeyKind::Ed25519.accepts(alg) {
                return Err(ConfigError::AlgorithmNotAllowed(format!("{alg:?}")));
            }
        }
        let bytes = coordinate(&kid, "x", x, 32)?;
        let parsed = ParsedPublicKey::new(&ED25519, &bytes)
            .map_err(|_| ConfigError::Key(format!("key {kid}: not an Ed25519 public key")))?;
        Ok(Self {
            kid,
            algorithm,
            material: Material::Ed25519 { x: x.to_owned() },
            verifier: Verifier::Parsed(parsed),
        })
    }

    /// Reads an RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`); its `kid`
    /// is the RFC 7638 SHA-256 thumbprint, which is what the Tessera issuer publishes.
    ///
    /// ```
    /// let pem = std::fs::read("src/test_keys/test_key_b_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// assert!(key.algorithm().is_none());
    /// ```
    pub fn from_rsa_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let decoding_key = DecodingKey::from_rsa_pem(pem)
            .map_err(|err| ConfigError::Key(format!("not an RSA public key PEM: {err}")))?;
        Self::from_decoding_key(&decoding_key)
    }

    /// Reads a public key in PEM of any kind the guard verifies with (`BEGIN PUBLIC KEY`: RSA,
    /// EC P-256 or Ed25519, as `openssl pkey -pubout` writes them); its `kid` is the RFC 7638
    /// thumbprint, which is what the Tessera issuer publishes.
    ///
    /// ```
    /// use tessera_guard::{KeyKind, PublicKey};
    /// let ec = std::fs::read("src/test_keys/test_key_ec_public.pem").unwrap();
    /// assert_eq!(PublicKey::from_pem(&ec).unwrap().kind(), KeyKind::EcP256);
    /// let ed = std::fs::read("src/test_keys/test_key_ed25519_public.pem").unwrap();
    /// assert_eq!(PublicKey::from_pem(&ed).unwrap().kind(), KeyKind::Ed25519);
    /// ```
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let decoding_key = DecodingKey::from_rsa_pem(pem)
            .or_else(|_| DecodingKey::from_ec_pem(pem))
            .or_else(|_| DecodingKey::from_ed_pem(pem))
            .map_err(|_| ConfigError::Key("not an RSA, EC or Ed25519 public key in PEM".into()))?;
        Self::from_decoding_key(&decoding_key)
    }

    fn from_decoding_key(decoding_key: &DecodingKey) -> Result<Self, ConfigError> {
        let jwk = Jwk::from_decoding_key(decoding_key, None)
            .map_err(|err| ConfigError::Key(format!("unusable public key: {err}")))?;
        match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                Self::from_rsa_components(rsa_thumbprint(&rsa.n, &rsa.e), &rsa.n, &rsa.e, None)
            }
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Self::from_ec_components(p256_thumbprint(&ec.x, &ec.y), &ec.x, &ec.y, None)
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Self::from_ed25519_components(ed25519_thumbprint(&okp.x), &okp.x, None)
            }
            _ => Err(ConfigError::Key(
                "only RSA, EC P-256 and Ed25519 public keys are supported".into(),
            )),
        }
    }

    /// The key id.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap().with_kid("k1");
    /// assert_eq!(key.kid(), "k1");
    /// ```
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Replaces the key id.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap().with_kid("k1");
    /// assert_eq!(key.kid(), "k1");
    /// ```
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The kind of key, which fixes the algorithms it verifies.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_ed25519_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_pem(&pem).unwrap();
    /// assert_eq!(key.kind(), tessera_guard::KeyKind::Ed25519);
    /// ```
    pub fn kind(&self) -> KeyKind {
        match self.material {
            Material::Rsa { .. } => KeyKind::Rsa,
            Material::EcP256 { .. } => KeyKind::EcP256,
            Material::Ed25519 { .. } => KeyKind::Ed25519,
        }
    }

    /// The algorithm the key is published for (the JWK's `alg`), if stated. A token whose
    /// header names another algorithm is rejected even if that algorithm is configured.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// assert_eq!(key.algorithm(), None);
    /// ```
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Whether a token signed with `algorithm` may be verified with this key: the key's kind
    /// must allow it ([`KeyKind::accepts`]) and, if the JWK states an `alg`, it must be that one.
    ///
    /// ```
    /// use tessera_guard::{Algorithm, PublicKey};
    /// # let pem = std::fs::read("src/test_keys/test_key_ec_public.pem").unwrap();
    /// let key = PublicKey::from_pem(&pem).unwrap();
    /// assert!(key.accepts(Algorithm::ES256));
    /// assert!(!key.accepts(Algorithm::RS256));
    /// assert!(!key.accepts(Algorithm::EdDSA));
    /// ```
    pub fn accepts(&self, algorithm: Algorithm) -> bool {
        self.kind().accepts(algorithm) && self.algorithm.is_none_or(|stated| stated == algorithm)
    }

    /// The base64url `(n, e)` components of an RSA key; `None` for other kinds.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// assert_eq!(key.rsa_components().unwrap().1, "AQAB");
    /// ```
    pub fn rsa_components(&self) -> Option<(&str, &str)> {
        match &self.material {
            Material::Rsa { n, e } => Some((n, e)),
            _ => None,
        }
    }

    /// The base64url `(x, y)` coordinates of an EC key; `None` for other kinds.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_ec_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_pem(&pem).unwrap();
    /// let (x, y) = key.ec_coordinates().unwrap();
    /// assert_eq!(key.kid(), tessera_guard::p256_thumbprint(x, y));
    /// ```
    pub fn ec_coordinates(&self) -> Option<(&str, &str)> {
        match &self.material {
            Material::EcP256 { x, y } => Some((x, y)),
            _ => None,
        }
    }

    /// The base64url public key `x` of an Ed25519 key; `None` for other kinds.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_ed25519_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_pem(&pem).unwrap();
    /// assert_eq!(key.kid(), tessera_guard::ed25519_thumbprint(key.ed25519_x().unwrap()));
    /// ```
    pub fn ed25519_x(&self) -> Option<&str> {
        match &self.material {
            Material::Ed25519 { x } => Some(x),
            _ => None,
        }
    }

    /// Whether `signature_b64` is a valid `algorithm` signature of `signing_input` by this key.
    /// The caller has checked [`accepts`](Self::accepts); any malformed input is `false`.
    pub(crate) fn verify(
        &self,
        algorithm: Algorithm,
        signing_input: &[u8],
        signature_b64: &str,
    ) -> bool {
        match &self.verifier {
            Verifier::Rsa(key) => matches!(
                jsonwebtoken::crypto::verify(signature_b64, signing_input, key, algorithm),
                Ok(true)
            ),
            Verifier::Parsed(key) => URL_SAFE_NO_PAD
                .decode(signature_b64)
                .is_ok_and(|signature| key.verify_sig(signing_input, &signature).is_ok()),
        }
    }

    /// Whether `other` is the same key material (ids and stated algorithms aside).
    pub(crate) fn same_material(&self, other: &Self) -> bool {
        self.material == other.material
    }
}

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

/// Where the guard gets the public keys that verify token signatures.
///
/// Implementations must be cheap on a known `kid` (it is called on every validation that misses
/// the token cache) and must never fetch keys from a location named by the token.
///
/// ```
/// use std::sync::Arc;
/// use tessera_guard::{BoxFuture, FetchError, KeyStore, PublicKey};
///
/// /// A store with exactly one key.
/// struct OneKey(Arc<PublicKey>);
///
/// impl KeyStore for OneKey {
///     fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
///         Box::pin(async move { Ok((self.0.kid() == kid).then(|| self.0.clone())) })
///     }
/// }
/// ```
pub trait KeyStore: Send + Sync + 'static {
    /// The key with this `kid`. `Ok(None)` when no such key is known (after whatever refetch
    /// the store allows); `Err` only when the store has no keys at all and could not get any.
    fn key<'a>(&'a self, kid: &'a str)
        -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>>;

    /// Reloads the keys from their source now (used by the periodic refresh). Default: nothing.
    fn refresh(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async { Ok(()) })
    }

    /// A counter that changes whenever a key is withdrawn or replaced. Tokens cached under an
    /// older generation are verified again. Default: constant.
    fn generation(&self) -> u64 {
        0
    }
}

/// A fixed set of keys, e.g. for tests or for a resource server given the keys out of band.
///
/// ```
/// use tessera_guard::StaticKeyStore;
/// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
/// let store = StaticKeyStore::from_rsa_pems([pem.as_slice()]).unwrap();
/// assert_eq!(store.len(), 1);
///
/// let jwks = r#"{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}"#;
/// // Symmetric keys are skipped; a set with no usable key is an error.
/// assert!(StaticKeyStore::from_jwks_json(jwks).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticKeyStore {
    keys: HashMap<String, Arc<PublicKey>>,
}

impl StaticKeyStore {
    /// A store holding `keys` (a later key with the same `kid` replaces an earlier one).
    ///
    /// ```
    /// let store = tessera_guard::StaticKeyStore::new([]);
    /// assert!(store.is_empty());
    /// ```
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| (k.kid.clone(), Arc::new(k)))
                .collect(),
        }
    }

    /// A store from a JWK Set document (the issuer's `/.well-known/jwks.json`).
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// # let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// # let (n, e) = key.rsa_components().unwrap();
    /// let jwks = format!(r#"{{"keys":[
    ///     {{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"{n}","e":"{e}"}},
    ///     {{"kty":"OKP","crv":"Ed25519","kid":"k2","use":"sig","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}
    /// ]}}"#);
    /// let store = tessera_guard::StaticKeyStore::from_jwks_json(&jwks).unwrap();
    /// assert_eq!(store.len(), 2);
    /// ```
    pub fn from_jwks_json(json: &str) -> Result<Self, ConfigError> {
        let keys = parse_jwks(json.as_bytes()).map_err(ConfigError::Key)?;
        if keys.is_empty() {
            return Err(ConfigError::Key(
                "the JWK set holds no usable signing key".into(),
            ));
        }
        Ok(Self::new(keys))
    }

    /// A store from RSA public keys in PEM; each `kid` is the key's RFC 7638 thumbprint.
    ///
    /// ```
    /// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let store = tessera_guard::StaticKeyStore::from_rsa_pems([pem.as_slice()]).unwrap();
    /// assert!(!store.is_empty());
    /// ```
    pub fn from_rsa_pems<'a>(
        pems: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, ConfigError> {
        let keys = pems
            .into_iter()
            .map(PublicKey::from_rsa_pem)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(keys))
    }

    /// A store from public keys in PEM of any supported kind (RSA, EC P-256, Ed25519; see
    /// [`PublicKey::from_pem`]); each `kid` is the key's RFC 7638 thumbprint.
    ///
    /// ```
    /// let rsa = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let ec = std::fs::read("src/test_keys/test_key_ec_public.pem").unwrap();
    /// let ed = std::fs::read("src/test_keys/test_key_ed25519_public.pem").unwrap();
    /// let store = tessera_guard::StaticKeyStore::from_pems([&rsa[..], &ec[..], &ed[..]]).unwrap();
    /// assert_eq!(store.len(), 3);
    /// ```
    pub fn from_pems<'a>(pems: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, ConfigError> {
        let keys = pems
            .into_iter()
            .map(PublicKey::from_pem)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(keys))
    }

    /// Number of keys.
    ///
    /// ```
    /// assert_eq!(tessera_guard::StaticKeyStore::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the store holds no key.
    ///
    /// ```
    /// assert!(tessera_guard::StaticKeyStore::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyStore for StaticKeyStore {
    fn key<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
        let found = self.keys.get(kid).cloned();
        Box::pin(async move { Ok(found) })
    }
}

type KeyMap = HashMap<String, Arc<PublicKey>>;

/// Keys fetched from a JWKS URL, cached, refetched when a token names an unknown `kid`
/// (at most once per `min_refetch_interval`), and kept when the issuer is unreachable.
///
/// ```no_run
/// use std::time::Duration;
/// use tessera_guard::{JwksKeyStore, KeyStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = JwksKeyStore::new(
///     "http://127.0.0.1:8080/.well-known/jwks.json",
///     Duration::from_secs(30),
///     Duration::from_secs(5),
/// )?;
/// store.refresh().await?; // optional: the first lookup fetches anyway
/// # Ok(()) }
/// ```
pub struct JwksKeyStore {
    url: String,
    client: reqwest::Client,
    min_refetch_interval: Duration,
    keys: RwLock<Arc<KeyMap>>,
    generation: AtomicU64,
    /// When the last fetch was attempted (successful or not). Held across the fetch so
    /// concurrent misses wait for one fetch instead of starting their own.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for JwksKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksKeyStore")
            .field("url", &self.url)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("keys", &self.current().len())
            .finish_non_exhaustive()
    }
}

impl JwksKeyStore {
    /// A store for the JWKS at `url`. Nothing is fetched until the first lookup or
    /// [`refresh`](KeyStore::refresh).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = tessera_guard::JwksKeyStore::new(
    ///     "http://127.0.0.1:8080/.well-known/jwks.json",
    ///     Duration::from_secs(30),
    ///     Duration::from_secs(5),
    /// ).unwrap();
    /// assert_eq!(store.url(), "http://127.0.0.1:8080/.well-known/jwks.json");
    /// ```
    pub fn new(
        url: impl Into<String>,
        min_refetch_interval: Duration,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with_client(
            url,
            min_refetch_interval,
            http::client(timeout)?,
        ))
    }

    /// Like [`new`](Self::new) with a caller-provided HTTP client.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let client = reqwest::Client::new();
    /// let store = tessera_guard::JwksKeyStore::with_client("http://127.0.0.1:8080/jwks", Duration::from_secs(30), client);
    /// # let _ = store;
    /// ```
    pub fn with_client(
        url: impl Into<String>,
        min_refetch_interval: Duration,
        client: reqwest::Client,
    ) -> Self {
        Self {
            url: url.into(),
            client,
            min_refetch_interval,
            keys: RwLock::new(Arc::new(HashMap::new())),
            generation: AtomicU64::new(0),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// The JWKS URL.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let store = tessera_guard::JwksKeyStore::with_client("http://x/jwks", Duration::from_secs(30), reqwest::Client::new());
    /// assert_eq!(store.url(), "http://x/jwks");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key ids currently cached.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let store = tessera_guard::JwksKeyStore::with_client("http://x/jwks", Duration::from_secs(30), reqwest::Client::new());
    /// assert!(store.key_ids().is_empty()); // nothing fetched yet
    /// ```
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.current().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn current(&self) -> Arc<KeyMap> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn lookup(&self, kid: &str) -> Option<Arc<PublicKey>> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// Fetches and installs the key set. On any failure the previous keys stay.
    async fn fetch_and_install(&self) -> Result<(), FetchError> {
        let body = http::get_bounded(&self.client, &self.url, MAX_JWKS_BYTES).await?;
        let keys = parse_jwks(&body).map_err(FetchError::InvalidBody)?;
        if keys.is_empty() {
            // An empty or unusable set is more likely a broken deployment than a real
            // withdrawal of every key; keep validating with what we have.
            return Err(FetchError::NoUsableKeys);
        }
        let new: KeyMap = keys
            .into_iter()
            .map(|k| (k.kid.clone(), Arc::new(k)))
            .collect();
        let mut slot = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A withdrawn or replaced key must stop validating tokens the guard had cached.
        let withdrawn = slot
            .iter()
            .any(|(kid, old)| new.get(kid).is_none_or(|fresh| !fresh.same_material(old)));
        if withdrawn {
            self.generation.fetch_add(1, Ordering::Release);
        }
        log::debug!(
            "tessera-guard: loaded {} signing key(s) from {}",
            new.len(),
            self.url
        );
        *slot = Arc::new(new);
        Ok(())
    }

    /// The interval to respect before the next unknown-kid fetch. Until a first fetch has
    /// succeeded the guard has nothing to validate with, so it retries sooner (still bounded).
    fn effective_interval(&self) -> Duration {
        if self.current().is_empty() {
            self.min_refetch_interval.min(Duration::from_secs(5))
        } else {
            self.min_refetch_interval
        }
    }
}

impl KeyStore for JwksKeyStore {
    fn key<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
        Box::pin(async move {
            if let Some(key) = self.lookup(kid) {
                return Ok(Some(key));
            }
            let mut last_attempt = self.last_attempt.lock().await;
            // Another task may have fetched while this one waited for the lock.
            if let Some(key) = self.lookup(kid) {
                return Ok(Some(key));
            }
            let interval = self.effective_interval();
            if last_attempt.is_some_and(|at| at.elapsed() < interval) {
                return if self.current().is_empty() {
                    Err(FetchError::NoUsableKeys)
                } else {
                    Ok(None)
                };
            }
            *last_attempt = Some(Instant::now());
            let fetched = self.fetch_and_install().await;
            drop(last_attempt);
            match fetched {
                Ok(()) => Ok(self.lookup(kid)),
                Err(err) => {
                    log::warn!("tessera-guard: JWKS fetch from {} failed: {err}", self.url);
                    if self.current().is_empty() {
                        Err(err)
                    } else {
                        Ok(None)
                    }
                }
            }
        })
    }

    fn refresh(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async move {
            // Serialised with unknown-kid fetches, but does not count against their budget:
            // a scheduled refresh must not delay picking up a freshly rotated key.
            let _fetching = self.last_attempt.lock().await;
            self.fetch_and_install().await
        })
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}
