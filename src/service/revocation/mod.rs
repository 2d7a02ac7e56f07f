//! Revocation: the feed ([`feed`]), introspection (RFC 7662), token revocation
//! (RFC 7009), and what every revocation event does once it is committed.

pub mod feed;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::token::{authenticate, PresentedClient};
use crate::domain::claims::AccessTokenClaims;
use crate::domain::credential::CredentialStatus;
use crate::domain::ids::new_row_id;
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::domain::revocation::{is_revoked, SubjectState};
use crate::service::admin::{admin_tokens, AdminError};
use crate::state::AppState;
use crate::storage::audit::AuditEvent;
use crate::storage::credentials::{AuthRecord, Credential};
use crate::storage::revocations::{self, Subject, SubjectRow};
use crate::storage::{write_transaction, StorageError};

/// After a revocation event committed: the event's time was taken inside its transaction,
/// but should the commit have landed in a later second, a token authorized by a read made
/// just before the commit could carry that later second as its `iat` and escape the entry.
/// So the event moves to the commit's side of the boundary. Then this replica's feed is read
/// afresh for the next request.
pub async fn event_committed(state: &AppState, subject: Subject, at: DateTime<Utc>) {
    let now = state.clock.now();
    if now.timestamp() > at.timestamp() {
        let moved = state
            .db(move |conn| {
                write_transaction(conn, |conn| revocations::restamp(conn, &subject, at, now))
            })
            .await;
        match moved {
            Ok(true) => log::info!("a revocation event committed in a later second; moved"),
            Ok(false) => {}
            Err(e) => log::error!("could not move a revocation event to its commit: {e}"),
        }
    }
    state.feed_changes.bump();
}

/// Who asks to introspect, as presented: an admin token (maybe scoped to an account) or a
/// credential (it sees its own account's tokens only).
#[derive(Debug)]
pub enum Introspector {
    /// `Authorization: Bearer <admin token>`.
    AdminToken(String),
    /// A client, authenticated as at the token endpoint.
    Client(PresentedClient),
}

/// Authenticates a credential as an introspection or revocation caller. A deactivated or
/// expired credential may not.
pub async fn authenticate_caller(
    state: &AppState,
    client: PresentedClient,
    ip: Option<&str>,
) -> Result<AuthRecord, OAuthError> {
    let now = state.clock.now();
    let record = authenticate(state, client, ip, now).await?.record;
    let credential = &record.credential;
    if credential.status(now) != CredentialStatus::Active {
        return Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED));
    }
    Ok(record)
}

fn verify(state: &AppState, token: &str) -> Option<AccessTokenClaims> {
    let settings = &state.settings;
    state.keys.current().verify(
        token,
        &settings.server.issuer,
        &settings.tokens.audiences,
        state.clock.now().timestamp(),
        settings.tokens.lifetime_seconds,
        settings.keys.leeway_seconds,
    )
}

fn subject_state(row: &SubjectRow) -> SubjectState {
    SubjectState {
        credential_active: row.deactivated_at.is_none(),
        credential_revoked_at: row.tokens_revoked_before,
        account_suspended_at: row.account_suspended_at,
        workspace_suspended_at: row.workspace_suspended_at,
        jti_revoked: row.jti_revoked,
    }
}

/// RFC 7662: the claims of a token that is valid right now — by the same rule the feed
/// states — and that the caller may see; `None` for anything else.
pub async fn introspect(
    state: &AppState,
    caller: Introspector,
    ip: Option<String>,
    token: Option<String>,
) -> Result<Option<AccessTokenClaims>, OAuthError> {
    let account_scope = match caller {
        Introspector::AdminToken(bearer) => {
            admin_tokens::authenticate(state, &bearer, None, ip)
                .await
                .map_err(|e| match e {
                    AdminError::Unavailable => OAuthError::TemporarilyUnavailable,
                    _ => OAuthError::InvalidClient(CLIENT_AUTH_FAILED),
                })?
                .account_scope
        }
        Introspector::Client(client) => Some(
            authenticate_caller(state, client, ip.as_deref())
                .await?
                .credential
                .account_id,
        ),
    };
    let Some(claims) = token.as_deref().and_then(|t| verify(state, t)) else {
        return Ok(None);
    };
    if account_scope.is_some_and(|scope| scope != claims.account_id) {
        return Ok(None);
    }
    let (client_id, jti) = (claims.client_id.clone(), claims.jti.clone());
    let row = state
        .db(move |conn| revocations::subject(conn, &client_id, &jti))
        .await?;
    let valid = row.is_some_and(|row| {
        row.account_id == claims.account_id && !is_revoked(claims.iat, &subject_state(&row))
    });
    Ok(valid.then_some(claims))
}

/// RFC 7009: the client revokes one of its own tokens. Whatever the token is (garbage, expired,
/// another client's), the answer is the same success, so nothing is learned from it. Each call
/// counts against the credential's plan request rate. A credential holds at most
/// `revocation.max_tokens_per_credential` token entries: the revocation that would exceed it
/// revokes every token the credential was issued up to then, with one credential entry.
pub async fn revoke(
    state: &AppState,
    client: PresentedClient,
    ip: Option<&str>,
    token: Option<String>,
) -> Result<(), OAuthError> {
    let caller = authenticate_caller(state, client, ip).await?;
    state
        .throttle
        .check_request(&caller.account_plan, &caller.credential.id)?;
    let Some(claims) = token.as_deref().and_then(|t| verify(state, t)) else {
        return Ok(());
    };
    let credential = caller.credential;
    if claims.client_id != credential.client_id {
        return Ok(());
    }
    let cap = state.settings.revocation.max_tokens_per_credential;
    let leeway = chrono::Duration::seconds(state.settings.keys.leeway_seconds);
    let clock = state.clock.clone();
    let actor_ip = ip.map(str::to_owned);
    let capped = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                // One revocation of a credential at a time, so the cap holds under concurrency.
                let current = Credential::find_for_update(conn, &credential.id)?;
                let now = clock.now();
                let subject = SubjectState {
                    credential_active: true,
                    credential_revoked_at: current.tokens_revoked_before,
                    ..SubjectState::default()
                };
                if is_revoked(claims.iat, &subject)
                    || revocations::token_revoked(conn, &claims.jti)?
                {
                    return Ok(None);
                }
                revocations::prune_tokens(conn, now - leeway)?;
                if revocations::count_tokens(conn, &current.client_id)? < cap {
                    let exp = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
                    revocations::insert_token(conn, &claims.jti, &current.client_id, exp, now)?;
                    return Ok(None);
                }
                revocations::revoke_credential_tokens(conn, &current.id, now)?;
                revocations::delete_tokens_of(conn, &current.client_id)?;
                AuditEvent {
                    id: new_row_id(now),
                    at: now,
                    actor: current.client_id.clone(),
                    actor_ip,
                    action: "credential.tokens_revoked".to_owned(),
                    account_id: Some(current.account_id.clone()),
                    workspace_id: current.workspace_id.clone(),
                    credential_id: Some(current.id.clone()),
                    details: json!({
                        "client_id": current.client_id,
                        "reason": "max_tokens_per_credential",
                        "max_tokens_per_credential": cap,
                    })
                    .to_string(),
                    admin_token: None,
                }
                .insert(conn)?;
                Ok::<_, StorageError>(Some((Subject::Credential(current.id), now)))
            })
        })
        .await?;
    if let Some((subject, at)) = capped {
        event_committed(state, subject, at).await;
    }
    Ok(())
}
