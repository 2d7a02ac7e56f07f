//! Credentials and their secrets.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{account_usage, accounts, credential_secrets, credentials, workspaces};
use super::{DbConnection, StorageError};

/// A credential row. Secrets are in [`CredentialSecret`].
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
pub struct Credential {
    /// Row id.
    pub id: String,
    /// Public client id.
    pub client_id: String,
    /// `account` or `workspace`.
    pub kind: String,
    /// Owning account.
    pub account_id: String,
    /// Workspace (workspace keys).
    pub workspace_id: Option<String>,
    /// Role.
    pub role: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Bound audience.
    pub audience: String,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Actor who created it.
    pub created_by: String,
    /// Last rotation.
    pub rotated_at: Option<NaiveDateTime>,
    /// Deactivation.
    pub deactivated_at: Option<NaiveDateTime>,
    /// Tokens issued before this are revoked.
    pub tokens_revoked_before: Option<NaiveDateTime>,
    /// Last successful token request (flushed periodically).
    pub last_used_at: Option<NaiveDateTime>,
    /// Its source IP.
    pub last_used_ip: Option<String>,
}

/// One secret of a credential: its argon2id hash, never the plaintext.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credential_secrets)]
pub struct CredentialSecret {
    /// Row id.
    pub id: String,
    /// Owning credential.
    pub credential_id: String,
    /// argon2id PHC string.
    pub secret_hash: String,
    /// Last four characters of the plaintext.
    pub last4: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// End of a rotation grace period; `None` while current.
    pub expires_at: Option<NaiveDateTime>,
    /// Last successful use.
    pub last_used_at: Option<NaiveDateTime>,
}

/// Everything the token endpoint needs about a client, read in one go.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    /// The credential.
    pub credential: Credential,
    /// Its account's status.
    pub account_status: String,
    /// Its account's plan.
    pub account_plan: String,
    /// Tokens its account was counted for this month, as flushed so far.
    pub account_tokens_this_month: i64,
    /// Its workspace's status (workspace keys).
    pub workspace_status: Option<String>,
    /// Secrets that have not expired at the time asked, newest first.
    pub secrets: Vec<CredentialSecret>,
}

/// Filters of the credential list.
#[derive(Debug, Default, Clone)]
pub struct CredentialFilter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this workspace.
    pub workspace_id: Option<String>,
    /// `active`, `expired` or `deactivated`.
    pub status: Option<crate::domain::credential::CredentialStatus>,
}

impl Credential {
    /// Inserts the credential and its first secret.
    pub fn insert(
        &self,
        secret: &CredentialSecret,
        conn: &mut DbConnection,
    ) -> Result<(), StorageError> {
        diesel::insert_into(credentials::table)
            .values(self)
            .execute(conn)?;
        secret.insert(conn)
    }

    /// The credential with `id`.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        Ok(credentials::table
            .find(id)
            .select(Self::as_select())
            .first(conn)?)
    }

    /// Like [`Self::find`], holding the row lock on PostgreSQL until the transaction ends, so
    /// concurrent rotations of one credential run one after the other.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        match conn {
            DbConnection::Postgres(pg) => Ok(credentials::table
                .find(id)
                .select(Self::as_select())
                .for_update()
                .first(pg)?),
            DbConnection::Sqlite(_) => Self::find(conn, id),
        }
    }

    /// The authentication record of `client_id`, with the secrets still valid at `now` and its
    /// account's token count for `month` (`YYYY-MM`).
    pub fn auth_record(
        conn: &mut DbConnection,
        client_id: &str,
        now: NaiveDateTime,
        month: &str,
    ) -> Result<Option<AuthRecord>, StorageError> {
        type Row = (Credential, String, String, Option<String>, Option<i64>);
        // `load`, not `first`: client_id is unique, and the `LIMIT ?` that `first` binds made
        // SQLite re-prepare the cached statement on every call (11% of the endpoint's CPU).
        let row = on_backend!(conn, c => credentials::table
            .inner_join(accounts::table)
            .left_join(workspaces::table)
            .left_join(
                account_usage::table.on(account_usage::account_id
                    .eq(credentials::account_id)
                    .and(account_usage::month.eq(month))),
            )
            .filter(credentials::client_id.eq(client_id))
            .select((
                Self::as_select(),
                accounts::status,
                accounts::plan,
                workspaces::status.nullable(),
                account_usage::tokens_issued.nullable(),
            ))
            .load::<Row>(c))?
        .into_iter()
        .next();
        let Some((credential, account_status, account_plan, workspace_status, tokens)) = row else {
            return Ok(None);
        };
        let secrets = CredentialSecret::live(conn, &credential.id, now)?;
        Ok(Some(AuthRecord {
            credential,
            account_status,
            account_plan,
            account_tokens_this_month: tokens.unwrap_or(0),
            workspace_status,
            secrets,
        }))
    }

    /// A page of credentials in creation order after `cursor`.
    pub fn page(
        conn: &mut DbConnection,
        filter: &CredentialFilter,
        now: NaiveDateTime,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Self>, StorageError> {
        use crate::domain::credential::CredentialStatus;
        let mut query = credentials::table
            .select(Self::as_select())
            .order(credentials::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(account) = &filter.account_id {
            query = query.filter(credentials::account_id.eq(account.clone()));
        }
        if let Some(workspace) = &filter.workspace_id {
            query = query.filter(credentials::workspace_id.eq(workspace.clone()));
        }
        query = match filter.status {
            None => query,
            Some(CredentialStatus::Deactivated) => {
                query.filter(credentials::deactivated_at.is_not_null())
            }
            Some(CredentialStatus::Expired) => query
                .filter(credentials::deactivated_at.is_null())
                .filter(credentials::expires_at.le(now)),
            Some(CredentialStatus::Active) => {
                query.filter(credentials::deactivated_at.is_null()).filter(
                    credentials::expires_at
                        .is_null()
                        .or(credentials::expires_at.gt(now)),
                )
            }
        };
        if let Some(after) = cursor {
            query = query.filter(credentials::id.gt(after.to_owned()));
        }
        Ok(query.load(conn)?)
    }

    /// How many credentials of `account_id` are active at `now`.
    pub fn count_active(
        conn: &mut DbConnection,
        account_id: &str,
        now: NaiveDateTime,
    ) -> Result<i64, StorageError> {
        Ok(credentials::table
            .filter(credentials::account_id.eq(account_id))
            .filter(credentials::deactivated_at.is_null())
            .filter(
                credentials::expires_at
                    .is_null()
                    .or(credentials::expires_at.gt(now)),
            )
            .count()
            .get_result(conn)?)
    }
}

impl CredentialSecret {
    /// Inserts the secret row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        diesel::insert_into(credential_secrets::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The secrets of `credential_id` that still work at `now`: the current one (no
    /// `expires_at`) first, then those in a grace period, latest-ending first.
    ///
    /// Not by id: ids are made before a rotation waits for the row lock, and on another replica
    /// with another clock, so id order need not be commit order. Rotation keeps the first secret
    /// in grace and cuts the rest, and the token endpoint verifies the first two; both must see
    /// the secret of the last committed rotation first.
    pub fn live(
        conn: &mut DbConnection,
        credential_id: &str,
        now: NaiveDateTime,
    ) -> Result<Vec<Self>, StorageError> {
        Ok(on_backend!(conn, c => credential_secrets::table
            .filter(credential_secrets::credential_id.eq(credential_id))
            .filter(
                credential_secrets::expires_at
                    .is_null()
                    .or(credential_secrets::expires_at.gt(now)),
            )
            .select(Self::as_select())
            .order((
                credential_secrets::expires_at.is_not_null(),
                credential_secrets::expires_at.desc(),
                credential_secrets::id.desc(),
            ))
            .load(c))?)
    }
}

/// Last-used updates; each only moves the time forward.
pub mod record_usage {
    use super::*;

    /// Sets the credential's last use if `at` is later than the stored one.
    pub fn credential(
        conn: &mut DbConnection,
        id: &str,
        at: NaiveDateTime,
        ip: Option<&str>,
    ) -> Result<(), StorageError> {
        diesel::update(
            credentials::table.find(id).filter(
                credentials::last_used_at
                    .is_null()
                    .or(credentials::last_used_at.lt(at)),
            ),
        )
        .set((
            credentials::last_used_at.eq(Some(at)),
            credentials::last_used_ip.eq(ip),
        ))
        .execute(conn)?;
        Ok(())
    }

    /// Sets the secret's last use if `at` is later than the stored one.
    pub fn secret(
        conn: &mut DbConnection,
        id: &str,
        at: NaiveDateTime,
    ) -> Result<(), StorageError> {
        diesel::update(
            credential_secrets::table.find(id).filter(
                credential_secrets::last_used_at
                    .is_null()
                    .or(credential_secrets::last_used_at.lt(at)),
            ),
        )
        .set(credential_secrets::last_used_at.eq(Some(at)))
        .execute(conn)?;
        Ok(())
    }
}

/// Sets the given fields of a credential and returns it.
pub fn update_fields(
    conn: &mut DbConnection,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    role: Option<&str>,
) -> Result<Credential, StorageError> {
    if let Some(v) = name {
        diesel::update(credentials::table.find(id))
            .set(credentials::name.eq(v))
            .execute(conn)?;
    }
    if let Some(v) = description {
        diesel::update(credentials::table.find(id))
            .set(credentials::description.eq(Some(v)))
            .execute(conn)?;
    }
    if let Some(v) = role {
        diesel::update(credentials::table.find(id))
            .set(credentials::role.eq(v))
            .execute(conn)?;
    }
    Credential::find(conn, id)
}

/// Sets when a secret stops working.
pub fn expire_secret(
    conn: &mut DbConnection,
    secret_id: &str,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::update(credential_secrets::table.find(secret_id))
        .set(credential_secrets::expires_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// Records a rotation.
pub fn mark_rotated(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::update(credentials::table.find(id))
        .set(credentials::rotated_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// Deactivates a credential (its tokens are revoked by the caller, through the feed's log).
pub fn mark_deactivated(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::update(credentials::table.find(id))
        .set(credentials::deactivated_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}
