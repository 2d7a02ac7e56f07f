//! Admin tokens scoped to one account see and change only that account.

use reqwest::Method;
use serde_json::{json, Value};

use super::{admin_token, ids, send_as};
use crate::helpers::{Cred, TestApp};

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

backend_tests!(a_scoped_admin_token_sees_and_changes_only_its_account,);
