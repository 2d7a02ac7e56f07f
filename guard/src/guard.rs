//! The validator: [`Guard`].
//!
//! The checks run in this order, cheapest and least trusting first:
//! 1. size limit, before anything is parsed;
//! 2. token cache (a byte-identical token verified before): skip to step 8;
//! 3. compact-JWS shape and base64url;
//! 4. header: `alg` pinned to the configured algorithms (RSA, ES256, EdDSA; `none` and HMAC
//!    never), `typ` is `at+jwt`, no `crit`, a `kid`; `jku`/`x5u`/`jwk`/`x5c` are not even read;
//! 5. the key named by `kid`, from the key store only; `alg` must also be one that key's type
//!    (and its JWK's `alg`, if stated) allows; then the signature;
//! 6. claims: required claims present and well typed;
//! 7. `iss`, `aud`, `exp`, `nbf` (with leeway);
//! 8. expiry again (for cache hits) and the revocation feed — on every call.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::cache::{hash_token, TokenCache};
use crate::claims::Claims;
use crate::config::{is_supported, GuardConfig};
use crate::error::{ConfigError, FetchError, GuardError};
use crate::http;
use crate::keys::{JwksKeyStore, KeyStore};
use crate::revocation::{RevocationFeed, RevocationIndex};

/// Largest revocation feed read from the issuer.
const MAX_FEED_BYTES: usize = 16 * 1024 * 1024;

/// The current time in Unix seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The header fields the guard reads. Anything else (notably `jku`, `x5u`, `jwk`, `x5c`) is
/// ignored: keys come from the key store, never from the token.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

struct Inner {
    config: GuardConfig,
    keys: Arc<dyn KeyStore>,
    cache: TokenCache,
    revocations: RwLock<RevocationIndex>,
    client: reqwest::Client,
    feed_url: String,
    realm: Arc<str>,
}

/// Validates Tessera access tokens offline. Cheap to clone (one `Arc`); share one per process.
///
/// ```no_run
/// use tessera_guard::{Guard, GuardConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = Guard::new(GuardConfig::new("http://127.0.0.1:8080", "https://api.example.test/"))?;
/// guard.poll_revocations_now().await?;  // start with a current revocation list
/// let _task = guard.spawn_refresh_task(); // then keep it current in the background
///
/// match guard.validate("eyJ...").await {
///     Ok(claims) => println!("hello {}", claims.client_id),
///     Err(err) => println!("rejected: {err} ({})", err.status()),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard that fetches keys from the issuer's JWKS ([`GuardConfig::jwks_url`]).
    /// Nothing is fetched yet: keys on the first validation (or [`refresh_keys`](Self::refresh_keys)),
    /// the revocation feed on [`poll_revocations_now`](Self::poll_revocations_now) or by the
    /// task from [`spawn_refresh_task`](Self::spawn_refresh_task).
    ///
    /// ```
    /// use tessera_guard::{Guard, GuardConfig};
    /// let guard = Guard::new(GuardConfig::new("http://127.0.0.1:8080", "https://api.example.test/")).unwrap();
    /// assert_eq!(guard.config().issuer, "http://127.0.0.1:8080");
    /// ```
    pub fn new(config: GuardConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let client = http::client(config.http_timeout)?;
        let store =
            JwksKeyStore::with_client(config.jwks_url(), config.min_jwks_refetch_interval, client);
        Self::with_key_store(config, store)
    }

    /// A guard that takes its keys from `keys` (e.g. a [`StaticKeyStore`](crate::StaticKeyStore)).
    ///
    /// ```
    /// use tessera_guard::{Guard, GuardConfig, StaticKeyStore};
    /// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let keys = StaticKeyStore::from_rsa_pems([pem.as_slice()]).unwrap();
    /// let guard = Guard::with_key_store(GuardConfig::new("http://issuer", "api"), keys).unwrap();
    /// # let _ = guard;
    /// ```
    pub fn with_key_store(config: GuardConfig, keys: impl KeyStore) -> Result<Self, ConfigError> {
        config.validate()?;
        let client = http::client(config.http_timeout)?;
        let feed_url = config.revocation_feed_url();
        let realm = Arc::from(config.realm.as_str());
        Ok(Self {
            inner: Arc::new(Inner {
                realm,
                cache: TokenCache::new(config.cache_capacity),
                config,
                keys: Arc::new(keys),
                revocations: RwLock::new(RevocationIndex::default()),
                client,
                feed_url,
            }),
        })
    }

    /// The configuration.
    ///
    /// ```
    /// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
    /// assert_eq!(guard.config().audience, "a");
    /// ```
    pub fn config(&self) -> &GuardConfig {
        &self.inner.config
    }

    /// The `realm` for challenges, shared.
    #[cfg_attr(not(feature = "actix"), allow(dead_code))]
    pub(crate) fn realm(&self) -> Arc<str> {
        self.inner.realm.clone()
    }

    /// Validates a token (the bare JWT, without `Bearer `) and returns its claims.
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard, token: &str) {
    /// let claims = guard.validate(token).await.unwrap();
    /// println!("{} acting on account {}", claims.client_id, claims.account_id);
    /// # }
    /// ```
    pub async fn validate(&self, token: &str) -> Result<Claims, GuardError> {
        self.validate_shared_at(token, unix_now())
            .await
            .map(Arc::unwrap_or_clone)
    }

    /// Like [`validate`](Self::validate), but returns the claims behind an `Arc` (shared with the
    /// token cache, so a cache hit allocates nothing).
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard, token: &str) {
    /// let claims = guard.validate_shared(token).await.unwrap();
    /// assert!(claims.exp > claims.iat);
    /// # }
    /// ```
    pub async fn validate_shared(&self, token: &str) -> Result<Arc<Claims>, GuardError> {
        self.validate_shared_at(token, unix_now()).await
    }

    /// Like [`validate`](Self::validate) at a given time (Unix seconds), for deterministic tests.
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard, token: &str) {
    /// let err = guard.validate_at(token, i64::MAX / 2).await.unwrap_err();
    /// assert_eq!(err, tessera_guard::GuardError::Expired);
    /// # }
    /// ```
    pub async fn validate_at(&self, token: &str, now: i64) -> Result<Claims, GuardError> {
        self.validate_shared_at(token, now)
            .await
            .map(Arc::unwrap_or_clone)
    }

    async fn validate_shared_at(&self, token: &str, now: i64) -> Result<Arc<Claims>, GuardError> {
        let inner = &*self.inner;
        // Before anything else, so an oversized token costs nothing but this comparison.
        if token.len() > inner.config.max_token_bytes {
            return Err(GuardError::TokenTooLarge);
        }
        if token.is_empty() {
            return Err(GuardError::MissingToken);
        }
        let hash = inner.cache.enabled().then(|| hash_token(token));
        let generation = inner.keys.generation();
        let claims = match hash.as_ref().and_then(|h| inner.cache.get(h, generation)) {
            Some(claims) => {
                if self.is_expired(&claims, now) {
                    if let Some(hash) = &hash {
                        inner.cache.remove(hash);
                    }
                    return Err(GuardError::Expired);
                }
                claims
            }
            None => {
                let claims = Arc::new(self.verify(token, now).await?);
                if let Some(hash) = hash {
                    // Cached before the revocation check on purpose: the entry records that the
                    // signature and claims are good; revocation is decided afresh on each use.
                    inner.cache.insert(hash, claims.clone(), generation, now);
                }
                claims
            }
        };
        self.check_revocation(&claims)?;
        Ok(claims)
    }

    fn is_expired(&self, claims: &Claims, now: i64) -> bool {
        now >= claims.exp.saturating_add(self.inner.config.leeway_secs())
    }

    fn check_revocation(&self, claims: &Claims) -> Result<(), GuardError> {
        let index = self
            .inner
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match index.check(claims) {
            Some(reason) => Err(GuardError::Revoked(reason)),
            None => Ok(()),
        }
    }

    /// Steps 3–7: everything but the cache and revocation.
    async fn verify(&self, token: &str, now: i64) -> Result<Claims, GuardError> {
        let config = &self.inner.config;
        let mut parts = token.split('.');
        let (header_b64, payload_b64, signature_b64) =
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => (h, p, s),
                _ => {
                    return Err(GuardError::Malformed(
                        "not a compact JWS (header.payload.signature)",
                    ))
                }
            };

        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| GuardError::Malformed("the header is not base64url"))?;
        let header: RawHeader = serde_json::from_slice(&header_json)
            .map_err(|_| GuardError::Malformed("the header is not a valid JSON object"))?;

        let alg = self.check_algorithm(header.alg.as_deref())?;
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(GuardError::InvalidType);
        }
        // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we understand none.
        if header.crit.is_some() {
            return Err(GuardError::Malformed(
                "critical header parameters are not supported",
            ));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(GuardError::MissingKeyId)?;

        let key = match self.inner.keys.key(&kid).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(GuardError::UnknownKeyId),
            Err(err) => {
                log::warn!("tessera-guard: no signing keys available: {err}");
                return Err(GuardError::KeysUnavailable);
            }
        };
        // Algorithm confusion: an ES256 header naming an RSA key, an RS256 header naming an EC
        // key, an EdDSA header naming an EC key… The key decides, not the token.
        if !key.accepts(alg) {
            return Err(GuardError::AlgorithmNotAllowed);
        }

        // An empty signature (the usual `alg: none` shape) has already failed the `alg` check;
        // this catches it with a pinned algorithm too.
        if signature_b64.is_empty() {
            return Err(GuardError::InvalidSignature);
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verify(alg, signing_input.as_bytes(), signature_b64) {
            return Err(GuardError::InvalidSignature);
        }

        // Only now, with the signature verified, is the payload worth reading.
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| GuardError::Malformed("the payload is not base64url"))?;
        let claims = Claims::from_payload(&payload)?;

        if claims.iss != config.issuer {
            return Err(GuardError::InvalidIssuer);
        }
        if !claims.aud.contains(&config.audience) {
            return Err(GuardError::InvalidAudience);
        }
        if self.is_expired(&claims, now) {
            return Err(GuardError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(config.leeway_secs()))
        {
            return Err(GuardError::NotYetValid);
        }
        Ok(claims)
    }

    /// The header's `alg`, if it is one of the configured algorithms.
    fn check_algorithm(&self, alg: Option<&str>) -> Result<Algorithm, GuardError> {
        // `none` (any case) and unknown names fail to parse; HMAC parses but is refused even if
        // it were configured, since the verification key is public.
        let alg: Algorithm = alg
            .and_then(|name| name.parse().ok())
            .ok_or(GuardError::AlgorithmNotAllowed)?;
        if !is_supported(alg) || !self.inner.config.algorithms.contains(&alg) {
            return Err(GuardError::AlgorithmNotAllowed);
        }
        Ok(alg)
    }

    /// Replaces the revocation list with `feed` (a complete snapshot, as the issuer serves it).
    /// Takes effect for every later validation, including tokens already in the cache.
    ///
    /// ```
    /// use tessera_guard::{Guard, GuardConfig, RevocationFeed};
    /// # let guard = Guard::new(GuardConfig::new("http://i", "a")).unwrap();
    /// guard.apply_revocations(RevocationFeed::default().with_credential("wk_123", 1763799000));
    /// assert_eq!(guard.revocations_generated_at(), Some(0));
    /// ```
    pub fn apply_revocations(&self, feed: RevocationFeed) {
        let index = RevocationIndex::from_feed(feed);
        *self
            .inner
            .revocations
            .write()
            .unwrap_or_else(PoisonError::into_inner) = index;
    }

    /// `generated_at` of the revocation feed in force, or `None` before the first one.
    ///
    /// ```
    /// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
    /// assert_eq!(guard.revocations_generated_at(), None);
    /// ```
    pub fn revocations_generated_at(&self) -> Option<i64> {
        self.inner
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generated_at()
    }

    /// Fetches the revocation feed now and applies it. On error the previous list stays.
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard) {
    /// if let Err(err) = guard.poll_revocations_now().await {
    ///     eprintln!("revocation feed unavailable: {err}");
    /// }
    /// # }
    /// ```
    pub async fn poll_revocations_now(&self) -> Result<(), FetchError> {
        let body =
            http::get_bounded(&self.inner.client, &self.inner.feed_url, MAX_FEED_BYTES).await?;
        let feed: RevocationFeed = serde_json::from_slice(&body)
            .map_err(|err| FetchError::InvalidBody(err.to_string()))?;
        self.apply_revocations(feed);
        Ok(())
    }

    /// Reloads the signing keys from the key store's source now.
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard) {
    /// guard.refresh_keys().await.expect("issuer reachable");
    /// # }
    /// ```
    pub async fn refresh_keys(&self) -> Result<(), FetchError> {
        self.inner.keys.refresh().await
    }

    /// Number of tokens in the validation cache.
    ///
    /// ```
    /// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
    /// assert_eq!(guard.cached_tokens(), 0);
    /// ```
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }

    /// Empties the validation cache (the next use of each token verifies its signature again).
    ///
    /// ```
    /// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
    /// guard.clear_cache();
    /// ```
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }

    /// Spawns a tokio task that polls the revocation feed every
    /// [`feed_poll_interval`](GuardConfig::feed_poll_interval) and refreshes the keys every
    /// [`jwks_refresh_interval`](GuardConfig::jwks_refresh_interval), both at once on start.
    /// Failures are logged and the last good state is kept. The task ends by itself when every
    /// clone of the guard is dropped, or on [`RefreshTask::stop`]; dropping the handle does not
    /// stop it. Must be called inside a tokio runtime (e.g. in `#[actix_web::main]`).
    ///
    /// ```no_run
    /// # #[actix_web::main] async fn main() {
    /// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
    /// let task = guard.spawn_refresh_task();
    /// // ... serve ...
    /// task.stop();
    /// # }
    /// ```
    pub fn spawn_refresh_task(&self) -> RefreshTask {
        let weak = Arc::downgrade(&self.inner);
        let feed_every = self.inner.config.feed_poll_interval;
        let keys_every = self.inner.config.jwks_refresh_interval;
        RefreshTask {
            handle: tokio::spawn(refresh_loop(weak, feed_every, keys_every)),
        }
    }
}

async fn refresh_loop(weak: Weak<Inner>, feed_every: Duration, keys_every: Duration) {
    let mut feed_tick = tokio::time::interval(feed_every);
    feed_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut keys_tick = tokio::time::interval(keys_every);
    keys_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = feed_tick.tick() => {
                let Some(inner) = weak.upgrade() else { break };
                let guard = Guard { inner };
                if let Err(err) = guard.poll_revocations_now().await {
                    log::warn!(
                        "tessera-guard: revocation feed poll of {} failed, keeping the previous list: {err}",
                        guard.inner.feed_url
                    );
                }
            }
            _ = keys_tick.tick() => {
                let Some(inner) = weak.upgrade() else { break };
                if let Err(err) = inner.keys.refresh().await {
                    log::warn!("tessera-guard: key refresh failed, keeping the previous keys: {err}");
                }
            }
        }
    }
    log::debug!("tessera-guard: refresh task stopped: the guard was dropped");
}

/// Handle of the task started by [`Guard::spawn_refresh_task`].
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
/// let task = guard.spawn_refresh_task();
/// assert!(!task.is_finished());
/// task.stop();
/// # }
/// ```
#[derive(Debug)]
pub struct RefreshTask {
    handle: tokio::task::JoinHandle<()>,
}

impl RefreshTask {
    /// Stops the task.
    ///
    /// ```no_run
    /// # async fn run(task: tessera_guard::RefreshTask) {
    /// task.stop();
    /// # }
    /// ```
    pub fn stop(self) {
        self.handle.abort();
    }

    /// Whether the task has ended.
    ///
    /// ```no_run
    /// # async fn run(task: tessera_guard::RefreshTask) {
    /// println!("{}", task.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// RFC 9068 §2.1 / §4: `typ` is `at+jwt`, media-type names compare case-insensitively, and the
/// full `application/at+jwt` form is equivalent.
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ.trim();
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case("at+jwt")
}
