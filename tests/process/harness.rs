//! Running `tessera` as a process: one-shot commands, servers, and throwaway databases.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
/// The longest any poll loop waits.
pub const POLL_LIMIT: Duration = Duration::from_secs(15);
/// The longest a one-shot command may run (it may migrate or generate an RSA key).
const COMMAND_LIMIT: Duration = Duration::from_secs(30);
/// How long a SIGTERMed server may take to exit.
pub const STOP_LIMIT: Duration = Duration::from_secs(10);
/// The default audience of `config/default.toml`.
pub const AUDIENCE: &str = "https://api.example.test/";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Now, for bracketing what a server records.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A bounded poll loop: `tick` sleeps 100 ms, or panics naming what never happened.
pub struct Deadline {
    until: Instant,
    what: String,
}

impl Deadline {
    pub fn after(limit: Duration, what: impl Into<String>) -> Self {
        Self {
            until: Instant::now() + limit,
            what: what.into(),
        }
    }

    pub async fn tick(&self) {
        assert!(
            Instant::now() < self.until,
            "gave up waiting for {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child process, killed and reaped when dropped unless it already exited. When the test is
/// failing, its output file is printed.
struct Proc {
    child: Child,
    exited: Option<ExitStatus>,
    label: String,
    output: PathBuf,
}

impl Proc {
    fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let text = self.output();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("---- last output of {} ----", self.label);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.status.success(),
            "tessera {:?} failed: {self:#?}",
            self.args
        );
        self
    }

    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// Asserts that the command failed with `code`, reported as exactly one line on stderr, with
    /// no panic message or backtrace; returns that line.
    #[track_caller]
    pub fn one_line_failure(&self, code: i32) -> &str {
        assert_eq!(self.code(), Some(code), "unexpected exit: {self:#?}");
        for needle in ["panicked", "backtrace", "RUST_BACKTRACE"] {
            assert!(!self.stderr.contains(needle), "a panic: {self:#?}");
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "expected one stderr line: {self:#?}");
        assert!(lines[0].starts_with("tessera: "), "{self:#?}");
        lines[0]
    }
}

/// A command started, not yet finished.
pub struct Running {
    args: Vec<String>,
    proc: Proc,
    stderr: PathBuf,
}

impl Running {
    /// Waits (at most [`COMMAND_LIMIT`]) and collects the output.
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + COMMAND_LIMIT;
        let status = loop {
            if let Some(status) = self.proc.try_wait() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "tessera {:?} did not finish within {COMMAND_LIMIT:?}",
                self.args
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            args: self.args.clone(),
            status,
            stdout: self.proc.output(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

/// A credential as created: row id, client id and secret.
#[derive(Clone, Debug)]
pub struct Cred {
    pub id: String,
    pub client_id: String,
    pub secret: String,
}

/// One Tessera installation: a temporary working directory (database, keys, config) and the
/// `TESSERA__…` variables every process started from it gets. Servers started from one
/// installation share its database and keys directory, like replicas.
pub struct Install {
    pub dir: TempDir,
    vars: BTreeMap<String, String>,
    counter: AtomicUsize,
}

impl Install {
    /// A SQLite database in the directory (not yet created).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("data/tessera.db").display());
        Self::with(dir, &url)
    }

    /// The database at `url`.
    pub fn on_database(url: &str) -> Self {
        Self::with(tempfile::tempdir().expect("tempdir"), url)
    }

    fn with(dir: TempDir, url: &str) -> Self {
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| vars.insert(k.to_owned(), v);
        set("TESSERA__DATABASE__URL", url.to_owned());
        set(
            "TESSERA__KEYS__DIR",
            dir.path().join("keys").display().to_string(),
        );
        set("TESSERA__SERVER__WORKERS", "1".into());
        // Never the default 8080/8081, even for a `serve` expected to fail before listening.
        set("TESSERA__SERVER__PUBLIC_ADDR", "127.0.0.1:0".into());
        set("TESSERA__SERVER__ADMIN_ADDR", "127.0.0.1:0".into());
        set("TESSERA__DATABASE__POOL_MAX_SIZE", "4".into());
        Self {
            dir,
            vars,
            counter: AtomicUsize::new(0),
        }
    }

    /// Sets (or overrides) a variable for every process started from now on.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.path("keys")
    }

    /// The `*.pem` files of the keys directory, sorted.
    pub fn key_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.keys_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect();
        files.sort();
        files
    }

    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        // Only what the test sets: nothing inherited from the developer's shell.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA__") {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("RUST_LOG")
            // A panic would print its backtrace, which the one-line checks refuse.
            .env("RUST_BACKTRACE", "1")
            .envs(&self.vars)
            .envs(extra.iter().copied())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `tessera ARGS` with extra variables; stdout and stderr go to files.
    pub fn start(&self, args: &[&str], extra: &[(&str, &str)]) -> Running {
        let n = self.next();
        let out = self.path(&format!("cmd-{n}.out"));
        let err = self.path(&format!("cmd-{n}.err"));
        let child = self
            .command(args, extra)
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn tessera");
        Running {
            args: args.iter().map(|s| s.to_string()).collect(),
            proc: Proc {
                child,
                exited: None,
                label: format!("tessera {args:?}"),
                output: out,
            },
            stderr: err,
        }
    }

    /// Runs `tessera ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        self.start(args, &[]).finish()
    }

    /// `tessera admin-token create --name NAME`: the token.
    pub fn admin_token(&self, name: &str) -> String {
        let run = self.run(&["admin-token", "create", "--name", name]);
        run.success().last_line().to_owned()
    }

    /// Starts `tessera serve` on free ports and waits for `/healthz`.
    pub async fn serve(&self) -> Server {
        self.serve_with(&[]).await
    }

    /// Starts `tessera serve` with extra variables (`RUST_LOG` among them overrides `info`).
    pub async fn serve_with(&self, extra: &[(&str, &str)]) -> Server {
        // A free port can be taken by a parallel test between the probe and the bind: retry.
        for attempt in 0.. {
            let public_port = free_port();
            let mut admin_port = free_port();
            while admin_port == public_port {
                admin_port = free_port();
            }
            let public_addr = format!("127.0.0.1:{public_port}");
            let admin_addr = format!("127.0.0.1:{admin_port}");
            let issuer = format!("http://127.0.0.1:{public_port}");
            let mut env: Vec<(&str, &str)> = vec![
                ("TESSERA__SERVER__PUBLIC_ADDR", &public_addr),
                ("TESSERA__SERVER__ADMIN_ADDR", &admin_addr),
                ("TESSERA__SERVER__ISSUER", &issuer),
            ];
            env.extend_from_slice(extra);
            let n = self.next();
            let log = self.path(&format!("serve-{n}.log"));
            let file = File::create(&log).expect("log file");
            let mut command = self.command(&["serve"], &env);
            if !extra.iter().any(|(k, _)| *k == "RUST_LOG") {
                command.env("RUST_LOG", "info");
            }
            let child = command
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("spawn tessera serve");
            let mut server = Server {
                proc: Proc {
                    child,
                    exited: None,
                    label: format!("tessera serve #{n} (public {public_port}, admin {admin_port})"),
                    output: log,
                },
                public: format!("http://{public_addr}"),
                admin: format!("http://{admin_addr}"),
                issuer,
                client: Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client"),
            };
            match server.wait_healthy().await {
                Ok(()) => return server,
                Err(log) if attempt < 3 && log.contains("Address already in use") => continue,
                Err(log) => panic!("tessera serve did not become healthy:\n{log}"),
            }
        }
        unreachable!()
    }
}

/// What an HTTP call answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// Reads a response whole.
    pub async fn of(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    /// Asserts the status; returns the JSON body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self.body
    }
}

/// A running `tessera serve`.
pub struct Server {
    proc: Proc,
    pub public: String,
    pub admin: String,
    pub issuer: String,
    pub client: Client,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    pub fn log(&self) -> String {
        self.proc.output()
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + POLL_LIMIT;
        let url = format!("{}/healthz", self.public);
        while Instant::now() < deadline {
            if let Some(status) = self.proc.try_wait() {
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            let probe = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().as_u16() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "no /healthz within {POLL_LIMIT:?}:\n{}",
            self.log()
        ))
    }

    /// Sends a signal by name (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// How the process exited, if it did.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.proc.try_wait()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// SIGTERM, then waits at most [`STOP_LIMIT`] for the exit; returns its status and how long
    /// it took.
    pub async fn stop(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        self.signal("TERM");
        loop {
            if let Some(status) = self.proc.try_wait() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < STOP_LIMIT,
                "still running {STOP_LIMIT:?} after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, and asserts a clean exit (code 0) within [`STOP_LIMIT`].
    pub async fn stop_cleanly(&mut self) {
        let (status, took) = self.stop().await;
        assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");
        assert!(took < STOP_LIMIT, "took {took:?}");
    }

    pub async fn get(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.public);
        Reply::of(self.client.get(url).send().await.expect("GET")).await
    }

    /// An admin API call (`path` under `/admin/v1`).
    pub async fn admin(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{}/admin/v1{path}", self.admin);
        let mut request = self.client.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::of(request.send().await.expect("admin call")).await
    }

    /// An account with one account credential, made through the admin API.
    pub async fn create_credential(&self, token: &str) -> Cred {
        let account = self
            .admin(
                token,
                Method::POST,
                "/accounts",
                Some(json!({"name": "Acme"})),
            )
            .await
            .expect(201);
        let account_id = account["id"].as_str().expect("account id");
        let body = self
            .admin(
                token,
                Method::POST,
                &format!("/accounts/{account_id}/credentials"),
                Some(json!({"name": "integration"})),
            )
            .await
            .expect(201);
        Cred {
            id: body["id"].as_str().expect("id").to_owned(),
            client_id: body["client_id"].as_str().expect("client_id").to_owned(),
            secret: body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
        }
    }

    /// A JSON token request.
    pub async fn token(&self, client_id: &str, secret: &str) -> Reply {
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        });
        let url = format!("{}/oauth/token", self.public);
        Reply::of(
            self.client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("token request"),
        )
        .await
    }

    /// The access token of a request that must succeed.
    pub async fn issue(&self, cred: &Cred) -> String {
        let body = self.token(&cred.client_id, &cred.secret).await.expect(200);
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn jwks(&self) -> Value {
        self.get("/.well-known/jwks.json").await.expect(200)
    }

    /// The kids of the JWKS, in its order.
    pub async fn jwks_kids(&self) -> Vec<String> {
        kids(&self.jwks().await)
    }
}

/// The kids of a JWK Set.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// The `kid` of a token's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid")
}

/// Verifies `token` with only the public JWK Set, as a resource server would.
pub fn verify(jwks: &Value, token: &str, issuer: &str) -> Value {
    let kid = kid_of(token);
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS {jwks}"));
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("decoding key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &dk, &v)
        .unwrap_or_else(|e| panic!("token does not verify: {e}"))
        .claims
}

/// A time field of an admin API body.
pub fn time_field(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .map(|s| {
            DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Asserts `t` lies in `[from, to]`, give or take the microsecond rounding of the database.
#[track_caller]
pub fn assert_between(t: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) {
    let slack = chrono::Duration::milliseconds(1);
    assert!(
        from - slack <= t && t <= to + slack,
        "{t} is not between {from} and {to}"
    );
}

// ---- PostgreSQL ----------------------------------------------------------------------------

/// `TESSERA_TEST_POSTGRES_URL`, or a SKIPPED line on the real stderr and `None`.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    match std::env::var("TESSERA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: TESSERA_TEST_POSTGRES_URL not set ({test})"
            );
            None
        }
    }
}

/// A fresh database `tessera_test_<uuid>`, dropped `WITH (FORCE)` when this is dropped.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// Creates it on the server at `base` (a URL without a database name).
    pub fn create(base: &str) -> Self {
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

/// A throwaway PostgreSQL cluster in a temporary directory, run as the `postgres` user when the
/// tests run as root (initdb refuses root). Stopped when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: TempDir,
    pub port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// The newest `/usr/lib/postgresql/*/bin` with `initdb` and `pg_ctl`.
    fn find_bin() -> Option<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                (bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                    .then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    }

    /// initdb into a new directory; `None` (with a SKIPPED line) without the PostgreSQL tools.
    pub fn init(test: &str) -> Option<Self> {
        let Some(bin) = Self::find_bin() else {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: no initdb/pg_ctl under /usr/lib/postgresql/*/bin ({test})"
            );
            return None;
        };
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = tempfile::tempdir().expect("tempdir");
        if as_postgres {
            let chown = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(chown.success(), "chown postgres: {}", dir.path().display());
        }
        let cluster = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data();
        cluster.tool(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs a PostgreSQL tool (as `postgres` when root) and asserts it succeeded.
    fn tool(&self, name: &str, args: &[&str]) {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        assert!(
            output.status.success(),
            "{name} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        let data = self.data();
        self.tool(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
            ],
        );
    }

    /// `pg_ctl stop -m fast`.
    pub fn stop(&self) {
        let data = self.data();
        self.tool("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn create_database(&self, name: &str) {
        let mut conn = PgConnection::establish(&self.url("postgres")).expect("connect");
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("CREATE DATABASE");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = [
            "-D",
            data.as_str(),
            "-m",
            "immediate",
            "-w",
            "-t",
            "10",
            "stop",
        ];
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // Fails harmlessly when the cluster is not running.
        let _ = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Parses `tessera keys list`: (kid, state) per key, oldest first.
pub fn key_list(run: &Run) -> Vec<(String, String)> {
    run.stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert!(cols.len() >= 4, "unexpected keys list line: {l:?}");
            (cols[0].to_owned(), cols[2].to_owned())
        })
        .collect()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}
