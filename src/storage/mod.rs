//! Storage: the only module that knows diesel.
//!
//! One connection type over both backends ([`DbConnection`], a diesel `MultiConnection`) behind an
//! r2d2 pool whose manager picks the backend from the URL scheme. Queries live in one module per
//! table; they take `&mut DbConnection` and return [`StorageError`], which the layers above map to
//! their wire formats (a pool or connection failure is a 503 there, never a 500).
//!
//! Where the backends need different SQL (row locks, `BEGIN IMMEDIATE`), the code matches the
//! variant and runs on the inner connection.

/// Runs one diesel query on the backend's own connection: `on_backend!(conn, c => query(c))`.
/// A query sent through the [`DbConnection`] enum is wrapped in a type diesel cannot key its
/// statement cache on, so SQLite and PostgreSQL prepare it again on every call (a quarter of the
/// token endpoint's CPU, measured); on the inner connection it is prepared once per connection.
/// For the hot path; elsewhere the enum is simpler.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $query:expr) => {
        match $conn {
            $crate::storage::DbConnection::Sqlite($c) => $query,
            $crate::storage::DbConnection::Postgres($c) => $query,
        }
    };
}

pub mod account_usage;
pub mod accounts;
pub mod admin_tokens;
pub mod audit;
pub mod credentials;
pub mod revocations;
pub mod schema;
pub mod workspaces;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{DatabaseSettings, DatabaseUrl};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL, for several replicas on one database.
    Postgres(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// The connection pool.
pub type Pool = r2d2::Pool<ConnectionManager>;

/// A pooled connection: a [`DbConnection`] (it dereferences to one) and whether SQLite opened
/// it read-only.
///
/// SQLite opens a file it may not write read-only without a word, and such a connection stays
/// read-only for life: pooled, it would keep refusing writes long after the file is writable
/// again. So a read-only connection serves one checkout (reads work, writes answer 503) and is
/// then dropped; the next one is opened afresh and is writable once the trouble is over.
pub struct PooledDb {
    conn: DbConnection,
    read_only: bool,
}

impl std::ops::Deref for PooledDb {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledDb {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Whether this process may write the SQLite database at `path` and its WAL: the check SQLite
/// makes when it opens the file, done here because SQLite does not report its outcome. A
/// missing file is writable (SQLite creates it).
fn sqlite_writable(path: &std::path::Path) -> bool {
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    [path, wal.as_path()]
        .iter()
        .all(|file| !file.exists() || std::fs::OpenOptions::new().append(true).open(file).is_ok())
}

impl StorageError {
    /// A stored value that no code writes: a corrupt or hand-edited row.
    pub(crate) fn corrupt(column: &str, value: &str) -> Self {
        Self::Other(format!(
            "{column} holds {:?}, which is not a valid value",
            crate::domain::credential::truncate(value, 40)
        ))
    }
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached, is locked or read-only, or the pool timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// No such row.
    #[error("not found")]
    NotFound,
    /// A uniqueness or foreign-key constraint refused the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug or a corrupt database, never something a client sent.
    #[error("database error: {0}")]
    Other(String),
}

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
                info,
            ) => Self::Conflict(info.message().to_owned()),
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::SerializationFailure,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(_, info) if is_unavailable_message(info.message()) => {
                Self::Unavailable(info.message().to_owned())
            }
            DieselError::BrokenTransactionManager => {
                Self::Unavailable("broken transaction".to_owned())
            }
            other => {
                let text = other.to_string();
                if is_unavailable_message(&text) {
                    Self::Unavailable(text)
                } else {
                    Self::Other(text)
                }
            }
        }
    }
}

/// SQLite reports a locked, busy, read-only or vanished file only as text; so does libpq for a
/// server that went away mid-query.
fn is_unavailable_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "database is locked",
        "database is busy",
        "readonly database",
        "read-only",
        "disk i/o error",
        "unable to open database",
        "server closed the connection",
        "connection refused",
        "terminating connection",
        "no connection to the server",
        "could not connect",
        "the database system is",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Opens connections for r2d2, choosing the backend by URL scheme (diesel's own `establish`
/// would turn any unknown URL into a SQLite file name).
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    busy_timeout_ms: u64,
}

/// An error opening a connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = PooledDb;
    type Error = ConnectError;

    fn connect(&self) -> Result<PooledDb, ConnectError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let read_only = !sqlite_writable(path);
                if read_only {
                    log::warn!(
                        "the database file {} is not writable: opening it read-only for one request",
                        path.display()
                    );
                }
                let path = path
                    .to_str()
                    .ok_or_else(|| ConnectError("non-UTF-8 path".into()))?;
                let mut conn =
                    SqliteConnection::establish(path).map_err(|e| ConnectError(e.to_string()))?;
                // WAL lets readers run beside the one writer; busy_timeout makes a writer wait for
                // another instead of failing at once; foreign keys are off by default in SQLite.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
                    self.busy_timeout_ms
                ))
                .map_err(|e| ConnectError(e.to_string()))?;
                Ok(PooledDb {
                    conn: DbConnection::Sqlite(conn),
                    read_only,
                })
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(|conn| PooledDb {
                    conn: DbConnection::Postgres(conn),
                    read_only: false,
                })
                .map_err(|e| ConnectError(e.to_string())),
        }
    }

    fn is_valid(&self, conn: &mut PooledDb) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ConnectError(e.to_string()))
    }

    fn has_broken(&self, conn: &mut PooledDb) -> bool {
        conn.read_only
            || match &mut conn.conn {
                DbConnection::Postgres(c) => {
                    AnsiTransactionManager::is_broken_transaction_manager(c)
                }
                DbConnection::Sqlite(c) => AnsiTransactionManager::is_broken_transaction_manager(c),
            }
    }
}

/// Creates a missing SQLite file readable by its owner only, like the keys: it holds the
/// secrets' hashes and the audit log. SQLite gives its WAL and shared-memory files the mode of
/// the database file.
fn create_private(path: &std::path::Path) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Builds the pool. Connections are opened lazily, so a server starts (and answers 503) while its
/// database is down; `min_idle(0)` keeps r2d2 from blocking start-up on a dead server.
pub fn pool(settings: &DatabaseSettings) -> Result<Pool, StorageError> {
    let url = settings.url.clone();
    if let DatabaseUrl::Sqlite(path) = &url {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        create_private(path)?;
    }
    let manager = ConnectionManager {
        url,
        busy_timeout_ms: settings.sqlite_busy_timeout_ms,
    };
    Ok(r2d2::Pool::builder()
        .max_size(settings.pool_max_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(settings.pool_timeout_seconds))
        .test_on_check_out(false)
        .build_unchecked(manager))
}

/// Applies pending migrations of the connection's backend. On PostgreSQL an advisory lock makes
/// concurrent runs from several replicas wait for each other instead of racing.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, StorageError> {
    let apply = |conn: &mut DbConnection| -> Result<usize, StorageError> {
        let migrations = match conn {
            DbConnection::Postgres(_) => POSTGRES_MIGRATIONS,
            DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
        };
        conn.run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(|e| StorageError::Other(format!("migration failed: {e}")))
    };
    match conn {
        DbConnection::Postgres(pg) => {
            // An arbitrary constant that names "tessera migrations".
            pg.batch_execute("SELECT pg_advisory_lock(7253110)")?;
            let result = apply(conn);
            if let DbConnection::Postgres(pg) = conn {
                pg.batch_execute("SELECT pg_advisory_unlock(7253110)")?;
            }
            result
        }
        DbConnection::Sqlite(_) => apply(conn),
    }
}

/// Runs `f` in a write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write
/// lock up front: a deferred transaction that reads then writes can fail with SQLITE_BUSY when
/// another writer got in between, which busy_timeout cannot cure. On PostgreSQL it is a plain
/// transaction; code that must serialize on a row locks it with [`credentials::lock`] and friends.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StorageError>,
{
    let begin = match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c),
    };
    begin.map_err(|e| E::from(StorageError::from(e)))?;
    let result = f(conn);
    let end = match (&result, &mut *conn) {
        (Ok(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
        (Ok(_), DbConnection::Postgres(c)) => AnsiTransactionManager::commit_transaction(c),
        (Err(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
        (Err(_), DbConnection::Postgres(c)) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (result, end) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(e)) => Err(E::from(StorageError::from(e))),
        // The transaction's own error explains more than a failed rollback.
        (Err(e), _) => Err(e),
    }
}

/// Checks that the database answers; for readiness.
pub fn ping(conn: &mut DbConnection) -> Result<(), StorageError> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

/// The backend of a pooled connection, for logs.
pub fn backend_name(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Postgres(_) => "postgres",
        DbConnection::Sqlite(_) => "sqlite",
    }
}

/// Stored times are naive UTC; storage converts them, and only storage: every other layer
/// sees `DateTime<Utc>`.
pub(crate) fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// The inverse of [`to_db`].
pub(crate) fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_sqlite_database_and_its_wal_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let settings = crate::config::DatabaseSettings {
            url: crate::config::DatabaseUrl::Sqlite(path.clone()),
            ..crate::config::Settings::defaults().unwrap().database
        };
        let pool = super::pool(&settings).unwrap();
        let mut conn = pool.get().unwrap();
        super::migrate(&mut conn).unwrap();
        for file in [path.clone(), dir.path().join("t.db-wal")] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }
}
