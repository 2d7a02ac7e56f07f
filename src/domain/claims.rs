//! Access-token claims (RFC 9068 profile, docs/api.md).

use serde::{Deserialize, Serialize};

use super::credential::CredentialKind;
use super::scope::Scopes;

/// The claims of a Tessera access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessTokenClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: the client id.
    pub sub: String,
    /// The client id (RFC 9068 §2.2).
    pub client_id: String,
    /// The credential's audience.
    pub aud: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds (= `iat`).
    pub nbf: i64,
    /// Expiry, Unix seconds (= `iat` + lifetime).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The credential's role, as a one-element array.
    pub roles: Vec<String>,
    /// `account` or `workspace`.
    pub key_type: String,
    /// The account the credential belongs to.
    pub account_id: String,
    /// The workspace, for workspace credentials only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub workspace_id: Option<String>,
    /// Space-separated scopes, when the token carries any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
}

/// Who a token is issued to.
#[derive(Debug, Clone)]
pub struct TokenSubject<'a> {
    /// The credential's client id.
    pub client_id: &'a str,
    /// Account or workspace key.
    pub kind: CredentialKind,
    /// The credential's account.
    pub account_id: &'a str,
    /// The credential's workspace (workspace keys).
    pub workspace_id: Option<&'a str>,
    /// The credential's current role.
    pub role: &'a str,
}

impl AccessTokenClaims {
    /// Builds the claims for a token issued at `now` (Unix seconds) that lives `lifetime` seconds.
    pub fn build(
        issuer: &str,
        subject: &TokenSubject<'_>,
        audience: &str,
        scopes: &Scopes,
        now: i64,
        lifetime: i64,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            sub: subject.client_id.to_owned(),
            client_id: subject.client_id.to_owned(),
            aud: audience.to_owned(),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            jti: uuid::Uuid::new_v4().to_string(),
            roles: vec![subject.role.to_owned()],
            key_type: subject.kind.as_str().to_owned(),
            account_id: subject.account_id.to_owned(),
            workspace_id: match subject.kind {
                CredentialKind::Account => None,
                CredentialKind::Workspace => subject.workspace_id.map(str::to_owned),
            },
            scope: (!scopes.is_empty()).then(|| scopes.to_string()),
        }
    }
}

/// A token's lifetime in seconds: the configured one, cut so that `exp` is never later than
/// the credential's expiry. `None` when the credential expires within the current second: a
/// token would be dead on arrival.
pub fn token_lifetime(
    configured: i64,
    now: i64,
    credential_expires_at: Option<i64>,
) -> Option<i64> {
    let lifetime = credential_expires_at.map_or(configured, |at| configured.min(at - now));
    (lifetime > 0).then_some(lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_outlives_its_credential() {
        assert_eq!(token_lifetime(86_400, 1_000, None), Some(86_400));
        assert_eq!(token_lifetime(86_400, 1_000, Some(1_007)), Some(7));
        assert_eq!(token_lifetime(86_400, 1_000, Some(1_000_000)), Some(86_400));
        assert_eq!(token_lifetime(86_400, 1_000, Some(1_000)), None);
    }

    fn subject(kind: CredentialKind) -> TokenSubject<'static> {
        TokenSubject {
            client_id: "wk_0123456789012345678901",
            kind,
            account_id: "acc",
            workspace_id: Some("ws"),
            role: "content_manager",
        }
    }

    #[test]
    fn claims_follow_the_clock_and_lifetime() {
        let c = AccessTokenClaims::build(
            "https://issuer",
            &subject(CredentialKind::Workspace),
            "https://api/",
            &Scopes::default(),
            1_000,
            86_400,
        );
        assert_eq!((c.iat, c.nbf, c.exp), (1_000, 1_000, 87_400));
        assert_eq!(c.sub, c.client_id);
        assert_eq!(c.roles, vec!["content_manager"]);
        assert_eq!(c.key_type, "workspace");
        assert_eq!(c.workspace_id.as_deref(), Some("ws"));
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("scope").is_none());
    }

    #[test]
    fn account_claims_have_no_workspace_and_carry_scopes() {
        let scopes = Scopes::parse_request("read write").unwrap();
        let c =
            AccessTokenClaims::build("i", &subject(CredentialKind::Account), "a", &scopes, 5, 10);
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("workspace_id").is_none());
        assert_eq!(json["scope"], "read write");
        assert_eq!(json["key_type"], "account");
    }

    #[test]
    fn every_token_gets_its_own_jti() {
        let s = subject(CredentialKind::Account);
        let a = AccessTokenClaims::build("i", &s, "a", &Scopes::default(), 5, 10);
        let b = AccessTokenClaims::build("i", &s, "a", &Scopes::default(), 5, 10);
        assert_ne!(a.jti, b.jti);
    }
}
