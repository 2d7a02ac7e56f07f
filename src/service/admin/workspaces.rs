//! Workspaces: create, list, read, rename, suspend and reactivate.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::views::{tenant_status_schema, WorkspaceView};
use super::{check_id, not_found, record, AdminError, Caller, Page, PageSpec};
use crate::domain::credential::{self, TenantStatus};
use crate::domain::ids::new_row_id;
use crate::service::revocation;
use crate::state::AppState;
use crate::storage::accounts::Account;
use crate::storage::revocations::{self, Subject};
use crate::storage::workspaces::{Workspace, WorkspaceChanges};
use crate::storage::{to_db_time, write_transaction};

/// `POST /accounts/{id}/workspaces`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// `PATCH /workspaces/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// New name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `active` or `suspended`.
    #[schema(schema_with = tenant_status_schema)]
    pub status: Option<String>,
}

/// Creates a workspace in `account_id`.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    account_id: String,
    input: NewWorkspace,
) -> Result<WorkspaceView, AdminError> {
    check_id(&account_id, "account")?;
    caller.check_account(&account_id)?;
    let name = credential::name("name", &input.name)?;
    let now = state.clock.now();
    let caller = caller.clone();
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                Account::find(conn, &account_id).map_err(not_found("account"))?;
                let workspace = Workspace {
                    id: new_row_id(),
                    account_id,
                    name,
                    status: TenantStatus::Active.as_str().to_owned(),
                    suspended_at: None,
                    created_at: to_db_time(now),
                    updated_at: to_db_time(now),
                };
                workspace.insert(conn)?;
                let mut event = caller.audit(now, "workspace.created");
                event.account_id = Some(workspace.account_id.clone());
                event.workspace_id = Some(workspace.id.clone());
                event.details = json!({"name": workspace.name}).to_string();
                record(conn, event)?;
                Ok(workspace.into())
            })
        })
        .await
}

/// Lists the workspaces of `account_id`.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    account_id: String,
    page: PageSpec,
) -> Result<Page<WorkspaceView>, AdminError> {
    check_id(&account_id, "account")?;
    caller.check_account(&account_id)?;
    state
        .db(move |conn| {
            Account::find(conn, &account_id).map_err(not_found("account"))?;
            let rows = Workspace::page(conn, &account_id, page.cursor(), page.fetch_limit())?;
            page.finish(rows, |w| &w.id, |w| Ok(w.into()))
        })
        .await
}

/// Reads a workspace.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<WorkspaceView, AdminError> {
    check_id(&id, "workspace")?;
    let caller = caller.clone();
    state
        .db(move |conn| {
            let workspace = Workspace::find(conn, &id).map_err(not_found("workspace"))?;
            caller.check_account(&workspace.account_id)?;
            Ok(workspace.into())
        })
        .await
}

/// Renames, suspends or reactivates a workspace.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: String,
    patch: WorkspacePatch,
) -> Result<WorkspaceView, AdminError> {
    check_id(&id, "workspace")?;
    let name = patch
        .name
        .as_deref()
        .map(|n| credential::name("name", n))
        .transpose()?;
    let status = patch
        .status
        .as_deref()
        .map(|s| {
            TenantStatus::parse(s)
                .ok_or_else(|| AdminError::Validation("status must be active or suspended".into()))
        })
        .transpose()?;
    let caller = caller.clone();
    let clock = state.clock.clone();
    let (view, changed) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let before =
                    Workspace::find_for_update(conn, &id).map_err(not_found("workspace"))?;
                // Taken once the row is locked: see revocation::event_committed.
                let now = clock.now();
                caller.check_account(&before.account_id)?;
                let mut changes = WorkspaceChanges {
                    name: name.clone(),
                    updated_at: Some(to_db_time(now)),
                    ..WorkspaceChanges::default()
                };
                let status_changed = status.is_some_and(|s| s.as_str() != before.status);
                if let Some(s) = status.filter(|_| status_changed) {
                    changes.status = Some(s.as_str().to_owned());
                    changes.suspended_at = Some(match s {
                        TenantStatus::Suspended => Some(to_db_time(now)),
                        TenantStatus::Active => None,
                    });
                }
                let after = Workspace::update(conn, &id, &changes)?;
                // Suspended: its tokens are listed in the feed; reactivated: withdrawn.
                let changed = status_changed.then(|| (Subject::Workspace(id.clone()), now));
                if status_changed {
                    revocations::tenant_changed(
                        conn,
                        &Subject::Workspace(id.clone()),
                        to_db_time(now),
                    )?;
                }
                let mut event = caller.audit(now, "workspace.updated");
                event.account_id = Some(after.account_id.clone());
                event.workspace_id = Some(id.clone());
                event.details = json!({
                    "name": name,
                    "status": status_changed.then_some(after.status.clone()),
                })
                .to_string();
                record(conn, event)?;
                Ok::<_, AdminError>((after.into(), changed))
            })
        })
        .await?;
    if let Some((subject, at)) = changed {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(view)
}
