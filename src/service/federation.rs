//! The federation engine: verifies an external identity provider's token (a CI system's OIDC
//! token, a Kubernetes service-account token, …) against a federated credential's trust rules.
//!
//! [`Federation::verify`] runs, cheapest and least trusting first:
//! 1. shape: at most [`MAX_TOKEN_BYTES`], a compact JWS whose header and payload are JSON
//!    objects; no `crit` header; a `kid`;
//! 2. `alg`: RS256/384/512, PS256/384/512, ES256 or EdDSA only, never `none` or HMAC
//!    ([`tessera_guard::asymmetric_algorithm`]);
//! 3. the payload's `iss` must be some rule's issuer, else the token is refused before anything
//!    is fetched: a URL never comes from the token, only from the rules;
//! 4. `exp` present and not past, `nbf` and `iat` not in the future (each with the leeway);
//! 5. [`evaluate`] on the claims; then, for the matching rules in order, the rule's keys — its
//!    `jwks_uri`, or OpenID Connect discovery of its issuer — must hold the header's `kid` and
//!    that key must verify the signature. The first rule that matches and whose keys verify the
//!    token wins. A token that matches no rule therefore causes no fetch either.
//!
//! Keys: one [`JwksKeyStore`] per key source (a `jwks_uri`, or an issuer to discover), shared by
//! every credential and request, created on first use and kept (at most
//! [`FederationConfig::max_sources`], least recently used dropped first). The guard's store
//! caches the keys, refetches them on an unknown `kid` at most once per
//! `federation.jwks_refetch_seconds`, and keeps the last good keys when a fetch fails. A failed
//! discovery is retried at most once per that interval too (at most every 5 seconds while
//! nothing was ever found). Every fetch is https (http on loopback only), without redirects,
//! bounded in time (`federation.fetch_timeout_seconds`) and size
//! ([`tessera_guard::MAX_JWKS_BYTES`], [`tessera_guard::MAX_DISCOVERY_BYTES`]).
//!
//! The token itself is never logged, and no error or reason quotes it; reasons do quote its
//! claims, which are not secret.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tessera_guard::{Algorithm, JwksKeyStore, KeyStore};

use crate::config::FederationSettings;
use crate::domain::trust::{evaluate, Evaluation, TrustRule};

/// Largest external token accepted, in bytes (real ones are one or two KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Default of [`FederationConfig::max_sources`].
pub const DEFAULT_MAX_SOURCES: usize = 1000;

/// A failed discovery, while no store was ever made, is retried at most this often (or every
/// refetch interval, if shorter): the same bound the guard's store applies before its first
/// successful fetch.
const FIRST_DISCOVERY_RETRY: Duration = Duration::from_secs(5);

/// Why an external token was refused. The token endpoint answers every one of them with the
/// same `invalid_client`; the dry run shows the sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// Not a compact JWS of JSON objects, too large, with `crit`, no `kid`, no `iss`, no `exp`,
    /// or a registered claim of the wrong type.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is `none`, HMAC, unknown or unsupported.
    #[error("the token's signing algorithm is not accepted (RS256, RS384, RS512, PS256, PS384, PS512, ES256 or EdDSA)")]
    AlgorithmNotAllowed,
    /// No rule has the token's `iss` as its issuer (nothing was fetched).
    #[error("no trust rule has the token's issuer {0}")]
    NoRuleForIssuer(String),
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The keys could not be fetched (or discovered) and none are cached.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
    /// The issuer's keys (after the refetch allowed) have no key with the token's `kid`.
    #[error("the token's key id is not among the issuer's keys")]
    UnknownKeyId,
    /// The key with the token's `kid` does not verify the signature (or cannot have its `alg`).
    #[error("the token's signature does not verify with the issuer's key")]
    BadSignature,
    /// The token is well formed and current, but matches no rule: the evaluation says why.
    #[error("no trust rule matches the token")]
    NoRuleMatched(Evaluation),
}

/// A token that passed: which rule it matched, its verified claims, and what the caller needs to
/// allow its `jti` only once.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The 0-based index of the rule that matched (the first that did).
    pub rule: usize,
    /// The token's claims, verified.
    pub claims: Map<String, Value>,
    /// Every rule's result ([`Evaluation::matched`] is [`rule`](Self::rule)).
    pub evaluation: Evaluation,
    /// The token's `jti`, if it has one: to be accepted once per credential until `exp`.
    pub jti: Option<String>,
    /// The token's `exp`.
    pub exp: DateTime<Utc>,
}

/// The outcome of [`Federation::dry_run`]: the evaluation as the dry-run endpoint shows it, and
/// why the token was refused, if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Which rule matched, or for each rule why not. Refusals of the token as a whole (expired,
    /// bad signature, …) appear among the reasons of the rules they concern; the claims are
    /// evaluated even when the signature does not verify, to show what else would fail.
    pub evaluation: Evaluation,
    /// Why [`Federation::verify`] would refuse the token; `None` when it would accept it.
    pub error: Option<FederationError>,
}

/// Settings of a [`Federation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationConfig {
    /// At most one refetch of a key source per this interval on an unknown `kid`.
    pub jwks_refetch_interval: Duration,
    /// Connect and response time limit of each fetch.
    pub fetch_timeout: Duration,
    /// Most key sources kept at once.
    pub max_sources: usize,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            jwks_refetch_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

impl From<&FederationSettings> for FederationConfig {
    fn from(settings: &FederationSettings) -> Self {
        Self {
            jwks_refetch_interval: Duration::from_secs(settings.jwks_refetch_seconds),
            fetch_timeout: Duration::from_secs(settings.fetch_timeout_seconds),
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

/// Where a rule's keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SourceKey {
    /// The rule's `jwks_uri`.
    Jwks(String),
    /// OpenID Connect discovery of the rule's issuer.
    Discovery(String),
}

impl SourceKey {
    fn of(rule: &TrustRule) -> Self {
        match rule.jwks_uri() {
            Some(uri) => Self::Jwks(uri.to_owned()),
            None => Self::Discovery(rule.issuer().to_owned()),
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Jwks(uri) => write!(f, "the keys at {uri}"),
            Self::Discovery(issuer) => write!(f, "the keys discovered from {issuer}"),
        }
    }
}

/// One key source: its store once there is one, and the last failed discovery.
struct Source {
    key: SourceKey,
    store: RwLock<Option<Arc<JwksKeyStore>>>,
    /// The last failed attempt to make the store, and why; held across an attempt so that
    /// concurrent requests wait for it instead of starting their own.
    failed: tokio::sync::Mutex<Option<(Instant, String)>>,
    /// Milliseconds since the federation's epoch when last used (for eviction).
    last_used: AtomicU64,
}

/// What one key source says about a token's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SignatureCheck {
    Verified,
    Unavailable(String),
    UnknownKid,
    BadSignature,
}

impl SignatureCheck {
    fn reason(&self, source: &SourceKey, kid: &str) -> String {
        let kid = Value::String(kid.chars().take(100).collect());
        match self {
            Self::Verified => String::new(),
            Self::Unavailable(why) => format!("{source} are unavailable: {why}"),
            Self::UnknownKid => format!("{source} include no key with the token's kid {kid}"),
            Self::BadSignature => {
                format!("the token's signature does not verify with the key {kid} among {source}")
            }
        }
    }

    fn error(&self) -> FederationError {
        match self {
            Self::Verified | Self::BadSignature => FederationError::BadSignature,
            Self::Unavailable(why) => FederationError::KeysUnavailable(why.clone()),
            Self::UnknownKid => FederationError::UnknownKeyId,
        }
    }
}

/// The verification engine, shared (`Arc`) by every request; see the module documentation.
pub struct Federation {
    config: FederationConfig,
    sources: Mutex<HashMap<SourceKey, Arc<Source>>>,
    epoch: Instant,
}

impl fmt::Debug for Federation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Federation")
            .field("config", &self.config)
            .field("sources", &self.source_count())
            .finish_non_exhaustive()
    }
}

/// A token taken apart, not yet verified.
struct Parsed {
    algorithm: Algorithm,
    kid: String,
    claims: Map<String, Value>,
    iss: String,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

impl Federation {
    /// An engine with `config`; nothing is fetched until a token needs it.
    pub fn new(config: FederationConfig) -> Self {
        Self {
            config,
            sources: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// An engine with the `[federation]` settings.
    pub fn from_settings(settings: &FederationSettings) -> Self {
        Self::new(FederationConfig::from(settings))
    }

    /// Its settings.
    pub fn config(&self) -> &FederationConfig {
        &self.config
    }

    /// How many key sources are held (for tests and metrics).
    pub fn source_count(&self) -> usize {
        self.lock_sources().len()
    }

    /// Verifies `token` against `rules` (a credential's, in order) at `now`, allowing `leeway`
    /// of clock difference on `exp`, `nbf` and `iat`; see the module documentation for the
    /// order of the checks. On success the caller must still make sure [`Verified::jti`], if
    /// any, has not been used with this credential before.
    pub async fn verify(
        &self,
        token: &str,
        rules: &[TrustRule],
        now: DateTime<Utc>,
        leeway: chrono::Duration,
    ) -> Result<Verified, FederationError> {
        let parsed = parse(token)?;
        check_issuer(&parsed, rules)?;
        check_times(&parsed, now, leeway)?;
        let mut evaluation = evaluate(rules, &parsed.claims);
        let rule = self.select(token, &parsed, rules, &mut evaluation).await?;
        Ok(Verified {
            rule,
            evaluation,
            jti: parsed.jti,
            // In range: `parse` checked it.
            exp: DateTime::from_timestamp(parsed.exp, 0).unwrap_or_default(),
            claims: parsed.claims,
        })
    }

    /// What [`verify`](Self::verify) would decide, with every rule's reasons even when the token
    /// is refused as a whole: a dry run for administrators. It fetches keys as `verify` does
    /// (same sources, same limits) and records nothing.
    pub async fn dry_run(
        &self,
        token: &str,
        rules: &[TrustRule],
        now: DateTime<Utc>,
        leeway: chrono::Duration,
    ) -> DryRun {
        let parsed = match parse(token) {
            Ok(parsed) => parsed,
            Err(err) => {
                // The claims may still be readable (e.g. only `alg` is refused): show what else
                // would fail.
                let reason = err.to_string();
                let evaluation = match unverified_claims(token) {
                    Some(claims) => {
                        let mut evaluation = evaluate(rules, &claims);
                        evaluation.reject_all(&reason);
                        evaluation
                    }
                    None => Evaluation::refused(rules.len(), &reason),
                };
                return DryRun {
                    evaluation,
                    error: Some(err),
                };
            }
        };
        let mut evaluation = evaluate(rules, &parsed.claims);
        if let Err(err) = check_issuer(&parsed, rules) {
            // Each rule's reasons already say that its issuer differs.
            return DryRun {
                evaluation,
                error: Some(err),
            };
        }
        if let Err(err) = check_times(&parsed, now, leeway) {
            evaluation.reject_all(&err.to_string());
            return DryRun {
                evaluation,
                error: Some(err),
            };
        }
        let error = self
            .select(token, &parsed, rules, &mut evaluation)
            .await
            .err();
        DryRun { evaluation, error }
    }

    /// Step 5: the first rule whose claims match and whose keys verify the signature. Marks
    /// the rules whose keys failed in `evaluation`.
    async fn select(
        &self,
        token: &str,
        parsed: &Parsed,
        rules: &[TrustRule],
        evaluation: &mut Evaluation,
    ) -> Result<usize, FederationError> {
        let mut checked: Vec<(SourceKey, SignatureCheck)> = Vec::new();
        let mut first_failure: Option<SignatureCheck> = None;
        while let Some(index) = evaluation.matched {
            let Some(rule) = rules.get(index) else {
                break;
            };
            let key = SourceKey::of(rule);
            let check = match checked.iter().find(|(k, _)| *k == key) {
                Some((_, check)) => check.clone(),
                None => {
                    let check = self.check_signature(&key, token, parsed).await;
                    checked.push((key.clone(), check.clone()));
                    check
                }
            };
            if check == SignatureCheck::Verified {
                return Ok(index);
            }
            evaluation.reject(index, check.reason(&key, &parsed.kid));
            first_failure.get_or_insert(check);
        }
        Err(match first_failure {
            Some(check) => check.error(),
            None => FederationError::NoRuleMatched(evaluation.clone()),
        })
    }

    /// Whether the key of `parsed.kid` from `key`'s source verifies `token`.
    async fn check_signature(
        &self,
        key: &SourceKey,
        token: &str,
        parsed: &Parsed,
    ) -> SignatureCheck {
        let store = match self.store(key).await {
            Ok(store) => store,
            Err(why) => return SignatureCheck::Unavailable(why),
        };
        match store.key(&parsed.kid).await {
            Ok(Some(public_key)) => {
                if tessera_guard::verify_jws(&public_key, parsed.algorithm, token) {
                    SignatureCheck::Verified
                } else {
                    SignatureCheck::BadSignature
                }
            }
            Ok(None) => SignatureCheck::UnknownKid,
            Err(err) => SignatureCheck::Unavailable(err.to_string()),
        }
    }

    /// The store of `key`'s source, made on first use (by discovery, for an issuer).
    async fn store(&self, key: &SourceKey) -> Result<Arc<JwksKeyStore>, String> {
        let source = self.source(key);
        if let Some(store) = source.ready() {
            return Ok(store);
        }
        let mut failed = source.failed.lock().await;
        if let Some(store) = source.ready() {
            return Ok(store);
        }
        let retry = self.config.jwks_refetch_interval.min(FIRST_DISCOVERY_RETRY);
        if let Some((at, why)) = &*failed {
            if at.elapsed() < retry {
                return Err(why.clone());
            }
        }
        let made = match &source.key {
            SourceKey::Jwks(uri) => match tessera_guard::check_fetch_url(uri) {
                Ok(()) => JwksKeyStore::new(
                    uri.clone(),
                    self.config.jwks_refetch_interval,
                    self.config.fetch_timeout,
                )
                .map_err(|err| err.to_string()),
                Err(err) => Err(format!("the jwks_uri {err}")),
            },
            SourceKey::Discovery(issuer) => JwksKeyStore::discover(
                issuer,
                self.config.jwks_refetch_interval,
                self.config.fetch_timeout,
            )
            .await
            .map_err(|err| err.to_string()),
        };
        match made {
            Ok(store) => {
                let store = Arc::new(store);
                *source.store.write().unwrap_or_else(PoisonError::into_inner) = Some(store.clone());
                *failed = None;
                Ok(store)
            }
            Err(why) => {
                log::warn!("federation: no keys from {}: {why}", source.key);
                *failed = Some((Instant::now(), why.clone()));
                Err(why)
            }
        }
    }

    /// The entry of `key`, created (and the least recently used one dropped, if full) on first
    /// use.
    fn source(&self, key: &SourceKey) -> Arc<Source> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut sources = self.lock_sources();
        if let Some(source) = sources.get(key) {
            source.last_used.store(now, Ordering::Relaxed);
            return source.clone();
        }
        if sources.len() >= self.config.max_sources.max(1) {
            let oldest = sources
                .iter()
                .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sources.remove(&oldest);
            }
        }
        let source = Arc::new(Source {
            key: key.clone(),
            store: RwLock::new(None),
            failed: tokio::sync::Mutex::new(None),
            last_used: AtomicU64::new(now),
        });
        sources.insert(key.clone(), source.clone());
        source
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, HashMap<SourceKey, Arc<Source>>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Source {
    fn ready(&self) -> Option<Arc<JwksKeyStore>> {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Step 3: some rule must have the token's issuer.
fn check_issuer(parsed: &Parsed, rules: &[TrustRule]) -> Result<(), FederationError> {
    if rules.iter().any(|rule| rule.issuer() == parsed.iss) {
        Ok(())
    } else {
        Err(FederationError::NoRuleForIssuer(
            Value::String(parsed.iss.chars().take(200).collect()).to_string(),
        ))
    }
}

/// Step 4: `exp`, `nbf`, `iat` against `now` with `leeway`.
fn check_times(
    parsed: &Parsed,
    now: DateTime<Utc>,
    leeway: chrono::Duration,
) -> Result<(), FederationError> {
    let now = now.timestamp();
    let leeway = leeway.num_seconds().max(0);
    if now > parsed.exp.saturating_add(leeway) {
        return Err(FederationError::Expired);
    }
    let future = |at: Option<i64>| at.is_some_and(|at| at > now.saturating_add(leeway));
    if future(parsed.nbf) || future(parsed.iat) {
        return Err(FederationError::NotYetValid);
    }
    Ok(())
}

/// Steps 1 and 2, and the registered claims read: nothing verified yet.
fn parse(token: &str) -> Result<Parsed, FederationError> {
    use FederationError::Malformed;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Malformed("it is larger than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed(
            "it is not a compact JWS (header.payload.signature)",
        ));
    };
    let header =
        decode_object(header).ok_or(Malformed("the header is not a base64url JSON object"))?;
    let claims =
        decode_object(payload).ok_or(Malformed("the payload is not a base64url JSON object"))?;
    let algorithm = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(tessera_guard::asymmetric_algorithm)
        .ok_or(FederationError::AlgorithmNotAllowed)?;
    if header.contains_key("crit") {
        return Err(Malformed("critical header parameters are not supported"));
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(Malformed("the header has no kid")),
    };
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) => iss.clone(),
        Some(_) => return Err(Malformed("iss is not a string")),
        None => return Err(Malformed("it has no iss claim")),
    };
    let exp = match claims.get("exp") {
        None => return Err(Malformed("it has no exp claim")),
        Some(value) => numeric_date(value).ok_or(Malformed("exp is not a number of seconds"))?,
    };
    let nbf = match claims.get("nbf") {
        None => None,
        Some(value) => {
            Some(numeric_date(value).ok_or(Malformed("nbf is not a number of seconds"))?)
        }
    };
    let iat = match claims.get("iat") {
        None => None,
        Some(value) => {
            Some(numeric_date(value).ok_or(Malformed("iat is not a number of seconds"))?)
        }
    };
    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= 256 => Some(jti.clone()),
        Some(_) => return Err(Malformed("jti is not a string of 1 to 256 bytes")),
    };
    Ok(Parsed {
        algorithm,
        kid,
        claims,
        iss,
        exp,
        nbf,
        iat,
        jti,
    })
}

/// The payload's claims, if the token has the shape of a JWS, whatever else is wrong with it.
fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(payload), Some(_), None) => decode_object(payload),
        _ => None,
    }
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// A JWT NumericDate (RFC 7519 §2): seconds, possibly fractional; within what a timestamp can
/// hold.
fn numeric_date(value: &Value) -> Option<i64> {
    let seconds = match value.as_i64() {
        Some(seconds) => seconds,
        None => {
            let float = value.as_f64()?;
            if !float.is_finite() || float.abs() > 1e15 {
                return None;
            }
            // In range, checked above.
            float.floor() as i64
        }
    };
    DateTime::from_timestamp(seconds, 0).map(|_| seconds)
}

#[cfg(test)]
mod tests;
