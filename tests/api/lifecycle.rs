//! A credential's life: rotation (with and without grace), deactivation, role changes, expiry,
//! last use, and rotations racing each other.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{Cred, TestApp};

/// `GET /credentials/{id}`.
async fn read(app: &TestApp, id: &str) -> Value {
    TestApp::expect(app.admin_get(&format!("/credentials/{id}")).await, 200).await
}

/// `POST /credentials/{id}/rotate`, expecting 200.
async fn rotate(app: &TestApp, id: &str, body: Value) -> Value {
    let path = format!("/credentials/{id}/rotate");
    TestApp::expect(app.admin_post(&path, body).await, 200).await
}

/// The credential `cred` with the secret a rotation response showed.
fn with_secret(cred: &Cred, rotated: &Value) -> Cred {
    Cred {
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
        body: rotated.clone(),
        ..cred.clone()
    }
}

/// A token request that must fail with 401 `invalid_client`; returns the body.
async fn refused(app: &TestApp, cred: &Cred) -> Value {
    let body = TestApp::expect(
        app.token_json(&cred.client_id, &cred.secret, json!({}))
            .await,
        401,
    )
    .await;
    assert_eq!(body["error"], "invalid_client", "{body}");
    body
}

async fn claims(app: &TestApp, cred: &Cred) -> Value {
    app.verify(&app.token(cred).await).await
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_of(app: &TestApp, credential_id: &str) -> Vec<Value> {
    let body = TestApp::expect(
        app.admin_get(&format!("/audit?credential_id={credential_id}&limit=200"))
            .await,
        200,
    )
    .await;
    body["items"].as_array().unwrap().clone()
}

async fn introspect_as_admin(app: &TestApp, token: &str) -> Value {
    let r = app
        .client
        .post(format!("{}/oauth/introspect", app.public))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    TestApp::expect(r, 200).await
}

/// Writes the pending last-used times now (the periodic flush never comes in tests that use this:
/// see `helpers::manual_flush`), then reads the credential.
async fn flushed_read(app: &TestApp, id: &str) -> Value {
    app.flush_usage().await;
    read(app, id).await
}

async fn a_rotation_shows_the_new_secret_once_and_stops_the_old_one_at_once(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let old_token = app.token(&cred).await;
    let before = app.clock.now();
    let rotated = rotate(&app, &cred.id, json!({})).await;
    let new = with_secret(&cred, &rotated);

    assert_eq!(rotated["id"], cred.id.as_str());
    assert_eq!(rotated["client_id"], cred.client_id.as_str());
    assert_ne!(new.secret, cred.secret);
    assert_eq!(rotated["token_url"], app.token_url().as_str());
    let curl = rotated["curl_example"].as_str().unwrap();
    for part in [&app.token_url(), &cred.client_id, &new.secret] {
        assert!(curl.contains(part.as_str()), "{curl} lacks {part}");
    }
    // The example is ready to run: its URL and JSON body obtain a token.
    let url = curl.split('\'').nth(1).unwrap();
    let data = &curl[curl.find("-d '").unwrap() + 4..curl.len() - 1];
    let data: Value = serde_json::from_str(data).unwrap();
    let r = app.client.post(url).json(&data).send().await.unwrap();
    TestApp::expect(r, 200).await;
    assert!(time(&rotated["rotated_at"]) >= before);
    let last4 = &new.secret[new.secret.len() - 4..];
    assert_eq!(rotated["secret_last4"], last4);
    let secrets = rotated["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 1, "{rotated}");
    assert_eq!(secrets[0]["last4"], last4);
    assert!(secrets[0]["expires_at"].is_null());
    for field in ["id", "created_at"] {
        assert!(secrets[0][field].is_string(), "secret {field} missing");
    }
    assert!(secrets[0].get("last_used_at").is_some());

    // The old secret stops with the very next request; the new one works.
    let generic = refused(&app, &cred).await;
    assert_eq!(generic["error_description"], "client authentication failed");
    app.token(&new).await;
    // Tokens issued before the rotation stay valid (no revoke_tokens).
    assert_eq!(introspect_as_admin(&app, &old_token).await["active"], true);

    // A read never shows the secret, and lists the one that works.
    let view = read(&app, &cred.id).await;
    assert!(view.get("client_secret").is_none());
    assert!(view.get("curl_example").is_none());
    assert_eq!(view["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(view["secrets"][0]["id"], secrets[0]["id"]);
    let text = view.to_string();
    assert!(!text.contains(&new.secret) && !text.contains(&cred.secret));

    let events = audit_of(&app, &cred.id).await;
    assert_eq!(events[0]["action"], "credential.rotated");
    assert_eq!(events[0]["details"]["grace_seconds"], 0);
    assert_eq!(events[0]["details"]["revoke_tokens"], false);
}

async fn a_grace_period_keeps_both_secrets_working_until_it_ends(app: TestApp) {
    let (_, old) = app.account_with_key().await;
    let before = app.clock.now();
    let rotated = rotate(&app, &old.id, json!({"grace_seconds": 3600})).await;
    let after = app.clock.now();
    let new = with_secret(&old, &rotated);

    let view = read(&app, &old.id).await;
    let secrets = view["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{view}");
    assert_eq!(secrets[0]["last4"], &new.secret[new.secret.len() - 4..]);
    assert!(secrets[0]["expires_at"].is_null());
    assert_eq!(secrets[1]["last4"], &old.secret[old.secret.len() - 4..]);
    let grace_end = time(&secrets[1]["expires_at"]);
    assert!(grace_end >= before + Duration::seconds(3600));
    assert!(grace_end <= after + Duration::seconds(3600));
    assert_eq!(view["secret_last4"], secrets[0]["last4"]);

    app.token(&old).await;
    app.token(&new).await;
    let (_, stranger) = app.account_with_key().await;
    let wrong = Cred {
        secret: stranger.secret.clone(),
        ..old.clone()
    };
    refused(&app, &wrong).await;

    app.clock.advance(3590);
    app.token(&old).await;
    app.token(&new).await;

    app.clock.advance(11);
    refused(&app, &old).await;
    app.token(&new).await;
    let view = read(&app, &old.id).await;
    assert_eq!(view["secrets"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["secrets"][0]["id"], secrets[0]["id"]);
}

async fn rotating_again_during_a_grace_period_cuts_the_oldest_secret_at_once(app: TestApp) {
    let (_, first) = app.account_with_key().await;
    let second = with_secret(
        &first,
        &rotate(&app, &first.id, json!({"grace_seconds": 3600})).await,
    );
    let third = with_secret(
        &first,
        &rotate(&app, &first.id, json!({"grace_seconds": 3600})).await,
    );
    refused(&app, &first).await;
    app.token(&second).await;
    app.token(&third).await;
    let view = read(&app, &first.id).await;
    let live: Vec<&Value> = view["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["last4"])
        .collect();
    assert_eq!(
        live,
        [
            &json!(&third.secret[third.secret.len() - 4..]),
            &json!(&second.secret[second.secret.len() - 4..]),
        ]
    );

    // A rotation without grace ends every older secret, the one in grace too.
    let fourth = with_secret(&first, &rotate(&app, &first.id, json!({})).await);
    refused(&app, &second).await;
    refused(&app, &third).await;
    app.token(&fourth).await;
    assert_eq!(
        read(&app, &first.id).await["secrets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let events = audit_of(&app, &first.id).await;
    let rotations = events
        .iter()
        .filter(|e| e["action"] == "credential.rotated")
        .count();
    assert_eq!(rotations, 3);
}

async fn a_bad_rotation_request_is_a_400_and_changes_nothing(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let path = format!("/credentials/{}/rotate", cred.id);
    for body in [
        json!({"grace_seconds": 7 * 24 * 3600 + 1}),
        json!({"grace_seconds": -1}),
        json!({"grace_seconds": "soon"}),
        json!({"revoke_tokens": "yes"}),
        json!({"grace": 10}),
        json!([]),
    ] {
        let shown = body.to_string();
        let r = TestApp::expect(app.admin_post(&path, body).await, 400).await;
        assert_eq!(r["error"], "invalid_request", "{shown}");
        assert!(r["message"].is_string());
    }
    let too_long = TestApp::expect(
        app.admin_post(&path, json!({"grace_seconds": 604_801}))
            .await,
        400,
    )
    .await;
    assert!(
        too_long["message"].as_str().unwrap().contains("7 days"),
        "{too_long}"
    );
    let broken = app
        .client
        .post(app.admin_url(&path))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{\"grace_seconds\":")
        .send()
        .await
        .unwrap();
    TestApp::expect(broken, 400).await;
    app.token(&cred).await;
    assert!(read(&app, &cred.id).await["rotated_at"].is_null());
    assert!(audit_of(&app, &cred.id)
        .await
        .iter()
        .all(|e| e["action"] != "credential.rotated"));

    // Exactly seven days is allowed, and so is no body at all.
    let week = rotate(&app, &cred.id, json!({"grace_seconds": 604_800})).await;
    app.token(&cred).await;
    let no_body = app
        .client
        .post(app.admin_url(&path))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    let latest = with_secret(&cred, &TestApp::expect(no_body, 200).await);
    refused(&app, &cred).await;
    refused(&app, &with_secret(&cred, &week)).await;
    app.token(&latest).await;
}

async fn deactivation_is_permanent_idempotent_and_audited_once(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let cred = app
        .workspace_credential(&workspace, "chat_user", json!({}))
        .await;
    let token = app.token(&cred).await;
    let wrong_body = {
        let (_, other) = app.account_with_key().await;
        let wrong = Cred {
            secret: other.secret,
            ..cred.clone()
        };
        refused(&app, &wrong).await
    };

    let path = format!("/credentials/{}/deactivate", cred.id);
    let first = TestApp::expect(app.admin_post(&path, json!({})).await, 200).await;
    assert_eq!(first["status"], "deactivated");
    assert!(first["deactivated_at"].is_string());
    // The very next request is refused, with the body a wrong secret gets.
    assert_eq!(refused(&app, &cred).await, wrong_body);
    assert_eq!(introspect_as_admin(&app, &token).await["active"], false);

    let second = TestApp::expect(app.admin_post(&path, json!({})).await, 200).await;
    assert_eq!(second["status"], "deactivated");
    assert_eq!(second["deactivated_at"], first["deactivated_at"]);
    let deactivations = audit_of(&app, &cred.id)
        .await
        .iter()
        .filter(|e| e["action"] == "credential.deactivated")
        .count();
    assert_eq!(deactivations, 1);

    // Neither a rotation nor a new role brings it back.
    let rotation = app
        .admin_post(&format!("/credentials/{}/rotate", cred.id), json!({}))
        .await;
    assert_eq!(TestApp::expect(rotation, 409).await["error"], "conflict");
    let rerole = app
        .admin_patch(
            &format!("/credentials/{}", cred.id),
            json!({"role": "workspace_admin"}),
        )
        .await;
    assert_eq!(TestApp::expect(rerole, 409).await["error"], "conflict");
    refused(&app, &cred).await;
    let view = read(&app, &cred.id).await;
    assert_eq!(view["status"], "deactivated");
    assert_eq!(view["role"], "chat_user");
    assert!(view["rotated_at"].is_null());

    let deactivated = TestApp::expect(
        app.admin_get(&format!(
            "/credentials?account_id={account}&status=deactivated"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(ids(&deactivated), [cred.id.as_str()]);
    let active = TestApp::expect(
        app.admin_get(&format!("/credentials?account_id={account}&status=active"))
            .await,
        200,
    )
    .await;
    assert!(ids(&active).is_empty());
}

async fn a_role_change_reaches_the_next_token(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let cred = app
        .workspace_credential(&workspace, "chat_user", json!({}))
        .await;
    assert_eq!(claims(&app, &cred).await["roles"], json!(["chat_user"]));

    let path = format!("/credentials/{}", cred.id);
    let changed = TestApp::expect(
        app.admin_patch(&path, json!({"role": "content_manager"}))
            .await,
        200,
    )
    .await;
    assert_eq!(changed["role"], "content_manager");
    assert!(changed.get("client_secret").is_none());
    assert_eq!(
        claims(&app, &cred).await["roles"],
        json!(["content_manager"])
    );
    let event = &audit_of(&app, &cred.id).await[0];
    assert_eq!(event["action"], "credential.updated");
    assert_eq!(
        event["details"]["role"],
        json!({"from": "chat_user", "to": "content_manager"})
    );

    let renamed = TestApp::expect(
        app.admin_patch(
            &path,
            json!({"name": "Support bot", "description": "answers tickets"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Support bot");
    assert_eq!(renamed["description"], "answers tickets");
    assert_eq!(renamed["role"], "content_manager");
    let view = read(&app, &cred.id).await;
    assert_eq!(view["name"], "Support bot");
    assert_eq!(view["description"], "answers tickets");

    // An unknown role names the allowed ones.
    let unknown = TestApp::expect(app.admin_patch(&path, json!({"role": "root"})).await, 400).await;
    assert_eq!(unknown["error"], "invalid_request");
    let message = unknown["message"].as_str().unwrap();
    for role in &app.state.settings.roles.workspace {
        assert!(message.contains(role.as_str()), "{message} lacks {role}");
    }
    for body in [
        json!({"name": ""}),
        json!({"name": "a\u{0}b"}),
        json!({"role": 5}),
        json!({"kind": "account"}),
    ] {
        let shown = body.to_string();
        let r = TestApp::expect(app.admin_patch(&path, body).await, 400).await;
        assert_eq!(r["error"], "invalid_request", "{shown}");
    }
    assert_eq!(read(&app, &cred.id).await["role"], "content_manager");

    // An account credential's role is fixed.
    let account_key = app.account_credential(&account, json!({})).await;
    for role in ["workspace_admin", "account_admin"] {
        let r = app
            .admin_patch(
                &format!("/credentials/{}", account_key.id),
                json!({"role": role}),
            )
            .await;
        assert_eq!(TestApp::expect(r, 409).await["error"], "conflict");
    }
    assert_eq!(
        claims(&app, &account_key).await["roles"],
        json!(["account_admin"])
    );
}

async fn an_expired_credential_says_so_only_to_the_right_secret(app: TestApp) {
    let account = app.create_account("Acme").await;
    let path = format!("/accounts/{account}/credentials");
    for past in [app.clock.now() - Duration::seconds(1), app.clock.now()] {
        let r = app
            .admin_post(&path, json!({"name": "late", "expires_at": past}))
            .await;
        let body = TestApp::expect(r, 400).await;
        assert!(
            body["message"].as_str().unwrap().contains("future"),
            "{body}"
        );
    }
    let bad = app
        .admin_post(&path, json!({"name": "late", "expires_at": "tomorrow"}))
        .await;
    TestApp::expect(bad, 400).await;

    let expires_at = app.clock.now() + Duration::seconds(60);
    let cred = app
        .account_credential(&account, json!({"expires_at": expires_at}))
        .await;
    assert_eq!(time(&cred.body["expires_at"]), expires_at);
    assert_eq!(cred.body["status"], "active");
    let forever = app.account_credential(&account, json!({})).await;
    app.token(&cred).await;

    let (_, other) = app.account_with_key().await;
    let wrong = Cred {
        secret: other.secret.clone(),
        ..cred.clone()
    };
    let wrong_before = refused(&app, &wrong).await;

    app.clock.advance(61);
    let expired = refused(&app, &cred).await;
    let description = expired["error_description"].as_str().unwrap();
    assert!(description.contains("expired"), "{expired}");
    // A wrong secret learns nothing: the generic body, as before expiry.
    let wrong_after = refused(&app, &wrong).await;
    assert_eq!(wrong_after, wrong_before);
    assert!(!wrong_after.to_string().contains("expired"));
    app.token(&forever).await;

    assert_eq!(read(&app, &cred.id).await["status"], "expired");
    let list = |status: &'static str| {
        let app = &app;
        let account = account.clone();
        async move {
            let body = TestApp::expect(
                app.admin_get(&format!(
                    "/credentials?account_id={account}&status={status}"
                ))
                .await,
                200,
            )
            .await;
            for item in body["items"].as_array().unwrap() {
                assert_eq!(item["status"], status);
            }
            ids(&body)
        }
    };
    assert_eq!(list("expired").await, [cred.id.as_str()]);
    assert_eq!(list("active").await, [forever.id.as_str()]);
    assert!(list("deactivated").await.is_empty());
    let bogus = app.admin_get("/credentials?status=gone").await;
    assert_eq!(
        TestApp::expect(bogus, 400).await["error"],
        "invalid_request"
    );

    // Deactivation wins over expiry.
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", cred.id), json!({}))
            .await,
        200,
    )
    .await;
    assert!(list("expired").await.is_empty());
    assert_eq!(list("deactivated").await, [cred.id.as_str()]);
}

async fn last_use_is_recorded_per_credential_and_per_secret(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let fresh = read(&app, &cred.id).await;
    assert!(fresh["last_used_at"].is_null());
    assert!(fresh["last_used_ip"].is_null());
    assert!(fresh["secrets"][0]["last_used_at"].is_null());

    let before = app.clock.now();
    app.token(&cred).await;
    let used = flushed_read(&app, &cred.id).await;
    assert!(
        !used["last_used_at"].is_null() && !used["secrets"][0]["last_used_at"].is_null(),
        "{used}"
    );
    let at = time(&used["last_used_at"]);
    assert!(at >= before && at <= app.clock.now(), "{used}");
    assert_eq!(used["last_used_ip"], "127.0.0.1");
    assert_eq!(time(&used["secrets"][0]["last_used_at"]), at);

    // During a grace period each secret keeps its own last use.
    let new = with_secret(
        &cred,
        &rotate(&app, &cred.id, json!({"grace_seconds": 600})).await,
    );
    app.clock.advance(10);
    app.token(&cred).await;
    let old_used = flushed_read(&app, &cred.id).await;
    assert!(
        time(&old_used["last_used_at"]) > at && time(&old_used["secrets"][1]["last_used_at"]) > at,
        "{old_used}"
    );
    let old_at = time(&old_used["last_used_at"]);
    assert!(
        old_used["secrets"][0]["last_used_at"].is_null(),
        "{old_used}"
    );
    assert_eq!(time(&old_used["secrets"][1]["last_used_at"]), old_at);

    app.clock.advance(10);
    app.token(&new).await;
    // Both are written in one flush.
    let new_used = flushed_read(&app, &cred.id).await;
    assert!(
        !new_used["secrets"][0]["last_used_at"].is_null()
            && time(&new_used["last_used_at"]) > old_at,
        "{new_used}"
    );
    let new_at = time(&new_used["secrets"][0]["last_used_at"]);
    assert!(new_at > old_at);
    assert_eq!(time(&new_used["last_used_at"]), new_at);
    assert_eq!(time(&new_used["secrets"][1]["last_used_at"]), old_at);

    // Failed requests are not uses.
    app.clock.advance(10);
    let wrong = Cred {
        secret: app.account_with_key().await.1.secret,
        ..cred.clone()
    };
    refused(&app, &wrong).await;
    assert_eq!(
        app.flush_usage().await,
        0,
        "a refused request recorded a use"
    );
    assert_eq!(time(&read(&app, &cred.id).await["last_used_at"]), new_at);
}

/// Fires `n` rotations of one credential at once; each must answer 200.
async fn rotate_concurrently(app: &TestApp, id: &str, n: usize, body: Value) -> Vec<Value> {
    let url = app.admin_url(&format!("/credentials/{id}/rotate"));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            let token = app.admin_token.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                TestApp::expect(r, 200).await
            })
        })
        .collect();
    futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

async fn concurrent_rotations_are_serialized_and_only_the_last_secret_works(app: TestApp) {
    let (_, original) = app.account_with_key().await;
    let responses = rotate_concurrently(&app, &original.id, 8, json!({})).await;

    // Each response saw exactly its own secret working when it committed.
    for r in &responses {
        let secrets = r["secrets"].as_array().unwrap();
        let secret = r["client_secret"].as_str().unwrap();
        assert_eq!(secrets.len(), 1, "{r}");
        assert_eq!(secrets[0]["last4"], &secret[secret.len() - 4..]);
    }
    let secret_ids: std::collections::HashSet<&str> = responses
        .iter()
        .map(|r| r["secrets"][0]["id"].as_str().unwrap())
        .collect();
    assert_eq!(secret_ids.len(), 8, "every rotation made its own secret");

    let view = read(&app, &original.id).await;
    let live = view["secrets"].as_array().unwrap();
    assert_eq!(live.len(), 1, "{view}");
    let last: Vec<&Value> = responses
        .iter()
        .filter(|r| r["secrets"][0]["id"] == live[0]["id"])
        .collect();
    assert_eq!(last.len(), 1, "the live secret is one a response showed");
    app.token(&with_secret(&original, last[0])).await;
    for r in responses
        .iter()
        .filter(|r| r["secrets"][0]["id"] != live[0]["id"])
    {
        refused(&app, &with_secret(&original, r)).await;
    }
    refused(&app, &original).await;

    // The audit log agrees: eight rotations, the newest made the live secret.
    let rotations: Vec<Value> = audit_of(&app, &original.id)
        .await
        .into_iter()
        .filter(|e| e["action"] == "credential.rotated")
        .collect();
    assert_eq!(rotations.len(), 8);
    assert_eq!(rotations[0]["details"]["new_secret_id"], live[0]["id"]);
}

async fn concurrent_rotations_with_grace_leave_the_last_two_committed_secrets(app: TestApp) {
    let (_, original) = app.account_with_key().await;
    let responses =
        rotate_concurrently(&app, &original.id, 8, json!({"grace_seconds": 3600})).await;
    // Each response lists its own secret first, as the current one, and one secret in grace.
    for r in &responses {
        let secrets = r["secrets"].as_array().unwrap();
        let secret = r["client_secret"].as_str().unwrap();
        assert_eq!(secrets.len(), 2, "{r}");
        assert_eq!(secrets[0]["last4"], &secret[secret.len() - 4..], "{r}");
        assert!(secrets[0]["expires_at"].is_null(), "{r}");
        assert!(secrets[1]["expires_at"].is_string(), "{r}");
        assert_eq!(r["secret_last4"], secrets[0]["last4"]);
    }
    // The audit log gives the commit order; the last two committed secrets work, newest first.
    let committed: Vec<Value> = audit_of(&app, &original.id)
        .await
        .into_iter()
        .filter(|e| e["action"] == "credential.rotated")
        .map(|e| e["details"]["new_secret_id"].clone())
        .collect();
    assert_eq!(committed.len(), 8);
    let view = read(&app, &original.id).await;
    let live: Vec<&Value> = view["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(live, [&committed[0], &committed[1]], "{view}");
    for r in &responses {
        let cred = with_secret(&original, r);
        if live.contains(&&r["secrets"][0]["id"]) {
            app.token(&cred).await;
        } else {
            refused(&app, &cred).await;
        }
    }
    refused(&app, &original).await;
    // The next rotation keeps the current secret in grace and cuts the older one.
    let current = responses
        .iter()
        .find(|r| r["secrets"][0]["id"] == committed[0])
        .unwrap();
    let previous = responses
        .iter()
        .find(|r| r["secrets"][0]["id"] == committed[1])
        .unwrap();
    let next = with_secret(
        &original,
        &rotate(&app, &original.id, json!({"grace_seconds": 3600})).await,
    );
    app.token(&with_secret(&original, current)).await;
    refused(&app, &with_secret(&original, previous)).await;
    app.token(&next).await;
}

async fn concurrent_deactivations_record_one_event(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let url = app.admin_url(&format!("/credentials/{}/deactivate", cred.id));
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            let token = app.admin_token.clone();
            tokio::spawn(async move {
                let r = client.post(url).bearer_auth(token).send().await.unwrap();
                TestApp::expect(r, 200).await
            })
        })
        .collect();
    let responses: Vec<Value> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for r in &responses {
        assert_eq!(r["status"], "deactivated");
        assert_eq!(r["deactivated_at"], responses[0]["deactivated_at"]);
    }
    let events = audit_of(&app, &cred.id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "credential.deactivated")
            .count(),
        1
    );
    refused(&app, &cred).await;
}

async fn suspension_refuses_only_the_right_secret_and_reactivation_restores(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let cred = app
        .workspace_credential(&workspace, "chat_user", json!({}))
        .await;
    let suspended = app.suspend_workspace(&workspace).await;
    assert_eq!(suspended["status"], "suspended");
    let r = app
        .token_json(&cred.client_id, &cred.secret, json!({}))
        .await;
    assert_eq!(
        TestApp::expect(r, 400).await["error"],
        "unauthorized_client"
    );
    // A wrong secret is told nothing about the suspension.
    let wrong = Cred {
        secret: app.account_with_key().await.1.secret,
        ..cred.clone()
    };
    refused(&app, &wrong).await;
    // The credential itself stays active: suspension is the tenant's state, not the key's.
    assert_eq!(read(&app, &cred.id).await["status"], "active");
    app.reactivate_workspace(&workspace).await;
    app.token(&cred).await;
}

backend_tests!(
    a_rotation_shows_the_new_secret_once_and_stops_the_old_one_at_once,
    a_grace_period_keeps_both_secrets_working_until_it_ends,
    rotating_again_during_a_grace_period_cuts_the_oldest_secret_at_once,
    a_bad_rotation_request_is_a_400_and_changes_nothing,
    deactivation_is_permanent_idempotent_and_audited_once,
    a_role_change_reaches_the_next_token,
    an_expired_credential_says_so_only_to_the_right_secret,
    last_use_is_recorded_per_credential_and_per_secret with crate::helpers::manual_flush,
    concurrent_rotations_are_serialized_and_only_the_last_secret_works,
    concurrent_rotations_with_grace_leave_the_last_two_committed_secrets,
    concurrent_deactivations_record_one_event,
    suspension_refuses_only_the_right_secret_and_reactivation_restores,
);
