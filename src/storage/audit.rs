//! The audit log. Events are written in the same transaction as the change they record.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::audit_events;
use super::{from_db, to_db, DbConnection, StorageError};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct Row {
    id: String,
    at: NaiveDateTime,
    actor: String,
    actor_ip: Option<String>,
    action: String,
    account_id: Option<String>,
    workspace_id: Option<String>,
    credential_id: Option<String>,
    details: String,
    admin_token: Option<String>,
}

/// An audit event. `details` is a small JSON object that never holds a secret or a hash.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Row id (UUIDv7: newest sorts last).
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `X-Actor`, else the admin token's name (or the client, for an event a client caused).
    pub actor: String,
    /// From where.
    pub actor_ip: Option<String>,
    /// e.g. `credential.created`.
    pub action: String,
    /// Target account.
    pub account_id: Option<String>,
    /// Target workspace.
    pub workspace_id: Option<String>,
    /// Target credential.
    pub credential_id: Option<String>,
    /// JSON object text.
    pub details: String,
    /// The name of the admin token that authenticated the change; `None` for a change a client
    /// caused, and for events recorded before this was kept.
    pub admin_token: Option<String>,
}

/// Filters of the audit list.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Only events of this account.
    pub account_id: Option<String>,
    /// Only events of this credential.
    pub credential_id: Option<String>,
}

impl AuditEvent {
    /// Appends the event.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        let row = Row {
            id: self.id.clone(),
            at: to_db(self.at),
            actor: self.actor.clone(),
            actor_ip: self.actor_ip.clone(),
            action: self.action.clone(),
            account_id: self.account_id.clone(),
            workspace_id: self.workspace_id.clone(),
            credential_id: self.credential_id.clone(),
            details: self.details.clone(),
            admin_token: self.admin_token.clone(),
        };
        diesel::insert_into(audit_events::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    /// A page of events, newest first, older than `cursor`.
    pub fn page(
        conn: &mut DbConnection,
        filter: &AuditFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Self>, StorageError> {
        let mut query = audit_events::table
            .select(Row::as_select())
            .order(audit_events::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(account) = &filter.account_id {
            query = query.filter(audit_events::account_id.eq(account.clone()));
        }
        if let Some(credential) = &filter.credential_id {
            query = query.filter(audit_events::credential_id.eq(credential.clone()));
        }
        if let Some(before) = cursor {
            query = query.filter(audit_events::id.lt(before.to_owned()));
        }
        Ok(query
            .load::<Row>(conn)?
            .into_iter()
            .map(|r| Self {
                id: r.id,
                at: from_db(r.at),
                actor: r.actor,
                actor_ip: r.actor_ip,
                action: r.action,
                account_id: r.account_id,
                workspace_id: r.workspace_id,
                credential_id: r.credential_id,
                details: r.details,
                admin_token: r.admin_token,
            })
            .collect())
    }
}
