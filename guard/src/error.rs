//! Error types, and which one belongs where.
//!
//! - [`GuardError`] is the request path: every reason a token or a request is turned away. It is
//!   the one type that becomes an RFC 6750 response ([`GuardError::status`],
//!   [`GuardError::www_authenticate`]); the actix-web integration maps it in exactly one place.
//! - [`ConfigError`] is start-up: a configuration or a key that cannot be used. It never reaches a
//!   client.
//! - [`FetchError`] is talking to the issuer (JWKS, revocation feed). It is logged and retried;
//!   a validation that needed a key the issuer could not deliver becomes
//!   [`GuardError::KeysUnavailable`].
//!
//! Security invariant: the human-readable descriptions that go into `WWW-Authenticate` and into
//! response bodies are fixed strings (or, for [`GuardError::InsufficientScope`], text the resource
//! server chose). Nothing read from the token is echoed back, so a crafted token cannot inject
//! header syntax or probe the validator.

use std::fmt;
use std::time::Duration;

/// Which revocation-feed entry rejected a token.
///
/// ```
/// use tessera_guard::RevocationReason;
/// assert_eq!(RevocationReason::Workspace.to_string(), "workspace");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// The token's `client_id` is listed with `revoked_before` later than its `iat`
    /// (credential deactivated, or rotated with `revoke_tokens`).
    Credential,
    /// The token's `account_id` is listed (account suspended).
    Account,
    /// The token's `workspace_id` is listed (workspace suspended).
    Workspace,
    /// The token's `jti` is listed (RFC 7009 revocation).
    Token,
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Credential => "credential",
            Self::Account => "account",
            Self::Workspace => "workspace",
            Self::Token => "token",
        })
    }
}

/// Why a request was refused. Each variant maps to one RFC 6750 response.
///
/// | variant | status | `error=` |
/// |---|---|---|
/// | [`MissingToken`](Self::MissingToken) | 401 | none (plain `Bearer` challenge, RFC 6750 §3.1) |
/// | token problems (malformed … revoked) | 401 | `invalid_token` |
/// | [`InsufficientScope`](Self::InsufficientScope) | 403 | `insufficient_scope` |
/// | [`KeysUnavailable`](Self::KeysUnavailable) | 503 | none (no challenge) |
/// | [`FeedUnavailable`](Self::FeedUnavailable) | 503 + `Retry-After` | none (no challenge) |
/// | [`NotConfigured`](Self::NotConfigured) | 500 | none |
///
/// ```
/// use tessera_guard::GuardError;
/// let err = GuardError::Expired;
/// assert_eq!(err.status(), 401);
/// assert_eq!(err.error_code(), Some("invalid_token"));
/// assert_eq!(
///     err.www_authenticate("api").as_deref(),
///     Some(r#"Bearer realm="api", error="invalid_token", error_description="the token has expired""#)
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The request carries no bearer token.
    #[error("no bearer token in the request")]
    MissingToken,
    /// The token is longer than `GuardConfig::max_token_bytes`; nothing was parsed.
    #[error("the token is too large")]
    TokenTooLarge,
    /// The token is not a well-formed compact JWS (segments, base64url, JSON).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is `none`, an HMAC algorithm, unknown, or not a configured one, or
    /// the key found for `kid` cannot have it (another key type, or its JWK states another
    /// `alg`).
    #[error("the token's signing algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The header's `typ` is missing or not `at+jwt` (RFC 9068 §2.1).
    #[error("the token type is not at+jwt")]
    InvalidType,
    /// The header has no `kid`.
    #[error("the token has no key id")]
    MissingKeyId,
    /// No published key has the header's `kid` (after the allowed refetch).
    #[error("the token's key id is unknown")]
    UnknownKeyId,
    /// The signature does not verify with the key named by `kid`.
    #[error("the token's signature is invalid")]
    InvalidSignature,
    /// A required claim is absent.
    #[error("the token lacks the required claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or an impossible value.
    #[error("the token's claim {0} is invalid")]
    InvalidClaim(&'static str),
    /// `iss` is not the configured issuer.
    #[error("the token was not issued by the expected issuer")]
    InvalidIssuer,
    /// `aud` does not contain the configured audience.
    #[error("the token is not intended for this audience")]
    InvalidAudience,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The revocation feed lists the token, its credential, account or workspace.
    #[error("the token has been revoked ({0})")]
    Revoked(RevocationReason),
    /// The token is valid but does not grant what the request needs (403).
    #[error("insufficient scope: {description}")]
    InsufficientScope {
        /// What was required, for the `error_description` (chosen by the resource server).
        description: String,
        /// The scope to advertise in the challenge's `scope` attribute, if a scope was required.
        scope: Option<String>,
    },
    /// No signing keys are known and the issuer's JWKS could not be fetched (503).
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
    /// The token passed every check, but the revocation list is not known (no successful poll
    /// yet), out of date (the last successful poll is older than
    /// [`GuardConfig::max_feed_age`](crate::GuardConfig::max_feed_age)) or unusable (the last
    /// feed was too large or invalid), so whether it was revoked cannot be told (503). The
    /// token is not at fault: the response carries no challenge, and `Retry-After`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tessera_guard::GuardError;
    /// let err = GuardError::FeedUnavailable { retry_after: Duration::from_secs(30) };
    /// assert_eq!(err.status(), 503);
    /// assert_eq!(err.www_authenticate("api"), None);
    /// assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    /// assert!(!err.is_invalid_token());
    /// ```
    #[error("the revocation list is unavailable or out of date")]
    FeedUnavailable {
        /// When to try again (the feed poll interval, at least one second).
        retry_after: Duration,
    },
    /// The actix-web integration found no `Guard` in the app data: a server bug (500).
    #[error("no tessera_guard::Guard registered in the application data")]
    NotConfigured,
}

impl GuardError {
    /// A 403 with a description of what was required.
    ///
    /// ```
    /// let err = tessera_guard::GuardError::forbidden("requires an account key");
    /// assert_eq!(err.status(), 403);
    /// ```
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::InsufficientScope {
            description: description.into(),
            scope: None,
        }
    }

    /// The HTTP status this error maps to.
    ///
    /// ```
    /// assert_eq!(tessera_guard::GuardError::MissingToken.status(), 401);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Self::InsufficientScope { .. } => 403,
            Self::KeysUnavailable | Self::FeedUnavailable { .. } => 503,
            Self::NotConfigured => 500,
            _ => 401,
        }
    }

    /// The RFC 6750 §3.1 error code, if the response carries one.
    ///
    /// ```
    /// use tessera_guard::GuardError;
    /// assert_eq!(GuardError::MissingToken.error_code(), None);
    /// assert_eq!(GuardError::InvalidSignature.error_code(), Some("invalid_token"));
    /// ```
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken | Self::NotConfigured => None,
            Self::KeysUnavailable | Self::FeedUnavailable { .. } => Some("temporarily_unavailable"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }

    /// A short description that is safe to send to the client.
    ///
    /// ```
    /// use tessera_guard::GuardError;
    /// assert_eq!(GuardError::Expired.description(), "the token has expired");
    /// ```
    pub fn description(&self) -> String {
        match self {
            // Do not tell a caller which feed entry matched: "revoked" is enough.
            Self::Revoked(_) => "the token has been revoked".to_owned(),
            Self::InsufficientScope { description, .. } => description.clone(),
            other => other.to_string(),
        }
    }

    /// Whether the token itself was rejected (as opposed to a missing token, a permission
    /// problem or a server-side problem).
    ///
    /// ```
    /// use tessera_guard::GuardError;
    /// assert!(GuardError::Expired.is_invalid_token());
    /// assert!(!GuardError::MissingToken.is_invalid_token());
    /// ```
    pub fn is_invalid_token(&self) -> bool {
        self.error_code() == Some("invalid_token")
    }

    /// How long the client should wait before retrying (the `Retry-After` of a 503), if the
    /// error is a temporary one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tessera_guard::GuardError;
    /// assert_eq!(GuardError::KeysUnavailable.retry_after(), Some(Duration::from_secs(5)));
    /// assert_eq!(GuardError::Expired.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::KeysUnavailable => Some(Duration::from_secs(5)),
            Self::FeedUnavailable { retry_after } => {
                Some((*retry_after).max(Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    /// The `WWW-Authenticate` value for this error, or `None` when the response
    /// should not carry a challenge (500, 503).
    ///
    /// ```
    /// use tessera_guard::GuardError;
    /// assert_eq!(
    ///     GuardError::MissingToken.www_authenticate("api").as_deref(),
    ///     Some(r#"Bearer realm="api""#)
    /// );
    /// ```
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let mut value = format!("Bearer realm=\"{}\"", quoted_safe(realm));
        match self {
            Self::MissingToken => {}
            Self::KeysUnavailable | Self::FeedUnavailable { .. } | Self::NotConfigured => {
                return None
            }
            Self::InsufficientScope { scope, .. } => {
                value.push_str(", error=\"insufficient_scope\", error_description=\"");
                value.push_str(&quoted_safe(&self.description()));
                value.push('"');
                if let Some(scope) = scope {
                    value.push_str(", scope=\"");
                    value.push_str(&quoted_safe(scope));
                    value.push('"');
                }
            }
            _ => {
                value.push_str(", error=\"invalid_token\", error_description=\"");
                value.push_str(&quoted_safe(&self.description()));
                value.push('"');
            }
        }
        Some(value)
    }
}

/// Keeps only the characters RFC 6750 §3 allows inside `error_description`, `realm` and
/// `scope` (`%x20-21 / %x23-5B / %x5D-7E`): no quotes, backslashes or control characters.
fn quoted_safe(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .collect()
}

/// A configuration or key material that cannot be used (start-up errors).
///
/// ```
/// use tessera_guard::{Algorithm, Guard, GuardConfig, ConfigError};
/// let mut config = GuardConfig::new("http://127.0.0.1:8080", "https://api.example.test/");
/// config.algorithms = vec![Algorithm::HS256];
/// assert!(matches!(Guard::new(config), Err(ConfigError::AlgorithmNotAllowed(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An HMAC or otherwise unsupported algorithm was configured, or a key was given an
    /// algorithm its type cannot have; only RS256/384/512, PS256/384/512, ES256 and EdDSA are
    /// accepted (never `none`, never HMAC).
    #[error("algorithm {0} is not allowed: only RS256/384/512, PS256/384/512, ES256 and EdDSA are accepted")]
    AlgorithmNotAllowed(String),
    /// A required setting is empty or out of range.
    #[error("invalid setting {field}: {reason}")]
    Invalid {
        /// The setting's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key (PEM or JWK) could not be read.
    #[error("invalid key: {0}")]
    Key(String),
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// A failure talking to the issuer (JWKS or revocation feed). The previous good state is kept.
///
/// ```
/// let err = tessera_guard::FetchError::Status(503);
/// assert_eq!(err.to_string(), "the issuer answered with HTTP status 503");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Connection, TLS or timeout problem.
    #[error("request to the issuer failed: {0}")]
    Http(String),
    /// The issuer answered with a non-200 status.
    #[error("the issuer answered with HTTP status {0}")]
    Status(u16),
    /// The response body is larger than the limit.
    #[error("the issuer's response is larger than {0} bytes")]
    TooLarge(usize),
    /// The response body is not the expected JSON.
    #[error("the issuer's response is not valid: {0}")]
    InvalidBody(String),
    /// A JWKS was fetched but holds no usable key.
    #[error("the JWKS holds no usable signing key")]
    NoUsableKeys,
}
