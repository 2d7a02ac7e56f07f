//! Cache of tokens that passed signature and claim checks, so a token presented again skips
//! the signature verification.
//!
//! Keyed by the SHA-256 of the whole token string: a cache hit means byte-for-byte the same
//! token that was verified before, and the cache never holds the token itself. What is *not*
//! cached is the decision: expiry and revocation are checked on every hit, and an entry made
//! under an older key-set generation (a key since withdrawn) is ignored.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::digest;

use crate::claims::Claims;

pub(crate) type TokenHash = [u8; 32];

pub(crate) fn hash_token(token: &str) -> TokenHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

struct Entry {
    claims: Arc<Claims>,
    key_generation: u64,
}

pub(crate) struct TokenCache {
    capacity: usize,
    entries: RwLock<HashMap<TokenHash, Entry>>,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The cached claims, if the token was verified under the current key generation.
    pub(crate) fn get(&self, hash: &TokenHash, key_generation: u64) -> Option<Arc<Claims>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(hash)
            .filter(|entry| entry.key_generation == key_generation)
            .map(|entry| entry.claims.clone())
    }

    pub(crate) fn insert(
        &self,
        hash: TokenHash,
        claims: Arc<Claims>,
        key_generation: u64,
        now: i64,
    ) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&hash) {
            // Full: drop what has expired (or belongs to an old key generation) first; if that
            // frees nothing, drop an arbitrary tenth. Only tokens with a valid signature get
            // here, so filling the cache requires real tokens; evicting costs a re-verify.
            entries.retain(|_, e| e.claims.exp > now && e.key_generation == key_generation);
            if entries.len() >= self.capacity {
                let drop_count = (self.capacity / 10).max(1);
                let victims: Vec<TokenHash> = entries.keys().take(drop_count).copied().collect();
                for victim in victims {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            hash,
            Entry {
                claims,
                key_generation,
            },
        );
    }

    pub(crate) fn remove(&self, hash: &TokenHash) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(hash);
    }

    pub(crate) fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
