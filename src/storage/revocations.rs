//! What the revocation feed and introspection read, and the writes that change a feed entry.
//!
//! Every change to an entry takes the next number of the feed's change log
//! ([`next_seq`]) in the transaction that makes it, and stores it on the entry's row
//! (`feed_seq`). The number is taken with an `UPDATE` of the one `feed_state` row, whose write
//! lock is held until commit: numbers are therefore committed in order, and a reader that saw
//! number N has seen every change up to N. A cursor is that number plus the database's `epoch`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{accounts, credentials, feed_state, revoked_tokens, workspaces};
use super::{from_db, to_db, DbConnection, StorageError};

/// A row that can carry a feed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A credential, by row id: `tokens_revoked_before`.
    Credential(String),
    /// An account, by id: `suspended_at` while suspended.
    Account(String),
    /// A workspace, by id: `suspended_at` while suspended.
    Workspace(String),
}

/// Takes the next number of the feed's change log. Call it last in a write transaction: it
/// holds the log's lock until the transaction ends.
pub fn next_seq(conn: &mut DbConnection) -> Result<i64, StorageError> {
    Ok(diesel::update(feed_state::table.find(1))
        .set(feed_state::last_seq.eq(feed_state::last_seq + 1))
        .returning(feed_state::last_seq)
        .get_result(conn)?)
}

/// The database's cursor epoch and the last number committed.
pub fn feed_position(conn: &mut DbConnection) -> Result<(String, i64), StorageError> {
    Ok(feed_state::table
        .find(1)
        .select((feed_state::epoch, feed_state::last_seq))
        .first(conn)?)
}

/// Revokes every token of credential `id` issued up to `at`.
pub fn revoke_credential_tokens(
    conn: &mut DbConnection,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    diesel::update(credentials::table.find(id))
        .set(credentials::tokens_revoked_before.eq(Some(to_db(at))))
        .execute(conn)?;
    number(conn, &Subject::Credential(id.to_owned()), None)
}

/// Records that an account's or workspace's entry changed at `at` (suspended: listed;
/// reactivated: withdrawn). The status and `suspended_at` are written by the caller, first.
pub fn tenant_changed(
    conn: &mut DbConnection,
    subject: &Subject,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    match subject {
        Subject::Credential(id) => revoke_credential_tokens(conn, id, at),
        tenant => number(conn, tenant, Some(to_db(at))),
    }
}

/// Gives a subject row, already written (so locked) in this transaction, the next change
/// number. Row first, log second, in every transaction: two transactions never wait for each
/// other's locks in opposite orders.
fn number(
    conn: &mut DbConnection,
    subject: &Subject,
    changed_at: Option<NaiveDateTime>,
) -> Result<(), StorageError> {
    let seq = Some(next_seq(conn)?);
    match subject {
        Subject::Credential(id) => diesel::update(credentials::table.find(id))
            .set(credentials::feed_seq.eq(seq))
            .execute(conn)?,
        Subject::Account(id) => diesel::update(accounts::table.find(id))
            .set((
                accounts::feed_seq.eq(seq),
                accounts::feed_changed_at.eq(changed_at),
            ))
            .execute(conn)?,
        Subject::Workspace(id) => diesel::update(workspaces::table.find(id))
            .set((
                workspaces::feed_seq.eq(seq),
                workspaces::feed_changed_at.eq(changed_at),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Moves an event recorded at `from` to `to` (later), if the row still shows `from`: for an
/// event whose commit reached a later second than its time. Returns whether it moved.
pub fn restamp(
    conn: &mut DbConnection,
    subject: &Subject,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let (from, to) = (to_db(from), to_db(to));
    let changed = match subject {
        Subject::Credential(id) => diesel::update(
            credentials::table
                .find(id)
                .filter(credentials::tokens_revoked_before.eq(from)),
        )
        .set(credentials::tokens_revoked_before.eq(Some(to)))
        .execute(conn)?,
        Subject::Account(id) => diesel::update(
            accounts::table
                .find(id)
                .filter(accounts::suspended_at.eq(from))
                .filter(accounts::status.eq("suspended")),
        )
        .set(accounts::suspended_at.eq(Some(to)))
        .execute(conn)?,
        Subject::Workspace(id) => diesel::update(
            workspaces::table
                .find(id)
                .filter(workspaces::suspended_at.eq(from))
                .filter(workspaces::status.eq("suspended")),
        )
        .set(workspaces::suspended_at.eq(Some(to)))
        .execute(conn)?,
    };
    if changed == 0 {
        return Ok(false);
    }
    number(conn, subject, Some(to))?;
    Ok(true)
}

/// One entry as stored: its key, its time and its change number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// `client_id`, account id, workspace id or `jti`.
    pub key: String,
    /// The event time (subjects) or the token's `exp` (tokens).
    pub at: DateTime<Utc>,
    /// Its change number (0 for rows from before the change log).
    pub seq: i64,
}

/// Everything the feed is built from, read in an order that makes `last_seq` a safe cursor.
#[derive(Debug, Default)]
pub struct FeedRows {
    /// The database's cursor epoch.
    pub epoch: String,
    /// Every change numbered up to this one is in the rows below (later ones may be too).
    pub last_seq: i64,
    /// Revoked credentials (by `client_id`).
    pub credentials: Vec<EntryRow>,
    /// Suspended accounts.
    pub accounts: Vec<EntryRow>,
    /// Suspended workspaces.
    pub workspaces: Vec<EntryRow>,
    /// Revoked tokens: `at` is the token's `exp`.
    pub tokens: Vec<EntryRow>,
    /// Accounts reactivated after a suspension: `at` is the reactivation.
    pub withdrawn_accounts: Vec<EntryRow>,
    /// Workspaces reactivated after a suspension.
    pub withdrawn_workspaces: Vec<EntryRow>,
}

type Keyed = (String, Option<NaiveDateTime>, Option<i64>);

fn entries(rows: Vec<Keyed>) -> Vec<EntryRow> {
    rows.into_iter()
        .filter_map(|(key, at, seq)| {
            at.map(|at| EntryRow {
                key,
                at: from_db(at),
                seq: seq.unwrap_or(0),
            })
        })
        .collect()
}

/// The entries whose event is later than `events_after`, and revoked tokens expiring later
/// than `tokens_after`: older ones concern only tokens no validator accepts any more.
pub fn feed(
    conn: &mut DbConnection,
    events_after: DateTime<Utc>,
    tokens_after: DateTime<Utc>,
) -> Result<FeedRows, StorageError> {
    let (events_after, tokens_after) = (to_db(events_after), to_db(tokens_after));
    // The position first: each query below sees at least every change committed before it.
    let (epoch, last_seq) = feed_position(conn)?;
    let creds = credentials::table
        .filter(credentials::tokens_revoked_before.gt(events_after))
        .select((
            credentials::client_id,
            credentials::tokens_revoked_before,
            credentials::feed_seq,
        ))
        .load::<Keyed>(conn)?;
    let accts = accounts::table
        .filter(accounts::status.eq("suspended"))
        .filter(accounts::suspended_at.gt(events_after))
        .select((accounts::id, accounts::suspended_at, accounts::feed_seq))
        .load::<Keyed>(conn)?;
    let wss = workspaces::table
        .filter(workspaces::status.eq("suspended"))
        .filter(workspaces::suspended_at.gt(events_after))
        .select((
            workspaces::id,
            workspaces::suspended_at,
            workspaces::feed_seq,
        ))
        .load::<Keyed>(conn)?;
    let withdrawn_accounts = accounts::table
        .filter(accounts::status.ne("suspended"))
        .filter(accounts::feed_changed_at.gt(events_after))
        .select((accounts::id, accounts::feed_changed_at, accounts::feed_seq))
        .load::<Keyed>(conn)?;
    let withdrawn_workspaces = workspaces::table
        .filter(workspaces::status.ne("suspended"))
        .filter(workspaces::feed_changed_at.gt(events_after))
        .select((
            workspaces::id,
            workspaces::feed_changed_at,
            workspaces::feed_seq,
        ))
        .load::<Keyed>(conn)?;
    let tokens = revoked_tokens::table
        .filter(revoked_tokens::expires_at.gt(tokens_after))
        .select((
            revoked_tokens::jti,
            revoked_tokens::expires_at,
            revoked_tokens::feed_seq,
        ))
        .load::<(String, NaiveDateTime, i64)>(conn)?
        .into_iter()
        .map(|(key, at, seq)| EntryRow {
            key,
            at: from_db(at),
            seq,
        })
        .collect();
    Ok(FeedRows {
        epoch,
        last_seq,
        credentials: entries(creds),
        accounts: entries(accts),
        workspaces: entries(wss),
        tokens,
        withdrawn_accounts: entries(withdrawn_accounts),
        withdrawn_workspaces: entries(withdrawn_workspaces),
    })
}

/// A token subject's current state.
#[derive(Debug)]
pub struct SubjectRow {
    /// The credential's account.
    pub account_id: String,
    /// Deactivation time.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The credential's latest revocation event.
    pub tokens_revoked_before: Option<DateTime<Utc>>,
    /// The account's suspension, while suspended.
    pub account_suspended_at: Option<DateTime<Utc>>,
    /// The workspace's suspension, while suspended (workspace keys).
    pub workspace_suspended_at: Option<DateTime<Utc>>,
    /// Whether the token's jti is revoked.
    pub jti_revoked: bool,
}

/// The state of the credential `client_id` and of token `jti`; `None` if the credential is gone.
pub fn subject(
    conn: &mut DbConnection,
    client_id: &str,
    jti: &str,
) -> Result<Option<SubjectRow>, StorageError> {
    type Row = (
        String,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        String,
        Option<NaiveDateTime>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let row = credentials::table
        .inner_join(accounts::table)
        .left_join(workspaces::table)
        .filter(credentials::client_id.eq(client_id))
        .select((
            credentials::account_id,
            credentials::deactivated_at,
            credentials::tokens_revoked_before,
            accounts::status,
            accounts::suspended_at,
            workspaces::status.nullable(),
            workspaces::suspended_at.nullable(),
        ))
        .first::<Row>(conn)
        .optional()?;
    let Some((
        account_id,
        deactivated_at,
        tokens_revoked_before,
        account_status,
        account_suspended_at,
        workspace_status,
        workspace_suspended_at,
    )) = row
    else {
        return Ok(None);
    };
    let suspended = |status: &str, at: Option<NaiveDateTime>| {
        // A suspension from before suspended_at was recorded counts from the start of time.
        (status == "suspended").then(|| from_db(at.unwrap_or_default()))
    };
    let jti_revoked = token_revoked(conn, jti)?;
    Ok(Some(SubjectRow {
        account_id,
        deactivated_at: deactivated_at.map(from_db),
        tokens_revoked_before: tokens_revoked_before.map(from_db),
        account_suspended_at: suspended(&account_status, account_suspended_at),
        workspace_suspended_at: workspace_status
            .as_deref()
            .and_then(|s| suspended(s, workspace_suspended_at)),
        jti_revoked,
    }))
}

/// Whether the token `jti` was revoked (RFC 7009).
/// On the backend's own connection, so the statement is prepared once: a reused token is
/// checked with it on every request.
pub fn token_revoked(conn: &mut DbConnection, jti: &str) -> Result<bool, StorageError> {
    let count = on_backend!(conn, c => revoked_tokens::table
        .find(jti)
        .count()
        .get_result::<i64>(c))?;
    Ok(count > 0)
}

/// Forgets revoked tokens that no validator accepts any more (expired before `expired_before`).
pub fn prune_tokens(
    conn: &mut DbConnection,
    expired_before: DateTime<Utc>,
) -> Result<(), StorageError> {
    let expired_before = to_db(expired_before);
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(expired_before)))
        .execute(conn)?;
    Ok(())
}

/// How many revoked tokens of `client_id` are listed.
pub fn count_tokens(conn: &mut DbConnection, client_id: &str) -> Result<i64, StorageError> {
    Ok(revoked_tokens::table
        .filter(revoked_tokens::client_id.eq(client_id))
        .count()
        .get_result(conn)?)
}

/// Lists one revoked token.
pub fn insert_token(
    conn: &mut DbConnection,
    jti: &str,
    client_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let seq = next_seq(conn)?;
    let (expires_at, now) = (to_db(expires_at), to_db(now));
    diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::jti.eq(jti),
            revoked_tokens::client_id.eq(client_id),
            revoked_tokens::expires_at.eq(expires_at),
            revoked_tokens::revoked_at.eq(now),
            revoked_tokens::feed_seq.eq(seq),
        ))
        .execute(conn)?;
    Ok(())
}

/// Drops the `jti` entries of `client_id`: a credential entry now covers them.
pub fn delete_tokens_of(conn: &mut DbConnection, client_id: &str) -> Result<(), StorageError> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::client_id.eq(client_id)))
        .execute(conn)?;
    Ok(())
}
