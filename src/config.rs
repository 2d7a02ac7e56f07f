//! Settings: the layered configuration documented in docs/configuration.md, validated once at start-up.
//!
//! Every problem is reported as one [`ConfigError`] naming the key, so `main` can print one line
//! and exit 2.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The committed defaults, compiled in so every key has a value wherever the binary runs.
const DEFAULTS: &str = include_str!("../config/default.toml");

/// A configuration problem: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {key}: {problem}")]
pub struct ConfigError {
    /// The dotted key, e.g. `database.url`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[database]`
    pub database: DatabaseSettings,
    /// `[tokens]`
    pub tokens: TokenSettings,
    /// `[keys]`
    pub keys: KeySettings,
    /// `[roles]`
    pub roles: RoleSettings,
    /// `[secrets]`
    pub secrets: SecretSettings,
    /// `[accounts]`
    pub accounts: AccountSettings,
    /// `[revocation]`
    pub revocation: RevocationSettings,
    /// `[rate_limits]`
    pub rate_limits: RateLimitSettings,
    /// `[plans.NAME]`
    #[serde(default)]
    pub plans: BTreeMap<String, PlanSettings>,
    /// `[metrics]`
    pub metrics: MetricsSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[federation]`
    pub federation: FederationSettings,
}

/// `[federation]`: fetching the keys of the external issuers that federated credentials trust.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// At most one refetch of an issuer's keys per this many seconds when a token names an
    /// unknown `kid`.
    pub jwks_refetch_seconds: u64,
    /// Connect and response time limit of each discovery or JWKS fetch.
    pub fetch_timeout_seconds: u64,
}

/// `[metrics]`: `GET /metrics` on the admin listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether a scrape needs an admin token (any, scoped or not).
    pub require_token: bool,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// How each line is written.
    pub format: LogFormat,
}

/// `log.format`: how log lines are written to standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `[<time> <LEVEL> <target>] <message>`
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Public listener address.
    pub public_addr: SocketAddr,
    /// Admin listener address.
    pub admin_addr: SocketAddr,
    /// Issuer URL, without a trailing slash once validated.
    pub issuer: String,
    /// Worker threads per listener (0 = cores).
    pub workers: usize,
    /// Graceful shutdown budget.
    pub shutdown_timeout_seconds: u64,
    /// Header naming the client address, honoured on connections from `trusted_proxies` only.
    pub client_ip_header: String,
    /// Addresses or CIDR blocks of reverse proxies whose `client_ip_header` is believed.
    pub trusted_proxies: Vec<String>,
    /// `trusted_proxies`, parsed by [`Settings::validated`].
    #[serde(skip)]
    pub trusted_proxy_nets: Vec<ipnet::IpNet>,
    /// Time a client has to send a whole request head.
    pub client_request_timeout_ms: u64,
    /// Idle time after which a keep-alive connection is closed.
    pub keep_alive_seconds: u64,
    /// Open connections per worker; further ones wait in the accept backlog.
    pub max_connections: usize,
    /// Longest request target (path and query) accepted; longer gets 414.
    pub max_uri_bytes: usize,
    /// Most header bytes (names and values) accepted; more gets 431.
    pub max_header_bytes: usize,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…` (the latter in a build with the `postgres` feature), parsed
    /// once.
    pub url: DatabaseUrl,
    /// Pool size.
    pub pool_max_size: u32,
    /// Pool checkout timeout.
    pub pool_timeout_seconds: u64,
    /// SQLite busy timeout.
    pub sqlite_busy_timeout_ms: u64,
    /// How often coalesced last-used times are written.
    pub last_used_flush_seconds: u64,
}

/// `[tokens]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Access-token lifetime.
    pub lifetime_seconds: i64,
    /// Allowed audiences; the first is the default.
    pub audiences: Vec<String>,
    /// Token reuse window (0 = off).
    pub reuse_seconds: i64,
}

/// `[keys]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// Key directory.
    pub dir: PathBuf,
    /// Algorithm of the keys `serve` and `keys generate|rotate` create (RS256, ES256, EdDSA).
    /// Keys already in the directory keep theirs.
    pub algorithm: crate::crypto::keys::KeyAlgorithm,
    /// Reload period.
    pub reload_seconds: u64,
    /// Extra time a retired key stays published.
    pub leeway_seconds: i64,
}

/// `[roles]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSettings {
    /// Workspace roles.
    pub workspace: Vec<String>,
}

/// `[secrets]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// argon2 m (KiB).
    pub argon2_memory_kib: u32,
    /// argon2 t.
    pub argon2_iterations: u32,
    /// argon2 p.
    pub argon2_parallelism: u32,
    /// Concurrent hash computations (0 = cores).
    pub hash_workers: usize,
    /// Verified secrets remembered to skip argon2 (0 = off).
    pub verified_cache_size: usize,
}

/// `[accounts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Plan of accounts created without one.
    pub default_plan: String,
}

/// `[revocation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSettings {
    /// Individually revoked unexpired tokens one credential may hold in the feed; the
    /// revocation that would exceed it revokes all of the credential's tokens instead.
    pub max_tokens_per_credential: i64,
    /// How long a built feed is served before it is built again (and its `max-age`).
    pub feed_cache_seconds: u64,
}

/// `[rate_limits]`: the failed-authentication throttle. 0 turns a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Failed authentications per client id in a window before 429.
    pub failed_auth_per_client: u32,
    /// Failed authentications per source address in a window before 429.
    pub failed_auth_per_ip: u32,
    /// The window.
    pub failed_auth_window_seconds: u64,
}

/// `[plans.NAME]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// Active credentials an account on this plan may have.
    pub max_active_credentials: u64,
    /// Token requests one credential may make per minute; absent: no limit.
    #[serde(default)]
    pub token_requests_per_minute: Option<u32>,
    /// Tokens an account may be issued per UTC month; absent: no quota.
    #[serde(default)]
    pub monthly_token_quota: Option<u64>,
}

/// The database backend a URL names. Its `Display` and `Debug` hide every password form a
/// connection string can carry (user-info, `?password=`, a `password=` key), so it can be logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DatabaseUrl {
    /// A SQLite file path.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (the `postgres` cargo feature, a default).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        Self::parse(&url).map_err(|e| e.problem)
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = ConfigError;

    fn from_str(url: &str) -> Result<Self, ConfigError> {
        Self::parse(url)
    }
}

/// `url` with every password replaced by `***`.
#[cfg(feature = "postgres")]
fn redacted(url: &str) -> String {
    let mut out = url.to_owned();
    // user:password@host
    if let (Some(scheme_end), Some(at)) = (out.find("://"), out.rfind('@')) {
        let start = scheme_end + 3;
        if at > start {
            if let Some(colon) = out[start..at].find(':') {
                out.replace_range(start + colon + 1..at, "***");
            }
        }
    }
    // ?password=… / &password=… / password=… (key/value form)
    let mut from = 0;
    while let Some(found) = out[from..].to_ascii_lowercase().find("password=") {
        let value_start = from + found + "password=".len();
        let value_end = out[value_start..]
            .find(['&', ' ', ';'])
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
        from = value_start + 3;
    }
    out
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl DatabaseUrl {
    /// Picks the backend by scheme. A PostgreSQL URL needs a build with the `postgres` cargo
    /// feature (a default); a build without it refuses one, saying how to build with it.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::new(
                    "database.url",
                    "sqlite:// needs a file path",
                ));
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::postgres(url)
        } else {
            let scheme = url.split("://").next().unwrap_or(url);
            Err(ConfigError::new(
                "database.url",
                format!(
                    "unsupported backend {:?}: use sqlite://PATH or postgres://…",
                    crate::domain::credential::truncate(scheme, 32)
                ),
            ))
        }
    }

    /// A PostgreSQL URL, in a build with that backend.
    #[cfg(feature = "postgres")]
    fn postgres(url: &str) -> Result<Self, ConfigError> {
        Ok(Self::Postgres(url.to_owned()))
    }

    /// A PostgreSQL URL, in a build without that backend: refused.
    #[cfg(not(feature = "postgres"))]
    fn postgres(_url: &str) -> Result<Self, ConfigError> {
        Err(postgres_not_built_in())
    }
}

/// Why a build without the `postgres` cargo feature refuses a PostgreSQL URL, and how to get a
/// binary that takes one. Compiled for the tests of every build, so the default build checks
/// the wording too.
#[cfg(any(test, not(feature = "postgres")))]
fn postgres_not_built_in() -> ConfigError {
    ConfigError::new(
        "database.url",
        "this tessera was built without PostgreSQL support (the `postgres` cargo feature): \
         build it with default features, `cargo build --release` (which needs the PostgreSQL \
         client library: `apt-get install libpq-dev`), or use sqlite://PATH",
    )
}

impl Settings {
    /// Loads the layers from `dir` and the environment, then validates.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let env = Environment::with_prefix("TESSERA")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("tokens.audiences")
            .with_list_parse_key("roles.workspace")
            .with_list_parse_key("server.trusted_proxies");
        let built = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false))
            .add_source(File::from(dir.join("local.toml")).required(false))
            .add_source(env)
            .build()
            .map_err(layer_error)?;
        let settings: Settings = built.try_deserialize().map_err(layer_error)?;
        settings.validated()
    }

    /// Settings from the compiled-in defaults only, for tests and tools.
    pub fn defaults() -> Result<Self, ConfigError> {
        let built = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::new("config", e.to_string()))?;
        let settings: Settings = built
            .try_deserialize()
            .map_err(|e| ConfigError::new("config", e.to_string()))?;
        settings.validated()
    }

    /// Checks every value; normalises the issuer.
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        let (public, admin) = (self.server.public_addr, self.server.admin_addr);
        if public == admin && public.port() != 0 {
            return Err(ConfigError::new(
                "server.admin_addr",
                format!("same address as server.public_addr ({public})"),
            ));
        }
        let issuer = self.server.issuer.trim_end_matches('/').to_owned();
        // Empty: `serve` takes the public listener's bound address (see `startup`).
        if !issuer.is_empty()
            && (!(issuer.starts_with("https://") || issuer.starts_with("http://"))
                || issuer.len() <= "https://".len())
        {
            return Err(ConfigError::new(
                "server.issuer",
                "must be an http:// or https:// URL",
            ));
        }
        self.server.issuer = issuer;
        self.server.trusted_proxy_nets = self
            .server
            .trusted_proxies
            .iter()
            .map(|p| parse_net(p))
            .collect::<Result<_, _>>()?;
        if !self.server.trusted_proxies.is_empty()
            && actix_web::http::header::HeaderName::from_bytes(
                self.server.client_ip_header.as_bytes(),
            )
            .is_err()
        {
            return Err(ConfigError::new(
                "server.client_ip_header",
                "must be an HTTP header name",
            ));
        }
        for (key, value) in [
            (
                "database.pool_max_size",
                u64::from(self.database.pool_max_size),
            ),
            (
                "database.pool_timeout_seconds",
                self.database.pool_timeout_seconds,
            ),
            ("keys.reload_seconds", self.keys.reload_seconds),
            (
                "server.client_request_timeout_ms",
                self.server.client_request_timeout_ms,
            ),
            ("server.keep_alive_seconds", self.server.keep_alive_seconds),
            ("server.max_connections", self.server.max_connections as u64),
            (
                "rate_limits.failed_auth_window_seconds",
                self.rate_limits.failed_auth_window_seconds,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if !(1..=1_000_000).contains(&self.revocation.max_tokens_per_credential) {
            return Err(ConfigError::new(
                "revocation.max_tokens_per_credential",
                "must be between 1 and 1000000",
            ));
        }
        if self.revocation.feed_cache_seconds > 300 {
            return Err(ConfigError::new(
                "revocation.feed_cache_seconds",
                "must be at most 300 (validators would learn of revocations too late)",
            ));
        }
        if !(256..=65_536).contains(&self.server.max_uri_bytes) {
            return Err(ConfigError::new(
                "server.max_uri_bytes",
                "must be between 256 and 65536",
            ));
        }
        if !(1024..=65_536).contains(&self.server.max_header_bytes) {
            return Err(ConfigError::new(
                "server.max_header_bytes",
                "must be between 1024 and 65536",
            ));
        }
        if !(1..=3600).contains(&self.federation.jwks_refetch_seconds) {
            return Err(ConfigError::new(
                "federation.jwks_refetch_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=60).contains(&self.federation.fetch_timeout_seconds) {
            return Err(ConfigError::new(
                "federation.fetch_timeout_seconds",
                "must be between 1 and 60",
            ));
        }
        for (name, plan) in &self.plans {
            if plan.token_requests_per_minute == Some(0) {
                return Err(ConfigError::new(
                    format!("plans.{name}.token_requests_per_minute"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
        }
        if !(60..=31_536_000).contains(&self.tokens.lifetime_seconds) {
            return Err(ConfigError::new(
                "tokens.lifetime_seconds",
                "must be between 60 and 31536000",
            ));
        }
        if self.tokens.audiences.is_empty() || self.tokens.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "tokens.audiences",
                "must list at least one non-empty audience",
            ));
        }
        if !(0..=self.tokens.lifetime_seconds).contains(&self.tokens.reuse_seconds) {
            return Err(ConfigError::new(
                "tokens.reuse_seconds",
                "must be between 0 and tokens.lifetime_seconds",
            ));
        }
        if self.keys.leeway_seconds < 0 {
            return Err(ConfigError::new(
                "keys.leeway_seconds",
                "must not be negative",
            ));
        }
        if self.roles.workspace.is_empty() {
            return Err(ConfigError::new(
                "roles.workspace",
                "must list at least one role",
            ));
        }
        for role in &self.roles.workspace {
            if role.is_empty()
                || role == crate::domain::credential::ACCOUNT_ROLE
                || !role
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ConfigError::new(
                    "roles.workspace",
                    format!(
                        "invalid role {role:?}: use letters, digits, _ and -, not account_admin"
                    ),
                ));
            }
        }
        crate::crypto::secret_hash::params(&self.secrets)
            .map_err(|e| ConfigError::new("secrets", e))?;
        if !self.plans.contains_key(&self.accounts.default_plan) {
            return Err(ConfigError::new(
                "accounts.default_plan",
                format!(
                    "plan {:?} is not defined under [plans]",
                    self.accounts.default_plan
                ),
            ));
        }
        Ok(self)
    }

    /// `{issuer}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.server.issuer)
    }

    /// Worker threads per listener.
    pub fn workers(&self) -> usize {
        if self.server.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.server.workers
        }
    }
}

/// One [`ConfigError`] naming the key (or the file that does not parse) for an error of the
/// `config` crate. Why: its own text names the key only mid-sentence (`…for key \`x\``, so the
/// line read "configuration error: config: …"), and a TOML syntax error spans several lines with
/// a source snippet, while a bad setting must be reported as one line.
fn layer_error(e: config::ConfigError) -> ConfigError {
    use config::ConfigError as E;
    let from = |origin: Option<String>| origin.map(|o| format!(" (in {o})")).unwrap_or_default();
    match e {
        E::Type {
            origin,
            unexpected,
            expected,
            key: Some(key),
        } => ConfigError::new(
            key,
            format!("got {unexpected}, expected {expected}{}", from(origin)),
        ),
        E::At {
            error,
            origin,
            key: Some(key),
        } => ConfigError::new(
            key,
            format!("{}{}", one_line(&error.to_string()), from(origin)),
        ),
        E::NotFound(key) => ConfigError::new(key, "missing"),
        E::FileParse {
            uri: Some(uri),
            cause,
        } => ConfigError::new(uri, one_line(&cause.to_string())),
        other => ConfigError::new("config", one_line(&other.to_string())),
    }
}

/// The lines of a multi-line message joined with `: `, minus the source snippet a TOML parse
/// error draws (lines like `  |` and `3 | text`).
fn one_line(text: &str) -> String {
    text.lines()
        .filter(|line| {
            let rest = line
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit());
            !rest.trim_start().starts_with('|')
        })
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// A trusted proxy: an address (one host) or a CIDR block.
fn parse_net(value: &str) -> Result<ipnet::IpNet, ConfigError> {
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            ConfigError::new(
                "server.trusted_proxies",
                format!("{value:?} is not an IP address or CIDR block"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_defaults_are_valid() {
        let s = Settings::defaults().unwrap();
        assert_eq!(
            s.server.public_addr,
            SocketAddr::from(([127, 0, 0, 1], 8080))
        );
        assert_eq!(s.tokens.lifetime_seconds, 86_400);
        assert_eq!(s.token_url(), "http://127.0.0.1:8080/oauth/token");
        assert_eq!(s.roles.workspace.len(), 3);
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite("data/tessera.db".into())
        );
    }

    #[test]
    fn an_unknown_key_in_a_config_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("local.toml"),
            "[server]\npublic_adr = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let err = Settings::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("public_adr"), "{err}");
        std::fs::write(
            dir.path().join("local.toml"),
            "[tokenz]\nlifetime_seconds = 60\n",
        )
        .unwrap();
        let err = Settings::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("tokenz"), "{err}");
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn database_urls_never_show_a_password() {
        for (url, shown) in [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            (
                "postgres://h/db?user=u&password=secret&sslmode=require",
                "postgres://h/db?user=u&password=***&sslmode=require",
            ),
            (
                "postgresql://u:p%40ss@h/db?PASSWORD=x",
                "postgresql://u:***@h/db?PASSWORD=***",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("sqlite://data/t.db", "sqlite://data/t.db"),
        ] {
            let parsed = DatabaseUrl::parse(url).unwrap();
            assert_eq!(parsed.to_string(), shown);
            assert!(!format!("{parsed:?}").contains("secret"));
        }
    }

    #[test]
    fn unknown_backends_are_named() {
        let err = DatabaseUrl::parse("mysql://x").unwrap_err();
        assert_eq!(err.key, "database.url");
        assert!(err.problem.contains("mysql"));
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn postgres_urls_are_taken_with_the_postgres_feature() {
        for url in ["postgres://u@h/db", "postgresql://u@h/db"] {
            assert!(matches!(
                DatabaseUrl::parse(url),
                Ok(DatabaseUrl::Postgres(_))
            ));
        }
    }

    #[test]
    #[cfg(not(feature = "postgres"))]
    fn postgres_urls_are_refused_without_the_postgres_feature() {
        for url in ["postgres://u@h/db", "postgresql://u@h/db"] {
            assert_eq!(DatabaseUrl::parse(url), Err(postgres_not_built_in()));
        }
    }

    /// The message of a build without PostgreSQL (checked in every build): it names the missing
    /// feature, how to build with it, and the backend this build has.
    #[test]
    fn the_refusal_of_a_build_without_postgres_says_how_to_get_it() {
        let err = postgres_not_built_in();
        assert_eq!(err.key, "database.url");
        for needle in [
            "`postgres` cargo feature",
            "cargo build --release",
            "libpq-dev",
            "sqlite://",
        ] {
            assert!(err.problem.contains(needle), "{err}");
        }
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }

    #[test]
    fn duplicate_listeners_are_refused() {
        let mut s = Settings::defaults().unwrap();
        s.server.admin_addr = s.server.public_addr;
        assert_eq!(s.validated().unwrap_err().key, "server.admin_addr");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let mut s = Settings::defaults().unwrap();
        s.server.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into(), "192.0.2.7".into()];
        let s = s.validated().unwrap();
        let nets: Vec<String> = s
            .server
            .trusted_proxy_nets
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "::1/128", "192.0.2.7/32"]);
        let mut s = Settings::defaults().unwrap();
        s.server.trusted_proxies = vec!["10.0.0.0/33".into()];
        assert_eq!(s.validated().unwrap_err().key, "server.trusted_proxies");
        let mut s = Settings::defaults().unwrap();
        s.server.trusted_proxies = vec!["10.0.0.1".into()];
        s.server.client_ip_header = "bad header".into();
        assert_eq!(s.validated().unwrap_err().key, "server.client_ip_header");
    }

    #[test]
    fn limits_must_be_usable() {
        let mut s = Settings::defaults().unwrap();
        s.server.max_uri_bytes = 10;
        assert_eq!(s.validated().unwrap_err().key, "server.max_uri_bytes");
        let mut s = Settings::defaults().unwrap();
        s.rate_limits.failed_auth_window_seconds = 0;
        assert_eq!(
            s.validated().unwrap_err().key,
            "rate_limits.failed_auth_window_seconds"
        );
        let mut s = Settings::defaults().unwrap();
        s.plans
            .get_mut("standard")
            .unwrap()
            .token_requests_per_minute = Some(0);
        assert_eq!(
            s.validated().unwrap_err().key,
            "plans.standard.token_requests_per_minute"
        );
    }

    #[test]
    fn the_key_algorithm_defaults_to_rs256_and_an_unknown_one_names_the_key() {
        use crate::crypto::keys::KeyAlgorithm;
        assert_eq!(
            Settings::defaults().unwrap().keys.algorithm,
            KeyAlgorithm::Rs256
        );
        let load = |value: &str| {
            let dir = tempfile::tempdir().unwrap();
            let toml = format!("[keys]\nalgorithm = {value:?}\n");
            std::fs::write(dir.path().join("local.toml"), toml).unwrap();
            Settings::load(dir.path())
        };
        assert_eq!(load("ES256").unwrap().keys.algorithm, KeyAlgorithm::Es256);
        assert_eq!(load("eddsa").unwrap().keys.algorithm, KeyAlgorithm::EdDsa);
        for bad in ["HS256", "none", "RS512", ""] {
            let err = load(bad).unwrap_err();
            assert_eq!(err.key, "keys.algorithm", "{err}");
            assert!(err.problem.contains("RS256, ES256 or EdDSA"), "{err}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }

    #[test]
    fn federation_fetches_are_bounded() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.federation.jwks_refetch_seconds, 30);
        assert_eq!(s.federation.fetch_timeout_seconds, 5);
        for (refetch, timeout, key) in [
            (0, 5, "federation.jwks_refetch_seconds"),
            (3601, 5, "federation.jwks_refetch_seconds"),
            (30, 0, "federation.fetch_timeout_seconds"),
            (30, 61, "federation.fetch_timeout_seconds"),
        ] {
            let mut s = Settings::defaults().unwrap();
            s.federation.jwks_refetch_seconds = refetch;
            s.federation.fetch_timeout_seconds = timeout;
            assert_eq!(s.validated().unwrap_err().key, key);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("local.toml"),
            "[federation]\njwks_refetch_secs = 10\n",
        )
        .unwrap();
        let err = Settings::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("jwks_refetch_secs"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut s = Settings::defaults().unwrap();
        s.server.issuer = "ftp://x".into();
        assert_eq!(s.clone().validated().unwrap_err().key, "server.issuer");
        let mut s = Settings::defaults().unwrap();
        s.accounts.default_plan = "nope".into();
        assert_eq!(s.validated().unwrap_err().key, "accounts.default_plan");
    }
}
