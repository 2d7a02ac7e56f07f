//! What the admin API returns: JSON views of the stored rows. No view has a field for a hash, and
//! only [`IssuedCredentialView`] carries a plaintext secret.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::Object;
use utoipa::ToSchema;

use crate::http::openapi::string_enum;
use crate::service::admin::accounts::AccountUsage;
use crate::service::admin::credentials::{CredentialDetails, IssuedCredential};
use crate::service::admin::Listing;
use crate::storage::accounts::Account;
use crate::storage::audit::AuditEvent;
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
    /// The secrets that still work: one, or two during a rotation's grace period.
    pub secrets: Vec<SecretView>,
}

impl From<CredentialDetails> for CredentialView {
    fn from(d: CredentialDetails) -> Self {
        let c = d.credential;
        Self {
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

/// The response to creation and rotation: the credential plus the secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct IssuedCredentialView {
    /// The credential as read.
    #[serde(flatten)]
    pub credential: CredentialView,
    /// The plaintext secret. Not stored anywhere.
    pub client_secret: String,
    /// Where to exchange it.
    pub token_url: String,
    /// A ready-to-run token request.
    pub curl_example: String,
}

impl IssuedCredentialView {
    /// The view of a credential with its new secret, and how to use it at `token_url`.
    pub fn new(issued: IssuedCredential, token_url: String) -> Self {
        let credential = CredentialView::from(issued.details);
        let secret = issued.secret;
        let curl_example = format!(
            "curl -s -X POST '{token_url}' -H 'Content-Type: application/json' \
             -d '{{\"grant_type\":\"client_credentials\",\"client_id\":\"{}\",\"client_secret\":\"{}\",\"audience\":\"{}\"}}'",
            credential.client_id,
            secret.expose(),
            credential.audience.replace('\'', "'\\''"),
        );
        Self {
            client_secret: secret.expose().to_owned(),
            credential,
            token_url,
            curl_example,
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
