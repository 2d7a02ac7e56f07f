//! The token endpoint's errors (RFC 6749 §5.2). `Display` is the RFC error code; the HTTP layer
//! maps each variant to its status and headers in one place.

/// Why a token request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The request is malformed.
    #[error("invalid_request")]
    InvalidRequest(String),
    /// Client authentication failed. The description never says which part was wrong, except
    /// for an expired credential whose secret was verified.
    #[error("invalid_client")]
    InvalidClient(&'static str),
    /// A grant type other than `client_credentials`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// `audience`/`resource` is not the credential's.
    #[error("invalid_target")]
    InvalidTarget,
    /// A scope the credential does not have, or a malformed scope.
    #[error("invalid_scope")]
    InvalidScope,
    /// The credential's account or workspace is suspended.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// The database (or another dependency) is unavailable.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
}

/// The one description used for every authentication failure that must look alike.
pub const CLIENT_AUTH_FAILED: &str = "client authentication failed";
/// The description for a verified but expired credential.
pub const CLIENT_EXPIRED: &str = "the client credential has expired";

impl OAuthError {
    /// The RFC 6749 `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(why) => why.clone(),
            Self::InvalidClient(why) => (*why).to_owned(),
            Self::UnsupportedGrantType => "only grant_type=client_credentials is supported".into(),
            Self::InvalidTarget => "the requested audience is not this client's audience".into(),
            Self::InvalidScope => {
                "the requested scope is invalid or not allowed for this client".into()
            }
            Self::UnauthorizedClient => "the client's account or workspace is suspended".into(),
            Self::TemporarilyUnavailable => {
                "the service is temporarily unavailable; retry later".into()
            }
        }
    }
}
