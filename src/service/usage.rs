//! Usage tracking without a database write per token request: last use of each credential and
//! of the secret, public key or trust rule that authenticated it, and the tokens each account was issued
//! this month (for monthly quotas).
//!
//! Successful token requests are recorded in memory and flushed in one transaction every few
//! seconds and at shutdown. A flush only moves `last_used_at` forward, so replicas flushing in any
//! order converge on the latest use; token counts are added in the database, so replicas' counts
//! sum. A flush that fails keeps its entries for the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::service::token::Authenticator;
use crate::storage::account_usage;
use crate::storage::credential_keys::CredentialKey;
use crate::storage::credentials::record_usage;
use crate::storage::trust_rules::StoredTrustRule;
use crate::storage::{write_transaction, Pool, StorageError};

/// (account id, `YYYY-MM`)
type AccountMonth = (String, String);

#[derive(Debug, Default)]
struct Pending {
    credentials: HashMap<String, (DateTime<Utc>, Option<String>)>,
    secrets: HashMap<String, (String, DateTime<Utc>)>,
    keys: HashMap<String, (String, DateTime<Utc>)>,
    rules: HashMap<String, (String, DateTime<Utc>)>,
    tokens: HashMap<AccountMonth, i64>,
}

/// What is waiting, plus the token counts a running flush has taken but not yet committed: the
/// quota check must see those too, or a flush would briefly lower every account's count.
#[derive(Debug, Default)]
struct State {
    pending: Pending,
    tokens_in_flight: HashMap<AccountMonth, i64>,
}

fn add_tokens(map: &mut HashMap<AccountMonth, i64>, key: AccountMonth, n: i64) {
    use std::collections::hash_map::Entry;
    match map.entry(key) {
        Entry::Occupied(mut slot) => {
            *slot.get_mut() += n;
            if *slot.get() == 0 {
                slot.remove();
            }
        }
        Entry::Vacant(slot) if n != 0 => {
            slot.insert(n);
        }
        Entry::Vacant(_) => {}
    }
}

impl Pending {
    fn merge_credential(&mut self, id: String, at: DateTime<Utc>, ip: Option<String>) {
        let slot = self.credentials.entry(id).or_insert((at, ip.clone()));
        if at >= slot.0 {
            *slot = (at, ip);
        }
    }

    fn merge_secret(&mut self, id: String, credential_id: String, at: DateTime<Utc>) {
        merge_latest(&mut self.secrets, id, credential_id, at);
    }

    fn merge_key(&mut self, id: String, credential_id: String, at: DateTime<Utc>) {
        merge_latest(&mut self.keys, id, credential_id, at);
    }

    fn merge_rule(&mut self, id: String, credential_id: String, at: DateTime<Utc>) {
        merge_latest(&mut self.rules, id, credential_id, at);
    }

    fn is_empty(&self) -> bool {
        self.credentials.is_empty()
            && self.secrets.is_empty()
            && self.keys.is_empty()
            && self.rules.is_empty()
            && self.tokens.is_empty()
    }
}

/// Keeps the later of two uses of one secret, key or rule.
fn merge_latest(
    map: &mut HashMap<String, (String, DateTime<Utc>)>,
    id: String,
    credential_id: String,
    at: DateTime<Utc>,
) {
    let slot = map.entry(id).or_insert((credential_id, at));
    if at > slot.1 {
        slot.1 = at;
    }
}

/// Coalesces usage updates; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct UsageTracker {
    state: Arc<Mutex<State>>,
}

impl UsageTracker {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock must not stop token issuance.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a successful use of `credential_id`, authenticated by `by` (one of its secrets,
    /// keys or trust rules), at `at` from `ip`.
    pub fn record(
        &self,
        credential_id: &str,
        by: &Authenticator,
        at: DateTime<Utc>,
        ip: Option<&str>,
    ) {
        let pending = &mut self.lock().pending;
        pending.merge_credential(credential_id.to_owned(), at, ip.map(str::to_owned));
        match by {
            Authenticator::Secret(id) => {
                pending.merge_secret(id.clone(), credential_id.to_owned(), at);
            }
            Authenticator::Key(id) => pending.merge_key(id.clone(), credential_id.to_owned(), at),
            Authenticator::Rule(id) => {
                pending.merge_rule(id.clone(), credential_id.to_owned(), at);
            }
        }
    }

    /// Counts one token issued to `account_id` in `month` (`YYYY-MM`).
    pub fn record_token(&self, account_id: &str, month: &str) {
        let key = (account_id.to_owned(), month.to_owned());
        add_tokens(&mut self.lock().pending.tokens, key, 1);
    }

    /// Tokens of `account_id` in `month` counted here and not yet in the database.
    pub fn unflushed_tokens(&self, account_id: &str, month: &str) -> u64 {
        let state = self.lock();
        let key = (account_id.to_owned(), month.to_owned());
        let n = state.pending.tokens.get(&key).copied().unwrap_or(0)
            + state.tokens_in_flight.get(&key).copied().unwrap_or(0);
        u64::try_from(n).unwrap_or(0)
    }

    /// Number of credentials waiting to be flushed.
    pub fn pending(&self) -> usize {
        self.lock().pending.credentials.len()
    }

    /// Writes everything pending. Blocking: call from a blocking context.
    pub fn flush(&self, pool: &Pool) -> Result<usize, StorageError> {
        let batch = {
            let mut state = self.lock();
            let batch = std::mem::take(&mut state.pending);
            for (key, n) in &batch.tokens {
                add_tokens(&mut state.tokens_in_flight, key.clone(), *n);
            }
            batch
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let written = pool.get().map_err(StorageError::from).and_then(|mut conn| {
            write_transaction(&mut conn, |conn| {
                for (id, (at, ip)) in &batch.credentials {
                    record_usage::credential(conn, id, *at, ip.as_deref())?;
                }
                for (id, (_, at)) in &batch.secrets {
                    record_usage::secret(conn, id, *at)?;
                }
                for (id, (_, at)) in &batch.keys {
                    CredentialKey::record_usage(conn, id, *at)?;
                }
                for (id, (_, at)) in &batch.rules {
                    StoredTrustRule::record_usage(conn, id, *at)?;
                }
                for ((account_id, month), n) in &batch.tokens {
                    account_usage::add_tokens(conn, account_id, month, *n)?;
                }
                Ok::<_, StorageError>(batch.credentials.len())
            })
        });
        let mut state = self.lock();
        for (key, n) in &batch.tokens {
            add_tokens(&mut state.tokens_in_flight, key.clone(), -n);
        }
        if written.is_err() {
            let pending = &mut state.pending;
            for (id, (at, ip)) in batch.credentials {
                pending.merge_credential(id, at, ip);
            }
            for (id, (credential_id, at)) in batch.secrets {
                pending.merge_secret(id, credential_id, at);
            }
            for (id, (credential_id, at)) in batch.keys {
                pending.merge_key(id, credential_id, at);
            }
            for (id, (credential_id, at)) in batch.rules {
                pending.merge_rule(id, credential_id, at);
            }
            for (key, n) in batch.tokens {
                add_tokens(&mut pending.tokens, key, n);
            }
        }
        written
    }
}
