//! The admin API's use cases. Every change and its audit event are written in one transaction.

pub mod accounts;
pub mod admin_tokens;
pub mod audit;
pub mod credentials;
mod tenants;
pub mod workspaces;

use chrono::{DateTime, Utc};

use crate::domain::credential::{PlanLimitExceeded, RuleViolation};
use crate::domain::ids::{is_row_id, new_row_id};
use crate::storage::audit::AuditEvent;
use crate::storage::{DbConnection, StorageError};

/// Who is calling: resolved from the admin bearer token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The admin token's name.
    pub token_name: String,
    /// The one account this token may act on, if it is scoped.
    pub account_scope: Option<String>,
    /// Recorded in audit events: `X-Actor` if given, else the token's name.
    pub actor: String,
    /// The caller's IP address.
    pub ip: Option<String>,
}

impl Caller {
    /// 403 unless the caller may act on `account_id`.
    pub fn check_account(&self, account_id: &str) -> Result<(), AdminError> {
        match &self.account_scope {
            Some(scope) if scope != account_id => Err(AdminError::Forbidden),
            _ => Ok(()),
        }
    }

    /// 403 for a token scoped to an account: platform-wide changes (new accounts, plans,
    /// suspensions) are the platform's, not a tenant portal's.
    pub fn check_unscoped(&self) -> Result<(), AdminError> {
        if self.account_scope.is_some() {
            Err(AdminError::Forbidden)
        } else {
            Ok(())
        }
    }

    fn audit(&self, at: DateTime<Utc>, action: &str) -> AuditEvent {
        AuditEvent {
            id: new_row_id(at),
            at,
            admin_token: Some(self.token_name.clone()),
            actor: self.actor.clone(),
            actor_ip: self.ip.clone(),
            action: action.to_owned(),
            account_id: None,
            workspace_id: None,
            credential_id: None,
            details: "{}".to_owned(),
        }
    }
}

/// Why an admin call failed; the HTTP layer maps each variant to a status and body once.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 400: the input broke a rule.
    #[error("{0}")]
    Validation(String),
    /// 404.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 401: no or no valid admin token.
    #[error("a valid admin bearer token is required")]
    Unauthorized,
    /// 403: outside the token's account.
    #[error("this admin token may not act on that account")]
    Forbidden,
    /// 409: a state conflict or a plan limit; `code` is the wire error code.
    #[error("{message}")]
    Conflict {
        /// `conflict` or `limit_exceeded`.
        code: &'static str,
        /// A sentence for a human.
        message: String,
    },
    /// 503: the database is unavailable.
    #[error("the database is temporarily unavailable")]
    Unavailable,
    /// 500: a bug; logged, never detailed to the client.
    #[error("internal error")]
    Internal,
}

impl AdminError {
    fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            code: "conflict",
            message: message.into(),
        }
    }
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => Self::NotFound("resource"),
            StorageError::Unavailable(why) => {
                log::warn!("admin API: database unavailable: {why}");
                Self::Unavailable
            }
            StorageError::Conflict(why) => {
                log::info!("admin API: constraint conflict: {why}");
                Self::conflict("the change conflicts with the current state")
            }
            StorageError::Other(why) => {
                log::error!("admin API: storage failure: {why}");
                Self::Internal
            }
        }
    }
}

impl From<RuleViolation> for AdminError {
    fn from(e: RuleViolation) -> Self {
        Self::Validation(e.0)
    }
}

impl From<crate::domain::trust::TrustRuleError> for AdminError {
    fn from(e: crate::domain::trust::TrustRuleError) -> Self {
        Self::Validation(e.to_string())
    }
}

impl From<PlanLimitExceeded> for AdminError {
    fn from(e: PlanLimitExceeded) -> Self {
        Self::Conflict {
            code: "limit_exceeded",
            message: e.to_string(),
        }
    }
}

/// Maps a storage `NotFound` to a 404 naming `what`.
fn not_found(what: &'static str) -> impl Fn(StorageError) -> AdminError {
    move |e| match e {
        StorageError::NotFound => AdminError::NotFound(what),
        other => other.into(),
    }
}

/// A validated `?limit=&cursor=`.
#[derive(Debug, Clone)]
pub struct PageSpec {
    limit: i64,
    cursor: Option<String>,
}

/// The page size when none is asked for.
pub const DEFAULT_PAGE: i64 = 50;
/// The largest page.
pub const MAX_PAGE: i64 = 200;

/// One page of a list, and where the next begins.
#[derive(Debug)]
pub struct Listing<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page begins; `None` on the last.
    pub next_cursor: Option<String>,
}

impl PageSpec {
    /// Checks the bounds and the cursor's shape.
    pub fn new(limit: Option<i64>, cursor: Option<String>) -> Result<Self, AdminError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AdminError::Validation(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        if cursor.as_deref().is_some_and(|c| !is_row_id(c)) {
            return Err(AdminError::Validation("cursor is not valid".into()));
        }
        Ok(Self { limit, cursor })
    }

    /// Fetches one row more than asked, to know whether another page follows.
    fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    fn finish<R, T>(
        &self,
        mut rows: Vec<R>,
        id: impl Fn(&R) -> &str,
        item: impl FnMut(R) -> Result<T, AdminError>,
    ) -> Result<Listing<T>, AdminError> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| id(r).to_owned())
        } else {
            None
        };
        Ok(Listing {
            items: rows.into_iter().map(item).collect::<Result<_, _>>()?,
            next_cursor,
        })
    }
}

/// Rejects path ids that cannot be ours with a 404, before any query.
pub fn check_id(id: &str, what: &'static str) -> Result<(), AdminError> {
    if is_row_id(id) {
        Ok(())
    } else {
        Err(AdminError::NotFound(what))
    }
}

fn record(conn: &mut DbConnection, event: AuditEvent) -> Result<(), AdminError> {
    event.insert(conn).map_err(AdminError::from)
}
