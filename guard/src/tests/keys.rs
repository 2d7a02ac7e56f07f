//! Key stores: JWKS over HTTP (refetch bounds, last good keys) and static keys.

use std::time::Duration;

use serde_json::json;

use super::support::*;
use crate::{
    Algorithm, FetchError, Guard, GuardError, JwksKeyStore, KeyStore, PublicKey, StaticKeyStore,
};

const JWKS_PATH: &str = "/.well-known/jwks.json";

fn jwks_guard(issuer: &FakeIssuer, min_refetch: Duration) -> Guard {
    let mut config = config();
    config.jwks_url = Some(format!("{}{JWKS_PATH}", issuer.url()));
    config.min_jwks_refetch_interval = min_refetch;
    config.http_timeout = Duration::from_secs(2);
    fed(Guard::new(config).unwrap())
}

fn store(issuer: &FakeIssuer, min_refetch: Duration) -> JwksKeyStore {
    JwksKeyStore::new(
        format!("{}{JWKS_PATH}", issuer.url()),
        min_refetch,
        Duration::from_secs(2),
    )
    .unwrap()
}

#[test]
fn test_key_ids_are_rfc7638_thumbprints() {
    let key = public_key_a();
    let (n, e) = key.rsa_components().unwrap();
    assert_eq!(key.kid(), crate::rsa_thumbprint(n, e));
    // Cross-check with jsonwebtoken's own thumbprint implementation.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk(&key)).unwrap();
    assert_eq!(
        key.kid(),
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    );
    assert_ne!(kid_a(), kid_b());
}

#[tokio::test]
async fn the_jwks_is_fetched_on_first_use_and_then_cached() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let guard = jwks_guard(&issuer, Duration::from_secs(3600));
    assert_eq!(issuer.hits(JWKS_PATH), 0, "nothing fetched at construction");
    guard.clear_cache();
    for i in 0..3 {
        let token = TokenBuilder::workspace(NOW + i).sign();
        guard.validate_at(&token, NOW + i).await.unwrap();
    }
    assert_eq!(issuer.hits(JWKS_PATH), 1);
}

#[tokio::test]
async fn the_default_jwks_url_is_under_the_issuer() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let guard = fed(Guard::new(crate::GuardConfig::new(issuer.url(), AUDIENCE)).unwrap());
    let token = TokenBuilder::workspace(NOW)
        .claim("iss", json!(issuer.url()))
        .sign();
    guard.validate_at(&token, NOW).await.unwrap();
    assert_eq!(issuer.hits(JWKS_PATH), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_per_interval() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let store = store(&issuer, Duration::from_millis(400));
    assert!(store.key(&kid_a()).await.unwrap().is_some());
    assert_eq!(issuer.hits(JWKS_PATH), 1);

    // A flood of made-up kids right after a fetch: no further request to the issuer.
    for i in 0..20 {
        assert!(store.key(&format!("made-up-{i}")).await.unwrap().is_none());
    }
    assert_eq!(issuer.hits(JWKS_PATH), 1);

    // The issuer rotates to key B. Within the interval B is still unknown...
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a(), public_key_b()]));
    assert!(store.key(&kid_b()).await.unwrap().is_none());
    assert_eq!(issuer.hits(JWKS_PATH), 1);

    // ...after it, one refetch finds it.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(store.key(&kid_b()).await.unwrap().is_some());
    assert_eq!(issuer.hits(JWKS_PATH), 2);
    assert!(store.key("made-up-again").await.unwrap().is_none());
    assert_eq!(issuer.hits(JWKS_PATH), 2);
    assert_eq!(store.key_ids().len(), 2);
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let store = std::sync::Arc::new(store(&issuer, Duration::from_secs(3600)));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .key(&format!("unknown-{i}"))
                .await
                .map(|k| k.is_none())
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().unwrap());
    }
    assert_eq!(issuer.hits(JWKS_PATH), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_through_the_guard() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let guard = jwks_guard(&issuer, Duration::from_millis(100));
    guard
        .validate_at(&TokenBuilder::workspace(NOW).sign(), NOW)
        .await
        .unwrap();

    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a(), public_key_b()]));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let from_b = TokenBuilder::workspace(NOW)
        .signed_by_key_b()
        .header("kid", json!(kid_b()))
        .sign();
    guard.validate_at(&from_b, NOW).await.unwrap();
    assert_eq!(issuer.hits(JWKS_PATH), 2);
}

#[tokio::test]
async fn the_last_good_keys_are_kept_when_the_issuer_is_unreachable() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let guard = jwks_guard(&issuer, Duration::from_millis(50));
    let token = TokenBuilder::workspace(NOW).sign();
    guard.validate_at(&token, NOW).await.unwrap();

    for reply in [
        Reply::Hangup,
        Reply::Json(500, "{}".into()),
        Reply::Json(200, "not json".into()),
    ] {
        issuer.set(JWKS_PATH, reply);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let hits = issuer.hits(JWKS_PATH);
        // An unknown kid triggers a fetch, which fails: still just "unknown kid".
        let unknown = TokenBuilder::workspace(NOW)
            .header("kid", json!("unknown"))
            .sign();
        assert_eq!(
            guard.validate_at(&unknown, NOW).await.unwrap_err(),
            GuardError::UnknownKeyId
        );
        assert_eq!(issuer.hits(JWKS_PATH), hits + 1);
        assert!(guard.refresh_keys().await.is_err());
        // Known keys keep working, with or without the token cache.
        guard.clear_cache();
        guard.validate_at(&token, NOW).await.unwrap();
    }

    // A JWKS with no usable key is treated as a failure, not as "trust nothing".
    issuer.set_json(JWKS_PATH, r#"{"keys":[]}"#);
    assert!(matches!(
        guard.refresh_keys().await,
        Err(FetchError::NoUsableKeys)
    ));
    guard.clear_cache();
    guard.validate_at(&token, NOW).await.unwrap();

    // And when the whole server is gone.
    drop(issuer);
    guard.clear_cache();
    guard.validate_at(&token, NOW).await.unwrap();
}

#[tokio::test]
async fn no_keys_and_an_unreachable_issuer_is_a_503_not_a_panic() {
    let issuer = FakeIssuer::start();
    issuer.set(JWKS_PATH, Reply::Hangup);
    let guard = jwks_guard(&issuer, Duration::from_secs(30));
    let token = TokenBuilder::workspace(NOW).sign();
    let err = guard.validate_at(&token, NOW).await.unwrap_err();
    assert_eq!(err, GuardError::KeysUnavailable);
    assert_eq!(err.status(), 503);
    // Retried (bounded) once the issuer is back.
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::KeysUnavailable
    );
    assert_eq!(issuer.hits(JWKS_PATH), 1);
}

#[tokio::test]
async fn a_withdrawn_key_stops_validating_cached_tokens() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a(), public_key_b()]));
    let guard = jwks_guard(&issuer, Duration::from_secs(3600));
    let token = TokenBuilder::workspace(NOW).sign();
    guard.validate_at(&token, NOW).await.unwrap();
    assert_eq!(guard.cached_tokens(), 1);

    // Key A is withdrawn (e.g. compromised); the periodic refresh notices.
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_b()]));
    guard.refresh_keys().await.unwrap();
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::UnknownKeyId
    );
}

#[tokio::test]
async fn adding_a_key_does_not_invalidate_the_cache() {
    let issuer = FakeIssuer::start();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a()]));
    let store = store(&issuer, Duration::from_secs(3600));
    store.refresh().await.unwrap();
    let generation = store.generation();
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_a(), public_key_b()]));
    store.refresh().await.unwrap();
    assert_eq!(store.generation(), generation);
    issuer.set_json(JWKS_PATH, &jwks(&[public_key_b()]));
    store.refresh().await.unwrap();
    assert_ne!(store.generation(), generation);
}

#[test]
fn unusable_jwks_entries_are_skipped() {
    let a = public_key_a();
    let (n, e) = a.rsa_components().unwrap();
    let doc = json!({"keys": [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": e},
        {"kty": "RSA", "kid": "hs", "alg": "HS256", "n": n, "e": e},
        {"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "no-n", "e": e},
        {"kty": "RSA", "n": n, "e": e},
        "not an object",
        {"kty": "RSA", "kid": "good", "use": "sig", "alg": "RS256", "n": n, "e": e, "x5c": ["ignored"]},
    ]});
    let keys = crate::keys::parse_jwks(doc.to_string().as_bytes()).unwrap();
    assert_eq!(
        keys.iter().map(PublicKey::kid).collect::<Vec<_>>(),
        vec!["good"]
    );
    assert!(crate::keys::parse_jwks(b"[]").is_err());
    assert!(StaticKeyStore::from_jwks_json("{}").is_err());
}

#[test]
fn a_jwk_stating_the_fully_specified_ed25519_name_is_read_as_eddsa() {
    // RFC 8037 appendix A.2; `Ed25519` is EdDSA's fully specified name (RFC 9864).
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let doc = json!({"keys": [
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "alg": "Ed25519", "x": x},
        {"kty": "RSA", "kid": "rsa-named-ed", "alg": "Ed25519", "n": "AQAB", "e": "AQAB"},
    ]});
    let keys = crate::keys::parse_jwks(doc.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].algorithm(), Some(Algorithm::EdDSA));
    assert!(keys[0].accepts(Algorithm::EdDSA));
}

#[test]
fn one_jwk_is_read_strictly() {
    let a = public_key_a();
    let (n, e) = a.rsa_components().unwrap();
    let key = PublicKey::from_jwk(&json!({"kty": "RSA", "n": n, "e": e})).unwrap();
    assert_eq!(key.kid(), a.kid(), "no kid: the RFC 7638 thumbprint");
    for refused in [
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": e}),
        json!({"kty": "RSA", "kid": "hs", "alg": "HS256", "n": n, "e": e}),
        json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-n", "e": e}),
        json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}),
        json!("not an object"),
    ] {
        assert!(PublicKey::from_jwk(&refused).is_err(), "{refused}");
    }
}

#[tokio::test]
async fn a_static_store_from_pem_validates_issuer_tokens() {
    let store =
        StaticKeyStore::from_rsa_pems([TEST_KEY_A_PUBLIC.as_bytes(), TEST_KEY_B_PUBLIC.as_bytes()])
            .unwrap();
    assert_eq!(store.len(), 2);
    let guard = fed(Guard::with_key_store(config(), store).unwrap());
    guard
        .validate_at(&TokenBuilder::workspace(NOW).sign(), NOW)
        .await
        .unwrap();
    let from_b = TokenBuilder::workspace(NOW)
        .signed_by_key_b()
        .header("kid", json!(kid_b()))
        .sign();
    guard.validate_at(&from_b, NOW).await.unwrap();
    assert!(
        guard.refresh_keys().await.is_ok(),
        "static stores have nothing to refresh"
    );
}

#[test]
fn bad_pem_is_a_config_error() {
    assert!(PublicKey::from_rsa_pem(b"not a pem").is_err());
    // A private key is not accepted where a public key is expected.
    assert!(PublicKey::from_rsa_pem(TEST_KEY_A_PRIVATE.as_bytes()).is_err());
    assert!(PublicKey::from_rsa_components("", "AQAB", "AQAB", None).is_err());
}
