//! Reading the audit log.

use super::{check_id, AdminError, Caller, Listing, PageSpec};
use crate::state::AppState;
use crate::storage::audit::{AuditEvent, AuditFilter};

/// Audit events, newest first, of `account_id` and/or `credential_id` when given. A scoped
/// token sees only its account's events.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    account_id: Option<String>,
    credential_id: Option<String>,
    page: PageSpec,
) -> Result<Listing<AuditEvent>, AdminError> {
    if let Some(account) = &account_id {
        check_id(account, "account")?;
        caller.check_account(account)?;
    }
    if let Some(credential) = &credential_id {
        check_id(credential, "credential")?;
    }
    let filter = AuditFilter {
        account_id: caller.account_scope.clone().or(account_id),
        credential_id,
    };
    state
        .db(move |conn| {
            let rows = AuditEvent::page(conn, &filter, page.cursor(), page.fetch_limit())?;
            page.finish(rows, |e| &e.id, Ok)
        })
        .await
}
