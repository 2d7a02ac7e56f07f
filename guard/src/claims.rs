//! The claims of a Tessera access token (RFC 9068).

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::GuardError;

/// Role carried by every account token.
///
/// ```
/// # let claims = tessera_guard::Claims::example_account();
/// assert!(claims.has_role(tessera_guard::ACCOUNT_ADMIN_ROLE));
/// ```
pub const ACCOUNT_ADMIN_ROLE: &str = "account_admin";

/// Which kind of credential a token was issued to.
///
/// ```
/// use tessera_guard::KeyType;
/// let kt: KeyType = serde_json::from_str("\"workspace\"").unwrap();
/// assert_eq!(kt, KeyType::Workspace);
/// assert_eq!(kt.as_str(), "workspace");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// An account API key: acts across every workspace of its account.
    Account,
    /// A workspace API key: limited to one workspace and one workspace role.
    Workspace,
}

impl KeyType {
    /// The claim value, `account` or `workspace`.
    ///
    /// ```
    /// assert_eq!(tessera_guard::KeyType::Account.as_str(), "account");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Workspace => "workspace",
        }
    }
}

/// The validated claims of an access token.
///
/// A `Claims` returned by [`Guard::validate`](crate::Guard::validate) has passed every check:
/// the required claims are present, `key_type` is consistent with `workspace_id`, and
/// `iss`/`aud`/`exp`/`nbf`/revocation were checked.
///
/// ```
/// use tessera_guard::{Claims, KeyType};
/// let claims: Claims = serde_json::from_value(serde_json::json!({
///     "iss": "http://127.0.0.1:8080", "sub": "wk_1", "client_id": "wk_1",
///     "aud": "https://api.example.test/", "iat": 1, "nbf": 1, "exp": 2, "jti": "j",
///     "roles": ["content_manager"], "key_type": "workspace",
///     "account_id": "acc", "workspace_id": "ws", "scope": "content:read content:write"
/// })).unwrap();
/// assert!(claims.is_workspace_key());
/// assert!(claims.has_role("content_manager"));
/// assert!(claims.has_scope("content:write"));
/// assert!(claims.can_access_workspace("ws"));
/// assert!(!claims.can_access_account("acc"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject; equals `client_id` for client-credentials tokens.
    pub sub: String,
    /// The credential's public id (`ak_…` or `wk_…`).
    pub client_id: String,
    /// Audiences (a single string in the token is read as a one-element list).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Roles granted to the credential (`account_admin` for account keys).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Account key or workspace key.
    pub key_type: KeyType,
    /// The account the credential belongs to.
    pub account_id: String,
    /// The workspace of a workspace key; `None` for account keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Space-separated scopes, when the credential has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    /// Whether `roles` contains `role` (exact, case-sensitive).
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(claims.has_role("account_admin"));
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether `roles` contains any of `roles`.
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(claims.has_any_role(&["workspace_admin", "account_admin"]));
    /// ```
    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        roles.iter().any(|role| self.has_role(role))
    }

    /// The scopes, split on spaces (empty when the token has none).
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert_eq!(claims.scopes().collect::<Vec<_>>(), vec!["content:read"]);
    /// ```
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// Whether the token carries `scope` (one of its space-separated scopes, exactly).
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(claims.has_scope("content:read"));
    /// assert!(!claims.has_scope("content"));
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Whether the token was issued to an account key.
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(claims.is_account_key());
    /// ```
    pub fn is_account_key(&self) -> bool {
        self.key_type == KeyType::Account
    }

    /// Whether the token was issued to a workspace key.
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(!claims.is_workspace_key());
    /// ```
    pub fn is_workspace_key(&self) -> bool {
        self.key_type == KeyType::Workspace
    }

    /// Whether this is an account key of `account_id` (account-wide access).
    /// Workspace keys never get account-wide access, even within their own account.
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(claims.can_access_account("acc_1"));
    /// assert!(!claims.can_access_account("acc_2"));
    /// ```
    pub fn can_access_account(&self, account_id: &str) -> bool {
        self.is_account_key() && self.account_id == account_id
    }

    /// Whether this is a workspace key of `workspace_id`.
    ///
    /// An account key may also act on the workspaces *of its account*, but the token does not
    /// say which workspaces those are: the resource server must check that `workspace_id`
    /// belongs to `self.account_id` itself and then use [`can_access_account`](Self::can_access_account).
    ///
    /// ```
    /// # let claims = tessera_guard::Claims::example_account();
    /// assert!(!claims.can_access_workspace("ws_1"));
    /// ```
    pub fn can_access_workspace(&self, workspace_id: &str) -> bool {
        self.is_workspace_key() && self.workspace_id.as_deref() == Some(workspace_id)
    }

    #[doc(hidden)]
    /// Claims of an account token, for documentation examples.
    pub fn example_account() -> Self {
        Self {
            iss: "http://127.0.0.1:8080".into(),
            sub: "ak_example".into(),
            client_id: "ak_example".into(),
            aud: vec!["https://api.example.test/".into()],
            iat: 1_763_800_000,
            nbf: Some(1_763_800_000),
            exp: 1_763_886_400,
            jti: "jti-example".into(),
            roles: vec![ACCOUNT_ADMIN_ROLE.into()],
            key_type: KeyType::Account,
            account_id: "acc_1".into(),
            workspace_id: None,
            scope: Some("content:read".into()),
        }
    }

    /// Parses the payload JSON strictly: every required claim present with the right type.
    pub(crate) fn from_payload(json: &[u8]) -> Result<Self, GuardError> {
        let raw: RawClaims = serde_json::from_slice(json)
            .map_err(|_| GuardError::Malformed("the claims are not a valid JSON object"))?;
        raw.into_claims()
    }
}

/// What the payload holds before the required-claim checks; every field optional so a missing
/// claim is reported by name instead of as a generic parse error.
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    client_id: Option<String>,
    #[serde(default, deserialize_with = "opt_one_or_many")]
    aud: Option<Vec<String>>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
    roles: Option<Vec<String>>,
    key_type: Option<KeyType>,
    account_id: Option<String>,
    workspace_id: Option<String>,
    scope: Option<String>,
}

impl RawClaims {
    fn into_claims(self) -> Result<Claims, GuardError> {
        fn required<T>(value: Option<T>, name: &'static str) -> Result<T, GuardError> {
            value.ok_or(GuardError::MissingClaim(name))
        }
        fn non_empty(value: String, name: &'static str) -> Result<String, GuardError> {
            if value.is_empty() {
                Err(GuardError::InvalidClaim(name))
            } else {
                Ok(value)
            }
        }
        let claims = Claims {
            iss: required(self.iss, "iss")?,
            sub: non_empty(required(self.sub, "sub")?, "sub")?,
            client_id: non_empty(required(self.client_id, "client_id")?, "client_id")?,
            aud: required(self.aud, "aud")?,
            iat: required(self.iat, "iat")?,
            nbf: self.nbf,
            exp: required(self.exp, "exp")?,
            jti: non_empty(required(self.jti, "jti")?, "jti")?,
            roles: self.roles.unwrap_or_default(),
            key_type: required(self.key_type, "key_type")?,
            account_id: non_empty(required(self.account_id, "account_id")?, "account_id")?,
            workspace_id: self.workspace_id,
            scope: self.scope,
        };
        // A workspace key must name its workspace, an account key must not name one: a
        // resource server deciding on `key_type` must never see a half-workspace token.
        match (claims.key_type, claims.workspace_id.as_deref()) {
            (KeyType::Workspace, None) => return Err(GuardError::MissingClaim("workspace_id")),
            (KeyType::Workspace, Some("")) | (KeyType::Account, Some(_)) => {
                return Err(GuardError::InvalidClaim("workspace_id"))
            }
            _ => {}
        }
        Ok(claims)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn opt_one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    one_or_many(deserializer).map(Some)
}
