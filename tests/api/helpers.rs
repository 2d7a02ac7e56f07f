//! `spawn_app` and request helpers shared by the test modules.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Once;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::{Client, Response};
use serde_json::{json, Value};
use tempfile::TempDir;
use tessera::clock::Clock;
use tessera::config::Settings;
use tessera::startup::Application;
use tessera::state::AppState;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub backend: Backend,
    pub public: String,
    pub admin: String,
    pub admin_token: String,
    pub clock: Clock,
    pub client: Client,
    pub state: AppState,
    pub dir: TempDir,
    pub sqlite_path: Option<PathBuf>,
    pg_database: Option<(String, String)>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_database.take() {
            if let Ok(mut conn) = PgConnection::establish(&admin_url) {
                let _ =
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn postgres_base() -> Option<String> {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Says once, on the real stderr (test output capture does not hide it), that the PostgreSQL
/// variants were skipped.
fn note_postgres_skipped() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: PostgreSQL backend tests SKIPPED: TESSERA_TEST_POSTGRES_URL is not set \
             (e.g. postgres://postgres@127.0.0.1:5432). Their *_postgres tests pass without running.\n"
        );
    });
}

/// Settings for a test server in `dir` on `backend`; `None` when PostgreSQL is not configured.
pub fn test_settings(
    dir: &TempDir,
    backend: Backend,
) -> Option<(Settings, Option<(String, String)>)> {
    let mut settings = Settings::defaults().unwrap();
    let port = free_port();
    settings.server.public_addr = format!("127.0.0.1:{port}");
    settings.server.admin_addr = "127.0.0.1:0".into();
    settings.server.issuer = format!("http://127.0.0.1:{port}");
    settings.server.workers = 1;
    settings.server.shutdown_timeout_seconds = 1;
    settings.keys.dir = dir.path().join("keys");
    settings.secrets.hash_workers = 2;
    settings.database.pool_max_size = 4;
    settings.database.pool_timeout_seconds = 3;
    settings.database.last_used_flush_seconds = 1;
    let mut pg = None;
    settings.database.url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("tessera.db").display()),
        Backend::Postgres => {
            let base = postgres_base()?;
            let base = base.trim_end_matches('/').to_owned();
            let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
            let admin_url = format!("{base}/postgres");
            let mut conn = PgConnection::establish(&admin_url).unwrap();
            conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .unwrap();
            pg = Some((admin_url, name.clone()));
            format!("{base}/{name}")
        }
    };
    Some((settings, pg))
}

/// Starts a server on `backend`, with one unscoped admin token. `None` when the backend is
/// PostgreSQL and no server is configured.
pub async fn try_spawn(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut settings, pg_database)) = test_settings(&dir, backend) else {
        note_postgres_skipped();
        return None;
    };
    customize(&mut settings);
    let sqlite_path = (backend == Backend::Sqlite).then(|| dir.path().join("tessera.db"));
    let clock = Clock::system();
    let app = Application::build(settings, clock.clone()).await.unwrap();
    let public = format!("http://127.0.0.1:{}", app.public_port());
    let admin = format!("http://127.0.0.1:{}", app.admin_port());
    let state = app.state().clone();
    let pool = state.pool.clone();
    let admin_token = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::create(
            &mut conn,
            "test-admin",
            None,
            chrono::Utc::now(),
        )
        .unwrap()
        .expose()
        .to_owned()
    })
    .await
    .unwrap();
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        backend,
        public,
        admin,
        admin_token,
        clock,
        client: Client::new(),
        state,
        dir,
        sqlite_path,
        pg_database,
    })
}

/// Starts a server with default test settings.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    try_spawn(backend, |_| {}).await
}

/// Generates, for each named `async fn(TestApp)`, a `sqlite::NAME` and a `postgres::NAME` test.
/// `NAME with CUSTOMIZE` starts that test's server with `CUSTOMIZE: fn(&mut Settings)` applied
/// to the test settings (e.g. `es256_tokens with crate::algorithms::es256`).
macro_rules! backend_tests {
    ($($name:ident $(with $customize:path)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = crate::helpers::try_spawn(
                        crate::helpers::Backend::Sqlite,
                        |_settings| { $($customize(_settings);)? },
                    )
                    .await
                    .unwrap();
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = crate::helpers::try_spawn(
                        crate::helpers::Backend::Postgres,
                        |_settings| { $($customize(_settings);)? },
                    )
                    .await
                    {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// A credential as created: its id, client id and secret.
#[derive(Clone, Debug)]
pub struct Cred {
    pub id: String,
    pub client_id: String,
    pub secret: String,
    pub body: Value,
}

impl TestApp {
    pub fn admin_url(&self, path: &str) -> String {
        format!("{}/admin/v1{path}", self.admin)
    }

    pub async fn admin_get(&self, path: &str) -> Response {
        self.client
            .get(self.admin_url(path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_send(&self, method: reqwest::Method, path: &str, body: Value) -> Response {
        self.client
            .request(method, self.admin_url(path))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Response {
        self.admin_send(reqwest::Method::POST, path, body).await
    }

    pub async fn admin_patch(&self, path: &str, body: Value) -> Response {
        self.admin_send(reqwest::Method::PATCH, path, body).await
    }

    /// Asserts the status and returns the JSON body.
    pub async fn expect(response: Response, status: u16) -> Value {
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "unexpected status; body: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn create_account(&self, name: &str) -> String {
        let body = Self::expect(
            self.admin_post("/accounts", json!({"name": name})).await,
            201,
        )
        .await;
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_workspace(&self, account_id: &str, name: &str) -> String {
        let path = format!("/accounts/{account_id}/workspaces");
        let body = Self::expect(self.admin_post(&path, json!({"name": name})).await, 201).await;
        body["id"].as_str().unwrap().to_owned()
    }

    fn cred(body: Value) -> Cred {
        Cred {
            id: body["id"].as_str().unwrap().to_owned(),
            client_id: body["client_id"].as_str().unwrap().to_owned(),
            secret: body["client_secret"].as_str().unwrap().to_owned(),
            body,
        }
    }

    pub async fn account_credential(&self, account_id: &str, extra: Value) -> Cred {
        let mut body = json!({"name": "account key"});
        merge(&mut body, extra);
        let path = format!("/accounts/{account_id}/credentials");
        Self::cred(Self::expect(self.admin_post(&path, body).await, 201).await)
    }

    pub async fn workspace_credential(&self, workspace_id: &str, role: &str, extra: Value) -> Cred {
        let mut body = json!({"name": "workspace key", "role": role});
        merge(&mut body, extra);
        let path = format!("/workspaces/{workspace_id}/credentials");
        Self::cred(Self::expect(self.admin_post(&path, body).await, 201).await)
    }

    /// An account with one account credential.
    pub async fn account_with_key(&self) -> (String, Cred) {
        let account = self.create_account("Acme").await;
        let cred = self.account_credential(&account, json!({})).await;
        (account, cred)
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.public)
    }

    /// A JSON token request with `extra` merged in.
    pub async fn token_json(&self, client_id: &str, secret: &str, extra: Value) -> Response {
        let mut body = json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret});
        merge(&mut body, extra);
        self.client
            .post(self.token_url())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The access token of a successful request.
    pub async fn token(&self, cred: &Cred) -> String {
        let body = Self::expect(
            self.token_json(&cred.client_id, &cred.secret, json!({}))
                .await,
            200,
        )
        .await;
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn jwks(&self) -> Value {
        let r = self
            .client
            .get(format!("{}/.well-known/jwks.json", self.public))
            .send()
            .await
            .unwrap();
        Self::expect(r, 200).await
    }

    /// Verifies `token` against the published JWKS; returns its claims.
    pub async fn verify(&self, token: &str) -> Value {
        let jwks = self.jwks().await;
        let header = jsonwebtoken::decode_header(token).unwrap();
        let kid = header.kid.unwrap();
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
        // The key's JWK alone says how to verify: its `alg`, and the members of its `kty`.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let alg: jsonwebtoken::Algorithm = key["alg"].as_str().unwrap().parse().unwrap();
        assert_eq!(header.alg, alg, "the token's alg is its key's");
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&["https://api.example.test/"]);
        v.set_issuer(&[self.state.settings.server.issuer.as_str()]);
        jsonwebtoken::decode::<Value>(token, &dk, &v)
            .unwrap()
            .claims
    }

    /// `POST /oauth/introspect` with the admin token; the answer's JSON.
    pub async fn introspect(&self, token: &str) -> Value {
        let r = self
            .client
            .post(format!("{}/oauth/introspect", self.public))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        Self::expect(r, 200).await
    }

    /// Every byte of the database (SQLite file and WAL) or a dump of every table (PostgreSQL).
    pub async fn database_bytes(&self) -> Vec<u8> {
        match &self.sqlite_path {
            Some(path) => {
                let mut all = std::fs::read(path).unwrap();
                let wal = path.with_extension("db-wal");
                if let Ok(bytes) = std::fs::read(wal) {
                    all.extend(bytes);
                }
                all
            }
            None => {
                let pool = self.state.pool.clone();
                tokio::task::spawn_blocking(move || {
                    use diesel::RunQueryDsl;
                    #[derive(diesel::QueryableByName)]
                    struct Row {
                        #[diesel(sql_type = diesel::sql_types::Text)]
                        t: String,
                    }
                    let mut conn = pool.get().unwrap();
                    let mut out = Vec::new();
                    for table in [
                        "accounts",
                        "workspaces",
                        "credentials",
                        "credential_secrets",
                        "admin_tokens",
                        "audit_events",
                        "revoked_tokens",
                    ] {
                        let rows: Vec<Row> = diesel::sql_query(format!(
                            "SELECT row_to_json(x)::text AS t FROM {table} x"
                        ))
                        .load(&mut **conn)
                        .unwrap();
                        for r in rows {
                            out.extend(r.t.into_bytes());
                        }
                    }
                    out
                })
                .await
                .unwrap()
            }
        }
    }
}

/// Another replica of a running server: its own listeners and state, on the same database,
/// keys and clock.
pub struct Replica {
    pub public: String,
    pub admin: String,
    pub state: AppState,
}

impl TestApp {
    /// Stops the clock at 200 ms into the next whole second and returns that second.
    pub fn freeze(&self) -> i64 {
        let second = self.clock.now().timestamp() + 1;
        self.at(second, 200);
        second
    }

    /// Sets the (frozen) clock to `second` + `millis`.
    pub fn at(&self, second: i64, millis: u32) {
        self.clock
            .set(chrono::DateTime::from_timestamp(second, millis * 1_000_000).unwrap());
    }

    /// Starts a second server on this one's database, keys and clock.
    pub async fn replica(&self) -> Replica {
        let mut settings = (*self.state.settings).clone();
        settings.server.public_addr = "127.0.0.1:0".into();
        settings.server.admin_addr = "127.0.0.1:0".into();
        let app = Application::build(settings, self.clock.clone())
            .await
            .unwrap();
        let replica = Replica {
            public: format!("http://127.0.0.1:{}", app.public_port()),
            admin: format!("http://127.0.0.1:{}", app.admin_port()),
            state: app.state().clone(),
        };
        tokio::spawn(app.run_until_stopped());
        replica
    }

    /// `GET /oauth/revocations` at `base` with `query` (e.g. `?since=…`); the response.
    pub async fn feed_response(&self, base: &str, query: &str) -> Response {
        self.client
            .get(format!("{base}/oauth/revocations{query}"))
            .send()
            .await
            .unwrap()
    }

    /// The complete feed of this server.
    pub async fn feed(&self) -> Value {
        Self::expect(self.feed_response(&self.public, "").await, 200).await
    }

    /// A token request at `base` for `cred`; the JSON body of a 200.
    pub async fn token_at(&self, base: &str, cred: &Cred) -> Value {
        let r = self
            .client
            .post(format!("{base}/oauth/token"))
            .json(&json!({"grant_type": "client_credentials", "client_id": cred.client_id, "client_secret": cred.secret}))
            .send()
            .await
            .unwrap();
        Self::expect(r, 200).await
    }

    /// Introspection at `base` with the admin token: whether `token` is active.
    pub async fn active_at(&self, base: &str, token: &str) -> bool {
        let r = self
            .client
            .post(format!("{base}/oauth/introspect"))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .unwrap();
        Self::expect(r, 200).await["active"].as_bool().unwrap()
    }
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
