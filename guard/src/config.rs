//! Guard configuration.

use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};

/// The algorithms a guard can be configured with: the RSA family, ES256 and EdDSA — the
/// asymmetric algorithms of the key types Tessera publishes. Never HMAC (`none` has no
/// `Algorithm` value at all). ES384 would need P-384 keys, which Tessera does not issue.
pub(crate) fn is_supported(alg: Algorithm) -> bool {
    alg.family() == AlgorithmFamily::Rsa || matches!(alg, Algorithm::ES256 | Algorithm::EdDSA)
}

use crate::error::ConfigError;

/// Settings for a [`Guard`](crate::Guard).
///
/// `issuer` and `audience` have no default; everything else does. Fields are public so a
/// setting can be changed after [`GuardConfig::new`]; the struct is `#[non_exhaustive]` so new
/// settings can be added without breaking callers.
///
/// ```
/// use std::time::Duration;
/// use tessera_guard::GuardConfig;
///
/// let mut config = GuardConfig::new("https://auth.example.com", "https://api.example.com/");
/// config.leeway = Duration::from_secs(30);
/// assert_eq!(config.jwks_url(), "https://auth.example.com/.well-known/jwks.json");
/// assert_eq!(config.revocation_feed_url(), "https://auth.example.com/oauth/revocations");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GuardConfig {
    /// The expected `iss` claim, compared exactly (e.g. `http://127.0.0.1:8080`).
    pub issuer: String,
    /// The audience this resource server answers to; `aud` must equal it or contain it.
    pub audience: String,
    /// Accepted signature algorithms. Default `[RS256]`. RSA algorithms (RS256/384/512,
    /// PS256/384/512), `ES256` (EC P-256 keys) and `EdDSA` (Ed25519 keys) may be configured:
    /// `none` cannot be expressed, and HMAC (and ES384) are refused by
    /// [`Guard::new`](crate::Guard::new). Whatever is configured, a token's `alg` must also suit
    /// the key its `kid` names ([`PublicKey::accepts`](crate::PublicKey::accepts)).
    ///
    /// ```
    /// use tessera_guard::{Algorithm, Guard, GuardConfig};
    /// // A resource server following an issuer that is switching from RS256 to ES256.
    /// let mut config = GuardConfig::new("https://auth.example.com", "https://api.example.com/");
    /// config.algorithms = vec![Algorithm::RS256, Algorithm::ES256];
    /// assert!(Guard::new(config).is_ok());
    /// ```
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew allowance for `exp` and `nbf`. Default 60 s.
    pub leeway: Duration,
    /// Tokens longer than this are rejected before any parsing. Default 8 KiB.
    pub max_token_bytes: usize,
    /// Where the JWKS is fetched from. Default `{issuer}/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// Where the revocation feed is polled from. Default `{issuer}/oauth/revocations`.
    pub revocation_feed_url: Option<String>,
    /// How often the background task polls the revocation feed. Default 30 s. After a failed
    /// poll the task retries sooner (after 1 s, then 2 s, 4 s… up to this interval).
    pub feed_poll_interval: Duration,
    /// How old the last successful revocation-feed poll may be before the list counts as out
    /// of date. Default 15 minutes; must be longer than
    /// [`feed_poll_interval`](Self::feed_poll_interval). Until the first successful poll, and
    /// whenever the list is out of date (or the last feed could not be taken: too large or
    /// invalid), a token that otherwise verifies is refused with
    /// [`GuardError::FeedUnavailable`](crate::GuardError::FeedUnavailable) (503, `Retry-After`)
    /// instead of being accepted on a list that may miss its revocation — unless
    /// [`fail_open`](Self::fail_open) is set.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tessera_guard::{Guard, GuardConfig};
    /// let mut config = GuardConfig::new("https://auth.example.com", "https://api.example.com/");
    /// assert_eq!(config.max_feed_age, Duration::from_secs(15 * 60));
    /// config.feed_poll_interval = Duration::from_secs(10);
    /// config.max_feed_age = Duration::from_secs(120); // tolerate ~11 failed polls in a row
    /// assert!(Guard::new(config.clone()).is_ok());
    /// config.max_feed_age = Duration::from_secs(10); // not longer than the poll interval
    /// assert!(Guard::new(config).is_err());
    /// ```
    pub max_feed_age: Duration,
    /// Accept tokens even when the revocation list is unknown or out of date (the behaviour of
    /// earlier versions): a revocation may then go unnoticed for as long as the issuer cannot be
    /// reached. Default `false` (fail closed). A warning is logged at start-up and on each failed
    /// poll while it is set.
    ///
    /// ```
    /// use tessera_guard::GuardConfig;
    /// let mut config = GuardConfig::new("https://auth.example.com", "https://api.example.com/");
    /// assert!(!config.fail_open);
    /// config.fail_open = true; // availability over revocation; think twice
    /// ```
    pub fail_open: bool,
    /// Largest revocation feed accepted, in bytes. Default 16 MiB. A larger answer is a failed
    /// poll that also makes the list unusable at once (tokens get 503 until a later poll
    /// succeeds), rather than silently keeping a list that may be missing revocations.
    ///
    /// ```
    /// let config = tessera_guard::GuardConfig::new("https://auth.example.com", "api");
    /// assert_eq!(config.max_feed_bytes, tessera_guard::GuardConfig::DEFAULT_MAX_FEED_BYTES);
    /// ```
    pub max_feed_bytes: usize,
    /// Minimum time between two JWKS fetches triggered by an unknown `kid`. Default 30 s.
    /// Bounds the load a stream of tokens with made-up key ids can put on the issuer.
    pub min_jwks_refetch_interval: Duration,
    /// How often the background task refreshes the JWKS even without an unknown `kid`, so a
    /// key the issuer withdrew stops being trusted. Default 300 s (the JWKS `max-age`).
    pub jwks_refresh_interval: Duration,
    /// Maximum number of validated tokens remembered (so a repeated token skips the signature
    /// verification). Default 10 000; 0 disables the cache.
    pub cache_capacity: usize,
    /// Timeout for each request to the issuer. Default 5 s.
    pub http_timeout: Duration,
    /// The `realm` of `WWW-Authenticate` challenges. Default `tessera`.
    pub realm: String,
}

impl GuardConfig {
    /// Default for [`max_token_bytes`](Self::max_token_bytes).
    ///
    /// ```
    /// assert_eq!(tessera_guard::GuardConfig::DEFAULT_MAX_TOKEN_BYTES, 8192);
    /// ```
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
    /// Default for [`cache_capacity`](Self::cache_capacity).
    ///
    /// ```
    /// assert_eq!(tessera_guard::GuardConfig::DEFAULT_CACHE_CAPACITY, 10_000);
    /// ```
    pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
    /// Default for [`max_feed_bytes`](Self::max_feed_bytes).
    ///
    /// ```
    /// assert_eq!(tessera_guard::GuardConfig::DEFAULT_MAX_FEED_BYTES, 16 * 1024 * 1024);
    /// ```
    pub const DEFAULT_MAX_FEED_BYTES: usize = 16 * 1024 * 1024;

    /// A configuration with every default, for the given issuer and audience.
    ///
    /// ```
    /// let config = tessera_guard::GuardConfig::new("http://127.0.0.1:8080", "https://api.example.test/");
    /// assert_eq!(config.leeway.as_secs(), 60);
    /// ```
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(60),
            max_token_bytes: Self::DEFAULT_MAX_TOKEN_BYTES,
            jwks_url: None,
            revocation_feed_url: None,
            feed_poll_interval: Duration::from_secs(30),
            max_feed_age: Duration::from_secs(15 * 60),
            fail_open: false,
            max_feed_bytes: Self::DEFAULT_MAX_FEED_BYTES,
            min_jwks_refetch_interval: Duration::from_secs(30),
            jwks_refresh_interval: Duration::from_secs(300),
            cache_capacity: Self::DEFAULT_CACHE_CAPACITY,
            http_timeout: Duration::from_secs(5),
            realm: "tessera".to_owned(),
        }
    }

    /// The JWKS URL: [`jwks_url`](Self::jwks_url) or `{issuer}/.well-known/jwks.json`.
    ///
    /// ```
    /// let mut config = tessera_guard::GuardConfig::new("http://issuer/", "aud");
    /// assert_eq!(config.jwks_url(), "http://issuer/.well-known/jwks.json");
    /// config.jwks_url = Some("http://keys.internal/jwks.json".into());
    /// assert_eq!(config.jwks_url(), "http://keys.internal/jwks.json");
    /// ```
    pub fn jwks_url(&self) -> String {
        self.jwks_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/jwks.json",
                self.issuer.trim_end_matches('/')
            )
        })
    }

    /// The revocation feed URL: [`revocation_feed_url`](Self::revocation_feed_url) or
    /// `{issuer}/oauth/revocations`.
    ///
    /// ```
    /// let config = tessera_guard::GuardConfig::new("http://issuer", "aud");
    /// assert_eq!(config.revocation_feed_url(), "http://issuer/oauth/revocations");
    /// ```
    pub fn revocation_feed_url(&self) -> String {
        self.revocation_feed_url
            .clone()
            .unwrap_or_else(|| format!("{}/oauth/revocations", self.issuer.trim_end_matches('/')))
    }

    /// Checks the settings once, at start-up.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(ConfigError::Invalid {
                field: "issuer",
                reason: "must not be empty",
            });
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::Invalid {
                field: "audience",
                reason: "must not be empty",
            });
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                field: "algorithms",
                reason: "at least one algorithm is required",
            });
        }
        for alg in &self.algorithms {
            // Security invariant: only asymmetric algorithms. HMAC would let anyone holding the
            // *public* key (it is published) mint tokens.
            if !is_supported(*alg) {
                return Err(ConfigError::AlgorithmNotAllowed(format!("{alg:?}")));
            }
        }
        if self.max_token_bytes == 0 {
            return Err(ConfigError::Invalid {
                field: "max_token_bytes",
                reason: "must be greater than zero",
            });
        }
        if self.feed_poll_interval.is_zero() {
            return Err(ConfigError::Invalid {
                field: "feed_poll_interval",
                reason: "must be greater than zero",
            });
        }
        if self.max_feed_age <= self.feed_poll_interval {
            return Err(ConfigError::Invalid {
                field: "max_feed_age",
                reason: "must be longer than feed_poll_interval",
            });
        }
        if self.max_feed_bytes == 0 {
            return Err(ConfigError::Invalid {
                field: "max_feed_bytes",
                reason: "must be greater than zero",
            });
        }
        if self.jwks_refresh_interval.is_zero() {
            return Err(ConfigError::Invalid {
                field: "jwks_refresh_interval",
                reason: "must be greater than zero",
            });
        }
        i64::try_from(self.leeway.as_secs()).map_err(|_| ConfigError::Invalid {
            field: "leeway",
            reason: "is too large",
        })?;
        Ok(())
    }

    pub(crate) fn leeway_secs(&self) -> i64 {
        i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX / 4)
    }
}
