//! [`OidcIssuer`]: a local OpenID Connect identity provider for federation tests, standing in for
//! a CI system's or a cluster's token issuer.
//!
//! It listens on `127.0.0.1:0` (so its issuer is `http://127.0.0.1:PORT`, which trust rules
//! accept as a loopback issuer), serves its discovery document at
//! `/.well-known/openid-configuration` and its keys at `/jwks`, counts the requests to every
//! path, and signs tokens with keys it generates: an RSA-2048 key (RS256) that
//! [`rotate`](OidcIssuer::rotate) replaces, and a P-256 key (ES256). Any path's answer can be
//! replaced (a wrong status or body, a discovery document naming another issuer, a body over a
//! size limit, or no answer at all) to test refusals and timeouts.
//!
//! A plain thread per connection (std only), so it works under any runtime, including a test
//! that blocks one; it stops when dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

/// Where the issuer serves its discovery document.
pub const OIDC_DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Where the issuer serves its JWK Set.
pub const OIDC_JWKS_PATH: &str = "/jwks";

/// An answer that replaces what the issuer would serve at a path.
#[derive(Clone, Debug)]
pub enum OidcReply {
    /// This status and body, `Content-Type: application/json`.
    Json {
        /// The HTTP status.
        status: u16,
        /// The body, sent as is.
        body: String,
    },
    /// Accept the connection, read the request, and never answer (until the issuer is dropped).
    Hang,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A signing key of the issuer and its public JWK.
struct TestKey {
    kid: String,
    signer: Signer,
    jwk: Value,
}

impl TestKey {
    fn rsa() -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA-2048 key");
        let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let (n, e) = (B64.encode(&components.n), B64.encode(&components.e));
        let kid = tessera_guard::rsa_thumbprint(&n, &e);
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        Self {
            kid,
            signer: Signer::Rsa(pair),
            jwk,
        }
    }

    fn ec() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a P-256 key");
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        let kid = tessera_guard::p256_thumbprint(&x, &y);
        let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid, "x": x, "y": y});
        Self {
            kid,
            signer: Signer::Ec(pair),
            jwk,
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
                    .expect("an RS256 signature");
                signature
            }
            Signer::Ec(pair) => pair
                .sign(&rng, input)
                .expect("an ES256 signature")
                .as_ref()
                .to_vec(),
        }
    }
}

struct State {
    /// The RSA key `issue` signs with.
    current: Arc<TestKey>,
    /// Earlier RSA keys still published (after `rotate_keeping_previous`).
    previous: Vec<Arc<TestKey>>,
    /// The ES256 key, always published.
    ec: Arc<TestKey>,
    /// The `issuer` the discovery document states, if not the real one.
    discovery_issuer: Option<String>,
    /// Answers that replace the normal ones, by path.
    replies: HashMap<String, OidcReply>,
}

struct Shared {
    issuer: String,
    state: Mutex<State>,
    hits: Mutex<HashMap<String, usize>>,
    stop: AtomicBool,
}

/// A local OpenID Connect issuer: see the module documentation.
pub struct OidcIssuer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for OidcIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIssuer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl OidcIssuer {
    /// Generates its keys and starts serving on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            state: Mutex::new(State {
                current: Arc::new(TestKey::rsa()),
                previous: Vec::new(),
                ec: Arc::new(TestKey::ec()),
                discovery_issuer: None,
                replies: HashMap::new(),
            }),
            hits: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve(stream, &shared));
                    }
                }
            })
        };
        Self {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// Its issuer URL, `http://127.0.0.1:PORT` (no trailing slash): the `iss` of its tokens.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The URL of its JWK Set (what its discovery document names).
    pub fn jwks_uri(&self) -> String {
        format!("{}{OIDC_JWKS_PATH}", self.shared.issuer)
    }

    /// The URL of its discovery document.
    pub fn discovery_url(&self) -> String {
        format!("{}{OIDC_DISCOVERY_PATH}", self.shared.issuer)
    }

    /// The `kid` of the RSA key [`issue`](Self::issue) signs with now.
    pub fn kid(&self) -> String {
        self.state().current.kid.clone()
    }

    /// The `kid` of its ES256 key.
    pub fn es256_kid(&self) -> String {
        self.state().ec.kid.clone()
    }

    /// Claims a typical workload token has: its `iss`, `sub`, `aud`, `iat` and `nbf` now, `exp`
    /// in five minutes, a fresh `jti`.
    pub fn claims(&self, subject: &str, audience: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer(),
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    /// A token with `claims`, signed RS256 with the current RSA key (header `alg`, `typ: JWT`,
    /// `kid`).
    pub fn issue(&self, claims: &Value) -> String {
        let key = self.state().current.clone();
        sign(
            &key,
            &json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}),
            claims,
        )
    }

    /// A token with `claims`, signed ES256 with the P-256 key.
    pub fn issue_es256(&self, claims: &Value) -> String {
        let key = self.state().ec.clone();
        sign(
            &key,
            &json!({"alg": "ES256", "typ": "JWT", "kid": key.kid}),
            claims,
        )
    }

    /// A token with exactly this `header` and `claims`, signed with the current RSA key's RS256
    /// whatever the header says (to test a wrong `kid`, `alg` or a `crit`).
    pub fn issue_with_header(&self, header: &Value, claims: &Value) -> String {
        let key = self.state().current.clone();
        sign(&key, header, claims)
    }

    /// Replaces the RSA key by a new one (new `kid`); only the new one (and the ES256 key) is
    /// published from now on. Returns the new `kid`.
    pub fn rotate(&self) -> String {
        let key = Arc::new(TestKey::rsa());
        let mut state = self.state();
        state.previous.clear();
        state.current = key;
        state.current.kid.clone()
    }

    /// Like [`rotate`](Self::rotate), but the previous RSA key stays published too.
    pub fn rotate_keeping_previous(&self) -> String {
        let key = Arc::new(TestKey::rsa());
        let mut state = self.state();
        let old = std::mem::replace(&mut state.current, key);
        state.previous.push(old);
        state.current.kid.clone()
    }

    /// Makes the discovery document state `issuer` (`None`: its own again).
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        self.state().discovery_issuer = issuer.map(str::to_owned);
    }

    /// Answers requests for `path` with `reply` instead of the normal answer.
    pub fn set_reply(&self, path: &str, reply: OidcReply) {
        self.state().replies.insert(path.to_owned(), reply);
    }

    /// Answers `path` normally again.
    pub fn clear_reply(&self, path: &str) {
        self.state().replies.remove(path);
    }

    /// Requests received for `path` (query strings ignored), whatever the answer.
    pub fn requests(&self, path: &str) -> usize {
        self.shared
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests received for the discovery document.
    pub fn discovery_requests(&self) -> usize {
        self.requests(OIDC_DISCOVERY_PATH)
    }

    /// Requests received for the JWK Set.
    pub fn jwks_requests(&self) -> usize {
        self.requests(OIDC_JWKS_PATH)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `base64url(header).base64url(claims).base64url(signature)`.
fn sign(key: &TestKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = B64.encode(key.sign(input.as_bytes()));
    format!("{input}.{signature}")
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&request);
    let target = text.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_owned();
    *shared.hits.lock().unwrap().entry(path.clone()).or_default() += 1;

    let (status, body) = {
        let state = shared.state.lock().unwrap();
        match state.replies.get(&path).cloned() {
            Some(OidcReply::Json { status, body }) => (status, body),
            Some(OidcReply::Hang) => {
                drop(state);
                let until = Instant::now() + Duration::from_secs(120);
                while !shared.stop.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            None if path == OIDC_DISCOVERY_PATH => {
                let issuer = state
                    .discovery_issuer
                    .clone()
                    .unwrap_or_else(|| shared.issuer.clone());
                let document = json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{}{OIDC_JWKS_PATH}", shared.issuer),
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                });
                (200, document.to_string())
            }
            None if path == OIDC_JWKS_PATH => {
                let keys: Vec<Value> = std::iter::once(&state.current)
                    .chain(&state.previous)
                    .chain(std::iter::once(&state.ec))
                    .map(|key| key.jwk.clone())
                    .collect();
                (200, json!({ "keys": keys }).to_string())
            }
            None => (404, json!({"error": "not_found"}).to_string()),
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}
