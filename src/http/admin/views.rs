//! What the admin API returns: JSON views of the stored rows. No view has a field for a hash, and
//! only [`IssuedCredentialView`] carries a plaintext secret.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType};
use utoipa::openapi::{Array, Object, Type};
use utoipa::ToSchema;

use crate::domain::client_assertion::{ASSERTION_TYPE, MAX_LIFETIME_SECONDS};
use crate::domain::credential::AuthMethod;
use crate::domain::trust::Evaluation;
use crate::http::openapi::string_enum;
use crate::service::admin::accounts::AccountUsage;
use crate::service::admin::credentials::{CredentialDetails, IssuedCredential};
use crate::service::admin::Listing;
use crate::storage::accounts::Account;
use crate::storage::audit::AuditEvent;
use crate::storage::credential_keys::CredentialKey;
use crate::storage::trust_rules::StoredTrustRule;
use crate::storage::workspaces::Workspace;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `listing`, each item shown as `view`.
    pub fn of<R>(listing: Listing<R>, view: impl FnMut(R) -> T) -> Self {
        Self {
            items: listing.items.into_iter().map(view).collect(),
            next_cursor: listing.next_cursor,
        }
    }
}

/// `active` or `suspended` (accounts and workspaces).
pub fn tenant_status_schema() -> Object {
    string_enum(&["active", "suspended"])
}

/// `active`, `expired` or `deactivated`.
pub fn credential_status_schema() -> Object {
    string_enum(&["active", "expired", "deactivated"])
}

fn credential_kind_schema() -> Object {
    string_enum(&["account", "workspace"])
}

/// `client_secret`, `private_key_jwt` or `federated`.
pub fn auth_method_schema() -> Object {
    string_enum(&["client_secret", "private_key_jwt", "federated"])
}

/// A public JWK: `kty` and the members of its type; as read back (`stored`), also its `kid` and
/// `last_used_at`. Other members are allowed in a submitted JWK and not kept.
pub fn jwk_schema(stored: bool) -> Object {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let mut jwk = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("kty", string_enum(&["RSA", "EC", "OKP"]))
        .property("kid", text())
        .property("use", string_enum(&["sig"]))
        .property("alg", string_enum(&["RS256", "ES256", "EdDSA", "Ed25519"]))
        .property("n", text())
        .property("e", text())
        .property("crv", string_enum(&["P-256", "Ed25519"]))
        .property("x", text())
        .property("y", text())
        .required("kty");
    if stored {
        jwk = jwk
            .property(
                "last_used_at",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    )))
                    .description(Some(
                        "Last client assertion signed with this key (flushed every few seconds).",
                    )),
            )
            .required("kid")
            .required("last_used_at");
    }
    jwk.build()
}

fn stored_jwk_list_schema() -> Array {
    ArrayBuilder::new().items(jwk_schema(true)).build()
}

fn stored_trust_list_schema() -> Array {
    ArrayBuilder::new()
        .items(super::requests::trust_rule_schema(true))
        .build()
}

/// A trust rule as read: its members, and its last use.
fn trust_rule_view(stored: StoredTrustRule) -> Value {
    let mut rule = match serde_json::to_value(&stored.rule) {
        Ok(Value::Object(rule)) => rule,
        _ => serde_json::Map::new(),
    };
    rule.insert("last_used_at".into(), json!(stored.last_used_at));
    Value::Object(rule)
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Plan.
    pub plan: String,
    /// `active` or `suspended`.
    #[schema(schema_with = tenant_status_schema)]
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id,
            name: a.name,
            plan: a.plan,
            status: a.status.as_str().to_owned(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// An account's usage in one UTC month, against its plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountUsageView {
    /// The account.
    pub account_id: String,
    /// Its plan.
    pub plan: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Tokens signed for the account's credentials that month (reused tokens count once).
    pub tokens_issued: u64,
    /// The plan's monthly quota; `null`: none.
    pub monthly_token_quota: Option<u64>,
    /// What is left of it; `null` without a quota.
    pub tokens_remaining: Option<u64>,
    /// When the month's count ends.
    pub resets_at: DateTime<Utc>,
    /// The plan's per-credential rate; `null`: none.
    pub token_requests_per_minute: Option<u32>,
    /// Active credentials now.
    pub active_credentials: i64,
    /// The plan's limit on them.
    pub max_active_credentials: Option<u64>,
}

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Name.
    pub name: String,
    /// `active` or `suspended`.
    #[schema(schema_with = tenant_status_schema)]
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceView {
    fn from(w: Workspace) -> Self {
        Self {
            id: w.id,
            account_id: w.account_id,
            name: w.name,
            status: w.status.as_str().to_owned(),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// One working secret of a credential, without its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// Id.
    pub id: String,
    /// Last four characters.
    pub last4: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// End of its grace period, if rotated away.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use (flushed every few seconds).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The public keys of a `private_key_jwt` credential: a JWK Set, each key with its last use.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwksView {
    /// The keys, in the order they were given.
    #[schema(schema_with = stored_jwk_list_schema)]
    pub keys: Vec<Value>,
}

impl JwksView {
    fn of(keys: Vec<CredentialKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| {
                    // Written by the validated JWK Set, so an object; were it not, the kid alone.
                    let mut jwk = match serde_json::from_str(&k.jwk) {
                        Ok(Value::Object(jwk)) => jwk,
                        _ => serde_json::Map::from_iter([("kid".to_owned(), json!(k.kid))]),
                    };
                    jwk.insert("last_used_at".into(), json!(k.last_used_at));
                    Value::Object(jwk)
                })
                .collect(),
        }
    }
}

/// A credential as read (docs/api.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialView {
    /// Id.
    pub id: String,
    /// Public client id.
    pub client_id: String,
    /// `account` or `workspace`.
    #[schema(schema_with = credential_kind_schema)]
    pub kind: String,
    /// How its client authenticates: `client_secret`, `private_key_jwt` or `federated`.
    #[schema(schema_with = auth_method_schema)]
    pub auth_method: &'static str,
    /// Account.
    pub account_id: String,
    /// Workspace (workspace keys).
    pub workspace_id: Option<String>,
    /// Role.
    pub role: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Audience.
    pub audience: String,
    /// Last four characters of the current secret.
    pub secret_last4: Option<String>,
    /// `active`, `expired` or `deactivated`.
    #[schema(schema_with = credential_status_schema)]
    pub status: &'static str,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Creator.
    pub created_by: String,
    /// Last rotation.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Deactivation.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Last successful token request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Its source IP.
    pub last_used_ip: Option<String>,
    /// The secrets that still work: one, or two during a rotation's grace period (empty for a
    /// credential without secrets).
    pub secrets: Vec<SecretView>,
    /// Its public keys (`private_key_jwt` credentials only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksView>,
    /// Its trust rules, in order, each with its last use (`federated` credentials only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = stored_trust_list_schema)]
    pub trust: Option<Vec<Value>>,
}

impl From<CredentialDetails> for CredentialView {
    fn from(d: CredentialDetails) -> Self {
        let c = d.credential;
        Self {
            auth_method: c.auth_method.as_str(),
            jwks: (c.auth_method == AuthMethod::PrivateKeyJwt).then(|| JwksView::of(d.keys)),
            trust: (c.auth_method == AuthMethod::Federated)
                .then(|| d.trust_rules.into_iter().map(trust_rule_view).collect()),
            secret_last4: d.secrets.first().map(|s| s.last4.clone()),
            secrets: d
                .secrets
                .into_iter()
                .map(|s| SecretView {
                    id: s.id,
                    last4: s.last4,
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                    last_used_at: s.last_used_at,
                })
                .collect(),
            id: c.id,
            client_id: c.client_id,
            kind: c.kind.as_str().to_owned(),
            account_id: c.account_id,
            workspace_id: c.workspace_id,
            role: c.role,
            scopes: c.scopes.as_slice().to_vec(),
            name: c.name,
            description: c.description,
            audience: c.audience,
            status: d.status.as_str(),
            expires_at: c.expires_at,
            created_at: c.created_at,
            created_by: c.created_by,
            rotated_at: c.rotated_at,
            deactivated_at: c.deactivated_at,
            last_used_at: c.last_used_at,
            last_used_ip: c.last_used_ip,
        }
    }
}

/// The response to creation and rotation: the credential plus the secret, shown this once, or,
/// for a `private_key_jwt` credential, the shape of the assertion to sign.
#[derive(Serialize, ToSchema)]
pub struct IssuedCredentialView {
    /// The credential as read.
    #[serde(flatten)]
    pub credential: CredentialView,
    /// The plaintext secret (`client_secret` credentials). Not stored anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Where to exchange it.
    pub token_url: String,
    /// A ready-to-run token request (for `private_key_jwt`, with `$ASSERTION` for the signed
    /// assertion; for `federated`, with `$WORKLOAD_TOKEN` for the external token).
    pub curl_example: String,
    /// `private_key_jwt`: the claims the client signs, with one of its registered keys, into
    /// the assertion (JWS header: `alg` RS256, ES256 or EdDSA, and the key's `kid`).
    /// `federated`: the claims an external token needs to match the first trust rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub assertion_claims: Option<Value>,
}

impl IssuedCredentialView {
    /// The view of a credential with its new secret, or its assertion's shape, and how to use
    /// it at `token_url`.
    pub fn new(issued: IssuedCredential, token_url: String) -> Self {
        let credential = CredentialView::from(issued.details);
        let audience = credential.audience.replace('\'', "'\\''");
        if credential.auth_method == AuthMethod::Federated.as_str() {
            let curl_example = format!(
                "curl -s -X POST '{token_url}' -d grant_type=client_credentials \
                 -d client_id={} -d client_assertion_type={ASSERTION_TYPE} \
                 -d client_assertion=\"$WORKLOAD_TOKEN\" --data-urlencode 'audience={audience}'",
                credential.client_id
            );
            let assertion_claims = credential
                .trust
                .as_ref()
                .and_then(|rules| rules.first())
                .map(|rule| {
                    let mut claims = json!({
                        "iss": rule["issuer"],
                        "sub": rule["subject"],
                        "aud": rule["audience"],
                        "exp": "<in the future>",
                        "jti": "<optional; if present, accepted once>",
                    });
                    if let (Some(all), Some(extra)) =
                        (claims.as_object_mut(), rule["claims"].as_object())
                    {
                        all.extend(extra.clone());
                    }
                    claims
                });
            return Self {
                client_secret: None,
                credential,
                token_url,
                curl_example,
                assertion_claims,
            };
        }
        let Some(secret) = issued.secret else {
            let curl_example = format!(
                "curl -s -X POST '{token_url}' -d grant_type=client_credentials \
                 -d client_assertion_type={ASSERTION_TYPE} -d client_assertion=\"$ASSERTION\" \
                 --data-urlencode 'audience={audience}'"
            );
            let assertion_claims = json!({
                "iss": credential.client_id,
                "sub": credential.client_id,
                "aud": token_url,
                "jti": "<unique for every assertion>",
                "iat": "<now, Unix seconds>",
                "exp": format!("<at most {MAX_LIFETIME_SECONDS} seconds after iat>"),
            });
            return Self {
                client_secret: None,
                credential,
                token_url,
                curl_example,
                assertion_claims: Some(assertion_claims),
            };
        };
        let curl_example = format!(
            "curl -s -X POST '{token_url}' -H 'Content-Type: application/json' \
             -d '{{\"grant_type\":\"client_credentials\",\"client_id\":\"{}\",\"client_secret\":\"{}\",\"audience\":\"{audience}\"}}'",
            credential.client_id,
            secret.expose(),
        );
        Self {
            client_secret: Some(secret.expose().to_owned()),
            credential,
            token_url,
            curl_example,
            assertion_claims: None,
        }
    }
}

impl From<AccountUsage> for AccountUsageView {
    fn from(u: AccountUsage) -> Self {
        Self {
            account_id: u.account_id,
            plan: u.plan,
            month: u.month,
            tokens_issued: u.tokens_issued,
            monthly_token_quota: u.monthly_token_quota,
            tokens_remaining: u.tokens_remaining,
            resets_at: u.resets_at,
            token_requests_per_minute: u.token_requests_per_minute,
            active_credentials: u.active_credentials,
            max_active_credentials: u.max_active_credentials,
        }
    }
}

impl std::fmt::Debug for IssuedCredentialView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredentialView")
            .field("credential", &self.credential)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// One rule's result in a dry run.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrustRuleResultView {
    /// The rule's 0-based position.
    pub index: usize,
    /// Whether the token matches it (and its issuer's keys verify the token).
    pub matched: bool,
    /// Why not, one sentence per failed check; empty when it matches.
    pub reasons: Vec<String>,
}

/// The answer of a dry run: which rule the token would match, or for each rule why not.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrustTestView {
    /// The 0-based index of the rule that would be used (the first that matches), or `null`.
    pub matched: Option<usize>,
    /// One result per rule, in order.
    pub rules: Vec<TrustRuleResultView>,
}

impl From<Evaluation> for TrustTestView {
    fn from(e: Evaluation) -> Self {
        Self {
            matched: e.matched,
            rules: e
                .rules
                .into_iter()
                .map(|r| TrustRuleResultView {
                    index: r.index,
                    matched: r.matched,
                    reasons: r.reasons,
                })
                .collect(),
        }
    }
}

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Id.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The name of the admin token that authenticated the change, whatever `X-Actor` said;
    /// `null` for a change a client caused (the per-credential revocation cap) and for events
    /// recorded before it was kept.
    pub admin_token: Option<String>,
    /// Who: the `X-Actor` header if given, else the admin token's name (for a change a client
    /// caused, its client id).
    pub actor: String,
    /// From where.
    pub actor_ip: Option<String>,
    /// What.
    pub action: String,
    /// Target account.
    pub account_id: Option<String>,
    /// Target workspace.
    pub workspace_id: Option<String>,
    /// Target credential.
    pub credential_id: Option<String>,
    /// Details.
    pub details: serde_json::Value,
}

impl From<AuditEvent> for AuditView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            admin_token: e.admin_token,
            actor: e.actor,
            actor_ip: e.actor_ip,
            action: e.action,
            account_id: e.account_id,
            workspace_id: e.workspace_id,
            credential_id: e.credential_id,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
        }
    }
}
