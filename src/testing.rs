//! The one way tests start an issuer in-process (feature `testing`, enabled for this crate's own
//! integration tests and for `tessera-guard`'s through their dev-dependencies).
//!
//! [`TestIssuer::start`] prepares settings for a fresh temporary directory (keys, SQLite) or a
//! fresh PostgreSQL database (created here, dropped with the handle), binds both listeners on
//! `127.0.0.1:0` with an empty `server.issuer`, so that the issuer is the public listener's
//! address as bound (no probing for a free port, no race with a parallel test), creates an
//! unscoped admin token, and serves on the current tokio runtime.
//!
//! [`OidcIssuer`] (in [`oidc`]) is a local OpenID Connect identity provider for the tests of
//! federated credentials.
//!
//! A test that cannot run here (no `TESSERA_TEST_POSTGRES_URL`, a missing tool) calls [`skip`]:
//! one `SKIPPED` line on stderr naming the test, or a panic when `TESSERA_REQUIRE_ALL=1` (CI).
//!
//! The PostgreSQL parts (`Backend::Postgres`, `PgDatabase`, `postgres_url`) need the `postgres`
//! cargo feature, like the backend itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub mod oidc;

pub use oidc::{OidcIssuer, OidcReply};

use crate::clock::Clock;
use crate::config::{DatabaseUrl, Settings};
use crate::startup::Application;
use crate::state::AppState;

/// Both listeners on a port the system picks.
const LOOPBACK_ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The variable naming the PostgreSQL server of the PostgreSQL test variants, without a database
/// (e.g. `postgres://postgres@127.0.0.1:5432`).
pub const POSTGRES_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";
/// When `1`, a test that would skip panics instead (CI sets it).
pub const REQUIRE_ALL_VAR: &str = "TESSERA_REQUIRE_ALL";
/// The name of the admin token [`TestIssuer::start`] creates (audit events show it as actor).
pub const ADMIN_TOKEN_NAME: &str = "test-admin";

/// Whether every test must really run (`TESSERA_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_VAR).is_ok_and(|v| v == "1")
}

/// The running test's name, as the test harness names its thread.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned()
}

/// Records that `test` does not run here because of `why`: one line containing `SKIPPED` and
/// the test's name on the real stderr (output capture does not hide it), or, under
/// `TESSERA_REQUIRE_ALL=1`, a panic.
pub fn skip(test: &str, why: &str) {
    assert!(
        !require_all(),
        "{test} would be SKIPPED ({why}), but {REQUIRE_ALL_VAR}=1 requires every test to run"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// The PostgreSQL test databases (the `postgres` cargo feature).
#[cfg(feature = "postgres")]
mod postgres {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};

    use super::{skip, POSTGRES_URL_VAR};

    /// `TESSERA_TEST_POSTGRES_URL` without a trailing slash, if set and not empty.
    pub fn postgres_url() -> Option<String> {
        std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| v.trim_end_matches('/').to_owned())
    }

    /// [`postgres_url`], or a [`skip`] of `test` and `None`.
    pub fn postgres_url_or_skip(test: &str) -> Option<String> {
        let url = postgres_url();
        if url.is_none() {
            skip(test, &format!("{POSTGRES_URL_VAR} is not set"));
        }
        url
    }

    /// A fresh database `tessera_test_<uuid>`, dropped `WITH (FORCE)` when this is dropped.
    #[derive(Debug)]
    pub struct PgDatabase {
        admin_url: String,
        name: String,
        /// Its URL.
        pub url: String,
    }

    impl PgDatabase {
        /// Creates it on the server at `base` (a URL without a database name).
        pub fn create(base: &str) -> Self {
            let base = base.trim_end_matches('/');
            let admin_url = format!("{base}/postgres");
            let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}"));
            conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .expect("CREATE DATABASE");
            Self {
                url: format!("{base}/{name}"),
                admin_url,
                name,
            }
        }
    }

    impl Drop for PgDatabase {
        fn drop(&mut self) {
            if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
                let _ = conn.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ));
            }
        }
    }
}
#[cfg(feature = "postgres")]
pub use postgres::{postgres_url, postgres_url_or_skip, PgDatabase};

/// Without the `postgres` feature there is no PostgreSQL database to hold: this stand-in has no
/// value, and [`TestIssuer::pg_database`] is always `None`.
#[cfg(not(feature = "postgres"))]
#[derive(Debug)]
pub enum PgDatabase {}

/// A fresh directory under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates `tessera-test-<uuid>`.
    pub fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Which database a test issuer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `tessera.db` in the test's directory.
    Sqlite,
    /// A fresh database on the server at `TESSERA_TEST_POSTGRES_URL` (the `postgres` feature).
    #[cfg(feature = "postgres")]
    Postgres,
}

/// Settings for a test issuer in `dir` on `backend`, and the PostgreSQL database they use (which
/// must outlive the issuer). `None` when the backend is PostgreSQL and none is configured.
///
/// Both listeners on `127.0.0.1:0`, the issuer empty (the public listener's bound address), one
/// worker, a one-second shutdown, keys in `dir/keys`, a small pool with a short timeout.
pub fn settings(dir: &Path, backend: Backend) -> Option<(Settings, Option<PgDatabase>)> {
    let mut settings = Settings::defaults().expect("the default settings");
    settings.server.public_addr = LOOPBACK_ANY_PORT;
    settings.server.admin_addr = LOOPBACK_ANY_PORT;
    settings.server.issuer = String::new();
    settings.server.workers = 1;
    settings.server.shutdown_timeout_seconds = 1;
    settings.keys.dir = dir.join("keys");
    settings.database.pool_max_size = 4;
    settings.database.pool_timeout_seconds = 3;
    let (url, pg) = match backend {
        Backend::Sqlite => (DatabaseUrl::Sqlite(dir.join("tessera.db")), None),
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            let db = PgDatabase::create(&postgres_url()?);
            (DatabaseUrl::Postgres(db.url.clone()), Some(db))
        }
    };
    settings.database.url = url;
    Some((settings, pg))
}

/// An issuer running in this process, on the current tokio runtime.
pub struct TestIssuer {
    /// Its database.
    pub backend: Backend,
    /// The public listener's base URL, which is also its issuer (unless the settings named one).
    pub public: String,
    /// The admin listener's base URL.
    pub admin: String,
    /// An unscoped admin token named [`ADMIN_TOKEN_NAME`].
    pub admin_token: String,
    /// Its clock (the tests may stop and move it).
    pub clock: Clock,
    /// Its state: settings (with the resolved issuer), pool, keys, usage tracker.
    pub state: AppState,
    /// The SQLite file, on SQLite.
    pub sqlite_path: Option<PathBuf>,
    // Dropped in this order: the database after the directory, both after the fields above.
    /// Its directory: keys, SQLite database, anything the test writes.
    pub dir: TestDir,
    /// Its PostgreSQL database, on PostgreSQL: dropped with the handle.
    pub pg_database: Option<PgDatabase>,
}

impl TestIssuer {
    /// Starts an issuer on `backend` with [`settings`] and then `customize` applied; `None`,
    /// after a [`skip`] of the running test, when the backend is PostgreSQL and none is
    /// configured.
    pub async fn start(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Option<Self> {
        let dir = TestDir::new();
        let Some((mut settings, pg_database)) = settings(dir.path(), backend) else {
            skip(&current_test(), &format!("{POSTGRES_URL_VAR} is not set"));
            return None;
        };
        customize(&mut settings);
        let sqlite_path = (backend == Backend::Sqlite).then(|| dir.path().join("tessera.db"));
        let clock = Clock::system();
        let app = Application::build(settings, clock.clone())
            .await
            .expect("the test issuer starts");
        let public = format!("http://127.0.0.1:{}", app.public_port());
        let admin = format!("http://127.0.0.1:{}", app.admin_port());
        let state = app.state().clone();
        let admin_token = create_admin_token(&state, ADMIN_TOKEN_NAME, None).await;
        tokio::spawn(app.run_until_stopped());
        Some(Self {
            backend,
            public,
            admin,
            admin_token,
            clock,
            state,
            sqlite_path,
            dir,
            pg_database,
        })
    }

    /// The `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.state.settings.server.issuer
    }

    /// Writes the pending last-used times and token counts now, as the periodic flush would;
    /// returns how many credentials it wrote. A test that looks in the database for what a use
    /// left calls this first instead of waiting for the background flush. (One that runs at the
    /// same moment may have taken the batch; give tests that rely on this a long
    /// `database.last_used_flush_seconds`.)
    pub async fn flush_usage(&self) -> usize {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.usage.flush(&state.pool))
            .await
            .expect("the flush task")
            .expect("the flush")
    }

    /// Starts another replica on this one's database, keys, clock and issuer: its own listeners
    /// (on new ports) and state.
    pub async fn replica(&self) -> Replica {
        let mut settings = (*self.state.settings).clone();
        settings.server.public_addr = LOOPBACK_ANY_PORT;
        settings.server.admin_addr = LOOPBACK_ANY_PORT;
        let app = Application::build(settings, self.clock.clone())
            .await
            .expect("the replica starts");
        let replica = Replica {
            public: format!("http://127.0.0.1:{}", app.public_port()),
            admin: format!("http://127.0.0.1:{}", app.admin_port()),
            state: app.state().clone(),
        };
        tokio::spawn(app.run_until_stopped());
        replica
    }

    /// Creates another admin token in its database (as `tessera admin-token create` does),
    /// scoped to `account` when given.
    pub async fn create_admin_token(&self, name: &str, account: Option<&str>) -> String {
        create_admin_token(&self.state, name, account).await
    }
}

/// Another replica of a [`TestIssuer`].
pub struct Replica {
    /// The public listener's base URL.
    pub public: String,
    /// The admin listener's base URL.
    pub admin: String,
    /// Its state.
    pub state: AppState,
}

async fn create_admin_token(state: &AppState, name: &str, account: Option<&str>) -> String {
    let pool = state.pool.clone();
    let name = name.to_owned();
    let account = account.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("a database connection");
        crate::service::admin::admin_tokens::create(
            &mut conn,
            &name,
            account.as_deref(),
            chrono::Utc::now(),
        )
        .expect("an admin token")
        .expose()
        .to_owned()
    })
    .await
    .expect("the admin token task")
}
