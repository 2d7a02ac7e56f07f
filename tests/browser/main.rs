//! The console in a real headless Chromium, driven over WebDriver (chromedriver), against the
//! real server started as the API tests start it. Every test is named `browser_…`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver).
//! Without them each test prints a `SKIPPED` line and passes, unless `TESSERA_REQUIRE_BROWSER=1`
//! (CI), which makes a missing browser a failure. With `TESSERA_CONSOLE_SCREENSHOTS=<dir>` the
//! creation test saves screenshots of the console there.

#![allow(dead_code, unused_macros)] // the shared helpers serve the API tests too

#[path = "../api/helpers.rs"]
#[macro_use]
mod helpers;

mod harness;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use harness::Browser;
use helpers::{spawn, Backend, TestApp};

/// The admin API's answer to a wrong token.
const UNAUTHORIZED: &str = "a valid admin bearer token is required";

async fn app() -> TestApp {
    spawn(Backend::Sqlite).await.unwrap()
}

async fn credential(app: &TestApp, id: &str) -> Value {
    TestApp::expect(app.admin_get(&format!("/credentials/{id}")).await, 200).await
}

/// An admin token scoped to `account`.
async fn scoped_token(app: &TestApp, account: &str) -> String {
    let pool = app.state.pool.clone();
    let account = account.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::create(
            &mut conn,
            "portal",
            Some(&account),
            chrono::Utc::now(),
        )
        .unwrap()
        .expose()
        .to_owned()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn browser_signs_in_rejects_a_wrong_token_and_signs_out() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "sign-in").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    browser.goto("/console").await;
    assert!(
        browser
            .js("return !document.getElementById('sign-in-view').hidden")
            .await
            == true
    );

    // A wrong token: the admin API's 401 message, and nothing kept.
    browser.fill("#token-input", "tat_not_a_real_token").await;
    browser.click("#sign-in-form button[type=submit]").await;
    browser
        .until_text("#sign-in-error", UNAUTHORIZED, "the 401 message")
        .await;
    assert_eq!(browser.js("return sessionStorage.length").await, 0);

    // The right one: the accounts, and the token in this tab's sessionStorage only.
    browser.sign_in(&app.admin_token).await;
    browser
        .until(
            "the account listed",
            &format!("document.querySelector('tr[data-account-id=\"{account}\"]')"),
        )
        .await;
    assert_eq!(
        browser
            .js("return sessionStorage.getItem('tessera.console.token')")
            .await,
        app.admin_token
    );
    assert_eq!(browser.js("return localStorage.length").await, 0);
    assert_eq!(browser.js("return document.cookie").await, "");
    assert_eq!(
        browser
            .js("return document.getElementById('token-input').value")
            .await,
        ""
    );

    // Sign-out forgets it.
    browser.click("#sign-out").await;
    browser
        .until(
            "the sign-in form",
            "!document.getElementById('sign-in-view').hidden",
        )
        .await;
    assert_eq!(browser.js("return sessionStorage.length").await, 0);
    assert_eq!(
        browser
            .js("return document.getElementById('app-view').children.length")
            .await,
        0
    );
    // A reload stays signed out.
    browser.goto("/console").await;
    assert!(
        browser
            .js("return !document.getElementById('sign-in-view').hidden")
            .await
            == true
    );
    browser.assert_same_origin_only().await;
    browser.finish().await;
}

/// An account with a few credentials, one used once (so it has a last use).
struct Fixture {
    account: String,
    docs: String,
    support: String,
    used: helpers::Cred,
}

async fn fixture(app: &TestApp) -> Fixture {
    let account = app.create_account("Acme Publishing").await;
    let docs = app.create_workspace(&account, "Docs").await;
    let support = app.create_workspace(&account, "Support").await;
    let used = app
        .account_credential(&account, json!({"name": "CI deploy bot"}))
        .await;
    app.token(&used).await;
    app.workspace_credential(
        &support,
        "chat_user",
        json!({"name": "Support chat widget"}),
    )
    .await;
    let old = app
        .workspace_credential(&docs, "content_manager", json!({"name": "Legacy importer"}))
        .await;
    app.admin_post(&format!("/credentials/{}/deactivate", old.id), json!({}))
        .await;
    // The last use is written within a second (database.last_used_flush_seconds = 1).
    for _ in 0..50 {
        if !credential(app, &used.id).await["last_used_at"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Fixture {
        account,
        docs,
        support,
        used,
    }
}

#[tokio::test]
async fn browser_creates_a_credential_and_shows_its_secret_once() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "create").await else {
        return;
    };
    let f = fixture(&app).await;
    browser.sign_in(&app.admin_token).await;
    browser.open_account(&f.account).await;
    // The list: status, role, last use and its IP, the secret's last four characters.
    let row = format!("tr[data-credential-id=\"{}\"]", f.used.id);
    let text = browser.text(&row).await;
    assert!(text.contains("CI deploy bot"), "{text}");
    assert!(text.contains(&f.used.client_id), "{text}");
    assert!(text.contains("account_admin"), "{text}");
    assert!(text.to_lowercase().contains("active"), "{text}"); // a badge, shown in capitals
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(
        text.contains(&f.used.secret[f.used.secret.len() - 4..]),
        "{text}"
    );
    let usage = browser.text("dl.stats").await;
    assert!(usage.contains("Tokens issued"), "{usage}");
    browser.screenshot("console.png").await;

    // A workspace key with a role.
    browser.click("#create-credential").await;
    browser.until_open("create-dialog").await;
    browser.fill("#create-name", "Docs editor").await;
    browser.click("#create-kind-workspace").await;
    browser.select("#create-workspace", &f.docs).await;
    browser.select("#create-role", "content_manager").await;
    browser.click("#create-dialog button[type=submit]").await;
    browser.until_open("secret-dialog").await;
    let secret = browser.text("#secret-value").await;
    assert!(secret.len() > 20, "{secret}");
    browser.screenshot("console-secret.png").await;

    // It is the credential's secret, and the dialog names the credential.
    let list = TestApp::expect(
        app.admin_get(&format!("/credentials?workspace_id={}", f.docs))
            .await,
        200,
    )
    .await;
    let created = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Docs editor")
        .unwrap()
        .clone();
    assert_eq!(created["role"], "content_manager");
    let client_id = created["client_id"].as_str().unwrap();
    assert!(browser.text("#secret-for").await.contains(client_id));
    let token = app.token_json(client_id, &secret, json!({})).await;
    assert_eq!(token.status(), 200);

    // The copy button is there and works (or says how to copy by hand).
    assert!(browser
        .find("#secret-copy")
        .await
        .is_enabled()
        .await
        .unwrap());
    browser.click("#secret-copy").await;
    browser
        .until(
            "a copy message",
            "/copied|Could not copy/.test(document.getElementById('status').textContent)",
        )
        .await;
    // The new row shows up behind the dialog, without the secret.
    browser
        .until(
            "the new row",
            &format!("document.querySelector('tr[data-client-id=\"{client_id}\"]')"),
        )
        .await;

    // Navigating elsewhere in the console (the dialog is modal: the browser's Back button)
    // clears it.
    browser.client.back().await.unwrap();
    browser.until_gone("secret").await;
    browser
        .until(
            "the accounts list",
            "location.hash === '#/accounts' && document.querySelector('tr[data-account-id]')",
        )
        .await;
    browser.assert_secret_gone(&secret).await;
    browser.assert_same_origin_only().await;
    browser.finish().await;
}

#[tokio::test]
async fn browser_clears_the_secret_after_30_seconds() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "secret-timeout").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    browser.sign_in(&app.admin_token).await;
    browser.open_account(&account).await;
    browser.click("#create-credential").await;
    browser.until_open("create-dialog").await;
    browser.fill("#create-name", "Nightly export").await;
    browser.click("#create-dialog button[type=submit]").await;
    browser.until_open("secret-dialog").await;
    let secret = browser.text("#secret-value").await;
    // Still there a little before the 30 s (the production delay; the test waits it out).
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(browser.text("#secret-value").await, secret);
    tokio::time::sleep(Duration::from_secs(6)).await;
    browser.until_gone("secret").await;
    browser.assert_secret_gone(&secret).await;
    assert!(
        browser
            .js("return document.getElementById('secret-dialog').open")
            .await
            == false
    );
    browser.finish().await;
}

#[tokio::test]
async fn browser_rotates_with_a_grace_period_and_re_roles() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "rotate").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let cred = app
        .workspace_credential(&workspace, "chat_user", json!({"name": "Chat bot"}))
        .await;
    browser.sign_in(&app.admin_token).await;
    browser.open_account(&account).await;
    let row = format!("tr[data-credential-id=\"{}\"]", cred.id);

    browser
        .click(&format!("{row} button[data-action=rotate]"))
        .await;
    browser.until_open("rotate-dialog").await;
    let target = browser.text("#rotate-target").await;
    assert!(
        target.contains("Chat bot") && target.contains(&cred.client_id),
        "{target}"
    );
    // Out of range: refused in the dialog, nothing rotated.
    browser.fill("#rotate-grace", "700000").await;
    browser.click("#rotate-dialog button[type=submit]").await;
    browser
        .until_text("#rotate-error", "0 to 604800", "the range message")
        .await;
    assert_eq!(
        credential(&app, &cred.id).await["secrets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    browser.fill("#rotate-grace", "600").await;
    browser.click("#rotate-dialog button[type=submit]").await;
    browser.until_open("secret-dialog").await;
    let secret = browser.text("#secret-value").await;
    assert_ne!(secret, cred.secret);
    // Done clears it.
    browser.click("#secret-dialog button[data-close]").await;
    browser.until_gone("secret").await;
    browser.assert_secret_gone(&secret).await;

    // Both secrets work during the grace period; the audit event says 600 s.
    let view = credential(&app, &cred.id).await;
    assert_eq!(view["secrets"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.token_json(&cred.client_id, &cred.secret, json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.token_json(&cred.client_id, &secret, json!({}))
            .await
            .status(),
        200
    );
    let audit = TestApp::expect(
        app.admin_get(&format!("/audit?credential_id={}", cred.id))
            .await,
        200,
    )
    .await;
    let rotated = &audit["items"][0];
    assert_eq!(rotated["action"], "credential.rotated");
    assert_eq!(rotated["details"]["grace_seconds"], 600);
    assert_eq!(rotated["details"]["revoke_tokens"], false);
    // The row shows the old secret's end of grace.
    browser
        .until(
            "two secrets listed",
            &format!("document.querySelectorAll('{row} td.secrets div').length === 2"),
        )
        .await;

    // Re-role.
    browser
        .click(&format!("{row} button[data-action=role]"))
        .await;
    browser.until_open("role-dialog").await;
    assert!(browser.text("#role-target").await.contains(&cred.client_id));
    browser.select("#role-select", "workspace_admin").await;
    browser.click("#role-dialog button[type=submit]").await;
    browser
        .until(
            "the new role",
            &format!("document.querySelector('{row} [data-role=workspace_admin]')"),
        )
        .await;
    assert_eq!(credential(&app, &cred.id).await["role"], "workspace_admin");
    browser.assert_same_origin_only().await;
    browser.finish().await;
}

#[tokio::test]
async fn browser_deactivates_only_through_the_confirmation_dialog() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "deactivate").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    let cred = app
        .account_credential(&account, json!({"name": "Billing sync"}))
        .await;
    browser.sign_in(&app.admin_token).await;
    browser.open_account(&account).await;
    let button = format!(
        "tr[data-credential-id=\"{}\"] button[data-action=deactivate]",
        cred.id
    );

    // The dialog names the credential; Cancel keeps it active, and focus returns.
    browser.click(&button).await;
    browser.until_open("confirm-dialog").await;
    let message = browser.text("#confirm-message").await;
    assert!(message.contains("Billing sync"), "{message}");
    assert!(message.contains(&cred.client_id), "{message}");
    assert_eq!(
        browser
            .js("return document.activeElement.textContent")
            .await,
        "Cancel"
    );
    browser.click("#confirm-dialog button[data-close]").await;
    browser
        .until(
            "the dialog closed",
            "!document.getElementById('confirm-dialog').open",
        )
        .await;
    assert_eq!(credential(&app, &cred.id).await["status"], "active");
    assert_eq!(
        browser
            .js("return document.activeElement.dataset.key")
            .await,
        format!("deactivate:{}", cred.id)
    );

    // Confirmed: deactivated.
    browser.click(&button).await;
    browser.until_open("confirm-dialog").await;
    browser.click("#confirm-ok").await;
    browser
        .until(
            "the row deactivated",
            &format!(
                "document.querySelector('tr[data-credential-id=\"{}\"][data-status=deactivated]')",
                cred.id
            ),
        )
        .await;
    assert_eq!(credential(&app, &cred.id).await["status"], "deactivated");
    browser.finish().await;
}

#[tokio::test]
async fn browser_suspends_and_reactivates_workspaces_and_accounts() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "suspend").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    browser.sign_in(&app.admin_token).await;
    browser.open_account(&account).await;
    let status = |path: String| {
        let app = &app;
        async move { TestApp::expect(app.admin_get(&path).await, 200).await["status"].clone() }
    };

    for (key, path, name) in [
        (
            format!("workspace-status:{workspace}"),
            format!("/workspaces/{workspace}"),
            "Docs",
        ),
        (
            format!("account-status:{account}"),
            format!("/accounts/{account}"),
            "Acme",
        ),
    ] {
        let button = format!("button[data-key=\"{key}\"]");
        for (action, expected) in [("suspend", "suspended"), ("reactivate", "active")] {
            browser
                .until(
                    "the button",
                    &format!("document.querySelector('{button}[data-action={action}]')"),
                )
                .await;
            browser.click(&button).await;
            browser.until_open("confirm-dialog").await;
            let message = browser.text("#confirm-message").await;
            assert!(message.contains(name), "{message}");
            browser.click("#confirm-ok").await;
            browser
                .until(
                    "the dialog closed",
                    "!document.getElementById('confirm-dialog').open",
                )
                .await;
            assert_eq!(status(path.clone()).await, expected, "{key} {action}");
        }
    }
    browser.finish().await;
}

#[tokio::test]
async fn browser_filters_the_audit_log_and_loads_more() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "audit").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    // More than one page (50) of this account's events.
    for i in 0..55 {
        app.admin_patch(
            &format!("/accounts/{account}"),
            json!({"name": format!("Acme {i}")}),
        )
        .await;
    }
    let cred = app
        .account_credential(&account, json!({"name": "Bot"}))
        .await;
    let rotated = app
        .client
        .request(
            Method::POST,
            app.admin_url(&format!("/credentials/{}/rotate", cred.id)),
        )
        .bearer_auth(&app.admin_token)
        .header("X-Actor", "alice@example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let total = 1 + 55 + 2; // created, renamed, credential created and rotated

    browser.sign_in(&app.admin_token).await;
    browser.click("#nav a[data-nav=audit]").await;
    browser
        .until("the filter form", "document.getElementById('audit-filter')")
        .await;
    browser.fill("#audit-account", &account).await;
    browser.click("#audit-filter button[type=submit]").await;
    let rows = "document.querySelectorAll('#app-view tbody tr')";
    browser
        .until(
            "one page of the account's events",
            &format!(
                "{rows}.length === 50 && document.getElementById('audit-account').getAttribute('value') === '{account}'"
            ),
        )
        .await;
    browser.click("#audit-more").await;
    browser
        .until("every event", &format!("{rows}.length === {total}"))
        .await;
    let accounts = browser
        .js("return [...document.querySelectorAll('#app-view tbody tr')].map(r => r.dataset.accountId)")
        .await;
    assert!(accounts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a == account.as_str()));
    assert!(
        browser
            .js("return !document.getElementById('audit-more')")
            .await
            == true
    );
    assert!(!browser.text("#app-view tbody").await.contains(&other));

    // By credential: its two events, with the admin token and the actor.
    browser.fill("#audit-credential", &cred.id).await;
    browser.click("#audit-filter button[type=submit]").await;
    browser
        .until(
            "the credential's events",
            &format!(
                "{rows}.length === 2 && document.getElementById('audit-credential').getAttribute('value') === '{}'",
                cred.id
            ),
        )
        .await;
    let first = browser.text("#app-view tbody tr:first-child").await;
    assert!(first.contains("credential.rotated"), "{first}");
    assert!(first.contains("test-admin"), "{first}");
    assert!(first.contains("alice@example.test"), "{first}");
    let headers = browser.text("#app-view thead").await.to_lowercase();
    assert!(
        headers.contains("admin token") && headers.contains("actor"),
        "{headers}"
    );
    browser.assert_same_origin_only().await;
    browser.finish().await;
}

#[tokio::test]
async fn browser_scoped_token_sees_only_its_account() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "scoped").await else {
        return;
    };
    let mine = app.create_account("Mine").await;
    let theirs = app.create_account("Theirs").await;
    app.account_credential(&theirs, json!({"name": "Their key"}))
        .await;
    let token = scoped_token(&app, &mine).await;
    browser.sign_in(&token).await;
    browser
        .until(
            "the account list",
            &format!("document.querySelector('tr[data-account-id=\"{mine}\"]')"),
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('tr[data-account-id]').length")
            .await,
        1
    );
    // Its audit log holds only its account's events.
    browser.click("#nav a[data-nav=audit]").await;
    browser
        .until("the audit log", "document.getElementById('audit-filter')")
        .await;
    let accounts = browser
        .js("return [...document.querySelectorAll('#app-view tbody tr')].map(r => r.dataset.accountId)")
        .await;
    let accounts = accounts.as_array().unwrap();
    assert!(!accounts.is_empty());
    assert!(accounts.iter().all(|a| a == mine.as_str()), "{accounts:?}");
    // The other account is refused with the API's message.
    browser.goto(&format!("/console#/accounts/{theirs}")).await;
    browser
        .until_text(
            "#app-view",
            "may not act on that account",
            "the 403 message",
        )
        .await;
    browser.open_account(&mine).await;
    assert!(browser.text("#app-view h1").await.contains("Mine"));
    browser.finish().await;
}

#[tokio::test]
async fn browser_keyboard_only_sign_in_and_dialogs() {
    let app = app().await;
    let Some(browser) = Browser::open(&app, "keyboard").await else {
        return;
    };
    let account = app.create_account("Acme").await;
    let cred = app
        .account_credential(&account, json!({"name": "Bot"}))
        .await;
    browser.goto("/console").await;
    // The token field has the focus; type the token and press Enter.
    assert_eq!(
        browser.js("return document.activeElement.id").await,
        "token-input"
    );
    browser.type_keys(&app.admin_token).await;
    browser.press(harness::ENTER).await;
    browser
        .until("signed in", "document.querySelector('#app-view h1')")
        .await;
    // Tab to the account's link, Enter.
    browser
        .tab_to(&format!(
            "document.activeElement.getAttribute('href') === '#/accounts/{account}'"
        ))
        .await;
    browser.press(harness::ENTER).await;
    browser
        .until(
            "the account view",
            "document.getElementById('create-credential')",
        )
        .await;
    // Tab to "Create credential", Space: the dialog opens with the focus inside it.
    browser
        .tab_to("document.activeElement.id === 'create-credential'")
        .await;
    browser.press(' ').await;
    browser.until_open("create-dialog").await;
    assert_eq!(
        browser.js("return document.activeElement.id").await,
        "create-name"
    );
    // Escape closes it, and the focus is back on the button.
    browser.press(harness::ESCAPE).await;
    browser
        .until(
            "the dialog closed",
            "!document.getElementById('create-dialog').open",
        )
        .await;
    assert_eq!(
        browser.js("return document.activeElement.id").await,
        "create-credential"
    );
    // Tab to "Deactivate", Enter: the confirmation, focus on Cancel; Escape keeps it active.
    browser
        .tab_to("document.activeElement.dataset.action === 'deactivate'")
        .await;
    browser.press(harness::ENTER).await;
    browser.until_open("confirm-dialog").await;
    assert_eq!(
        browser
            .js("return document.activeElement.textContent")
            .await,
        "Cancel"
    );
    browser.press(harness::ESCAPE).await;
    browser
        .until(
            "the dialog closed",
            "!document.getElementById('confirm-dialog').open",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.activeElement.dataset.action")
            .await,
        "deactivate"
    );
    assert_eq!(credential(&app, &cred.id).await["status"], "active");
    // Every input of the page has a label.
    let unlabelled = browser
        .js("return [...document.querySelectorAll('input, select, textarea')].filter(i => i.labels.length === 0).map(i => i.id)")
        .await;
    assert_eq!(unlabelled, json!([]));
    browser.finish().await;
}
