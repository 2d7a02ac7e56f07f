//! The boundary rule: every token issued before a revocation event is invalid, every token
//! issued after it valid — also within the same second — for each kind of event, at
//! introspection and by the feed's rule, on one replica and across two.
//!
//! The clock is frozen inside a second, so "the same second" is exact, not a matter of luck.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Cred, TestApp};

/// Whether the feed revokes a token with `claims`, by the rule an offline validator applies.
fn feed_revokes(feed: &Value, claims: &Value) -> bool {
    let iat = claims["iat"].as_i64().unwrap();
    let listed = |list: &str, key: &str| {
        feed[list]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e[key] == claims[key] && e["revoked_before"].as_i64().unwrap() > iat)
    };
    listed("credentials", "client_id")
        || listed("accounts", "account_id")
        || (claims.get("workspace_id").is_some() && listed("workspaces", "workspace_id"))
        || feed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["jti"] == claims["jti"])
}

/// Valid at introspection and by the feed: `Some(true)`; invalid at both: `Some(false)`; the
/// two disagree: `None`.
async fn verdict(app: &TestApp, base: &str, token: &str) -> Option<bool> {
    let claims = app.verify(token).await;
    let active = app.active_at(base, token).await;
    let feed = TestApp::expect(app.feed_response(base, "").await, 200).await;
    let by_feed = !feed_revokes(&feed, &claims);
    (active == by_feed).then_some(active)
}

/// Requests a token at `base` in the background: it must wait for the next second.
fn token_later(app: &TestApp, base: &str, cred: &Cred) -> tokio::task::JoinHandle<Value> {
    let client = app.client.clone();
    let url = format!("{base}/oauth/token");
    let body = json!({"grant_type": "client_credentials", "client_id": cred.client_id,
        "client_secret": cred.secret});
    tokio::spawn(async move {
        let r = client.post(url).json(&body).send().await.unwrap();
        TestApp::expect(r, 200).await
    })
}

/// The request waits while the clock stays in second `s`, and is signed at `s + 1` once the
/// clock gets there: `iat` is then exactly now, never in the future.
async fn signed_in_the_next_second(
    app: &TestApp,
    request: tokio::task::JoinHandle<Value>,
    s: i64,
) -> String {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !request.is_finished(),
        "a token was signed in the event's second"
    );
    app.at(s + 1, 0);
    let body = request.await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.verify(&token).await["iat"], s + 1);
    token
}

async fn rotate(app: &TestApp, cred: &Cred, body: Value) -> Cred {
    let rotated = TestApp::expect(
        app.admin_post(&format!("/credentials/{}/rotate", cred.id), body)
            .await,
        200,
    )
    .await;
    Cred {
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
        ..cred.clone()
    }
}

async fn a_deactivation_revokes_every_token_of_its_second(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let s = app.freeze();
    let token = app.token(&cred).await;
    app.at(s, 900);
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(verdict(&app, &app.public, &token).await, Some(false));
    let feed = app.feed().await;
    assert_eq!(feed["credentials"][0]["revoked_before"], s + 1);
    let r = app
        .token_json(&cred.client_id, &cred.secret, json!({}))
        .await;
    assert_eq!(TestApp::expect(r, 401).await["error"], "invalid_client");
}

async fn a_rotation_with_revoke_tokens_splits_its_second(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let s = app.freeze();
    let before = app.token(&cred).await;
    app.at(s, 500);
    let cred = rotate(&app, &cred, json!({"revoke_tokens": true})).await;
    assert_eq!(verdict(&app, &app.public, &before).await, Some(false));
    let request = token_later(&app, &app.public, &cred);
    let after = signed_in_the_next_second(&app, request, s).await;
    assert_eq!(verdict(&app, &app.public, &after).await, Some(true));
    assert_eq!(verdict(&app, &app.public, &before).await, Some(false));
}

async fn a_plain_rotation_revokes_nothing(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let s = app.freeze();
    let before = app.token(&cred).await;
    app.at(s, 500);
    let cred = rotate(&app, &cred, json!({})).await;
    // No event, no wait: signed in the same second.
    let after = app.token(&cred).await;
    assert_eq!(app.verify(&after).await["iat"], s);
    assert_eq!(verdict(&app, &app.public, &before).await, Some(true));
    assert_eq!(verdict(&app, &app.public, &after).await, Some(true));
}

async fn a_role_change_revokes_the_old_roles_tokens(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app
        .workspace_credential(&workspace, "workspace_admin", json!({}))
        .await;
    let s = app.freeze();
    let admin_token = app.token(&cred).await;
    app.at(s, 400);
    let patched = TestApp::expect(
        app.admin_patch(
            &format!("/credentials/{}", cred.id),
            json!({"role": "chat_user"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["role"], "chat_user");
    assert_eq!(verdict(&app, &app.public, &admin_token).await, Some(false));
    let request = token_later(&app, &app.public, &cred);
    let chat_token = signed_in_the_next_second(&app, request, s).await;
    assert_eq!(verdict(&app, &app.public, &chat_token).await, Some(true));
    assert_eq!(app.verify(&chat_token).await["roles"], json!(["chat_user"]));
    // Setting the role it already has changes nothing and revokes nothing.
    TestApp::expect(
        app.admin_patch(
            &format!("/credentials/{}", cred.id),
            json!({"role": "chat_user"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(verdict(&app, &app.public, &chat_token).await, Some(true));
}

async fn suspensions_revoke_every_token_of_their_second_while_they_last(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app
        .workspace_credential(&workspace, "content_manager", json!({}))
        .await;
    for (path, list, key) in [
        (
            format!("/workspaces/{workspace}"),
            "workspaces",
            "workspace_id",
        ),
        (format!("/accounts/{account}"), "accounts", "account_id"),
    ] {
        let s = app.freeze();
        let token = app.token(&cred).await;
        app.at(s, 999);
        app.set_status(&path, "suspended").await;
        assert_eq!(
            verdict(&app, &app.public, &token).await,
            Some(false),
            "{list}"
        );
        let feed = app.feed().await;
        let entry = &feed[list][0];
        assert_eq!(entry["revoked_before"], s + 1);
        assert!(entry[key].is_string());
        let r = app
            .token_json(&cred.client_id, &cred.secret, json!({}))
            .await;
        assert_eq!(
            TestApp::expect(r, 400).await["error"],
            "unauthorized_client"
        );
        // Reactivated: the entry is withdrawn and the token works again.
        app.set_status(&path, "active").await;
        assert_eq!(
            verdict(&app, &app.public, &token).await,
            Some(true),
            "{list}"
        );
        assert!(app.feed().await[list].as_array().unwrap().is_empty());
    }
}

async fn the_revocation_cap_revokes_all_earlier_tokens_at_once(app: TestApp) {
    let (account, cred) = app.account_with_key().await;
    let s = app.freeze();
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(app.token(&cred).await);
    }
    let revoke = |token: &str| {
        app.client
            .post(format!("{}/oauth/revoke", app.public))
            .basic_auth(&cred.client_id, Some(&cred.secret))
            .form(&[("token", token)])
            .send()
    };
    for token in &tokens[..3] {
        assert_eq!(revoke(token).await.unwrap().status(), 200);
    }
    assert_eq!(verdict(&app, &app.public, &tokens[3]).await, Some(true));
    app.at(s, 600);
    // The fourth would exceed the cap of 3: every token so far is revoked instead.
    assert_eq!(revoke(&tokens[3]).await.unwrap().status(), 200);
    let feed = app.feed().await;
    assert_eq!(
        feed["tokens"],
        json!([]),
        "one credential entry replaces them"
    );
    assert_eq!(feed["credentials"][0]["client_id"], cred.client_id.as_str());
    assert_eq!(feed["credentials"][0]["revoked_before"], s + 1);
    for token in &tokens {
        assert_eq!(verdict(&app, &app.public, token).await, Some(false));
    }
    let request = token_later(&app, &app.public, &cred);
    let fresh = signed_in_the_next_second(&app, request, s).await;
    assert_eq!(verdict(&app, &app.public, &fresh).await, Some(true));
    let audit = TestApp::expect(
        app.admin_get(&format!("/audit?account_id={account}")).await,
        200,
    )
    .await;
    let event = &audit["items"][0];
    assert_eq!(event["action"], "credential.tokens_revoked");
    assert_eq!(event["admin_token"], Value::Null);
    assert_eq!(event["actor"], cred.client_id.as_str());
    assert_eq!(event["credential_id"], cred.id.as_str());
}

pub fn cap_of_three(settings: &mut tessera::config::Settings) {
    settings.revocation.max_tokens_per_credential = 3;
}

async fn the_rule_holds_across_replicas(app: TestApp) {
    let replica = app.replica().await;
    let (_, cred) = app.account_with_key().await;
    let s = app.freeze();
    // Signed by the replica, revoked at the other server in the same second.
    let before = app.token_at(&replica.public, &cred).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.at(s, 700);
    let cred = rotate(&app, &cred, json!({"revoke_tokens": true})).await;
    assert_eq!(verdict(&app, &replica.public, &before).await, Some(false));
    assert_eq!(verdict(&app, &app.public, &before).await, Some(false));
    // The replica reads the event from the database and waits for the next second too.
    let request = token_later(&app, &replica.public, &cred);
    let after = signed_in_the_next_second(&app, request, s).await;
    assert_eq!(verdict(&app, &replica.public, &after).await, Some(true));
    assert_eq!(verdict(&app, &app.public, &after).await, Some(true));
    // A cursor from one replica works on the other.
    let first = app.feed().await;
    app.at(s + 1, 500);
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    // The replica's cached feed may be up to feed_cache_seconds old.
    app.at(s + 10, 0);
    let cursor = first["next_cursor"].as_str().unwrap();
    let delta = TestApp::expect(
        app.feed_response(&replica.public, &format!("?since={cursor}"))
            .await,
        200,
    )
    .await;
    assert_eq!(delta["complete"], false);
    assert_eq!(delta["credentials"][0]["revoked_before"], s + 2);
}

async fn a_token_never_outlives_its_credential(app: TestApp) {
    let account = app.create_account("Acme").await;
    let s = app.freeze();
    let expires = chrono::DateTime::from_timestamp(s + 7, 0).unwrap();
    let cred = app
        .account_credential(&account, json!({"expires_at": expires.to_rfc3339()}))
        .await;
    let body = app.token_at(&app.public, &cred).await;
    assert_eq!(body["expires_in"], 7);
    let claims = app.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["exp"], s + 7);
    assert_eq!(claims["iat"], s);
    // Within its last second no token is worth signing.
    app.at(s + 6, 999);
    let body = app.token_at(&app.public, &cred).await;
    assert_eq!(body["expires_in"], 1);
    app.at(s + 7, 0);
    let r = app
        .token_json(&cred.client_id, &cred.secret, json!({}))
        .await;
    assert_eq!(TestApp::expect(r, 401).await["error"], "invalid_client");
}

backend_tests!(
    a_deactivation_revokes_every_token_of_its_second,
    a_rotation_with_revoke_tokens_splits_its_second,
    a_plain_rotation_revokes_nothing,
    a_role_change_revokes_the_old_roles_tokens,
    suspensions_revoke_every_token_of_their_second_while_they_last,
    the_revocation_cap_revokes_all_earlier_tokens_at_once with crate::boundary::cap_of_three,
    the_rule_holds_across_replicas,
    a_token_never_outlives_its_credential,
);
