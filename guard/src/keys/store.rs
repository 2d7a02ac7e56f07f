//! The [`KeyStore`] trait, and [`StaticKeyStore`]: a fixed set of keys.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::parse_jwks;
use super::PublicKey;
use crate::error::{ConfigError, FetchError};

/// A boxed future, as returned by [`KeyStore`] methods (keeps the trait object-safe).
///
/// ```
/// let future: tessera_guard::BoxFuture<'static, u8> = Box::pin(async { 7 });
/// # let _ = future;
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
/// // Symmetric keys are skipped; a set with no usable key is an error.
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
                .map(|k| (k.kid().to_owned(), Arc::new(k)))
                .collect(),
        }
    }

    /// A store from a JWK Set document (the issuer's `/.well-known/jwks.json`).
    ///
    /// ```
    /// # let pem = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// # let key = tessera_guard::PublicKey::from_rsa_pem(&pem).unwrap();
    /// # let (n, e) = key.rsa_components().unwrap();
    /// let jwks = format!(r#"{{"keys":[
    ///     {{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"{n}","e":"{e}"}},
    ///     {{"kty":"OKP","crv":"Ed25519","kid":"k2","use":"sig","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}
    /// ]}}"#);
    /// let store = tessera_guard::StaticKeyStore::from_jwks_json(&jwks).unwrap();
    /// assert_eq!(store.len(), 2);
    /// ```
    pub fn from_jwks_json(json: &str) -> Result<Self, ConfigError> {
        let keys = parse_jwks(json.as_bytes()).map_err(ConfigError::Key)?;
        if keys.is_empty() {
            return Err(ConfigError::Key(
                "the JWK set holds no usable signing key".into(),
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

    /// A store from public keys in PEM of any supported kind (RSA, EC P-256, Ed25519; see
    /// [`PublicKey::from_pem`]); each `kid` is the key's RFC 7638 thumbprint.
    ///
    /// ```
    /// let rsa = std::fs::read("src/test_keys/test_key_a_public.pem").unwrap();
    /// let ec = std::fs::read("src/test_keys/test_key_ec_public.pem").unwrap();
    /// let ed = std::fs::read("src/test_keys/test_key_ed25519_public.pem").unwrap();
    /// let store = tessera_guard::StaticKeyStore::from_pems([&rsa[..], &ec[..], &ed[..]]).unwrap();
    /// assert_eq!(store.len(), 3);
    /// ```
    pub fn from_pems<'a>(pems: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, ConfigError> {
        let keys = pems
            .into_iter()
            .map(PublicKey::from_pem)
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
