//! Starting a server (through `tessera::testing`, the one way tests start an issuer) and the
//! request helpers shared by the test modules.

use reqwest::{Client, Response};
use serde_json::{json, Value};
use tessera::config::Settings;
pub use tessera::testing::Backend;
use tessera::testing::TestIssuer;

/// A running server and what a test needs to talk to it: the issuer's handle (URLs, admin token,
/// clock, state, directory; see `tessera::testing::TestIssuer`) and an HTTP client.
pub struct TestApp {
    pub issuer: TestIssuer,
    pub client: Client,
}

impl std::ops::Deref for TestApp {
    type Target = TestIssuer;

    fn deref(&self) -> &TestIssuer {
        &self.issuer
    }
}

/// What every test server here has on top of `tessera::testing::settings`: two hashing workers
/// and last-used times flushed every second.
fn test_defaults(settings: &mut Settings) {
    settings.secrets.hash_workers = 2;
    settings.database.last_used_flush_seconds = 1;
}

/// For tests that flush usage themselves (`TestIssuer::flush_usage`) and must not race the
/// periodic flush: it never comes within a test.
pub fn manual_flush(settings: &mut Settings) {
    settings.database.last_used_flush_seconds = 3600;
}

/// Starts a server on `backend`, with one unscoped admin token. `None`, after a SKIPPED line
/// naming the test (a panic under `TESSERA_REQUIRE_ALL=1`), when the backend is PostgreSQL and
/// no server is configured.
pub async fn try_spawn(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let issuer = TestIssuer::start(backend, |settings| {
        test_defaults(settings);
        customize(settings);
    })
    .await?;
    Some(TestApp {
        issuer,
        client: Client::new(),
    })
}

/// Starts a server with default test settings.
pub async fn spawn(backend: Backend) -> Option<TestApp> {
    try_spawn(backend, |_| {}).await
}

/// Generates, for each named `async fn(TestApp)`, a `sqlite::NAME` and a `postgres::NAME` test
/// (the latter with the `postgres` cargo feature only, a default).
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
        #[cfg(feature = "postgres")]
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

    /// `PATCH path` (an account's or a workspace's) with `{"status": status}`; asserts 200 and
    /// the new status, and returns the body.
    pub async fn set_status(&self, path: &str, status: &str) -> Value {
        let body = Self::expect(self.admin_patch(path, json!({"status": status})).await, 200).await;
        assert_eq!(body["status"], status, "PATCH {path}: {body}");
        body
    }

    pub async fn suspend_account(&self, account_id: &str) -> Value {
        self.set_status(&format!("/accounts/{account_id}"), "suspended")
            .await
    }

    pub async fn reactivate_account(&self, account_id: &str) -> Value {
        self.set_status(&format!("/accounts/{account_id}"), "active")
            .await
    }

    pub async fn suspend_workspace(&self, workspace_id: &str) -> Value {
        self.set_status(&format!("/workspaces/{workspace_id}"), "suspended")
            .await
    }

    pub async fn reactivate_workspace(&self, workspace_id: &str) -> Value {
        self.set_status(&format!("/workspaces/{workspace_id}"), "active")
            .await
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
