//! Last-used tracking without a database write per token request.
//!
//! Successful token requests are recorded in memory and flushed in one transaction every few
//! seconds and at shutdown. A flush only moves `last_used_at` forward, so replicas flushing in any
//! order converge on the latest use. A flush that fails keeps its entries for the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::storage::credentials::record_usage;
use crate::storage::{to_db_time, write_transaction, Pool, StorageError};

#[derive(Debug, Default)]
struct Pending {
    credentials: HashMap<String, (DateTime<Utc>, Option<String>)>,
    secrets: HashMap<String, (String, DateTime<Utc>)>,
}

impl Pending {
    fn merge_credential(&mut self, id: String, at: DateTime<Utc>, ip: Option<String>) {
        let slot = self.credentials.entry(id).or_insert((at, ip.clone()));
        if at >= slot.0 {
            *slot = (at, ip);
        }
    }

    fn merge_secret(&mut self, id: String, credential_id: String, at: DateTime<Utc>) {
        let slot = self.secrets.entry(id).or_insert((credential_id, at));
        if at > slot.1 {
            slot.1 = at;
        }
    }
}

/// Coalesces last-used updates; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct UsageTracker {
    pending: Arc<Mutex<Pending>>,
}

impl UsageTracker {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic elsewhere while holding the lock must not stop token issuance.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a successful use of `secret_id` of `credential_id` at `at` from `ip`.
    pub fn record(
        &self,
        credential_id: &str,
        secret_id: &str,
        at: DateTime<Utc>,
        ip: Option<&str>,
    ) {
        let mut pending = self.lock();
        pending.merge_credential(credential_id.to_owned(), at, ip.map(str::to_owned));
        pending.merge_secret(secret_id.to_owned(), credential_id.to_owned(), at);
    }

    /// Number of credentials waiting to be flushed.
    pub fn pending(&self) -> usize {
        self.lock().credentials.len()
    }

    /// Writes everything pending. Blocking: call from a blocking context.
    pub fn flush(&self, pool: &Pool) -> Result<usize, StorageError> {
        let batch = std::mem::take(&mut *self.lock());
        if batch.credentials.is_empty() && batch.secrets.is_empty() {
            return Ok(0);
        }
        let written = pool.get().map_err(StorageError::from).and_then(|mut conn| {
            write_transaction(&mut conn, |conn| {
                for (id, (at, ip)) in &batch.credentials {
                    record_usage::credential(conn, id, to_db_time(*at), ip.as_deref())?;
                }
                for (id, (_, at)) in &batch.secrets {
                    record_usage::secret(conn, id, to_db_time(*at))?;
                }
                Ok::<_, StorageError>(batch.credentials.len())
            })
        });
        if written.is_err() {
            let mut pending = self.lock();
            for (id, (at, ip)) in batch.credentials {
                pending.merge_credential(id, at, ip);
            }
            for (id, (credential_id, at)) in batch.secrets {
                pending.merge_secret(id, credential_id, at);
            }
        }
        written
    }
}
