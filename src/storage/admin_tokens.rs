//! Admin API tokens, stored as SHA-256 digests.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::admin_tokens;
use super::{DbConnection, StorageError};

/// An admin token row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_tokens)]
pub struct AdminTokenRow {
    /// Row id.
    pub id: String,
    /// Unique among live tokens; the default actor of its audit events.
    pub name: String,
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// Account it is limited to, if any.
    pub account_id: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Revocation time.
    pub revoked_at: Option<NaiveDateTime>,
}

impl AdminTokenRow {
    /// Inserts the row; a live token with the same name is a conflict.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        diesel::insert_into(admin_tokens::table)
            .values(self)
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
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Every token, oldest first.
    pub fn all(conn: &mut DbConnection) -> Result<Vec<Self>, StorageError> {
        Ok(admin_tokens::table
            .select(Self::as_select())
            .order(admin_tokens::id.asc())
            .load(conn)?)
    }

    /// Revokes the live token called `name`; `NotFound` if there is none.
    pub fn revoke(
        conn: &mut DbConnection,
        name: &str,
        at: NaiveDateTime,
    ) -> Result<Self, StorageError> {
        let row: Self = admin_tokens::table
            .filter(admin_tokens::name.eq(name))
            .filter(admin_tokens::revoked_at.is_null())
            .select(Self::as_select())
            .first(conn)?;
        diesel::update(admin_tokens::table.find(&row.id))
            .set(admin_tokens::revoked_at.eq(Some(at)))
            .execute(conn)?;
        Ok(Self {
            revoked_at: Some(at),
            ..row
        })
    }
}
