//! The `tessera` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{TimeZone, Utc};
use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::keys::{self, KeyAlgorithm, KeySet, KeyState};
use crate::service::admin::{admin_tokens, AdminError};
use crate::startup::Application;
use crate::storage::{self, DbConnection};

/// Tessera: an OAuth 2.0 client-credentials token issuer.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// Directory holding default.toml and local.toml [default: config]. A directory given here
    /// must exist; without the option, a missing `config/` leaves the built-in defaults and the
    /// environment.
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve the public and admin listeners.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Signing-key management.
    Keys {
        /// Which.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Admin API bearer tokens.
    AdminToken {
        /// Which.
        #[command(subcommand)]
        command: AdminTokenCommand,
    },
}

/// `tessera keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a signing key (of `keys.algorithm`) if the key directory has none.
    Generate,
    /// List the keys with their state and algorithm.
    List,
    /// Create a new key (of `keys.algorithm`) that signs from now on; old keys stay published
    /// until their tokens expire.
    Rotate,
}

/// `tessera admin-token …`
#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token and print it once (the token alone on the last line).
    Create {
        /// A unique name; recorded as the actor of its changes.
        #[arg(long)]
        name: String,
        /// Limit the token to this account.
        #[arg(long, value_name = "ACCOUNT_ID")]
        account: Option<String>,
    },
    /// List tokens (never their values).
    List,
    /// Revoke the live token with this name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// A failure to report: one line on stderr, and the exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }
}

/// The settings of `--config DIR`: a directory given must exist; without the option, a missing
/// `config/` leaves the built-in defaults and the environment.
fn load_settings(dir: Option<&Path>) -> Result<Settings, crate::config::ConfigError> {
    match dir {
        Some(dir) if !dir.is_dir() => Err(crate::config::ConfigError::new(
            "--config",
            format!("{} is not a directory", dir.display()),
        )),
        Some(dir) => Settings::load(dir),
        None => Settings::load(Path::new("config")),
    }
}

/// Parses the arguments, runs the command, and returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // The settings first: `log.format` decides how the logger writes. A configuration error
    // is reported below as one plain line either way.
    let settings = load_settings(cli.config.as_deref());
    crate::logging::init(
        settings
            .as_ref()
            .map_or_else(|_| Default::default(), |s| s.log.format),
    );
    let outcome = settings
        .map_err(|e| Failure::new(2, e))
        .and_then(|settings| dispatch(cli, settings));
    crate::logging::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // One line, whatever the source says: libpq's messages, for one, span several.
            let message = f.message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("tessera: {message}");
            ExitCode::from(f.code)
        }
    }
}

fn dispatch(cli: Cli, settings: Settings) -> Result<(), Failure> {
    match cli.command {
        Command::Serve => serve(settings),
        Command::Migrate => {
            // Not `connect`, which migrates already: the count printed would always be 0.
            let mut conn = open(&settings)?;
            let applied = storage::migrate(&mut conn).map_err(|e| Failure::new(1, e))?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::Keys { command } => keys_command(&settings, command),
        Command::AdminToken { command } => admin_token_command(&settings, command),
    }
}

fn serve(settings: Settings) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(1, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let app = Application::build(settings, Clock::system())
            .await
            .map_err(|e| Failure::new(e.exit_code(), e))?;
        app.run_until_stopped()
            .await
            .map_err(|e| Failure::new(1, format!("server error: {e}")))
    })
}

type Conn = r2d2::PooledConnection<storage::ConnectionManager>;

/// A connection, not migrated.
fn open(settings: &Settings) -> Result<Conn, Failure> {
    let pool = storage::pool(&settings.database).map_err(|e| Failure::new(1, e))?;
    pool.get()
        .map_err(|e| Failure::new(1, format!("database unavailable: {e}")))
}

/// A migrated connection, for commands that write.
fn connect(settings: &Settings) -> Result<Conn, Failure> {
    let mut conn = open(settings)?;
    storage::migrate(&mut conn).map_err(|e| Failure::new(1, e))?;
    Ok(conn)
}

fn keys_command(settings: &Settings, command: KeysCommand) -> Result<(), Failure> {
    let dir = &settings.keys.dir;
    let key_error = |e| Failure::new(2, format!("configuration error: keys.dir: {e}"));
    let now = Utc::now().timestamp();
    let algorithm = settings.keys.algorithm;
    match command {
        KeysCommand::Generate => {
            let set = KeySet::load(dir).map_err(key_error)?;
            if let Some(key) = set.signer() {
                println!(
                    "a signing key already exists: {} {} ({})",
                    key.algorithm,
                    key.kid,
                    key.path.display()
                );
                if key.algorithm != algorithm {
                    println!(
                        "keys.algorithm is {algorithm}: run `tessera keys rotate` to switch to it"
                    );
                }
                return Ok(());
            }
            new_key(dir, algorithm, now)
        }
        KeysCommand::Rotate => {
            // Check the directory first: with a broken file in it, a new key would be written
            // and then reported as a failure, and no server could load the directory anyway.
            KeySet::load(dir).map_err(key_error)?;
            new_key(dir, algorithm, now)?;
            println!(
                "running servers start signing with it within {} s, or at once on SIGHUP",
                settings.keys.reload_seconds
            );
            Ok(())
        }
        KeysCommand::List => {
            let set = KeySet::load(dir).map_err(key_error)?;
            // ALG after STATE, so the first three columns read as they always have.
            println!(
                "{:<45} {:<22} {:<10} {:<6} FILE",
                "KID", "CREATED", "STATE", "ALG"
            );
            for (key, state) in set.states(
                now,
                settings.tokens.lifetime_seconds,
                settings.keys.leeway_seconds,
            ) {
                let created = Utc
                    .timestamp_opt(key.created_at, 0)
                    .single()
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default();
                let state = match state {
                    KeyState::Signing => "signing",
                    KeyState::Published => "published",
                    KeyState::Retired => "retired",
                };
                println!(
                    "{:<45} {created:<22} {state:<10} {:<6} {}",
                    key.kid,
                    key.algorithm.name(),
                    key.path.display()
                );
            }
            Ok(())
        }
    }
}

fn new_key(dir: &Path, algorithm: KeyAlgorithm, now: i64) -> Result<(), Failure> {
    let path = keys::generate(dir, algorithm, now)
        .map_err(|e| Failure::new(2, format!("configuration error: keys.dir: {e}")))?;
    let set = KeySet::load(dir)
        .map_err(|e| Failure::new(2, format!("configuration error: keys.dir: {e}")))?;
    let kid = set.signer().map(|k| k.kid.clone()).unwrap_or_default();
    println!(
        "new {algorithm} signing key {kid} written to {}",
        path.display()
    );
    Ok(())
}

fn admin_token_command(settings: &Settings, command: AdminTokenCommand) -> Result<(), Failure> {
    let mut conn = connect(settings)?;
    let conn: &mut DbConnection = &mut conn;
    let admin_error = |e: AdminError| Failure::new(1, e);
    match command {
        AdminTokenCommand::Create { name, account } => {
            let token = admin_tokens::create(conn, &name, account.as_deref(), Utc::now())
                .map_err(admin_error)?;
            println!("admin token {name:?} created; it is shown only now:");
            println!("{}", token.expose());
            Ok(())
        }
        AdminTokenCommand::List => {
            println!("{:<32} {:<38} {:<22} REVOKED", "NAME", "ACCOUNT", "CREATED");
            for row in admin_tokens::list(conn).map_err(admin_error)? {
                println!(
                    "{:<32} {:<38} {:<22} {}",
                    row.name,
                    row.account_id.as_deref().unwrap_or("(all accounts)"),
                    row.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    row.revoked_at
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
            Ok(())
        }
        AdminTokenCommand::Revoke { name } => {
            admin_tokens::revoke(conn, &name, Utc::now()).map_err(admin_error)?;
            println!("admin token {name:?} revoked");
            Ok(())
        }
    }
}
