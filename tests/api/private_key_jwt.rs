//! `private_key_jwt` (RFC 7523): credentials that authenticate with an assertion signed by their
//! own private key, of which Tessera holds only the public half. Through HTTP, on both backends:
//! creation and reading, the exchange with RS256, ES256 and EdDSA keys, each refusal, key
//! replacement, last use per key, the metadata, and replays across replicas.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use reqwest::Response;
use serde_json::{json, Value};
use tessera::config::Settings;

use crate::helpers::TestApp;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The one answer to every failed client authentication.
const REFUSED: &str =
    r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;

pub enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A client's key pair, made here as a client would make it: Tessera is given only `jwk`.
pub struct ClientKey {
    pub alg: &'static str,
    pub kid: String,
    private: Private,
    /// The public JWK, with `kid`.
    pub jwk: Value,
}

impl ClientKey {
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let c = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = json!({"kty": "RSA", "kid": kid, "n": B64.encode(&c.n), "e": B64.encode(&c.e)});
        Self::new("RS256", kid, Private::Rsa(pair), jwk)
    }

    pub fn ec(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])});
        Self::new("ES256", kid, Private::Ec(pair), jwk)
    }

    pub fn ed(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
            "x": B64.encode(pair.public_key().as_ref())});
        Self::new("EdDSA", kid, Private::Ed(pair), jwk)
    }

    fn new(alg: &'static str, kid: &str, private: Private, jwk: Value) -> Self {
        Self {
            alg,
            kid: kid.to_owned(),
            private,
            jwk,
        }
    }

    /// The raw JWS signature of `input` (RFC 7518 §3).
    fn signature(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.private {
            Private::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
                    .unwrap();
                signature
            }
            Private::Ec(pair) => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
            Private::Ed(pair) => pair.sign(input).as_ref().to_vec(),
        }
    }

    /// A compact JWS of `claims` under `header`, signed with this key.
    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = B64.encode(self.signature(input.as_bytes()));
        format!("{input}.{signature}")
    }

    /// The assertion a well-behaved client sends: its `alg`, its `kid`.
    fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg, "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

/// The claims of a good assertion from `client_id` at the app's current time.
fn claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({"iss": client_id, "sub": client_id, "aud": app.state.settings.token_url(),
        "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string()})
}

/// `claims` with `changes` applied; a `null` removes the claim.
fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// A form token request at `base` authenticated by `assertion`, with `extra` parameters.
async fn exchange_at(
    app: &TestApp,
    base: &str,
    assertion: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.client
        .post(format!("{base}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn exchange(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> Response {
    exchange_at(app, &app.public, assertion, extra).await
}

/// The access token of a successful exchange.
async fn token(app: &TestApp, assertion: &str) -> String {
    let body = TestApp::expect(exchange(app, assertion, &[]).await, 200).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// Asserts the one `invalid_client` answer, byte for byte.
async fn refused(response: Response, case: &str) {
    assert_eq!(response.status(), 401, "{case}");
    assert!(
        response.headers().get("www-authenticate").is_none(),
        "{case}: no Basic was used"
    );
    assert_eq!(response.text().await.unwrap(), REFUSED, "{case}");
}

/// `POST path` with `{name, auth_method: private_key_jwt, jwks: {keys}}` merged with `extra`.
async fn create_with_keys(
    app: &TestApp,
    path: &str,
    keys: &[&ClientKey],
    extra: Value,
) -> Response {
    let mut body = json!({"name": "signing bot", "auth_method": "private_key_jwt",
        "jwks": {"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}});
    crate::helpers::merge(&mut body, extra);
    app.admin_post(path, body).await
}

/// A `private_key_jwt` account credential with `keys`; the creation response.
async fn key_credential(app: &TestApp, account: &str, keys: &[&ClientKey]) -> Value {
    let path = format!("/accounts/{account}/credentials");
    TestApp::expect(create_with_keys(app, &path, keys, json!({})).await, 201).await
}

fn id_of(body: &Value) -> (String, String) {
    (
        body["id"].as_str().unwrap().to_owned(),
        body["client_id"].as_str().unwrap().to_owned(),
    )
}

async fn put_jwks(app: &TestApp, id: &str, keys: Value) -> Response {
    app.admin_send(
        reqwest::Method::PUT,
        &format!("/credentials/{id}/jwks"),
        json!({ "keys": keys }),
    )
    .await
}

/// The token of a `private_key_jwt` workspace credential has exactly the claims a secret
/// credential of the same role, scopes and audience gets, whichever key type signs the
/// assertion; creation shows no secret but how to sign; reading shows the public keys.
async fn rs256_es256_and_eddsa_assertions_get_the_token_a_secret_would(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let keys = [
        ClientKey::rsa("r1"),
        ClientKey::ec("e1"),
        ClientKey::ed("d1"),
    ];
    let path = format!("/workspaces/{workspace}/credentials");
    let extra = json!({"role": "content_manager", "scopes": ["read", "write"]});
    let created = TestApp::expect(
        create_with_keys(&app, &path, &keys.iter().collect::<Vec<_>>(), extra.clone()).await,
        201,
    )
    .await;
    let (id, client_id) = id_of(&created);
    let token_url = app.state.settings.token_url();
    assert_eq!(created["auth_method"], "private_key_jwt");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["secret_last4"], Value::Null);
    assert_eq!(created["secrets"], json!([]));
    assert_eq!(created["token_url"], token_url.as_str());
    let curl = created["curl_example"].as_str().unwrap();
    assert!(
        curl.contains(ASSERTION_TYPE) && curl.contains("client_assertion="),
        "{curl}"
    );
    assert_eq!(created["assertion_claims"]["iss"], client_id.as_str());
    assert_eq!(created["assertion_claims"]["sub"], client_id.as_str());
    assert_eq!(created["assertion_claims"]["aud"], token_url.as_str());

    let read = TestApp::expect(app.admin_get(&format!("/credentials/{id}")).await, 200).await;
    assert_eq!(read["auth_method"], "private_key_jwt");
    let listed: Vec<&Value> = read["jwks"]["keys"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 3);
    for (key, shown) in keys.iter().zip(&listed) {
        assert_eq!(shown["kid"], key.kid.as_str());
        assert_eq!(shown["kty"], key.jwk["kty"]);
        assert_eq!(shown["last_used_at"], Value::Null);
        assert!(shown.get("d").is_none());
    }

    let secret_cred = app
        .workspace_credential(
            &workspace,
            "content_manager",
            json!({"scopes": ["read", "write"]}),
        )
        .await;
    let reference = app.verify(&app.token(&secret_cred).await).await;
    let names = |claims: &Value| {
        let mut names: Vec<String> = claims.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };

    let ed_named_fully = ClientKey::ed("d2");
    for (key, header_alg) in keys
        .iter()
        .map(|k| (k, k.alg))
        .chain([(&keys[2], "Ed25519")])
    {
        let assertion = key.sign_with_header(
            &json!({"alg": header_alg, "kid": key.kid}),
            &claims(&app, &client_id),
        );
        let body = TestApp::expect(exchange(&app, &assertion, &[]).await, 200).await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], reference["scope"]);
        let token = body["access_token"].as_str().unwrap();
        let got = app.verify(token).await;
        assert_eq!(names(&got), names(&reference), "{header_alg}");
        for claim in [
            "iss",
            "aud",
            "roles",
            "key_type",
            "account_id",
            "workspace_id",
            "scope",
        ] {
            assert_eq!(got[claim], reference[claim], "{claim} ({header_alg})");
        }
        assert_eq!(got["client_id"], client_id.as_str());
        assert_eq!(got["sub"], client_id.as_str());
        let lifetime = |c: &Value| c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
        assert_eq!(lifetime(&got), lifetime(&reference));
        assert_eq!(app.introspect(token).await["active"], true);
    }
    // The JSON body works too, with the client_id given (it must then be the iss).
    let r = app
        .client
        .post(app.token_url())
        .json(
            &json!({"grant_type": "client_credentials", "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": keys[0].sign(&claims(&app, &client_id)),
            "audience": "https://api.example.test/", "scope": "read"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 200).await["scope"], "read");
    // An Ed25519 key not registered: refused.
    refused(
        exchange(&app, &ed_named_fully.sign(&claims(&app, &client_id)), &[]).await,
        "unregistered key",
    )
    .await;
}

/// The same assertion twice: the second is a replay, refused like any failure.
async fn a_replayed_assertion_is_refused(app: TestApp) {
    let account = app.create_account("Acme").await;
    let key = ClientKey::ec("k");
    let (_, client_id) = id_of(&key_credential(&app, &account, &[&key]).await);
    let assertion = key.sign(&claims(&app, &client_id));
    token(&app, &assertion).await;
    refused(exchange(&app, &assertion, &[]).await, "replay").await;
    // A new jti is a new assertion.
    token(&app, &key.sign(&claims(&app, &client_id))).await;
}

fn no_failure_throttle(s: &mut Settings) {
    s.rate_limits.failed_auth_per_client = 0;
    s.rate_limits.failed_auth_per_ip = 0;
}

/// Every way an assertion can be wrong gets the same 401 body, and never a 500: missing or
/// far `exp`, expired, future `iat`, wrong `aud`, `iss` ≠ `sub`, an unregistered `kid`,
/// `alg: none`, HS256 keyed with the public key, a mismatching `client_id`, garbage of every
/// shape, an unknown client, a secret credential.
async fn every_bad_assertion_gets_the_same_answer(app: TestApp) {
    let account = app.create_account("Acme").await;
    let key = ClientKey::rsa("k");
    let (_, client_id) = id_of(&key_credential(&app, &account, &[&key]).await);
    let secret_cred = app.account_credential(&account, json!({})).await;
    let other = ClientKey::rsa("k");
    let now = app.clock.now().timestamp();
    let leeway = app.state.settings.keys.leeway_seconds;
    let good = || claims(&app, &client_id);

    let hs256 = {
        // The classic confusion: an HMAC "signed" with the public key's published bytes.
        let header = B64.encode(json!({"alg": "HS256", "kid": "k"}).to_string());
        let input = format!("{header}.{}", B64.encode(good().to_string()));
        let mac_key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.jwk.to_string().as_bytes());
        let tag = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
        format!("{input}.{}", B64.encode(tag.as_ref()))
    };
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none"}).to_string()),
        B64.encode(good().to_string())
    );
    let unsigned_rs256 = {
        let signed = key.sign(&good());
        format!("{}.", signed.rsplit_once('.').unwrap().0)
    };
    // (case, assertion, client_id sent beside it)
    let cases: Vec<(&str, String, Option<String>)> = vec![
        (
            "no exp",
            key.sign(&with(good(), json!({"exp": null}))),
            None,
        ),
        (
            "exp over 60 minutes ahead",
            key.sign(&with(good(), json!({"exp": now + 3600 + leeway + 60}))),
            None,
        ),
        (
            "expired",
            key.sign(&with(
                good(),
                json!({"exp": now - leeway - 1, "iat": now - 900}),
            )),
            None,
        ),
        (
            "iat in the future",
            key.sign(&with(good(), json!({"iat": now + leeway + 60}))),
            None,
        ),
        (
            "aud another endpoint",
            key.sign(&with(
                good(),
                json!({"aud": format!("{}/oauth/introspect", app.public)}),
            )),
            None,
        ),
        (
            "no aud",
            key.sign(&with(good(), json!({"aud": null}))),
            None,
        ),
        (
            "iss is not sub",
            key.sign(&with(good(), json!({"sub": secret_cred.client_id}))),
            None,
        ),
        (
            "no jti",
            key.sign(&with(good(), json!({"jti": null}))),
            None,
        ),
        (
            "unregistered kid",
            key.sign_with_header(&json!({"alg": "RS256", "kid": "nope"}), &good()),
            None,
        ),
        (
            "another key with the registered kid",
            other.sign(&good()),
            None,
        ),
        (
            "an alg the key cannot have",
            key.sign_with_header(&json!({"alg": "ES256", "kid": "k"}), &good()),
            None,
        ),
        ("alg none", none, None),
        ("HS256 keyed with the public key", hs256, None),
        ("no signature", unsigned_rs256, None),
        (
            "client_id is another client",
            key.sign(&good()),
            Some(secret_cred.client_id.clone()),
        ),
        (
            "a secret credential signing assertions",
            key.sign(&claims(&app, &secret_cred.client_id)),
            None,
        ),
        (
            "an unknown client",
            key.sign(&claims(&app, "ak_0123456789abcdefghijklmn")),
            None,
        ),
        (
            "exp of the wrong type",
            key.sign(&with(good(), json!({"exp": "x"}))),
            None,
        ),
        (
            "aud of the wrong type",
            key.sign(&with(good(), json!({"aud": 5}))),
            None,
        ),
        (
            "a payload that is not an object",
            key.sign_with_header(&json!({"alg": "RS256", "kid": "k"}), &json!([1, 2])),
            None,
        ),
        (
            "segments that are not JSON",
            "eyJub3Q.anNvbg.c2ln".into(),
            None,
        ),
        ("garbage", "not a jwt at all".into(), None),
        ("four segments", "a.b.c.d".into(), None),
        (
            "a huge assertion",
            format!(
                "{}.{}.{}",
                "A".repeat(5000),
                "B".repeat(5000),
                "C".repeat(5000)
            ),
            None,
        ),
        // Well signed, but with header members that are not accepted.
        (
            "a crit header",
            key.sign_with_header(
                &json!({"alg": "RS256", "kid": "k", "crit": ["exp"]}),
                &good(),
            ),
            None,
        ),
        (
            "a kid that is not a string",
            key.sign_with_header(&json!({"alg": "RS256", "kid": 7}), &good()),
            None,
        ),
    ];
    for (case, assertion, client_id) in &cases {
        let extra: Vec<(&str, &str)> = client_id
            .iter()
            .map(|id| ("client_id", id.as_str()))
            .collect();
        refused(exchange(&app, assertion, &extra).await, case).await;
    }
    // The same credential still works, with a good assertion.
    token(&app, &key.sign(&good())).await;
}

fn three_failures_per_client(s: &mut Settings) {
    s.rate_limits.failed_auth_per_client = 3;
    s.rate_limits.failed_auth_per_ip = 0;
    s.rate_limits.failed_auth_window_seconds = 60;
}

/// Bad assertions count against the failed-authentication throttle of the client they name,
/// as wrong secrets do: then even a good assertion waits.
async fn bad_assertions_count_against_the_failure_throttle(app: TestApp) {
    let account = app.create_account("Acme").await;
    let key = ClientKey::ed("k");
    let (_, client_id) = id_of(&key_credential(&app, &account, &[&key]).await);
    for _ in 0..3 {
        let expired = with(claims(&app, &client_id), json!({"exp": 1}));
        refused(exchange(&app, &key.sign(&expired), &[]).await, "expired").await;
    }
    let r = exchange(&app, &key.sign(&claims(&app, &client_id)), &[]).await;
    assert_eq!(r.status(), 429);
    app.clock.advance(20);
    token(&app, &key.sign(&claims(&app, &client_id))).await;
}

/// One authentication method per request: an assertion with a secret, in the body or in
/// Basic, is 400 `invalid_request`; a half of the pair or another assertion type is refused
/// too. A secret for a key credential, and an assertion for a secret credential, are refused.
async fn one_authentication_method_per_request(app: TestApp) {
    let account = app.create_account("Acme").await;
    let key = ClientKey::ec("k");
    let (_, client_id) = id_of(&key_credential(&app, &account, &[&key]).await);
    let secret_cred = app.account_credential(&account, json!({})).await;
    let assertion = key.sign(&claims(&app, &client_id));

    let r = exchange(
        &app,
        &assertion,
        &[("client_secret", secret_cred.secret.as_str())],
    )
    .await;
    let body = TestApp::expect(r, 400).await;
    assert_eq!(body["error"], "invalid_request");
    let r = app
        .client
        .post(app.token_url())
        .basic_auth(&client_id, Some(&secret_cred.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 400).await["error"], "invalid_request");
    let r = app
        .client
        .post(app.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 400).await["error"], "invalid_request");
    let r = app
        .client
        .post(app.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    refused(r, "another assertion type").await;

    // A key credential has no secret: a well-formed one (another credential's) is refused.
    let r = app
        .token_json(&client_id, &secret_cred.secret, json!({}))
        .await;
    refused(r, "a secret for a key credential").await;
    // None of this used up the assertion: it was never verified.
    token(&app, &assertion).await;
}

/// Creation refuses private, symmetric and unusable keys, and a `jwks` or method that does not
/// fit, with 400 and a message saying what is wrong; nothing is created.
async fn bad_keys_are_refused_at_creation(app: TestApp) {
    let account = app.create_account("Acme").await;
    let path = format!("/accounts/{account}/credentials");
    let key = ClientKey::ed("k");
    let mut private = key.jwk.clone();
    let d = B64.encode([7u8; 32]);
    private["d"] = json!(d);
    let cases = [
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": [private]}}),
            "private",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "private",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "kid": "h"}]}}),
            "symmetric",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}}),
            "2048",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk, key.jwk]}}),
            "unique",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": []}}),
            "at least one",
        ),
        (json!({"auth_method": "private_key_jwt"}), "jwks"),
        (json!({"jwks": {"keys": [key.jwk]}}), "only for"),
        (
            json!({"auth_method": "client_secret", "jwks": {"keys": [key.jwk]}}),
            "only for",
        ),
        (json!({"auth_method": "federated"}), "federated"),
        (json!({"auth_method": "password"}), "auth_method"),
        (
            json!({"auth_method": "private_key_jwt", "jwks": {"keys": [key.jwk], "extra": 1}}),
            "extra",
        ),
        (
            json!({"auth_method": "private_key_jwt", "jwks": [key.jwk]}),
            "",
        ),
    ];
    for (extra, needle) in cases {
        let mut body = json!({"name": "bad"});
        crate::helpers::merge(&mut body, extra.clone());
        let reply = TestApp::expect(app.admin_post(&path, body).await, 400).await;
        assert_eq!(reply["error"], "invalid_request", "{extra}");
        let message = reply["message"].as_str().unwrap();
        assert!(message.contains(needle), "{extra}: {message}");
        assert!(!message.contains(&d), "the private key is not echoed");
    }
    let listed = TestApp::expect(
        app.admin_get(&format!("/credentials?account_id={account}"))
            .await,
        200,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
}

/// A key credential has nothing to rotate; only a key credential has keys to replace; the
/// replacement follows the other credential endpoints for unknown ids, scoped tokens and
/// deactivated credentials.
async fn rotation_and_key_replacement_fit_the_method(app: TestApp) {
    let account = app.create_account("Acme").await;
    let key = ClientKey::ed("k");
    let (id, _) = id_of(&key_credential(&app, &account, &[&key]).await);
    let secret_cred = app.account_credential(&account, json!({})).await;
    let new_keys = json!([ClientKey::ec("n").jwk]);

    let r = app
        .admin_post(&format!("/credentials/{id}/rotate"), json!({}))
        .await;
    let body = TestApp::expect(r, 409).await;
    assert_eq!(body["error"], "conflict");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("private_key_jwt"));
    let r = put_jwks(&app, &secret_cred.id, new_keys.clone()).await;
    assert_eq!(TestApp::expect(r, 409).await["error"], "conflict");
    let unknown = "01a23a92-8900-70c8-928d-142c565f571a";
    assert_eq!(
        put_jwks(&app, unknown, new_keys.clone()).await.status(),
        404
    );
    assert_eq!(put_jwks(&app, "nope", new_keys.clone()).await.status(), 404);
    assert_eq!(put_jwks(&app, &id, json!([])).await.status(), 400);

    let other_account = app.create_account("Other").await;
    let scoped = app
        .create_admin_token("other-portal", Some(&other_account))
        .await;
    let r = app
        .client
        .put(app.admin_url(&format!("/credentials/{id}/jwks")))
        .bearer_auth(&scoped)
        .json(&json!({ "keys": new_keys }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let own = app.create_admin_token("acme-portal", Some(&account)).await;
    let r = app
        .client
        .put(app.admin_url(&format!("/credentials/{id}/jwks")))
        .bearer_auth(&own)
        .json(&json!({ "keys": new_keys }))
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 200).await["jwks"]["keys"][0]["kid"], "n");

    TestApp::expect(
        app.admin_post(&format!("/credentials/{id}/deactivate"), json!({}))
            .await,
        200,
    )
    .await;
    let r = put_jwks(&app, &id, new_keys).await;
    assert_eq!(TestApp::expect(r, 409).await["error"], "conflict");
}

/// `PUT /credentials/{id}/jwks`: the old key stops at once, the new one works, a key kept
/// unchanged keeps working and keeps its last use, tokens already issued stay valid, and the
/// change is audited.
async fn replacing_the_keys_swaps_which_assertions_work(app: TestApp) {
    let account = app.create_account("Acme").await;
    let (old, kept) = (ClientKey::rsa("old"), ClientKey::ed("kept"));
    let (id, client_id) = id_of(&key_credential(&app, &account, &[&old, &kept]).await);
    let issued = token(&app, &old.sign(&claims(&app, &client_id))).await;
    token(&app, &kept.sign(&claims(&app, &client_id))).await;
    app.flush_usage().await;
    let before = TestApp::expect(app.admin_get(&format!("/credentials/{id}")).await, 200).await;
    let kept_used = before["jwks"]["keys"][1]["last_used_at"].clone();
    assert!(kept_used.is_string(), "{before}");

    let new = ClientKey::ec("new");
    let replaced =
        TestApp::expect(put_jwks(&app, &id, json!([kept.jwk, new.jwk])).await, 200).await;
    let kids: Vec<&str> = replaced["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["kept", "new"]);
    assert_eq!(replaced["jwks"]["keys"][0]["last_used_at"], kept_used);
    assert_eq!(replaced["jwks"]["keys"][1]["last_used_at"], Value::Null);

    refused(
        exchange(&app, &old.sign(&claims(&app, &client_id)), &[]).await,
        "a replaced key",
    )
    .await;
    token(&app, &new.sign(&claims(&app, &client_id))).await;
    token(&app, &kept.sign(&claims(&app, &client_id))).await;
    assert_eq!(app.introspect(&issued).await["active"], true);

    let audit = TestApp::expect(
        app.admin_get(&format!("/audit?credential_id={id}")).await,
        200,
    )
    .await;
    let event = &audit["items"][0];
    assert_eq!(event["action"], "credential.keys_replaced");
    assert_eq!(event["admin_token"], tessera::testing::ADMIN_TOKEN_NAME);
    assert_eq!(event["details"]["kids_before"], json!(["old", "kept"]));
    assert_eq!(event["details"]["kids_after"], json!(["kept", "new"]));
    assert_eq!(event["details"]["kids_kept"], json!(["kept"]));
    assert_eq!(audit["items"][1]["action"], "credential.created");
    assert_eq!(
        audit["items"][1]["details"]["auth_method"],
        "private_key_jwt"
    );

    // A kid reused for other key material is a new key: its last use starts again.
    let impostor = ClientKey::ed("kept");
    let swapped = TestApp::expect(put_jwks(&app, &id, json!([impostor.jwk])).await, 200).await;
    assert_eq!(swapped["jwks"]["keys"][0]["last_used_at"], Value::Null);
    refused(
        exchange(&app, &kept.sign(&claims(&app, &client_id)), &[]).await,
        "old material under a kept kid",
    )
    .await;
    token(&app, &impostor.sign(&claims(&app, &client_id))).await;
}

/// Last use is recorded per key (and for the credential), coalesced like a secret's.
async fn last_use_is_recorded_per_key(app: TestApp) {
    let account = app.create_account("Acme").await;
    let (a, b) = (ClientKey::ec("a"), ClientKey::rsa("b"));
    let (id, client_id) = id_of(&key_credential(&app, &account, &[&a, &b]).await);
    // No kid in the header: the one key of the algorithm's type is used.
    let assertion = a.sign_with_header(&json!({"alg": "ES256"}), &claims(&app, &client_id));
    token(&app, &assertion).await;
    app.flush_usage().await;
    let read = TestApp::expect(app.admin_get(&format!("/credentials/{id}")).await, 200).await;
    assert!(read["last_used_at"].is_string(), "{read}");
    assert!(
        read["jwks"]["keys"][0]["last_used_at"].is_string(),
        "{read}"
    );
    assert_eq!(read["jwks"]["keys"][1]["last_used_at"], Value::Null);
}

/// The metadata says how to authenticate with a key, at every endpoint that authenticates
/// clients.
async fn metadata_lists_private_key_jwt(app: TestApp) {
    let r = app
        .client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            app.public
        ))
        .send()
        .await
        .unwrap();
    let meta = TestApp::expect(r, 200).await;
    let algorithms = json!(["RS256", "ES256", "EdDSA", "Ed25519"]);
    for endpoint in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let methods = meta[format!("{endpoint}_auth_methods_supported")]
            .as_array()
            .unwrap()
            .clone();
        for method in [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ] {
            assert!(methods.contains(&json!(method)), "{endpoint}: {methods:?}");
        }
        assert_eq!(
            meta[format!("{endpoint}_auth_signing_alg_values_supported")],
            algorithms
        );
    }
}

/// Revocation and introspection authenticate a key credential by assertion too.
async fn a_key_credential_revokes_its_token_with_an_assertion(app: TestApp) {
    let account = app.create_account("Acme").await;
    let key = ClientKey::ed("k");
    let (_, client_id) = id_of(&key_credential(&app, &account, &[&key]).await);
    let issued = token(&app, &key.sign(&claims(&app, &client_id))).await;
    let introspected = app
        .client
        .post(format!("{}/oauth/introspect", app.public))
        .form(&[
            ("token", issued.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &key.sign(&claims(&app, &client_id))),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(introspected, 200).await["active"], true);
    let r = app
        .client
        .post(format!("{}/oauth/revoke", app.public))
        .form(&[
            ("token", issued.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &key.sign(&claims(&app, &client_id))),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.introspect(&issued).await["active"], false);
}

/// The replay record is in the database: an assertion used at one replica is refused at the
/// other, and of two replicas receiving it at once, exactly one accepts it.
async fn a_replayed_assertion_is_refused_across_replicas(app: TestApp) {
    let replica = app.replica().await;
    let account = app.create_account("Acme").await;
    let key = ClientKey::rsa("k");
    let (_, client_id) = id_of(&key_credential(&app, &account, &[&key]).await);

    let assertion = key.sign(&claims(&app, &client_id));
    TestApp::expect(
        exchange_at(&app, &replica.public, &assertion, &[]).await,
        200,
    )
    .await;
    refused(
        exchange_at(&app, &app.public, &assertion, &[]).await,
        "replay at the other",
    )
    .await;

    for _ in 0..5 {
        let assertion = key.sign(&claims(&app, &client_id));
        let (a, b) = tokio::join!(
            exchange_at(&app, &app.public, &assertion, &[]),
            exchange_at(&app, &replica.public, &assertion, &[]),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 401]);
    }
}

/// The decision after the boundary wait reads the credential again: a key replaced meanwhile
/// no longer authenticates the request.
async fn a_key_replaced_during_the_boundary_wait_is_refused(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let key = ClientKey::ed("k");
    let path = format!("/workspaces/{workspace}/credentials");
    let created = TestApp::expect(
        create_with_keys(&app, &path, &[&key], json!({"role": "chat_user"})).await,
        201,
    )
    .await;
    let (id, client_id) = id_of(&created);

    let second = app.freeze();
    // A role change revokes the credential's tokens in this second: a token requested now is
    // signed in the next.
    TestApp::expect(
        app.admin_patch(
            &format!("/credentials/{id}"),
            json!({"role": "content_manager"}),
        )
        .await,
        200,
    )
    .await;
    let assertion = key.sign(&claims(&app, &client_id));
    let request = {
        let client = app.client.clone();
        let url = app.token_url();
        tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "signed in the event's second");
    TestApp::expect(
        put_jwks(&app, &id, json!([ClientKey::ec("n").jwk])).await,
        200,
    )
    .await;
    app.at(second + 1, 0);
    refused(request.await.unwrap(), "key replaced during the wait").await;
}

/// The replay record on each backend: a `jti` is refused until its record expires, may be used
/// again after (the expired row is taken over, pruned or not), and pruning deletes only expired
/// rows.
async fn the_replay_record_expires(app: TestApp) {
    use tessera::storage::assertion_jtis::{self, JtiRecord};
    let account = app.create_account("Acme").await;
    let (id, _) = id_of(&key_credential(&app, &account, &[&ClientKey::ed("k")]).await);
    let pool = app.state.pool.clone();
    let now = app.clock.now();
    let at = move |s: i64| now + chrono::Duration::seconds(s);
    tokio::task::spawn_blocking(move || {
        let conn = &mut pool.get().unwrap();
        let record = |conn: &mut _, jti: &str, until: i64, now: i64| {
            assertion_jtis::record(conn, &id, jti, at(until), at(now)).unwrap()
        };
        assert_eq!(record(conn, "a", 60, 0), JtiRecord::Recorded);
        assert_eq!(record(conn, "a", 120, 30), JtiRecord::Replayed);
        assert_eq!(record(conn, "b", 10, 0), JtiRecord::Recorded);
        // "a" expired at 60: usable again at 60, and remembered anew.
        assert_eq!(record(conn, "a", 200, 60), JtiRecord::Recorded);
        assert_eq!(record(conn, "a", 300, 100), JtiRecord::Replayed);
        // At 150 only "b" has expired.
        assert_eq!(assertion_jtis::prune(conn, at(150)).unwrap(), 1);
        assert_eq!(record(conn, "b", 400, 150), JtiRecord::Recorded);
        assert_eq!(record(conn, "a", 400, 150), JtiRecord::Replayed);
    })
    .await
    .unwrap();
}

backend_tests!(
    the_replay_record_expires,
    rs256_es256_and_eddsa_assertions_get_the_token_a_secret_would,
    a_replayed_assertion_is_refused,
    every_bad_assertion_gets_the_same_answer with crate::private_key_jwt::no_failure_throttle,
    bad_assertions_count_against_the_failure_throttle
        with crate::private_key_jwt::three_failures_per_client,
    one_authentication_method_per_request,
    bad_keys_are_refused_at_creation,
    rotation_and_key_replacement_fit_the_method,
    replacing_the_keys_swaps_which_assertions_work with crate::helpers::manual_flush,
    last_use_is_recorded_per_key with crate::helpers::manual_flush,
    metadata_lists_private_key_jwt,
    a_key_credential_revokes_its_token_with_an_assertion,
    a_replayed_assertion_is_refused_across_replicas,
    a_key_replaced_during_the_boundary_wait_is_refused,
);
