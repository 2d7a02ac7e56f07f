//! Credentials: create, read, list, rename and re-role, rotate, replace public keys or trust
//! rules, try an external token against the trust rules, deactivate.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{check_id, not_found, record, AdminError, Caller, Listing, PageSpec};
use crate::domain::client_jwks::{ClientJwk, ClientJwks};
use crate::domain::credential::{self, AuthMethod, CredentialKind, CredentialStatus};
use crate::domain::ids::{new_row_id, ClientId};
use crate::domain::scope::Scopes;
use crate::domain::secret::ClientSecret;
use crate::domain::trust::{Evaluation, TrustRule};
use crate::service::federation::MAX_TOKEN_BYTES;
use crate::service::revocation;
use crate::state::AppState;
use crate::storage::accounts::Account;
use crate::storage::credential_keys::CredentialKey;
use crate::storage::credentials::{Credential, CredentialFilter, CredentialSecret};
use crate::storage::revocations::{self, Subject};
use crate::storage::trust_rules::StoredTrustRule;
use crate::storage::workspaces::Workspace;
use crate::storage::{write_transaction, DbConnection};

/// A new credential as asked for; checked against the rules and the configuration here.
#[derive(Debug, Default)]
pub struct CredentialSpec {
    /// Name.
    pub name: String,
    /// Role: required for a workspace credential; an account credential's is always
    /// `account_admin`.
    pub role: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Audience (default: the first configured).
    pub audience: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// How its client will authenticate.
    pub auth_method: AuthMethod,
    /// The `keys` of its JWK Set (`private_key_jwt` only), as submitted.
    pub jwks: Option<Vec<serde_json::Value>>,
    /// Its trust rules (`federated` only), as submitted: a JSON array.
    pub trust: Option<serde_json::Value>,
}

/// What an update asks to change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct CredentialUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New role (workspace keys only).
    pub role: Option<String>,
}

/// Which credentials a list shows.
#[derive(Debug, Default)]
pub struct CredentialQuery {
    /// Only this account's.
    pub account_id: Option<String>,
    /// Only this workspace's.
    pub workspace_id: Option<String>,
    /// Only those with this status.
    pub status: Option<CredentialStatus>,
}

/// Where a new credential goes.
#[derive(Debug, Clone)]
pub enum Owner {
    /// An account key of this account.
    Account(String),
    /// A workspace key of this workspace.
    Workspace(String),
}

/// A credential as an administrator reads it: never a secret's value or hash beyond the row.
#[derive(Debug)]
pub struct CredentialDetails {
    /// The credential.
    pub credential: Credential,
    /// Its secrets that still work, newest first: one, or two during a grace period
    /// (`client_secret` credentials).
    pub secrets: Vec<CredentialSecret>,
    /// Its public keys, in their JWK Set's order (`private_key_jwt` credentials).
    pub keys: Vec<CredentialKey>,
    /// Its trust rules, in order (`federated` credentials).
    pub trust_rules: Vec<StoredTrustRule>,
    /// Its status when read.
    pub status: CredentialStatus,
}

/// A credential as created or rotated: with its new secret, shown this once, if it has one.
#[derive(Debug)]
pub struct IssuedCredential {
    /// The credential.
    pub details: CredentialDetails,
    /// The new secret; `None` for a credential without one (`private_key_jwt`, `federated`).
    pub secret: Option<ClientSecret>,
}

/// What will authenticate a new credential.
enum NewAuth {
    /// A generated secret.
    Secret,
    /// The submitted public keys, checked.
    Keys(ClientJwks),
    /// The submitted trust rules, checked.
    Rules(Vec<TrustRule>),
}

struct Validated {
    name: String,
    role: String,
    description: Option<String>,
    audience: String,
    expires_at: Option<DateTime<Utc>>,
    scopes: Scopes,
    auth: NewAuth,
}

/// What authenticates a new credential of `method`: `jwks` belongs to `private_key_jwt` only,
/// `trust` to `federated` only, and each of those methods needs its own.
fn new_auth(
    method: AuthMethod,
    jwks: Option<&[serde_json::Value]>,
    trust: Option<&serde_json::Value>,
) -> Result<NewAuth, AdminError> {
    if jwks.is_some() && method != AuthMethod::PrivateKeyJwt {
        return Err(AdminError::Validation(
            "jwks is only for auth_method private_key_jwt".into(),
        ));
    }
    if trust.is_some() && method != AuthMethod::Federated {
        return Err(AdminError::Validation(
            "trust is only for auth_method federated".into(),
        ));
    }
    match (method, jwks, trust) {
        (AuthMethod::ClientSecret, _, _) => Ok(NewAuth::Secret),
        (AuthMethod::PrivateKeyJwt, Some(keys), _) => Ok(NewAuth::Keys(ClientJwks::parse(keys)?)),
        (AuthMethod::PrivateKeyJwt, None, _) => Err(AdminError::Validation(
            "auth_method private_key_jwt needs jwks: {\"keys\": [the client's public JWKs]}".into(),
        )),
        (AuthMethod::Federated, _, Some(rules)) => {
            Ok(NewAuth::Rules(TrustRule::parse_list(rules)?))
        }
        (AuthMethod::Federated, _, None) => Err(AdminError::Validation(
            "auth_method federated needs trust: [{\"issuer\", \"subject\", \"audience\", \"claims\"?}, …]"
                .into(),
        )),
    }
}

/// The rows of `rules` for `credential_id`. A rule equal to one in `before` keeps that rule's
/// row id, creation time and last use; the others are new.
fn rule_rows(
    credential_id: &str,
    rules: &[TrustRule],
    before: &[StoredTrustRule],
    now: DateTime<Utc>,
) -> Vec<StoredTrustRule> {
    let mut unclaimed: Vec<&StoredTrustRule> = before.iter().collect();
    rules
        .iter()
        .enumerate()
        .map(|(position, rule)| {
            let kept = unclaimed
                .iter()
                .position(|old| old.rule == *rule)
                .map(|i| unclaimed.remove(i));
            StoredTrustRule {
                id: kept.map_or_else(|| new_row_id(now), |r| r.id.clone()),
                credential_id: credential_id.to_owned(),
                position: i32::try_from(position).unwrap_or(i32::MAX),
                rule: rule.clone(),
                created_at: kept.map_or(now, |r| r.created_at),
                last_used_at: kept.and_then(|r| r.last_used_at),
            }
        })
        .collect()
}

/// The rows of `jwks` for `credential_id`. A key whose `kid` and key material are those of a
/// key in `before` keeps that key's row id, creation time and last use; the others are new.
fn key_rows(
    credential_id: &str,
    jwks: &ClientJwks,
    before: &[CredentialKey],
    now: DateTime<Utc>,
) -> Vec<CredentialKey> {
    jwks.keys()
        .iter()
        .enumerate()
        .map(|(position, key)| {
            let kept = before.iter().find(|old| {
                old.kid == key.kid()
                    && ClientJwk::from_stored(&old.jwk)
                        .is_ok_and(|old| old.thumbprint() == key.thumbprint())
            });
            CredentialKey {
                id: kept.map_or_else(|| new_row_id(now), |k| k.id.clone()),
                credential_id: credential_id.to_owned(),
                position: i32::try_from(position).unwrap_or(i32::MAX),
                kid: key.kid().to_owned(),
                jwk: key.to_stored(),
                created_at: kept.map_or(now, |k| k.created_at),
                last_used_at: kept.and_then(|k| k.last_used_at),
            }
        })
        .collect()
}

fn validate_new(
    state: &AppState,
    kind: CredentialKind,
    spec: CredentialSpec,
    now: DateTime<Utc>,
) -> Result<Validated, AdminError> {
    let name = credential::name("name", &spec.name)?;
    let role = credential::role_for(kind, spec.role.as_deref(), &state.settings.roles.workspace)?;
    let description = spec
        .description
        .as_deref()
        .map(credential::description)
        .transpose()?;
    let audiences = &state.settings.tokens.audiences;
    let audience = match spec.audience {
        None => audiences.first().cloned().unwrap_or_default(),
        Some(a) if audiences.contains(&a) => a,
        Some(a) => {
            return Err(AdminError::Validation(format!(
                "audience {:?} is not allowed; allowed audiences: {}",
                credential::truncate(&a, 100),
                audiences.join(", ")
            )))
        }
    };
    if spec.expires_at.is_some_and(|at| at <= now) {
        return Err(AdminError::Validation(
            "expires_at must be in the future".into(),
        ));
    }
    let scopes = Scopes::from_admin_list(&spec.scopes)?;
    let auth = new_auth(spec.auth_method, spec.jwks.as_deref(), spec.trust.as_ref())?;
    Ok(Validated {
        name,
        role,
        description,
        audience,
        expires_at: spec.expires_at,
        scopes,
        auth,
    })
}

/// The secret's argon2 hash is computed before the transaction, so the write lock is held only
/// for the inserts.
fn new_secret(
    state: &AppState,
    credential_id: &str,
    now: DateTime<Utc>,
) -> Result<(ClientSecret, CredentialSecret), AdminError> {
    let secret = ClientSecret::generate();
    let hash = state
        .hasher
        .hash(&secret)
        .map_err(|_| AdminError::Internal)?;
    let row = CredentialSecret {
        id: new_row_id(now),
        credential_id: credential_id.to_owned(),
        secret_hash: hash,
        last4: secret.last4(),
        created_at: now,
        expires_at: None,
        last_used_at: None,
    };
    Ok((secret, row))
}

fn details(
    conn: &mut DbConnection,
    credential: Credential,
    now: DateTime<Utc>,
) -> Result<CredentialDetails, AdminError> {
    let (mut secrets, mut keys, mut trust_rules) = (vec![], vec![], vec![]);
    match credential.auth_method {
        AuthMethod::ClientSecret => secrets = CredentialSecret::live(conn, &credential.id, now)?,
        AuthMethod::PrivateKeyJwt => keys = CredentialKey::of(conn, &credential.id)?,
        AuthMethod::Federated => trust_rules = StoredTrustRule::of(conn, &credential.id)?,
    }
    Ok(CredentialDetails {
        status: credential.status(now),
        credential,
        secrets,
        keys,
        trust_rules,
    })
}

fn audit_event(
    caller: &Caller,
    now: DateTime<Utc>,
    action: &str,
    credential: &Credential,
    details: serde_json::Value,
) -> crate::storage::audit::AuditEvent {
    let mut event = caller.audit(now, action);
    event.account_id = Some(credential.account_id.clone());
    event.workspace_id = credential.workspace_id.clone();
    event.credential_id = Some(credential.id.clone());
    event.details = details.to_string();
    event
}

/// Creates a credential and returns it with its secret, shown this once, or with the public
/// keys it was given.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    owner: Owner,
    spec: CredentialSpec,
) -> Result<IssuedCredential, AdminError> {
    let (kind, owner_id, what) = match &owner {
        Owner::Account(id) => (CredentialKind::Account, id.clone(), "account"),
        Owner::Workspace(id) => (CredentialKind::Workspace, id.clone(), "workspace"),
    };
    check_id(&owner_id, what)?;
    let now = state.clock.now();
    let valid = validate_new(state, kind, spec, now)?;
    let caller = caller.clone();
    let worker = state.clone();
    state
        .db(move |conn| {
            let id = new_row_id(now);
            let (mut secret, mut secret_row, mut key_rows, mut rule_rows) =
                (None, None, vec![], vec![]);
            match &valid.auth {
                NewAuth::Secret => {
                    let (new, row) = new_secret(&worker, &id, now)?;
                    (secret, secret_row) = (Some(new), Some(row));
                }
                NewAuth::Keys(jwks) => key_rows = self::key_rows(&id, jwks, &[], now),
                NewAuth::Rules(rules) => rule_rows = self::rule_rows(&id, rules, &[], now),
            }
            let auth_method = spec_method(&valid.auth);
            let details = write_transaction(conn, |conn| {
                let (account_id, workspace_id) = match kind {
                    CredentialKind::Account => (owner_id.clone(), None),
                    CredentialKind::Workspace => {
                        let ws =
                            Workspace::find(conn, &owner_id).map_err(not_found("workspace"))?;
                        (ws.account_id, Some(owner_id.clone()))
                    }
                };
                caller.check_account(&account_id)?;
                let account =
                    Account::find_for_update(conn, &account_id).map_err(not_found("account"))?;
                enforce_plan(&worker, conn, &account, now)?;
                let credential = Credential {
                    id,
                    client_id: ClientId::generate(kind).as_str().to_owned(),
                    kind,
                    auth_method,
                    account_id,
                    workspace_id,
                    role: valid.role.clone(),
                    scopes: valid.scopes.clone(),
                    name: valid.name.clone(),
                    description: valid.description.clone(),
                    audience: valid.audience.clone(),
                    expires_at: valid.expires_at,
                    created_at: now,
                    created_by: caller.actor.clone(),
                    rotated_at: None,
                    deactivated_at: None,
                    tokens_revoked_before: None,
                    last_used_at: None,
                    last_used_ip: None,
                };
                credential.insert(conn)?;
                if let Some(row) = &secret_row {
                    row.insert(conn)?;
                }
                CredentialKey::insert_all(conn, &key_rows)?;
                StoredTrustRule::insert_all(conn, &rule_rows)?;
                let event = audit_event(
                    &caller,
                    now,
                    "credential.created",
                    &credential,
                    json!({
                        "client_id": credential.client_id,
                        "kind": credential.kind.as_str(),
                        "name": credential.name,
                        "role": credential.role,
                        "audience": credential.audience,
                        "scopes": credential.scopes.as_slice(),
                        "expires_at": credential.expires_at,
                        "auth_method": credential.auth_method.as_str(),
                        "secret_id": secret_row.as_ref().map(|r| &r.id),
                        "kids": (auth_method == AuthMethod::PrivateKeyJwt)
                            .then(|| key_rows.iter().map(|k| &k.kid).collect::<Vec<_>>()),
                        "trust_rules": (auth_method == AuthMethod::Federated)
                            .then(|| rule_rows.iter().map(|r| &r.rule).collect::<Vec<_>>()),
                    }),
                );
                record(conn, event)?;
                Ok::<_, AdminError>(CredentialDetails {
                    status: credential.status(now),
                    credential,
                    secrets: secret_row.iter().cloned().collect(),
                    keys: key_rows.clone(),
                    trust_rules: rule_rows.clone(),
                })
            })?;
            Ok(IssuedCredential { details, secret })
        })
        .await
}

fn spec_method(auth: &NewAuth) -> AuthMethod {
    match auth {
        NewAuth::Secret => AuthMethod::ClientSecret,
        NewAuth::Keys(_) => AuthMethod::PrivateKeyJwt,
        NewAuth::Rules(_) => AuthMethod::Federated,
    }
}

fn enforce_plan(
    state: &AppState,
    conn: &mut DbConnection,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<(), AdminError> {
    let plans = &state.settings.plans;
    // An account whose plan was removed from config falls back to the default plan's limits.
    let (plan_name, plan) = match plans.get(&account.plan) {
        Some(p) => (account.plan.as_str(), p),
        None => {
            let name = state.settings.accounts.default_plan.as_str();
            match plans.get(name) {
                Some(p) => (name, p),
                None => return Ok(()),
            }
        }
    };
    let active = Credential::count_active(conn, &account.id, now)?;
    credential::check_plan_limit(
        plan_name,
        plan.max_active_credentials,
        u64::try_from(active).unwrap_or(u64::MAX),
    )?;
    Ok(())
}

/// Reads a credential (never a secret).
pub async fn get(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<CredentialDetails, AdminError> {
    check_id(&id, "credential")?;
    let caller = caller.clone();
    let now = state.clock.now();
    state
        .db(move |conn| {
            let credential = Credential::find(conn, &id).map_err(not_found("credential"))?;
            caller.check_account(&credential.account_id)?;
            details(conn, credential, now)
        })
        .await
}

/// Lists credentials; a scoped token sees only its account's.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    query: CredentialQuery,
    page: PageSpec,
) -> Result<Listing<CredentialDetails>, AdminError> {
    if let Some(account) = &query.account_id {
        check_id(account, "account")?;
        caller.check_account(account)?;
    }
    if let Some(workspace) = &query.workspace_id {
        check_id(workspace, "workspace")?;
    }
    let filter = CredentialFilter {
        account_id: caller.account_scope.clone().or(query.account_id),
        workspace_id: query.workspace_id,
        status: query.status,
    };
    let now = state.clock.now();
    state
        .db(move |conn| {
            let rows = Credential::page(conn, &filter, now, page.cursor(), page.fetch_limit())?;
            page.finish(rows, |c| &c.id, |c| details(conn, c, now))
        })
        .await
}

/// Renames, re-describes or re-roles a credential. A new role revokes the tokens issued
/// before it: they carry the old one.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: String,
    update: CredentialUpdate,
) -> Result<CredentialDetails, AdminError> {
    check_id(&id, "credential")?;
    let name = update
        .name
        .as_deref()
        .map(|n| credential::name("name", n))
        .transpose()?;
    let description = update
        .description
        .as_deref()
        .map(credential::description)
        .transpose()?;
    let caller = caller.clone();
    let roles = state.settings.roles.workspace.clone();
    let clock = state.clock.clone();
    let (details, revoked) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let before =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                // Taken once the row is locked: see revocation::event_committed.
                let now = clock.now();
                caller.check_account(&before.account_id)?;
                let role = match &update.role {
                    None => None,
                    Some(_) if before.kind == CredentialKind::Account => {
                        return Err(AdminError::conflict(format!(
                            "an account credential always has the role {}",
                            credential::ACCOUNT_ROLE
                        )))
                    }
                    Some(_) if before.deactivated_at.is_some() => {
                        return Err(AdminError::conflict("the credential is deactivated"))
                    }
                    Some(r) => Some(credential::workspace_role(r, &roles)?),
                };
                let role = role.filter(|r| *r != before.role);
                crate::storage::credentials::update_fields(
                    conn,
                    &id,
                    name.as_deref(),
                    description.as_deref(),
                    role.as_deref(),
                )?;
                let revoked = match role {
                    Some(_) => {
                        revocations::revoke_credential_tokens(conn, &id, now)?;
                        Some((Subject::Credential(id.clone()), now))
                    }
                    None => None,
                };
                let event = audit_event(
                    &caller,
                    now,
                    "credential.updated",
                    &before,
                    json!({
                        "name": name,
                        "description_changed": description.is_some(),
                        "role": role.as_ref().map(|r| json!({"from": before.role, "to": r})),
                        "tokens_revoked": revoked.is_some(),
                    }),
                );
                record(conn, event)?;
                let after = Credential::find(conn, &id)?;
                Ok::<_, AdminError>((details(conn, after, now)?, revoked))
            })
        })
        .await?;
    if let Some((subject, at)) = revoked {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(details)
}

/// Issues a new secret. The old one stops at once, or after `grace_seconds`; an older secret
/// still in an earlier grace period stops at once, so at most two ever work. With
/// `revoke_tokens`, every token issued before is revoked.
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    id: String,
    grace_seconds: i64,
    revoke_tokens: bool,
) -> Result<IssuedCredential, AdminError> {
    check_id(&id, "credential")?;
    // The bounds, before any work.
    credential::rotated_secret_ends(&[], grace_seconds, state.clock.now())?;
    let caller = caller.clone();
    let worker = state.clone();
    let (issued, revoked) = state
        .db(move |conn| {
            let (secret, mut secret_row) = new_secret(&worker, &id, worker.clock.now())?;
            let (details, revoked) = write_transaction(conn, |conn| {
                // Locks the row (PostgreSQL) or holds the write lock (SQLite): concurrent rotations
                // of one credential run one after the other, each seeing the other's secret.
                let credential =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                let now = worker.clock.now();
                secret_row.created_at = now;
                caller.check_account(&credential.account_id)?;
                if credential.auth_method != AuthMethod::ClientSecret {
                    return Err(AdminError::conflict(format!(
                        "a {} credential has no secret to rotate",
                        credential.auth_method.as_str()
                    )));
                }
                if credential.deactivated_at.is_some() {
                    return Err(AdminError::conflict("the credential is deactivated"));
                }
                let live = CredentialSecret::live(conn, &id, now)?;
                let current_ends: Vec<_> = live.iter().map(|s| s.expires_at).collect();
                let ends = credential::rotated_secret_ends(&current_ends, grace_seconds, now)?;
                for (old, end) in live.iter().zip(ends) {
                    crate::storage::credentials::expire_secret(conn, &old.id, end)?;
                }
                secret_row.insert(conn)?;
                crate::storage::credentials::mark_rotated(conn, &id, now)?;
                let revoked = revoke_tokens.then(|| (Subject::Credential(id.clone()), now));
                if revoke_tokens {
                    revocations::revoke_credential_tokens(conn, &id, now)?;
                }
                let event = audit_event(
                    &caller,
                    now,
                    "credential.rotated",
                    &credential,
                    json!({
                        "client_id": credential.client_id,
                        "grace_seconds": grace_seconds,
                        "revoke_tokens": revoke_tokens,
                        "new_secret_id": secret_row.id,
                        "old_secret_ids": live.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                    }),
                );
                record(conn, event)?;
                let after = Credential::find(conn, &id)?;
                Ok::<_, AdminError>((details(conn, after, now)?, revoked))
            })?;
            let issued = IssuedCredential {
                details,
                secret: Some(secret),
            };
            Ok::<_, AdminError>((issued, revoked))
        })
        .await?;
    if let Some((subject, at)) = revoked {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(issued)
}

/// Replaces the public keys of a `private_key_jwt` credential with `keys` (a JWK Set's `keys`),
/// in one transaction. A key whose `kid` and key material are unchanged keeps its last use;
/// tokens already issued stay valid, as after a secret's rotation without `revoke_tokens`.
pub async fn replace_keys(
    state: &AppState,
    caller: &Caller,
    id: String,
    keys: Vec<serde_json::Value>,
) -> Result<CredentialDetails, AdminError> {
    check_id(&id, "credential")?;
    let jwks = ClientJwks::parse(&keys)?;
    let caller = caller.clone();
    let clock = state.clock.clone();
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let credential =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                let now = clock.now();
                caller.check_account(&credential.account_id)?;
                if credential.auth_method != AuthMethod::PrivateKeyJwt {
                    return Err(AdminError::conflict(format!(
                        "a {} credential has no public keys; only a private_key_jwt credential has",
                        credential.auth_method.as_str()
                    )));
                }
                if credential.deactivated_at.is_some() {
                    return Err(AdminError::conflict("the credential is deactivated"));
                }
                let before = CredentialKey::of(conn, &id)?;
                let rows = key_rows(&id, &jwks, &before, now);
                CredentialKey::replace_all(conn, &id, &rows)?;
                let kids = |keys: &[CredentialKey]| -> Vec<String> {
                    keys.iter().map(|k| k.kid.clone()).collect()
                };
                let kept: Vec<String> = rows
                    .iter()
                    .filter(|k| before.iter().any(|b| b.id == k.id))
                    .map(|k| k.kid.clone())
                    .collect();
                let event = audit_event(
                    &caller,
                    now,
                    "credential.keys_replaced",
                    &credential,
                    json!({
                        "client_id": credential.client_id,
                        "kids_before": kids(&before),
                        "kids_after": kids(&rows),
                        "kids_kept": kept,
                    }),
                );
                record(conn, event)?;
                details(conn, credential, now)
            })
        })
        .await
}

/// Replaces the trust rules of a `federated` credential with `trust` (a JSON array of rules),
/// in one transaction. A rule equal to one it had keeps its `last_used_at`. Tokens already
/// issued stay valid.
pub async fn replace_trust(
    state: &AppState,
    caller: &Caller,
    id: String,
    trust: serde_json::Value,
) -> Result<CredentialDetails, AdminError> {
    check_id(&id, "credential")?;
    let rules = TrustRule::parse_list(&trust)?;
    let caller = caller.clone();
    let clock = state.clock.clone();
    state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let credential =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                let now = clock.now();
                caller.check_account(&credential.account_id)?;
                check_federated(&credential)?;
                if credential.deactivated_at.is_some() {
                    return Err(AdminError::conflict("the credential is deactivated"));
                }
                let before = StoredTrustRule::of(conn, &id)?;
                let rows = rule_rows(&id, &rules, &before, now);
                StoredTrustRule::replace_all(conn, &id, &rows)?;
                let kept = rows
                    .iter()
                    .filter(|r| before.iter().any(|b| b.id == r.id))
                    .count();
                let event = audit_event(
                    &caller,
                    now,
                    "credential.updated",
                    &credential,
                    json!({
                        "client_id": credential.client_id,
                        "trust_rules_changed": true,
                        "trust_rules_before": before.iter().map(|r| &r.rule).collect::<Vec<_>>(),
                        "trust_rules_after": rows.iter().map(|r| &r.rule).collect::<Vec<_>>(),
                        "trust_rules_kept": kept,
                    }),
                );
                record(conn, event)?;
                details(conn, credential, now)
            })
        })
        .await
}

fn check_federated(credential: &Credential) -> Result<(), AdminError> {
    if credential.auth_method == AuthMethod::Federated {
        Ok(())
    } else {
        Err(AdminError::conflict(format!(
            "a {} credential has no trust rules; only a federated credential has",
            credential.auth_method.as_str()
        )))
    }
}

/// Which trust rule of a `federated` credential the external `token` would match now, or for
/// each rule why not: a dry run that fetches the issuer's keys as a token request would, and
/// records nothing (no `jti`, no last use, no audit event). The token is never logged.
pub async fn test_trust(
    state: &AppState,
    caller: &Caller,
    id: String,
    token: &str,
) -> Result<Evaluation, AdminError> {
    check_id(&id, "credential")?;
    if token.is_empty() {
        return Err(AdminError::Validation(
            "token is required: the external token to try".into(),
        ));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AdminError::Validation(format!(
            "token is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let caller = caller.clone();
    let rules = state
        .db(move |conn| {
            let credential = Credential::find(conn, &id).map_err(not_found("credential"))?;
            caller.check_account(&credential.account_id)?;
            check_federated(&credential)?;
            Ok::<_, AdminError>(StoredTrustRule::of(conn, &id)?)
        })
        .await?;
    let rules: Vec<TrustRule> = rules.into_iter().map(|r| r.rule).collect();
    let leeway = chrono::Duration::seconds(state.settings.keys.leeway_seconds);
    let dry_run = state
        .federation
        .dry_run(token, &rules, state.clock.now(), leeway)
        .await;
    Ok(dry_run.evaluation)
}

/// Deactivates a credential for good; tokens already issued stop being valid. Idempotent: a
/// second call changes nothing and records nothing.
pub async fn deactivate(
    state: &AppState,
    caller: &Caller,
    id: String,
) -> Result<CredentialDetails, AdminError> {
    check_id(&id, "credential")?;
    let caller = caller.clone();
    let clock = state.clock.clone();
    let (details, revoked) = state
        .db(move |conn| {
            write_transaction(conn, |conn| {
                let credential =
                    Credential::find_for_update(conn, &id).map_err(not_found("credential"))?;
                let now = clock.now();
                caller.check_account(&credential.account_id)?;
                if credential.deactivated_at.is_some() {
                    return Ok((details(conn, credential, now)?, None));
                }
                crate::storage::credentials::mark_deactivated(conn, &id, now)?;
                revocations::revoke_credential_tokens(conn, &id, now)?;
                let event = audit_event(
                    &caller,
                    now,
                    "credential.deactivated",
                    &credential,
                    json!({"client_id": credential.client_id}),
                );
                record(conn, event)?;
                let after = Credential::find(conn, &id)?;
                let revoked = Some((Subject::Credential(id.clone()), now));
                Ok::<_, AdminError>((details(conn, after, now)?, revoked))
            })
        })
        .await?;
    if let Some((subject, at)) = revoked {
        revocation::event_committed(state, subject, at).await;
    }
    Ok(details)
}
