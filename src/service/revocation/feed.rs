//! The revocation feed, `GET /oauth/revocations`: what an offline validator needs to reject
//! tokens that are unexpired but no longer valid.
//!
//! The URL is public, so the database is read for it at most once per
//! `revocation.feed_cache_seconds` per replica, whoever asks: the answer is a [`Snapshot`]
//! shared by every request until it is that old. An admin change made on this replica marks it
//! stale at once; an RFC 7009 revocation does not (a client could otherwise make every request
//! rebuild it).
//!
//! Each entry carries the change number that last touched it, so a validator that sends the
//! `next_cursor` of its last answer gets only what changed since ([`Cursor`]). Entries that
//! merely age out are not announced: every answer says the lifetime and leeway by which a
//! validator drops them itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use actix_web::web::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::oauth_error::OAuthError;
use crate::domain::revocation::{entry_expires_at, revoked_before_seconds, token_entry_expires_at};
use crate::state::AppState;
use crate::storage::revocations::{self, EntryRow, FeedRows};

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

#[derive(Debug, Clone)]
struct Item {
    entry: Entry,
    seq: i64,
}

#[derive(Debug, Clone)]
enum Entry {
    Credential(CredentialEntry),
    Account(AccountEntry),
    Workspace(WorkspaceEntry),
    Token(TokenEntry),
}

/// One build of the feed, shared by every request until it is too old.
#[derive(Debug)]
pub struct Snapshot {
    built_at: DateTime<Utc>,
    cursor: Cursor,
    generated_at: i64,
    etag: String,
    complete: Bytes,
    items: Vec<Item>,
    withdrawn: Vec<(Removed, i64)>,
    lifetime: i64,
    leeway: i64,
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
    stale: AtomicBool,
}

impl FeedCache {
    /// Makes the next request build the feed afresh: this replica has just changed it.
    pub fn invalidate(&self) {
        self.stale.store(true, Ordering::Release);
    }

    fn fresh(&self, now: DateTime<Utc>, max_age: Duration) -> Option<Arc<Snapshot>> {
        if self.stale.load(Ordering::Acquire) {
            return None;
        }
        let current = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        (now - current.built_at < max_age && now >= current.built_at).then_some(current)
    }

    async fn snapshot(&self, state: &AppState) -> Result<Arc<Snapshot>, OAuthError> {
        let max_age = Duration::seconds(
            i64::try_from(state.settings.revocation.feed_cache_seconds).unwrap_or(0),
        );
        if let Some(s) = self.fresh(state.clock.now(), max_age) {
            return Ok(s);
        }
        // One build at a time; whoever waited gets the build that just finished.
        let _building = self.building.lock().await;
        if let Some(s) = self.fresh(state.clock.now(), max_age) {
            return Ok(s);
        }
        // Cleared before reading: a change committed during the build marks it stale again.
        self.stale.store(false, Ordering::Release);
        let previous = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let snapshot = Arc::new(build(state, previous.as_deref()).await?);
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

fn feed_of<'a>(
    snapshot: &Snapshot,
    complete: bool,
    items: impl Iterator<Item = &'a Item>,
    removed: Vec<Removed>,
) -> Feed {
    let mut feed = Feed {
        generated_at: snapshot.generated_at,
        complete,
        next_cursor: snapshot.cursor.encode(),
        token_lifetime: snapshot.lifetime,
        leeway: snapshot.leeway,
        credentials: Vec::new(),
        accounts: Vec::new(),
        workspaces: Vec::new(),
        tokens: Vec::new(),
        removed,
    };
    for item in items {
        match &item.entry {
            Entry::Credential(e) => feed.credentials.push(e.clone()),
            Entry::Account(e) => feed.accounts.push(e.clone()),
            Entry::Workspace(e) => feed.workspaces.push(e.clone()),
            Entry::Token(e) => feed.tokens.push(e.clone()),
        }
    }
    feed
}

fn delta(snapshot: &Snapshot, since: i64) -> Bytes {
    let removed = snapshot
        .withdrawn
        .iter()
        .filter(|(_, seq)| *seq > since)
        .map(|(key, _)| key.clone())
        .collect();
    let items = snapshot.items.iter().filter(|i| i.seq > since);
    let feed = feed_of(snapshot, false, items, removed);
    Bytes::from(serde_json::to_vec(&feed).unwrap_or_default())
}

/// Reads the entries and builds the complete answer. When nothing changed since `previous`,
/// its answer (and `generated_at`) is kept, so equal tags always mean equal bodies.
async fn build(state: &AppState, previous: Option<&Snapshot>) -> Result<Snapshot, OAuthError> {
    let now = state.clock.now();
    let lifetime = state.settings.tokens.lifetime_seconds;
    let leeway = state.settings.keys.leeway_seconds;
    // Coarse bounds for the query (a second to spare); the exact ones are applied below.
    let events_after = now - Duration::seconds(lifetime + leeway + 1);
    let tokens_after = now - Duration::seconds(leeway + 1);
    let rows = state
        .db(move |conn| revocations::feed(conn, events_after, tokens_after))
        .await?;
    let mut snapshot = assemble(rows, now, lifetime, leeway);
    if let Some(previous) = previous.filter(|p| p.etag == snapshot.etag) {
        snapshot.generated_at = previous.generated_at;
        snapshot.complete = previous.complete.clone();
    }
    Ok(snapshot)
}

fn assemble(rows: FeedRows, now: DateTime<Utc>, lifetime: i64, leeway: i64) -> Snapshot {
    let now_s = now.timestamp();
    let mut items = Vec::new();
    let subject_entries = |rows: Vec<EntryRow>| {
        rows.into_iter().filter_map(move |row| {
            let revoked_before = revoked_before_seconds(row.at);
            (entry_expires_at(revoked_before, lifetime, leeway) > now_s).then_some((
                row.key,
                revoked_before,
                row.seq,
            ))
        })
    };
    for (client_id, revoked_before, seq) in subject_entries(rows.credentials) {
        let entry = Entry::Credential(CredentialEntry {
            client_id,
            revoked_before,
        });
        items.push(Item { entry, seq });
    }
    for (account_id, revoked_before, seq) in subject_entries(rows.accounts) {
        let entry = Entry::Account(AccountEntry {
            account_id,
            revoked_before,
        });
        items.push(Item { entry, seq });
    }
    for (workspace_id, revoked_before, seq) in subject_entries(rows.workspaces) {
        let entry = Entry::Workspace(WorkspaceEntry {
            workspace_id,
            revoked_before,
        });
        items.push(Item { entry, seq });
    }
    for row in rows.tokens {
        let exp = row.at.timestamp();
        if token_entry_expires_at(exp, leeway) > now_s {
            let entry = Entry::Token(TokenEntry { jti: row.key, exp });
            items.push(Item {
                entry,
                seq: row.seq,
            });
        }
    }
    let mut withdrawn: Vec<(Removed, i64)> = subject_entries(rows.withdrawn_accounts)
        .map(|(id, _, seq)| (Removed::AccountId(id), seq))
        .chain(
            subject_entries(rows.withdrawn_workspaces)
                .map(|(id, _, seq)| (Removed::WorkspaceId(id), seq)),
        )
        .collect();
    // A stable order, so the same entries always make the same body and tag.
    items.sort_by(|a, b| sort_key(&a.entry).cmp(&sort_key(&b.entry)));
    withdrawn.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
    let cursor = Cursor {
        epoch: rows.epoch,
        seq: rows.last_seq,
    };
    let mut snapshot = Snapshot {
        built_at: now,
        cursor,
        generated_at: now_s,
        etag: String::new(),
        complete: Bytes::new(),
        items,
        withdrawn,
        lifetime,
        leeway,
    };
    let feed = feed_of(&snapshot, true, snapshot.items.iter(), Vec::new());
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
    snapshot.complete = Bytes::from(serde_json::to_vec(&feed).unwrap_or_default());
    snapshot
}

fn sort_key(entry: &Entry) -> (u8, &str) {
    match entry {
        Entry::Credential(e) => (0, &e.client_id),
        Entry::Account(e) => (1, &e.account_id),
        Entry::Workspace(e) => (2, &e.workspace_id),
        Entry::Token(e) => (3, &e.jti),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn rows() -> FeedRows {
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

    fn parse(body: &Bytes) -> serde_json::Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn the_complete_list_says_how_to_age_entries_and_where_to_resume() {
        let now = DateTime::from_timestamp(1_100, 0).unwrap();
        let s = assemble(rows(), now, 600, 60);
        let feed = parse(&s.complete);
        assert_eq!(feed["complete"], true);
        assert_eq!(feed["next_cursor"], "e1-7");
        assert_eq!(feed["token_lifetime"], 600);
        assert_eq!(feed["leeway"], 60);
        assert_eq!(feed["credentials"][0]["revoked_before"], 1_001);
        assert_eq!(feed["tokens"][0]["exp"], 2_000);
        assert_eq!(feed["removed"], serde_json::json!([]));
    }

    #[test]
    fn entries_drop_exactly_at_lifetime_plus_leeway() {
        // revoked_before 1001 + 600 + 60 = 1661; jti: 2000 + 60 = 2060.
        let s = assemble(rows(), DateTime::from_timestamp(1_660, 0).unwrap(), 600, 60);
        assert_eq!(s.items.len(), 2);
        let s = assemble(rows(), DateTime::from_timestamp(1_661, 0).unwrap(), 600, 60);
        assert_eq!(s.items.len(), 1);
        let s = assemble(rows(), DateTime::from_timestamp(2_059, 0).unwrap(), 600, 60);
        assert_eq!(s.items.len(), 1);
        let s = assemble(rows(), DateTime::from_timestamp(2_060, 0).unwrap(), 600, 60);
        assert!(s.items.is_empty());
    }

    #[test]
    fn a_delta_has_only_what_changed_since_the_cursor() {
        let s = assemble(rows(), DateTime::from_timestamp(1_100, 0).unwrap(), 600, 60);
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
        let a = assemble(rows(), DateTime::from_timestamp(1_100, 0).unwrap(), 600, 60);
        let b = assemble(rows(), DateTime::from_timestamp(1_200, 0).unwrap(), 600, 60);
        assert_eq!(a.etag, b.etag);
        let mut changed = rows();
        changed.last_seq = 8;
        changed.tokens[0].key = "j2".into();
        let c = assemble(
            changed,
            DateTime::from_timestamp(1_100, 0).unwrap(),
            600,
            60,
        );
        assert_ne!(a.etag, c.etag);
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
