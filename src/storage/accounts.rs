//! Accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::accounts;
use super::{DbConnection, StorageError};

/// An account row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    /// Row id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Plan name (a key of `[plans]`).
    pub plan: String,
    /// `active` or `suspended`.
    pub status: String,
    /// When the current suspension began.
    pub suspended_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// Changes to an account; `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = accounts)]
pub struct AccountChanges {
    /// New name.
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// Suspension time (`Some(None)` clears it).
    pub suspended_at: Option<Option<NaiveDateTime>>,
    /// Always set.
    pub updated_at: Option<NaiveDateTime>,
}

impl Account {
    /// Inserts the row.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        diesel::insert_into(accounts::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// The account with `id`.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        Ok(accounts::table
            .find(id)
            .select(Self::as_select())
            .first(conn)?)
    }

    /// Like [`Self::find`], but on PostgreSQL locks the row until the transaction ends, so checks
    /// that span the account (plan limits) serialize. SQLite's write transaction already does.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        match conn {
            DbConnection::Postgres(pg) => Ok(accounts::table
                .find(id)
                .select(Self::as_select())
                .for_update()
                .first(pg)?),
            DbConnection::Sqlite(_) => Self::find(conn, id),
        }
    }

    /// A page of accounts in creation order after `cursor`, limited to `only` when given.
    pub fn page(
        conn: &mut DbConnection,
        only: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Self>, StorageError> {
        let mut query = accounts::table
            .select(Self::as_select())
            .order(accounts::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(id) = only {
            query = query.filter(accounts::id.eq(id.to_owned()));
        }
        if let Some(after) = cursor {
            query = query.filter(accounts::id.gt(after.to_owned()));
        }
        Ok(query.load(conn)?)
    }

    /// Applies `changes` and returns the updated row.
    pub fn update(
        conn: &mut DbConnection,
        id: &str,
        changes: &AccountChanges,
    ) -> Result<Self, StorageError> {
        diesel::update(accounts::table.find(id))
            .set(changes)
            .execute(conn)?;
        Self::find(conn, id)
    }
}
