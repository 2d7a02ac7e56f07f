//! argon2id hashing of client secrets, run off the async executor on a bounded pool.
//!
//! The pool (a semaphore in front of the blocking threads) is what keeps a flood of wrong
//! secrets from taking every thread and from allocating unbounded argon2 memory.

use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::config::SecretSettings;
use crate::domain::secret::ClientSecret;

/// argon2 parameters from settings, or why they are invalid.
pub fn params(settings: &SecretSettings) -> Result<Params, String> {
    Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
        None,
    )
    .map_err(|e| format!("invalid argon2 parameters: {e}"))
}

/// Hashing failed in a way the caller cannot fix (a worker died); treated as unavailable.
#[derive(Debug, thiserror::Error)]
#[error("secret hashing failed")]
pub struct HashError;

/// Hashes and verifies client secrets.
#[derive(Clone)]
pub struct SecretHasher {
    argon2: Argon2<'static>,
    /// Verified against when the client is unknown, so an unknown client costs what a wrong
    /// secret costs and timing tells an attacker nothing.
    dummy_hash: Arc<str>,
    permits: Arc<Semaphore>,
    /// argon2 verifications run so far: what a flood costs, visible to tests and operators.
    verifications: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher").finish_non_exhaustive()
    }
}

impl SecretHasher {
    /// A hasher with the configured cost and pool size.
    pub fn new(settings: &SecretSettings) -> Result<Self, String> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params(settings)?);
        let workers = if settings.hash_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.hash_workers
        };
        let dummy = ClientSecret::generate();
        let dummy_hash = hash_with(&argon2, &dummy).map_err(|_| "argon2 self-test failed")?;
        Ok(Self {
            argon2,
            dummy_hash: dummy_hash.into(),
            permits: Arc::new(Semaphore::new(workers.max(1))),
            verifications: Arc::default(),
        })
    }

    /// The PHC string of a new secret. Blocking: call from a blocking context.
    pub fn hash(&self, secret: &ClientSecret) -> Result<String, HashError> {
        hash_with(&self.argon2, secret)
    }

    /// Which of `hashes` (at most a few: the current secret and one in its grace period) the
    /// secret matches. With no candidates it verifies against the dummy hash and returns `None`.
    pub async fn verify_any(
        &self,
        secret: ClientSecret,
        hashes: Vec<String>,
    ) -> Result<Option<usize>, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.verify_any_blocking(&secret, &hashes))
            .await
            .map_err(|_| HashError)
    }

    /// The blocking body of [`Self::verify_any`].
    pub fn verify_any_blocking(&self, secret: &ClientSecret, hashes: &[String]) -> Option<usize> {
        if hashes.is_empty() {
            let _ = self.verify_one(secret, &self.dummy_hash);
            return None;
        }
        // Every candidate is checked even after a match, so the time taken does not tell which
        // secret (current or old) matched.
        let mut found = None;
        for (i, hash) in hashes.iter().enumerate() {
            if self.verify_one(secret, hash) && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    /// argon2 verifications this process has run (the dummy ones included).
    pub fn verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn verify_one(&self, secret: &ClientSecret, phc: &str) -> bool {
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The parameters come from the PHC string, so hashes made with an older cost still
        // verify. argon2 compares the outputs in constant time.
        PasswordHash::new(phc).is_ok_and(|parsed| {
            self.argon2
                .verify_password(secret.expose().as_bytes(), &parsed)
                .is_ok()
        })
    }
}

fn hash_with(argon2: &Argon2<'_>, secret: &ClientSecret) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(secret.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| HashError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SecretSettings {
        SecretSettings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            hash_workers: 1,
            verified_cache_size: 0,
        }
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_without_the_plaintext() {
        let h = SecretHasher::new(&settings()).unwrap();
        let s = ClientSecret::generate();
        let phc = h.hash(&s).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(!phc.contains(&s.expose()[4..]));
    }

    #[test]
    fn verify_finds_the_matching_hash_only() {
        let h = SecretHasher::new(&settings()).unwrap();
        let old = ClientSecret::generate();
        let new = ClientSecret::generate();
        let hashes = vec![h.hash(&new).unwrap(), h.hash(&old).unwrap()];
        assert_eq!(h.verify_any_blocking(&new, &hashes), Some(0));
        assert_eq!(h.verify_any_blocking(&old, &hashes), Some(1));
        assert_eq!(
            h.verify_any_blocking(&ClientSecret::generate(), &hashes),
            None
        );
        assert_eq!(h.verify_any_blocking(&new, &[]), None);
        assert_eq!(h.verify_any_blocking(&new, &["garbage".into()]), None);
    }

    #[test]
    fn hashes_made_with_another_cost_still_verify() {
        let weak = SecretHasher::new(&settings()).unwrap();
        let strong = SecretHasher::new(&SecretSettings {
            argon2_memory_kib: 2048,
            argon2_iterations: 2,
            ..settings()
        })
        .unwrap();
        let s = ClientSecret::generate();
        let phc = weak.hash(&s).unwrap();
        assert_eq!(strong.verify_any_blocking(&s, &[phc]), Some(0));
    }
}
