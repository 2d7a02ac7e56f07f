//! [`KeySet`]: every key of the directory with its place in the rotation ([`KeyState`]): which
//! key signs, which are still published in the JWKS, which are retired; and the verification of
//! our own tokens against the published keys.

use std::fs;
use std::path::Path;

use super::files::created_at;
use super::{JwkSet, KeyAlgorithm, KeyError, SigningKey};

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

    pub(super) fn fingerprint(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey};

    use super::*;
    use crate::crypto::keys::generate;
    use crate::crypto::keys::test_support::claims;

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
    fn a_broken_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("broken.pem"), "not a key").unwrap();
        let err = KeySet::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("broken.pem"), "{err}");
    }
}
