//! Workspaces.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::workspaces;
use super::{DbConnection, StorageError};

/// A workspace row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workspaces)]
pub struct Workspace {
    /// Row id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Display name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// When the current suspension began.
    pub suspended_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// Changes to a workspace; `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceChanges {
    /// New name.
    pub name: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// Suspension time (`Some(None)` clears it).
    pub suspended_at: Option<Option<NaiveDateTime>>,
    /// Always set.
    pub updated_at: Option<NaiveDateTime>,
}

impl Workspace {
    /// Inserts the row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        diesel::insert_into(workspaces::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The workspace with `id`.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        Ok(workspaces::table
            .find(id)
            .select(Self::as_select())
            .first(conn)?)
    }

    /// Like [`Self::find`], but on PostgreSQL locks the row until the transaction ends, so a
    /// status change and its feed entry serialize. SQLite's write transaction already does.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        match conn {
            DbConnection::Postgres(pg) => Ok(workspaces::table
                .find(id)
                .select(Self::as_select())
                .for_update()
                .first(pg)?),
            DbConnection::Sqlite(_) => Self::find(conn, id),
        }
    }

    /// A page of an account's workspaces in creation order after `cursor`.
    pub fn page(
        conn: &mut DbConnection,
        account_id: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Self>, StorageError> {
        let mut query = workspaces::table
            .filter(workspaces::account_id.eq(account_id.to_owned()))
            .select(Self::as_select())
            .order(workspaces::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = cursor {
            query = query.filter(workspaces::id.gt(after.to_owned()));
        }
        Ok(query.load(conn)?)
    }

    /// Applies `changes` and returns the updated row.
    pub fn update(
        conn: &mut DbConnection,
        id: &str,
        changes: &WorkspaceChanges,
    ) -> Result<Self, StorageError> {
        diesel::update(workspaces::table.find(id))
            .set(changes)
            .execute(conn)?;
        Self::find(conn, id)
    }
}
