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
    TestApp::expect(
        app.admin_patch(
            &format!("/workspaces/{workspace}"),
            json!({"status": "suspended"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        feed(&app).await["workspaces"][0]["workspace_id"],
        workspace.as_str()
    );
    assert_eq!(introspect_as_admin(&app, &token).await["active"], false);
    TestApp::expect(
        app.admin_patch(
            &format!("/workspaces/{workspace}"),
            json!({"status": "active"}),
        )
        .await,
        200,
    )
    .await;
    assert!(feed(&app).await["workspaces"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(introspect_as_admin(&app, &token).await["active"], true);

    TestApp::expect(
        app.admin_patch(
            &format!("/accounts/{account}"),
            json!({"status": "suspended"}),
        )
        .await,
        200,
    )
    .await;
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

backend_tests!(
    introspection_reports_valid_tokens_with_their_claims,
    introspection_says_inactive_for_anything_not_currently_valid,
    deactivation_reaches_the_feed_and_introspection,
    rotation_revokes_old_tokens_only_when_asked,
    suspension_is_in_the_feed_only_while_suspended,
    a_client_revokes_its_own_token_and_nobody_elses,
);
