//! Accounts: created, read, renamed, replanned; bad values refused.

use reqwest::Method;
use serde_json::json;

use super::{actions, audit, expect_all, ids, Body, Case};
use crate::helpers::TestApp;

async fn accounts_are_created_read_renamed_and_replanned(app: TestApp) {
    let created = TestApp::expect(
        app.admin_post("/accounts", json!({"name": "Acme"})).await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Acme");
    assert_eq!(created["plan"], "standard");
    assert_eq!(created["status"], "active");
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    let big = TestApp::expect(
        app.admin_post("/accounts", json!({"name": "Big", "plan": "enterprise"}))
            .await,
        201,
    )
    .await;
    assert_eq!(big["plan"], "enterprise");
    let unknown = TestApp::expect(
        app.admin_post("/accounts", json!({"name": "X", "plan": "gold"}))
            .await,
        400,
    )
    .await;
    let message = unknown["message"].as_str().unwrap();
    assert!(
        message.contains("standard") && message.contains("enterprise"),
        "{message}"
    );

    let path = format!("/accounts/{id}");
    assert_eq!(
        TestApp::expect(app.admin_get(&path).await, 200).await,
        created
    );
    let renamed = TestApp::expect(
        app.admin_patch(&path, json!({"name": " Acme Inc "})).await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Acme Inc");
    assert_eq!(renamed["plan"], "standard");
    let replanned = TestApp::expect(
        app.admin_patch(&path, json!({"plan": "enterprise"})).await,
        200,
    )
    .await;
    assert_eq!(replanned["plan"], "enterprise");
    assert_eq!(replanned["name"], "Acme Inc");
    let refused = |body| {
        Case::new(
            Method::PATCH,
            &path,
            Body::Json(body),
            400,
            "invalid_request",
        )
    };
    expect_all(
        &app,
        vec![
            refused(json!({"plan": "gold"})),
            refused(json!({"status": "deleted"})),
            refused(json!({"name": "  "})),
        ],
    )
    .await;
    assert_eq!(
        TestApp::expect(app.admin_get(&path).await, 200).await,
        replanned
    );

    let list = TestApp::expect(app.admin_get("/accounts").await, 200).await;
    assert_eq!(
        ids(&list),
        [id.clone(), big["id"].as_str().unwrap().to_owned()]
    );
    assert!(list["next_cursor"].is_null());

    let events = audit(&app, &format!("?account_id={id}")).await;
    assert_eq!(
        actions(&events),
        ["account.updated", "account.updated", "account.created"]
    );
    assert_eq!(events[0]["details"]["plan"], "enterprise");
    assert_eq!(events[1]["details"]["name"], "Acme Inc");
}

backend_tests!(accounts_are_created_read_renamed_and_replanned,);
