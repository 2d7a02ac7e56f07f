//! The token endpoint's use case: authenticate the client, decide the grant, sign the token.

use chrono::{DateTime, Utc};

use crate::domain::claims::token_lifetime;
use crate::domain::claims::{AccessTokenClaims, TokenSubject};
use crate::domain::credential::{AuthMethod, TenantStatus};
use crate::domain::grant::{self, CredentialSnapshot, RequestedGrant};
use crate::domain::ids::ClientId;
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::domain::quota;
use crate::domain::revocation::{must_wait_until, revoked_before_seconds};
use crate::domain::secret::ClientSecret;
use crate::service::token_reuse::ReuseKey;
use crate::service::{client_assertion, federated_client};
use crate::state::AppState;
use crate::storage::credentials::AuthRecord;
use crate::storage::revocations;
use crate::storage::StorageError;
use crate::telemetry::{self, Refusal};

/// The client's credentials as presented, not yet trusted: a secret or a client assertion (a
/// `private_key_jwt` assertion or a `federated` credential's external token), never both (the request parser refuses that).
#[derive(Default)]
pub struct PresentedClient {
    /// `client_id`, if any.
    pub client_id: Option<String>,
    /// `client_secret`, if any. Dropped as soon as it is parsed.
    pub client_secret: Option<String>,
    /// `client_assertion` (RFC 7523, its type already checked), if any.
    pub client_assertion: Option<String>,
}

impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("PresentedClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("client_assertion", &redacted(&self.client_assertion))
            .finish()
    }
}

impl PresentedClient {
    /// The client this request claims to be, for the failed-authentication throttle: its
    /// `client_id`, else the (unverified) `iss` of its assertion.
    fn claimed_id(&self) -> Option<String> {
        self.client_id.clone().or_else(|| {
            self.client_assertion
                .as_deref()
                .and_then(client_assertion::claimed_client_id)
        })
    }
}

/// A signed access token and what the response says about it.
#[derive(Debug)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// Its scopes, when it has any.
    pub scope: Option<String>,
    /// The client it was issued to, for the access log.
    pub client_id: String,
    /// Whether it was handed back under `tokens.reuse_seconds` rather than signed now.
    pub reused: bool,
}

impl From<StorageError> for OAuthError {
    fn from(e: StorageError) -> Self {
        log::error!("token endpoint storage failure: {e}");
        OAuthError::TemporarilyUnavailable
    }
}

/// What proved the client's identity: the row id of the secret, key or trust rule that matched, so its
/// last use can be recorded and a decision made later can check it still works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticator {
    /// One of `record.secrets` (`client_secret`).
    Secret(String),
    /// One of `record.keys`, which verified the client assertion (`private_key_jwt`).
    Key(String),
    /// One of `record.trust_rules`, which the external token matched (`federated`).
    Rule(String),
}

impl Authenticator {
    /// Whether `record` (read again) still has this secret or key working.
    fn still_in(&self, record: &AuthRecord) -> bool {
        match self {
            Self::Secret(id) => {
                record.credential.auth_method == AuthMethod::ClientSecret
                    && record.secrets.iter().take(2).any(|s| s.id == *id)
            }
            Self::Key(id) => {
                record.credential.auth_method == AuthMethod::PrivateKeyJwt
                    && record.keys.iter().any(|k| k.id == *id)
            }
            Self::Rule(id) => {
                record.credential.auth_method == AuthMethod::Federated
                    && record.trust_rules.iter().any(|r| r.id == *id)
            }
        }
    }
}

/// A client whose secret or assertion was verified.
#[derive(Debug)]
pub struct AuthenticatedClient {
    /// Its stored record, as read for this request.
    pub record: AuthRecord,
    /// The secret or key that matched.
    pub authenticator: Authenticator,
    /// The month (`YYYY-MM`) the record's token count is for.
    pub month: String,
}

/// Verifies a client presented from `ip`, by its id and secret or by its client assertion. A
/// client id or address that failed too often is refused first, before any other work; each
/// failure here counts against both. Deactivation and expiry are not judged here: the caller
/// decides what they mean for its endpoint.
pub async fn authenticate(
    state: &AppState,
    client: PresentedClient,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    let client_id = client.claimed_id();
    state.throttle.check_failures(client_id.as_deref(), ip)?;
    let result = verify_client(state, client, now).await;
    if matches!(result, Err(OAuthError::InvalidClient(_))) {
        state.throttle.record_failure(client_id.as_deref(), ip);
    }
    result
}

/// One method per request: a secret, an assertion (`private_key_jwt`), or an external token
/// (`federated`).
async fn verify_client(
    state: &AppState,
    client: PresentedClient,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    match client {
        PresentedClient {
            client_id: Some(id),
            client_secret: Some(secret),
            client_assertion: None,
        } => verify_secret(state, id, secret, now).await,
        // A `federated` client names itself by `client_id` and presents a token whose `iss` is
        // its identity provider; a `private_key_jwt` assertion's `iss` is the client id.
        PresentedClient {
            client_id: Some(id),
            client_secret: None,
            client_assertion: Some(assertion),
        } if client_assertion::claimed_client_id(&assertion).as_deref() != Some(id.as_str()) => {
            federated_client::verify(state, &id, &assertion, now).await
        }
        PresentedClient {
            client_id,
            client_secret: None,
            client_assertion: Some(assertion),
        } => client_assertion::verify(state, client_id, &assertion, now).await,
        _ => Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED)),
    }
}

/// Documented format (docs/api.md): garbage is refused before any query or argon2 run; an
/// unknown client, or one that does not authenticate with a secret, costs the same argon2 work
/// as a wrong secret.
async fn verify_secret(
    state: &AppState,
    raw_id: String,
    raw_secret: String,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    // Shape and checksum first: garbage costs neither a query nor an argon2 run.
    let secret = ClientSecret::parse(&raw_secret)
        .map_err(|_| OAuthError::InvalidClient(CLIENT_AUTH_FAILED))?;
    drop(raw_secret);
    let client_id =
        ClientId::parse(&raw_id).ok_or(OAuthError::InvalidClient(CLIENT_AUTH_FAILED))?;

    let month = quota::month_of(now);
    let record = state
        .auth_lookups
        .read(client_id.as_str(), now, &month)
        .await?;

    // At most two live secrets exist (current and one in grace); never verify more. A
    // credential of another method has none: its secret is checked against nothing.
    let live = record
        .as_ref()
        .filter(|r| r.credential.auth_method == AuthMethod::ClientSecret)
        .map_or(&[][..], |r| &r.secrets[..r.secrets.len().min(2)]);
    let candidates: Vec<(&str, &str)> = live
        .iter()
        .map(|s| (s.id.as_str(), s.secret_hash.as_str()))
        .collect();
    let matched = match state.verified.lookup(&candidates, &secret) {
        Some(i) => {
            telemetry::secret_verification(true, true);
            Some(i)
        }
        None => {
            let hashes = live.iter().map(|s| s.secret_hash.clone()).collect();
            let matched = state
                .hasher
                .verify_any(secret.clone(), hashes)
                .await
                .map_err(|_| OAuthError::TemporarilyUnavailable)?;
            if let Some(i) = matched {
                state
                    .verified
                    .remember(&live[i].id, &live[i].secret_hash, &secret);
            }
            telemetry::secret_verification(matched.is_some(), false);
            matched
        }
    };
    match (record, matched) {
        (Some(record), Some(i)) => Ok(AuthenticatedClient {
            authenticator: Authenticator::Secret(record.secrets[i].id.clone()),
            record,
            month,
        }),
        _ => Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED)),
    }
}

/// What the grant decision needs of a credential, from its stored record.
fn snapshot_of(record: &AuthRecord) -> CredentialSnapshot {
    let credential = &record.credential;
    CredentialSnapshot {
        kind: credential.kind,
        audience: credential.audience.clone(),
        scopes: credential.scopes.clone(),
        expires_at: credential.expires_at,
        deactivated: credential.deactivated_at.is_some(),
        account_active: record.account_status == TenantStatus::Active,
        workspace_active: record
            .workspace_status
            .is_none_or(|s| s == TenantStatus::Active),
    }
}

/// The client's record read again at `now`; the secret or key that authenticated it must still
/// work.
async fn reread(
    state: &AppState,
    client_id: &str,
    authenticator: &Authenticator,
    now: DateTime<Utc>,
    month: &str,
) -> Result<AuthRecord, OAuthError> {
    let record = state.auth_lookups.read(client_id, now, month).await?;
    record
        .filter(|r| authenticator.still_in(r))
        .ok_or(OAuthError::InvalidClient(CLIENT_AUTH_FAILED))
}

/// A client allowed a grant, at the time the token will carry.
struct Decided {
    record: AuthRecord,
    authenticator: Authenticator,
    month: String,
    granted: grant::Grant,
    now: DateTime<Utc>,
}

/// Decides the grant for an authenticated client. Right after a revocation event of its own
/// credential, in the same second, it waits for the next second and decides again on the
/// credential as it is then (the boundary rule: a token signed in the event's second would look
/// revoked, and another event may have come meanwhile).
async fn decide(
    state: &AppState,
    client: AuthenticatedClient,
    requested: &RequestedGrant,
    mut now: DateTime<Utc>,
) -> Result<Decided, OAuthError> {
    let AuthenticatedClient {
        mut record,
        authenticator,
        month,
    } = client;
    loop {
        let granted = grant::decide(&snapshot_of(&record), requested, now)?;
        let Some(next_second) = must_wait_until(record.credential.tokens_revoked_before, now)
        else {
            return Ok(Decided {
                record,
                authenticator,
                month,
                granted,
                now,
            });
        };
        state.clock.sleep_until(next_second).await;
        now = state.clock.now();
        record = reread(
            state,
            &record.credential.client_id,
            &authenticator,
            now,
            &month,
        )
        .await?;
    }
}

/// The monthly token quota of the client's plan, if it has one.
fn check_quota(state: &AppState, d: &Decided) -> Result<(), OAuthError> {
    let quota = state
        .settings
        .plans
        .get(&d.record.account_plan)
        .and_then(|plan| plan.monthly_token_quota);
    if quota.is_some() {
        let used = u64::try_from(d.record.account_tokens_this_month).unwrap_or(0)
            + state
                .usage
                .unflushed_tokens(&d.record.credential.account_id, &d.month);
        quota::check(used, quota, d.now)
            .inspect_err(|_| telemetry::refusal(Refusal::MonthlyQuota))?;
    }
    Ok(())
}

fn reuse_key(d: &Decided) -> ReuseKey {
    ReuseKey {
        credential_id: d.record.credential.id.clone(),
        role: d.record.credential.role.clone(),
        audience: d.granted.audience.clone(),
        scope: d.granted.scope(),
    }
}

/// The token this client was given for the same grant within the reuse window, unless it was
/// revoked since — also by RFC 7009 at another replica.
async fn reused(state: &AppState, d: &Decided) -> Result<Option<IssuedToken>, OAuthError> {
    let revoked_before = d
        .record
        .credential
        .tokens_revoked_before
        .map(revoked_before_seconds);
    let Some(reusable) = state
        .reuse
        .get(&reuse_key(d), d.now.timestamp(), revoked_before)
    else {
        return Ok(None);
    };
    let jti = reusable.jti.clone();
    if state
        .db(move |conn| revocations::token_revoked(conn, &jti))
        .await?
    {
        return Ok(None);
    }
    Ok(Some(IssuedToken {
        access_token: reusable.token,
        expires_in: reusable.expires_in,
        scope: d.granted.scope(),
        client_id: d.record.credential.client_id.clone(),
        reused: true,
    }))
}

/// Signs a new token for the grant: `exp` never later than the credential's expiry.
fn sign(state: &AppState, d: &Decided) -> Result<IssuedToken, OAuthError> {
    let settings = &state.settings;
    let credential = &d.record.credential;
    let lifetime = token_lifetime(
        settings.tokens.lifetime_seconds,
        d.now.timestamp(),
        credential.expires_at.map(|at| at.timestamp()),
    )
    .ok_or(OAuthError::InvalidClient(CLIENT_AUTH_FAILED))?;
    let claims = AccessTokenClaims::build(
        &settings.server.issuer,
        &TokenSubject {
            client_id: &credential.client_id,
            kind: credential.kind,
            account_id: &credential.account_id,
            workspace_id: credential.workspace_id.as_deref(),
            role: &credential.role,
        },
        &d.granted.audience,
        &d.granted.scopes,
        d.now.timestamp(),
        lifetime,
    );
    let access_token = state.keys.sign(&claims).map_err(|e| {
        log::error!("signing failed: {e}");
        OAuthError::TemporarilyUnavailable
    })?;
    state.reuse.put(
        reuse_key(d),
        &access_token,
        &claims.jti,
        claims.iat,
        claims.exp,
    );
    // Only signed tokens count: a reused one was counted when it was signed.
    state.usage.record_token(&credential.account_id, &d.month);
    Ok(IssuedToken {
        access_token,
        expires_in: lifetime,
        scope: d.granted.scope(),
        client_id: credential.client_id.clone(),
        reused: false,
    })
}

/// The client-credentials grant, as RFC 6749 §4.4 reads: authenticate the client, decide the
/// grant, check the quota, then hand back the token given before (opt-in reuse) or sign one.
/// `ip` is recorded as the credential's last use.
pub async fn issue(
    state: &AppState,
    client: PresentedClient,
    requested: RequestedGrant,
    ip: Option<String>,
) -> Result<IssuedToken, OAuthError> {
    grant::check_grant_type(&requested)?;
    let now = state.clock.now();
    let client = authenticate(state, client, ip.as_deref(), now).await?;
    // Counted once the client is known, so nobody can spend another client's rate.
    let credential = &client.record.credential;
    state
        .throttle
        .check_request(&client.record.account_plan, &credential.id)?;
    let decided = decide(state, client, &requested, now).await?;
    check_quota(state, &decided)?;
    state.usage.record(
        &decided.record.credential.id,
        &decided.authenticator,
        decided.now,
        ip.as_deref(),
    );
    match reused(state, &decided).await? {
        Some(token) => Ok(token),
        None => sign(state, &decided),
    }
}
