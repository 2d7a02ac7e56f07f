//! The admin API beyond single credentials: accounts and workspaces, pagination, the audit log,
//! scoped admin tokens, plan limits, request validation, and secrets never read back.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use tessera::config::PlanSettings;

use crate::helpers::{contains, try_spawn, Backend, Cred, TestApp};

/// Sends an admin request with `token` (and an `X-Actor` header when given).
async fn send_as(
    app: &TestApp,
    token: &str,
    actor: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.admin_url(path))
        .bearer_auth(token);
    if let Some(actor) = actor {
        request = request.header("X-Actor", actor);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Creates an admin token in the database, as `tessera admin-token create` does.
async fn admin_token(app: &TestApp, name: &str, account: Option<&str>) -> String {
    let pool = app.state.pool.clone();
    let name = name.to_owned();
    let account = account.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::create(
            &mut conn,
            &name,
            account.as_deref(),
            chrono::Utc::now(),
        )
        .unwrap()
        .expose()
        .to_owned()
    })
    .await
    .unwrap()
}

async fn revoke_admin_token(app: &TestApp, name: &str) {
    let pool = app.state.pool.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::revoke(&mut conn, &name, chrono::Utc::now()).unwrap()
    })
    .await
    .unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item of a list, following `next_cursor` with pages of `limit`; also returns the
/// number of pages.
async fn walk(app: &TestApp, path: &str, limit: u32) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..100 {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let page = TestApp::expect(app.admin_get(&url).await, 200).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(got.len(), limit as usize, "a short page has a cursor");
                cursor = Some(next.to_owned());
            }
            None => {
                assert!(page["next_cursor"].is_null());
                return (items, pages);
            }
        }
    }
    panic!("pagination of {path} never ended");
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    walk(app, &format!("/audit{query}"), 200).await.0
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

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
    for bad in [
        json!({"plan": "gold"}),
        json!({"status": "deleted"}),
        json!({"name": "  "}),
    ] {
        let shown = bad.to_string();
        let r = TestApp::expect(app.admin_patch(&path, bad).await, 400).await;
        assert_eq!(r["error"], "invalid_request", "{shown}");
    }
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
    let bad = TestApp::expect(
        app.admin_patch(&ws, json!({"status": "archived"})).await,
        400,
    )
    .await;
    assert_eq!(bad["error"], "invalid_request");
    let bad = TestApp::expect(app.admin_patch(&ws, json!({"plan": "standard"})).await, 400).await;
    assert_eq!(bad["error"], "invalid_request");

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

async fn every_list_is_paginated_with_a_cursor(app: TestApp) {
    let mut accounts = Vec::new();
    for i in 0..5 {
        accounts.push(app.create_account(&format!("A{i}")).await);
    }
    let (items, pages) = walk(&app, "/accounts", 2).await;
    assert_eq!(ids(&json!({ "items": items })), accounts);
    assert_eq!(pages, 3);
    // A last page that is exactly full still ends with a null cursor.
    let (items, pages) = walk(&app, "/accounts", 5).await;
    assert_eq!((items.len(), pages), (5, 1));
    let (items, _) = walk(&app, "/accounts", 200).await;
    assert_eq!(items.len(), 5);

    let account = &accounts[0];
    let mut workspaces = Vec::new();
    for i in 0..3 {
        workspaces.push(app.create_workspace(account, &format!("W{i}")).await);
    }
    let (items, pages) = walk(&app, &format!("/accounts/{account}/workspaces"), 2).await;
    assert_eq!(ids(&json!({ "items": items })), workspaces);
    assert_eq!(pages, 2);

    let mut creds = Vec::new();
    for _ in 0..3 {
        creds.push(app.account_credential(account, json!({})).await.id);
    }
    let (items, pages) = walk(&app, &format!("/credentials?account_id={account}"), 1).await;
    assert_eq!(ids(&json!({ "items": items })), creds);
    assert_eq!(pages, 3);
    let (items, _) = walk(&app, "/credentials?status=active", 2).await;
    assert_eq!(items.len(), 3);

    let (events, pages) = walk(&app, "/audit", 4).await;
    // Five accounts, three workspaces, three credentials, and the test's admin token.
    assert_eq!(events.len(), 12);
    assert_eq!(pages, 3);
    let mut sorted = ids(&json!({ "items": events }));
    sorted.sort();
    sorted.reverse();
    assert_eq!(
        ids(&json!({ "items": events })),
        sorted,
        "newest first across pages"
    );
    assert_eq!(events.last().unwrap()["action"], "admin_token.created");

    for path in [
        "/accounts",
        "/credentials",
        "/audit",
        &format!("/accounts/{account}/workspaces"),
    ] {
        for query in [
            "limit=0",
            "limit=201",
            "limit=-1",
            "limit=ten",
            "limit=",
            "cursor=garbage",
            "cursor=1%27%20OR%201=1",
        ] {
            let r = app.admin_get(&format!("{path}?{query}")).await;
            let body = TestApp::expect(r, 400).await;
            assert_eq!(body["error"], "invalid_request", "{path}?{query}");
            assert!(body["message"].is_string());
        }
    }
}

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

async fn a_scoped_admin_token_sees_and_changes_only_its_account(app: TestApp) {
    let mine = app.create_account("Mine").await;
    let theirs = app.create_account("Theirs").await;
    let my_ws = app.create_workspace(&mine, "W").await;
    let their_ws = app.create_workspace(&theirs, "W").await;
    let their_key = app.account_credential(&theirs, json!({})).await;
    let their_ws_key = app
        .workspace_credential(&their_ws, "chat_user", json!({}))
        .await;
    let scoped = admin_token(&app, "portal", Some(&mine)).await;

    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let scoped = scoped.clone();
        async move { send_as(app, &scoped, None, method, &path, body).await }
    };
    let forbidden: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/accounts".into(),
            Some(json!({"name": "New"})),
        ),
        (Method::GET, format!("/accounts/{theirs}"), None),
        (
            Method::PATCH,
            format!("/accounts/{theirs}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::PATCH,
            format!("/accounts/{mine}"),
            Some(json!({"plan": "enterprise"})),
        ),
        (
            Method::PATCH,
            format!("/accounts/{mine}"),
            Some(json!({"status": "suspended"})),
        ),
        (
            Method::PATCH,
            format!("/accounts/{mine}"),
            Some(json!({"status": "active"})),
        ),
        (
            Method::POST,
            format!("/accounts/{theirs}/workspaces"),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/accounts/{theirs}/workspaces"), None),
        (Method::GET, format!("/workspaces/{their_ws}"), None),
        (
            Method::PATCH,
            format!("/workspaces/{their_ws}"),
            Some(json!({"status": "suspended"})),
        ),
        (
            Method::POST,
            format!("/accounts/{theirs}/credentials"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            format!("/workspaces/{their_ws}/credentials"),
            Some(json!({"name": "x", "role": "chat_user"})),
        ),
        (
            Method::GET,
            format!("/credentials?account_id={theirs}"),
            None,
        ),
        (Method::GET, format!("/credentials/{}", their_key.id), None),
        (
            Method::PATCH,
            format!("/credentials/{}", their_ws_key.id),
            Some(json!({"role": "workspace_admin"})),
        ),
        (
            Method::POST,
            format!("/credentials/{}/rotate", their_key.id),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/credentials/{}/deactivate", their_key.id),
            Some(json!({})),
        ),
        (Method::GET, format!("/audit?account_id={theirs}"), None),
    ];
    for (method, path, body) in forbidden {
        let shown = format!("{method} {path}");
        let r = call(method, path, body).await;
        let body = TestApp::expect(r, 403).await;
        assert_eq!(body["error"], "forbidden", "{shown}");
    }
    // Nothing of theirs changed.
    app.token(&their_key).await;
    app.token(&their_ws_key).await;
    let acct = TestApp::expect(app.admin_get(&format!("/accounts/{mine}")).await, 200).await;
    assert_eq!(
        (acct["plan"].as_str(), acct["status"].as_str()),
        (Some("standard"), Some("active"))
    );
    assert_eq!(
        TestApp::expect(app.admin_get(&format!("/accounts/{theirs}")).await, 200).await["name"],
        "Theirs"
    );

    // Its own account it manages fully.
    let r = call(
        Method::PATCH,
        format!("/accounts/{mine}"),
        Some(json!({"name": "Mine 2"})),
    )
    .await;
    assert_eq!(TestApp::expect(r, 200).await["name"], "Mine 2");
    let r = call(
        Method::POST,
        format!("/workspaces/{my_ws}/credentials"),
        Some(json!({"name": "bot", "role": "chat_user"})),
    )
    .await;
    let body = TestApp::expect(r, 201).await;
    assert_eq!(body["created_by"], "portal");
    let my_key = Cred {
        id: body["id"].as_str().unwrap().to_owned(),
        client_id: body["client_id"].as_str().unwrap().to_owned(),
        secret: body["client_secret"].as_str().unwrap().to_owned(),
        body,
    };
    app.token(&my_key).await;
    let r = call(
        Method::PATCH,
        format!("/credentials/{}", my_key.id),
        Some(json!({"role": "content_manager"})),
    )
    .await;
    TestApp::expect(r, 200).await;
    let r = call(
        Method::POST,
        format!("/credentials/{}/rotate", my_key.id),
        Some(json!({})),
    )
    .await;
    TestApp::expect(r, 200).await;
    let r = call(
        Method::PATCH,
        format!("/workspaces/{my_ws}"),
        Some(json!({"name": "Renamed"})),
    )
    .await;
    TestApp::expect(r, 200).await;

    // Lists hold only its account.
    let r = call(Method::GET, "/accounts".into(), None).await;
    assert_eq!(ids(&TestApp::expect(r, 200).await), [mine.as_str()]);
    let r = call(Method::GET, "/credentials".into(), None).await;
    let creds = TestApp::expect(r, 200).await;
    assert_eq!(ids(&creds), [my_key.id.as_str()]);
    let r = call(
        Method::GET,
        format!("/credentials?workspace_id={their_ws}"),
        None,
    )
    .await;
    assert!(ids(&TestApp::expect(r, 200).await).is_empty());
    let r = call(Method::GET, "/audit?limit=200".into(), None).await;
    let events = TestApp::expect(r, 200).await;
    let events = events["items"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["account_id"] == mine.as_str()),
        "{events:?}"
    );
    assert_eq!(events[0]["actor"], "portal");
    let r = call(
        Method::GET,
        format!("/audit?credential_id={}", their_key.id),
        None,
    )
    .await;
    assert!(ids(&TestApp::expect(r, 200).await).is_empty());

    // The scoped token is not a platform token in disguise: an unscoped one still sees all.
    let all = TestApp::expect(app.admin_get("/accounts").await, 200).await;
    assert_eq!(ids(&all).len(), 2);
}

async fn malformed_admin_requests_are_400_and_unknown_ids_404(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app.account_credential(&account, json!({})).await;

    let raw =
        |method: Method, path: String, content_type: Option<&'static str>, body: &'static str| {
            let app = &app;
            async move {
                let mut r = app
                    .client
                    .request(method, app.admin_url(&path))
                    .bearer_auth(&app.admin_token)
                    .body(body);
                if let Some(ct) = content_type {
                    r = r.header("content-type", ct);
                }
                r.send().await.unwrap()
            }
        };
    let json_ct = Some("application/json");
    let cases = [
        (Method::POST, "/accounts".to_owned(), json_ct, "{broken"),
        (Method::POST, "/accounts".to_owned(), json_ct, ""),
        (Method::POST, "/accounts".to_owned(), json_ct, "[]"),
        (Method::POST, "/accounts".to_owned(), json_ct, "{}"),
        (
            Method::POST,
            "/accounts".to_owned(),
            json_ct,
            r#"{"name": 5}"#,
        ),
        (
            Method::POST,
            "/accounts".to_owned(),
            json_ct,
            r#"{"name": "A", "owner": "me"}"#,
        ),
        (
            Method::POST,
            "/accounts".to_owned(),
            json_ct,
            r#"{"name": "A", "status": "active"}"#,
        ),
        (
            Method::POST,
            "/accounts".to_owned(),
            Some("text/plain"),
            r#"{"name": "A"}"#,
        ),
        (
            Method::POST,
            "/accounts".to_owned(),
            None,
            r#"{"name": "A"}"#,
        ),
        (
            Method::PATCH,
            format!("/accounts/{account}"),
            json_ct,
            r#"{"nmae": "A"}"#,
        ),
        (
            Method::PATCH,
            format!("/workspaces/{workspace}"),
            json_ct,
            "nope",
        ),
        (
            Method::POST,
            format!("/accounts/{account}/workspaces"),
            json_ct,
            r#"{"name": ""}"#,
        ),
        (
            Method::POST,
            format!("/accounts/{account}/credentials"),
            json_ct,
            r#"{"name": "k", "secret": "tss_mine"}"#,
        ),
        (
            Method::POST,
            format!("/accounts/{account}/credentials"),
            json_ct,
            r#"{"name": "k", "role": "chat_user"}"#,
        ),
        (
            Method::POST,
            format!("/accounts/{account}/credentials"),
            json_ct,
            r#"{"name": "k", "audience": "https://elsewhere.test/"}"#,
        ),
        (
            Method::POST,
            format!("/accounts/{account}/credentials"),
            json_ct,
            r#"{"name": "k", "scopes": ["has space"]}"#,
        ),
        (
            Method::POST,
            format!("/accounts/{account}/credentials"),
            json_ct,
            r#"{"name": "k", "scopes": "read"}"#,
        ),
        (
            Method::POST,
            format!("/workspaces/{workspace}/credentials"),
            json_ct,
            r#"{"name": "k"}"#,
        ),
        (
            Method::POST,
            format!("/workspaces/{workspace}/credentials"),
            json_ct,
            r#"{"name": "k", "role": "account_admin"}"#,
        ),
        (
            Method::PATCH,
            format!("/credentials/{}", cred.id),
            json_ct,
            r#"{"scopes": ["write"]}"#,
        ),
    ];
    for (method, path, ct, body) in cases {
        let shown = format!("{method} {path} {ct:?} {body}");
        let r = raw(method, path, ct, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, 400, "{shown}: {text}");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["error"], "invalid_request", "{shown}");
        assert!(parsed["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A workspace credential without a role is told which roles exist.
    let r = app
        .admin_post(
            &format!("/workspaces/{workspace}/credentials"),
            json!({"name": "k"}),
        )
        .await;
    let message = TestApp::expect(r, 400).await["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("chat_user") && message.contains("workspace_admin"),
        "{message}"
    );
    // Nothing was created by any of them.
    let list = TestApp::expect(
        app.admin_get(&format!("/credentials?account_id={account}"))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&list), [cred.id.as_str()]);

    let missing = uuid::Uuid::now_v7().to_string();
    for id in [
        "nope",
        "1'; DROP TABLE accounts; --",
        "%00",
        missing.as_str(),
    ] {
        let id = id.replace(' ', "%20");
        let cases = [
            (Method::GET, format!("/accounts/{id}"), None),
            (
                Method::PATCH,
                format!("/accounts/{id}"),
                Some(json!({"name": "x"})),
            ),
            (Method::GET, format!("/accounts/{id}/workspaces"), None),
            (
                Method::POST,
                format!("/accounts/{id}/workspaces"),
                Some(json!({"name": "x"})),
            ),
            (
                Method::POST,
                format!("/accounts/{id}/credentials"),
                Some(json!({"name": "x"})),
            ),
            (Method::GET, format!("/workspaces/{id}"), None),
            (
                Method::PATCH,
                format!("/workspaces/{id}"),
                Some(json!({"name": "x"})),
            ),
            (
                Method::POST,
                format!("/workspaces/{id}/credentials"),
                Some(json!({"name": "x", "role": "chat_user"})),
            ),
            (Method::GET, format!("/credentials/{id}"), None),
            (
                Method::PATCH,
                format!("/credentials/{id}"),
                Some(json!({"name": "x"})),
            ),
            (
                Method::POST,
                format!("/credentials/{id}/rotate"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/credentials/{id}/deactivate"),
                Some(json!({})),
            ),
        ];
        for (method, path, body) in cases {
            let shown = format!("{method} {path}");
            let r = send_as(&app, &app.admin_token, None, method, &path, body).await;
            let body = TestApp::expect(r, 404).await;
            assert_eq!(body["error"], "not_found", "{shown}");
        }
    }
    let r = app.admin_get("/nothing-here").await;
    assert_eq!(TestApp::expect(r, 404).await["error"], "not_found");
    let r = send_as(
        &app,
        &app.admin_token,
        None,
        Method::DELETE,
        &format!("/credentials/{}", cred.id),
        None,
    )
    .await;
    assert_eq!(TestApp::expect(r, 405).await["error"], "method_not_allowed");
    app.token(&cred).await;
}

/// Every secret and admin token a lifecycle issues appears only in the one response that issued
/// it: never in a read, a list, an audit event, or the database.
async fn no_secret_or_admin_token_is_ever_read_back(app: TestApp) {
    let mut issued: Vec<(String, Value)> = Vec::new(); // (secret, the response that showed it)
    let mut others: Vec<Value> = Vec::new(); // every other admin response
    let mut tokens = vec![app.admin_token.clone()];

    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let portal = admin_token(&app, "portal", Some(&account)).await;
    tokens.push(portal.clone());
    let spare = admin_token(&app, "spare", None).await;
    tokens.push(spare.clone());
    revoke_admin_token(&app, "spare").await;

    let a = app
        .account_credential(&account, json!({"description": "ci"}))
        .await;
    issued.push((a.secret.clone(), a.body.clone()));
    let r = send_as(
        &app,
        &portal,
        Some("bob"),
        Method::POST,
        &format!("/workspaces/{workspace}/credentials"),
        Some(json!({"name": "bot", "role": "chat_user"})),
    )
    .await;
    let w_body = TestApp::expect(r, 201).await;
    let w = Cred {
        id: w_body["id"].as_str().unwrap().to_owned(),
        client_id: w_body["client_id"].as_str().unwrap().to_owned(),
        secret: w_body["client_secret"].as_str().unwrap().to_owned(),
        body: w_body.clone(),
    };
    issued.push((w.secret.clone(), w_body));
    app.token(&a).await;
    app.token(&w).await;

    for grace in [3600, 60, 0] {
        let r = app
            .admin_post(
                &format!("/credentials/{}/rotate", a.id),
                json!({"grace_seconds": grace}),
            )
            .await;
        let body = TestApp::expect(r, 200).await;
        let secret = body["client_secret"].as_str().unwrap().to_owned();
        app.token(&Cred {
            secret: secret.clone(),
            ..a.clone()
        })
        .await;
        issued.push((secret, body));
    }
    let r = send_as(
        &app,
        &portal,
        None,
        Method::POST,
        &format!("/credentials/{}/rotate", w.id),
        Some(json!({"grace_seconds": 600, "revoke_tokens": true})),
    )
    .await;
    let body = TestApp::expect(r, 200).await;
    issued.push((body["client_secret"].as_str().unwrap().to_owned(), body));

    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/credentials/{}", w.id),
            Some(json!({"role": "workspace_admin", "name": "b2"})),
        ),
        (
            Method::PATCH,
            format!("/accounts/{account}"),
            Some(json!({"name": "Acme 2"})),
        ),
        (
            Method::PATCH,
            format!("/workspaces/{workspace}"),
            Some(json!({"name": "D2"})),
        ),
        (
            Method::POST,
            format!("/credentials/{}/deactivate", w.id),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/credentials/{}/deactivate", w.id),
            Some(json!({})),
        ),
    ] {
        let r = send_as(&app, &app.admin_token, None, method, &path, body).await;
        others.push(TestApp::expect(r, 200).await);
    }
    // Let the last-used flush write too.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let mut reads = vec![
        "/accounts".to_owned(),
        format!("/accounts/{account}"),
        format!("/accounts/{account}/workspaces"),
        format!("/workspaces/{workspace}"),
        "/credentials".to_owned(),
        format!("/credentials?account_id={account}"),
        format!("/credentials?workspace_id={workspace}"),
        "/credentials?status=active".to_owned(),
        "/credentials?status=deactivated".to_owned(),
        format!("/credentials/{}", a.id),
        format!("/credentials/{}", w.id),
        format!("/audit?account_id={account}"),
        format!("/audit?credential_id={}", a.id),
        format!("/audit?credential_id={}", w.id),
    ];
    for limit in [1, 200] {
        reads.push(format!("/audit?limit={limit}"));
    }
    for path in &reads {
        others.push(TestApp::expect(app.admin_get(path).await, 200).await);
    }
    let r = send_as(&app, &portal, None, Method::GET, "/audit", None).await;
    others.push(TestApp::expect(r, 200).await);
    let (events, _) = walk(&app, "/audit", 3).await;
    assert!(events.len() > 10);
    others.push(Value::Array(events));

    let secrets: Vec<&String> = issued.iter().map(|(s, _)| s).collect();
    for (secret, response) in &issued {
        for (other_secret, other_response) in &issued {
            let text = other_response.to_string();
            assert_eq!(
                text.contains(secret.as_str()),
                secret == other_secret,
                "a secret shows up in a response that did not issue it"
            );
            assert!(!text.contains("$argon2"));
        }
        assert_eq!(response["client_secret"], secret.as_str());
    }
    for response in &others {
        let text = response.to_string();
        for s in secrets.iter().copied().chain(tokens.iter()) {
            assert!(!text.contains(s.as_str()), "a secret was read back: {text}");
            assert!(!text.contains(&s[4..40]));
        }
        assert!(!text.contains("$argon2"), "a hash was read back");
        assert!(!text.contains("secret_hash") && !text.contains("token_hash"));
    }

    let bytes = app.database_bytes().await;
    assert!(!bytes.is_empty());
    for s in secrets.iter().copied().chain(tokens.iter()) {
        assert!(
            !contains(&bytes, s),
            "a plaintext secret is in the database"
        );
        assert!(!contains(&bytes, &s[4..40]));
    }
    // What is there: the hashes, one per secret issued.
    assert!(contains(&bytes, "$argon2id$"));
}

/// Settings with a plan that allows two active credentials.
async fn small_plan_app(backend: Backend) -> Option<TestApp> {
    try_spawn(backend, |settings| {
        settings.plans.insert(
            "tiny".into(),
            PlanSettings {
                max_active_credentials: 2,
                token_requests_per_minute: None,
                monthly_token_quota: None,
            },
        );
    })
    .await
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

#[tokio::test]
async fn a_plan_limit_counts_only_active_credentials_on_sqlite() {
    let app = small_plan_app(Backend::Sqlite).await.unwrap();
    a_plan_limit_counts_only_active_credentials(app).await;
}

#[tokio::test]
async fn a_plan_limit_counts_only_active_credentials_on_postgres() {
    if let Some(app) = small_plan_app(Backend::Postgres).await {
        a_plan_limit_counts_only_active_credentials(app).await;
    }
}

backend_tests!(
    accounts_are_created_read_renamed_and_replanned,
    workspaces_are_created_listed_renamed_and_suspended,
    every_list_is_paginated_with_a_cursor,
    the_audit_log_records_every_change_with_its_actor_newest_first,
    a_scoped_admin_token_sees_and_changes_only_its_account,
    malformed_admin_requests_are_400_and_unknown_ids_404,
    no_secret_or_admin_token_is_ever_read_back,
);
