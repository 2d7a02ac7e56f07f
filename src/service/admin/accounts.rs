//! Accounts: create, read, list, rename, change plan, suspend and reactivate.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{check_id, not_found, record, tenants, AdminError, Caller, Listing, PageSpec};
use crate::domain::credential::{self, TenantStatus};
use crate::domain::ids::new_row_id;
use crate::domain::quota;
use crate::state::AppState;
use crate::storage::account_usage;
use crate::storage::accounts::{Account, AccountChanges};
use crate::storage::credentials::Credential;
use crate::storage::revocations::Subject;
use crate::storage::write_transaction;

/// What an update asks to change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct AccountUpdate {
    /// New name.
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<String>,
    /// Suspend or reactivate.
    pub status: Option<TenantStatus>,
}

/// An account's usage in one UTC month, against its plan.
#[derive(Debug)]
pub struct AccountUsage {
    /// The account.
    pub account_id: String,
    /// Its plan.
    pub plan: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Tokens signed for the account's credentials that month (reused tokens count once).
    pub tokens_issued: u64,
    /// The plan's monthly quota.
    pub monthly_token_quota: Option<u64>,
    /// What is left of it.
    pub tokens_remaining: Option<u64>,
    /// When the month's count ends.
    pub resets_at: DateTime<Utc>,
    /// The plan's per-credential rate.
    pub token_requests_per_minute: Option<u32>,
    /// Active credentials now.
    pub active_credentials: i64,
    /// The plan's limit on them.
    pub max_active_credentials: Option<u64>,
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

/// Creates an account, on `plan` or the default one.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    name: &str,
    plan: Option<String>,
) -> Result<Account, AdminError> {
    caller.check_unscoped()?;
    let name = credential::name("name", name)?;
    let plan = plan.unwrap_or_else(|| state.settings.accounts.default_plan.clone());
    check_plan(state, &plan)?;
    let now = state.clock.now();
    let account = Account {
        id: new_row_id(now),
        name,
        plan,
        status: TenantStatus::Active,
        suspended_at: None,
        created_at: now,
        updated_at: now,
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
                Ok(account)
            })
        })
        .await
}

/// Reads an account.
pub async fn get(state: &AppState, caller: &Caller, id: String) -> Result<Account, AdminError> {
    check_id(&id, "account")?;
    caller.check_account(&id)?;
    state
        .db(move |conn| Account::find(conn, &id).map_err(not_found("account")))
        .await
}

/// An account's token usage in `month` (`YYYY-MM`, the current one by default), against its
/// plan. The figure includes what this process counted and has not flushed yet; other
/// replicas' last few seconds appear after their next flush.
pub async fn usage(
    state: &AppState,
    caller: &Caller,
    id: String,
    month: Option<String>,
) -> Result<AccountUsage, AdminError> {
    check_id(&id, "account")?;
    caller.check_account(&id)?;
    let now = state.clock.now();
    let month = month.unwrap_or_else(|| quota::month_of(now));
    let month_start = quota::month_start(&month)
        .ok_or_else(|| AdminError::Validation("month must be YYYY-MM".into()))?;
    let lookup_month = month.clone();
    let (account, flushed, active) = state
        .db(move |conn| {
            let account = Account::find(conn, &id).map_err(not_found("account"))?;
            let flushed = account_usage::tokens_issued(conn, &id, &lookup_month)?;
            let active = Credential::count_active(conn, &id, now)?;
            Ok::<_, AdminError>((account, flushed, active))
        })
        .await?;
    let tokens_issued =
        u64::try_from(flushed).unwrap_or(0) + state.usage.unflushed_tokens(&account.id, &month);
    let plan = state.settings.plans.get(&account.plan);
    let monthly_token_quota = plan.and_then(|p| p.monthly_token_quota);
    Ok(AccountUsage {
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
) -> Result<Listing<Account>, AdminError> {
    let only = caller.account_scope.clone();
    state
        .db(move |conn| {
            let rows = Account::page(conn, only.as_deref(), page.cursor(), page.fetch_limit())?;
            page.finish(rows, |a| &a.id, Ok)
        })
        .await
}

/// Renames, re-plans, suspends or reactivates an account.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: String,
    update: AccountUpdate,
) -> Result<Account, AdminError> {
    check_id(&id, "account")?;
    caller.check_account(&id)?;
    if update.plan.is_some() || update.status.is_some() {
        caller.check_unscoped()?;
    }
    let name = update
        .name
        .as_deref()
        .map(|n| credential::name("name", n))
        .transpose()?;
    if let Some(plan) = &update.plan {
        check_plan(state, plan)?;
    }
    let caller = caller.clone();
    let clock = state.clock.clone();
    let (account, changed) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let before = Account::find_for_update(conn, &id).map_err(not_found("account"))?;
                // Taken once the row is locked: see revocation::event_committed.
                let now = clock.now();
                let status = update.status.and_then(|s| before.status.change_to(s, now));
                let changes = AccountChanges {
                    name: name.clone(),
                    plan: update.plan.clone(),
                    status,
                };
                let after = Account::update(conn, &id, &changes, now)?;
                let changed = tenants::record(conn, Subject::Account(id.clone()), status, now)?;
                let mut event = caller.audit(now, "account.updated");
                event.account_id = Some(id.clone());
                event.details = json!({
                    "name": name,
                    "plan": update.plan,
                    "status": status.map(|_| after.status.as_str()),
                })
                .to_string();
                record(conn, event)?;
                Ok::<_, AdminError>((after, changed))
            })
        })
        .await?;
    tenants::committed(state, changed).await;
    Ok(account)
}
