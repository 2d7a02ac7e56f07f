//! The revocation feed, introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{json, Value};

use crate::helpers::{Cred, TestApp};

const FORM: &str = "application/x-www-form-urlencoded";

async fn introspect_as_admin(app: &TestApp, token: &str) -> Value {
    let r = app
        .client
        .post(format!("{}/oauth/introspect", app.public))
        .bearer_auth(&app.admin_token)
        .header("content-type", FORM)
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    TestApp::expect(r, 200).await
}

async fn introspect_as(app: &TestApp, caller: &Cred, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/oauth/introspect", app.public))
        .basic_auth(&caller.client_id, Some(&caller.secret))
        .header("content-type", FORM)
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, caller: &Cred, token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/oauth/revoke", app.public))
        .header("content-type", FORM)
        .body(format!(
            "token={token}&token_type_hint=access_token&client_id={}&client_secret={}",
            caller.client_id, caller.secret
        ))
        .send()
        .await
        .unwrap()
}

async fn feed(app: &TestApp) -> Value {
    let r = app
        .client
        .get(format!("{}/oauth/revocations", app.public))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("public, max-age="));
    TestApp::expect(r, 200).await
}

async fn introspection_reports_valid_tokens_with_their_claims(app: TestApp) {
    let (account, cred) = app.account_with_key().await;
    let token = app.token(&cred).await;
    let body = introspect_as_admin(&app, &token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], cred.client_id.as_str());
    assert_eq!(body["account_id"], account.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["exp"].is_i64());
    // A credential of the same account may introspect; one of another account sees nothing.
    let sibling = app.account_credential(&account, json!({})).await;
    let own = TestApp::expect(introspect_as(&app, &sibling, &token).await, 200).await;
    assert_eq!(own["active"], true);
    let (_, stranger) = app.account_with_key().await;
    let other = TestApp::expect(introspect_as(&app, &stranger, &token).await, 200).await;
    assert_eq!(other, json!({"active": false}));
    // No or bad authentication.
    let r = app
        .client
        .post(format!("{}/oauth/introspect", app.public))
        .header("content-type", FORM)
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 401).await["error"], "invalid_client");
}

async fn introspection_says_inactive_for_anything_not_currently_valid(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let token = app.token(&cred).await;
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        "",
        "garbage",
        "a.b.c",
        flipped.as_str(),
        &"x".repeat(10_000),
    ] {
        assert_eq!(
            introspect_as_admin(&app, bad).await,
            json!({"active": false}),
            "{bad:.40}"
        );
    }
    // Expired: a day and a second later.
    app.clock.advance(86_401);
    assert_eq!(
        introspect_as_admin(&app, &token).await,
        json!({"active": false})
    );
}

async fn deactivation_reaches_the_feed_and_introspection(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let token = app.token(&cred).await;
    assert!(feed(&app).await["credentials"]
        .as_array()
        .unwrap()
        .is_empty());
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(introspect_as_admin(&app, &token).await["active"], false);
    let feed = feed(&app).await;
    let entry = &feed["credentials"][0];
    assert_eq!(entry["client_id"], cred.client_id.as_str());
    let iat = app.verify(&token).await["iat"].as_i64().unwrap();
    assert!(entry["revoked_before"].as_i64().unwrap() >= iat);
    assert!(feed["generated_at"].is_i64());
}

async fn rotation_revokes_old_tokens_only_when_asked(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let before = app.token(&cred).await;
    let rotated = TestApp::expect(
        app.admin_post(&format!("/credentials/{}/rotate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        introspect_as_admin(&app, &before).await["active"],
        true,
        "a plain rotation keeps tokens"
    );
    let cred2 = Cred {
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
        ..cred.clone()
    };
    app.clock.advance(2);
    let second = app.token(&cred2).await;
    app.clock.advance(2);
    let rotated = TestApp::expect(
        app.admin_post(
            &format!("/credentials/{}/rotate", cred.id),
            json!({"revoke_tokens": true}),
        )
        .await,
        200,
    )
    .await;
    let cred3 = Cred {
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
        ..cred.clone()
    };
    // The token fetched right after the rotation, in the same second, stays valid.
    let after = app.token(&cred3).await;
    assert_eq!(introspect_as_admin(&app, &before).await["active"], false);
    assert_eq!(introspect_as_admin(&app, &second).await["active"], false);
    assert_eq!(introspect_as_admin(&app, &after).await["active"], true);
    assert_eq!(
        feed(&app).await["credentials"][0]["client_id"],
        cred.client_id.as_str()
    );
}

async fn suspension_is_in_the_feed_only_while_suspended(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app
        .workspace_credential(&workspace, "content_manager", json!({}))
        .await;
    let token = app.token(&cred).await;
    app.suspend_workspace(&workspace).await;
    assert_eq!(
        feed(&app).await["workspaces"][0]["workspace_id"],
        workspace.as_str()
    );
    assert_eq!(introspect_as_admin(&app, &token).await["active"], false);
    app.reactivate_workspace(&workspace).await;
    assert!(feed(&app).await["workspaces"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(introspect_as_admin(&app, &token).await["active"], true);

    app.suspend_account(&account).await;
    assert_eq!(
        feed(&app).await["accounts"][0]["account_id"],
        account.as_str()
    );
    assert_eq!(introspect_as_admin(&app, &token).await["active"], false);
}

async fn a_client_revokes_its_own_token_and_nobody_elses(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let (_, other) = app.account_with_key().await;
    let mine = app.token(&cred).await;
    let theirs = app.token(&other).await;
    // Garbage and another client's token: 200, nothing happens.
    assert_eq!(revoke(&app, &cred, "garbage").await.status(), 200);
    assert_eq!(revoke(&app, &cred, &theirs).await.status(), 200);
    assert_eq!(introspect_as_admin(&app, &theirs).await["active"], true);
    // Its own: revoked, and listed by jti until it expires.
    assert_eq!(revoke(&app, &cred, &mine).await.status(), 200);
    assert_eq!(
        revoke(&app, &cred, &mine).await.status(),
        200,
        "revoking twice is fine"
    );
    assert_eq!(introspect_as_admin(&app, &mine).await["active"], false);
    let jti = app.verify(&mine).await["jti"].clone();
    let feed = feed(&app).await;
    assert_eq!(feed["tokens"][0]["jti"], jti);
    assert!(feed["tokens"][0]["exp"].is_i64());
    // A wrong secret is a 401.
    let wrong = Cred {
        secret: other.secret.clone(),
        ..cred.clone()
    };
    assert_eq!(revoke(&app, &wrong, &mine).await.status(), 401);
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()[name].to_str().unwrap()
}

async fn the_feed_answers_304_and_deltas_from_a_cursor(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app.account_credential(&account, json!({})).await;
    let r = app.feed_response(&app.public, "").await;
    assert_eq!(header(&r, "cache-control"), "public, max-age=5");
    let etag = header(&r, "etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong tag: {etag}"
    );
    let first = TestApp::expect(r, 200).await;
    assert_eq!(first["complete"], true);
    assert_eq!(first["token_lifetime"], 86_400);
    assert_eq!(first["leeway"], app.state.settings.keys.leeway_seconds);
    assert_eq!(first["removed"], json!([]));
    let c0 = first["next_cursor"].as_str().unwrap().to_owned();

    // Nothing changed: 304, with the tag, and no body.
    let r = app
        .client
        .get(format!("{}/oauth/revocations", app.public))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().await.unwrap().is_empty());

    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    let r = app
        .client
        .get(format!("{}/oauth/revocations?since={c0}", app.public))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_ne!(header(&r, "etag"), etag, "the entries changed");
    let delta = TestApp::expect(r, 200).await;
    assert_eq!(delta["complete"], false);
    assert_eq!(delta["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(
        delta["credentials"][0]["client_id"],
        cred.client_id.as_str()
    );
    let c1 = delta["next_cursor"].as_str().unwrap().to_owned();
    assert_ne!(c1, c0);

    // Up to date: an empty delta.
    let empty = TestApp::expect(
        app.feed_response(&app.public, &format!("?since={c1}"))
            .await,
        200,
    )
    .await;
    assert_eq!(empty["complete"], false);
    for list in ["credentials", "accounts", "workspaces", "tokens", "removed"] {
        assert_eq!(empty[list], json!([]), "{list}");
    }

    // A workspace suspended and reactivated since: withdrawn, under `removed`.
    for status in ["suspended", "active"] {
        TestApp::expect(
            app.admin_patch(
                &format!("/workspaces/{workspace}"),
                json!({"status": status}),
            )
            .await,
            200,
        )
        .await;
    }
    let delta = TestApp::expect(
        app.feed_response(&app.public, &format!("?since={c1}"))
            .await,
        200,
    )
    .await;
    assert_eq!(delta["workspaces"], json!([]));
    assert_eq!(delta["removed"], json!([{"workspace_id": workspace}]));

    // A cursor it cannot answer from: the whole list.
    let (epoch, seq) = c1.split_once('-').unwrap();
    let seq: i64 = seq.parse().unwrap();
    for garbage in [
        "garbage".to_owned(),
        format!("{epoch}-{}", seq + 1000),
        format!("ffffff000000-{seq}"),
        "%00%ff".to_owned(),
        "-1".to_owned(),
    ] {
        let full = TestApp::expect(
            app.feed_response(&app.public, &format!("?since={garbage}"))
                .await,
            200,
        )
        .await;
        assert_eq!(full["complete"], true, "{garbage}");
        assert_eq!(full["credentials"][0]["client_id"], cred.client_id.as_str());
    }
}

async fn the_feed_is_built_at_most_once_per_interval(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let token = app.token(&cred).await;
    let before = app.feed().await;
    assert_eq!(revoke(&app, &cred, &token).await.status(), 200);
    // A client's revocation does not rebuild the public feed on demand...
    let cached = app.feed().await;
    assert_eq!(cached, before);
    assert_eq!(introspect_as_admin(&app, &token).await["active"], false);
    // ...the next build, an interval later, has it.
    app.clock.advance(5);
    let rebuilt = app.feed().await;
    assert_eq!(rebuilt["tokens"].as_array().unwrap().len(), 1);
    assert!(rebuilt["generated_at"].as_i64() > before["generated_at"].as_i64());
}

pub fn no_feed_cache(settings: &mut tessera::config::Settings) {
    settings.revocation.feed_cache_seconds = 0;
}

async fn feed_entries_drop_exactly_when_no_validator_accepts_their_tokens(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let (_, other) = app.account_with_key().await;
    let s = app.freeze();
    let token = app.token(&other).await;
    assert_eq!(revoke(&app, &other, &token).await.status(), 200);
    app.at(s, 500);
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    let (lifetime, leeway) = (86_400, app.state.settings.keys.leeway_seconds);
    let count = |feed: &Value, list: &str| feed[list].as_array().unwrap().len();
    // The jti entry: until exp + leeway.
    let exp = s + lifetime;
    app.at(exp + leeway - 1, 999);
    assert_eq!(count(&app.feed().await, "tokens"), 1);
    app.at(exp + leeway, 0);
    assert_eq!(count(&app.feed().await, "tokens"), 0);
    // The credential entry: until revoked_before + lifetime + leeway.
    let revoked_before = s + 1;
    app.at(revoked_before + lifetime + leeway - 1, 999);
    assert_eq!(count(&app.feed().await, "credentials"), 1);
    app.at(revoked_before + lifetime + leeway, 0);
    assert_eq!(count(&app.feed().await, "credentials"), 0);
}

async fn a_flood_of_revocations_cannot_grow_the_feed(app: TestApp) {
    use futures_util::StreamExt;
    use tessera::domain::claims::{AccessTokenClaims, TokenSubject};
    use tessera::domain::credential::CredentialKind;

    let (account, cred) = app.account_with_key().await;
    let settings = app.state.settings.clone();
    let cap = settings.revocation.max_tokens_per_credential as usize;
    // Tokens signed with the issuer's own key, as the token endpoint would (faster than asking).
    let mint = || {
        let claims = AccessTokenClaims::build(
            &settings.server.issuer,
            &TokenSubject {
                client_id: &cred.client_id,
                kind: CredentialKind::Account,
                account_id: &account,
                workspace_id: None,
                role: "account_admin",
            },
            &settings.tokens.audiences[0],
            &Default::default(),
            app.clock.now().timestamp(),
            3_600,
        );
        app.state.keys.sign(&claims).unwrap()
    };
    let flood = |n: usize| {
        let tokens: Vec<String> = (0..n).map(|_| mint()).collect();
        let app = &app;
        let cred = &cred;
        async move {
            futures_util::stream::iter(tokens)
                .map(|t| async move { revoke(app, cred, &t).await.status().as_u16() })
                .buffer_unordered(8)
                .collect::<Vec<u16>>()
                .await
        }
    };
    assert!(flood(cap).await.iter().all(|s| *s == 200));
    let at_cap = app
        .feed_response(&app.public, "")
        .await
        .bytes()
        .await
        .unwrap();
    let feed: Value = serde_json::from_slice(&at_cap).unwrap();
    assert_eq!(feed["tokens"].as_array().unwrap().len(), cap);
    assert_eq!(feed["credentials"], json!([]));

    // 4,000 more (5,000 in all), a second apart now and then so later tokens need entries.
    for _ in 0..4 {
        app.clock.advance(1);
        assert!(flood(1_000).await.iter().all(|s| *s == 200));
    }
    let after = app
        .feed_response(&app.public, "")
        .await
        .bytes()
        .await
        .unwrap();
    let feed: Value = serde_json::from_slice(&after).unwrap();
    assert!(feed["tokens"].as_array().unwrap().len() <= cap);
    assert_eq!(feed["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(feed["credentials"][0]["client_id"], cred.client_id.as_str());
    assert!(
        after.len() <= at_cap.len() + 200,
        "the feed grew with the flood: {} -> {} bytes",
        at_cap.len(),
        after.len()
    );
}

pub fn slow_plan(settings: &mut tessera::config::Settings) {
    settings
        .plans
        .get_mut("standard")
        .unwrap()
        .token_requests_per_minute = Some(3);
}

async fn revocations_count_against_the_plan_rate(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let token = app.token(&cred).await;
    assert_eq!(revoke(&app, &cred, "garbage").await.status(), 200);
    assert_eq!(revoke(&app, &cred, &token).await.status(), 200);
    let r = revoke(&app, &cred, &token).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(TestApp::expect(r, 429).await["error"], "rate_limited");
}

async fn the_audit_log_records_the_admin_token_beside_x_actor(app: TestApp) {
    let account = app.create_account("Acme").await;
    let r = app
        .client
        .post(app.admin_url(&format!("/accounts/{account}/credentials")))
        .bearer_auth(&app.admin_token)
        .header("x-actor", "alice@example.com")
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap();
    TestApp::expect(r, 201).await;
    let audit = TestApp::expect(
        app.admin_get(&format!("/audit?account_id={account}")).await,
        200,
    )
    .await;
    let created = &audit["items"][0];
    assert_eq!(created["action"], "credential.created");
    assert_eq!(created["actor"], "alice@example.com");
    assert_eq!(created["admin_token"], "test-admin");
    // Without X-Actor, both name the token.
    let account_event = &audit["items"][1];
    assert_eq!(account_event["action"], "account.created");
    assert_eq!(account_event["actor"], "test-admin");
    assert_eq!(account_event["admin_token"], "test-admin");
}

backend_tests!(
    the_feed_answers_304_and_deltas_from_a_cursor,
    the_feed_is_built_at_most_once_per_interval,
    feed_entries_drop_exactly_when_no_validator_accepts_their_tokens with crate::revocation::no_feed_cache,
    a_flood_of_revocations_cannot_grow_the_feed with crate::revocation::no_feed_cache,
    revocations_count_against_the_plan_rate with crate::revocation::slow_plan,
    the_audit_log_records_the_admin_token_beside_x_actor,
    introspection_reports_valid_tokens_with_their_claims,
    introspection_says_inactive_for_anything_not_currently_valid,
    deactivation_reaches_the_feed_and_introspection,
    rotation_revokes_old_tokens_only_when_asked,
    suspension_is_in_the_feed_only_while_suspended,
    a_client_revokes_its_own_token_and_nobody_elses,
);
