//! Rate limits, monthly quotas and the usage they show in the admin API.

use reqwest::header;
use serde_json::{json, Value};
use tessera::config::Settings;
use tessera::domain::secret::ClientSecret;

use crate::helpers::{Cred, TestApp};

/// A well-formed secret (good checksum) that is nobody's: each use reaches argon2.
fn wrong_secret() -> String {
    ClientSecret::generate().expose().to_owned()
}

/// Asserts a 429 `rate_limited` and returns its `Retry-After` in seconds.
async fn rate_limited(response: reqwest::Response) -> u64 {
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = TestApp::expect(response, 429).await;
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    retry_after.expect("a 429 carries Retry-After in seconds")
}

async fn token_from(
    app: &TestApp,
    cred: &Cred,
    secret: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.post(app.token_url()).json(&json!({
        "grant_type": "client_credentials",
        "client_id": cred.client_id,
        "client_secret": secret,
    }));
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    request.send().await.unwrap()
}

fn three_failures_per_client(s: &mut Settings) {
    s.rate_limits.failed_auth_per_client = 3;
    s.rate_limits.failed_auth_per_ip = 0;
    s.rate_limits.failed_auth_window_seconds = 60;
}

/// After N failures of one client id, every attempt — even with the right secret — is refused
/// before any argon2 (or database) work, until the budget refills.
async fn failed_authentications_are_throttled_per_client_before_any_work(app: TestApp) {
    let (account, cred) = app.account_with_key().await;
    let other = app.account_credential(&account, json!({})).await;
    for _ in 0..3 {
        let r = token_from(&app, &cred, &wrong_secret(), None).await;
        assert_eq!(r.status(), 401);
    }
    let argon2_runs = app.state.hasher.verifications();
    let wait = rate_limited(token_from(&app, &cred, &cred.secret, None).await).await;
    assert!(
        (1..=20).contains(&wait),
        "3 per 60 s refill one per 20 s: {wait}"
    );
    for _ in 0..20 {
        rate_limited(token_from(&app, &cred, &wrong_secret(), None).await).await;
    }
    // Introspection and revocation authenticate clients too, and are throttled alike.
    let introspect = app
        .client
        .post(format!("{}/oauth/introspect", app.public))
        .basic_auth(&cred.client_id, Some(&cred.secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    rate_limited(introspect).await;
    assert_eq!(
        app.state.hasher.verifications(),
        argon2_runs,
        "refused attempts cost no argon2 verification"
    );
    // Another client from the same address is not affected.
    TestApp::expect(token_from(&app, &other, &other.secret, None).await, 200).await;

    app.clock.advance(20);
    TestApp::expect(token_from(&app, &cred, &cred.secret, None).await, 200).await;
    // Successes do not refill faster: one failure more uses the refilled budget up again.
    assert_eq!(
        token_from(&app, &cred, &wrong_secret(), None)
            .await
            .status(),
        401
    );
    rate_limited(token_from(&app, &cred, &cred.secret, None).await).await;
}

fn three_failures_per_ip(s: &mut Settings) {
    s.rate_limits.failed_auth_per_client = 0;
    s.rate_limits.failed_auth_per_ip = 3;
    s.rate_limits.failed_auth_window_seconds = 60;
}

/// Failures from one address with many client ids add up; a spoofed X-Forwarded-For changes
/// nothing when no proxy is trusted.
async fn failed_authentications_are_throttled_per_address(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    for i in 0..3 {
        let stranger = Cred {
            client_id: format!("ak_{:0>22}", i),
            ..cred.clone()
        };
        let r = token_from(
            &app,
            &stranger,
            &wrong_secret(),
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    rate_limited(token_from(&app, &cred, &cred.secret, Some("198.51.100.1")).await).await;
    // Malformed credentials count too (they are failed authentications), and are refused alike.
    let r = app
        .client
        .post(app.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ])
        .send()
        .await
        .unwrap();
    rate_limited(r).await;
}

fn behind_a_trusted_proxy(s: &mut Settings) {
    three_failures_per_ip(s);
    s.server.trusted_proxies = vec!["127.0.0.1".into()];
    s.server.trusted_proxy_nets = vec!["127.0.0.1/32".parse().unwrap()];
}

/// Behind a trusted proxy the client address comes from its header: one client's failures do
/// not throttle the others, and last_used_ip is the real client.
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    for _ in 0..3 {
        let r = token_from(&app, &cred, &wrong_secret(), Some("203.0.113.66")).await;
        assert_eq!(r.status(), 401);
    }
    rate_limited(token_from(&app, &cred, &cred.secret, Some("203.0.113.66")).await).await;
    // The proxy appends what it saw; what the client wrote to the left does not count.
    rate_limited(token_from(&app, &cred, &cred.secret, Some("192.0.2.1, 203.0.113.66")).await)
        .await;
    TestApp::expect(
        token_from(
            &app,
            &cred,
            &cred.secret,
            Some("203.0.113.66, 198.51.100.20"),
        )
        .await,
        200,
    )
    .await;
    app.flush_usage().await;
    let read = TestApp::expect(
        app.admin_get(&format!("/credentials/{}", cred.id)).await,
        200,
    )
    .await;
    assert_eq!(read["last_used_ip"], "198.51.100.20", "{read}");
}

fn tight_plan(s: &mut Settings) {
    let plan = s.plans.get_mut("standard").unwrap();
    plan.token_requests_per_minute = Some(3);
    plan.monthly_token_quota = Some(5);
}

/// `token_requests_per_minute` of the account's plan, per credential.
async fn a_credential_gets_the_request_rate_of_its_plan(app: TestApp) {
    let (account, cred) = app.account_with_key().await;
    let other = app.account_credential(&account, json!({})).await;
    for _ in 0..3 {
        app.token(&cred).await;
    }
    let wait = rate_limited(token_from(&app, &cred, &cred.secret, None).await).await;
    assert!((1..=20).contains(&wait), "{wait}");
    // Per credential: another key of the account still gets its own.
    app.token(&other).await;
    app.clock.advance(20);
    app.token(&cred).await;
}

async fn usage_of(app: &TestApp, account: &str, query: &str) -> Value {
    TestApp::expect(
        app.admin_get(&format!("/accounts/{account}/usage{query}"))
            .await,
        200,
    )
    .await
}

async fn quota_exceeded(response: reqwest::Response) -> Value {
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = TestApp::expect(response, 402).await;
    assert_eq!(body["error"], "quota_exceeded", "{body}");
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "Retry-After until the month ends"
    );
    body
}

/// `monthly_token_quota` of the account's plan, across all its credentials, counted without a
/// write per request and reset when the UTC month changes.
async fn the_monthly_quota_is_shared_by_an_accounts_credentials_and_resets(app: TestApp) {
    let (account, first) = app.account_with_key().await;
    let workspace = app.create_workspace(&account, "W").await;
    let second = app
        .workspace_credential(&workspace, "chat_user", json!({}))
        .await;
    let usage = usage_of(&app, &account, "").await;
    assert_eq!(usage["tokens_issued"], 0);
    assert_eq!(usage["monthly_token_quota"], 5);
    assert_eq!(usage["tokens_remaining"], 5);
    assert_eq!(usage["active_credentials"], 2);
    assert_eq!(usage["token_requests_per_minute"], 3);

    for cred in [&first, &first, &second] {
        app.token(cred).await;
    }
    // What another replica flushed counts too.
    let pool = app.state.pool.clone();
    let month = usage["month"].as_str().unwrap().to_owned();
    let (acc, m) = (account.clone(), month.clone());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::storage::account_usage::add_tokens(&mut conn, &acc, &m, 1).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(usage_of(&app, &account, "").await["tokens_issued"], 4);
    app.token(&second).await;
    let body = quota_exceeded(token_from(&app, &first, &first.secret, None).await).await;
    assert!(
        body["error_description"].as_str().unwrap().contains('5'),
        "{body}"
    );
    quota_exceeded(token_from(&app, &second, &second.secret, None).await).await;
    let usage = usage_of(&app, &account, "").await;
    assert_eq!(usage["tokens_issued"], 5);
    assert_eq!(usage["tokens_remaining"], 0);

    // The count survives a flush exactly (nothing lost, nothing counted twice). A minute later,
    // so the per-minute rate is not what answers.
    app.clock.advance(60);
    app.flush_usage().await;
    assert_eq!(usage_of(&app, &account, "").await["tokens_issued"], 5);
    quota_exceeded(token_from(&app, &first, &first.secret, None).await).await;

    // A wrong secret is still a 401, not a quota answer: the quota is nobody else's business.
    assert_eq!(
        token_from(&app, &first, &wrong_secret(), None)
            .await
            .status(),
        401
    );

    // Next month the count starts again; the old month stays readable.
    let resets_at =
        chrono::DateTime::parse_from_rfc3339(usage["resets_at"].as_str().unwrap()).unwrap();
    let seconds = resets_at.timestamp() - app.clock.now().timestamp();
    app.clock.advance(seconds + 1);
    app.token(&first).await;
    let now = usage_of(&app, &account, "").await;
    assert_ne!(now["month"], month.as_str());
    assert_eq!(now["tokens_issued"], 1);
    assert_eq!(
        usage_of(&app, &account, &format!("?month={month}")).await["tokens_issued"],
        5
    );
}

/// The usage read is scoped and validated like the rest of the admin API.
async fn usage_reads_are_scoped_and_validated(app: TestApp) {
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let r = app
        .admin_get(&format!("/accounts/{account}/usage?month=2026-13"))
        .await;
    assert_eq!(TestApp::expect(r, 400).await["error"], "invalid_request");
    let r = app
        .admin_get(&format!("/accounts/{account}/usage?nope=1"))
        .await;
    TestApp::expect(r, 400).await;
    let missing = uuid::Uuid::now_v7();
    TestApp::expect(
        app.admin_get(&format!("/accounts/{missing}/usage")).await,
        404,
    )
    .await;

    let pool = app.state.pool.clone();
    let scoped_to = other.clone();
    let scoped = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::create(
            &mut conn,
            "scoped",
            Some(&scoped_to),
            chrono::Utc::now(),
        )
        .unwrap()
        .expose()
        .to_owned()
    })
    .await
    .unwrap();
    let r = app
        .client
        .get(app.admin_url(&format!("/accounts/{account}/usage")))
        .bearer_auth(&scoped)
        .send()
        .await
        .unwrap();
    TestApp::expect(r, 403).await;
    let r = app
        .client
        .get(app.admin_url(&format!("/accounts/{other}/usage")))
        .bearer_auth(&scoped)
        .send()
        .await
        .unwrap();
    let usage = TestApp::expect(r, 200).await;
    assert_eq!(usage["account_id"], other.as_str());
    assert_eq!(
        usage["monthly_token_quota"],
        Value::Null,
        "the standard plan has no quota by default"
    );
}

backend_tests!(
    failed_authentications_are_throttled_per_client_before_any_work
        with crate::throttling::three_failures_per_client,
    failed_authentications_are_throttled_per_address with crate::throttling::three_failures_per_ip,
    behind_a_trusted_proxy_the_forwarded_address_is_the_client
        with crate::throttling::behind_a_trusted_proxy,
    a_credential_gets_the_request_rate_of_its_plan with crate::throttling::tight_plan,
    the_monthly_quota_is_shared_by_an_accounts_credentials_and_resets
        with crate::throttling::tight_plan,
    usage_reads_are_scoped_and_validated,
);
