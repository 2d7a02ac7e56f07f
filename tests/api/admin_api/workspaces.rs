//! Workspaces: created, listed, renamed, suspended and reactivated.

use reqwest::Method;
use serde_json::json;

use super::{actions, audit, expect_all, ids, Body, Case};
use crate::helpers::TestApp;

async fn workspaces_are_created_listed_renamed_and_suspended(app: TestApp) {
    let account = app.create_account("Acme").await;
    let path = format!("/accounts/{account}/workspaces");
    let created = TestApp::expect(app.admin_post(&path, json!({"name": "Docs"})).await, 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["account_id"], account.as_str());
    assert_eq!(created["name"], "Docs");
    assert_eq!(created["status"], "active");
    let other = app.create_workspace(&account, "Chat").await;
    let list = TestApp::expect(app.admin_get(&path).await, 200).await;
    assert_eq!(ids(&list), [id.clone(), other]);

    let ws = format!("/workspaces/{id}");
    assert_eq!(
        TestApp::expect(app.admin_get(&ws).await, 200).await,
        created
    );
    let renamed =
        TestApp::expect(app.admin_patch(&ws, json!({"name": "Manuals"})).await, 200).await;
    assert_eq!(renamed["name"], "Manuals");
    let suspended = TestApp::expect(
        app.admin_patch(&ws, json!({"status": "suspended"})).await,
        200,
    )
    .await;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["name"], "Manuals");
    let back = TestApp::expect(app.admin_patch(&ws, json!({"status": "active"})).await, 200).await;
    assert_eq!(back["status"], "active");
    let refused = |body| Case::new(Method::PATCH, &ws, Body::Json(body), 400, "invalid_request");
    expect_all(
        &app,
        vec![
            refused(json!({"status": "archived"})),
            refused(json!({"plan": "standard"})),
        ],
    )
    .await;

    let missing = uuid::Uuid::now_v7();
    let r = app
        .admin_post(
            &format!("/accounts/{missing}/workspaces"),
            json!({"name": "W"}),
        )
        .await;
    assert_eq!(TestApp::expect(r, 404).await["error"], "not_found");
    let r = app
        .admin_get(&format!("/accounts/{missing}/workspaces"))
        .await;
    TestApp::expect(r, 404).await;

    let events = audit(&app, &format!("?account_id={account}")).await;
    assert_eq!(
        actions(&events),
        [
            "workspace.updated",
            "workspace.updated",
            "workspace.updated",
            "workspace.created",
            "workspace.created",
            "account.created"
        ]
    );
    assert_eq!(events[0]["workspace_id"], id.as_str());
    assert_eq!(events[0]["details"]["status"], "active");
    assert_eq!(events[1]["details"]["status"], "suspended");
}

backend_tests!(workspaces_are_created_listed_renamed_and_suspended,);
