//! [`PublicKey`]: one verification key, parsed once (from JWK members or PEM), pinned to the
//! algorithms of its kind and to the `alg` its JWK states.

use std::fmt;

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, EllipticCurveKeyParameters, Jwk, OctetKeyPairParameters,
    RSAKeyParameters,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwk::{ed25519_params, p256_params, rsa_params, thumbprint};
use super::KeyKind;
use crate::error::ConfigError;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// The public key as published: the members of its JWK, in jsonwebtoken's model. Kept to notice
/// when a kid's key material changes between fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    Rsa(RSAKeyParameters),
    EcP256(EllipticCurveKeyParameters),
    Ed25519(OctetKeyPairParameters),
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
            material: Material::Rsa(rsa_params(n, e)),
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
            material: Material::EcP256(p256_params(x, y)),
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
            material: Material::Ed25519(ed25519_params(x)),
            verifier: Verifier::Parsed(parsed),
        })
    }

    /// Builds a key from one JWK (RFC 7517), as a JSON value: `kty` `RSA` (2048 bits or more),
    /// `EC` with `crv` `P-256`, or `OKP` with `crv` `Ed25519`. Unlike a key in a fetched JWK
    /// Set, which is skipped with a log line when the guard has no use for it, anything else is
    /// an error here: another type or curve, a symmetric key, `use` other than `sig`, an `alg`
    /// the key cannot have, missing or malformed members. A JWK without `kid` gets its RFC 7638
    /// thumbprint. `alg: "Ed25519"` (the fully specified name, RFC 9864) is read as `EdDSA`.
    /// Only the public members are read: the caller decides whether a JWK that also carries
    /// private ones (`d`, …) is acceptable.
    ///
    /// ```
    /// use serde_json::json;
    /// use tessera_guard::{Algorithm, KeyKind, PublicKey};
    /// // RFC 8037 appendix A.2.
    /// let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519",
    ///                  "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    /// let key = PublicKey::from_jwk(&jwk).unwrap();
    /// assert_eq!(key.kind(), KeyKind::Ed25519);
    /// assert_eq!(key.algorithm(), Some(Algorithm::EdDSA));
    /// assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    ///
    /// assert!(PublicKey::from_jwk(&json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
    /// assert!(PublicKey::from_jwk(&json!({"kty": "EC", "crv": "P-384", "x": "", "y": ""})).is_err());
    /// ```
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, ConfigError> {
        let mut jwk = super::jwk::read_jwk(jwk.clone())
            .ok_or_else(|| ConfigError::Key("not a JWK (a JSON object with kty)".into()))?;
        if jwk.common.key_id.is_none() {
            jwk.common.key_id = Some(thumbprint(jwk.algorithm.clone()));
        }
        super::jwk::parse_jwk(jwk)
            .map_err(ConfigError::Key)?
            .ok_or_else(|| {
                ConfigError::Key(
                    "not a signing key of a supported type: RSA, EC P-256 or Ed25519 (OKP)".into(),
                )
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
        let kid = || thumbprint(jwk.algorithm.clone());
        match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => Self::from_rsa_components(kid(), &rsa.n, &rsa.e, None),
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Self::from_ec_components(kid(), &ec.x, &ec.y, None)
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Self::from_ed25519_components(kid(), &okp.x, None)
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
            Material::Rsa(_) => KeyKind::Rsa,
            Material::EcP256(_) => KeyKind::EcP256,
            Material::Ed25519(_) => KeyKind::Ed25519,
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
            Material::Rsa(rsa) => Some((&rsa.n, &rsa.e)),
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
            Material::EcP256(ec) => Some((&ec.x, &ec.y)),
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
            Material::Ed25519(okp) => Some(&okp.x),
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
