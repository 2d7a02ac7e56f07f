//! The client-credentials decision (RFC 6749 §4.4), read top to bottom as the spec does once the
//! client is authenticated: check the credential is usable, then its tenant, then the target,
//! then the scope.

use chrono::{DateTime, Utc};

use super::credential::CredentialKind;
use super::oauth_error::{OAuthError, CLIENT_AUTH_FAILED, CLIENT_EXPIRED};
use super::scope::Scopes;

/// What the decision needs to know about an authenticated credential.
#[derive(Debug, Clone)]
pub struct CredentialSnapshot {
    /// Account or workspace key.
    pub kind: CredentialKind,
    /// The audience the credential is bound to.
    pub audience: String,
    /// The scopes the credential may request.
    pub scopes: Scopes,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Deactivated by an administrator.
    pub deactivated: bool,
    /// Its account is active.
    pub account_active: bool,
    /// Its workspace is active (always true for account keys).
    pub workspace_active: bool,
}

/// The optional parameters of a token request.
#[derive(Debug, Clone, Default)]
pub struct RequestedGrant {
    /// `grant_type`, which must be `client_credentials`.
    pub grant_type: Option<String>,
    /// `audience`.
    pub audience: Option<String>,
    /// `resource` (RFC 8707), an alias of `audience` here.
    pub resource: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
}

/// What the token will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The `aud` claim.
    pub audience: String,
    /// The `scope` claim.
    pub scopes: Scopes,
}

impl Grant {
    /// The `scope` claim and response field: space-separated, absent when there is none.
    pub fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.to_string())
    }
}

/// Checked before client authentication: a request for another grant type is refused whoever
/// sends it.
pub fn check_grant_type(requested: &RequestedGrant) -> Result<(), OAuthError> {
    match requested.grant_type.as_deref() {
        None => Err(OAuthError::InvalidRequest(
            "grant_type is required".to_owned(),
        )),
        Some("client_credentials") => Ok(()),
        Some(_) => Err(OAuthError::UnsupportedGrantType),
    }
}

/// Decides what an authenticated credential gets. `now` is the request time.
pub fn decide(
    credential: &CredentialSnapshot,
    requested: &RequestedGrant,
    now: DateTime<Utc>,
) -> Result<Grant, OAuthError> {
    if credential.deactivated {
        return Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED));
    }
    if credential.expires_at.is_some_and(|at| at <= now) {
        return Err(OAuthError::InvalidClient(CLIENT_EXPIRED));
    }
    let tenant_active = credential.account_active
        && (credential.kind == CredentialKind::Account || credential.workspace_active);
    if !tenant_active {
        return Err(OAuthError::UnauthorizedClient);
    }
    for target in [&requested.audience, &requested.resource]
        .into_iter()
        .flatten()
    {
        if *target != credential.audience {
            return Err(OAuthError::InvalidTarget);
        }
    }
    let scopes = match &requested.scope {
        None => credential.scopes.clone(),
        Some(raw) => {
            let asked = Scopes::parse_request(raw).ok_or(OAuthError::InvalidScope)?;
            if !asked.is_subset_of(&credential.scopes) {
                return Err(OAuthError::InvalidScope);
            }
            // An empty `scope=` asks for nothing narrower than the default.
            if asked.is_empty() {
                credential.scopes.clone()
            } else {
                asked
            }
        }
    };
    Ok(Grant {
        audience: credential.audience.clone(),
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn credential() -> CredentialSnapshot {
        CredentialSnapshot {
            kind: CredentialKind::Workspace,
            audience: "https://api/".into(),
            scopes: Scopes::from_admin_list(&["read".into(), "write".into()]).unwrap(),
            expires_at: None,
            deactivated: false,
            account_active: true,
            workspace_active: true,
        }
    }

    fn request() -> RequestedGrant {
        RequestedGrant {
            grant_type: Some("client_credentials".into()),
            ..RequestedGrant::default()
        }
    }

    #[test]
    fn grant_type_is_required_and_must_be_client_credentials() {
        assert!(check_grant_type(&request()).is_ok());
        let mut r = request();
        r.grant_type = None;
        assert!(matches!(
            check_grant_type(&r),
            Err(OAuthError::InvalidRequest(_))
        ));
        r.grant_type = Some("password".into());
        assert_eq!(check_grant_type(&r), Err(OAuthError::UnsupportedGrantType));
    }

    #[test]
    fn a_plain_request_gets_the_credentials_audience_and_scopes() {
        let g = decide(&credential(), &request(), Utc::now()).unwrap();
        assert_eq!(g.audience, "https://api/");
        assert_eq!(g.scopes.to_string(), "read write");
    }

    #[test]
    fn expiry_is_decided_by_the_clock_passed_in() {
        let now = Utc::now();
        let mut c = credential();
        c.expires_at = Some(now + Duration::seconds(10));
        assert!(decide(&c, &request(), now).is_ok());
        assert_eq!(
            decide(&c, &request(), now + Duration::seconds(10)),
            Err(OAuthError::InvalidClient(CLIENT_EXPIRED))
        );
    }

    #[test]
    fn deactivation_and_suspension() {
        let mut c = credential();
        c.deactivated = true;
        assert_eq!(
            decide(&c, &request(), Utc::now()),
            Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED))
        );
        let mut c = credential();
        c.workspace_active = false;
        assert_eq!(
            decide(&c, &request(), Utc::now()),
            Err(OAuthError::UnauthorizedClient)
        );
        // An account key does not care about a workspace flag.
        c.kind = CredentialKind::Account;
        assert!(decide(&c, &request(), Utc::now()).is_ok());
        c.account_active = false;
        assert_eq!(
            decide(&c, &request(), Utc::now()),
            Err(OAuthError::UnauthorizedClient)
        );
    }

    #[test]
    fn audience_and_resource_must_match() {
        let mut r = request();
        r.resource = Some("https://api/".into());
        assert!(decide(&credential(), &r, Utc::now()).is_ok());
        r.audience = Some("https://other/".into());
        assert_eq!(
            decide(&credential(), &r, Utc::now()),
            Err(OAuthError::InvalidTarget)
        );
    }

    #[test]
    fn scopes_narrow_but_never_widen() {
        let mut r = request();
        r.scope = Some("read".into());
        assert_eq!(
            decide(&credential(), &r, Utc::now())
                .unwrap()
                .scopes
                .to_string(),
            "read"
        );
        r.scope = Some("read admin".into());
        assert_eq!(
            decide(&credential(), &r, Utc::now()),
            Err(OAuthError::InvalidScope)
        );
        r.scope = Some("bad\"".into());
        assert_eq!(
            decide(&credential(), &r, Utc::now()),
            Err(OAuthError::InvalidScope)
        );
    }
}
