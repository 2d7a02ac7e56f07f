//! Harness for `with_issuer.rs`: the real Tessera issuer started in-process on free ports, with a
//! fresh SQLite database and key directory, and the `resource_server` example run as a child
//! process against it.
//!
//! Everything is bounded: start-up waits, polling loops and HTTP requests all give up after a
//! few seconds with a message that says what was being waited for (and, for the example, what it
//! logged).

#![allow(dead_code)] // not every test uses every helper

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};
use tempfile::TempDir;
use tessera::config::Settings;
use tessera::state::AppState;
use tessera::testing::{Backend, TestIssuer};

/// The audience the issuer binds credentials to by default, and the example expects.
pub const AUDIENCE: &str = "https://api.example.test/";

/// How long the example has to start and answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Per-request timeout of the test's own HTTP client.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> Client {
    Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// The current time in Unix seconds, on the clock the issuer uses.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Waits (at most ~1.1 s) until the wall clock is past second `t`. Feed entries are whole
/// seconds; an issuer that sets `revoked_before` to the revoking event's own second (rather
/// than the second after it) leaves a token issued in that second valid, so a test that revokes
/// does it in a later second than the tokens it expects to be refused, whichever issuer runs.
pub async fn wait_past_second(t: i64) {
    let deadline = Instant::now() + Duration::from_millis(1_500);
    while unix_now() <= t {
        assert!(Instant::now() < deadline, "the clock did not move past {t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A credential as created through the admin API.
#[derive(Clone, Debug)]
pub struct Cred {
    pub id: String,
    pub client_id: String,
    pub secret: String,
}

/// The issuer, running in this process (its HTTP servers run on their own threads), started the
/// one way tests start an issuer: `tessera::testing::TestIssuer`.
pub struct Issuer {
    /// The public listener's base URL, which is also the `iss` of its tokens.
    pub url: String,
    pub issuer: TestIssuer,
    pub client: Client,
}

impl Issuer {
    /// Starts an issuer on free ports with a fresh SQLite database and key directory, and creates
    /// an unscoped admin token.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`start`](Self::start), with `customize` applied to the settings first.
    pub async fn start_with(customize: impl FnOnce(&mut Settings)) -> Self {
        let issuer = TestIssuer::start(Backend::Sqlite, |settings| {
            settings.secrets.hash_workers = 1;
            assert_eq!(
                settings.tokens.audiences.first().map(String::as_str),
                Some(AUDIENCE)
            );
            customize(settings);
        })
        .await
        .expect("a SQLite issuer always starts");
        assert_eq!(
            issuer.issuer(),
            issuer.public,
            "the issuer is its public URL"
        );
        Self {
            url: issuer.public.clone(),
            issuer,
            client: client(),
        }
    }

    /// Its directory (keys, database, the example's logs).
    pub fn dir(&self) -> &Path {
        self.issuer.dir.path()
    }

    pub fn state(&self) -> &AppState {
        &self.issuer.state
    }

    async fn admin_call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/admin/v1{path}", self.issuer.admin);
        let response = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&self.issuer.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {path} answered {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        self.admin_call(reqwest::Method::POST, path, body).await
    }

    pub async fn create_account(&self, name: &str) -> String {
        let body = self.admin_post("/accounts", json!({"name": name})).await;
        body["id"].as_str().expect("an account id").to_owned()
    }

    pub async fn create_workspace(&self, account_id: &str, name: &str) -> String {
        let path = format!("/accounts/{account_id}/workspaces");
        let body = self.admin_post(&path, json!({"name": name})).await;
        body["id"].as_str().expect("a workspace id").to_owned()
    }

    fn cred(body: &Value) -> Cred {
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} missing in {body}"))
                .to_owned()
        };
        Cred {
            id: field("id"),
            client_id: field("client_id"),
            secret: field("client_secret"),
        }
    }

    pub async fn account_credential(&self, account_id: &str) -> Cred {
        let path = format!("/accounts/{account_id}/credentials");
        Self::cred(&self.admin_post(&path, json!({"name": "account key"})).await)
    }

    pub async fn workspace_credential(&self, workspace_id: &str, role: &str) -> Cred {
        let path = format!("/workspaces/{workspace_id}/credentials");
        let body = json!({"name": format!("{role} key"), "role": role});
        Self::cred(&self.admin_post(&path, body).await)
    }

    pub async fn deactivate(&self, cred: &Cred) {
        let path = format!("/credentials/{}/deactivate", cred.id);
        self.admin_post(&path, json!({})).await;
    }

    /// `active` or `suspended`.
    pub async fn set_account_status(&self, account_id: &str, status: &str) {
        let path = format!("/accounts/{account_id}");
        let body = self
            .admin_call(reqwest::Method::PATCH, &path, json!({"status": status}))
            .await;
        assert_eq!(body["status"], status, "PATCH {path}: {body}");
    }

    /// A fresh access token for `cred` (client credentials, JSON form, default audience).
    pub async fn token(&self, cred: &Cred) -> String {
        let response = self
            .client
            .post(format!("{}/oauth/token", self.url))
            .json(&json!({
                "grant_type": "client_credentials",
                "client_id": cred.client_id,
                "client_secret": cred.secret,
            }))
            .send()
            .await
            .expect("POST /oauth/token");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "token request failed: {text}");
        let body: Value = serde_json::from_str(&text).expect("a JSON token response");
        body["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }

    /// Makes a new signing key the signer, as `tessera keys rotate` followed by a reload does.
    pub fn rotate_signing_key(&self) {
        let state = self.state();
        tessera::crypto::keys::generate(
            &state.settings.keys.dir,
            state.settings.keys.algorithm,
            unix_now() + 1,
        )
        .expect("a new signing key");
        assert!(
            state.keys.reload().expect("the key directory reloads"),
            "the reload did not pick up the new key"
        );
    }
}

/// The `kid` in a token's header.
pub fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT header")
        .kid
        .expect("a kid")
}

/// Where cargo put the `resource_server` example of this build: `target/<profile>/examples/`,
/// next to `target/<profile>/deps/` where this test executable lives. `cargo test` builds a
/// package's examples before running its tests; when the binary is missing (e.g. only this test
/// target was built), it is built here. Note that `cargo test --test with_issuer` alone does not
/// rebuild the example: after changing it, run `cargo test -p tessera-guard` (or build it).
fn example_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test executable's path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>/deps/<test>");
            let binary = profile_dir
                .join("examples")
                .join(format!("resource_server{}", std::env::consts::EXE_SUFFIX));
            if !binary.exists() {
                let mut build = Command::new(env!("CARGO"));
                build.args([
                    "build",
                    "-p",
                    "tessera-guard",
                    "--example",
                    "resource_server",
                ]);
                if profile_dir.file_name().is_some_and(|n| n == "release") {
                    build.arg("--release");
                }
                let status = build.status().expect("cargo runs");
                assert!(status.success(), "building the example failed: {status}");
            }
            assert!(
                binary.exists(),
                "the example binary is not at {}",
                binary.display()
            );
            binary
        })
        .clone()
}

/// What the example answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// `WWW-Authenticate`, if any.
    pub challenge: Option<String>,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Reply {
    /// Asserts a 401 with an `invalid_token` challenge.
    pub fn assert_invalid_token(&self, what: &str) {
        assert_eq!(self.status, 401, "{what}: {self:?}");
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
            "{what}: {self:?}"
        );
        assert_eq!(self.body["error"], "invalid_token", "{what}: {self:?}");
    }

    /// Asserts a 403 with an `insufficient_scope` challenge.
    pub fn assert_forbidden(&self, what: &str) {
        assert_eq!(self.status, 403, "{what}: {self:?}");
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(r#"error="insufficient_scope""#),
            "{what}: {self:?}"
        );
        assert_eq!(self.body["error"], "insufficient_scope", "{what}: {self:?}");
    }

    pub fn assert_ok(&self, what: &str) {
        assert_eq!(self.status, 200, "{what}: {self:?}");
    }
}

/// The `resource_server` example, running as a child process; killed on drop.
pub struct ResourceServer {
    child: Child,
    pub url: String,
    log: PathBuf,
    client: Client,
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ResourceServer {
    /// Starts the example against `issuer` with `AUDIENCE`, `FEED_POLL_SECONDS=1`, a free port
    /// and the extra environment `env`; returns once `/health` answers 200. Its stderr goes to
    /// a file in the issuer's temporary directory, quoted when something goes wrong.
    pub async fn start(issuer: &Issuer, env: &[(&str, &str)]) -> Self {
        Self::start_at(&issuer.url, issuer.dir(), env).await
    }

    /// Like [`start`](Self::start), against the issuer at `issuer_url`, logging into `dir`.
    pub async fn start_at(issuer_url: &str, dir: &Path, env: &[(&str, &str)]) -> Self {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("resource_server-{n}.log"));
        let stderr = File::create(&log).expect("the example's log file");
        // Port 0: the example binds a free port and says which (`listening on http://…`).
        let child = Command::new(example_binary())
            .env("ISSUER_URL", issuer_url)
            .env("AUDIENCE", AUDIENCE)
            .env("PORT", "0")
            .env("FEED_POLL_SECONDS", "1")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the example starts");
        // From here on, `Drop` kills the child whatever happens.
        let mut server = Self {
            child,
            url: String::new(), // known once the example says where it listens
            log,
            client: client(),
        };
        let listening = server.forward_stdout();
        server.wait_until_healthy(&listening).await;
        server
    }

    /// Reads the child's stdout on a thread (so the pipe never fills) and passes on the address
    /// it prints once bound.
    fn forward_stdout(&mut self) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = self.child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(address) = line.strip_prefix("listening on ") {
                        let _ = tx.send(address.trim().to_owned());
                    }
                }
            });
        }
        rx
    }

    async fn wait_until_healthy(&mut self, listening: &mpsc::Receiver<String>) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the example exited with {status} before it was ready; its log:\n{}",
                    self.log()
                );
            }
            if self.url.is_empty() {
                if let Ok(address) = listening.try_recv() {
                    assert!(
                        address.starts_with("http://127.0.0.1:"),
                        "the example bound {address}"
                    );
                    self.url = address;
                }
            }
            let health = if self.url.is_empty() {
                None
            } else {
                Some(
                    self.client
                        .get(format!("{}/health", self.url))
                        .timeout(Duration::from_secs(1))
                        .send()
                        .await,
                )
            };
            if health.is_some_and(|h| h.is_ok_and(|r| r.status() == 200)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the example did not answer /health within {START_TIMEOUT:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the example wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` with an optional bearer token and `X-User-Id`.
    pub async fn get(&self, path: &str, token: Option<&str>, user: Option<&str>) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(user) = user {
            request = request.header("X-User-Id", user);
        }
        self.send(request).await
    }

    /// Sends a prepared request (for unusual `Authorization` headers).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap_or_else(|e| {
            panic!(
                "request to the example failed: {e}; its log:\n{}",
                self.log()
            )
        });
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or("<not ASCII>").to_owned())
        };
        let challenge = header(reqwest::header::WWW_AUTHENTICATE);
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            challenge,
            retry_after,
            body,
        }
    }

    /// A request builder for `path` (to set headers by hand).
    pub fn request(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.url))
    }

    /// Repeats `GET path` with `token` until it answers `status`, for at most `within`; returns
    /// that reply and how long it took.
    pub async fn wait_for_status(
        &self,
        path: &str,
        token: &str,
        status: u16,
        within: Duration,
    ) -> (Reply, Duration) {
        let start = Instant::now();
        loop {
            let reply = self.get(path, Some(token), None).await;
            if reply.status == status {
                return (reply, start.elapsed());
            }
            assert!(
                start.elapsed() < within,
                "GET {path} still answers {} instead of {status} after {within:?}: {reply:?}; \
                 the example's log:\n{}",
                reply.status,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Repeats `GET path` (no token) until it answers `status`, for at most `within`.
pub async fn wait_for_plain_status(
    server: &ResourceServer,
    path: &str,
    status: u16,
    within: Duration,
) -> Reply {
    let start = Instant::now();
    loop {
        let reply = server.get(path, None, None).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            start.elapsed() < within,
            "GET {path} still answers {} instead of {status} after {within:?}: {reply:?}; \
             the example's log:\n{}",
            reply.status,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// TEST-ONLY keys of the guard's unit tests, never used outside tests.
const MOCK_PRIVATE_KEY: &str = include_str!("../../src/test_keys/test_key_a_private.pem");
const MOCK_PUBLIC_KEY: &str = include_str!("../../src/test_keys/test_key_a_public.pem");

/// A stand-in issuer whose revocation feed the test controls: it serves the JWKS of a test key
/// and `/oauth/revocations` with whatever status and body the test set, and signs tokens with
/// that key. (The real issuer cannot be told to stop answering its feed.) Stops when dropped.
pub struct MockIssuer {
    pub url: String,
    pub dir: TempDir,
    feed: std::sync::Arc<std::sync::Mutex<(u16, String)>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    addr: std::net::SocketAddr,
    kid: String,
}

impl MockIssuer {
    /// Starts it with the feed answering 503.
    pub fn start() -> Self {
        use std::io::{Read as _, Write as _};
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let public = tessera_guard::PublicKey::from_rsa_pem(MOCK_PUBLIC_KEY.as_bytes())
            .expect("the test public key");
        let (n, e) = public.rsa_components().expect("an RSA key");
        let kid = public.kid().to_owned();
        let jwks = json!({"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e}]})
            .to_string();
        let feed = std::sync::Arc::new(std::sync::Mutex::new((503, "{}".to_owned())));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (feed, stop) = (feed.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let target = text.split_whitespace().nth(1).unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/");
                    let (status, body) = match path {
                        "/.well-known/jwks.json" => (200, jwks.clone()),
                        "/oauth/revocations" => feed.lock().expect("the feed").clone(),
                        _ => (404, "{}".to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes());
                }
            });
        }
        Self {
            url: format!("http://{addr}"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            feed,
            stop,
            addr,
            kid,
        }
    }

    /// What `/oauth/revocations` answers from now on.
    pub fn set_feed(&self, status: u16, body: Value) {
        *self.feed.lock().expect("the feed") = (status, body.to_string());
    }

    /// A token for `AUDIENCE`, issued now: a workspace token when `workspace_id` is given (with
    /// `role`), else an account token.
    pub fn token(&self, account_id: &str, workspace_id: Option<&str>, role: &str) -> String {
        let now = unix_now();
        let client_id = if workspace_id.is_some() {
            "wk_mock0000000000000000"
        } else {
            "ak_mock0000000000000000"
        };
        let mut claims = json!({
            "iss": self.url, "sub": client_id, "client_id": client_id, "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 600, "jti": format!("jti-{now}-{role}"),
            "roles": [role], "account_id": account_id,
            "key_type": if workspace_id.is_some() { "workspace" } else { "account" },
        });
        if let Some(ws) = workspace_id {
            claims["workspace_id"] = json!(ws);
            claims["scope"] = json!("content:read");
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(self.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(MOCK_PRIVATE_KEY.as_bytes())
            .expect("the test private key");
        jsonwebtoken::encode(&header, &claims, &key).expect("a signed token")
    }
}

impl Drop for MockIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}
