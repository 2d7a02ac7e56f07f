//! argon2id hashing of client secrets, run off the async executor on a bounded pool.
//!
//! The pool (a semaphore in front of the blocking threads) is what keeps a flood of wrong
//! secrets from taking every thread and from allocating unbounded argon2 memory. The argon2
//! working memory (m KiB per computation) is allocated once per concurrent computation and
//! reused: allocated afresh each time, glibc kept the freed multi-MiB blocks in its per-thread
//! arenas, and 1000 first verifications left the process at about 470 MiB (measured; 34 MiB
//! with the blocks reused).

use std::sync::{Arc, Mutex};

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
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

/// argon2 working memory kept for reuse: at most one buffer per concurrent computation.
#[derive(Debug)]
struct Memory {
    free: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

impl Memory {
    /// Runs `f` with `blocks` blocks of working memory, reusing a kept buffer of that size.
    fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let kept = self.lock().pop();
        let mut buffer = match kept {
            Some(b) if b.len() == blocks => b,
            // A hash made with another cost: a buffer of its own size, kept in place of the other.
            _ => vec![Block::default(); blocks],
        };
        let result = f(&mut buffer);
        let mut free = self.lock();
        if free.len() < self.keep {
            free.push(buffer);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hashes and verifies client secrets.
#[derive(Clone)]
pub struct SecretHasher {
    params: Params,
    memory: Arc<Memory>,
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
        let workers = if settings.hash_workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.hash_workers
        }
        .max(1);
        let mut hasher = Self {
            params: params(settings)?,
            // Verifications hold a permit; creations and rotations (admin calls) add a few.
            memory: Arc::new(Memory {
                free: Mutex::default(),
                keep: workers + 2,
            }),
            dummy_hash: "".into(),
            permits: Arc::new(Semaphore::new(workers)),
            verifications: Arc::default(),
        };
        let dummy = ClientSecret::generate();
        let dummy_hash = hasher.hash(&dummy).map_err(|_| "argon2 self-test failed")?;
        hasher.dummy_hash = dummy_hash.into();
        Ok(hasher)
    }

    /// The PHC string of a new secret, with the configured cost. Blocking: call from a
    /// blocking context.
    pub fn hash(&self, secret: &ClientSecret) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|_| HashError)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.memory
            .with(self.params.block_count(), |blocks| {
                argon2.hash_password_into_with_memory(
                    secret.expose().as_bytes(),
                    salt_raw,
                    &mut out,
                    blocks,
                )
            })
            .map_err(|_| HashError)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|_| HashError)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|_| HashError)?),
        };
        Ok(phc.to_string())
    }

    /// Which of `hashes` (at most a few: the current secret and one in its grace period) the
    /// secret matches. With no candidates it verifies against the dummy hash and returns `None`.
    pub async fn verify_any(
        &self,
        secret: ClientSecret,
        hashes: Vec<String>,
    ) -> Result<Option<usize>, HashError> {
        // Counted from now until the computation ends, or until this future is dropped.
        let queued = crate::telemetry::HashQueued::enter();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let matched = this.verify_any_blocking(&secret, &hashes);
            // Released here, not when the waiting task is next polled: its worker may be busy
            // signing for a while, and the next verification should not wait for it.
            drop(permit);
            drop(queued);
            matched
        })
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
        PasswordHash::new(phc).is_ok_and(|parsed| self.matches(secret, &parsed) == Some(true))
    }

    /// Recomputes `parsed` for `secret` and compares in constant time; `None` for a PHC string
    /// that is not an argon2 hash. The parameters come from the PHC string, so hashes made with
    /// an older cost still verify.
    fn matches(&self, secret: &ClientSecret, parsed: &PasswordHash<'_>) -> Option<bool> {
        let expected = parsed.hash?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(parsed).ok()?;
        let mut salt_bytes = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
        let mut out = [0u8; 64];
        let out = out.get_mut(..expected.len())?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        self.memory
            .with(params.block_count(), |blocks| {
                argon2.hash_password_into_with_memory(secret.expose().as_bytes(), salt, out, blocks)
            })
            .ok()?;
        Some(out.ct_eq(expected.as_bytes()).into())
    }
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
    fn hashes_interoperate_with_the_argon2_crates_own_phc_functions() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let h = SecretHasher::new(&settings()).unwrap();
        let s = ClientSecret::generate();
        // A hash stored by an earlier version (argon2's own hash_password) verifies here…
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, h.params.clone());
        let theirs = argon2
            .hash_password(s.expose().as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert_eq!(h.verify_any_blocking(&s, &[theirs]), Some(0));
        // …and one made here verifies with argon2's own verify_password.
        let ours = h.hash(&s).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2
            .verify_password(s.expose().as_bytes(), &parsed)
            .is_ok());
        assert!(argon2
            .verify_password(ClientSecret::generate().expose().as_bytes(), &parsed)
            .is_err());
    }

    #[test]
    fn working_memory_is_reused_and_bounded() {
        let h = SecretHasher::new(&settings()).unwrap();
        let s = ClientSecret::generate();
        let phc = h.hash(&s).unwrap();
        for _ in 0..20 {
            assert_eq!(
                h.verify_any_blocking(&s, std::slice::from_ref(&phc)),
                Some(0)
            );
        }
        let kept = h.memory.lock();
        assert_eq!(kept.len(), 1, "one computation at a time needs one buffer");
        assert_eq!(kept[0].len(), h.params.block_count());
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
