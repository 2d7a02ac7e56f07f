//! Public keys: the [`KeyStore`] trait, a JWKS-over-HTTP store and a static store.
//!
//! Security invariants:
//! - Keys come only from the configured source. The token's `jku`, `x5u`, `jwk` and `x5c`
//!   headers are never read, so a token cannot point the validator at an attacker's key.
//! - Only RSA keys of at least 2048 bits, published for signing, are kept.
//! - Each [`DecodingKey`] is built once, when the key set is loaded, never per request.
//! - A fetch triggered by an unknown `kid` happens at most once per `min_refetch_interval`, so
//!   tokens with made-up key ids cannot turn the validator into a load generator against the
//!   issuer; a failed fetch keeps the last good key set.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

use crate::error::{ConfigError, FetchError};
use crate::http;

/// A boxed future, as returned by [`KeyStore`] methods (keeps the trait object-safe).
///
/// ```
/// let future: tessera_guard::BoxFuture<'static, u8> = Box::pin(async { 7 });
/// # let _ = future;
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// Largest JWKS document read from the issuer.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A public key that can verify token signatures.
///
/// ```
/// use tessera_guard::PublicKey;
/// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
/// let key = PublicKey::from_rsa_pem(&pem).unwrap();
/// // The kid defaults to the RFC 7638 thumbprint, as the issuer computes it.
/// assert_eq!(key.kid().len(), 43);
/// ```
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    algorithm: Option<Algorithm>,
    /// (n, e), kept to notice when a kid's key material changes between fetches.
    components: (String, String),
    decoding_key: DecodingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Builds a key from base64url RSA components (`n`, `e` of a JWK).
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// # let from_pem = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// # let (n, e) = from_pem.rsa_components();
    /// let key = tessera_guard::PublicKey::from_rsa_components("kid-1", n, e, None).unwrap();
    /// assert_eq!(key.kid(), "kid-1");
    /// ```
    pub fn from_rsa_components(
        kid: impl Into<String>,
        n: &str,
        e: &str,
        algorithm: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(ConfigError::Key("a key id must not be empty".into()));
        }
        if let Some(alg) = algorithm {
            if alg.family() != AlgorithmFamily::Rsa {
                return Err(ConfigError::AlgorithmNotAllowed(format!("{alg:?}")));
            }
        }
        let modulus = URL_SAFE_NO_PAD
            .decode(n)
            .map_err(|_| ConfigError::Key(format!("key {kid}: n is not base64url")))?;
        let significant = modulus.iter().skip_while(|b| **b == 0).count();
        if significant < MIN_RSA_MODULUS_BYTES {
            return Err(ConfigError::Key(format!(
                "key {kid}: RSA modulus shorter than 2048 bits"
            )));
        }
        let decoding_key = DecodingKey::from_rsa_components(n, e)
            .map_err(|err| ConfigError::Key(format!("key {kid}: {err}")))?;
        Ok(Self {
            kid,
            algorithm,
            components: (n.to_owned(), e.to_owned()),
            decoding_key,
        })
    }

    /// Reads an RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`); its `kid`
    /// is the RFC 7638 SHA-256 thumbprint, which is what the Tessera issuer publishes.
    ///
    /// ```
    /// let pem = std::fs::read("src/test_keys/test_key_b_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// assert!(key.algorithm().is_none());
    /// ```
    pub fn from_rsa_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let decoding_key = DecodingKey::from_rsa_pem(pem)
            .map_err(|err| ConfigError::Key(format!("not an RSA public key PEM: {err}")))?;
        let jwk = Jwk::from_decoding_key(&decoding_key, None)
            .map_err(|err| ConfigError::Key(format!("not an RSA public key: {err}")))?;
        match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                Self::from_rsa_components(rsa_thumbprint(&rsa.n, &rsa.e), &rsa.n, &rsa.e, None)
            }
            _ => Err(ConfigError::Key("not an RSA public key".into())),
        }
    }

    /// The key id.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap().with_kid("k1");
    /// assert_eq!(key.kid(), "k1");
    /// ```
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Replaces the key id.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap().with_kid("k1");
    /// assert_eq!(key.kid(), "k1");
    /// ```
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The algorithm the key is published for (the JWK's `alg`), if stated. A token whose
    /// header names another algorithm is rejected even if that algorithm is configured.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// assert_eq!(key.algorithm(), None);
    /// ```
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// The base64url `(n, e)` components.
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// assert_eq!(key.rsa_components().1, "AQAB");
    /// ```
    pub fn rsa_components(&self) -> (&str, &str) {
        (&self.components.0, &self.components.1)
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding_key
    }
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key, from its base64url
/// `n` and `e`: the `kid` the Tessera issuer assigns.
///
/// ```
/// // RFC 7638 §3.1's example key.
/// let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
/// assert_eq!(tessera_guard::rsa_thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
/// ```
pub fn rsa_thumbprint(n: &str, e: &str) -> String {
    // Required members only, in lexicographic order, no whitespace (RFC 7638 §3.2, §3.3).
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// The JSON of a JWK as far as the guard cares; anything else in it is ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWK Set, keeping the usable RSA signing keys and skipping (with a log line) the rest.
/// Errors only if the document is not a JWK Set at all.
pub(crate) fn parse_jwks(json: &[u8]) -> Result<Vec<PublicKey>, String> {
    let set: RawJwkSet = serde_json::from_slice(json).map_err(|err| err.to_string())?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for value in set.keys {
        let Ok(raw) = serde_json::from_value::<RawJwk>(value) else {
            log::warn!("tessera-guard: skipping a malformed JWK");
            continue;
        };
        let kid = raw.kid.unwrap_or_default();
        if raw.kty.as_deref() != Some("RSA") {
            log::debug!("tessera-guard: skipping non-RSA JWK {kid:?}");
            continue;
        }
        if raw.use_.as_deref().is_some_and(|u| u != "sig") {
            log::debug!("tessera-guard: skipping JWK {kid:?} not meant for signatures");
            continue;
        }
        let algorithm = match raw.alg.as_deref() {
            None => None,
            Some(name) => match name.parse::<Algorithm>() {
                Ok(alg) if alg.family() == AlgorithmFamily::Rsa => Some(alg),
                _ => {
                    log::warn!("tessera-guard: skipping JWK {kid:?} with algorithm {name:?}");
                    continue;
                }
            },
        };
        let (Some(n), Some(e)) = (raw.n, raw.e) else {
            log::warn!("tessera-guard: skipping RSA JWK {kid:?} without n/e");
            continue;
        };
        match PublicKey::from_rsa_components(kid, &n, &e, algorithm) {
            Ok(key) => keys.push(key),
            Err(err) => log::warn!("tessera-guard: skipping JWK: {err}"),
        }
    }
    Ok(keys)
}

/// Where the guard gets the public keys that verify token signatures.
///
/// Implementations must be cheap on a known `kid` (it is called on every validation that misses
/// the token cache) and must never fetch keys from a location named by the token.
///
/// ```
/// use std::sync::Arc;
/// use tessera_guard::{BoxFuture, FetchError, KeyStore, PublicKey};
///
/// /// A store with exactly one key.
/// struct OneKey(Arc<PublicKey>);
///
/// impl KeyStore for OneKey {
///     fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
///         Box::pin(async move { Ok((self.0.kid() == kid).then(|| self.0.clone())) })
///     }
/// }
/// ```
pub trait KeyStore: Send + Sync + 'static {
    /// The key with this `kid`. `Ok(None)` when no such key is known (after whatever refetch
    /// the store allows); `Err` only when the store has no keys at all and could not get any.
    fn key<'a>(&'a self, kid: &'a str)
        -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>>;

    /// Reloads the keys from their source now (used by the periodic refresh). Default: nothing.
    fn refresh(&self) -> BoxFuture<'_, Result<(), FetchError>> {
        Box::pin(async { Ok(()) })
    }

    /// A counter that changes whenever a key is withdrawn or replaced. Tokens cached under an
    /// older generation are verified again. Default: constant.
    fn generation(&self) -> u64 {
        0
    }
}

/// A fixed set of keys, e.g. for tests or for a resource server given the keys out of band.
///
/// ```
/// use tessera_guard::StaticKeyStore;
/// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
/// let store = StaticKeyStore::from_rsa_pems([pem.as_slice()]).unwrap();
/// assert_eq!(store.len(), 1);
///
/// let jwks = r#"{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}"#;
/// // Non-RSA keys are skipped; a set with no usable key is an error.
/// assert!(StaticKeyStore::from_jwks_json(jwks).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticKeyStore {
    keys: HashMap<String, Arc<PublicKey>>,
}

impl StaticKeyStore {
    /// A store holding `keys` (a later key with the same `kid` replaces an earlier one).
    ///
    /// ```
    /// let store = tessera_guard::StaticKeyStore::new([]);
    /// assert!(store.is_empty());
    /// ```
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|k| (k.kid.clone(), Arc::new(k)))
                .collect(),
        }
    }

    /// A store from a JWK Set document (the issuer's `/.well-known/jwks.json`).
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// # let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// # let (n, e) = key.rsa_components();
    /// let jwks = format!(r#"{{"keys":[{{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"{n}","e":"{e}"}}]}}"#);
    /// let store = tessera_guard::StaticKeyStore::from_jwks_json(&jwks).unwrap();
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn from_jwks_json(json: &str) -> Result<Self, ConfigError> {
        let keys = parse_jwks(json.as_bytes()).map_err(ConfigError::Key)?;
        if keys.is_empty() {
            return Err(ConfigError::Key(
                "the JWK set holds no usable RSA signing key".into(),
            ));
        }
        Ok(Self::new(keys))
    }

    /// A store from RSA public keys in PEM; each `kid` is the key's RFC 7638 thumbprint.
    ///
    /// ```
    /// let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let store = tessera_guard::StaticKeyStore::from_rsa_pems([pem.as_slice()]).unwrap();
    /// assert!(!store.is_empty());
    /// ```
    pub fn from_rsa_pems<'a>(
        pems: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, ConfigError> {
        let keys = pems
            .into_iter()
            .map(PublicKey::from_rsa_pem)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(keys))
    }

    /// Number of keys.
    ///
    /// ```
    /// assert_eq!(tessera_guard::StaticKeyStore::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the store holds no key.
    ///
    /// ```
    /// assert!(tessera_guard::StaticKeyStore::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyStore for StaticKeyStore {
    fn key<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
        let found = self.keys.get(kid).cloned();
        Box::pin(async move { Ok(found) })
    }
}

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
            .map(|k| (k.kid.clone(), Arc::new(k)))
            .collect();
        let mut slot = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A withdrawn or replaced key must stop validating tokens the guard had cached.
        let withdrawn = slot.iter().any(|(kid, old)| {
            new.get(kid)
                .is_none_or(|fresh| fresh.components != old.components)
        });
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
