//! Key files: `tessera-<unix seconds>.pem`, PKCS#8, mode 0600 in a 0700 directory; what a
//! file's name says about its age, and the generation of new keys.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::{KeyAlgorithm, KeyError};

const FILE_PREFIX: &str = "tessera-";

pub(super) fn created_at(path: &Path) -> Result<i64, KeyError> {
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
pub(super) fn new_private_key(algorithm: KeyAlgorithm) -> Result<Vec<u8>, KeyError> {
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

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use jsonwebtoken::{decode, decode_header, Validation};

    use super::*;
    use crate::crypto::keys::test_support::{claims, from_published_jwk};
    use crate::crypto::keys::KeySet;

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
    fn two_keys_in_one_second_get_ordered_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = generate(dir.path(), KeyAlgorithm::EdDsa, 5).unwrap();
        let b = generate(dir.path(), KeyAlgorithm::EdDsa, 5).unwrap();
        assert_ne!(a, b);
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signer().unwrap().path, b);
    }
}
