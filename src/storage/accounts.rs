//! Accounts.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::accounts;
use super::{from_db, to_db, DbConnection, StorageError};
use crate::domain::credential::TenantStatus;

/// An account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Row id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Plan name (a key of `[plans]`).
    pub plan: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// When the current suspension began.
    pub suspended_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
struct Row {
    id: String,
    name: String,
    plan: String,
    status: String,
    suspended_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<Row> for Account {
    type Error = StorageError;

    fn try_from(row: Row) -> Result<Self, StorageError> {
        Ok(Self {
            status: TenantStatus::parse(&row.status)
                .ok_or_else(|| StorageError::corrupt("accounts.status", &row.status))?,
            id: row.id,
            name: row.name,
            plan: row.plan,
            suspended_at: row.suspended_at.map(from_db),
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

/// Changes to an account; `None` leaves a column alone.
#[derive(Debug, Default)]
pub struct AccountChanges {
    /// New name.
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<String>,
    /// New status, and the suspension time that goes with it.
    pub status: Option<(TenantStatus, Option<DateTime<Utc>>)>,
}

#[derive(AsChangeset)]
#[diesel(table_name = accounts)]
struct ChangeRow {
    name: Option<String>,
    plan: Option<String>,
    status: Option<String>,
    suspended_at: Option<Option<NaiveDateTime>>,
    updated_at: NaiveDateTime,
}

impl Account {
    /// Inserts the account.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        let row = Row {
            id: self.id.clone(),
            name: self.name.clone(),
            plan: self.plan.clone(),
            status: self.status.as_str().to_owned(),
            suspended_at: self.suspended_at.map(to_db),
            created_at: to_db(self.created_at),
            updated_at: to_db(self.updated_at),
        };
        diesel::insert_into(accounts::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// The account with `id`.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        accounts::table
            .find(id)
            .select(Row::as_select())
            .first(conn)?
            .try_into()
    }

    /// Like [`Self::find`], but on PostgreSQL locks the row until the transaction ends, so checks
    /// that span the account (plan limits, status changes) serialize. SQLite's write transaction
    /// already does.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        match conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(pg) => accounts::table
                .find(id)
                .select(Row::as_select())
                .for_update()
                .first(pg)?
                .try_into(),
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
            .select(Row::as_select())
            .order(accounts::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(id) = only {
            query = query.filter(accounts::id.eq(id.to_owned()));
        }
        if let Some(after) = cursor {
            query = query.filter(accounts::id.gt(after.to_owned()));
        }
        query.load(conn)?.into_iter().map(Self::try_from).collect()
    }

    /// Applies `changes` at `now` and returns the account as it is then.
    pub fn update(
        conn: &mut DbConnection,
        id: &str,
        changes: &AccountChanges,
        now: DateTime<Utc>,
    ) -> Result<Self, StorageError> {
        let (status, suspended_at) = match changes.status {
            Some((status, at)) => (Some(status.as_str().to_owned()), Some(at.map(to_db))),
            None => (None, None),
        };
        diesel::update(accounts::table.find(id))
            .set(ChangeRow {
                name: changes.name.clone(),
                plan: changes.plan.clone(),
                status,
                suspended_at,
                updated_at: to_db(now),
            })
            .execute(conn)?;
        Self::find(conn, id)
    }
}
