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

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;

/// Smallest modulus accepted, in bytes (RSA-2048).
const MIN_MODULUS_BYTES: usize = 256;
const FILE_PREFIX: &str = "tessera-";

/// DER content of the PKCS#8 AlgorithmIdentifier OIDs we accept (RFC 8017, RFC 5480, RFC 8410).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The signature algorithm of a key, and so of the tokens it signs (`keys.algorithm` picks the
/// one new keys get).
///
/// ```
/// use tessera::crypto::keys::KeyAlgorithm;
/// assert_eq!("es256".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::Es256));
/// assert_eq!(KeyAlgorithm::EdDsa.to_string(), "EdDSA");
/// assert!("HS256".parse::<KeyAlgorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over an RSA-2048 (or larger) key. The default.
    #[default]
    Rs256,
    /// ECDSA over P-256 with SHA-256; the signature is the fixed 64-byte `r || s` (RFC 7518 §3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order the documentation lists them.
    pub const ALL: [Self; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The JOSE `alg` name (RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The same algorithm as jsonwebtoken names it.
    pub fn jose(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value of `keys.algorithm` that names no supported algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm {0:?}: use RS256, ES256 or EdDSA")]
pub struct UnknownAlgorithm(String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownAlgorithm;

    /// The JOSE names, compared without regard to case (`es256` in an environment variable is
    /// as clear as `ES256`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| {
                UnknownAlgorithm(crate::domain::credential::truncate(value, 32).to_owned())
            })
    }
}

impl<'de> serde::Deserialize<'de> for KeyAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// A key directory problem. The message names the file and never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The directory or a file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not an acceptable private key.
    #[error("{path}: {problem}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Key generation failed.
    #[error("{0} key generation failed")]
    Generate(KeyAlgorithm),
    /// There is no key to sign with.
    #[error("no signing key loaded")]
    NoKey,
    /// The signature operation failed.
    #[error("signing failed")]
    Sign,
}

/// One public key in RFC 7517 form.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: &'static str,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// `RS256`, `ES256` or `EdDSA`: the one algorithm this key verifies.
    pub alg: &'static str,
    /// The key material, by type.
    #[serde(flatten)]
    pub params: JwkParams,
}

/// The public key material of a [`Jwk`], with the members RFC 7518 §6 / RFC 8037 §2 define.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum JwkParams {
    /// `kty: RSA`.
    Rsa {
        /// Modulus, base64url.
        n: String,
        /// Exponent, base64url.
        e: String,
    },
    /// `kty: EC`, `crv: P-256`.
    Ec {
        /// Always `P-256`.
        crv: &'static str,
        /// x coordinate, base64url of 32 bytes.
        x: String,
        /// y coordinate, base64url of 32 bytes.
        y: String,
    },
    /// `kty: OKP`, `crv: Ed25519`.
    Okp {
        /// Always `Ed25519`.
        crv: &'static str,
        /// The public key, base64url of 32 bytes.
        x: String,
    },
}

impl JwkParams {
    /// The JWK `kty`.
    pub fn kty(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RSA",
            Self::Ec { .. } => "EC",
            Self::Okp { .. } => "OKP",
        }
    }

    /// The RFC 7638 SHA-256 thumbprint (base64url): the `kid` Tessera gives the key.
    ///
    /// ```
    /// use tessera::crypto::keys::JwkParams;
    /// // RFC 8037 appendix A.3.
    /// let key = JwkParams::Okp { crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into() };
    /// assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// ```
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace. The
        // values are base64url or fixed names, so nothing needs JSON escaping.
        let canonical = match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            // RFC 7638 §3.2: crv, kty, x, y.
            Self::Ec { crv, x, y } => {
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            // RFC 8037 §2: crv, kty, x.
            Self::Okp { crv, x } => format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#),
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        B64.encode(digest.as_ref())
    }
}

/// The private half, parsed once.
enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// An RFC 7517 JWK Set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JwkSet {
    /// The keys, newest first.
    pub keys: Vec<Jwk>,
}

/// A loaded private key.
pub struct SigningKey {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// When the key was created (from its file name), Unix seconds.
    pub created_at: i64,
    /// Where it was read from.
    pub path: PathBuf,
    /// The algorithm this key signs (and verifies) with, fixed by its type.
    pub algorithm: KeyAlgorithm,
    /// The public half.
    pub jwk: Jwk,
    private: PrivateKey,
    /// base64url of the JOSE header, computed once.
    header_b64: String,
    /// The public key, parsed once, for introspection.
    decoding_key: jsonwebtoken::DecodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Splits one DER element with the given tag off `input`: its content and what follows.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let count = usize::from(len0 & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The algorithm OID of a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5): `SEQUENCE { INTEGER version,
/// SEQUENCE { OID, parameters }, … }`. Lets a file be parsed as what it says it is, with an
/// error that names the problem, instead of trying every key type in turn.
fn pkcs8_algorithm(der: &[u8]) -> Option<&[u8]> {
    let (info, _) = der_element(der, 0x30)?;
    let (_version, rest) = der_element(info, 0x02)?;
    let (algorithm, _) = der_element(rest, 0x30)?;
    let (oid, _) = der_element(algorithm, 0x06)?;
    Some(oid)
}

fn rsa_key(key_pair: RsaKeyPair) -> Result<(PrivateKey, JwkParams), &'static str> {
    if key_pair.public_modulus_len() < MIN_MODULUS_BYTES {
        return Err("RSA keys must be at least 2048 bits");
    }
    let components = PublicKeyComponents::<Vec<u8>>::from(key_pair.public_key());
    let params = JwkParams::Rsa {
        n: B64.encode(&components.n),
        e: B64.encode(&components.e),
    };
    Ok((PrivateKey::Rsa(key_pair), params))
}

fn ec_key(key_pair: EcdsaKeyPair) -> Result<(PrivateKey, JwkParams), &'static str> {
    // Uncompressed SEC 1 point: 0x04 || x || y, 32 bytes each on P-256.
    let point = key_pair.public_key().as_ref();
    if point.len() != 65 || point[0] != 0x04 {
        return Err("unexpected EC public key encoding");
    }
    let params = JwkParams::Ec {
        crv: "P-256",
        x: B64.encode(&point[1..33]),
        y: B64.encode(&point[33..]),
    };
    Ok((PrivateKey::Ecdsa(key_pair), params))
}

fn ed25519_key(key_pair: Ed25519KeyPair) -> (PrivateKey, JwkParams) {
    let params = JwkParams::Okp {
        crv: "Ed25519",
        x: B64.encode(key_pair.public_key().as_ref()),
    };
    (PrivateKey::Ed25519(key_pair), params)
}

impl SigningKey {
    fn from_pem(path: &Path, pem_text: &str, created_at: i64) -> Result<Self, KeyError> {
        let invalid = |problem: &str| KeyError::Invalid {
            path: path.to_owned(),
            problem: problem.to_owned(),
        };
        let block = pem::parse(pem_text).map_err(|_| invalid("not a PEM file"))?;
        let der = block.contents();
        let (private, params) = match block.tag() {
            "PRIVATE KEY" => match pkcs8_algorithm(der) {
                Some(OID_RSA_ENCRYPTION) => RsaKeyPair::from_pkcs8(der)
                    .map_err(|_| invalid("not a usable RSA private key (2048 bits or more)"))
                    .and_then(|k| rsa_key(k).map_err(invalid))?,
                Some(OID_EC_PUBLIC_KEY) => {
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                        .map_err(|_| invalid("EC keys must be on the P-256 curve (ES256)"))
                        .and_then(|k| ec_key(k).map_err(invalid))?
                }
                Some(OID_ED25519) => Ed25519KeyPair::from_pkcs8(der)
                    .map(ed25519_key)
                    .map_err(|_| invalid("not a usable Ed25519 private key"))?,
                _ => {
                    return Err(invalid(
                        "expected a PKCS#8 private key of type RSA, EC (P-256) or Ed25519",
                    ))
                }
            },
            // The older, type-specific encodings `openssl genrsa` / `openssl ecparam -genkey` write.
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(der)
                .map_err(|_| invalid("not a usable RSA private key (2048 bits or more)"))
                .and_then(|k| rsa_key(k).map_err(invalid))?,
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| invalid("EC keys must be on the P-256 curve (ES256)"))
                    .and_then(|k| ec_key(k).map_err(invalid))?
            }
            _ => {
                return Err(invalid(
                    "expected a PKCS#8 private key (-----BEGIN PRIVATE KEY-----)",
                ))
            }
        };
        let algorithm = match private {
            PrivateKey::Rsa(_) => KeyAlgorithm::Rs256,
            PrivateKey::Ecdsa(_) => KeyAlgorithm::Es256,
            PrivateKey::Ed25519(_) => KeyAlgorithm::EdDsa,
        };
        let decoding_key = match &params {
            JwkParams::Rsa { n, e } => jsonwebtoken::DecodingKey::from_rsa_components(n, e),
            JwkParams::Ec { x, y, .. } => jsonwebtoken::DecodingKey::from_ec_components(x, y),
            JwkParams::Okp { x, .. } => jsonwebtoken::DecodingKey::from_ed_components(x),
        }
        .map_err(|_| invalid("unusable public key"))?;
        let kid = params.thumbprint();
        let header = serde_json::json!({"alg": algorithm.name(), "typ": "at+jwt", "kid": kid});
        Ok(Self {
            decoding_key,
            jwk: Jwk {
                kty: params.kty(),
                kid: kid.clone(),
                use_: "sig",
                alg: algorithm.name(),
                params,
            },
            header_b64: B64.encode(header.to_string()),
            kid,
            algorithm,
            created_at,
            path: path.to_owned(),
            private,
        })
    }

    /// A compact JWS (`alg` of this key, `typ: at+jwt`) over the JSON of `claims`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 350);
        token.push_str(&self.header_b64);
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let signature = self.signature(token.as_bytes())?;
        token.push('.');
        B64.encode_string(signature, &mut token);
        Ok(token)
    }

    /// The raw JWS signature of `input` with this key's algorithm.
    fn signature(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.private {
            PrivateKey::Rsa(key_pair) => {
                let mut signature = vec![0u8; key_pair.public_modulus_len()];
                key_pair
                    .sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
                    .map_err(|_| KeyError::Sign)?;
                Ok(signature)
            }
            // ECDSA_P256_SHA256_FIXED_SIGNING gives the 64-byte r || s JWS wants (RFC 7518
            // §3.4), not the ASN.1 DER form.
            PrivateKey::Ecdsa(key_pair) => key_pair
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            // `try_sign`: `sign` would panic on an internal failure.
            PrivateKey::Ed25519(key_pair) => key_pair
                .try_sign(input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
        }
    }
}

/// RFC 7638 §3 thumbprint of an RSA key from its base64url `n` and `e` (see
/// [`JwkParams::thumbprint`] for every key type).
pub fn thumbprint(n_b64: &str, e_b64: &str) -> String {
    JwkParams::Rsa {
        n: n_b64.to_owned(),
        e: e_b64.to_owned(),
    }
    .thumbprint()
}

/// Every key of a directory, oldest first.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

/// A key's place in the rotation, as `keys list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens.
    Signing,
    /// No longer signs; still in the JWKS for tokens it signed.
    Published,
    /// Every token it signed has expired; left out of the JWKS. The file can be deleted.
    Retired,
}

impl KeySet {
    /// Reads every `*.pem` file of `dir`. A file that cannot be read or parsed is an error:
    /// a server must not silently run without a key an operator put there.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut keys = Vec::new();
        if !dir.exists() {
            return Ok(Self { keys });
        }
        for entry in fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pem") {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|source| KeyError::Io {
                path: path.clone(),
                source,
            })?;
            let created_at = created_at(&path)?;
            keys.push(SigningKey::from_pem(&path, &text, created_at)?);
        }
        keys.sort_by(|a, b| (a.created_at, &a.path).cmp(&(b.created_at, &b.path)));
        Ok(Self { keys })
    }

    /// The newest key, which signs.
    pub fn signer(&self) -> Option<&SigningKey> {
        self.keys.last()
    }

    /// Each key with its state at `now`.
    pub fn states(&self, now: i64, lifetime: i64, leeway: i64) -> Vec<(&SigningKey, KeyState)> {
        let last = self.keys.len().saturating_sub(1);
        self.keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let state = if i == last {
                    KeyState::Signing
                } else {
                    // Replaced when the next key appeared; its last token expires a lifetime later.
                    let replaced_at = self.keys[i + 1].created_at;
                    if replaced_at + lifetime + leeway > now {
                        KeyState::Published
                    } else {
                        KeyState::Retired
                    }
                };
                (key, state)
            })
            .collect()
    }

    /// The JWK Set: every key whose tokens may still be alive, newest first.
    pub fn jwks(&self, now: i64, lifetime: i64, leeway: i64) -> JwkSet {
        let keys = self
            .states(now, lifetime, leeway)
            .into_iter()
            .rev()
            .filter(|(_, s)| *s != KeyState::Retired)
            .map(|(k, _)| k.jwk.clone())
            .collect();
        JwkSet { keys }
    }

    /// The algorithms of the keys in the JWK Set at `now` (for the server metadata), in the order
    /// of [`KeyAlgorithm::ALL`].
    pub fn published_algorithms(&self, now: i64, lifetime: i64, leeway: i64) -> Vec<KeyAlgorithm> {
        let published: Vec<KeyAlgorithm> = self
            .states(now, lifetime, leeway)
            .into_iter()
            .filter(|(_, s)| *s != KeyState::Retired)
            .map(|(k, _)| k.algorithm)
            .collect();
        KeyAlgorithm::ALL
            .into_iter()
            .filter(|alg| published.contains(alg))
            .collect()
    }

    /// Verifies one of our access tokens: a signature by a published key with that key's
    /// algorithm, `typ` `at+jwt`, issuer, one of `audiences`, `exp` and `nbf` at `now` with no
    /// leeway. `None` for anything else, including garbage and tokens larger than 8 KiB.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audiences: &[String],
        now: i64,
        lifetime: i64,
        leeway: i64,
    ) -> Option<T> {
        use jsonwebtoken::{decode, decode_header, Validation};
        const MAX_TOKEN_BYTES: usize = 8 * 1024;
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = decode_header(token).ok()?;
        if header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        let kid = header.kid?;
        let key = self
            .states(now, lifetime, leeway)
            .into_iter()
            .find(|(k, state)| k.kid == kid && *state != KeyState::Retired)
            .map(|(k, _)| k)?;
        // Pinned to the key, not taken from the token: an ES256 header naming an RSA key (or
        // any other mix) is refused before any signature check.
        let algorithm = key.algorithm.jose();
        if header.alg != algorithm {
            return None;
        }
        let mut validation = Validation::new(algorithm);
        // exp and nbf are checked below against `now`, the server's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[issuer]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data = decode::<serde_json::Value>(token, &key.decoding_key, &validation).ok()?;
        let exp = data.claims.get("exp")?.as_i64()?;
        let nbf = data.claims.get("nbf")?.as_i64()?;
        if exp <= now || nbf > now {
            return None;
        }
        serde_json::from_value(data.claims).ok()
    }

    /// Number of keys loaded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn fingerprint(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

fn created_at(path: &Path) -> Result<i64, KeyError> {
    let from_name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix(FILE_PREFIX))
        .and_then(|s| s.parse::<i64>().ok());
    if let Some(t) = from_name {
        return Ok(t);
    }
    // A key an operator dropped in under another name: its modification time orders it.
    let modified = fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(chrono::DateTime::<chrono::Utc>::from(modified).timestamp())
}

/// The PKCS#8 (DER) of a new private key: RSA-2048, EC P-256 or Ed25519.
fn new_private_key(algorithm: KeyAlgorithm) -> Result<Vec<u8>, KeyError> {
    let failed = |_| KeyError::Generate(algorithm);
    let rng = SystemRandom::new();
    Ok(match algorithm {
        KeyAlgorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        KeyAlgorithm::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        // PKCS#8 v1, which the OpenSSL CLI reads (`openssl pkey -in … -pubout`) as it does the
        // files `openssl genpkey -algorithm ed25519` writes.
        KeyAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
    })
}

/// Writes a new `algorithm` key (RSA-2048, EC P-256 or Ed25519) to `dir` as `tessera-<now>.pem`,
/// PKCS#8, mode 0600, creating `dir` (0700) if needed. The file is written under a temporary
/// name and renamed, so a server reloading the directory never reads half a key. Returns the new
/// key's path.
pub fn generate(dir: &Path, algorithm: KeyAlgorithm, now: i64) -> Result<PathBuf, KeyError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Io { path, source }
    };
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    let der = new_private_key(algorithm)?;
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
    // Two keys made in the same second get distinct, still ordered, names.
    let mut stamp = now;
    let path = loop {
        let candidate = dir.join(format!("{FILE_PREFIX}{stamp}.pem"));
        if !candidate.exists() {
            break candidate;
        }
        stamp += 1;
    };
    let tmp = dir.join(format!(".{FILE_PREFIX}{stamp}.tmp"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    file.write_all(pem_text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io(&tmp))?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// The keys a running server holds; reloaded from the directory without a restart.
#[derive(Clone, Debug)]
pub struct KeyStore {
    dir: PathBuf,
    current: Arc<RwLock<Arc<KeySet>>>,
}

impl KeyStore {
    /// Loads `dir`, generating a first key of `algorithm` if it holds none. Keys already there
    /// are used whatever their type: switching algorithm takes a rotation (`tessera keys rotate`).
    pub fn open(dir: &Path, algorithm: KeyAlgorithm, now: i64) -> Result<Self, KeyError> {
        let mut set = KeySet::load(dir)?;
        if set.is_empty() {
            generate(dir, algorithm, now)?;
            set = KeySet::load(dir)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    /// The keys as last loaded.
    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the directory. On error the keys already loaded stay in use. Returns whether the
    /// set of keys changed.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let fresh = KeySet::load(&self.dir)?;
        if fresh.is_empty() {
            return Err(KeyError::NoKey);
        }
        let changed = fresh.fingerprint() != self.current().fingerprint();
        if changed {
            let mut guard = match self.current.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            *guard = Arc::new(fresh);
        }
        Ok(changed)
    }

    /// Signs `claims` with the newest key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let set = self.current();
        set.signer().ok_or(KeyError::NoKey)?.sign(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, EncodingKey, Validation};

    /// RFC 8037 appendix A.1: the Ed25519 private key (seed) `d` and public key `x`.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://issuer.test", "sub": "x", "aud": "a",
            "exp": 4_000_000_000i64, "nbf": 1_000, "iat": 1_000,
        })
    }

    /// The key in `path`, as a DecodingKey built from nothing but its published JWK, and the
    /// JWK's `alg`: what an outside validator does.
    fn from_published_jwk(key: &SigningKey) -> (DecodingKey, Algorithm) {
        let json = serde_json::to_value(&key.jwk).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json.clone()).unwrap();
        let alg = json["alg"].as_str().unwrap().parse().unwrap();
        (DecodingKey::from_jwk(&jwk).unwrap(), alg)
    }

    fn pem_file(dir: &Path, name: &str, tag: &str, der: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, pem::encode(&pem::Pem::new(tag, der.to_vec()))).unwrap();
        path
    }

    #[test]
    fn rfc7638_thumbprint_of_the_rfc_example_key() {
        // The example key of RFC 7638 §3.1 and its published thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc8037_thumbprint_of_the_rfc_ed25519_key() {
        // RFC 8037 appendix A.3.
        let key = JwkParams::Okp {
            crv: "Ed25519",
            x: RFC8037_X.into(),
        };
        assert_eq!(
            key.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn ec_thumbprint_of_the_rfc9449_example_key() {
        // RFC 9449 (DPoP) figures 2 and 9: an ES256 JWK and its published `jkt` thumbprint.
        let key = JwkParams::Ec {
            crv: "P-256",
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        };
        assert_eq!(
            key.thumbprint(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    #[test]
    fn the_rfc8037_private_key_loads_with_the_rfc_kid_and_signs_the_rfc_signature() {
        // PKCS#8 v1 of an Ed25519 seed (RFC 8410 §7): a fixed prefix, then the 32 bytes.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend(B64.decode(RFC8037_D).unwrap());
        let dir = tempfile::tempdir().unwrap();
        pem_file(dir.path(), "tessera-1.pem", "PRIVATE KEY", &der);
        let set = KeySet::load(dir.path()).unwrap();
        let key = set.signer().unwrap();
        assert_eq!(key.algorithm, KeyAlgorithm::EdDsa);
        assert_eq!(
            key.jwk.params,
            JwkParams::Okp {
                crv: "Ed25519",
                x: RFC8037_X.into()
            }
        );
        assert_eq!(key.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        // RFC 8037 appendix A.4: Ed25519 is deterministic, so the signature is the published one.
        let input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(
            B64.encode(key.signature(input).unwrap()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn algorithm_names_parse_case_insensitively_and_nothing_else_does() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.name().parse::<KeyAlgorithm>(), Ok(alg));
            assert_eq!(alg.name().to_lowercase().parse::<KeyAlgorithm>(), Ok(alg));
            assert_eq!(alg.jose(), alg.name().parse::<Algorithm>().unwrap());
        }
        for bad in ["", "none", "HS256", "RS512", "ES384", "Ed25519", "PS256"] {
            let err = bad.parse::<KeyAlgorithm>().unwrap_err().to_string();
            assert!(err.contains("use RS256, ES256 or EdDSA"), "{err}");
        }
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::Rs256);
    }

    #[test]
    fn each_algorithm_generates_a_private_file_that_signs_tokens_its_published_jwk_verifies() {
        for alg in KeyAlgorithm::ALL {
            let dir = tempfile::tempdir().unwrap();
            let keys_dir = dir.path().join("keys");
            let path = generate(&keys_dir, alg, 1_000).unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(dir_mode, 0o700);
            let text = fs::read_to_string(&path).unwrap();
            assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{alg}");

            let set = KeySet::load(&keys_dir).unwrap();
            let key = set.signer().unwrap();
            assert_eq!(key.created_at, 1_000);
            assert_eq!(key.algorithm, alg);
            let token = key.sign(&claims()).unwrap();

            let header = decode_header(&token).unwrap();
            assert_eq!(header.alg, alg.jose());
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            let signature = B64.decode(token.rsplit('.').next().unwrap()).unwrap();
            let expected_len = match alg {
                KeyAlgorithm::Rs256 => 256,
                // ES256: r || s, 32 bytes each (RFC 7518 §3.4); EdDSA: 64 bytes (RFC 8032).
                KeyAlgorithm::Es256 | KeyAlgorithm::EdDsa => 64,
            };
            assert_eq!(signature.len(), expected_len, "{alg}");

            // jsonwebtoken, with nothing but the published JWK, accepts what we signed by hand.
            let (dk, jwk_alg) = from_published_jwk(key);
            assert_eq!(jwk_alg, alg.jose());
            let mut v = Validation::new(jwk_alg);
            v.set_audience(&["a"]);
            let data = decode::<serde_json::Value>(&token, &dk, &v).unwrap();
            assert_eq!(data.claims["sub"], "x");
            // And its own thumbprint of that JWK is our kid.
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(serde_json::to_value(&key.jwk).unwrap()).unwrap();
            assert_eq!(
                jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                    .unwrap(),
                key.kid,
                "{alg}"
            );
            // A changed payload does not verify.
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[1] = B64.encode(br#"{"sub":"y","aud":"a","exp":4000000000}"#);
            assert!(decode::<serde_json::Value>(&parts.join("."), &dk, &v).is_err());
        }
    }

    #[test]
    fn jwks_entries_carry_the_members_of_their_key_type() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), KeyAlgorithm::Rs256, 1_000).unwrap();
        generate(dir.path(), KeyAlgorithm::Es256, 2_000).unwrap();
        generate(dir.path(), KeyAlgorithm::EdDsa, 3_000).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let jwks = serde_json::to_value(set.jwks(3_000, 10_000, 10)).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        let members = |k: &serde_json::Value| {
            let mut m: Vec<String> = k.as_object().unwrap().keys().cloned().collect();
            m.sort();
            m.join(",")
        };
        // Newest first.
        assert_eq!(keys[0]["kty"], "OKP");
        assert_eq!(keys[0]["crv"], "Ed25519");
        assert_eq!(keys[0]["alg"], "EdDSA");
        assert_eq!(members(&keys[0]), "alg,crv,kid,kty,use,x");
        assert_eq!(keys[1]["kty"], "EC");
        assert_eq!(keys[1]["crv"], "P-256");
        assert_eq!(keys[1]["alg"], "ES256");
        assert_eq!(members(&keys[1]), "alg,crv,kid,kty,use,x,y");
        assert_eq!(keys[2]["kty"], "RSA");
        assert_eq!(keys[2]["alg"], "RS256");
        assert_eq!(members(&keys[2]), "alg,e,kid,kty,n,use");
        for k in keys {
            assert_eq!(k["use"], "sig");
        }
        for (jwk, coordinate_len) in [(&keys[0], 32), (&keys[1], 32)] {
            let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
            assert_eq!(x.len(), coordinate_len);
        }
        assert_eq!(
            B64.decode(keys[1]["y"].as_str().unwrap()).unwrap().len(),
            32
        );
        assert_eq!(
            set.published_algorithms(3_000, 10_000, 10),
            KeyAlgorithm::ALL.to_vec()
        );
        // Once the RSA and EC keys are retired, only EdDSA is left to advertise.
        assert_eq!(
            set.published_algorithms(13_100, 10_000, 10),
            vec![KeyAlgorithm::EdDsa]
        );
    }

    #[test]
    fn a_mixed_directory_verifies_tokens_of_every_key_with_its_own_algorithm_only() {
        let dir = tempfile::tempdir().unwrap();
        let rsa_path = generate(dir.path(), KeyAlgorithm::Rs256, 1_000).unwrap();
        let ec_path = generate(dir.path(), KeyAlgorithm::Es256, 1_001).unwrap();
        generate(dir.path(), KeyAlgorithm::EdDsa, 1_002).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signer().unwrap().algorithm, KeyAlgorithm::EdDsa);
        let audiences = ["a".to_owned()];
        let verify = |token: &str| {
            set.verify::<serde_json::Value>(
                token,
                "https://issuer.test",
                &audiences,
                1_100,
                1_000,
                10,
            )
        };
        let by_alg = |alg: KeyAlgorithm| set.keys.iter().find(|k| k.algorithm == alg).unwrap();
        for alg in KeyAlgorithm::ALL {
            let token = by_alg(alg).sign(&claims()).unwrap();
            assert_eq!(verify(&token).unwrap()["sub"], "x", "{alg}");
        }

        // Algorithm confusion: a header naming one key with another key's algorithm, signed
        // correctly for what the header says, by a key that really has that algorithm.
        let rsa_pem = fs::read(&rsa_path).unwrap();
        let ec_pem = fs::read(&ec_path).unwrap();
        let rsa_signer = EncodingKey::from_rsa_pem(&rsa_pem).unwrap();
        let ec_signer = EncodingKey::from_ec_pem(&ec_pem).unwrap();
        let forge = |alg: Algorithm, kid: &str, key: &EncodingKey| {
            let mut header = jsonwebtoken::Header::new(alg);
            header.typ = Some("at+jwt".into());
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(&header, &claims(), key).unwrap()
        };
        let rsa_kid = by_alg(KeyAlgorithm::Rs256).kid.clone();
        let ec_kid = by_alg(KeyAlgorithm::Es256).kid.clone();
        let ed_kid = by_alg(KeyAlgorithm::EdDsa).kid.clone();
        // Control: the forger's tokens verify when the header tells the truth.
        assert!(verify(&forge(Algorithm::RS256, &rsa_kid, &rsa_signer)).is_some());
        assert!(verify(&forge(Algorithm::ES256, &ec_kid, &ec_signer)).is_some());
        for (alg, kid, key) in [
            (Algorithm::RS256, &ec_kid, &rsa_signer), // an RS256 token naming the EC key
            (Algorithm::RS256, &ed_kid, &rsa_signer),
            (Algorithm::ES256, &rsa_kid, &ec_signer), // an ES256 token naming the RSA key
            (Algorithm::ES256, &ed_kid, &ec_signer),
            (Algorithm::PS256, &rsa_kid, &rsa_signer), // right key type, wrong algorithm
        ] {
            assert!(verify(&forge(alg, kid, key)).is_none(), "{alg:?} {kid}");
        }
        // An EdDSA header on a real ES256 token (signature untouched).
        let es256 = by_alg(KeyAlgorithm::Es256).sign(&claims()).unwrap();
        let (_, rest) = es256.split_once('.').unwrap();
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ec_kid});
        let relabelled = format!("{}.{rest}", B64.encode(header.to_string()));
        assert!(verify(&relabelled).is_none());
        // HMAC with the published key as the secret, and `none`.
        let secret = EncodingKey::from_secret(
            serde_json::to_string(&by_alg(KeyAlgorithm::Es256).jwk)
                .unwrap()
                .as_bytes(),
        );
        assert!(verify(&forge(Algorithm::HS256, &ec_kid, &secret)).is_none());
        let none = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": ed_kid});
        let (payload, _) = rest.split_once('.').unwrap();
        assert!(verify(&format!("{}.{payload}.", B64.encode(none.to_string()))).is_none());
    }

    #[test]
    fn openssl_style_ec_keys_load_and_other_curves_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        // `openssl ecparam -genkey` writes SEC 1 (`EC PRIVATE KEY`).
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let sec1 = p256.private_key().as_der().unwrap();
        pem_file(dir.path(), "tessera-1.pem", "EC PRIVATE KEY", sec1.as_ref());
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signer().unwrap().algorithm, KeyAlgorithm::Es256);

        let p384 = EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let path = pem_file(dir.path(), "p384.pem", "PRIVATE KEY", p384.as_ref());
        let err = KeySet::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("p384.pem") && err.contains("P-256"), "{err}");
        fs::remove_file(path).unwrap();

        // A well-formed PKCS#8 of a type we do not sign with (X25519, RFC 8410).
        let mut x25519 = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22,
            0x04, 0x20,
        ];
        x25519.extend([7u8; 32]);
        pem_file(dir.path(), "x25519.pem", "PRIVATE KEY", &x25519);
        let err = KeySet::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("x25519.pem") && err.contains("RSA, EC (P-256) or Ed25519"),
            "{err}"
        );
    }

    #[test]
    fn truncated_or_garbled_der_is_an_error_not_a_panic() {
        let good = new_private_key(KeyAlgorithm::Es256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for cut in 0..good.len() {
            pem_file(dir.path(), "cut.pem", "PRIVATE KEY", &good[..cut]);
            assert!(KeySet::load(dir.path()).is_err(), "cut at {cut}");
        }
        // Long-form lengths that claim more than is there.
        for der in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x80],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
        ] {
            assert_eq!(pkcs8_algorithm(der), None);
        }
    }

    #[test]
    fn the_newest_key_signs_and_old_keys_stay_published_for_a_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), KeyAlgorithm::Rs256, 1_000).unwrap();
        generate(dir.path(), KeyAlgorithm::Es256, 2_000).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signer().unwrap().created_at, 2_000);
        assert_eq!(set.signer().unwrap().algorithm, KeyAlgorithm::Es256);
        let states = |now| {
            set.states(now, 100, 10)
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
        };
        assert_eq!(states(2_050), vec![KeyState::Published, KeyState::Signing]);
        assert_eq!(states(2_110), vec![KeyState::Retired, KeyState::Signing]);
        assert_eq!(set.jwks(2_050, 100, 10).keys.len(), 2);
        let jwks = serde_json::to_value(set.jwks(2_110, 100, 10)).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["kid"], set.signer().unwrap().kid.as_str());
        assert_eq!(jwks["keys"][0]["use"], "sig");
    }

    #[test]
    fn two_keys_in_one_second_get_ordered_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = generate(dir.path(), KeyAlgorithm::EdDsa, 5).unwrap();
        let b = generate(dir.path(), KeyAlgorithm::EdDsa, 5).unwrap();
        assert_ne!(a, b);
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signer().unwrap().path, b);
    }

    #[test]
    fn a_broken_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("broken.pem"), "not a key").unwrap();
        let err = KeySet::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("broken.pem"), "{err}");
    }

    #[test]
    fn the_store_generates_a_first_key_of_the_configured_algorithm_and_picks_up_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), KeyAlgorithm::Es256, 10).unwrap();
        let first = store.current().signer().unwrap().kid.clone();
        assert_eq!(
            store.current().signer().unwrap().algorithm,
            KeyAlgorithm::Es256
        );
        assert!(!store.reload().unwrap());
        // Opening again with another algorithm keeps the key that is there.
        let again = KeyStore::open(dir.path(), KeyAlgorithm::EdDsa, 15).unwrap();
        assert_eq!(again.current().len(), 1);
        generate(dir.path(), KeyAlgorithm::EdDsa, 20).unwrap();
        assert!(store.reload().unwrap());
        assert_ne!(store.current().signer().unwrap().kid, first);
        assert_eq!(
            store.current().signer().unwrap().algorithm,
            KeyAlgorithm::EdDsa
        );
        assert_eq!(store.current().len(), 2);
    }
}
