//! `tessera serve` as a child process: started on ports it picks itself, learnt from its start-up
//! log line, and talked to over HTTP and signals.

use std::fs::File;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use serde_json::{json, Value};

use super::jwt::kids;
use super::process::{Install, Proc};
use super::POLL_LIMIT;

/// How long a SIGTERMed server may take to exit.
pub const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A credential as created: row id, client id and secret.
#[derive(Clone, Debug)]
pub struct Cred {
    pub id: String,
    pub client_id: String,
    pub secret: String,
}

impl Install {
    /// Starts `tessera serve` on free ports and waits for `/healthz`.
    pub async fn serve(&self) -> Server {
        self.serve_with(&[]).await
    }

    /// Starts `tessera serve` with extra variables (`RUST_LOG` among them overrides `info`, and
    /// must keep `info` for `tessera::startup`).
    ///
    /// No port is probed and released before the server binds it (a parallel test could take it
    /// meanwhile): both listeners bind `127.0.0.1:0`, the issuer is left empty so that it is the
    /// public listener's bound address, and the ports are read from the start-up log line
    /// `public listener on port P, admin listener on port A, …`.
    pub async fn serve_with(&self, extra: &[(&str, &str)]) -> Server {
        let mut env: Vec<(&str, &str)> = vec![
            ("TESSERA__SERVER__PUBLIC_ADDR", "127.0.0.1:0"),
            ("TESSERA__SERVER__ADMIN_ADDR", "127.0.0.1:0"),
            ("TESSERA__SERVER__ISSUER", ""),
        ];
        env.extend_from_slice(extra);
        let configured_issuer = env
            .iter()
            .rev()
            .find(|(k, _)| *k == "TESSERA__SERVER__ISSUER")
            .map(|(_, v)| v.trim_end_matches('/').to_owned())
            .filter(|v| !v.is_empty());
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
                label: format!("tessera serve #{n}"),
                output: log,
            },
            public: String::new(),
            admin: String::new(),
            issuer: String::new(),
            client: Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        };
        let (public_port, admin_port) = server
            .wait_listening()
            .await
            .unwrap_or_else(|log| panic!("tessera serve did not start listening:\n{log}"));
        server.proc.label =
            format!("tessera serve #{n} (public {public_port}, admin {admin_port})");
        server.public = format!("http://127.0.0.1:{public_port}");
        server.admin = format!("http://127.0.0.1:{admin_port}");
        server.issuer = configured_issuer.unwrap_or_else(|| server.public.clone());
        if let Err(log) = server.wait_healthy().await {
            panic!("tessera serve did not become healthy:\n{log}");
        }
        server
    }
}

/// The ports of the start-up line `public listener on port P, admin listener on port A, …`.
fn listening_ports(log: &str) -> Option<(u16, u16)> {
    let line = log
        .lines()
        // Whole: the database comes last, so a line still being written is not read.
        .find(|l| l.contains("public listener on port ") && l.contains(", database "))?;
    let number_after = |marker: &str| -> Option<u16> {
        let rest = &line[line.find(marker)? + marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some((
        number_after("public listener on port ")?,
        number_after("admin listener on port ")?,
    ))
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

    /// Waits for the start-up line naming the bound ports; `Err` with the log when the process
    /// exits first or says nothing within [`POLL_LIMIT`].
    async fn wait_listening(&mut self) -> Result<(u16, u16), String> {
        let deadline = Instant::now() + POLL_LIMIT;
        while Instant::now() < deadline {
            if let Some(ports) = listening_ports(&self.log()) {
                return Ok(ports);
            }
            if let Some(status) = self.proc.try_wait() {
                return Err(format!("exited with {status}:\n{}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "no listening line within {POLL_LIMIT:?}:\n{}",
            self.log()
        ))
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
