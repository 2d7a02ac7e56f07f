//! Remembers secrets that passed argon2, so a client's next request skips it.
//!
//! Keyed by the secret's row id, each entry holds the stored hash it was checked against and a
//! keyed HMAC of the presented plaintext. A later request skips argon2 only if its row still
//! carries that very hash (the row is read on every request, so a rotation or deactivation by any
//! replica is honoured at once) and its presented secret has the same HMAC. The HMAC key is random
//! per process and never leaves memory; the plaintext is never stored; a wrong secret never
//! enters the map.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::domain::secret::ClientSecret;

struct Entry {
    secret_hash: String,
    mac: [u8; 32],
}

/// A bounded map of recently verified secrets.
pub struct VerifiedSecrets {
    key: hmac::Key,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for VerifiedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSecrets")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl VerifiedSecrets {
    /// An empty map holding at most `capacity` secrets (0 disables it).
    pub fn new(capacity: usize) -> Result<Self, String> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| "the OS random generator failed".to_owned())?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            capacity,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self, secret: &ClientSecret) -> [u8; 32] {
        let tag = hmac::sign(&self.key, secret.expose().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Which of `candidates` (secret id, stored hash) `secret` is known to match, if any.
    pub fn lookup(&self, candidates: &[(&str, &str)], secret: &ClientSecret) -> Option<usize> {
        if self.capacity == 0 {
            return None;
        }
        let mac = self.mac(secret);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        candidates.iter().position(|(id, hash)| {
            entries
                .get(*id)
                .is_some_and(|e| e.secret_hash == *hash && bool::from(e.mac.ct_eq(&mac)))
        })
    }

    /// Records that `secret` matched the secret `id` whose stored hash is `hash`.
    pub fn remember(&self, id: &str, hash: &str, secret: &ClientSecret) {
        if self.capacity == 0 {
            return;
        }
        let mac = self.mac(secret);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            // Evict an arbitrary entry: its owner pays one argon2 run on its next request.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(
            id.to_owned(),
            Entry {
                secret_hash: hash.to_owned(),
                mac,
            },
        );
    }

    /// Number of secrets remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_secret_matches_only_the_same_hash_and_plaintext() {
        let cache = VerifiedSecrets::new(10).unwrap();
        let secret = ClientSecret::generate();
        cache.remember("s1", "$argon2id$h1", &secret);
        assert_eq!(cache.lookup(&[("s1", "$argon2id$h1")], &secret), Some(0));
        assert_eq!(
            cache.lookup(&[("s0", "x"), ("s1", "$argon2id$h1")], &secret),
            Some(1)
        );
        // The row now carries another hash (rotated): no match.
        assert_eq!(cache.lookup(&[("s1", "$argon2id$h2")], &secret), None);
        // Another plaintext: no match.
        assert_eq!(
            cache.lookup(&[("s1", "$argon2id$h1")], &ClientSecret::generate()),
            None
        );
    }

    #[test]
    fn the_map_stays_bounded() {
        let cache = VerifiedSecrets::new(3).unwrap();
        let secret = ClientSecret::generate();
        for i in 0..10 {
            cache.remember(&format!("s{i}"), "h", &secret);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.lookup(&[("s9", "h")], &secret), Some(0));
    }

    #[test]
    fn capacity_zero_disables_it() {
        let cache = VerifiedSecrets::new(0).unwrap();
        let secret = ClientSecret::generate();
        cache.remember("s", "h", &secret);
        assert_eq!(cache.lookup(&[("s", "h")], &secret), None);
        assert!(cache.is_empty());
    }
}
