//! Admin bearer tokens: created, listed and revoked from the CLI; checked on every admin call.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{record, AdminError, Caller};
use crate::crypto::sha256_hex;
use crate::domain::credential;
use crate::domain::ids::{is_row_id, new_row_id};
use crate::domain::secret::AdminToken;
use crate::state::AppState;
use crate::storage::accounts::Account;
use crate::storage::admin_tokens::StoredAdminToken;
use crate::storage::{write_transaction, DbConnection, StorageError};

/// The actor recorded for changes made from the command line.
pub const CLI_ACTOR: &str = "cli";
const MAX_ACTOR_CHARS: usize = 200;

/// Creates a token; returns the plaintext, to be shown once.
pub fn create(
    conn: &mut DbConnection,
    name: &str,
    account: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AdminToken, AdminError> {
    let name = credential::name("name", name)?;
    if let Some(account) = account {
        if !is_row_id(account) {
            return Err(AdminError::NotFound("account"));
        }
    }
    let token = AdminToken::generate();
    let row = StoredAdminToken {
        id: new_row_id(now),
        name,
        token_hash: sha256_hex(token.expose()),
        account_id: account.map(str::to_owned),
        created_at: now,
        revoked_at: None,
    };
    write_transaction(conn, |conn| {
        if let Some(account) = account {
            Account::find(conn, account).map_err(|e| match e {
                StorageError::NotFound => AdminError::NotFound("account"),
                other => other.into(),
            })?;
        }
        row.insert(conn).map_err(|e| match e {
            StorageError::Conflict(_) => {
                AdminError::conflict(format!("a live admin token named {:?} exists", row.name))
            }
            other => other.into(),
        })?;
        let mut event = cli_caller().audit(now, "admin_token.created");
        // The command line authenticates with no admin token.
        event.admin_token = None;
        event.account_id = row.account_id.clone();
        event.details = json!({"name": row.name, "admin_token_id": row.id}).to_string();
        record(conn, event)
    })?;
    Ok(token)
}

/// Every token, live and revoked.
pub fn list(conn: &mut DbConnection) -> Result<Vec<StoredAdminToken>, AdminError> {
    Ok(StoredAdminToken::all(conn)?)
}

/// Revokes the live token called `name`.
pub fn revoke(conn: &mut DbConnection, name: &str, now: DateTime<Utc>) -> Result<(), AdminError> {
    write_transaction(conn, |conn| {
        let row = StoredAdminToken::revoke(conn, name, now).map_err(|e| match e {
            StorageError::NotFound => AdminError::NotFound("live admin token"),
            other => other.into(),
        })?;
        let mut event = cli_caller().audit(now, "admin_token.revoked");
        // The command line authenticates with no admin token.
        event.admin_token = None;
        event.account_id = row.account_id.clone();
        event.details = json!({"name": row.name, "admin_token_id": row.id}).to_string();
        record(conn, event)
    })
}

fn cli_caller() -> Caller {
    Caller {
        token_name: CLI_ACTOR.to_owned(),
        account_scope: None,
        actor: CLI_ACTOR.to_owned(),
        ip: None,
    }
}

/// Resolves an `Authorization: Bearer` value to a caller, or `Unauthorized`. A value that is not
/// a well-formed admin token is refused before any query.
pub async fn authenticate(
    state: &AppState,
    bearer: &str,
    actor: Option<&str>,
    ip: Option<String>,
) -> Result<Caller, AdminError> {
    let token = AdminToken::parse(bearer).map_err(|_| AdminError::Unauthorized)?;
    let digest = sha256_hex(token.expose());
    let row = state
        .db(move |conn| {
            StoredAdminToken::find_live_by_hash(conn, &digest).map_err(AdminError::from)
        })
        .await?
        .ok_or(AdminError::Unauthorized)?;
    let actor = actor
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            credential::truncate(a, MAX_ACTOR_CHARS)
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
        })
        .unwrap_or_else(|| row.name.clone());
    Ok(Caller {
        token_name: row.name,
        account_scope: row.account_id,
        actor,
        ip,
    })
}
