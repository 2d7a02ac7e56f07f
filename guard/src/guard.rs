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
//! 8. expiry again (for cache hits) and the revocation feed — on every call;
//! 9. the revocation list must be known and fresh (see [`GuardConfig::max_feed_age`]): a token
//!    that passed everything else is refused with [`GuardError::FeedUnavailable`] (503) when it
//!    is not, unless [`GuardConfig::fail_open`] is set. A token the list already shows revoked
//!    is refused as revoked (401) either way.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::cache::{hash_token, TokenCache};
use crate::claims::Claims;
use crate::config::{is_supported, GuardConfig};
use crate::error::{ConfigError, FetchError, GuardError};
use crate::http::{self, Conditional};
use crate::keys::{JwksKeyStore, KeyStore};
use crate::revocation::{RevocationFeed, RevocationIndex};

/// The current time in Unix seconds.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn unix_now() -> i64 {
    unix_now_ms().div_euclid(1000)
}

/// The current time in Unix milliseconds.
pub(crate) fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The revocation list and what is known about how current it is.
#[derive(Debug, Default)]
pub(crate) struct FeedState {
    pub(crate) index: RevocationIndex,
    /// Unix milliseconds of the last successful poll (or applied complete feed); `None` until
    /// the first.
    last_success_ms: Option<i64>,
    /// The last feed could not be taken (too large, invalid): the list may be missing
    /// revocations, whatever its age.
    unusable: bool,
    /// The `ETag` of the last feed taken, for `If-None-Match`.
    etag: Option<String>,
    /// The `next_cursor` of the last feed taken, for `?since=`.
    cursor: Option<String>,
}

impl FeedState {
    fn is_fresh_at(&self, now_ms: i64, max_age: Duration) -> bool {
        !self.unusable
            && self
                .last_success_ms
                .is_some_and(|at| now_ms.saturating_sub(at) < millis(max_age))
    }

    /// Records a success at `now_ms` (the list is known and current).
    fn succeeded(&mut self, now_ms: i64) {
        self.last_success_ms = Some(now_ms);
        self.unusable = false;
    }

    /// The answer could not be taken: the list may be missing revocations. The next poll asks
    /// for the complete list.
    fn make_unusable(&mut self) {
        self.unusable = true;
        self.etag = None;
        self.cursor = None;
    }
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
    revocations: RwLock<FeedState>,
    /// One poll at a time, so an older answer never overwrites a newer one.
    poll_lock: tokio::sync::Mutex<()>,
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
/// guard.poll_revocations_now().await?;  // start with a current revocation list (until then,
///                                        // tokens are answered 503: see `max_feed_age`)
/// let _task = guard.spawn_refresh_task(); // then keep it current in the background
/// assert!(guard.feed_is_fresh());
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
        if config.fail_open {
            log::warn!(
                "tessera-guard: fail_open is set: tokens are accepted even when the revocation \
                 list is unknown or older than {:?}, so a revocation may go unnoticed while the \
                 issuer cannot be reached",
                config.max_feed_age
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                realm,
                cache: TokenCache::new(config.cache_capacity),
                config,
                keys: Arc::new(keys),
                revocations: RwLock::new(FeedState::default()),
                poll_lock: tokio::sync::Mutex::new(()),
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
        self.validate_shared_at_ms(token, unix_now_ms())
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
        self.validate_shared_at_ms(token, unix_now_ms()).await
    }

    /// Like [`validate`](Self::validate) at a given time (Unix seconds), for deterministic tests.
    /// The time is used for the token's `exp`/`nbf` and for the age of the revocation list (a
    /// time before the last successful poll counts as an age of zero).
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard, token: &str) {
    /// let err = guard.validate_at(token, i64::MAX / 2).await.unwrap_err();
    /// assert_eq!(err, tessera_guard::GuardError::Expired);
    /// # }
    /// ```
    pub async fn validate_at(&self, token: &str, now: i64) -> Result<Claims, GuardError> {
        self.validate_shared_at_ms(token, now.saturating_mul(1000))
            .await
            .map(Arc::unwrap_or_clone)
    }

    async fn validate_shared_at_ms(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Arc<Claims>, GuardError> {
        let now = now_ms.div_euclid(1000);
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
        self.check_revocation(&claims, now_ms)?;
        Ok(claims)
    }

    fn is_expired(&self, claims: &Claims, now: i64) -> bool {
        now >= claims.exp.saturating_add(self.inner.config.leeway_secs())
    }

    /// The revocation list's verdict: revoked (401) if a list, even an out-of-date one, says
    /// so; otherwise 503 unless the list is known and fresh (or `fail_open`).
    fn check_revocation(&self, claims: &Claims, now_ms: i64) -> Result<(), GuardError> {
        let config = &self.inner.config;
        let state = self.feed_state();
        if let Some(reason) = state.index.check(claims) {
            return Err(GuardError::Revoked(reason));
        }
        if !config.fail_open && !state.is_fresh_at(now_ms, config.max_feed_age) {
            return Err(GuardError::FeedUnavailable {
                retry_after: config.feed_poll_interval.max(Duration::from_secs(1)),
            });
        }
        Ok(())
    }

    fn feed_state(&self) -> std::sync::RwLockReadGuard<'_, FeedState> {
        self.inner
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn feed_state_mut(&self) -> std::sync::RwLockWriteGuard<'_, FeedState> {
        self.inner
            .revocations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
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

    /// Applies `feed` as if a poll had returned it: a complete feed (the default for
    /// [`RevocationFeed::default`]) replaces the list and makes it known and fresh; a delta
    /// ([`RevocationFeed::delta`]) is merged into it and refreshes it only if the list was
    /// already known and usable. Takes effect for every later validation, including tokens
    /// already in the cache. Useful in tests, or to feed the guard from elsewhere.
    ///
    /// ```
    /// use tessera_guard::{Guard, GuardConfig, RevocationFeed};
    /// # let guard = Guard::new(GuardConfig::new("http://i", "a")).unwrap();
    /// assert!(!guard.feed_is_fresh());
    /// guard.apply_revocations(RevocationFeed::default().with_credential("wk_123", 1763799000));
    /// assert_eq!(guard.revocations_generated_at(), Some(0));
    /// assert!(guard.feed_is_fresh());
    /// guard.apply_revocations(RevocationFeed::delta().with_removed_credential("wk_123"));
    /// assert_eq!(guard.revocation_entries(), 0);
    /// ```
    pub fn apply_revocations(&self, feed: RevocationFeed) {
        let now_ms = unix_now_ms();
        let mut state = self.feed_state_mut();
        self.apply_locked(&mut state, feed, None, now_ms);
    }

    /// Applies `feed` to `state` (see [`apply_revocations`](Self::apply_revocations)) and
    /// remembers its cursor and `etag`.
    fn apply_locked(
        &self,
        state: &mut FeedState,
        feed: RevocationFeed,
        etag: Option<String>,
        now_ms: i64,
    ) {
        let known = state.last_success_ms.is_some() && !state.unusable;
        let complete = feed.complete;
        let cursor = feed.next_cursor.clone();
        state.index.apply(
            feed,
            now_ms.div_euclid(1000),
            self.inner.config.leeway_secs(),
        );
        state.etag = etag;
        if complete {
            state.cursor = cursor;
            state.succeeded(now_ms);
        } else {
            if cursor.is_some() {
                state.cursor = cursor;
            }
            if known {
                state.succeeded(now_ms);
            }
        }
    }

    /// `generated_at` of the revocation feed last applied, or `None` before the first one.
    ///
    /// ```
    /// # let guard = tessera_guard::Guard::new(tessera_guard::GuardConfig::new("http://i", "a")).unwrap();
    /// assert_eq!(guard.revocations_generated_at(), None);
    /// ```
    pub fn revocations_generated_at(&self) -> Option<i64> {
        self.feed_state().index.generated_at()
    }

    /// Number of entries in the revocation list (credentials, accounts, workspaces and tokens),
    /// e.g. for a metric. Entries that can no longer concern an unexpired token are dropped.
    ///
    /// ```
    /// use tessera_guard::{Guard, GuardConfig, RevocationFeed};
    /// # let guard = Guard::new(GuardConfig::new("http://i", "a")).unwrap();
    /// guard.apply_revocations(RevocationFeed::default().with_account("acc", 1).with_token("j", 2));
    /// assert_eq!(guard.revocation_entries(), 2);
    /// ```
    pub fn revocation_entries(&self) -> usize {
        self.feed_state().index.len()
    }

    /// Whether the revocation list is known and fresh: a poll (or an applied complete feed)
    /// succeeded less than [`max_feed_age`](GuardConfig::max_feed_age) ago, and the last
    /// answer could be taken. While it is not, tokens get 503 (unless
    /// [`fail_open`](GuardConfig::fail_open)): a readiness probe can report it.
    ///
    /// ```
    /// use tessera_guard::{Guard, GuardConfig, RevocationFeed};
    /// let guard = Guard::new(GuardConfig::new("http://127.0.0.1:8080", "api")).unwrap();
    /// assert!(!guard.feed_is_fresh()); // nothing polled yet
    /// guard.apply_revocations(RevocationFeed::default());
    /// assert!(guard.feed_is_fresh());
    /// ```
    pub fn feed_is_fresh(&self) -> bool {
        self.feed_state()
            .is_fresh_at(unix_now_ms(), self.inner.config.max_feed_age)
    }

    /// How long ago the last successful poll (or applied complete feed) was, or `None` before
    /// the first. It keeps growing after a feed that could not be taken (too large, invalid),
    /// which also makes [`feed_is_fresh`](Self::feed_is_fresh) false at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tessera_guard::{Guard, GuardConfig, RevocationFeed};
    /// let guard = Guard::new(GuardConfig::new("http://127.0.0.1:8080", "api")).unwrap();
    /// assert_eq!(guard.feed_age(), None);
    /// guard.apply_revocations(RevocationFeed::default());
    /// assert!(guard.feed_age().unwrap() < Duration::from_secs(5));
    /// ```
    pub fn feed_age(&self) -> Option<Duration> {
        let at = self.feed_state().last_success_ms?;
        let age = unix_now_ms().saturating_sub(at).max(0);
        Some(Duration::from_millis(u64::try_from(age).unwrap_or(0)))
    }

    /// Polls the revocation feed now and applies the answer: a conditional, incremental GET
    /// (`If-None-Match` with the last `ETag`, `?since=` with the last `next_cursor`). A 304 or
    /// a feed taken is a success and refreshes the list's age.
    ///
    /// On error the previous list stays in force, and ages. An answer that cannot be taken —
    /// larger than [`max_feed_bytes`](GuardConfig::max_feed_bytes), or not a valid feed — is
    /// logged at error level and makes the list unusable at once (tokens get 503 until a later
    /// poll succeeds; that poll asks for the complete list).
    ///
    /// ```no_run
    /// # async fn run(guard: tessera_guard::Guard) {
    /// if let Err(err) = guard.poll_revocations_now().await {
    ///     eprintln!("revocation feed unavailable: {err}");
    /// }
    /// # }
    /// ```
    pub async fn poll_revocations_now(&self) -> Result<(), FetchError> {
        let inner = &*self.inner;
        let _one_at_a_time = inner.poll_lock.lock().await;
        let (etag, cursor) = {
            let state = self.feed_state();
            (state.etag.clone(), state.cursor.clone())
        };
        let answer = http::get_conditional(
            &inner.client,
            &inner.feed_url,
            cursor.as_deref(),
            etag.as_deref(),
            inner.config.max_feed_bytes,
        )
        .await;
        let now_ms = unix_now_ms();
        let (body, etag) = match answer {
            Ok(Conditional::NotModified) => {
                let mut state = self.feed_state_mut();
                if state.last_success_ms.is_none() || state.unusable {
                    // "Unchanged" only helps if what we have was ever a complete, usable list
                    // (it may be deltas applied by hand): ask for everything next time.
                    state.etag = None;
                    state.cursor = None;
                    return Err(FetchError::Status(304));
                }
                state.succeeded(now_ms);
                let leeway = inner.config.leeway_secs();
                state.index.sweep(now_ms.div_euclid(1000), leeway);
                return Ok(());
            }
            Ok(Conditional::Modified { body, etag }) => (body, etag),
            Err(err @ FetchError::TooLarge(_)) => return Err(self.refuse_feed(err)),
            Err(err) => return Err(err),
        };
        let feed: RevocationFeed = match serde_json::from_slice(&body) {
            Ok(feed) => feed,
            Err(err) => return Err(self.refuse_feed(FetchError::InvalidBody(err.to_string()))),
        };
        if !feed.complete && cursor.is_none() {
            return Err(self.refuse_feed(FetchError::InvalidBody(
                "a delta answered a request for the complete list".to_owned(),
            )));
        }
        let mut state = self.feed_state_mut();
        self.apply_locked(&mut state, feed, etag, now_ms);
        Ok(())
    }

    /// A feed that cannot be taken: logged, and the list made unusable.
    fn refuse_feed(&self, err: FetchError) -> FetchError {
        log::error!(
            "tessera-guard: the revocation feed from {} cannot be used ({err}); {}",
            self.inner.feed_url,
            if self.inner.config.fail_open {
                "fail_open is set: tokens are still accepted on the previous list"
            } else {
                "tokens are refused with 503 until a later poll succeeds"
            }
        );
        self.feed_state_mut().make_unusable();
        err
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
    /// After a failed poll it retries sooner: after 1 s, then 2 s, 4 s… up to the poll
    /// interval. Failures are logged and the last good state is kept (the revocation list ages:
    /// see [`max_feed_age`](GuardConfig::max_feed_age)). The task ends by itself when every
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

/// First retry delay after a failed feed poll; doubled after each further failure, up to the
/// poll interval.
const FIRST_RETRY: Duration = Duration::from_secs(1);

async fn refresh_loop(weak: Weak<Inner>, feed_every: Duration, keys_every: Duration) {
    let mut next_feed = Instant::now();
    let mut next_keys = Instant::now();
    let mut retry = FIRST_RETRY.min(feed_every);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_feed) => {
                let Some(inner) = weak.upgrade() else { break };
                let guard = Guard { inner };
                match guard.poll_revocations_now().await {
                    Ok(()) => {
                        retry = FIRST_RETRY.min(feed_every);
                        next_feed = Instant::now() + feed_every;
                    }
                    Err(err) => {
                        // Too large or invalid: already logged at error level by the poll.
                        if !matches!(err, FetchError::TooLarge(_) | FetchError::InvalidBody(_)) {
                            log::warn!(
                                "tessera-guard: revocation feed poll of {} failed, keeping the previous list{}: {err}",
                                guard.inner.feed_url,
                                if guard.inner.config.fail_open {
                                    " (fail_open: tokens are accepted however old it gets)"
                                } else {
                                    ""
                                },
                            );
                        }
                        next_feed = Instant::now() + retry;
                        retry = (retry * 2).min(feed_every);
                    }
                }
            }
            _ = tokio::time::sleep_until(next_keys) => {
                let Some(inner) = weak.upgrade() else { break };
                if let Err(err) = inner.keys.refresh().await {
                    log::warn!("tessera-guard: key refresh failed, keeping the previous keys: {err}");
                }
                next_keys = Instant::now() + keys_every;
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
