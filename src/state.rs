//! What every request handler shares.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::keys::KeyStore;
use crate::crypto::secret_hash::SecretHasher;
use crate::crypto::verified::VerifiedSecrets;
use crate::service::auth_lookup::AuthLookups;
use crate::service::federation::Federation;
use crate::service::revocation::feed::FeedChanges;
use crate::service::throttle::Throttle;
use crate::service::token_reuse::TokenReuse;
use crate::service::usage::UsageTracker;
use crate::storage::{DbConnection, Pool, StorageError};

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Database pool.
    pub pool: Pool,
    /// The token endpoint's reads of authentication records.
    pub auth_lookups: Arc<AuthLookups>,
    /// Signing keys.
    pub keys: KeyStore,
    /// Secret hashing.
    pub hasher: SecretHasher,
    /// The clock.
    pub clock: Clock,
    /// Coalesced last-used times and monthly token counts.
    pub usage: UsageTracker,
    /// Rate limits of the token endpoint.
    pub throttle: Arc<Throttle>,
    /// Secrets recently verified with argon2.
    pub verified: Arc<VerifiedSecrets>,
    /// Tokens recently issued, for opt-in reuse.
    pub reuse: Arc<TokenReuse>,
    /// Revocation events committed through this process, so its cached feed knows it is stale.
    pub feed_changes: Arc<FeedChanges>,
    /// Verifies the external tokens of `federated` credentials; caches the external issuers'
    /// keys.
    pub federation: Arc<Federation>,
}

impl AppState {
    /// Runs `f` with a pooled connection on the blocking thread pool: diesel and r2d2 block, and
    /// must not stall the async workers.
    pub async fn db<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StorageError::from)?;
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(_) => Err(E::from(StorageError::Other(
                "database task did not complete".to_owned(),
            ))),
        }
    }
}
