//! The console on the admin listener: its three files, the security headers on each, no admin
//! token needed for the page itself, nothing from another origin and no inline code.

use reqwest::{header, Method};

use crate::helpers::{spawn, Backend, TestApp};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn get(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, String) {
    // No Authorization header: the page and its files are public.
    let response = app
        .client
        .get(format!("{}{path}", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.text().await.unwrap())
}

fn assert_security_headers(headers: &reqwest::header::HeaderMap, path: &str) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        assert_eq!(headers[&name], value, "{path}: {name}");
    }
}

#[tokio::test]
async fn console_files_are_served_with_security_headers() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    assert_eq!(tessera::http::admin::console::CONTENT_SECURITY_POLICY, CSP);
    let mut bodies = Vec::new();
    for (path, content_type) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/console.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
    ] {
        let (headers, body) = get(&app, path).await;
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        assert_security_headers(&headers, path);
        // No URL of another origin anywhere (scheme-relative ones included).
        assert!(!body.contains("://"), "{path} names another origin");
        assert!(!body.contains("\"//"), "{path} names another origin");
        bodies.push(body);
    }
    let html = &bodies[0];
    assert!(html.contains(r#"<script src="/console/console.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/console/console.css">"#));
    // No inline code: one script element (with src), no style element or attribute, no
    // event-handler attributes. The CSP would block them anyway.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains("<style"));
    assert!(!html.contains(" style="));
    assert!(!html.contains(" onclick=") && !html.contains(" onload="));
    let js = &bodies[1];
    // The token is kept for the tab only, and data goes into the page as text.
    assert!(js.contains("sessionStorage"));
    assert!(!js.contains("localStorage"));
    assert!(!js.contains("document.cookie"));
    assert!(!js.contains("innerHTML"));
    assert!(!js.contains("eval("));
    assert!(js.contains("const SECRET_LIFETIME_MS = 30 * 1000;"));
}

#[tokio::test]
async fn console_routes_answer_like_the_admin_listener() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    // Only GET; a 405 names it.
    let response = app
        .client
        .request(Method::POST, format!("{}/console", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()[header::ALLOW], "GET");
    // Nothing else under /console.
    let response = app
        .client
        .get(format!("{}/console/other.js", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The page is public, the API is not.
    let response = app
        .client
        .get(app.admin_url("/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // The console is on the admin listener only.
    let response = app
        .client
        .get(format!("{}/console", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
