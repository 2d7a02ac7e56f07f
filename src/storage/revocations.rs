//! What the revocation feed and introspection read, and RFC 7009 token revocations.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{accounts, credentials, revoked_tokens, workspaces};
use super::{DbConnection, StorageError};

/// The raw entries of the revocation feed.
#[derive(Debug, Default)]
pub struct FeedRows {
    /// (client_id, revoked_before)
    pub credentials: Vec<(String, NaiveDateTime)>,
    /// (account_id, suspended_at)
    pub accounts: Vec<(String, NaiveDateTime)>,
    /// (workspace_id, suspended_at)
    pub workspaces: Vec<(String, NaiveDateTime)>,
    /// (jti, expires_at)
    pub tokens: Vec<(String, NaiveDateTime)>,
}

/// Entries newer than `since` (older ones only concern tokens that have expired anyway), and
/// revoked tokens that have not expired at `now`.
pub fn feed(
    conn: &mut DbConnection,
    since: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<FeedRows, StorageError> {
    let creds = credentials::table
        .filter(credentials::tokens_revoked_before.gt(since))
        .select((credentials::client_id, credentials::tokens_revoked_before))
        .load::<(String, Option<NaiveDateTime>)>(conn)?;
    let accts = accounts::table
        .filter(accounts::status.eq("suspended"))
        .filter(accounts::suspended_at.gt(since))
        .select((accounts::id, accounts::suspended_at))
        .load::<(String, Option<NaiveDateTime>)>(conn)?;
    let wss = workspaces::table
        .filter(workspaces::status.eq("suspended"))
        .filter(workspaces::suspended_at.gt(since))
        .select((workspaces::id, workspaces::suspended_at))
        .load::<(String, Option<NaiveDateTime>)>(conn)?;
    let tokens = revoked_tokens::table
        .filter(revoked_tokens::expires_at.gt(now))
        .select((revoked_tokens::jti, revoked_tokens::expires_at))
        .load::<(String, NaiveDateTime)>(conn)?;
    let flatten = |rows: Vec<(String, Option<NaiveDateTime>)>| {
        rows.into_iter()
            .filter_map(|(id, at)| at.map(|at| (id, at)))
            .collect()
    };
    Ok(FeedRows {
        credentials: flatten(creds),
        accounts: flatten(accts),
        workspaces: flatten(wss),
        tokens,
    })
}

/// A token subject's current state.
#[derive(Debug)]
pub struct SubjectRow {
    /// The credential's account.
    pub account_id: String,
    /// Deactivation time.
    pub deactivated_at: Option<NaiveDateTime>,
    /// Tokens issued before this are revoked.
    pub tokens_revoked_before: Option<NaiveDateTime>,
    /// The account's status.
    pub account_status: String,
    /// The workspace's status, for workspace keys.
    pub workspace_status: Option<String>,
    /// Whether the token's jti is revoked.
    pub jti_revoked: bool,
}

/// The state of the credential `client_id` and of token `jti`; `None` if the credential is gone.
pub fn subject(
    conn: &mut DbConnection,
    client_id: &str,
    jti: &str,
) -> Result<Option<SubjectRow>, StorageError> {
    let row = credentials::table
        .inner_join(accounts::table)
        .left_join(workspaces::table)
        .filter(credentials::client_id.eq(client_id))
        .select((
            credentials::account_id,
            credentials::deactivated_at,
            credentials::tokens_revoked_before,
            accounts::status,
            workspaces::status.nullable(),
        ))
        .first::<(
            String,
            Option<NaiveDateTime>,
            Option<NaiveDateTime>,
            String,
            Option<String>,
        )>(conn)
        .optional()?;
    let Some((account_id, deactivated_at, tokens_revoked_before, account_status, workspace_status)) =
        row
    else {
        return Ok(None);
    };
    let jti_revoked = token_revoked(conn, jti)?;
    Ok(Some(SubjectRow {
        account_id,
        deactivated_at,
        tokens_revoked_before,
        account_status,
        workspace_status,
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

/// Records an RFC 7009 revocation (once), and forgets revocations of tokens that have expired.
pub fn revoke_token(
    conn: &mut DbConnection,
    jti: &str,
    client_id: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now)))
        .execute(conn)?;
    if !token_revoked(conn, jti)? {
        diesel::insert_into(revoked_tokens::table)
            .values((
                revoked_tokens::jti.eq(jti),
                revoked_tokens::client_id.eq(client_id),
                revoked_tokens::expires_at.eq(expires_at),
                revoked_tokens::revoked_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
