//! Malformed admin requests are 400 and unknown ids 404: tables of (request, status, error) rows
//! run by `super::expect_all`.

use reqwest::Method;
use serde_json::json;

use super::{expect_all, ids, Body, Case};
use crate::helpers::TestApp;

const JSON: Option<&str> = Some("application/json");

/// A 400 `invalid_request` for `body` sent as it is with `content_type`.
fn bad(method: Method, path: &str, content_type: Option<&'static str>, body: &'static str) -> Case {
    Case::new(
        method,
        path,
        Body::Raw(content_type, body),
        400,
        "invalid_request",
    )
}

/// A 404 `not_found`.
fn missing(method: Method, path: String, body: Option<serde_json::Value>) -> Case {
    let body = body.map_or(Body::None, Body::Json);
    Case::new(method, path, body, 404, "not_found")
}

async fn malformed_admin_requests_are_400_and_unknown_ids_404(app: TestApp) {
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let cred = app.account_credential(&account, json!({})).await;

    let account_creds = format!("/accounts/{account}/credentials");
    let workspace_creds = format!("/workspaces/{workspace}/credentials");
    use Method as M;
    expect_all(
        &app,
        vec![
            bad(M::POST, "/accounts", JSON, "{broken"),
            bad(M::POST, "/accounts", JSON, ""),
            bad(M::POST, "/accounts", JSON, "[]"),
            bad(M::POST, "/accounts", JSON, "{}"),
            bad(M::POST, "/accounts", JSON, r#"{"name": 5}"#),
            bad(
                M::POST,
                "/accounts",
                JSON,
                r#"{"name": "A", "owner": "me"}"#,
            ),
            bad(
                M::POST,
                "/accounts",
                JSON,
                r#"{"name": "A", "status": "active"}"#,
            ),
            bad(M::POST, "/accounts", Some("text/plain"), r#"{"name": "A"}"#),
            bad(M::POST, "/accounts", None, r#"{"name": "A"}"#),
            bad(
                M::PATCH,
                &format!("/accounts/{account}"),
                JSON,
                r#"{"nmae": "A"}"#,
            ),
            bad(M::PATCH, &format!("/workspaces/{workspace}"), JSON, "nope"),
            bad(
                M::POST,
                &format!("/accounts/{account}/workspaces"),
                JSON,
                r#"{"name": ""}"#,
            ),
            bad(
                M::POST,
                &account_creds,
                JSON,
                r#"{"name": "k", "secret": "tss_mine"}"#,
            ),
            bad(
                M::POST,
                &account_creds,
                JSON,
                r#"{"name": "k", "role": "chat_user"}"#,
            ),
            bad(
                M::POST,
                &account_creds,
                JSON,
                r#"{"name": "k", "audience": "https://elsewhere.test/"}"#,
            ),
            bad(
                M::POST,
                &account_creds,
                JSON,
                r#"{"name": "k", "scopes": ["has space"]}"#,
            ),
            bad(
                M::POST,
                &account_creds,
                JSON,
                r#"{"name": "k", "scopes": "read"}"#,
            ),
            bad(M::POST, &workspace_creds, JSON, r#"{"name": "k"}"#),
            bad(
                M::POST,
                &workspace_creds,
                JSON,
                r#"{"name": "k", "role": "account_admin"}"#,
            ),
            bad(
                M::PATCH,
                &format!("/credentials/{}", cred.id),
                JSON,
                r#"{"scopes": ["write"]}"#,
            ),
        ],
    )
    .await;
    // A workspace credential without a role is told which roles exist.
    let r = app.admin_post(&workspace_creds, json!({"name": "k"})).await;
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

    let absent = uuid::Uuid::now_v7().to_string();
    let mut cases = Vec::new();
    for id in [
        "nope",
        "1'; DROP TABLE accounts; --",
        "%00",
        absent.as_str(),
    ] {
        let id = id.replace(' ', "%20");
        let name = || Some(json!({"name": "x"}));
        cases.extend([
            missing(M::GET, format!("/accounts/{id}"), None),
            missing(M::PATCH, format!("/accounts/{id}"), name()),
            missing(M::GET, format!("/accounts/{id}/workspaces"), None),
            missing(M::POST, format!("/accounts/{id}/workspaces"), name()),
            missing(M::POST, format!("/accounts/{id}/credentials"), name()),
            missing(M::GET, format!("/workspaces/{id}"), None),
            missing(M::PATCH, format!("/workspaces/{id}"), name()),
            missing(
                M::POST,
                format!("/workspaces/{id}/credentials"),
                Some(json!({"name": "x", "role": "chat_user"})),
            ),
            missing(M::GET, format!("/credentials/{id}"), None),
            missing(M::PATCH, format!("/credentials/{id}"), name()),
            missing(
                M::POST,
                format!("/credentials/{id}/rotate"),
                Some(json!({})),
            ),
            missing(
                M::POST,
                format!("/credentials/{id}/deactivate"),
                Some(json!({})),
            ),
        ]);
    }
    cases.push(missing(M::GET, "/nothing-here".into(), None));
    cases.push(Case::new(
        M::DELETE,
        format!("/credentials/{}", cred.id),
        Body::None,
        405,
        "method_not_allowed",
    ));
    expect_all(&app, cases).await;
    app.token(&cred).await;
}

backend_tests!(malformed_admin_requests_are_400_and_unknown_ids_404);
