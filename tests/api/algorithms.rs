//! `keys.algorithm`: ES256 and EdDSA tokens end to end, and switching algorithm by rotation.

use serde_json::{json, Value};
use tessera::config::Settings;
use tessera::crypto::keys::{self, KeyAlgorithm};

use crate::helpers::TestApp;

pub fn es256(settings: &mut Settings) {
    settings.keys.algorithm = KeyAlgorithm::Es256;
}

pub fn eddsa(settings: &mut Settings) {
    settings.keys.algorithm = KeyAlgorithm::EdDsa;
}

async fn metadata_algorithms(app: &TestApp) -> Value {
    let r = app
        .client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            app.public
        ))
        .send()
        .await
        .unwrap();
    TestApp::expect(r, 200).await["access_token_signing_alg_values_supported"].clone()
}

/// The token's header, decoded by hand (jsonwebtoken's `Header` would hide unknown members).
fn header(token: &str) -> Value {
    use base64::Engine as _;
    let b64 = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// What a server with `keys.algorithm = alg` and a fresh key directory does.
async fn tokens_are_signed_and_verified_with(app: TestApp, alg: &str, kty: &str, crv: &str) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app
        .workspace_credential(&workspace, "chat_user", json!({"scopes": ["read"]}))
        .await;
    let token = app.token(&cred).await;

    let header = header(&token);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "at+jwt");
    let jwks = app.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    let key = &keys[0];
    assert_eq!(header["kid"], key["kid"]);
    assert_eq!(key["kty"], kty);
    assert_eq!(key["crv"], crv);
    assert_eq!(key["alg"], alg);
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "a private member is published");
    assert!(key.get("n").is_none() && key.get("e").is_none(), "{key}");
    assert_eq!(key.get("y").is_some(), kty == "EC", "{key}");
    // The kid is the RFC 7638 thumbprint, as jsonwebtoken computes it from the published JWK.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    assert_eq!(
        key["kid"],
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
            .as_str()
    );

    // A standard library verifies it with nothing but the JWKS.
    let claims = app.verify(&token).await;
    assert_eq!(claims["client_id"], cred.client_id.as_str());
    assert_eq!(claims["workspace_id"], workspace.as_str());
    assert_eq!(claims["roles"], json!(["chat_user"]));
    assert_eq!(claims["scope"], "read");

    // Introspection verifies it too, and says inactive once the signature is broken.
    let body = app.introspect(&token).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], cred.client_id.as_str());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = signature.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let broken = format!("{signed}.{}", String::from_utf8(bytes).unwrap());
    assert_eq!(app.introspect(&broken).await, json!({"active": false}));

    assert_eq!(metadata_algorithms(&app).await, json!([alg]));
}

async fn es256_tokens_verify_against_the_jwks_and_introspect(app: TestApp) {
    tokens_are_signed_and_verified_with(app, "ES256", "EC", "P-256").await;
}

async fn eddsa_tokens_verify_against_the_jwks_and_introspect(app: TestApp) {
    tokens_are_signed_and_verified_with(app, "EdDSA", "OKP", "Ed25519").await;
}

/// The operator sets `keys.algorithm = "ES256"` and runs `tessera keys rotate`: a new EC key
/// signs, the RSA key stays published, and the tokens it signed keep working everywhere.
async fn an_rs256_token_keeps_verifying_after_switching_to_es256(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let old_token = app.token(&cred).await;
    assert_eq!(header(&old_token)["alg"], "RS256");

    keys::generate(
        &app.state.settings.keys.dir,
        KeyAlgorithm::Es256,
        chrono::Utc::now().timestamp() + 1,
    )
    .unwrap();
    assert!(app.state.keys.reload().unwrap());

    let new_token = app.token(&cred).await;
    assert_eq!(header(&new_token)["alg"], "ES256");
    assert_ne!(header(&new_token)["kid"], header(&old_token)["kid"]);
    let jwks = app.jwks().await;
    let kinds: Vec<(&str, &str)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kty"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![("EC", "ES256"), ("RSA", "RS256")],
        "newest first"
    );
    assert_eq!(metadata_algorithms(&app).await, json!(["RS256", "ES256"]));

    for token in [&old_token, &new_token] {
        app.verify(token).await;
        let body = app.introspect(token).await;
        assert_eq!(body["active"], true, "{body}");
    }

    // Once every RS256 token can have expired, the RSA key leaves the JWKS, and its tokens
    // (expired by then anyway) are no longer honoured.
    let settings = &app.state.settings;
    app.clock
        .advance(settings.tokens.lifetime_seconds + settings.keys.leeway_seconds + 2);
    let jwks = app.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert_eq!(metadata_algorithms(&app).await, json!(["ES256"]));
    assert_eq!(app.introspect(&old_token).await, json!({"active": false}));
}

backend_tests!(
    es256_tokens_verify_against_the_jwks_and_introspect with crate::algorithms::es256,
    eddsa_tokens_verify_against_the_jwks_and_introspect with crate::algorithms::eddsa,
    an_rs256_token_keeps_verifying_after_switching_to_es256,
);
