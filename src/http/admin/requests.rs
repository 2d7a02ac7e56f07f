//! What the admin API accepts: the JSON bodies and query strings, as they are on the wire, and
//! how each becomes a service call's input. Values with a fixed set of forms (a status) are
//! parsed here, so a service never sees a string it would have to check again.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::views::{
    auth_method_schema, credential_status_schema, jwk_schema, tenant_status_schema,
};
use crate::domain::credential::{AuthMethod, CredentialStatus, TenantStatus};
use crate::service::admin::accounts::AccountUpdate;
use crate::service::admin::credentials::{
    CredentialQuery as CredentialFilter, CredentialSpec, CredentialUpdate,
};
use crate::service::admin::workspaces::WorkspaceUpdate;
use crate::service::admin::{AdminError, PageSpec};

/// `POST /accounts`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Plan (default from config).
    pub plan: Option<String>,
}

/// `PATCH /accounts/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// New name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<String>,
    /// `active` or `suspended`.
    #[schema(schema_with = tenant_status_schema)]
    pub status: Option<String>,
}

fn tenant_status(value: Option<&str>) -> Result<Option<TenantStatus>, AdminError> {
    value
        .map(|s| {
            TenantStatus::parse(s)
                .ok_or_else(|| AdminError::Validation("status must be active or suspended".into()))
        })
        .transpose()
}

impl TryFrom<AccountPatch> for AccountUpdate {
    type Error = AdminError;

    fn try_from(patch: AccountPatch) -> Result<Self, AdminError> {
        Ok(Self {
            status: tenant_status(patch.status.as_deref())?,
            name: patch.name,
            plan: patch.plan,
        })
    }
}

/// `GET /accounts/{id}/usage?month=YYYY-MM`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// The UTC month, `YYYY-MM`; default: the current one.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub month: Option<String>,
}

/// `POST /accounts/{id}/workspaces`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// `PATCH /workspaces/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// New name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `active` or `suspended`.
    #[schema(schema_with = tenant_status_schema)]
    pub status: Option<String>,
}

impl TryFrom<WorkspacePatch> for WorkspaceUpdate {
    type Error = AdminError;

    fn try_from(patch: WorkspacePatch) -> Result<Self, AdminError> {
        Ok(Self {
            status: tenant_status(patch.status.as_deref())?,
            name: patch.name,
        })
    }
}

/// `POST /accounts/{id}/credentials` and `POST /workspaces/{id}/credentials`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CI deploy bot", "auth_method": "private_key_jwt",
    "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ci-1",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}))]
pub struct NewCredential {
    /// Name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Role: required for a workspace credential (one of `roles.workspace`); an account
    /// credential's is always `account_admin`.
    pub role: Option<String>,
    /// Description: up to 2000 characters, no control characters but newlines and tabs.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Audience (default: the first configured).
    pub audience: Option<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// How the client authenticates: `client_secret` (default; a secret is generated and shown
    /// once), `private_key_jwt` (signed client assertions; give `jwks`) or `federated` (a token
    /// an external identity provider issued to the workload; give `trust`).
    #[schema(schema_with = auth_method_schema)]
    pub auth_method: Option<String>,
    /// The client's public keys (`private_key_jwt` only, and required there).
    pub jwks: Option<JwksBody>,
    /// The external tokens it accepts (`federated` only, and required there): 1 to 20 trust
    /// rules; the first that matches wins.
    #[schema(schema_with = trust_list_schema)]
    pub trust: Option<serde_json::Value>,
}

/// A trust rule as submitted: `issuer` (https, or http on a loopback host), `subject` (exact, or
/// a pattern in which `*` stands for one or more characters other than `/` and `:`),
/// `audience` (must be in the external token's `aud`), `claims` (further claims that must be
/// equal) and `jwks_uri` (where the issuer's keys are, instead of OpenID Connect discovery).
pub fn trust_rule_schema(stored: bool) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let text = |max: usize| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(max))
    };
    let mut rule = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "issuer",
            text(512).format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into()))),
        )
        .property("subject", text(512))
        .property("audience", text(512))
        .property(
            "claims",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
                .max_properties(Some(16)),
        )
        .property(
            "jwks_uri",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .max_length(Some(512)),
        )
        .required("issuer")
        .required("subject")
        .required("audience");
    if stored {
        rule = rule
            .property(
                "last_used_at",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    )))
                    .description(Some(
                        "Last token request this rule matched (flushed every few seconds).",
                    )),
            )
            .required("claims")
            .required("jwks_uri")
            .required("last_used_at");
    }
    rule.build()
}

fn trust_list_schema() -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(trust_rule_schema(false))
        .min_items(Some(1))
        .max_items(Some(20))
        .build()
}

/// `PUT /credentials/{id}/trust`: the new list of trust rules, 1 to 20, in order.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct TrustBody(pub serde_json::Value);

impl utoipa::PartialSchema for TrustBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut list = trust_list_schema();
        list.description = Some("The new trust rules, 1 to 20, in order.".into());
        list.examples = vec![serde_json::json!([{
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:acme/deploy:ref:refs/heads/main",
            "audience": "tessera",
            "claims": {"repository": "acme/deploy", "ref": "refs/heads/main"}
        }])];
        list.into()
    }
}

impl ToSchema for TrustBody {}

/// `POST /credentials/{id}/trust/test`: an external token to try against the trust rules.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRlbnQuY29tIn0.c2ln"}))]
pub struct TrustTestBody {
    /// The external token (a compact JWS), at most 16 KiB.
    #[schema(min_length = 1, max_length = 16384)]
    pub token: String,
}

/// The token is a bearer credential of the workload (it could be exchanged): never printed.
impl std::fmt::Debug for TrustTestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustTestBody")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A JWK Set of public keys: `{"keys": [JWK, …]}`, 1 to 20 keys, each RSA (2048 bits or
/// more), EC on P-256 or Ed25519 (OKP), with public members only. A JWK without `kid` gets its
/// RFC 7638 thumbprint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// The example key: RFC 8037's example Ed25519 public key.
#[schema(example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ci-1",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}))]
pub struct JwksBody {
    /// The keys.
    #[schema(schema_with = jwk_list_schema)]
    pub keys: Vec<serde_json::Value>,
}

fn jwk_list_schema() -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(jwk_schema(false))
        .min_items(Some(1))
        .max_items(Some(20))
        .build()
}

fn auth_method(value: Option<&str>) -> Result<AuthMethod, AdminError> {
    value.map_or(Ok(AuthMethod::default()), |s| {
        AuthMethod::parse(s).ok_or_else(|| {
            AdminError::Validation(
                "auth_method must be client_secret, private_key_jwt or federated".into(),
            )
        })
    })
}

impl TryFrom<NewCredential> for CredentialSpec {
    type Error = AdminError;

    fn try_from(body: NewCredential) -> Result<Self, AdminError> {
        Ok(Self {
            auth_method: auth_method(body.auth_method.as_deref())?,
            jwks: body.jwks.map(|set| set.keys),
            trust: body.trust,
            name: body.name,
            role: body.role,
            description: body.description,
            audience: body.audience,
            expires_at: body.expires_at,
            scopes: body.scopes.unwrap_or_default(),
        })
    }
}

/// `PATCH /credentials/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialPatch {
    /// New name: 1–200 characters (trimmed), no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// New description: up to 2000 characters, no control characters but newlines and tabs.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// New role (workspace keys only).
    pub role: Option<String>,
}

impl From<CredentialPatch> for CredentialUpdate {
    fn from(patch: CredentialPatch) -> Self {
        Self {
            name: patch.name,
            description: patch.description,
            role: patch.role,
        }
    }
}

/// `POST /credentials/{id}/rotate`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old secret keeps working (≤ 7 days); default 0: it stops at once.
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<i64>,
    /// Also revoke every token issued before the rotation.
    pub revoke_tokens: Option<bool>,
}

/// `GET /credentials` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CredentialQuery {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this workspace.
    pub workspace_id: Option<String>,
    /// `active`, `expired` or `deactivated`.
    #[param(schema_with = credential_status_schema)]
    pub status: Option<String>,
}

impl TryFrom<CredentialQuery> for CredentialFilter {
    type Error = AdminError;

    fn try_from(query: CredentialQuery) -> Result<Self, AdminError> {
        let status = query
            .status
            .as_deref()
            .map(|s| {
                CredentialStatus::parse(s).ok_or_else(|| {
                    AdminError::Validation("status must be active, expired or deactivated".into())
                })
            })
            .transpose()?;
        Ok(Self {
            account_id: query.account_id,
            workspace_id: query.workspace_id,
            status,
        })
    }
}

/// `GET /audit` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this account's events.
    pub account_id: Option<String>,
    /// Only this credential's events.
    pub credential_id: Option<String>,
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// Items per page: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl TryFrom<PageRequest> for PageSpec {
    type Error = AdminError;

    fn try_from(page: PageRequest) -> Result<Self, AdminError> {
        PageSpec::new(page.limit, page.cursor)
    }
}
