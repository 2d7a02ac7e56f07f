//! Workspaces: create, list, read, rename, suspend and reactivate.

use serde_json::json;

use super::{check_id, not_found, record, tenants, AdminError, Caller, Listing, PageSpec};
use crate::domain::credential::{self, TenantStatus};
use crate::domain::ids::new_row_id;
use crate::state::AppState;
use crate::storage::accounts::Account;
use crate::storage::revocations::Subject;
use crate::storage::workspaces::{Workspace, WorkspaceChanges};
use crate::storage::write_transaction;

/// What an update asks to change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct WorkspaceUpdate {
    /// New name.
    pub name: Option<String>,
    /// Suspend or reactivate.
    pub status: Option<TenantStatus>,
}

/// Creates a workspace in `account_id`.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    account_id: String,
    name: &str,
) -> Result<Workspace, AdminError> {
    check_id(&account_id, "account")?;
    caller.check_account(&account_id)?;
    let name = credential::name("name", name)?;
    let now = state.clock.now();
    let caller = caller.clone();
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                Account::find(conn, &account_id).map_err(not_found("account"))?;
                let workspace = Workspace {
                    id: new_row_id(now),
                    account_id,
                    name,
                    status: TenantStatus::Active,
                    suspended_at: None,
                    created_at: now,
                    updated_at: now,
                };
                workspace.insert(conn)?;
                let mut event = caller.audit(now, "workspace.created");
                event.account_id = Some(workspace.account_id.clone());
                event.workspace_id = Some(workspace.id.clone());
                event.details = json!({"name": workspace.name}).to_string();
                record(conn, event)?;
                Ok(workspace)
            })
        })
        .await
}

/// Lists an account's workspaces.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    account_id: String,
    page: PageSpec,
) -> Result<Listing<Workspace>, AdminError> {
    check_id(&account_id, "account")?;
    caller.check_account(&account_id)?;
    state
        .db(move |conn| {
            Account::find(conn, &account_id).map_err(not_found("account"))?;
            let rows = Workspace::page(conn, &account_id, page.cursor(), page.fetch_limit())?;
            page.finish(rows, |w| &w.id, Ok)
        })
        .await
}

/// Reads a workspace.
pub async fn get(state: &AppState, caller: &Caller, id: String) -> Result<Workspace, AdminError> {
    check_id(&id, "workspace")?;
    let caller = caller.clone();
    state
        .db(move |conn| {
            let workspace = Workspace::find(conn, &id).map_err(not_found("workspace"))?;
            caller.check_account(&workspace.account_id)?;
            Ok(workspace)
        })
        .await
}

/// Renames, suspends or reactivates a workspace.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: String,
    update: WorkspaceUpdate,
) -> Result<Workspace, AdminError> {
    check_id(&id, "workspace")?;
    let name = update
        .name
        .as_deref()
        .map(|n| credential::name("name", n))
        .transpose()?;
    let caller = caller.clone();
    let clock = state.clock.clone();
    let (workspace, changed) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let before =
                    Workspace::find_for_update(conn, &id).map_err(not_found("workspace"))?;
                // Taken once the row is locked: see revocation::event_committed.
                let now = clock.now();
                caller.check_account(&before.account_id)?;
                let status = update.status.and_then(|s| before.status.change_to(s, now));
                let changes = WorkspaceChanges {
                    name: name.clone(),
                    status,
                };
                let after = Workspace::update(conn, &id, &changes, now)?;
                let changed = tenants::record(conn, Subject::Workspace(id.clone()), status, now)?;
                let mut event = caller.audit(now, "workspace.updated");
                event.account_id = Some(after.account_id.clone());
                event.workspace_id = Some(id.clone());
                event.details = json!({
                    "name": name,
                    "status": status.map(|_| after.status.as_str()),
                })
                .to_string();
                record(conn, event)?;
                Ok::<_, AdminError>((after, changed))
            })
        })
        .await?;
    tenants::committed(state, changed).await;
    Ok(workspace)
}
