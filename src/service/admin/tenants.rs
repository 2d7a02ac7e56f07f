//! What suspending or reactivating an account or a workspace does besides the status itself,
//! written once for both: the revocation feed's entry in the same transaction, and after the
//! commit what every revocation event needs.

use chrono::{DateTime, Utc};

use super::AdminError;
use crate::domain::credential::TenantStatus;
use crate::service::revocation;
use crate::state::AppState;
use crate::storage::revocations::{self, Subject};
use crate::storage::DbConnection;

/// A status change written in this transaction, to finish once it commits.
pub(super) type Changed = Option<(Subject, DateTime<Utc>)>;

/// Records `subject`'s feed entry if its status `change`d (suspended: listed; reactivated:
/// withdrawn). Call after writing the status, in the same transaction.
pub(super) fn record(
    conn: &mut DbConnection,
    subject: Subject,
    change: Option<(TenantStatus, Option<DateTime<Utc>>)>,
    now: DateTime<Utc>,
) -> Result<Changed, AdminError> {
    if change.is_none() {
        return Ok(None);
    }
    revocations::tenant_changed(conn, &subject, now)?;
    Ok(Some((subject, now)))
}

/// After the commit of a transaction that [`record`]ed a change.
pub(super) async fn committed(state: &AppState, changed: Changed) {
    if let Some((subject, at)) = changed {
        revocation::event_committed(state, subject, at).await;
    }
}
