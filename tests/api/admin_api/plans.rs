//! Plan limits: only active credentials count; racing creations get exactly the places left.

use chrono::Duration;
use serde_json::{json, Value};
use tessera::config::{PlanSettings, Settings};

use super::{audit, ids};
use crate::helpers::{Cred, TestApp};

/// A plan that allows two active credentials.
fn small_plan(settings: &mut Settings) {
    settings.plans.insert(
        "tiny".into(),
        PlanSettings {
            max_active_credentials: 2,
            token_requests_per_minute: None,
            monthly_token_quota: None,
        },
    );
}

async fn a_plan_limit_counts_only_active_credentials(app: TestApp) {
    let r = app
        .admin_post("/accounts", json!({"name": "Small", "plan": "tiny"}))
        .await;
    let account = TestApp::expect(r, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let workspace = app.create_workspace(&account, "W").await;
    let first = app.account_credential(&account, json!({})).await;
    let expires_at = app.clock.now() + Duration::seconds(60);
    let second = app
        .workspace_credential(&workspace, "chat_user", json!({"expires_at": expires_at}))
        .await;

    let over = |path: String, body: Value| {
        let app = &app;
        async move {
            let r = app.admin_post(&path, body).await;
            let body = TestApp::expect(r, 409).await;
            assert_eq!(body["error"], "limit_exceeded");
            let message = body["message"].as_str().unwrap().to_owned();
            assert!(message.contains("tiny"), "{message}");
            assert!(message.contains('2'), "{message}");
            assert!(message.contains("max_active_credentials"), "{message}");
        }
    };
    over(
        format!("/accounts/{account}/credentials"),
        json!({"name": "third"}),
    )
    .await;
    over(
        format!("/workspaces/{workspace}/credentials"),
        json!({"name": "third", "role": "chat_user"}),
    )
    .await;
    let list = TestApp::expect(
        app.admin_get(&format!("/credentials?account_id={account}"))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&list).len(), 2, "a refused credential is not stored");
    assert!(audit(&app, &format!("?account_id={account}"))
        .await
        .iter()
        .all(|e| e["details"]["name"] != "third"));
    // Another account's plan is its own.
    let (_, _) = app.account_with_key().await;

    // A deactivated credential frees its place.
    TestApp::expect(
        app.admin_post(&format!("/credentials/{}/deactivate", first.id), json!({}))
            .await,
        200,
    )
    .await;
    let third = app.account_credential(&account, json!({})).await;
    over(
        format!("/accounts/{account}/credentials"),
        json!({"name": "fourth"}),
    )
    .await;

    // So does an expired one.
    app.clock.advance(61);
    app.token(&third).await;
    refused_expired(&app, &second).await;
    let fourth = app.account_credential(&account, json!({})).await;
    over(
        format!("/accounts/{account}/credentials"),
        json!({"name": "fifth"}),
    )
    .await;

    // A bigger plan lifts the limit.
    TestApp::expect(
        app.admin_patch(&format!("/accounts/{account}"), json!({"plan": "standard"}))
            .await,
        200,
    )
    .await;
    app.account_credential(&account, json!({})).await;
    app.token(&fourth).await;

    // Creations racing for the last places: exactly as many succeed as the plan allows.
    let r = app
        .admin_post("/accounts", json!({"name": "Racy", "plan": "tiny"}))
        .await;
    let racy = TestApp::expect(r, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.admin_url(&format!("/accounts/{racy}/credentials"));
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let client = app.client.clone();
            let url = url.clone();
            let token = app.admin_token.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"name": format!("k{i}")}))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    let mut statuses: Vec<u16> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 409, 409, 409, 409]);
    let list = TestApp::expect(
        app.admin_get(&format!("/credentials?account_id={racy}&status=active"))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&list).len(), 2);
}

async fn refused_expired(app: &TestApp, cred: &Cred) {
    let r = app
        .token_json(&cred.client_id, &cred.secret, json!({}))
        .await;
    let body = TestApp::expect(r, 401).await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

backend_tests!(
    a_plan_limit_counts_only_active_credentials with super::small_plan,
);
