//! [`KeyStore`]: the keys a running server holds, swapped whole when the directory is reloaded
//! (on SIGHUP or the periodic check) so a rotation needs no restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::files::generate;
use super::{KeyAlgorithm, KeyError, KeySet};

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
