//! What the revocation feed lists: read from the database, and aged — an entry is left out once
//! no validator could accept a token it revokes. How it is served (cached, tagged, as deltas)
//! is the HTTP layer's business.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::domain::oauth_error::OAuthError;
use crate::domain::revocation::{entry_expires_at, revoked_before_seconds, token_entry_expires_at};
use crate::state::AppState;
use crate::storage::revocations::{self, EntryRow, FeedRows};

/// One entry of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A credential's tokens issued before `revoked_before` (Unix seconds) are revoked.
    Credential {
        /// Its `client_id`.
        client_id: String,
        /// The boundary.
        revoked_before: i64,
    },
    /// A suspended account's tokens issued before `revoked_before` are revoked.
    Account {
        /// Its id.
        account_id: String,
        /// The boundary.
        revoked_before: i64,
    },
    /// A suspended workspace's tokens issued before `revoked_before` are revoked.
    Workspace {
        /// Its id.
        workspace_id: String,
        /// The boundary.
        revoked_before: i64,
    },
    /// One revoked token, listed until `exp` + leeway.
    Token {
        /// Its `jti`.
        jti: String,
        /// Its `exp`.
        exp: i64,
    },
}

/// An entry withdrawn: its account or workspace was reactivated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    /// An account entry.
    Account(String),
    /// A workspace entry.
    Workspace(String),
}

/// The feed's entries at one moment, each with the change number that last touched it.
#[derive(Debug, Clone)]
pub struct FeedEntries {
    /// The database's cursor epoch.
    pub epoch: String,
    /// Every change up to this number is included.
    pub last_seq: i64,
    /// The entries, in a stable order.
    pub items: Vec<(Entry, i64)>,
    /// Entries withdrawn, in a stable order.
    pub withdrawn: Vec<(Withdrawn, i64)>,
    /// The token lifetime (seconds).
    pub lifetime: i64,
    /// The validators' leeway (seconds).
    pub leeway: i64,
    /// When they were read.
    pub read_at: DateTime<Utc>,
}

/// Counts the revocation events this process committed, so a cached feed knows it is stale.
#[derive(Debug, Default)]
pub struct FeedChanges(AtomicU64);

impl FeedChanges {
    /// One more event.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// How many so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// The entries as of now.
pub async fn load(state: &AppState) -> Result<FeedEntries, OAuthError> {
    let now = state.clock.now();
    let lifetime = state.settings.tokens.lifetime_seconds;
    let leeway = state.settings.keys.leeway_seconds;
    // Coarse bounds for the query (a second to spare); the exact ones are applied below.
    let events_after = now - Duration::seconds(lifetime + leeway + 1);
    let tokens_after = now - Duration::seconds(leeway + 1);
    let rows = state
        .db(move |conn| revocations::feed(conn, events_after, tokens_after))
        .await?;
    Ok(assemble(rows, now, lifetime, leeway))
}

fn assemble(rows: FeedRows, now: DateTime<Utc>, lifetime: i64, leeway: i64) -> FeedEntries {
    let now_s = now.timestamp();
    let live = |rows: Vec<EntryRow>| {
        rows.into_iter().filter_map(move |row| {
            let revoked_before = revoked_before_seconds(row.at);
            (entry_expires_at(revoked_before, lifetime, leeway) > now_s).then_some((
                row.key,
                revoked_before,
                row.seq,
            ))
        })
    };
    let mut items = Vec::new();
    for (client_id, revoked_before, seq) in live(rows.credentials) {
        let entry = Entry::Credential {
            client_id,
            revoked_before,
        };
        items.push((entry, seq));
    }
    for (account_id, revoked_before, seq) in live(rows.accounts) {
        let entry = Entry::Account {
            account_id,
            revoked_before,
        };
        items.push((entry, seq));
    }
    for (workspace_id, revoked_before, seq) in live(rows.workspaces) {
        let entry = Entry::Workspace {
            workspace_id,
            revoked_before,
        };
        items.push((entry, seq));
    }
    for row in rows.tokens {
        let exp = row.at.timestamp();
        if token_entry_expires_at(exp, leeway) > now_s {
            items.push((Entry::Token { jti: row.key, exp }, row.seq));
        }
    }
    let mut withdrawn: Vec<(Withdrawn, i64)> = live(rows.withdrawn_accounts)
        .map(|(id, _, seq)| (Withdrawn::Account(id), seq))
        .chain(live(rows.withdrawn_workspaces).map(|(id, _, seq)| (Withdrawn::Workspace(id), seq)))
        .collect();
    // A stable order, so the same entries always make the same body.
    items.sort_by(|a, b| sort_key(&a.0).cmp(&sort_key(&b.0)));
    withdrawn.sort_by(|a, b| withdrawn_key(&a.0).cmp(&withdrawn_key(&b.0)));
    FeedEntries {
        epoch: rows.epoch,
        last_seq: rows.last_seq,
        items,
        withdrawn,
        lifetime,
        leeway,
        read_at: now,
    }
}

fn sort_key(entry: &Entry) -> (u8, &str) {
    match entry {
        Entry::Credential { client_id, .. } => (0, client_id),
        Entry::Account { account_id, .. } => (1, account_id),
        Entry::Workspace { workspace_id, .. } => (2, workspace_id),
        Entry::Token { jti, .. } => (3, jti),
    }
}

fn withdrawn_key(w: &Withdrawn) -> (u8, &str) {
    match w {
        Withdrawn::Account(id) => (0, id),
        Withdrawn::Workspace(id) => (1, id),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// A credential revoked at 1000, a token expiring at 2000, an account reactivated at 1500.
    pub(crate) fn rows() -> FeedRows {
        FeedRows {
            epoch: "e1".into(),
            last_seq: 7,
            credentials: vec![EntryRow {
                key: "wk_a".into(),
                at: at(1_000),
                seq: 3,
            }],
            tokens: vec![EntryRow {
                key: "j1".into(),
                at: at(2_000),
                seq: 7,
            }],
            withdrawn_accounts: vec![EntryRow {
                key: "acc".into(),
                at: at(1_500),
                seq: 6,
            }],
            ..FeedRows::default()
        }
    }

    /// The entries of [`rows`] at `now` (600 s lifetime, 60 s leeway).
    pub(crate) fn entries_at(now: i64) -> FeedEntries {
        assemble(rows(), at(now), 600, 60)
    }

    #[test]
    fn entries_drop_exactly_at_lifetime_plus_leeway() {
        // revoked_before 1001 + 600 + 60 = 1661; jti: 2000 + 60 = 2060.
        assert_eq!(entries_at(1_660).items.len(), 2);
        assert_eq!(entries_at(1_661).items.len(), 1);
        assert_eq!(entries_at(2_059).items.len(), 1);
        assert!(entries_at(2_060).items.is_empty());
    }

    #[test]
    fn a_credential_entry_revokes_the_whole_event_second() {
        let e = entries_at(1_100);
        assert_eq!(
            e.items[0].0,
            Entry::Credential {
                client_id: "wk_a".into(),
                revoked_before: 1_001
            }
        );
        assert_eq!(e.withdrawn, vec![(Withdrawn::Account("acc".into()), 6)]);
    }
}
