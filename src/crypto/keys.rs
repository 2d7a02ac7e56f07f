//! Signing keys: RSA private keys in PEM files, the JWKS built from them, and RS256 signing.
//!
//! Files are named `tessera-<unix seconds>.pem`; that time orders them (a copy or `touch` does not
//! change it). The newest key signs. An older key stays published in the JWKS until every token it
//! can have signed has expired: the token lifetime plus a leeway after the next key replaced it.
//!
//! Keys are parsed once when the directory is (re)loaded; signing then costs one RSA operation
//! (jsonwebtoken's `encode` would parse the PEM on every call).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;

/// Smallest modulus accepted, in bytes (RSA-2048).
const MIN_MODULUS_BYTES: usize = 256;
const FILE_PREFIX: &str = "tessera-";

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
    /// A file is not an acceptable RSA private key.
    #[error("{path}: {problem}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Key generation failed.
    #[error("RSA key generation failed")]
    Generate,
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
    /// Always `RSA`.
    pub kty: &'static str,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// Always `RS256`.
    pub alg: &'static str,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
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
    /// The public half.
    pub jwk: Jwk,
    key_pair: RsaKeyPair,
    /// base64url of the JOSE header, computed once.
    header_b64: String,
    /// The public key, parsed once, for introspection.
    decoding_key: jsonwebtoken::DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_pem(path: &Path, pem_text: &str, created_at: i64) -> Result<Self, KeyError> {
        let invalid = |problem: &str| KeyError::Invalid {
            path: path.to_owned(),
            problem: problem.to_owned(),
        };
        let block = pem::parse(pem_text).map_err(|_| invalid("not a PEM file"))?;
        let key_pair = match block.tag() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            _ => return Err(invalid("expected a PKCS#8 RSA private key")),
        }
        .map_err(|_| invalid("not a usable RSA private key"))?;
        if key_pair.public_modulus_len() < MIN_MODULUS_BYTES {
            return Err(invalid("RSA keys must be at least 2048 bits"));
        }
        let components = PublicKeyComponents::<Vec<u8>>::from(key_pair.public_key());
        let n = B64.encode(&components.n);
        let e = B64.encode(&components.e);
        let kid = thumbprint(&n, &e);
        let header = serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
        let decoding_key = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e)
            .map_err(|_| invalid("unusable public key"))?;
        Ok(Self {
            decoding_key,
            jwk: Jwk {
                kty: "RSA",
                kid: kid.clone(),
                use_: "sig",
                alg: "RS256",
                n,
                e,
            },
            header_b64: B64.encode(header.to_string()),
            kid,
            created_at,
            path: path.to_owned(),
            key_pair,
        })
    }

    /// A compact JWS (RS256, `typ: at+jwt`) over the JSON of `claims`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 350);
        token.push_str(&self.header_b64);
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let mut signature = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError::Sign)?;
        token.push('.');
        B64.encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
pub fn thumbprint(n_b64: &str, e_b64: &str) -> String {
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    B64.encode(digest.as_ref())
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

    /// Verifies one of our access tokens: RS256 signature by a published key, `typ` `at+jwt`,
    /// issuer, one of `audiences`, `exp` and `nbf` at `now` with no leeway. `None` for anything
    /// else, including garbage and tokens larger than 8 KiB.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audiences: &[String],
        now: i64,
        lifetime: i64,
        leeway: i64,
    ) -> Option<T> {
        use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
        const MAX_TOKEN_BYTES: usize = 8 * 1024;
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        let kid = header.kid?;
        let key = self
            .states(now, lifetime, leeway)
            .into_iter()
            .find(|(k, state)| k.kid == kid && *state != KeyState::Retired)
            .map(|(k, _)| k)?;
        let mut validation = Validation::new(Algorithm::RS256);
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

/// Writes a new RSA-2048 key to `dir` as `tessera-<now>.pem` (mode 0600), creating `dir` (0700)
/// if needed. The file is written under a temporary name and renamed, so a server reloading the
/// directory never reads half a key. Returns the new key's path.
pub fn generate(dir: &Path, now: i64) -> Result<PathBuf, KeyError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Io { path, source }
    };
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    let key_pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let der = key_pair.as_der().map_err(|_| KeyError::Generate)?;
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
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
    /// Loads `dir`, generating a first key if it holds none.
    pub fn open(dir: &Path, now: i64) -> Result<Self, KeyError> {
        let mut set = KeySet::load(dir)?;
        if set.is_empty() {
            generate(dir, now)?;
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
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

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
    fn generated_keys_are_private_files_and_sign_verifiable_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let path = generate(&keys_dir, 1_000).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        let set = KeySet::load(&keys_dir).unwrap();
        let key = set.signer().unwrap();
        assert_eq!(key.created_at, 1_000);
        let claims = serde_json::json!({"sub": "x", "exp": 4_000_000_000i64, "aud": "a"});
        let token = key.sign(&claims).unwrap();

        // jsonwebtoken, decoding with only the JWKS n/e, must accept what we signed by hand.
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        let dk = DecodingKey::from_rsa_components(&key.jwk.n, &key.jwk.e).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["a"]);
        let data = decode::<serde_json::Value>(&token, &dk, &v).unwrap();
        assert_eq!(data.claims["sub"], "x");
    }

    #[test]
    fn the_newest_key_signs_and_old_keys_stay_published_for_a_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), 1_000).unwrap();
        generate(dir.path(), 2_000).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(set.signer().unwrap().created_at, 2_000);
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
        let a = generate(dir.path(), 5).unwrap();
        let b = generate(dir.path(), 5).unwrap();
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
    fn the_store_generates_a_first_key_and_picks_up_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path(), 10).unwrap();
        let first = store.current().signer().unwrap().kid.clone();
        assert!(!store.reload().unwrap());
        generate(dir.path(), 20).unwrap();
        assert!(store.reload().unwrap());
        assert_ne!(store.current().signer().unwrap().kid, first);
        assert_eq!(store.current().len(), 2);
    }
}
