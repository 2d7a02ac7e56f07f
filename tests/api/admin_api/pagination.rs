//! Every list is paginated with an opaque cursor; bad `limit`s and cursors are refused.

use reqwest::Method;
use serde_json::json;

use super::{expect_all, ids, walk, Body, Case};
use crate::helpers::TestApp;

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

    let mut cases = Vec::new();
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
            let path = format!("{path}?{query}");
            cases.push(Case::new(
                Method::GET,
                path,
                Body::None,
                400,
                "invalid_request",
            ));
        }
    }
    expect_all(&app, cases).await;
}

backend_tests!(every_list_is_paginated_with_a_cursor,);
