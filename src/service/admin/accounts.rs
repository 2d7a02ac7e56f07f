//! Accounts: create, read, list, rename, change plan, suspend and reactivate.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::views::{tenant_status_schema, AccountUsageView, AccountView};
use super::{check_id, not_found, record, AdminError, Caller, Page, PageSpec};
use crate::domain::credential::{self, TenantStatus};
use crate::domain::ids::new_row_id;
use crate::domain::quota;
use crate::service::revocation;
use crate::state::AppState;
use crate::storage::account_usage;
use crate::storage::accounts::{Account, AccountChanges};
use crate::storage::credentials::Credential;
use crate::storage::revocations::{self, Subject};
use crate::storage::{to_db_time, write_transaction};

/// `POST /accounts`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Plan (default from config).
    pub plan: Option<String>,
}

/// `PATCH /accounts/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// New name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<String>,
    /// `active` or `suspended`.
    #[schema(schema_with = tenant_status_schema)]
    pub status: Option<String>,
}

/// `GET /accounts/{id}/usage?month=YYYY-MM`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// The UTC month, `YYYY-MM`; default: the current one.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
}

fn check_plan(state: &AppState, plan: &str) -> Result<(), AdminError> {
    if state.settings.plans.contains_key(plan) {
        Ok(())
    } else {
        let known: Vec<&str> = state.settings.plans.keys().map(String::as_str).collect();
        Err(AdminError::Validation(format!(
            "unknown plan {:?}; plans: {}",
            credential::truncate(plan, 64),
            known.join(", ")
        )))
    }
}

/// Creates an account.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: NewAccount,
) -> Result<AccountView, AdminError> {
    caller.check_unscoped()?;
    let name = credential::name("name", &input.name)?;
    let plan = input
        .plan
        .unwrap_or_else(|| state.settings.accounts.default_plan.clone());
    check_plan(state, &plan)?;
    let now = state.clock.now();
    let account = Account {
        id: new_row_id(),
        name,
        plan,
        status: TenantStatus::Active.as_str().to_owned(),
        suspended_at: None,
        created_at: to_db_time(now),
        updated_at: to_db_time(now),
    };
    let caller = caller.clone();
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                account.insert(conn)?;
                let mut event = caller.audit(now, "account.created");
                event.account_id = Some(account.id.clone());
                event.details = json!({"name": account.name, "plan": account.plan}).to_string();
                record(conn, event)?;
                Ok(account.into())
            })
        })
        .await
}

/// Reads an account.
pub async fn get(state: &AppState, caller: &Caller, id: String) -> Result<AccountView, AdminError> {
    check_id(&id, "account")?;
    caller.check_account(&id)?;
    state
        .db(move |conn| {
            Account::find(conn, &id)
                .map(AccountView::from)
                .map_err(not_found("account"))
        })
        .await
}

/// An account's token usage in a month (the current one by default), against its plan. The
/// figure includes what this process counted and has not flushed yet; other replicas' last few
/// seconds appear after their next flush.
pub async fn usage(
    state: &AppState,
    caller: &Caller,
    id: String,
    query: UsageQuery,
) -> Result<AccountUsageView, AdminError> {
    check_id(&id, "account")?;
    caller.check_account(&id)?;
    let now = state.clock.now();
    let month = query.month.unwrap_or_else(|| quota::month_of(now));
    let month_start = quota::month_start(&month)
        .ok_or_else(|| AdminError::Validation("month must be YYYY-MM".into()))?;
    let lookup_month = month.clone();
    let (account, flushed, active) = state
        .db(move |conn| {
            let account = Account::find(conn, &id).map_err(not_found("account"))?;
            let flushed = account_usage::tokens_issued(conn, &id, &lookup_month)?;
            let active = Credential::count_active(conn, &id, to_db_time(now))?;
            Ok::<_, AdminError>((account, flushed, active))
        })
        .await?;
    let tokens_issued =
        u64::try_from(flushed).unwrap_or(0) + state.usage.unflushed_tokens(&account.id, &month);
    let plan = state.settings.plans.get(&account.plan);
    let monthly_token_quota = plan.and_then(|p| p.monthly_token_quota);
    Ok(AccountUsageView {
        account_id: account.id,
        plan: account.plan,
        month,
        tokens_issued,
        monthly_token_quota,
        tokens_remaining: monthly_token_quota.map(|q| q.saturating_sub(tokens_issued)),
        resets_at: quota::resets_at(month_start),
        token_requests_per_minute: plan.and_then(|p| p.token_requests_per_minute),
        active_credentials: active,
        max_active_credentials: plan.map(|p| p.max_active_credentials),
    })
}

/// Lists accounts (only its own for a scoped token).
pub async fn list(
    state: &AppState,
    caller: &Caller,
    page: PageSpec,
) -> Result<Page<AccountView>, AdminError> {
    let only = caller.account_scope.clone();
    state
        .db(move |conn| {
            let rows = Account::page(conn, only.as_deref(), page.cursor(), page.fetch_limit())?;
            page.finish(rows, |a| &a.id, |a| Ok(a.into()))
        })
        .await
}

/// Renames, re-plans, suspends or reactivates an account.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: String,
    patch: AccountPatch,
) -> Result<AccountView, AdminError> {
    check_id(&id, "account")?;
    caller.check_account(&id)?;
    if patch.plan.is_some() || patch.status.is_some() {
        caller.check_unscoped()?;
    }
    let name = patch
        .name
        .as_deref()
        .map(|n| credential::name("name", n))
        .transpose()?;
    if let Some(plan) = &patch.plan {
        check_plan(state, plan)?;
    }
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
                let before = Account::find_for_update(conn, &id).map_err(not_found("account"))?;
                // Taken once the row is locked: see revocation::event_committed.
                let now = clock.now();
                let mut changes = AccountChanges {
                    name: name.clone(),
                    plan: patch.plan.clone(),
                    updated_at: Some(to_db_time(now)),
                    ..AccountChanges::default()
                };
                let status_changed = status.is_some_and(|s| s.as_str() != before.status);
                if let Some(s) = status.filter(|_| status_changed) {
                    changes.status = Some(s.as_str().to_owned());
                    changes.suspended_at = Some(match s {
                        TenantStatus::Suspended => Some(to_db_time(now)),
                        TenantStatus::Active => None,
                    });
                }
                let after = Account::update(conn, &id, &changes)?;
                // Suspended: its tokens are listed in the feed; reactivated: withdrawn.
                let changed = status_changed.then(|| (Subject::Account(id.clone()), now));
                if status_changed {
                    revocations::tenant_changed(
                        conn,
                        &Subject::Account(id.clone()),
                        to_db_time(now),
                    )?;
                }
                let mut event = caller.audit(now, "account.updated");
                event.account_id = Some(id.clone());
                event.details = json!({
                    "name": name,
                    "plan": patch.plan,
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
