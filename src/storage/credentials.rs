//! Credentials and their secrets.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::credential_keys::CredentialKey;
use super::schema::{account_usage, accounts, credential_secrets, credentials, workspaces};
use super::trust_rules::StoredTrustRule;
use super::{from_db, to_db, DbConnection, StorageError};
use crate::domain::credential::{AuthMethod, CredentialKind, CredentialStatus, TenantStatus};
use crate::domain::scope::Scopes;

/// A credential. Its secrets are [`CredentialSecret`]s, its public keys [`CredentialKey`]s.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Row id.
    pub id: String,
    /// Public client id.
    pub client_id: String,
    /// Account or workspace key.
    pub kind: CredentialKind,
    /// How its client authenticates.
    pub auth_method: AuthMethod,
    /// Owning account.
    pub account_id: String,
    /// Workspace (workspace keys).
    pub workspace_id: Option<String>,
    /// Role.
    pub role: String,
    /// Scopes it may request.
    pub scopes: Scopes,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Bound audience.
    pub audience: String,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Actor who created it.
    pub created_by: String,
    /// Last rotation.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Deactivation.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Its latest revocation event: tokens issued up to then are revoked.
    pub tokens_revoked_before: Option<DateTime<Utc>>,
    /// Last successful token request (flushed periodically).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Its source IP.
    pub last_used_ip: Option<String>,
}

impl Credential {
    /// Its status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> CredentialStatus {
        CredentialStatus::derive(self.deactivated_at, self.expires_at, now)
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
struct Row {
    id: String,
    client_id: String,
    kind: String,
    account_id: String,
    workspace_id: Option<String>,
    role: String,
    scopes: String,
    name: String,
    description: Option<String>,
    audience: String,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    created_by: String,
    rotated_at: Option<NaiveDateTime>,
    deactivated_at: Option<NaiveDateTime>,
    tokens_revoked_before: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    last_used_ip: Option<String>,
    auth_method: String,
}

impl TryFrom<Row> for Credential {
    type Error = StorageError;

    fn try_from(row: Row) -> Result<Self, StorageError> {
        Ok(Self {
            kind: CredentialKind::parse(&row.kind)
                .ok_or_else(|| StorageError::corrupt("credentials.kind", &row.kind))?,
            auth_method: AuthMethod::parse(&row.auth_method).ok_or_else(|| {
                StorageError::corrupt("credentials.auth_method", &row.auth_method)
            })?,
            scopes: Scopes::from_stored(&row.scopes),
            id: row.id,
            client_id: row.client_id,
            account_id: row.account_id,
            workspace_id: row.workspace_id,
            role: row.role,
            name: row.name,
            description: row.description,
            audience: row.audience,
            expires_at: row.expires_at.map(from_db),
            created_at: from_db(row.created_at),
            created_by: row.created_by,
            rotated_at: row.rotated_at.map(from_db),
            deactivated_at: row.deactivated_at.map(from_db),
            tokens_revoked_before: row.tokens_revoked_before.map(from_db),
            last_used_at: row.last_used_at.map(from_db),
            last_used_ip: row.last_used_ip,
        })
    }
}

impl From<&Credential> for Row {
    fn from(c: &Credential) -> Self {
        Self {
            id: c.id.clone(),
            client_id: c.client_id.clone(),
            kind: c.kind.as_str().to_owned(),
            account_id: c.account_id.clone(),
            workspace_id: c.workspace_id.clone(),
            role: c.role.clone(),
            scopes: c.scopes.to_string(),
            name: c.name.clone(),
            description: c.description.clone(),
            audience: c.audience.clone(),
            expires_at: c.expires_at.map(to_db),
            created_at: to_db(c.created_at),
            created_by: c.created_by.clone(),
            rotated_at: c.rotated_at.map(to_db),
            deactivated_at: c.deactivated_at.map(to_db),
            tokens_revoked_before: c.tokens_revoked_before.map(to_db),
            last_used_at: c.last_used_at.map(to_db),
            last_used_ip: c.last_used_ip.clone(),
            auth_method: c.auth_method.as_str().to_owned(),
        }
    }
}

/// One secret of a credential: its argon2id hash, never the plaintext.
#[derive(Debug, Clone)]
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
    pub created_at: DateTime<Utc>,
    /// End of a rotation grace period; `None` while current.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = credential_secrets)]
struct SecretRow {
    id: String,
    credential_id: String,
    secret_hash: String,
    last4: String,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
}

impl From<SecretRow> for CredentialSecret {
    fn from(row: SecretRow) -> Self {
        Self {
            id: row.id,
            credential_id: row.credential_id,
            secret_hash: row.secret_hash,
            last4: row.last4,
            created_at: from_db(row.created_at),
            expires_at: row.expires_at.map(from_db),
            last_used_at: row.last_used_at.map(from_db),
        }
    }
}

/// Everything the token endpoint needs about a client, read in one go.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    /// The credential.
    pub credential: Credential,
    /// Its account's status.
    pub account_status: TenantStatus,
    /// Its account's plan.
    pub account_plan: String,
    /// Tokens its account was counted for this month, as flushed so far.
    pub account_tokens_this_month: i64,
    /// Its workspace's status (workspace keys).
    pub workspace_status: Option<TenantStatus>,
    /// Secrets that have not expired at the time asked, newest first (`client_secret`
    /// credentials).
    pub secrets: Vec<CredentialSecret>,
    /// Registered public keys (`private_key_jwt` credentials).
    pub keys: Vec<CredentialKey>,
    /// Trust rules, in order (`federated` credentials).
    pub trust_rules: Vec<StoredTrustRule>,
}

/// Filters of the credential list.
#[derive(Debug, Default, Clone)]
pub struct CredentialFilter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this workspace.
    pub workspace_id: Option<String>,
    /// `active`, `expired` or `deactivated`.
    pub status: Option<CredentialStatus>,
}

/// A row of [`auth_rows!`]: the credential, its account's status and plan, its workspace's
/// status, the account's count for the month, and one live secret.
type AuthRow = (
    Row,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<SecretRow>,
);

/// The statement behind [`Credential::auth_record`]: the credentials that `$filter` selects, each
/// with its tenants' status, the month's count and its live secrets, one row per secret (one row
/// with no secret when it has none), a credential's rows together and its secrets in
/// [`live_secrets_first`] order. One statement, because on PostgreSQL each is a round trip. It
/// is `load`ed, never `first`: the `LIMIT ?` that `first` binds made SQLite re-prepare the cached
/// statement on every call.
macro_rules! auth_rows {
    ($conn:expr, $filter:expr, $db_now:expr, $month:expr) => {{
        let (at, first) = (live_secrets_first(), credentials::id);
        credentials::table
            .inner_join(accounts::table)
            .left_join(workspaces::table)
            .left_join(
                credential_secrets::table.on(credential_secrets::credential_id
                    .eq(credentials::id)
                    .and(
                        credential_secrets::expires_at
                            .is_null()
                            .or(credential_secrets::expires_at.gt($db_now)),
                    )),
            )
            // Last: a join after one whose `on` borrows `month` would need it to be 'static.
            .left_join(
                account_usage::table.on(account_usage::account_id
                    .eq(credentials::account_id)
                    .and(account_usage::month.eq($month))),
            )
            .filter($filter)
            .select((
                Row::as_select(),
                accounts::status,
                accounts::plan,
                workspaces::status.nullable(),
                account_usage::tokens_issued.nullable(),
                <Option<SecretRow>>::as_select(),
            ))
            .order((first, at.0, at.1, at.2))
            .load::<AuthRow>($conn)
    }};
}

/// Turns [`auth_rows!`] rows into records, reading the keys or trust rules of credentials that
/// use them (a secret credential's record costs no further statement).
fn assemble(conn: &mut DbConnection, rows: Vec<AuthRow>) -> Result<Vec<AuthRecord>, StorageError> {
    let status =
        |s: String| TenantStatus::parse(&s).ok_or_else(|| StorageError::corrupt("status", &s));
    let mut records: Vec<AuthRecord> = Vec::new();
    for (credential, account_status, account_plan, workspace_status, tokens, secret) in rows {
        if let Some(last) = records
            .last_mut()
            .filter(|r| r.credential.id == credential.id)
        {
            last.secrets.extend(secret.map(CredentialSecret::from));
            continue;
        }
        let credential = Credential::try_from(credential)?;
        let (mut secrets, mut keys, mut trust_rules) = (vec![], vec![], vec![]);
        match credential.auth_method {
            AuthMethod::ClientSecret => secrets.extend(secret.map(CredentialSecret::from)),
            AuthMethod::PrivateKeyJwt => keys = CredentialKey::of(conn, &credential.id)?,
            AuthMethod::Federated => trust_rules = StoredTrustRule::of(conn, &credential.id)?,
        }
        records.push(AuthRecord {
            credential,
            account_status: status(account_status)?,
            account_plan,
            account_tokens_this_month: tokens.unwrap_or(0),
            workspace_status: workspace_status.map(status).transpose()?,
            secrets,
            keys,
            trust_rules,
        });
    }
    Ok(records)
}

impl Credential {
    /// Inserts the credential; its secret or keys are inserted by the caller, in the same
    /// transaction.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        diesel::insert_into(credentials::table)
            .values(Row::from(self))
            .execute(conn)?;
        Ok(())
    }

    /// The credential with `id`.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        credentials::table
            .find(id)
            .select(Row::as_select())
            .first(conn)?
            .try_into()
    }

    /// Like [`Self::find`], holding the row lock on PostgreSQL until the transaction ends, so
    /// concurrent rotations of one credential run one after the other.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        match conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(pg) => credentials::table
                .find(id)
                .select(Row::as_select())
                .for_update()
                .first(pg)?
                .try_into(),
            DbConnection::Sqlite(_) => Self::find(conn, id),
        }
    }

    /// The authentication record of `client_id`, with what authenticates it (the secrets still
    /// valid at `now`, or its public keys) and its account's token count for `month`
    /// (`YYYY-MM`).
    pub fn auth_record(
        conn: &mut DbConnection,
        client_id: &str,
        now: DateTime<Utc>,
        month: &str,
    ) -> Result<Option<AuthRecord>, StorageError> {
        let db_now = to_db(now);
        let rows = on_backend!(conn, c => auth_rows!(
            c,
            credentials::client_id.eq(client_id),
            db_now,
            month
        ))?;
        Ok(assemble(conn, rows)?.pop())
    }

    /// [`Self::auth_record`] of each of `client_ids` that exists, in one statement on
    /// PostgreSQL (`client_id = ANY($1)`); SQLite, where a statement is no round trip, reads
    /// them one by one with the statement it has prepared, as both do for a single id.
    pub fn auth_records(
        conn: &mut DbConnection,
        client_ids: &[String],
        now: DateTime<Utc>,
        month: &str,
    ) -> Result<Vec<AuthRecord>, StorageError> {
        if let [id] = client_ids {
            return Ok(Self::auth_record(conn, id, now, month)?
                .into_iter()
                .collect());
        }
        match conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(pg) => {
                let rows = auth_rows!(
                    pg,
                    credentials::client_id.eq_any(client_ids),
                    to_db(now),
                    month
                )?;
                assemble(conn, rows)
            }
            DbConnection::Sqlite(_) => {
                let mut records = Vec::with_capacity(client_ids.len());
                for id in client_ids {
                    records.extend(Self::auth_record(conn, id, now, month)?);
                }
                Ok(records)
            }
        }
    }

    /// A page of credentials in creation order after `cursor`.
    pub fn page(
        conn: &mut DbConnection,
        filter: &CredentialFilter,
        now: DateTime<Utc>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Self>, StorageError> {
        let now = to_db(now);
        let mut query = credentials::table
            .select(Row::as_select())
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
        query.load(conn)?.into_iter().map(Self::try_from).collect()
    }

    /// How many credentials of `account_id` are active at `now`.
    pub fn count_active(
        conn: &mut DbConnection,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        let now = to_db(now);
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
        let row = SecretRow {
            id: self.id.clone(),
            credential_id: self.credential_id.clone(),
            secret_hash: self.secret_hash.clone(),
            last4: self.last4.clone(),
            created_at: to_db(self.created_at),
            expires_at: self.expires_at.map(to_db),
            last_used_at: self.last_used_at.map(to_db),
        };
        diesel::insert_into(credential_secrets::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// The secrets of `credential_id` that still work at `now`, in [`live_secrets_first`] order.
    pub fn live(
        conn: &mut DbConnection,
        credential_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Self>, StorageError> {
        let now = to_db(now);
        let rows = on_backend!(conn, c => credential_secrets::table
            .filter(credential_secrets::credential_id.eq(credential_id))
            .filter(
                credential_secrets::expires_at
                    .is_null()
                    .or(credential_secrets::expires_at.gt(now)),
            )
            .select(SecretRow::as_select())
            .order(live_secrets_first())
            .load(c))?;
        Ok(rows.into_iter().map(CredentialSecret::from).collect())
    }
}

/// The order of live secrets: the current one (no `expires_at`) first, then those in a grace
/// period, latest-ending first.
///
/// Not by id: ids are made before a rotation waits for the row lock, and on another replica with
/// another clock, so id order need not be commit order. Rotation keeps the first secret in grace
/// and cuts the rest, and the token endpoint verifies the first two; both must see the secret of
/// the last committed rotation first.
fn live_secrets_first() -> (
    diesel::dsl::IsNotNull<credential_secrets::expires_at>,
    diesel::dsl::Desc<credential_secrets::expires_at>,
    diesel::dsl::Desc<credential_secrets::id>,
) {
    (
        credential_secrets::expires_at.is_not_null(),
        credential_secrets::expires_at.desc(),
        credential_secrets::id.desc(),
    )
}

/// Last-used updates; each only moves the time forward.
pub mod record_usage {
    use super::*;

    /// Sets the credential's last use if `at` is later than the stored one.
    pub fn credential(
        conn: &mut DbConnection,
        id: &str,
        at: DateTime<Utc>,
        ip: Option<&str>,
    ) -> Result<(), StorageError> {
        let at = to_db(at);
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
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        move_last_used!(conn, credential_secrets, id, at)
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
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    diesel::update(credential_secrets::table.find(secret_id))
        .set(credential_secrets::expires_at.eq(Some(to_db(at))))
        .execute(conn)?;
    Ok(())
}

/// Records a rotation.
pub fn mark_rotated(
    conn: &mut DbConnection,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    diesel::update(credentials::table.find(id))
        .set(credentials::rotated_at.eq(Some(to_db(at))))
        .execute(conn)?;
    Ok(())
}

/// Deactivates a credential (its tokens are revoked by the caller, through the feed's log).
pub fn mark_deactivated(
    conn: &mut DbConnection,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    diesel::update(credentials::table.find(id))
        .set(credentials::deactivated_at.eq(Some(to_db(at))))
        .execute(conn)?;
    Ok(())
}
