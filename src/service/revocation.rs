//! The revocation feed (SPEC §3), introspection (RFC 7662) and token revocation (RFC 7009).

use chrono::Duration;
use serde::Serialize;
use utoipa::openapi::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

use super::token::{authenticate, PresentedClient};
use crate::domain::claims::AccessTokenClaims;
use crate::domain::credential::TenantStatus;
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::domain::revocation::{is_revoked, revoked_before_seconds, SubjectState};
use crate::state::AppState;
use crate::storage::revocations::{self, SubjectRow};
use crate::storage::{from_db_time, to_db_time, write_transaction};

/// One feed entry naming a credential.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialEntry {
    /// The revoked credential.
    pub client_id: String,
    /// Tokens with an earlier `iat` are revoked.
    pub revoked_before: i64,
}

/// One feed entry naming an account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountEntry {
    /// The suspended account.
    pub account_id: String,
    /// Tokens with an earlier `iat` are revoked.
    pub revoked_before: i64,
}

/// One feed entry naming a workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceEntry {
    /// The suspended workspace.
    pub workspace_id: String,
    /// Tokens with an earlier `iat` are revoked.
    pub revoked_before: i64,
}

/// One revoked token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenEntry {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`: the entry can be forgotten after.
    pub exp: i64,
}

/// `GET /oauth/revocations`
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Feed {
    /// When this feed was computed (Unix seconds).
    pub generated_at: i64,
    /// Deactivated credentials and rotations with `revoke_tokens`.
    pub credentials: Vec<CredentialEntry>,
    /// Suspended accounts.
    pub accounts: Vec<AccountEntry>,
    /// Suspended workspaces.
    pub workspaces: Vec<WorkspaceEntry>,
    /// Tokens revoked one by one.
    pub tokens: Vec<TokenEntry>,
}

/// The feed as of now. Entries older than the token lifetime are left out: every token they
/// could concern has expired.
pub async fn feed(state: &AppState) -> Result<Feed, OAuthError> {
    let now = state.clock.now();
    let since = now - Duration::seconds(state.settings.tokens.lifetime_seconds);
    let rows = state
        .db(move |conn| revocations::feed(conn, to_db_time(since), to_db_time(now)))
        .await?;
    let secs = |t| revoked_before_seconds(from_db_time(t));
    Ok(Feed {
        generated_at: now.timestamp(),
        credentials: rows
            .credentials
            .into_iter()
            .map(|(client_id, at)| CredentialEntry {
                client_id,
                revoked_before: secs(at),
            })
            .collect(),
        accounts: rows
            .accounts
            .into_iter()
            .map(|(account_id, at)| AccountEntry {
                account_id,
                revoked_before: secs(at),
            })
            .collect(),
        workspaces: rows
            .workspaces
            .into_iter()
            .map(|(workspace_id, at)| WorkspaceEntry {
                workspace_id,
                revoked_before: secs(at),
            })
            .collect(),
        tokens: rows
            .tokens
            .into_iter()
            .map(|(jti, exp)| TokenEntry {
                jti,
                exp: from_db_time(exp).timestamp(),
            })
            .collect(),
    })
}

/// An RFC 7662 introspection response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Introspection {
    /// A token that is valid right now, with its claims.
    Active(Box<ActiveToken>),
    /// Anything else: nothing is said about it.
    Inactive(InactiveToken),
}

/// `{"active": true, "token_type": "Bearer", …claims}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveToken {
    /// Always `true`.
    #[schema(schema_with = always_true)]
    pub active: bool,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The token's claims.
    #[serde(flatten)]
    pub claims: AccessTokenClaims,
}

/// `{"active": false}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InactiveToken {
    /// Always `false`.
    #[schema(schema_with = always_false)]
    pub active: bool,
}

fn boolean_const(value: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

fn always_true() -> Object {
    boolean_const(true)
}

fn always_false() -> Object {
    boolean_const(false)
}

impl Introspection {
    fn inactive() -> Self {
        Self::Inactive(InactiveToken { active: false })
    }
}

/// Who asks to introspect: an admin token (maybe scoped) or a credential (scoped to its account).
#[derive(Debug, Clone)]
pub struct Introspector {
    /// Tokens of other accounts are reported inactive.
    pub account_scope: Option<String>,
}

/// Authenticates a credential as an introspection or revocation caller. A deactivated or
/// expired credential may not.
pub async fn authenticate_caller(
    state: &AppState,
    client: PresentedClient,
    ip: Option<&str>,
) -> Result<crate::storage::credentials::Credential, OAuthError> {
    let now = state.clock.now();
    let authenticated = authenticate(state, client, ip, now).await?;
    let credential = authenticated.record.credential;
    let expired = credential
        .expires_at
        .is_some_and(|at| from_db_time(at) <= now);
    if credential.deactivated_at.is_some() || expired {
        return Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED));
    }
    Ok(credential)
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
    let suspended = |s: &str| TenantStatus::parse(s) != Some(TenantStatus::Active);
    SubjectState {
        credential_active: row.deactivated_at.is_none(),
        credential_revoked_before: row.tokens_revoked_before.map(from_db_time),
        account_suspended: suspended(&row.account_status),
        workspace_suspended: row.workspace_status.as_deref().is_some_and(suspended),
        jti_revoked: row.jti_revoked,
    }
}

/// RFC 7662: `{"active": true, …claims}` for a token that is valid right now, else
/// `{"active": false}` and nothing more.
pub async fn introspect(
    state: &AppState,
    caller: &Introspector,
    token: Option<String>,
) -> Result<Introspection, OAuthError> {
    let inactive = Introspection::inactive();
    let Some(claims) = token.as_deref().and_then(|t| verify(state, t)) else {
        return Ok(inactive);
    };
    if caller
        .account_scope
        .as_ref()
        .is_some_and(|scope| *scope != claims.account_id)
    {
        return Ok(inactive);
    }
    let (client_id, jti) = (claims.client_id.clone(), claims.jti.clone());
    let row = state
        .db(move |conn| revocations::subject(conn, &client_id, &jti))
        .await?;
    let Some(row) = row else {
        return Ok(inactive);
    };
    if row.account_id != claims.account_id || is_revoked(claims.iat, &subject_state(&row)) {
        return Ok(inactive);
    }
    Ok(Introspection::Active(Box::new(ActiveToken {
        active: true,
        token_type: "Bearer",
        claims,
    })))
}

/// RFC 7009: the client revokes one of its own tokens. Whatever the token is (garbage, expired,
/// another client's), the answer is the same success, so nothing is learned from it.
pub async fn revoke(
    state: &AppState,
    client: PresentedClient,
    ip: Option<&str>,
    token: Option<String>,
) -> Result<(), OAuthError> {
    let caller = authenticate_caller(state, client, ip).await?;
    let Some(claims) = token.as_deref().and_then(|t| verify(state, t)) else {
        return Ok(());
    };
    if claims.client_id != caller.client_id {
        return Ok(());
    }
    let now = state.clock.now();
    let exp = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                revocations::revoke_token(
                    conn,
                    &claims.jti,
                    &claims.client_id,
                    to_db_time(exp),
                    to_db_time(now),
                )
            })
        })
        .await?;
    Ok(())
}
