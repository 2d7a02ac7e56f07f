//! No client secret or admin token is ever read back, nor stored in plain text.

use reqwest::Method;
use serde_json::{json, Value};

use super::{admin_token, revoke_admin_token, send_as, walk};
use crate::helpers::{contains, Cred, TestApp};

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
    // What the uses leave is in the database too before it is searched: both credentials'
    // last-used times, written now.
    assert_eq!(
        app.flush_usage().await,
        2,
        "both credentials' uses are flushed now"
    );
    let read = TestApp::expect(app.admin_get(&format!("/credentials/{}", a.id)).await, 200).await;
    assert!(!read["last_used_at"].is_null(), "{read}");

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

backend_tests!(
    no_secret_or_admin_token_is_ever_read_back with crate::helpers::manual_flush,
);
