//! The audit log: every change with its actor, newest first, filtered by account and credential.

use reqwest::Method;
use serde_json::json;

use super::{actions, admin_token, audit, revoke_admin_token, send_as};
use crate::helpers::TestApp;

async fn the_audit_log_records_every_change_with_its_actor_newest_first(app: TestApp) {
    let token = app.admin_token.clone();
    let alice = Some("alice@example.com");
    let r = send_as(
        &app,
        &token,
        alice,
        Method::POST,
        "/accounts",
        Some(json!({"name": "Acme"})),
    )
    .await;
    let account = TestApp::expect(r, 201).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let workspace = app.create_workspace(&account, "Docs").await;
    let r = send_as(
        &app,
        &token,
        alice,
        Method::POST,
        &format!("/workspaces/{workspace}/credentials"),
        Some(json!({"name": "bot", "role": "chat_user", "scopes": ["read"]})),
    )
    .await;
    let cred = TestApp::expect(r, 201).await;
    assert_eq!(cred["created_by"], "alice@example.com");
    let cred_id = cred["id"].as_str().unwrap().to_owned();
    let cpath = format!("/credentials/{cred_id}");
    TestApp::expect(
        app.admin_patch(&cpath, json!({"role": "content_manager"}))
            .await,
        200,
    )
    .await;
    TestApp::expect(
        app.admin_post(&format!("{cpath}/rotate"), json!({"grace_seconds": 60}))
            .await,
        200,
    )
    .await;
    TestApp::expect(
        app.admin_post(&format!("{cpath}/deactivate"), json!({}))
            .await,
        200,
    )
    .await;
    TestApp::expect(
        app.admin_patch(
            &format!("/workspaces/{workspace}"),
            json!({"name": "Manuals"}),
        )
        .await,
        200,
    )
    .await;
    TestApp::expect(
        app.admin_patch(
            &format!("/accounts/{account}"),
            json!({"status": "suspended"}),
        )
        .await,
        200,
    )
    .await;
    // Reads and refused changes are not recorded.
    app.admin_get(&cpath).await;
    app.admin_post(&format!("{cpath}/rotate"), json!({})).await;
    app.admin_patch(&format!("/accounts/{account}"), json!({"plan": "nope"}))
        .await;
    let scoped = admin_token(&app, "portal", Some(&account)).await;
    assert!(scoped.len() > 20);
    revoke_admin_token(&app, "portal").await;

    let events = audit(&app, &format!("?account_id={account}")).await;
    assert_eq!(
        actions(&events),
        [
            "admin_token.revoked",
            "admin_token.created",
            "account.updated",
            "workspace.updated",
            "credential.deactivated",
            "credential.rotated",
            "credential.updated",
            "credential.created",
            "workspace.created",
            "account.created",
        ]
    );
    for e in &events {
        for field in ["id", "at", "actor", "action", "details"] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
        for field in ["actor_ip", "account_id", "workspace_id", "credential_id"] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
        assert_eq!(e["account_id"], account.as_str());
        assert!(e["details"].is_object());
    }
    let actors: Vec<&str> = events
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        [
            "cli",
            "cli",
            "test-admin",
            "test-admin",
            "test-admin",
            "test-admin",
            "test-admin",
            "alice@example.com",
            "test-admin",
            "alice@example.com",
        ]
    );
    for e in &events[2..] {
        assert_eq!(e["actor_ip"], "127.0.0.1", "{e}");
    }
    let at: Vec<chrono::DateTime<chrono::FixedOffset>> = events
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");

    let created = &events[7];
    assert_eq!(created["credential_id"], cred_id.as_str());
    assert_eq!(created["workspace_id"], workspace.as_str());
    assert_eq!(created["details"]["client_id"], cred["client_id"]);
    assert_eq!(created["details"]["role"], "chat_user");
    assert_eq!(events[6]["details"]["role"]["to"], "content_manager");
    assert_eq!(events[5]["details"]["grace_seconds"], 60);
    assert!(events[1]["details"]["name"] == "portal");
    assert!(events[0]["workspace_id"].is_null() && events[0]["credential_id"].is_null());

    // Filtered by credential: only its events, still newest first.
    let of_cred = audit(&app, &format!("?credential_id={cred_id}")).await;
    assert_eq!(
        actions(&of_cred),
        [
            "credential.deactivated",
            "credential.rotated",
            "credential.updated",
            "credential.created",
        ]
    );
    let both = audit(
        &app,
        &format!("?account_id={account}&credential_id={cred_id}"),
    )
    .await;
    assert_eq!(both.len(), 4);
    let other = app.create_account("Other").await;
    assert!(audit(
        &app,
        &format!("?account_id={other}&credential_id={cred_id}")
    )
    .await
    .is_empty());
    // Unfiltered, the other account's creation is the newest event.
    let all = TestApp::expect(app.admin_get("/audit?limit=1").await, 200).await;
    assert_eq!(all["items"][0]["account_id"], other.as_str());
    assert!(all["next_cursor"].is_string());
    // A revoked admin token no longer opens the API.
    let r = send_as(&app, &scoped, None, Method::GET, "/accounts", None).await;
    assert_eq!(r.status(), 401);
    for bad in ["?account_id=nope", "?credential_id=nope"] {
        let r = app.admin_get(&format!("/audit{bad}")).await;
        assert!(
            r.status() == 400 || r.status() == 404,
            "{bad}: {}",
            r.status()
        );
    }
}

backend_tests!(the_audit_log_records_every_change_with_its_actor_newest_first,);
