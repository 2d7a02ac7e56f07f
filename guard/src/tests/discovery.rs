//! OpenID Connect discovery, the fetch-URL rule, and signature checks of foreign tokens
//! (`verify_jws`, `asymmetric_algorithm`).

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::support::*;
use crate::{
    asymmetric_algorithm, check_fetch_url, discover_jwks_uri, discovery_url, http_client,
    verify_jws, DiscoveryError, FetchError, JwksKeyStore, KeyStore, UrlError, DISCOVERY_PATH,
    MAX_DISCOVERY_BYTES, MAX_JWKS_BYTES,
};

const JWKS_PATH: &str = "/keys";

fn document(issuer: &str, jwks_uri: &str) -> String {
    json!({"issuer": issuer, "jwks_uri": jwks_uri, "id_token_signing_alg_values_supported": ["RS256"]})
        .to_string()
}

fn client() -> reqwest::Client {
    http_client(Duration::from_secs(2)).unwrap()
}

#[test]
fn fetch_urls_must_be_https_or_loopback_http() {
    for ok in [
        "https://issuer.example",
        "https://issuer.example/",
        "https://issuer.example:8443/tenant/v2",
        "https://10.0.0.1/keys",
        "http://127.0.0.1",
        "http://127.255.0.9:8080/jwks",
        "http://localhost:3000/",
        "http://LOCALHOST",
        "http://[::1]",
        "http://[::1]:9000/x",
    ] {
        assert_eq!(check_fetch_url(ok), Ok(()), "{ok}");
    }
    for (bad, why) in [
        ("http://issuer.example", UrlError::InsecureScheme),
        ("http://10.0.0.1", UrlError::InsecureScheme),
        ("http://128.0.0.1", UrlError::InsecureScheme),
        ("http://127.0.0.1.evil.example", UrlError::InsecureScheme),
        ("http://localhost.evil.example", UrlError::InsecureScheme),
        ("http://[::2]", UrlError::InsecureScheme),
        ("http://127.1", UrlError::InsecureScheme),
        ("HTTPS://issuer.example", UrlError::NotAbsolute),
        ("issuer.example", UrlError::NotAbsolute),
        ("https://", UrlError::NotAbsolute),
        ("ftp://issuer.example", UrlError::NotAbsolute),
        ("file:///etc/passwd", UrlError::NotAbsolute),
        ("https://issuer.example/?a=b", UrlError::QueryOrFragment),
        ("https://issuer.example/#x", UrlError::QueryOrFragment),
        ("https://user@issuer.example", UrlError::UserInfo),
        ("http://user:pw@127.0.0.1", UrlError::UserInfo),
        ("https:///path", UrlError::BadHost),
        ("https://issuer.example:0", UrlError::BadHost),
        ("https://issuer.example:99999", UrlError::BadHost),
        ("https://issuer.example:", UrlError::BadHost),
        ("https://[::1", UrlError::BadHost),
        ("https://[nope]", UrlError::BadHost),
        ("https://issuer.example/a b", UrlError::BadCharacter),
        ("https://issuer.example\\@evil", UrlError::BadCharacter),
        ("https://issuér.example", UrlError::BadCharacter),
        ("https://issuer.example/\n", UrlError::BadCharacter),
    ] {
        assert_eq!(check_fetch_url(bad), Err(why), "{bad}");
    }
}

#[test]
fn the_discovery_url_appends_the_well_known_path_once() {
    assert_eq!(
        discovery_url("https://a.example"),
        "https://a.example/.well-known/openid-configuration"
    );
    assert_eq!(
        discovery_url("https://a.example/"),
        "https://a.example/.well-known/openid-configuration"
    );
}

#[tokio::test]
async fn discovery_returns_the_documents_jwks_uri() {
    let issuer = FakeIssuer::start();
    let jwks_uri = format!("{}{JWKS_PATH}", issuer.url());
    issuer.set_json(DISCOVERY_PATH, &document(&issuer.url(), &jwks_uri));
    let found = discover_jwks_uri(&client(), &issuer.url()).await.unwrap();
    assert_eq!(found, jwks_uri);
    assert_eq!(issuer.hits(DISCOVERY_PATH), 1);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let issuer = FakeIssuer::start();
    let jwks_uri = format!("{}{JWKS_PATH}", issuer.url());
    issuer.set_json(
        DISCOVERY_PATH,
        &document("https://someone-else.example", &jwks_uri),
    );
    let err = discover_jwks_uri(&client(), &issuer.url())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::IssuerMismatch { expected, found }
            if *expected == issuer.url() && found == "https://someone-else.example"),
        "{err}"
    );
    // A trailing slash is another issuer, too: the comparison is exact.
    issuer.set_json(
        DISCOVERY_PATH,
        &document(&format!("{}/", issuer.url()), &jwks_uri),
    );
    let err = discover_jwks_uri(&client(), &issuer.url())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::IssuerMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_jwks_uri_that_is_not_https_or_loopback_is_refused() {
    let issuer = FakeIssuer::start();
    issuer.set_json(
        DISCOVERY_PATH,
        &document(&issuer.url(), "http://keys.example/jwks"),
    );
    let err = discover_jwks_uri(&client(), &issuer.url())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DiscoveryError::InsecureJwksUri(UrlError::InsecureScheme)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn an_insecure_issuer_is_refused_without_a_request() {
    let err = discover_jwks_uri(&client(), "http://issuer.example")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DiscoveryError::InsecureIssuer(UrlError::InsecureScheme)
        ),
        "{err}"
    );
    let err = JwksKeyStore::discover(
        "http://issuer.example",
        Duration::from_secs(30),
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DiscoveryError::InsecureIssuer(_)), "{err}");
}

#[tokio::test]
async fn broken_discovery_documents_are_refused() {
    let issuer = FakeIssuer::start();
    for body in [
        "not json".to_owned(),
        json!({"issuer": issuer.url()}).to_string(),
        json!({"issuer": issuer.url(), "jwks_uri": 7}).to_string(),
        json!(["a"]).to_string(),
    ] {
        issuer.set_json(DISCOVERY_PATH, &body);
        let err = discover_jwks_uri(&client(), &issuer.url())
            .await
            .unwrap_err();
        assert!(
            matches!(err, DiscoveryError::InvalidDocument(_)),
            "{body}: {err}"
        );
    }
    issuer.set(DISCOVERY_PATH, Reply::Json(404, "{}".into()));
    let err = discover_jwks_uri(&client(), &issuer.url())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Fetch(FetchError::Status(404))),
        "{err}"
    );
}

#[tokio::test]
async fn a_discovery_document_over_the_size_limit_is_refused() {
    let issuer = FakeIssuer::start();
    let padding = "x".repeat(MAX_DISCOVERY_BYTES);
    let body = json!({"issuer": issuer.url(), "jwks_uri": format!("{}{JWKS_PATH}", issuer.url()), "padding": padding});
    issuer.set_json(DISCOVERY_PATH, &body.to_string());
    let err = discover_jwks_uri(&client(), &issuer.url())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DiscoveryError::Fetch(FetchError::TooLarge(MAX_DISCOVERY_BYTES))
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_discovery_that_never_answers_is_bounded_by_the_timeout() {
    // A listener that accepts nothing: the connection is queued, no answer ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let err = JwksKeyStore::discover(&url, Duration::from_secs(30), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Fetch(FetchError::Http(_))),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_discovered_store_fetches_the_keys_from_the_jwks_uri() {
    let issuer = FakeIssuer::start();
    let jwks_uri = format!("{}{JWKS_PATH}", issuer.url());
    issuer.set_json(DISCOVERY_PATH, &document(&issuer.url(), &jwks_uri));
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let store = JwksKeyStore::discover(
        &issuer.url(),
        Duration::from_secs(30),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(store.url(), jwks_uri);
    assert_eq!(issuer.hits(JWKS_PATH), 0, "keys are fetched on first use");
    let key = store.key(&kid_a()).await.unwrap().unwrap();
    assert_eq!(key.kid(), kid_a());
    assert_eq!(issuer.hits(JWKS_PATH), 1);
    assert_eq!(issuer.hits(DISCOVERY_PATH), 1);
}

#[tokio::test]
async fn a_jwks_over_the_size_limit_is_refused() {
    let issuer = FakeIssuer::start();
    let padding = "x".repeat(MAX_JWKS_BYTES);
    let key = jwk(&public_key_a());
    issuer.set_json(
        JWKS_PATH,
        &json!({"keys": [key], "padding": padding}).to_string(),
    );
    let store = JwksKeyStore::new(
        format!("{}{JWKS_PATH}", issuer.url()),
        Duration::from_secs(30),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = store.key(&kid_a()).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge(MAX_JWKS_BYTES)), "{err}");
}

#[test]
fn only_asymmetric_algorithms_are_named() {
    for (name, alg) in [
        ("RS256", Algorithm::RS256),
        ("RS384", Algorithm::RS384),
        ("RS512", Algorithm::RS512),
        ("PS256", Algorithm::PS256),
        ("PS384", Algorithm::PS384),
        ("PS512", Algorithm::PS512),
        ("ES256", Algorithm::ES256),
        ("EdDSA", Algorithm::EdDSA),
        ("Ed25519", Algorithm::EdDSA),
    ] {
        assert_eq!(asymmetric_algorithm(name), Some(alg), "{name}");
    }
    for name in [
        "none", "None", "NONE", "", "HS256", "HS384", "HS512", "ES384", "rs256", "RS1",
    ] {
        assert_eq!(asymmetric_algorithm(name), None, "{name}");
    }
}

#[test]
fn verify_jws_checks_the_signature_with_the_key_of_its_kind() {
    let token = TokenBuilder::workspace(NOW).sign();
    assert!(verify_jws(&public_key_a(), Algorithm::RS256, &token));
    // Another key, another algorithm of the family, a tampered payload.
    assert!(!verify_jws(&public_key_b(), Algorithm::RS256, &token));
    assert!(!verify_jws(&public_key_a(), Algorithm::PS256, &token));
    let mut parts: Vec<&str> = token.split('.').collect();
    let other = b64(&json!({"sub": "someone else"}));
    parts[1] = &other;
    assert!(!verify_jws(
        &public_key_a(),
        Algorithm::RS256,
        &parts.join(".")
    ));
    // Shapes.
    let (input, _) = token.rsplit_once('.').unwrap();
    assert!(!verify_jws(
        &public_key_a(),
        Algorithm::RS256,
        &format!("{input}.")
    ));
    assert!(!verify_jws(&public_key_a(), Algorithm::RS256, input));
    assert!(!verify_jws(
        &public_key_a(),
        Algorithm::RS256,
        &format!("{token}.x")
    ));

    let es = TokenBuilder::workspace(NOW).es256().sign();
    assert!(verify_jws(&public_key_ec(), Algorithm::ES256, &es));
    assert!(!verify_jws(&public_key_a(), Algorithm::ES256, &es));
    let ed = TokenBuilder::workspace(NOW).eddsa().sign();
    assert!(verify_jws(&public_key_ed(), Algorithm::EdDSA, &ed));
    assert!(!verify_jws(&public_key_ec(), Algorithm::ES256, &ed));
}

#[test]
fn verify_jws_never_accepts_hmac_even_keyed_with_the_public_key() {
    // The classic confusion: HS256 "signed" with the RSA public key's bytes.
    let builder = TokenBuilder::workspace(NOW).header("alg", json!("HS256"));
    let token = builder.sign_with(
        &EncodingKey::from_secret(TEST_KEY_A_PUBLIC.as_bytes()),
        Algorithm::HS256,
    );
    assert!(!verify_jws(&public_key_a(), Algorithm::HS256, &token));
    assert!(!verify_jws(&public_key_a(), Algorithm::RS256, &token));
}
