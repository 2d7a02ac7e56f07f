//! The admin API beyond single credentials, one module per resource or concern: accounts,
//! workspaces, pagination, the audit log, scoped admin tokens, plan limits, request validation
//! (table-driven), and secrets never read back. The helpers they share are here.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

mod accounts;
mod audit;
mod pagination;
mod plans;
mod scoped_tokens;
mod secrets;
mod validation;
mod workspaces;

/// Sends an admin request with `token` (and an `X-Actor` header when given).
pub async fn send_as(
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
pub async fn admin_token(app: &TestApp, name: &str, account: Option<&str>) -> String {
    app.create_admin_token(name, account).await
}

pub async fn revoke_admin_token(app: &TestApp, name: &str) {
    let pool = app.state.pool.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::revoke(&mut conn, &name, chrono::Utc::now()).unwrap()
    })
    .await
    .unwrap()
}

pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item of a list, following `next_cursor` with pages of `limit`; also returns the
/// number of pages.
pub async fn walk(app: &TestApp, path: &str, limit: u32) -> (Vec<Value>, usize) {
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

pub async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    walk(app, &format!("/audit{query}"), 200).await.0
}

pub fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

/// What a validation row sends as its body.
pub enum Body {
    None,
    Json(Value),
    /// Bytes as they are, with this `Content-Type` (or none).
    Raw(Option<&'static str>, &'static str),
}

/// One row of a validation table: a request with the admin token, the status it must answer and
/// the `error` code of its body. A 400 must also say why, in a non-empty `message`.
pub struct Case {
    pub method: Method,
    pub path: String,
    pub body: Body,
    pub status: u16,
    pub error: &'static str,
}

impl Case {
    pub fn new(
        method: Method,
        path: impl Into<String>,
        body: Body,
        status: u16,
        error: &'static str,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            body,
            status,
            error,
        }
    }
}

/// Sends every row of `cases` and checks its answer.
pub async fn expect_all(app: &TestApp, cases: Vec<Case>) {
    for case in cases {
        let mut request = app
            .client
            .request(case.method.clone(), app.admin_url(&case.path))
            .bearer_auth(&app.admin_token);
        let shown = match &case.body {
            Body::None => format!("{} {}", case.method, case.path),
            Body::Json(body) => {
                request = request.json(body);
                format!("{} {} {body}", case.method, case.path)
            }
            Body::Raw(content_type, body) => {
                if let Some(ct) = content_type {
                    request = request.header("content-type", *ct);
                }
                request = request.body(*body);
                format!("{} {} {content_type:?} {body}", case.method, case.path)
            }
        };
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, case.status, "{shown}: {text}");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["error"], case.error, "{shown}: {text}");
        if case.status == 400 {
            assert!(
                parsed["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{shown}: {text}"
            );
        }
    }
}
