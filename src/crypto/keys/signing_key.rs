//! [`SigningKey`]: one private key (RSA, EC P-256 or Ed25519), parsed once from its PEM file,
//! with its public JWK; it signs compact JWS tokens with the algorithm its type fixes.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;

use super::der::{pkcs8_algorithm, OID_EC_PUBLIC_KEY, OID_ED25519, OID_RSA_ENCRYPTION};
use super::{Jwk, JwkParams, KeyAlgorithm, KeyError};

/// Smallest modulus accepted, in bytes (RSA-2048).
const MIN_MODULUS_BYTES: usize = 256;

/// The private half, parsed once.
enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
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
    pub(super) decoding_key: jsonwebtoken::DecodingKey,
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
    pub(super) fn from_pem(path: &Path, pem_text: &str, created_at: i64) -> Result<Self, KeyError> {
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

#[cfg(test)]
mod tests {
    use std::fs;

    use aws_lc_rs::encoding::AsDer;

    use super::*;
    use crate::crypto::keys::test_support::{pem_file, RFC8037_D, RFC8037_X};
    use crate::crypto::keys::KeySet;

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
}
