//! Workspaces.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::workspaces;
use super::{from_db, to_db, DbConnection, StorageError};
use crate::domain::credential::TenantStatus;

/// A workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Row id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Display name.
    pub name: String,
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
#[diesel(table_name = workspaces)]
struct Row {
    id: String,
    account_id: String,
    name: String,
    status: String,
    suspended_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<Row> for Workspace {
    type Error = StorageError;

    fn try_from(row: Row) -> Result<Self, StorageError> {
        Ok(Self {
            status: TenantStatus::parse(&row.status)
                .ok_or_else(|| StorageError::corrupt("workspaces.status", &row.status))?,
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            suspended_at: row.suspended_at.map(from_db),
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

/// Changes to a workspace; `None` leaves a column alone.
#[derive(Debug, Default)]
pub struct WorkspaceChanges {
    /// New name.
    pub name: Option<String>,
    /// New status, and the suspension time that goes with it.
    pub status: Option<(TenantStatus, Option<DateTime<Utc>>)>,
}

#[derive(AsChangeset)]
#[diesel(table_name = workspaces)]
struct ChangeRow {
    name: Option<String>,
    status: Option<String>,
    suspended_at: Option<Option<NaiveDateTime>>,
    updated_at: NaiveDateTime,
}

impl Workspace {
    /// Inserts the workspace.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        let row = Row {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            name: self.name.clone(),
            status: self.status.as_str().to_owned(),
            suspended_at: self.suspended_at.map(to_db),
            created_at: to_db(self.created_at),
            updated_at: to_db(self.updated_at),
        };
        diesel::insert_into(workspaces::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// The workspace with `id`.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        workspaces::table
            .find(id)
            .select(Row::as_select())
            .first(conn)?
            .try_into()
    }

    /// Like [`Self::find`], but on PostgreSQL locks the row until the transaction ends, so a
    /// status change and its feed entry serialize. SQLite's write transaction already does.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> Result<Self, StorageError> {
        match conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(pg) => workspaces::table
                .find(id)
                .select(Row::as_select())
                .for_update()
                .first(pg)?
                .try_into(),
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
            .select(Row::as_select())
            .order(workspaces::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = cursor {
            query = query.filter(workspaces::id.gt(after.to_owned()));
        }
        query.load(conn)?.into_iter().map(Self::try_from).collect()
    }

    /// Applies `changes` at `now` and returns the workspace as it is then.
    pub fn update(
        conn: &mut DbConnection,
        id: &str,
        changes: &WorkspaceChanges,
        now: DateTime<Utc>,
    ) -> Result<Self, StorageError> {
        let (status, suspended_at) = match changes.status {
            Some((status, at)) => (Some(status.as_str().to_owned()), Some(at.map(to_db))),
            None => (None, None),
        };
        diesel::update(workspaces::table.find(id))
            .set(ChangeRow {
                name: changes.name.clone(),
                status,
                suspended_at,
                updated_at: to_db(now),
            })
            .execute(conn)?;
        Self::find(conn, id)
    }
}
