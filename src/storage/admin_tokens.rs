//! Admin API tokens, stored as SHA-256 digests.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::admin_tokens;
use super::{from_db, to_db, DbConnection, StorageError};

/// An admin token, as stored: its digest, never the token.
#[derive(Debug, Clone)]
pub struct StoredAdminToken {
    /// Row id.
    pub id: String,
    /// Unique among live tokens; the default actor of its audit events.
    pub name: String,
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// Account it is limited to, if any.
    pub account_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_tokens)]
struct Row {
    id: String,
    name: String,
    token_hash: String,
    account_id: Option<String>,
    created_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
}

impl From<Row> for StoredAdminToken {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            name: row.name,
            token_hash: row.token_hash,
            account_id: row.account_id,
            created_at: from_db(row.created_at),
            revoked_at: row.revoked_at.map(from_db),
        }
    }
}

impl StoredAdminToken {
    /// Inserts the token; a live token with the same name is a conflict.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        let row = Row {
            id: self.id.clone(),
            name: self.name.clone(),
            token_hash: self.token_hash.clone(),
            account_id: self.account_id.clone(),
            created_at: to_db(self.created_at),
            revoked_at: self.revoked_at.map(to_db),
        };
        diesel::insert_into(admin_tokens::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// The live token with this digest.
    pub fn find_live_by_hash(
        conn: &mut DbConnection,
        token_hash: &str,
    ) -> Result<Option<Self>, StorageError> {
        Ok(admin_tokens::table
            .filter(admin_tokens::token_hash.eq(token_hash))
            .filter(admin_tokens::revoked_at.is_null())
            .select(Row::as_select())
            .first(conn)
            .optional()?
            .map(Self::from))
    }

    /// Every token, oldest first.
    pub fn all(conn: &mut DbConnection) -> Result<Vec<Self>, StorageError> {
        Ok(admin_tokens::table
            .select(Row::as_select())
            .order(admin_tokens::id.asc())
            .load(conn)?
            .into_iter()
            .map(Self::from)
            .collect())
    }

    /// Revokes the live token called `name`; `NotFound` if there is none.
    pub fn revoke(
        conn: &mut DbConnection,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Self, StorageError> {
        let row: Self = admin_tokens::table
            .filter(admin_tokens::name.eq(name))
            .filter(admin_tokens::revoked_at.is_null())
            .select(Row::as_select())
            .first(conn)?
            .into();
        diesel::update(admin_tokens::table.find(&row.id))
            .set(admin_tokens::revoked_at.eq(Some(to_db(at))))
            .execute(conn)?;
        Ok(Self {
            revoked_at: Some(at),
            ..row
        })
    }
}
