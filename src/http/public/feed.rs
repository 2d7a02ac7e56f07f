//! `GET /oauth/revocations`: the feed's wire format, its cache and its deltas.
//!
//! The URL is public, so the database is read for it at most once per
//! `revocation.feed_cache_seconds` per replica, whoever asks: the answer is a [`Snapshot`]
//! shared by every request until it is that old. A revocation event committed through this
//! replica makes it stale at once; an RFC 7009 revocation does not (a client could otherwise
//! make every request read the database).
//!
//! Each entry carries the change number that last touched it, so a validator that sends the
//! `next_cursor` of its last answer gets only what changed since ([`Cursor`]). Entries that
//! merely age out are not announced: every answer says the lifetime and leeway by which a
//! validator drops them itself.

use std::sync::{Arc, PoisonError, RwLock};

use actix_web::web::Bytes;
use chrono::Duration;
use serde::Serialize;

use crate::domain::oauth_error::OAuthError;
use crate::service::revocation::feed::{self, Entry, FeedEntries, Withdrawn};
use crate::state::AppState;

/// One feed entry naming a credential.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialEntry {
    /// The revoked credential.
    pub client_id: String,
    /// Tokens with an earlier `iat` are revoked.
    pub revoked_before: i64,
}

/// One feed entry naming an account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountEntry {
    /// The suspended account.
    pub account_id: String,
    /// Tokens with an earlier `iat` are revoked.
    pub revoked_before: i64,
}

/// One feed entry naming a workspace.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkspaceEntry {
    /// The suspended workspace.
    pub workspace_id: String,
    /// Tokens with an earlier `iat` are revoked.
    pub revoked_before: i64,
}

/// One revoked token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenEntry {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`: the entry is dropped at `exp` + `leeway`.
    pub exp: i64,
}

/// The key of an entry withdrawn since the cursor: `{"account_id": "…"}` and so on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Removed {
    /// A credential entry.
    ClientId(String),
    /// An account entry (the account was reactivated).
    AccountId(String),
    /// A workspace entry (the workspace was reactivated).
    WorkspaceId(String),
    /// A token entry.
    Jti(String),
}

/// `GET /oauth/revocations`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Feed {
    /// When this list was built (Unix seconds).
    pub generated_at: i64,
    /// `true`: the whole list, replacing what the validator has; `false`: only the changes
    /// since the cursor sent as `since`.
    pub complete: bool,
    /// Send as `since` next time; it works on every replica.
    pub next_cursor: String,
    /// The access-token lifetime (seconds): an entry is dropped at `revoked_before` +
    /// `token_lifetime` + `leeway`.
    pub token_lifetime: i64,
    /// The validators' leeway (seconds).
    pub leeway: i64,
    /// Revoked credentials: deactivation, a rotation with `revoke_tokens`, a role change, the
    /// per-credential cap of revoked tokens.
    pub credentials: Vec<CredentialEntry>,
    /// Suspended accounts.
    pub accounts: Vec<AccountEntry>,
    /// Suspended workspaces.
    pub workspaces: Vec<WorkspaceEntry>,
    /// Tokens revoked one by one (RFC 7009).
    pub tokens: Vec<TokenEntry>,
    /// Entries withdrawn since the cursor (empty in a complete list).
    pub removed: Vec<Removed>,
}

/// Where a validator is in the change log: the database's epoch and a change number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    epoch: String,
    seq: i64,
}

impl Cursor {
    /// The wire form, `EPOCH-SEQ`.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.epoch, self.seq)
    }

    fn parse(text: &str) -> Option<Self> {
        let (epoch, seq) = text.split_once('-')?;
        let seq = seq.parse::<i64>().ok().filter(|s| *s >= 0)?;
        (!epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| Self {
            epoch: epoch.to_owned(),
            seq,
        })
    }
}

/// One build of the feed, shared by every request until it is too old.
#[derive(Debug)]
pub struct Snapshot {
    entries: FeedEntries,
    /// The events counted when it was built.
    changes: u64,
    cursor: Cursor,
    generated_at: i64,
    etag: String,
    complete: Bytes,
}

/// What a feed request gets.
#[derive(Debug)]
pub enum FeedAnswer {
    /// `304`: the validator's copy is current.
    NotModified {
        /// The current entity tag.
        etag: String,
    },
    /// `200` with this JSON body.
    Body {
        /// The current entity tag.
        etag: String,
        /// The serialized [`Feed`].
        body: Bytes,
    },
}

/// The feed of one replica: its latest [`Snapshot`].
#[derive(Debug, Default)]
pub struct FeedCache {
    current: RwLock<Option<Arc<Snapshot>>>,
    building: tokio::sync::Mutex<()>,
}

impl FeedCache {
    fn fresh(&self, state: &AppState, max_age: Duration) -> Option<Arc<Snapshot>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let now = state.clock.now();
        let built_at = current.entries.read_at;
        let unchanged = current.changes == state.feed_changes.count();
        (unchanged && now - built_at < max_age && now >= built_at).then_some(current)
    }

    async fn snapshot(&self, state: &AppState) -> Result<Arc<Snapshot>, OAuthError> {
        let max_age = Duration::seconds(
            i64::try_from(state.settings.revocation.feed_cache_seconds).unwrap_or(0),
        );
        if let Some(s) = self.fresh(state, max_age) {
            return Ok(s);
        }
        // One build at a time; whoever waited gets the build that just finished.
        let _building = self.building.lock().await;
        if let Some(s) = self.fresh(state, max_age) {
            return Ok(s);
        }
        // Counted before reading: an event committed during the read makes it stale again.
        let changes = state.feed_changes.count();
        let entries = feed::load(state).await?;
        let previous = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let snapshot = Arc::new(Snapshot::new(entries, changes, previous.as_deref()));
        snapshot.count_entries();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// The answer to `GET /oauth/revocations?since=…` with `If-None-Match`.
    pub async fn answer(
        &self,
        state: &AppState,
        since: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<FeedAnswer, OAuthError> {
        let snapshot = self.snapshot(state).await?;
        let etag = snapshot.etag.clone();
        if if_none_match.is_some_and(|header| etag_matches(header, &etag)) {
            return Ok(FeedAnswer::NotModified { etag });
        }
        let body = match since.and_then(Cursor::parse) {
            Some(c) if c.epoch == snapshot.cursor.epoch && c.seq <= snapshot.cursor.seq => {
                delta(&snapshot, c.seq)
            }
            // Unknown, foreign or garbage: the whole list.
            _ => snapshot.complete.clone(),
        };
        Ok(FeedAnswer::Body { etag, body })
    }
}

/// `If-None-Match` (RFC 9110 §13.1.2): `*` or a list of tags, compared weakly.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn wire(
    entries: &[&Entry],
) -> (
    Vec<CredentialEntry>,
    Vec<AccountEntry>,
    Vec<WorkspaceEntry>,
    Vec<TokenEntry>,
) {
    let (mut c, mut a, mut w, mut t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for entry in entries {
        match (*entry).clone() {
            Entry::Credential {
                client_id,
                revoked_before,
            } => c.push(CredentialEntry {
                client_id,
                revoked_before,
            }),
            Entry::Account {
                account_id,
                revoked_before,
            } => a.push(AccountEntry {
                account_id,
                revoked_before,
            }),
            Entry::Workspace {
                workspace_id,
                revoked_before,
            } => w.push(WorkspaceEntry {
                workspace_id,
                revoked_before,
            }),
            Entry::Token { jti, exp } => t.push(TokenEntry { jti, exp }),
        }
    }
    (c, a, w, t)
}

impl Snapshot {
    /// The snapshot of `entries`. When they are what `previous` had, its answer (and
    /// `generated_at`) is kept, so equal tags always mean equal bodies.
    fn new(entries: FeedEntries, changes: u64, previous: Option<&Snapshot>) -> Self {
        let cursor = Cursor {
            epoch: entries.epoch.clone(),
            seq: entries.last_seq,
        };
        let mut snapshot = Self {
            generated_at: entries.read_at.timestamp(),
            entries,
            changes,
            cursor,
            etag: String::new(),
            complete: Bytes::new(),
        };
        let feed = snapshot.feed(true, |_| true);
        // The tag covers everything in the body but `generated_at`.
        let tagged = serde_json::json!([
            feed.next_cursor,
            feed.credentials,
            feed.accounts,
            feed.workspaces,
            feed.tokens,
            feed.token_lifetime,
            feed.leeway
        ]);
        let digest = crate::crypto::sha256_hex(&tagged.to_string());
        snapshot.etag = format!("\"{}\"", &digest[..32]);
        match previous.filter(|p| p.etag == snapshot.etag) {
            Some(p) => {
                snapshot.generated_at = p.generated_at;
                snapshot.complete = p.complete.clone();
            }
            None => snapshot.complete = Bytes::from(serde_json::to_vec(&feed).unwrap_or_default()),
        }
        snapshot
    }

    /// Sets `tessera_revocation_feed_entries` from this build.
    fn count_entries(&self) {
        let mut counts = [0usize; 4];
        for (entry, _) in &self.entries.items {
            let kind = match entry {
                Entry::Credential { .. } => 0,
                Entry::Account { .. } => 1,
                Entry::Workspace { .. } => 2,
                Entry::Token { .. } => 3,
            };
            counts[kind] += 1;
        }
        crate::telemetry::feed_entries(counts);
    }

    /// The entries changed after `since` (everything for a complete list), as sent.
    fn feed(&self, complete: bool, changed: impl Fn(i64) -> bool) -> Feed {
        let entries: Vec<&Entry> = self
            .entries
            .items
            .iter()
            .filter(|(_, seq)| changed(*seq))
            .map(|(e, _)| e)
            .collect();
        let (credentials, accounts, workspaces, tokens) = wire(&entries);
        let removed = if complete {
            Vec::new()
        } else {
            self.entries
                .withdrawn
                .iter()
                .filter(|(_, seq)| changed(*seq))
                .map(|(w, _)| match w {
                    Withdrawn::Account(id) => Removed::AccountId(id.clone()),
                    Withdrawn::Workspace(id) => Removed::WorkspaceId(id.clone()),
                })
                .collect()
        };
        Feed {
            generated_at: self.generated_at,
            complete,
            next_cursor: self.cursor.encode(),
            token_lifetime: self.entries.lifetime,
            leeway: self.entries.leeway,
            credentials,
            accounts,
            workspaces,
            tokens,
            removed,
        }
    }
}

fn delta(snapshot: &Snapshot, since: i64) -> Bytes {
    let feed = snapshot.feed(false, |seq| seq > since);
    Bytes::from(serde_json::to_vec(&feed).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::revocation::feed::tests::entries_at;

    fn parse(body: &Bytes) -> serde_json::Value {
        serde_json::from_slice(body).unwrap()
    }

    fn snapshot(now: i64) -> Snapshot {
        Snapshot::new(entries_at(now), 0, None)
    }

    #[test]
    fn the_complete_list_says_how_to_age_entries_and_where_to_resume() {
        let feed = parse(&snapshot(1_100).complete);
        assert_eq!(feed["complete"], true);
        assert_eq!(feed["next_cursor"], "e1-7");
        assert_eq!(feed["token_lifetime"], 600);
        assert_eq!(feed["leeway"], 60);
        assert_eq!(feed["credentials"][0]["revoked_before"], 1_001);
        assert_eq!(feed["tokens"][0]["exp"], 2_000);
        assert_eq!(feed["removed"], serde_json::json!([]));
    }

    #[test]
    fn a_delta_has_only_what_changed_since_the_cursor() {
        let s = snapshot(1_100);
        let d = parse(&delta(&s, 5));
        assert_eq!(d["complete"], false);
        assert_eq!(d["credentials"], serde_json::json!([]));
        assert_eq!(d["tokens"][0]["jti"], "j1");
        assert_eq!(d["removed"], serde_json::json!([{"account_id": "acc"}]));
        let d = parse(&delta(&s, 7));
        assert_eq!(d["tokens"], serde_json::json!([]));
        assert_eq!(d["removed"], serde_json::json!([]));
    }

    #[test]
    fn the_tag_ignores_the_build_time_but_not_the_entries() {
        let (a, b) = (snapshot(1_100), snapshot(1_200));
        assert_eq!(a.etag, b.etag);
        // Kept from the previous build: the same bytes under the same tag.
        let again = Snapshot::new(entries_at(1_200), 0, Some(&a));
        assert_eq!(again.complete, a.complete);
        let aged = snapshot(1_661);
        assert_ne!(a.etag, aged.etag);
    }

    #[test]
    fn cursors_and_tags_parse_strictly() {
        assert_eq!(
            Cursor::parse("ab12-9"),
            Some(Cursor {
                epoch: "ab12".into(),
                seq: 9
            })
        );
        for bad in [
            "", "-", "ab12-", "-9", "ab12--1", "ab 1-9", "ab12-9x", "ab12",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
        assert!(etag_matches("\"x\"", "\"x\""));
        assert!(etag_matches("W/\"x\", \"y\"", "\"x\""));
        assert!(etag_matches("*", "\"x\""));
        assert!(!etag_matches("\"y\"", "\"x\""));
    }
}
