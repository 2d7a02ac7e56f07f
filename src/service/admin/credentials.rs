//! Credentials: create, read, list, rename and re-role, rotate, deactivate.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::views::{credential_status_schema, CredentialView, IssuedCredentialView};
use super::{check_id, not_found, record, AdminError, Caller, Page, PageSpec};
use crate::domain::credential::{self, CredentialKind, CredentialStatus};
use crate::domain::ids::{new_row_id, ClientId};
use crate::domain::scope::Scopes;
use crate::domain::secret::ClientSecret;
use crate::service::revocation;
use crate::state::AppState;
use crate::storage::accounts::Account;
use crate::storage::credentials::{Credential, CredentialFilter, CredentialSecret};
use crate::storage::revocations::{self, Subject};
use crate::storage::workspaces::Workspace;
use crate::storage::{to_db_time, write_transaction, DbConnection};

/// The longest rotation grace period: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// `POST /accounts/{id}/credentials` and `POST /workspaces/{id}/credentials`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// Name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Role: required for a workspace credential (one of `roles.workspace`); an account
    /// credential's is always `account_admin`.
    pub role: Option<String>,
    /// Description: up to 2000 characters, no control characters but newlines and tabs.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Audience (default: the first configured).
    pub audience: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
}

/// `PATCH /credentials/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialPatch {
    /// New name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// New description: up to 2000 characters, no control characters but newlines and tabs.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// New role (workspace keys only).
    pub role: Option<String>,
}

/// `POST /credentials/{id}/rotate`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old secret keeps working (≤ 7 days); default 0: it stops at once.
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<i64>,
    /// Also revoke every token issued before the rotation.
    pub revoke_tokens: Option<bool>,
}

/// `GET /credentials` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CredentialQuery {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this workspace.
    pub workspace_id: Option<String>,
    /// `active`, `expired` or `deactivated`.
    #[param(schema_with = credential_status_schema)]
    pub status: Option<String>,
}

/// Where a new credential goes.
#[derive(Debug, Clone)]
pub enum Owner {
    /// An account key of this account.
    Account(String),
    /// A workspace key of this workspace.
    Workspace(String),
}

struct Validated {
    name: String,
    role: Option<String>,
    description: Option<String>,
    audience: String,
    expires_at: Option<DateTime<Utc>>,
    scopes: Scopes,
}

fn validate_new(
    state: &AppState,
    kind: CredentialKind,
    input: NewCredential,
    now: DateTime<Utc>,
) -> Result<Validated, AdminError> {
    let name = credential::name("name", &input.name)?;
    let role = credential::role_for(kind, input.role.as_deref(), &state.settings.roles.workspace)?;
    let description = input
        .description
        .as_deref()
        .map(credential::description)
        .transpose()?;
    let audiences = &state.settings.tokens.audiences;
    let audience = match input.audience {
        None => audiences.first().cloned().unwrap_or_default(),
        Some(a) if audiences.contains(&a) => a,
        Some(a) => {
            return Err(AdminError::Validation(format!(
                "audience {:?} is not allowed; allowed audiences: {}",
                credential::truncate(&a, 100),
                audiences.join(", ")
            )))
        }
    };
    if input.expires_at.is_some_and(|at| at <= now) {
        return Err(AdminError::Validation(
            "expires_at must be in the future".into(),
        ));
    }
    let scopes = Scopes::from_admin_list(&input.scopes.unwrap_or_default())?;
    Ok(Validated {
        name,
        role: Some(role),
        description,
        audience,
        expires_at: input.expires_at,
        scopes,
    })
}

/// The secret's argon2 hash is computed before the transaction, so the write lock is held only
/// for the inserts.
fn new_secret_row(
    state: &AppState,
    credential_id: &str,
    now: DateTime<Utc>,
) -> Result<(ClientSecret, CredentialSecret), AdminError> {
    let secret = ClientSecret::generate();
    let hash = state
        .hasher
        .hash(&secret)
        .map_err(|_| AdminError::Internal)?;
    let row = CredentialSecret {
        id: new_row_id(),
        credential_id: credential_id.to_owned(),
        secret_hash: hash,
        last4: secret.last4(),
        created_at: to_db_time(now),
        expires_at: None,
        last_used_at: None,
    };
    Ok((secret, row))
}

fn issued(state: &AppState, view: CredentialView, secret: &ClientSecret) -> IssuedCredentialView {
    let token_url = state.settings.token_url();
    let curl_example = format!(
        "curl -s -X POST '{token_url}' -H 'Content-Type: application/json' \
         -d '{{\"grant_type\":\"client_credentials\",\"client_id\":\"{}\",\"client_secret\":\"{}\",\"audience\":\"{}\"}}'",
        view.client_id,
        secret.expose(),
        view.audience.replace('\'', "'\\''"),
    );
    IssuedCredentialView {
        credential: view,
        client_secret: secret.expose().to_owned(),
        token_url,
        curl_example,
    }
}

fn read_view(
    conn: &mut DbConnection,
    credential: Credential,
    now: DateTime<Utc>,
) -> Result<CredentialView, AdminError> {
    let secrets = CredentialSecret::live(conn, &credential.id, to_db_time(now))?;
    Ok(CredentialView::new(credential, secrets, now))
}

/// Creates a credential and returns it with its secret, shown this once.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    owner: Owner,
    input: NewCredential,
) -> Result<IssuedCredentialView, AdminError> {
    let (kind, owner_id, what) = match &owner {
        Owner::Account(id) => (CredentialKind::Account, id.clone(), "account"),
        Owner::Workspace(id) => (CredentialKind::Workspace, id.clone(), "workspace"),
    };
    check_id(&owner_id, what)?;
    let now = state.clock.now();
    let valid = validate_new(state, kind, input, now)?;
    let caller = caller.clone();
    let worker = state.clone();
    let (view, secret) = state
        .db(move |conn| {
            let id = new_row_id();
            let (secret, secret_row) = new_secret_row(&worker, &id, now)?;
            let view = write_transaction(conn, |conn| {
                let (account_id, workspace_id) = match kind {
                    CredentialKind::Account => (owner_id.clone(), None),
                    CredentialKind::Workspace => {
                        let ws =
                            Workspace::find(conn, &owner_id).map_err(not_found("workspace"))?;
                        (ws.account_id, Some(owner_id.clone()))
                    }
                };
                caller.check_account(&account_id)?;
                let account =
                    Account::find_for_update(conn, &account_id).map_err(not_found("account"))?;
                enforce_plan(&worker, conn, &account, now)?;
                let row = Credential {
                    id,
                    client_id: ClientId::generate(kind).as_str().to_owned(),
                    kind: kind.as_str().to_owned(),
                    account_id,
                    workspace_id,
                    role: valid.role.clone().unwrap_or_default(),
                    scopes: valid.scopes.to_string(),
                    name: valid.name.clone(),
                    description: valid.description.clone(),
                    audience: valid.audience.clone(),
                    expires_at: valid.expires_at.map(to_db_time),
                    created_at: to_db_time(now),
                    created_by: caller.actor.clone(),
                    rotated_at: None,
                    deactivated_at: None,
                    tokens_revoked_before: None,
                    last_used_at: None,
                    last_used_ip: None,
                };
                row.insert(&secret_row, conn)?;
                let mut event = caller.audit(now, "credential.created");
                event.account_id = Some(row.account_id.clone());
                event.workspace_id = row.workspace_id.clone();
                event.credential_id = Some(row.id.clone());
                event.details = json!({
                    "client_id": row.client_id,
                    "kind": row.kind,
                    "name": row.name,
                    "role": row.role,
                    "audience": row.audience,
                    "scopes": valid.scopes.as_slice(),
                    "expires_at": valid.expires_at,
                    "secret_id": secret_row.id,
                })
                .to_string();
                record(conn, event)?;
                Ok::<_, AdminError>(CredentialView::new(row, vec![secret_row.clone()], now))
            })?;
            Ok::<_, AdminError>((view, secret))
        })
        .await?;
    Ok(issued(state, view, &secret))
}

fn enforce_plan(
    state: &AppState,
    conn: &mut DbConnection,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let plans = &state.settings.plans;
    // An account whose plan was removed from config falls back to the default plan's limits.
    let (plan_name, plan) = match plans.get(&account.plan) {
        Some(p) => (account.plan.as_str(), p),
        None => {
            let name = state.settings.accounts.default_plan.as_str();
            match plans.get(name) {
                Some(p) => (name, p),
                None => return Ok(()),
            }
        }
    };
    let active = Credential::count_active(conn, &account.id, to_db_time(now))?;
    if u64::try_from(active).unwrap_or(u64::MAX) >= plan.max_active_credentials {
        return Err(AdminError::Conflict {
            code: "limit_exceeded",
            message: format!(
                "plan {plan_name:?} allows at most {} active credentials (max_active_credentials); the account has {active}",
                plan.max_active_credentials
            ),
        });
    }
    Ok(())
}

/// Reads a credential (never a secret).
pub async fn get(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<CredentialView, AdminError> {
    check_id(&id, "credential")?;
    let caller = caller.clone();
    let now = state.clock.now();
    state
        .db(move |conn| {
            let credential = Credential::find(conn, &id).map_err(not_found("credential"))?;
            caller.check_account(&credential.account_id)?;
            read_view(conn, credential, now)
        })
        .await
}

/// Lists credentials; a scoped token sees only its account's.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    query: CredentialQuery,
    page: PageSpec,
) -> Result<Page<CredentialView>, AdminError> {
    if let Some(account) = &query.account_id {
        check_id(account, "account")?;
        caller.check_account(account)?;
    }
    if let Some(workspace) = &query.workspace_id {
        check_id(workspace, "workspace")?;
    }
    let status = query
        .status
        .as_deref()
        .map(|s| {
            CredentialStatus::parse(s).ok_or_else(|| {
                AdminError::Validation("status must be active, expired or deactivated".into())
            })
        })
        .transpose()?;
    let filter = CredentialFilter {
        account_id: caller.account_scope.clone().or(query.account_id),
        workspace_id: query.workspace_id,
        status,
    };
    let now = state.clock.now();
    state
        .db(move |conn| {
            let rows = Credential::page(
                conn,
                &filter,
                to_db_time(now),
                page.cursor(),
                page.fetch_limit(),
            )?;
            page.finish(rows, |c| &c.id, |c| read_view(conn, c, now))
        })
        .await
}

/// Renames, re-describes or re-roles a credential.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: String,
    patch: CredentialPatch,
) -> Result<CredentialView, AdminError> {
    check_id(&id, "credential")?;
    let name = patch
        .name
        .as_deref()
        .map(|n| credential::name("name", n))
        .transpose()?;
    let description = patch
        .description
        .as_deref()
        .map(credential::description)
        .transpose()?;
    let caller = caller.clone();
    let roles = state.settings.roles.workspace.clone();
    let clock = state.clock.clone();
    let (view, revoked) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let before =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                // Taken once the row is locked: see revocation::event_committed.
                let now = clock.now();
                caller.check_account(&before.account_id)?;
                let role = match &patch.role {
                    None => None,
                    Some(_) if before.kind == CredentialKind::Account.as_str() => {
                        return Err(AdminError::conflict(format!(
                            "an account credential always has the role {}",
                            credential::ACCOUNT_ROLE
                        )))
                    }
                    Some(_) if before.deactivated_at.is_some() => {
                        return Err(AdminError::conflict("the credential is deactivated"))
                    }
                    Some(r) => Some(credential::workspace_role(r, &roles)?),
                };
                let role = role.filter(|r| *r != before.role);
                let after = crate::storage::credentials::update_fields(
                    conn,
                    &id,
                    name.as_deref(),
                    description.as_deref(),
                    role.as_deref(),
                )?;
                // The old role's tokens must not outlive the change.
                let revoked = match role {
                    Some(_) => {
                        revocations::revoke_credential_tokens(conn, &id, to_db_time(now))?;
                        Some((Subject::Credential(id.clone()), now))
                    }
                    None => None,
                };
                let mut event = caller.audit(now, "credential.updated");
                event.account_id = Some(after.account_id.clone());
                event.workspace_id = after.workspace_id.clone();
                event.credential_id = Some(id.clone());
                event.details = json!({
                    "name": name,
                    "description_changed": description.is_some(),
                    "role": role.as_ref().map(|r| json!({"from": before.role, "to": r})),
                    "tokens_revoked": revoked.is_some(),
                })
                .to_string();
                record(conn, event)?;
                let after = Credential::find(conn, &id)?;
                Ok::<_, AdminError>((read_view(conn, after, now)?, revoked))
            })
        })
        .await?;
    if let Some((subject, at)) = revoked {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(view)
}

/// Issues a new secret. The old one stops at once, or after `grace_seconds`; an older secret
/// still in an earlier grace period stops at once, so at most two ever work.
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    id: String,
    request: RotateRequest,
) -> Result<IssuedCredentialView, AdminError> {
    check_id(&id, "credential")?;
    let grace = request.grace_seconds.unwrap_or(0);
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(AdminError::Validation(format!(
            "grace_seconds must be between 0 and {MAX_GRACE_SECONDS} (7 days)"
        )));
    }
    let revoke_tokens = request.revoke_tokens.unwrap_or(false);
    let caller = caller.clone();
    let worker = state.clone();
    let (view, secret, revoked) = state
        .db(move |conn| {
            let (secret, mut secret_row) = new_secret_row(&worker, &id, worker.clock.now())?;
            let (view, revoked) = write_transaction(conn, |conn| {
                // Locks the row (PostgreSQL) or holds the write lock (SQLite): concurrent rotations
                // of one credential run one after the other, each seeing the other's secret.
                let credential =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                let now = worker.clock.now();
                secret_row.created_at = to_db_time(now);
                caller.check_account(&credential.account_id)?;
                if credential.deactivated_at.is_some() {
                    return Err(AdminError::conflict("the credential is deactivated"));
                }
                let live = CredentialSecret::live(conn, &id, to_db_time(now))?;
                let grace_end = now + Duration::seconds(grace);
                for (i, old) in live.iter().enumerate() {
                    let ends = if i == 0 { grace_end } else { now };
                    let ends = old.expires_at.map_or(ends, |e| e.and_utc().min(ends));
                    crate::storage::credentials::expire_secret(conn, &old.id, to_db_time(ends))?;
                }
                secret_row.insert(conn)?;
                crate::storage::credentials::mark_rotated(conn, &id, to_db_time(now))?;
                let revoked = revoke_tokens.then(|| (Subject::Credential(id.clone()), now));
                if revoke_tokens {
                    revocations::revoke_credential_tokens(conn, &id, to_db_time(now))?;
                }
                let after = Credential::find(conn, &id)?;
                let mut event = caller.audit(now, "credential.rotated");
                event.account_id = Some(after.account_id.clone());
                event.workspace_id = after.workspace_id.clone();
                event.credential_id = Some(id.clone());
                event.details = json!({
                    "client_id": after.client_id,
                    "grace_seconds": grace,
                    "revoke_tokens": revoke_tokens,
                    "new_secret_id": secret_row.id,
                    "old_secret_ids": live.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                })
                .to_string();
                record(conn, event)?;
                Ok::<_, AdminError>((read_view(conn, after, now)?, revoked))
            })?;
            Ok::<_, AdminError>((view, secret, revoked))
        })
        .await?;
    if let Some((subject, at)) = revoked {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(issued(state, view, &secret))
}

/// Deactivates a credential for good; tokens already issued stop being valid. Idempotent: a
/// second call changes nothing and records nothing.
pub async fn deactivate(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<CredentialView, AdminError> {
    check_id(&id, "credential")?;
    let caller = caller.clone();
    let clock = state.clock.clone();
    let (view, revoked) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let credential =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                let now = clock.now();
                caller.check_account(&credential.account_id)?;
                if credential.deactivated_at.is_some() {
                    return Ok((read_view(conn, credential, now)?, None));
                }
                crate::storage::credentials::mark_deactivated(conn, &id, to_db_time(now))?;
                revocations::revoke_credential_tokens(conn, &id, to_db_time(now))?;
                let after = Credential::find(conn, &id)?;
                let mut event = caller.audit(now, "credential.deactivated");
                event.account_id = Some(after.account_id.clone());
                event.workspace_id = after.workspace_id.clone();
                event.credential_id = Some(id.clone());
                event.details = json!({"client_id": after.client_id}).to_string();
                record(conn, event)?;
                let view = read_view(conn, after, now)?;
                Ok::<_, AdminError>((view, Some((Subject::Credential(id.clone()), now))))
            })
        })
        .await?;
    if let Some((subject, at)) = revoked {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(view)
}
