//! Test helpers: fixed test keys, a token builder that can produce any header or claims, and a
//! tiny HTTP server (std only) standing in for the issuer.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use crate::{Guard, GuardConfig, PublicKey, RevocationFeed, StaticKeyStore};

// TEST-ONLY RSA-2048 keys (generated with `openssl genpkey`), never used outside these tests.
pub const TEST_KEY_A_PRIVATE: &str = include_str!("../test_keys/test_key_a_private.pem");
pub const TEST_KEY_A_PUBLIC: &str = include_str!("../test_keys/test_key_a_public.pem");
pub const TEST_KEY_B_PRIVATE: &str = include_str!("../test_keys/test_key_b_private.pem");
pub const TEST_KEY_B_PUBLIC: &str = include_str!("../test_keys/test_key_b_public.pem");
// TEST-ONLY EC P-256 and Ed25519 keys (`openssl genpkey`), for ES256 and EdDSA.
pub const TEST_KEY_EC_PRIVATE: &str = include_str!("../test_keys/test_key_ec_private.pem");
pub const TEST_KEY_EC_PUBLIC: &str = include_str!("../test_keys/test_key_ec_public.pem");
pub const TEST_KEY_ED_PRIVATE: &str = include_str!("../test_keys/test_key_ed25519_private.pem");
pub const TEST_KEY_ED_PUBLIC: &str = include_str!("../test_keys/test_key_ed25519_public.pem");

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "https://api.test/";
/// A fixed "now" for deterministic tests (2025-11-22).
pub const NOW: i64 = 1_763_800_000;
pub const LIFETIME: i64 = 3600;

pub fn public_key_a() -> PublicKey {
    PublicKey::from_rsa_pem(TEST_KEY_A_PUBLIC.as_bytes()).unwrap()
}

pub fn public_key_b() -> PublicKey {
    PublicKey::from_rsa_pem(TEST_KEY_B_PUBLIC.as_bytes()).unwrap()
}

pub fn public_key_ec() -> PublicKey {
    PublicKey::from_pem(TEST_KEY_EC_PUBLIC.as_bytes()).unwrap()
}

pub fn public_key_ed() -> PublicKey {
    PublicKey::from_pem(TEST_KEY_ED_PUBLIC.as_bytes()).unwrap()
}

pub fn kid_ec() -> String {
    public_key_ec().kid().to_owned()
}

pub fn kid_ed() -> String {
    public_key_ed().kid().to_owned()
}

pub fn kid_a() -> String {
    public_key_a().kid().to_owned()
}

pub fn kid_b() -> String {
    public_key_b().kid().to_owned()
}

/// The JWK of a public key, as the issuer publishes it.
pub fn jwk(key: &PublicKey) -> Value {
    if let Some((n, e)) = key.rsa_components() {
        json!({"kty": "RSA", "kid": key.kid(), "use": "sig", "alg": "RS256", "n": n, "e": e})
    } else if let Some((x, y)) = key.ec_coordinates() {
        json!({"kty": "EC", "crv": "P-256", "kid": key.kid(), "use": "sig", "alg": "ES256", "x": x, "y": y})
    } else {
        let x = key.ed25519_x().unwrap();
        json!({"kty": "OKP", "crv": "Ed25519", "kid": key.kid(), "use": "sig", "alg": "EdDSA", "x": x})
    }
}

pub fn jwks(keys: &[PublicKey]) -> String {
    json!({"keys": keys.iter().map(jwk).collect::<Vec<_>>()}).to_string()
}

pub fn config() -> GuardConfig {
    GuardConfig::new(ISSUER, AUDIENCE)
}

/// A guard trusting key A only (from a JWK Set, as a resource server would get it), with an
/// empty revocation list applied (so it is fresh: tokens are not refused with 503).
pub fn guard() -> Guard {
    guard_with(config())
}

/// Like [`guard`], with `config`.
pub fn guard_with(config: GuardConfig) -> Guard {
    let guard = unfed_guard_with(config);
    guard.apply_revocations(RevocationFeed::default());
    guard
}

/// `guard` with an empty (complete) revocation list applied, so it is fresh.
pub fn fed(guard: Guard) -> Guard {
    guard.apply_revocations(RevocationFeed::default());
    guard
}

/// A guard trusting key A that has never seen a revocation feed.
pub fn unfed_guard_with(config: GuardConfig) -> Guard {
    let keys = StaticKeyStore::from_jwks_json(&jwks(&[public_key_a()])).unwrap();
    Guard::with_key_store(config, keys).unwrap()
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Builds a token with full control over header and claims. Defaults: a workspace token,
/// RS256, `typ: at+jwt`, key A, issued at `now`.
#[derive(Clone)]
pub struct TokenBuilder {
    pub header: Value,
    pub claims: Value,
    signing_key: &'static str,
}

impl TokenBuilder {
    pub fn workspace(now: i64) -> Self {
        Self {
            header: json!({"alg": "RS256", "typ": "at+jwt", "kid": kid_a()}),
            claims: json!({
                "iss": ISSUER,
                "sub": "wk_0123456789abcdefghijkl",
                "client_id": "wk_0123456789abcdefghijkl",
                "aud": AUDIENCE,
                "iat": now,
                "nbf": now,
                "exp": now + LIFETIME,
                "jti": format!("jti-{now}-{}", next_id()),
                "roles": ["content_manager"],
                "key_type": "workspace",
                "account_id": "acc_1",
                "workspace_id": "ws_1",
                "scope": "content:read content:write",
            }),
            signing_key: TEST_KEY_A_PRIVATE,
        }
    }

    pub fn account(now: i64) -> Self {
        let mut builder = Self::workspace(now);
        builder.claims["sub"] = json!("ak_0123456789abcdefghijkl");
        builder.claims["client_id"] = json!("ak_0123456789abcdefghijkl");
        builder.claims["roles"] = json!(["account_admin"]);
        builder.claims["key_type"] = json!("account");
        builder
            .claims
            .as_object_mut()
            .unwrap()
            .remove("workspace_id");
        builder.claims.as_object_mut().unwrap().remove("scope");
        builder
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims[name] = value;
        self
    }

    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.as_object_mut().unwrap().remove(name);
        self
    }

    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header[name] = value;
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.header.as_object_mut().unwrap().remove(name);
        self
    }

    pub fn signed_by_key_b(mut self) -> Self {
        self.signing_key = TEST_KEY_B_PRIVATE;
        self
    }

    /// An ES256 token of the EC test key (header `alg` and `kid` to match).
    pub fn es256(mut self) -> Self {
        self.signing_key = TEST_KEY_EC_PRIVATE;
        self.header("alg", json!("ES256"))
            .header("kid", json!(kid_ec()))
    }

    /// An EdDSA token of the Ed25519 test key (header `alg` and `kid` to match).
    pub fn eddsa(mut self) -> Self {
        self.signing_key = TEST_KEY_ED_PRIVATE;
        self.header("alg", json!("EdDSA"))
            .header("kid", json!(kid_ed()))
    }

    pub fn signing_input(&self) -> String {
        format!("{}.{}", b64(&self.header), b64(&self.claims))
    }

    /// Signs with the header's `alg` and the chosen key.
    pub fn sign(&self) -> String {
        let alg: Algorithm = self.header["alg"].as_str().unwrap().parse().unwrap();
        self.sign_with(&encoding_key(self.signing_key), alg)
    }

    pub fn sign_with(&self, key: &EncodingKey, alg: Algorithm) -> String {
        let input = self.signing_input();
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
        format!("{input}.{signature}")
    }
}

/// The private test key in `pem`, for jsonwebtoken, whatever its type.
pub fn encoding_key(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes())
        .or_else(|_| EncodingKey::from_ec_pem(pem.as_bytes()))
        .or_else(|_| EncodingKey::from_ed_pem(pem.as_bytes()))
        .unwrap()
}

fn next_id() -> usize {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// How the fake issuer answers.
#[derive(Clone)]
pub enum Reply {
    Json(u16, String),
    /// Any status, extra headers and body (e.g. a 304, or a 200 with an `ETag`).
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Accept the connection and close it without answering (an unreachable issuer).
    Hangup,
}

/// A request the fake issuer received.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request target: path and query, as sent.
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The raw (still percent-encoded) value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 answering each path (the query string is ignored
/// for routing) with a canned reply, counting requests per path and recording them. Stops when
/// dropped.
pub struct FakeIssuer {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeIssuer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (routes, hits, requests, stop) =
                (routes.clone(), hits.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &routes, &hits, &requests);
                    }
                }
            })
        };
        Self {
            addr,
            routes,
            hits,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_owned(), reply);
    }

    pub fn set_json(&self, path: &str, body: &str) {
        self.set(path, Reply::Json(200, body.to_owned()));
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// The last request received for `path`.
    pub fn last_request(&self, path: &str) -> Option<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.target.split('?').next() == Some(path))
            .cloned()
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    routes: &Mutex<HashMap<String, Reply>>,
    hits: &Mutex<HashMap<String, usize>>,
    requests: &Mutex<Vec<Recorded>>,
) {
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
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let headers = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    requests.lock().unwrap().push(Recorded { target, headers });
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let reply = routes.lock().unwrap().get(&path).cloned();
    let (status, extra, body) = match reply {
        Some(Reply::Json(status, body)) => (status, Vec::new(), body),
        Some(Reply::Full {
            status,
            headers,
            body,
        }) => (status, headers, body),
        Some(Reply::Hangup) => return,
        None => (404, Vec::new(), "{}".to_owned()),
    };
    let extra: String = extra
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
