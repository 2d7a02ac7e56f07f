//! Building and running the server: two listeners, one state, background upkeep.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::{ConfigError, DatabaseUrl, Settings};
use crate::crypto::keys::{KeyAlgorithm, KeyError, KeyStore};
use crate::crypto::secret_hash::SecretHasher;
use crate::crypto::verified::VerifiedSecrets;
use crate::http;
use crate::service::auth_lookup::AuthLookups;
use crate::service::federation::Federation;
use crate::service::throttle::Throttle;
use crate::service::token_reuse::TokenReuse;
use crate::service::usage::UsageTracker;
use crate::state::AppState;
use crate::storage::{self, StorageError};

/// Why the server could not start. Configuration and key problems exit with code 2.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key directory is unusable.
    #[error("configuration error: keys.dir: {0}")]
    Keys(#[from] KeyError),
    /// The database could not be prepared.
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl StartupError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Keys(_) => 2,
            _ => 1,
        }
    }
}

/// A built server, listening but not yet serving.
pub struct Application {
    public_port: u16,
    admin_port: u16,
    public: Server,
    admin: Server,
    state: AppState,
}

/// How often coalesced last-used times are written.
fn flush_interval(settings: &Settings) -> Duration {
    Duration::from_secs(settings.database.last_used_flush_seconds.max(1))
}

impl Application {
    /// Prepares the database (migrations), the keys (a first one generated if none) and both
    /// listeners. Port 0 in an address picks a free port; see [`Self::public_port`]. An empty
    /// `server.issuer` becomes `http://{public address as bound}`, in the state's settings too.
    pub async fn build(mut settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        // Keys and hashing parameters first: a configuration problem (exit 2) is reported as
        // one line before any database work, and is not hidden behind a database error.
        let keys = KeyStore::open(
            &settings.keys.dir,
            settings.keys.algorithm,
            clock.now().timestamp(),
        )?;
        warn_if_not_switched(&keys, settings.keys.algorithm);
        let hasher =
            SecretHasher::new(&settings.secrets).map_err(|e| ConfigError::new("secrets", e))?;
        crate::telemetry::install();
        let pool = storage::pool(&settings.database)?;
        let migrate_pool = pool.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let mut conn = migrate_pool.get()?;
            storage::migrate(&mut conn)
        })
        .await
        .map_err(|_| StorageError::Other("migration task failed".into()))??;
        if applied > 0 {
            log::info!("applied {applied} migration(s)");
        }
        let throttle = std::sync::Arc::new(Throttle::new(&settings, clock.clone()));
        let verified = std::sync::Arc::new(
            VerifiedSecrets::new(settings.secrets.verified_cache_size)
                .map_err(|e| ConfigError::new("secrets", e))?,
        );
        let reuse = std::sync::Arc::new(TokenReuse::new(
            settings.tokens.reuse_seconds,
            settings.secrets.verified_cache_size.max(1000),
        ));

        let public_listener = bind(settings.server.public_addr)?;
        let admin_listener = bind(settings.server.admin_addr)?;
        let public_port = port_of(&public_listener, settings.server.public_addr)?;
        let admin_port = port_of(&admin_listener, settings.server.admin_addr)?;
        if settings.server.issuer.is_empty() {
            // No issuer configured: the public listener's address as bound (port 0 resolved).
            let public = public_listener
                .local_addr()
                .map_err(|source| StartupError::Bind {
                    addr: settings.server.public_addr.to_string(),
                    source,
                })?;
            settings.server.issuer = format!("http://{public}");
        }

        let auth_lookups = std::sync::Arc::new(AuthLookups::for_backend(
            pool.clone(),
            !matches!(settings.database.url, DatabaseUrl::Sqlite(_)),
            settings.workers(),
        ));
        let state = AppState {
            pool,
            auth_lookups,
            keys,
            hasher,
            clock: clock.clone(),
            usage: UsageTracker::default(),
            throttle,
            verified,
            reuse,
            feed_changes: std::sync::Arc::default(),
            federation: std::sync::Arc::new(Federation::from_settings(&settings.federation)),
            settings: std::sync::Arc::new(settings),
        };
        let settings = &state.settings;
        let workers = settings.workers();
        let shutdown = settings.server.shutdown_timeout_seconds;
        let request_timeout = Duration::from_millis(settings.server.client_request_timeout_ms);
        let keep_alive = Duration::from_secs(settings.server.keep_alive_seconds);
        let max_connections = settings.server.max_connections;

        let data = web::Data::new(state.clone());
        let public_data = data.clone();
        // One feed cache for the listener's workers.
        let feed_cache = web::Data::new(http::public::feed::FeedCache::default());
        let public = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::limits::check))
                .wrap(actix_web::middleware::from_fn(http::access::log))
                .app_data(public_data.clone())
                .app_data(feed_cache.clone())
                .configure(http::public::configure)
        })
        .workers(workers)
        .client_request_timeout(request_timeout)
        .keep_alive(keep_alive)
        .max_connections(max_connections)
        .shutdown_timeout(shutdown)
        .disable_signals()
        .listen(public_listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.server.public_addr.to_string(),
            source,
        })?
        .run();
        let admin_data = data;
        let admin = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::limits::check))
                .wrap(actix_web::middleware::from_fn(http::access::log))
                .app_data(admin_data.clone())
                .configure(http::admin::configure)
        })
        .workers(workers.min(2))
        .client_request_timeout(request_timeout)
        .keep_alive(keep_alive)
        .max_connections(max_connections)
        .shutdown_timeout(shutdown)
        .disable_signals()
        .listen(admin_listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.server.admin_addr.to_string(),
            source,
        })?
        .run();
        log::info!(
            "public listener on port {public_port}, admin listener on port {admin_port}, database {}",
            settings.database.url
        );
        Ok(Self {
            public_port,
            admin_port,
            public,
            admin,
            state,
        })
    }

    /// The public listener's port.
    pub fn public_port(&self) -> u16 {
        self.public_port
    }

    /// The admin listener's port.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The shared state (tests use its clock and pool).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests, flushes last-used times
    /// and returns. SIGHUP reloads the key directory.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handles = [self.public.handle(), self.admin.handle()];
        // Installed here, not in the spawned task: the listeners start answering as soon as they
        // are first polled below, before that task runs, and a SIGHUP or SIGTERM sent meanwhile
        // (say, as soon as /healthz answers) would meet the default action and kill the process.
        let installed = install_signals();
        let upkeep = tokio::spawn(upkeep(self.state.clone()));
        let signals = tokio::spawn(handle_signals(self.state.clone(), installed, handles));
        let served = tokio::try_join!(self.public, self.admin);
        upkeep.abort();
        signals.abort();
        let state = self.state.clone();
        let flushed = tokio::task::spawn_blocking(move || state.usage.flush(&state.pool)).await;
        match flushed {
            Ok(Ok(n)) if n > 0 => log::info!("flushed last-used times of {n} credential(s)"),
            Ok(Err(e)) => log::warn!("could not flush last-used times at shutdown: {e}"),
            _ => {}
        }
        served.map(|_| ())
    }
}

/// How often rate-limit state of quiet keys is forgotten, and expired client-assertion `jti`s
/// deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Deletes the replay records of client assertions that have expired. Here, once a minute per
/// replica, rather than on the token path: a token request then costs one insert, and the
/// table holds about an hour of assertions (their longest lifetime) plus a minute.
fn prune_assertion_jtis(state: &AppState) {
    let (pool, now) = (state.pool.clone(), state.clock.now());
    tokio::task::spawn_blocking(move || {
        let pruned = pool
            .get()
            .map_err(StorageError::from)
            .and_then(|mut conn| storage::assertion_jtis::prune(&mut conn, now));
        if let Err(e) = pruned {
            log::warn!("could not delete expired client-assertion records, will retry: {e}");
        }
    });
}

/// Periodic work: reload keys, flush usage, prune rate-limit state and replay records.
async fn upkeep(state: AppState) {
    let mut reload = tokio::time::interval(Duration::from_secs(state.settings.keys.reload_seconds));
    let mut flush = tokio::time::interval(flush_interval(&state.settings));
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = reload.tick() => reload_keys(&state),
            _ = prune.tick() => {
                state.throttle.prune();
                prune_assertion_jtis(&state);
            }
            _ = flush.tick() => {
                let s = state.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.usage.flush(&s.pool)).await {
                    log::warn!("last-used flush failed, will retry: {e}");
                }
            }
        }
    }
}

/// An operator who changed `keys.algorithm` but has not rotated yet would otherwise wonder why
/// tokens still carry the old `alg`: the newest key signs, whatever its type.
fn warn_if_not_switched(keys: &KeyStore, configured: KeyAlgorithm) {
    if let Some(signer) = keys.current().signer() {
        if signer.algorithm != configured {
            log::warn!(
                "keys.algorithm is {configured} but the newest key ({}) is {}: tokens are signed \
                 {} until `tessera keys rotate` adds a {configured} key",
                signer.kid,
                signer.algorithm,
                signer.algorithm
            );
        }
    }
}

fn reload_keys(state: &AppState) {
    match state.keys.reload() {
        Ok(true) => {
            let current = state.keys.current();
            let (kid, alg) = current
                .signer()
                .map(|k| (k.kid.clone(), k.algorithm.name()))
                .unwrap_or_default();
            log::info!(
                "signing keys reloaded: {} key(s), signing with kid {kid} ({alg})",
                current.len()
            );
        }
        Ok(false) => {}
        Err(e) => log::error!("key reload failed, keeping the loaded keys: {e}"),
    }
}

/// SIGHUP, SIGTERM and SIGINT, once their handlers are installed.
#[cfg(unix)]
type Signals = Option<[tokio::signal::unix::Signal; 3]>;

#[cfg(unix)]
fn install_signals() -> Signals {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(hup), Ok(term), Ok(int)) => Some([hup, term, int]),
        _ => {
            log::error!("cannot install signal handlers");
            None
        }
    }
}

#[cfg(unix)]
async fn handle_signals(state: AppState, signals: Signals, handles: [ServerHandle; 2]) {
    let Some([mut hup, mut term, mut int]) = signals else {
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => {
                log::info!("SIGHUP: reloading signing keys");
                reload_keys(&state);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    log::info!("shutting down: draining in-flight requests");
    for handle in handles {
        handle.stop(true).await;
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|source| StartupError::Bind {
        addr: addr.to_string(),
        source,
    })
}

fn port_of(listener: &TcpListener, addr: SocketAddr) -> Result<u16, StartupError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })
}
