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
    /// Too many requests: failed authentications from this client id or address, or more
    /// token requests than the credential's plan allows per minute.
    #[error("rate_limited")]
    RateLimited {
        /// Which limit was hit.
        limit: RateLimit,
        /// Seconds until a request may succeed again (at least 1).
        retry_after: u64,
    },
    /// The account used up its plan's monthly token quota.
    #[error("quota_exceeded")]
    QuotaExceeded {
        /// The quota.
        quota: u64,
        /// When the count starts again (Unix seconds): the next UTC month.
        resets_at: i64,
        /// Seconds from now until then (at least 1).
        retry_after: u64,
    },
    /// The database (or another dependency) is unavailable.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
}

/// The limit a [`OAuthError::RateLimited`] request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// Failed client authentications, per client id or per source address.
    FailedAuthentication,
    /// The credential's token requests per minute, from its account's plan.
    Requests {
        /// The plan's `token_requests_per_minute`.
        per_minute: u32,
    },
}

/// The one description used for every authentication failure that must look alike.
pub const CLIENT_AUTH_FAILED: &str = "client authentication failed";
/// The description for a verified but expired credential.
pub const CLIENT_EXPIRED: &str = "the client credential has expired";

impl OAuthError {
    /// The RFC 6749 `error` code, as a static string (what `Display` shows): a metric label and
    /// a log field from a fixed set.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidScope => "invalid_scope",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

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
            Self::RateLimited {
                limit: RateLimit::FailedAuthentication,
                retry_after,
            } => format!("too many failed client authentications; retry after {retry_after} s"),
            Self::RateLimited {
                limit: RateLimit::Requests { per_minute },
                retry_after,
            } => format!(
                "more than {per_minute} token requests a minute; retry after {retry_after} s"
            ),
            Self::QuotaExceeded {
                quota, resets_at, ..
            } => {
                let resets = chrono::DateTime::from_timestamp(*resets_at, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default();
                format!("the account's monthly quota of {quota} tokens is used up; it resets at {resets}")
            }
            Self::TemporarilyUnavailable => {
                "the service is temporarily unavailable; retry later".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_what_display_shows() {
        for e in [
            OAuthError::InvalidRequest("x".into()),
            OAuthError::InvalidClient(CLIENT_AUTH_FAILED),
            OAuthError::UnsupportedGrantType,
            OAuthError::InvalidTarget,
            OAuthError::InvalidScope,
            OAuthError::UnauthorizedClient,
            OAuthError::RateLimited {
                limit: RateLimit::FailedAuthentication,
                retry_after: 1,
            },
            OAuthError::QuotaExceeded {
                quota: 1,
                resets_at: 0,
                retry_after: 1,
            },
            OAuthError::TemporarilyUnavailable,
        ] {
            assert_eq!(e.code(), e.to_string());
        }
    }
}
