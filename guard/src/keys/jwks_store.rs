//! [`JwksKeyStore`]: the issuer's JWKS over HTTP, cached, refetched on an unknown `kid` at most
//! once per interval, the last good keys kept when a fetch fails.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::parse_jwks;
use super::{BoxFuture, KeyStore, PublicKey};
use crate::discovery::{check_fetch_url, discover_jwks_uri, DiscoveryError};
use crate::error::{ConfigError, FetchError};
use crate::http;

/// Largest JWKS document read from the issuer; a larger one is refused
/// ([`FetchError::TooLarge`]) and the keys held before are kept.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

type KeyMap = HashMap<String, Arc<PublicKey>>;

/// Keys fetched from a JWKS URL, cached, refetched when a token names an unknown `kid`
/// (at most once per `min_refetch_interval`), and kept when the issuer is unreachable.
///
/// ```no_run
/// use std::time::Duration;
/// use tessera_guard::{JwksKeyStore, KeyStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = JwksKeyStore::new(
///     "http://127.0.0.1:8080/.well-known/jwks.json",
///     Duration::from_secs(30),
///     Duration::from_secs(5),
/// )?;
/// store.refresh().await?; // optional: the first lookup fetches anyway
/// # Ok(()) }
/// ```
pub struct JwksKeyStore {
    url: String,
    client: reqwest::Client,
    min_refetch_interval: Duration,
    keys: RwLock<Arc<KeyMap>>,
    generation: AtomicU64,
    /// When the last fetch was attempted (successful or not). Held across the fetch so
    /// concurrent misses wait for one fetch instead of starting their own.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for JwksKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksKeyStore")
            .field("url", &self.url)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("keys", &self.current().len())
            .finish_non_exhaustive()
    }
}

impl JwksKeyStore {
    /// A store for the JWKS at `url`. Nothing is fetched until the first lookup or
    /// [`refresh`](KeyStore::refresh).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = tessera_guard::JwksKeyStore::new(
    ///     "http://127.0.0.1:8080/.well-known/jwks.json",
    ///     Duration::from_secs(30),
    ///     Duration::from_secs(5),
    /// ).unwrap();
    /// assert_eq!(store.url(), "http://127.0.0.1:8080/.well-known/jwks.json");
    /// ```
    pub fn new(
        url: impl Into<String>,
        min_refetch_interval: Duration,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self::with_client(
            url,
            min_refetch_interval,
            http::client(timeout)?,
        ))
    }

    /// Like [`new`](Self::new) with a caller-provided HTTP client.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let client = reqwest::Client::new();
    /// let store = tessera_guard::JwksKeyStore::with_client("http://127.0.0.1:8080/jwks", Duration::from_secs(30), client);
    /// # let _ = store;
    /// ```
    pub fn with_client(
        url: impl Into<String>,
        min_refetch_interval: Duration,
        client: reqwest::Client,
    ) -> Self {
        Self {
            url: url.into(),
            client,
            min_refetch_interval,
            keys: RwLock::new(Arc::new(HashMap::new())),
            generation: AtomicU64::new(0),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// A store for the JWKS of `issuer`, found by OpenID Connect discovery
    /// ([`discover_jwks_uri`](crate::discover_jwks_uri)): `{issuer}/.well-known/openid-configuration`
    /// is fetched now (bounded in size, within `timeout`, no redirect), must name exactly
    /// `issuer`, and its `jwks_uri` becomes the store's URL. Both URLs must pass
    /// [`check_fetch_url`] (https, or http on a loopback host). The keys themselves are fetched
    /// on the first lookup, as with [`new`](Self::new).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn run() -> Result<(), tessera_guard::DiscoveryError> {
    /// let store = tessera_guard::JwksKeyStore::discover(
    ///     "https://token.actions.githubusercontent.com",
    ///     Duration::from_secs(30),
    ///     Duration::from_secs(5),
    /// ).await?;
    /// assert!(store.url().starts_with("https://"));
    /// # Ok(()) }
    /// ```
    pub async fn discover(
        issuer: &str,
        min_refetch_interval: Duration,
        timeout: Duration,
    ) -> Result<Self, DiscoveryError> {
        check_fetch_url(issuer).map_err(DiscoveryError::InsecureIssuer)?;
        let client = http::client(timeout)?;
        let jwks_uri = discover_jwks_uri(&client, issuer).await?;
        Ok(Self::with_client(jwks_uri, min_refetch_interval, client))
    }

    /// The JWKS URL.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let store = tessera_guard::JwksKeyStore::with_client("http://x/jwks", Duration::from_secs(30), reqwest::Client::new());
    /// assert_eq!(store.url(), "http://x/jwks");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key ids currently cached.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let store = tessera_guard::JwksKeyStore::with_client("http://x/jwks", Duration::from_secs(30), reqwest::Client::new());
    /// assert!(store.key_ids().is_empty()); // nothing fetched yet
    /// ```
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.current().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn current(&self) -> Arc<KeyMap> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn lookup(&self, kid: &str) -> Option<Arc<PublicKey>> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// Fetches and installs the key set. On any failure the previous keys stay.
    async fn fetch_and_install(&self) -> Result<(), FetchError> {
        let body = http::get_bounded(&self.client, &self.url, MAX_JWKS_BYTES).await?;
        let keys = parse_jwks(&body).map_err(FetchError::InvalidBody)?;
        if keys.is_empty() {
            // An empty or unusable set is more likely a broken deployment than a real
            // withdrawal of every key; keep validating with what we have.
            return Err(FetchError::NoUsableKeys);
        }
        let new: KeyMap = keys
            .into_iter()
            .map(|k| (k.kid().to_owned(), Arc::new(k)))
            .collect();
        let mut slot = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A withdrawn or replaced key must stop validating tokens the guard had cached.
        let withdrawn = slot
            .iter()
            .any(|(kid, old)| new.get(kid).is_none_or(|fresh| !fresh.same_material(old)));
        if withdrawn {
            self.generation.fetch_add(1, Ordering::Release);
        }
        log::debug!(
            "tessera-guard: loaded {} signing key(s) from {}",
            new.len(),
            self.url
        );
        *slot = Arc::new(new);
        Ok(())
    }

    /// The interval to respect before the next unknown-kid fetch. Until a first fetch has
    /// succeeded the guard has nothing to validate with, so it retries sooner (still bounded).
    fn effective_interval(&self) -> Duration {
        if self.current().is_empty() {
            self.min_refetch_interval.min(Duration::from_secs(5))
        } else {
            self.min_refetch_interval
        }
    }
}

impl KeyStore for JwksKeyStore {
    fn key<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
        Box::pin(async move {
            if let Some(key) = self.lookup(kid) {
                return Ok(Some(key));
            }
            let mut last_attempt = self.last_attempt.lock().await;
            // Another task may have fetched while this one waited for the lock.
            if let Some(key) = self.lookup(kid) {
                return Ok(Some(key));
            }
            let interval = self.effective_interval();
            if last_attempt.is_some_and(|at| at.elapsed() < interval) {
                return if self.current().is_empty() {
                    Err(FetchError::NoUsableKeys)
                } else {
                    Ok(None)
                };
            }
            *last_attempt = Some(Instant::now());
            let fetched = self.fetch_and_install().await;
            drop(last_attempt);
            match fetched {
                Ok(()) => Ok(self.lookup(kid)),
                Err(err) => {
                    log::warn!("tessera-guard: JWKS fetch from {} failed: {err}", self.url);
                    if self.current().is_empty() {
                        Err(err)
                    } else {
                        Ok(None)
                    }
                }
            }
        })
    }

    fn refresh(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async move {
            // Serialised with unknown-kid fetches, but does not count against their budget:
            // a scheduled refresh must not delay picking up a freshly rotated key.
            let _fetching = self.last_attempt.lock().await;
            self.fetch_and_install().await
        })
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}
