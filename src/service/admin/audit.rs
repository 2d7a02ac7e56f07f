//! Reading the audit log.

use serde::Deserialize;

use super::views::AuditView;
use super::{check_id, AdminError, Caller, Page, PageSpec};
use crate::state::AppState;
use crate::storage::audit::{AuditEvent, AuditFilter};

/// `GET /audit` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this account's events.
    pub account_id: Option<String>,
    /// Only this credential's events.
    pub credential_id: Option<String>,
}

/// Audit events, newest first. A scoped token sees only its account's events.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    query: AuditQuery,
    page: PageSpec,
) -> Result<Page<AuditView>, AdminError> {
    if let Some(account) = &query.account_id {
        check_id(account, "account")?;
        caller.check_account(account)?;
    }
    if let Some(credential) = &query.credential_id {
        check_id(credential, "credential")?;
    }
    let filter = AuditFilter {
        account_id: caller.account_scope.clone().or(query.account_id),
        credential_id: query.credential_id,
    };
    state
        .db(move |conn| {
            let rows = AuditEvent::page(conn, &filter, page.cursor(), page.fetch_limit())?;
            page.finish(rows, |e| &e.id, |e| Ok(e.into()))
        })
        .await
}
