//! The public keys of `private_key_jwt` credentials.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::credential_keys;
use super::{from_db, to_db, DbConnection, StorageError};

/// One registered public key: its JWK as JSON (public members only, checked before it was
/// stored), never a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialKey {
    /// Row id.
    pub id: String,
    /// Owning credential.
    pub credential_id: String,
    /// Its place in the JWK Set as submitted, from 0.
    pub position: i32,
    /// Its key id, unique within the credential.
    pub kid: String,
    /// The public JWK, as JSON.
    pub jwk: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Last successful client assertion signed with it (flushed periodically).
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = credential_keys)]
struct Row {
    id: String,
    credential_id: String,
    position: i32,
    kid: String,
    jwk: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

impl From<Row> for CredentialKey {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            credential_id: row.credential_id,
            position: row.position,
            kid: row.kid,
            jwk: row.jwk,
            created_at: from_db(row.created_at),
            last_used_at: row.last_used_at.map(from_db),
        }
    }
}

impl From<&CredentialKey> for Row {
    fn from(k: &CredentialKey) -> Self {
        Self {
            id: k.id.clone(),
            credential_id: k.credential_id.clone(),
            position: k.position,
            kid: k.kid.clone(),
            jwk: k.jwk.clone(),
            created_at: to_db(k.created_at),
            last_used_at: k.last_used_at.map(to_db),
        }
    }
}

impl CredentialKey {
    /// The keys of `credential_id`, in their JWK Set's order. On the backend's own connection:
    /// the token endpoint reads them for every `private_key_jwt` request.
    pub fn of(conn: &mut DbConnection, credential_id: &str) -> Result<Vec<Self>, StorageError> {
        let rows = on_backend!(conn, c => credential_keys::table
            .filter(credential_keys::credential_id.eq(credential_id))
            .select(Row::as_select())
            .order(credential_keys::position.asc())
            .load(c))?;
        Ok(rows.into_iter().map(Self::from).collect())
    }

    /// Inserts `keys`, one statement each (at most 20; diesel has no multi-row insert that
    /// works on both backends through one connection type).
    pub fn insert_all(conn: &mut DbConnection, keys: &[Self]) -> Result<(), StorageError> {
        for key in keys {
            diesel::insert_into(credential_keys::table)
                .values(Row::from(key))
                .execute(conn)?;
        }
        Ok(())
    }

    /// Makes `keys` the whole set of `credential_id`: the rows not among them go, the rest are
    /// written as given (a key kept by id keeps what the caller copied into it). Call it in the
    /// transaction that locked the credential, so no reader sees half a set.
    pub fn replace_all(
        conn: &mut DbConnection,
        credential_id: &str,
        keys: &[Self],
    ) -> Result<(), StorageError> {
        diesel::delete(
            credential_keys::table.filter(credential_keys::credential_id.eq(credential_id)),
        )
        .execute(conn)?;
        Self::insert_all(conn, keys)
    }

    /// Sets the key's last use if `at` is later than the stored one. A key replaced since has
    /// no row, and nothing is written.
    pub fn record_usage(
        conn: &mut DbConnection,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        move_last_used!(conn, credential_keys, id, at)
    }
}
