//! `POST /oauth/token` and the documents that verify its tokens.

use base64::Engine;
use reqwest::header;
use serde_json::{json, Value};

use crate::helpers::{contains, TestApp};

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

async fn error_of(response: reqwest::Response, status: u16) -> (Value, reqwest::header::HeaderMap) {
    let headers = response.headers().clone();
    let body = TestApp::expect(response, status).await;
    assert!(body["error_description"].is_string(), "{body}");
    (body, headers)
}

async fn json_form_basic_and_post_all_issue_tokens(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let form = "application/x-www-form-urlencoded";

    let json = app
        .token_json(
            &cred.client_id,
            &cred.secret,
            json!({"audience": "https://api.example.test/"}),
        )
        .await;
    assert_eq!(json.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(json.headers()[header::PRAGMA], "no-cache");
    let body = TestApp::expect(json, 200).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert!(body.get("scope").is_none());

    let with_basic = app
        .client
        .post(app.token_url())
        .header(header::AUTHORIZATION, basic(&cred.client_id, &cred.secret))
        .header(header::CONTENT_TYPE, form)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    TestApp::expect(with_basic, 200).await;

    let post = app
        .client
        .post(app.token_url())
        .header(header::CONTENT_TYPE, form)
        .body(format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&resource={}",
            cred.client_id,
            cred.secret,
            form_urlencoded::byte_serialize(b"https://api.example.test/").collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    TestApp::expect(post, 200).await;
}

async fn account_tokens_carry_every_claim_and_verify_with_the_jwks(app: TestApp) {
    let (account, cred) = app.account_with_key().await;
    let before = chrono::Utc::now().timestamp();
    let token = app.token(&cred).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let claims = app.verify(&token).await;
    let jwks = app.jwks().await;
    assert_eq!(header.kid.as_deref(), jwks["keys"][0]["kid"].as_str());
    assert_eq!(claims["iss"], app.state.settings.server.issuer.as_str());
    assert_eq!(claims["sub"], cred.client_id.as_str());
    assert_eq!(claims["client_id"], cred.client_id.as_str());
    assert_eq!(claims["aud"], "https://api.example.test/");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=before + 5).contains(&iat));
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 86400));
    assert_eq!(claims["roles"], json!(["account_admin"]));
    assert_eq!(claims["key_type"], "account");
    assert_eq!(claims["account_id"], account.as_str());
    assert!(claims.get("workspace_id").is_none());
    assert!(claims.get("scope").is_none());
    let other = app.verify(&app.token(&cred).await).await;
    assert_ne!(claims["jti"], other["jti"]);
}

async fn workspace_tokens_carry_role_workspace_and_scopes(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let cred = app
        .workspace_credential(
            &workspace,
            "content_manager",
            json!({"scopes": ["content:read", "content:write"]}),
        )
        .await;
    assert!(cred.client_id.starts_with("wk_"));
    let body = TestApp::expect(
        app.token_json(
            &cred.client_id,
            &cred.secret,
            json!({"scope": "content:read"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["scope"], "content:read");
    let claims = app.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["roles"], json!(["content_manager"]));
    assert_eq!(claims["key_type"], "workspace");
    assert_eq!(claims["workspace_id"], workspace.as_str());
    assert_eq!(claims["account_id"], account.as_str());
    assert_eq!(claims["scope"], "content:read");
    // Without a scope parameter the token carries every scope of the credential.
    let all = app.verify(&app.token(&cred).await).await;
    assert_eq!(all["scope"], "content:read content:write");
}

async fn unknown_client_and_wrong_secret_get_byte_identical_bodies(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let other_secret = {
        let (_, other) = app.account_with_key().await;
        other.secret
    };
    let unknown_id = format!("ak_{}", "Z".repeat(24));
    let wrong = app
        .token_json(&cred.client_id, &other_secret, json!({}))
        .await;
    let unknown = app.token_json(&unknown_id, &cred.secret, json!({})).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let a = wrong.bytes().await.unwrap();
    let b = unknown.bytes().await.unwrap();
    assert_eq!(a, b);
    let body: Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(body["error"], "invalid_client");
    // A malformed secret (bad checksum) looks the same.
    let mut tampered = cred.secret.clone();
    tampered.replace_range(
        10..11,
        if &cred.secret[10..11] == "x" {
            "y"
        } else {
            "x"
        },
    );
    let bad = app.token_json(&cred.client_id, &tampered, json!({})).await;
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.bytes().await.unwrap(), a);
}

async fn basic_auth_failures_carry_a_challenge(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let r = app
        .client
        .post(app.token_url())
        .header(header::AUTHORIZATION, basic(&cred.client_id, "tss_wrong"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let (body, headers) = error_of(r, 401).await;
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Basic realm=\"tessera\"");
    // Without Basic, no challenge.
    let r = app
        .token_json(&cred.client_id, "tss_wrong", json!({}))
        .await;
    let (_, headers) = error_of(r, 401).await;
    assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
}

async fn malformed_requests_are_invalid_request(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let form = "application/x-www-form-urlencoded";
    let post = |ct: &'static str, body: Vec<u8>| {
        app.client
            .post(app.token_url())
            .header(header::CONTENT_TYPE, ct)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", br#"{"grant_type": 5}"#.to_vec()),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
        (form, format!("client_id={}&client_secret={}", cred.client_id, cred.secret).into_bytes()),
        (
            form,
            format!("grant_type=client_credentials&client_id={0}&client_id={0}&client_secret={1}", cred.client_id, cred.secret)
                .into_bytes(),
        ),
        (
            "application/json",
            format!(r#"{{"grant_type":"client_credentials","grant_type":"client_credentials","client_id":"{}","client_secret":"{}"}}"#, cred.client_id, cred.secret)
                .into_bytes(),
        ),
        (form, {
            let mut b = format!("grant_type=client_credentials&client_id={}&client_secret={}&pad=", cred.client_id, cred.secret).into_bytes();
            b.extend(std::iter::repeat_n(b'a', 17 * 1024));
            b
        }),
    ];
    for (ct, body) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let (body, _) = error_of(post(ct, body).await.unwrap(), 400).await;
        assert_eq!(body["error"], "invalid_request", "for {ct} {shown}");
    }
    // Credentials both in the Basic header and in the body.
    let r = app
        .client
        .post(app.token_url())
        .header(header::AUTHORIZATION, basic(&cred.client_id, &cred.secret))
        .header(header::CONTENT_TYPE, form)
        .body(format!(
            "grant_type=client_credentials&client_secret={}",
            cred.secret
        ))
        .send()
        .await
        .unwrap();
    let (body, _) = error_of(r, 400).await;
    assert_eq!(body["error"], "invalid_request");
}

async fn grant_target_and_scope_errors(app: TestApp) {
    let account = app.create_account("Acme").await;
    let cred = app
        .account_credential(&account, json!({"scopes": ["read"]}))
        .await;
    let cases = [
        (
            json!({"grant_type": "password"}),
            400,
            "unsupported_grant_type",
        ),
        (
            json!({"grant_type": "authorization_code"}),
            400,
            "unsupported_grant_type",
        ),
        (
            json!({"audience": "https://elsewhere.test/"}),
            400,
            "invalid_target",
        ),
        (
            json!({"resource": "https://elsewhere.test/"}),
            400,
            "invalid_target",
        ),
        (json!({"scope": "write"}), 400, "invalid_scope"),
        (json!({"scope": "read admin"}), 400, "invalid_scope"),
    ];
    for (extra, status, code) in cases {
        let shown = extra.to_string();
        let (body, _) = error_of(
            app.token_json(&cred.client_id, &cred.secret, extra).await,
            status,
        )
        .await;
        assert_eq!(body["error"], code, "for {shown}");
    }
}

async fn suspended_tenants_get_unauthorized_client(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let ws_key = app
        .workspace_credential(&workspace, "chat_user", json!({}))
        .await;
    let acct_key = app.account_credential(&account, json!({})).await;

    app.suspend_workspace(&workspace).await;
    let (body, _) = error_of(
        app.token_json(&ws_key.client_id, &ws_key.secret, json!({}))
            .await,
        400,
    )
    .await;
    assert_eq!(body["error"], "unauthorized_client");
    app.token(&acct_key).await;

    app.suspend_account(&account).await;
    let (body, _) = error_of(
        app.token_json(&acct_key.client_id, &acct_key.secret, json!({}))
            .await,
        400,
    )
    .await;
    assert_eq!(body["error"], "unauthorized_client");

    app.reactivate_account(&account).await;
    app.reactivate_workspace(&workspace).await;
    app.token(&acct_key).await;
    app.token(&ws_key).await;
}

async fn unicode_and_nul_in_every_field_never_give_a_server_error(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let nasty = [
        "\0",
        "é\u{0}ü",
        "\u{202e}ak_x",
        "😀😀😀",
        "\u{FFFF}",
        "%00",
        "'; DROP TABLE credentials; --",
    ];
    let fields = [
        "grant_type",
        "client_id",
        "client_secret",
        "audience",
        "resource",
        "scope",
    ];
    for field in fields {
        for value in nasty {
            let mut body = json!({"grant_type": "client_credentials", "client_id": cred.client_id, "client_secret": cred.secret});
            body[field] = json!(value);
            let r = app
                .client
                .post(app.token_url())
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{field}={value:?} gave {status}"
            );
            let form_body = format!(
                "grant_type=client_credentials&client_id={}&client_secret={}&{field}={}",
                cred.client_id,
                cred.secret,
                form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
            );
            let r = app
                .client
                .post(app.token_url())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form_body)
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_client_error(),
                "form {field}={value:?} gave {}",
                r.status()
            );
        }
    }
    // Raw invalid UTF-8 and NUL bytes in a form body.
    let r = app
        .client
        .post(app.token_url())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"grant_type=client_credentials&client_id=\xff\xfe\x00&client_secret=\x00".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn no_plaintext_secret_reaches_the_database(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let mut secrets = vec![app.admin_token.clone()];
    for _ in 0..3 {
        let c = app.account_credential(&account, json!({})).await;
        app.token(&c).await;
        secrets.push(c.secret);
    }
    let w = app
        .workspace_credential(&workspace, "workspace_admin", json!({}))
        .await;
    app.token(&w).await;
    secrets.push(w.secret);
    // What the uses leave is written too, before the database is read: the last-used times of
    // all four credentials.
    assert_eq!(app.flush_usage().await, 4, "every use is flushed now");
    let read = TestApp::expect(app.admin_get(&format!("/credentials/{}", w.id)).await, 200).await;
    assert!(!read["last_used_at"].is_null(), "{read}");
    let bytes = app.database_bytes().await;
    assert!(!bytes.is_empty());
    for s in &secrets {
        assert!(
            !contains(&bytes, s),
            "a plaintext secret is in the database"
        );
        // Not even the random part without its prefix.
        assert!(!contains(&bytes, &s[4..40]));
    }
    // The hashes are there, and they are argon2id.
    assert!(contains(&bytes, "$argon2id$"));
}

async fn the_old_key_keeps_verifying_after_a_rotation(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let old_token = app.token(&cred).await;
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .unwrap()
        .kid
        .unwrap();
    tessera::crypto::keys::generate(
        &app.state.settings.keys.dir,
        tessera::crypto::keys::KeyAlgorithm::Rs256,
        chrono::Utc::now().timestamp() + 1,
    )
    .unwrap();
    assert!(app.state.keys.reload().unwrap());
    let new_token = app.token(&cred).await;
    let new_kid = jsonwebtoken::decode_header(&new_token)
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(old_kid, new_kid);
    let jwks = app.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    app.verify(&old_token).await;
    app.verify(&new_token).await;
}

async fn discovery_documents(app: TestApp) {
    let r = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=300");
    let jwks = TestApp::expect(r, 200).await;
    let key = &jwks["keys"][0];
    for field in ["kty", "kid", "use", "alg", "n", "e"] {
        assert!(key[field].is_string(), "{field} missing");
    }
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert!(key.get("d").is_none(), "a private member is published");
    let expected_kid =
        tessera::crypto::keys::thumbprint(key["n"].as_str().unwrap(), key["e"].as_str().unwrap());
    assert_eq!(key["kid"], expected_kid.as_str());

    let meta = TestApp::expect(
        app.client
            .get(format!(
                "{}/.well-known/oauth-authorization-server",
                app.public
            ))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let issuer = app.state.settings.server.issuer.clone();
    assert_eq!(meta["issuer"], issuer.as_str());
    assert_eq!(meta["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(meta["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(meta["grant_types_supported"], json!(["client_credentials"]));
    assert!(meta["response_types_supported"].is_array());
    for field in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        assert!(!meta[field].is_null(), "{field} missing");
    }

    let health = app
        .client
        .get(format!("{}/healthz", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let wrong_method = app.client.get(app.token_url()).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
}

backend_tests!(
    json_form_basic_and_post_all_issue_tokens,
    account_tokens_carry_every_claim_and_verify_with_the_jwks,
    workspace_tokens_carry_role_workspace_and_scopes,
    unknown_client_and_wrong_secret_get_byte_identical_bodies,
    basic_auth_failures_carry_a_challenge,
    malformed_requests_are_invalid_request,
    grant_target_and_scope_errors,
    suspended_tenants_get_unauthorized_client,
    unicode_and_nul_in_every_field_never_give_a_server_error,
    no_plaintext_secret_reaches_the_database with crate::helpers::manual_flush,
    token_reuse with super::with_reuse,
    the_old_key_keeps_verifying_after_a_rotation,
    discovery_documents,
    remembered_secrets_stop_working_at_rotation_and_deactivation,
);

/// The argon2 skip for known secrets never outlives a rotation or a deactivation.
async fn remembered_secrets_stop_working_at_rotation_and_deactivation(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    app.token(&cred).await;
    app.token(&cred).await; // now served from the verified-secret map
    assert!(!app.state.verified.is_empty());
    let rotated = TestApp::expect(
        app.admin_post(&format!("/credentials/{}/rotate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    let r = app
        .token_json(&cred.client_id, &cred.secret, json!({}))
        .await;
    assert_eq!(
        r.status(),
        401,
        "the old secret must fail on the very next request"
    );
    let new_secret = rotated["client_secret"].as_str().unwrap();
    TestApp::expect(
        app.token_json(&cred.client_id, new_secret, json!({})).await,
        200,
    )
    .await;
    TestApp::expect(
        app.token_json(&cred.client_id, new_secret, json!({})).await,
        200,
    )
    .await;
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    let r = app.token_json(&cred.client_id, new_secret, json!({})).await;
    assert_eq!(r.status(), 401);
}

/// Tokens reused for a minute.
fn with_reuse(settings: &mut tessera::config::Settings) {
    settings.tokens.reuse_seconds = 60;
}

/// `tokens.reuse_seconds`: the same token comes back, counting down, until something it depends
/// on changes.
async fn token_reuse(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app
        .workspace_credential(&workspace, "chat_user", json!({"scopes": ["a", "b"]}))
        .await;
    let get = |extra: Value| app.token_json(&cred.client_id, &cred.secret, extra);
    let first = TestApp::expect(get(json!({})).await, 200).await;
    app.clock.advance(10);
    let again = TestApp::expect(get(json!({})).await, 200).await;
    assert_eq!(first["access_token"], again["access_token"]);
    // The clock runs: a second may begin between the two requests on a loaded machine.
    let left = again["expires_in"].as_i64().unwrap();
    assert!((86_400 - 11..=86_400 - 10).contains(&left), "{left}");
    // Another scope is another token.
    let narrow = TestApp::expect(get(json!({"scope": "a"})).await, 200).await;
    assert_ne!(narrow["access_token"], first["access_token"]);
    // A role change is never served from the old token.
    TestApp::expect(
        app.admin_patch(
            &format!("/credentials/{}", cred.id),
            json!({"role": "workspace_admin"}),
        )
        .await,
        200,
    )
    .await;
    let reroled = TestApp::expect(get(json!({})).await, 200).await;
    assert_ne!(reroled["access_token"], first["access_token"]);
    assert_eq!(
        app.verify(reroled["access_token"].as_str().unwrap()).await["roles"],
        json!(["workspace_admin"])
    );
    // Past the window, a new token.
    app.clock.advance(61);
    let later = TestApp::expect(get(json!({})).await, 200).await;
    assert_ne!(later["access_token"], reroled["access_token"]);
    assert_eq!(later["expires_in"], 86_400);
    // A token the client revoked (RFC 7009) is never handed back.
    let later_token = later["access_token"].as_str().unwrap();
    let revoked = app
        .client
        .post(format!("{}/oauth/revoke", app.public))
        .basic_auth(&cred.client_id, Some(&cred.secret))
        .form(&[("token", later_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    app.clock.advance(1);
    let fresh = TestApp::expect(get(json!({})).await, 200).await;
    assert_ne!(fresh["access_token"], later["access_token"]);
    assert_eq!(fresh["expires_in"], 86_400);
    // ...and its replacement is reused as usual.
    let again = TestApp::expect(get(json!({})).await, 200).await;
    assert_eq!(again["access_token"], fresh["access_token"]);
}
