//! `federated` credentials: a workload presents a token its identity provider issued (here a
//! local OIDC issuer on port 0, `tessera::testing::OidcIssuer`), and the credential's trust
//! rules decide. Through HTTP, on both backends: creation and reading, the exchange, the
//! issuer's key rotation, subject patterns, claims, the first matching rule, the dry run, replays
//! (also across replicas), refusals, rule replacement.

use reqwest::Response;
use serde_json::{json, Value};
use tessera::config::Settings;
use tessera::testing::OidcIssuer;

use crate::helpers::TestApp;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The one answer to every failed client authentication.
const REFUSED: &str =
    r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
/// The audience the workload tokens here are issued for.
const AUD: &str = "tessera";

fn no_failure_throttle(s: &mut Settings) {
    s.rate_limits.failed_auth_per_client = 0;
    s.rate_limits.failed_auth_per_ip = 0;
}

fn quick_refetch(s: &mut Settings) {
    s.federation.jwks_refetch_seconds = 1;
}

fn three_failures_per_client(s: &mut Settings) {
    s.rate_limits.failed_auth_per_client = 3;
    s.rate_limits.failed_auth_per_ip = 0;
    s.rate_limits.failed_auth_window_seconds = 60;
}

/// A rule of `oidc` for `subject`, with `AUD`.
fn rule(oidc: &OidcIssuer, subject: &str) -> Value {
    json!({"issuer": oidc.issuer(), "subject": subject, "audience": AUD})
}

/// `claims` with `changes` applied; a `null` removes the claim.
fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// A token of `oidc` for `subject` with `AUD`.
fn workload_token(oidc: &OidcIssuer, subject: &str) -> String {
    oidc.issue(&oidc.claims(subject, AUD))
}

/// `POST path` with `{name, auth_method: federated, trust}` merged with `extra`.
async fn create_with_trust(app: &TestApp, path: &str, trust: Value, extra: Value) -> Response {
    let mut body = json!({"name": "workload", "auth_method": "federated", "trust": trust});
    crate::helpers::merge(&mut body, extra);
    app.admin_post(path, body).await
}

/// A federated account credential with `trust`: (id, client_id, creation body).
async fn federated(app: &TestApp, account: &str, trust: Value) -> (String, String, Value) {
    let path = format!("/accounts/{account}/credentials");
    let body = TestApp::expect(create_with_trust(app, &path, trust, json!({})).await, 201).await;
    (
        body["id"].as_str().unwrap().to_owned(),
        body["client_id"].as_str().unwrap().to_owned(),
        body,
    )
}

/// A form token request at `base`: `client_id` (if any) and the external `token`.
async fn exchange_at(app: &TestApp, base: &str, client_id: Option<&str>, token: &str) -> Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", token),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    app.client
        .post(format!("{base}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn exchange(app: &TestApp, client_id: &str, token: &str) -> Response {
    exchange_at(app, &app.public, Some(client_id), token).await
}

/// The access token of a successful exchange.
async fn access_token(app: &TestApp, client_id: &str, token: &str) -> String {
    let body = TestApp::expect(exchange(app, client_id, token).await, 200).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// Asserts the one `invalid_client` answer, byte for byte.
async fn refused(response: Response, case: &str) {
    assert_eq!(response.status(), 401, "{case}");
    assert_eq!(response.text().await.unwrap(), REFUSED, "{case}");
}

async fn read(app: &TestApp, id: &str) -> Value {
    TestApp::expect(app.admin_get(&format!("/credentials/{id}")).await, 200).await
}

async fn put_trust(app: &TestApp, id: &str, trust: Value) -> Response {
    app.admin_send(
        reqwest::Method::PUT,
        &format!("/credentials/{id}/trust"),
        trust,
    )
    .await
}

async fn dry_run(app: &TestApp, id: &str, body: Value) -> Response {
    app.admin_post(&format!("/credentials/{id}/trust/test"), body)
        .await
}

async fn audit_of(app: &TestApp, id: &str) -> Value {
    TestApp::expect(
        app.admin_get(&format!("/audit?credential_id={id}")).await,
        200,
    )
    .await
}

/// Creation shows no secret but the token URL and the request's shape; the credential as read
/// has its rules; an exchange gives the token a secret credential of the same settings gets.
async fn a_workload_token_gets_the_token_a_secret_would(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let path = format!("/workspaces/{workspace}/credentials");
    let extra = json!({"role": "content_manager", "scopes": ["read", "write"]});
    let trust = json!([{"issuer": oidc.issuer(), "subject": "system:serviceaccount:ci:deployer",
        "audience": AUD, "claims": {"kubernetes.io/namespace": "ci"}}]);
    let created = TestApp::expect(
        create_with_trust(&app, &path, trust.clone(), extra).await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(created["auth_method"], "federated");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert!(created.get("jwks").is_none(), "{created}");
    assert_eq!(created["secrets"], json!([]));
    assert_eq!(
        created["token_url"],
        app.state.settings.token_url().as_str()
    );
    let curl = created["curl_example"].as_str().unwrap();
    assert!(
        curl.contains(ASSERTION_TYPE) && curl.contains(&format!("client_id={client_id}")),
        "{curl}"
    );
    assert_eq!(created["assertion_claims"]["iss"], oidc.issuer().as_str());
    assert_eq!(created["assertion_claims"]["aud"], AUD);
    assert_eq!(created["assertion_claims"]["kubernetes.io/namespace"], "ci");
    assert_eq!(created["trust"][0]["last_used_at"], Value::Null);

    let shown = read(&app, &id).await;
    assert_eq!(shown["auth_method"], "federated");
    let rules = shown["trust"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["issuer"], oidc.issuer().as_str());
    assert_eq!(rules[0]["subject"], "system:serviceaccount:ci:deployer");
    assert_eq!(rules[0]["claims"], json!({"kubernetes.io/namespace": "ci"}));
    assert_eq!(rules[0]["jwks_uri"], Value::Null);
    assert_eq!(rules[0]["last_used_at"], Value::Null);

    let secret_cred = app
        .workspace_credential(
            &workspace,
            "content_manager",
            json!({"scopes": ["read", "write"]}),
        )
        .await;
    let reference = app.verify(&app.token(&secret_cred).await).await;
    let names = |claims: &Value| {
        let mut names: Vec<String> = claims.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    let claims = with(
        oidc.claims("system:serviceaccount:ci:deployer", AUD),
        json!({"kubernetes.io/namespace": "ci"}),
    );
    let body = TestApp::expect(exchange(&app, &client_id, &oidc.issue(&claims)).await, 200).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], reference["scope"]);
    let token = body["access_token"].as_str().unwrap();
    let got = app.verify(token).await;
    assert_eq!(names(&got), names(&reference));
    for claim in [
        "iss",
        "aud",
        "roles",
        "key_type",
        "account_id",
        "workspace_id",
        "scope",
    ] {
        assert_eq!(got[claim], reference[claim], "{claim}");
    }
    assert_eq!(got["client_id"], client_id.as_str());
    assert_eq!(got["sub"], client_id.as_str());
    let lifetime = |c: &Value| c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert_eq!(lifetime(&got), lifetime(&reference));
    assert_eq!(app.introspect(token).await["active"], true);

    // The JSON body, with audience and scope, and an ES256 token of the same issuer.
    let r = app
        .client
        .post(app.token_url())
        .json(
            &json!({"grant_type": "client_credentials", "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": oidc.issue_es256(&with(
                oidc.claims("system:serviceaccount:ci:deployer", AUD),
                json!({"kubernetes.io/namespace": "ci"}),
            )),
            "audience": "https://api.example.test/", "scope": "read"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 200).await["scope"], "read");
}

/// The issuer rotates its key: a token under the new `kid` makes Tessera fetch the keys again
/// (at most once per `jwks_refetch_seconds`) and is accepted; the old key is gone.
async fn the_issuers_key_rotation_is_followed(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let (_, client_id, _) = federated(&app, &account, json!([rule(&oidc, "wl")])).await;
    let old = workload_token(&oidc, "wl");
    let old_again = workload_token(&oidc, "wl");
    access_token(&app, &client_id, &old).await;
    assert_eq!(oidc.jwks_requests(), 1);

    oidc.rotate();
    // Past the refetch interval (1 s here).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    access_token(&app, &client_id, &workload_token(&oidc, "wl")).await;
    assert_eq!(oidc.jwks_requests(), 2);
    // The old key is no longer published.
    refused(exchange(&app, &client_id, &old_again).await, "the old key").await;
    access_token(&app, &client_id, &workload_token(&oidc, "wl")).await;
}

/// A `*` in a subject stands for one or more characters, never `/` or `:`.
async fn subject_patterns_do_not_cross_slash_or_colon(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let trust = json!([
        rule(&oidc, "repo:acme/*:ref:refs/heads/main"),
        rule(&oidc, "system:serviceaccount:ci:*"),
    ]);
    let (_, client_id, _) = federated(&app, &account, trust).await;
    for good in [
        "repo:acme/deploy:ref:refs/heads/main",
        "repo:acme/web-app:ref:refs/heads/main",
        "system:serviceaccount:ci:deployer",
    ] {
        access_token(&app, &client_id, &workload_token(&oidc, good)).await;
    }
    for bad in [
        "repo:acme/x/y:ref:refs/heads/main",
        "repo:acme/:ref:refs/heads/main",
        "repo:acme/a:b:ref:refs/heads/main",
        "repo:other/deploy:ref:refs/heads/main",
        "repo:acme/deploy:ref:refs/heads/main/x",
        "system:serviceaccount:ci:a:b",
        "system:serviceaccount:ci:a/b",
        "system:serviceaccount:ci:",
    ] {
        refused(
            exchange(&app, &client_id, &workload_token(&oidc, bad)).await,
            bad,
        )
        .await;
    }
}

/// A rule's `claims` must all be equal in the token: value and type.
async fn claims_must_match(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let subject = "repo:acme/deploy:ref:refs/heads/main";
    let trust = json!([{"issuer": oidc.issuer(), "subject": subject, "audience": AUD,
        "claims": {"repository": "acme/deploy", "ref": "refs/heads/main"}}]);
    let (_, client_id, _) = federated(&app, &account, trust).await;
    let good = json!({"repository": "acme/deploy", "ref": "refs/heads/main"});
    let claims = || with(oidc.claims(subject, AUD), good.clone());
    access_token(&app, &client_id, &oidc.issue(&claims())).await;
    for (case, changes) in [
        ("another ref", json!({"ref": "refs/heads/dev"})),
        ("another repository", json!({"repository": "acme/other"})),
        ("no ref", json!({"ref": null})),
        ("case differs", json!({"repository": "Acme/deploy"})),
        ("a number", json!({"repository": 1})),
        ("another audience", json!({"aud": ["other"]})),
    ] {
        let token = oidc.issue(&with(claims(), changes));
        refused(exchange(&app, &client_id, &token).await, case).await;
    }
}

/// Of several matching rules, the first wins: its last use is recorded, not the others'.
async fn the_first_matching_rule_wins(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let trust = json!([
        rule(&oidc, "system:serviceaccount:ci:other"),
        rule(&oidc, "system:serviceaccount:ci:*"),
        rule(&oidc, "system:serviceaccount:ci:deployer"),
    ]);
    let (id, client_id, _) = federated(&app, &account, trust).await;
    let token = workload_token(&oidc, "system:serviceaccount:ci:deployer");
    let r = dry_run(&app, &id, json!({ "token": token })).await;
    assert_eq!(TestApp::expect(r, 200).await["matched"], 1);
    access_token(&app, &client_id, &token).await;
    app.flush_usage().await;
    let shown = read(&app, &id).await;
    assert!(shown["last_used_at"].is_string(), "{shown}");
    let used: Vec<bool> = shown["trust"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["last_used_at"].is_string())
        .collect();
    assert_eq!(used, [false, true, false]);
}

/// The dry run says which rule matches or why each does not, and changes nothing: the token's
/// `jti` is not used up, no last use, no audit event. It fits the other credential endpoints
/// for methods, ids, scoped tokens and bodies.
async fn the_dry_run_changes_nothing_and_gives_reasons(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let trust = json!([
        rule(&oidc, "system:serviceaccount:ci:deployer"),
        {"issuer": "https://elsewhere.example", "subject": "x", "audience": AUD},
    ]);
    let (id, client_id, _) = federated(&app, &account, trust).await;
    let events_before = audit_of(&app, &id).await["items"].as_array().unwrap().len();

    let token = workload_token(&oidc, "system:serviceaccount:ci:deployer");
    let r = dry_run(&app, &id, json!({ "token": token })).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = TestApp::expect(r, 200).await;
    assert_eq!(body["matched"], 0, "{body}");
    assert_eq!(
        body["rules"][0],
        json!({"index": 0, "matched": true, "reasons": []})
    );
    assert_eq!(body["rules"][1]["matched"], false);
    let reason = body["rules"][1]["reasons"][0].as_str().unwrap();
    assert!(reason.contains("https://elsewhere.example"), "{reason}");
    // Twice: still nothing recorded.
    TestApp::expect(dry_run(&app, &id, json!({ "token": token })).await, 200).await;
    app.flush_usage().await;
    let shown = read(&app, &id).await;
    assert_eq!(shown["last_used_at"], Value::Null);
    assert_eq!(shown["trust"][0]["last_used_at"], Value::Null);
    assert_eq!(
        audit_of(&app, &id).await["items"].as_array().unwrap().len(),
        events_before
    );

    // Why not: the subject, an expired token, a bad signature.
    let other = workload_token(&oidc, "system:serviceaccount:ci:intruder");
    let body = TestApp::expect(dry_run(&app, &id, json!({ "token": other })).await, 200).await;
    assert_eq!(body["matched"], Value::Null);
    let reason = body["rules"][0]["reasons"][0].as_str().unwrap();
    assert!(reason.contains("intruder"), "{reason}");
    let expired = oidc.issue(&with(
        oidc.claims("system:serviceaccount:ci:deployer", AUD),
        json!({"exp": chrono::Utc::now().timestamp() - 3600, "iat": 1, "nbf": 1}),
    ));
    let body = TestApp::expect(dry_run(&app, &id, json!({ "token": expired })).await, 200).await;
    assert_eq!(body["matched"], Value::Null);
    for rule in body["rules"].as_array().unwrap() {
        let reasons = rule["reasons"].to_string();
        assert!(reasons.contains("expired"), "{reasons}");
    }
    // One character in the middle of the signature changed (never a padding bit).
    let at = token.rfind('.').unwrap() + 20;
    let mut forged = token.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let body = TestApp::expect(dry_run(&app, &id, json!({ "token": forged })).await, 200).await;
    assert_eq!(body["matched"], Value::Null);
    let reasons = body["rules"][0]["reasons"].to_string();
    assert!(reasons.contains("signature"), "{reasons}");

    // The token was never used: it still works, once.
    access_token(&app, &client_id, &token).await;
    refused(
        exchange(&app, &client_id, &token).await,
        "replay after dry runs",
    )
    .await;

    // Bodies, methods, ids, scopes.
    assert_eq!(dry_run(&app, &id, json!({})).await.status(), 400);
    assert_eq!(dry_run(&app, &id, json!({"token": ""})).await.status(), 400);
    let huge = "a".repeat(16 * 1024 + 1);
    assert_eq!(
        dry_run(&app, &id, json!({ "token": huge })).await.status(),
        400
    );
    let secret_cred = app.account_credential(&account, json!({})).await;
    let r = dry_run(&app, &secret_cred.id, json!({ "token": token })).await;
    assert_eq!(TestApp::expect(r, 409).await["error"], "conflict");
    let unknown = "01a23a92-8900-70c8-928d-142c565f571a";
    assert_eq!(
        dry_run(&app, unknown, json!({ "token": token }))
            .await
            .status(),
        404
    );
    let other_account = app.create_account("Other").await;
    let scoped = app
        .create_admin_token("other-portal", Some(&other_account))
        .await;
    let r = app
        .client
        .post(app.admin_url(&format!("/credentials/{id}/trust/test")))
        .bearer_auth(&scoped)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// An external `jti` is accepted once per credential until the token expires; a token without
/// one may be presented again.
async fn a_replayed_external_jti_is_refused(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let (_, client_id, _) = federated(&app, &account, json!([rule(&oidc, "wl")])).await;
    let (_, other_client, _) = federated(&app, &account, json!([rule(&oidc, "wl")])).await;
    let token = workload_token(&oidc, "wl");
    access_token(&app, &client_id, &token).await;
    refused(exchange(&app, &client_id, &token).await, "replay").await;
    // Per credential: another credential trusting the same token may use it once too.
    access_token(&app, &other_client, &token).await;

    let without_jti = oidc.issue(&with(oidc.claims("wl", AUD), json!({"jti": null})));
    access_token(&app, &client_id, &without_jti).await;
    access_token(&app, &client_id, &without_jti).await;
}

/// Every way of presenting a workload token wrongly is the one `invalid_client`: no
/// `client_id`, a `client_id` of another method, a secret for a federated credential, a token
/// of an issuer no rule names (nothing is fetched from it), an expired token.
async fn wrong_presentations_are_refused(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let stranger = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let (_, client_id, _) = federated(&app, &account, json!([rule(&oidc, "wl")])).await;
    let secret_cred = app.account_credential(&account, json!({})).await;
    let token = workload_token(&oidc, "wl");

    refused(
        exchange_at(&app, &app.public, None, &token).await,
        "no client_id",
    )
    .await;
    refused(
        exchange(&app, &secret_cred.client_id, &token).await,
        "a secret credential's client_id",
    )
    .await;
    refused(
        app.token_json(&client_id, &secret_cred.secret, json!({}))
            .await,
        "a secret for a federated credential",
    )
    .await;
    refused(
        exchange(&app, &client_id, &workload_token(&stranger, "wl")).await,
        "an issuer no rule names",
    )
    .await;
    assert_eq!(stranger.discovery_requests(), 0);
    assert_eq!(stranger.jwks_requests(), 0);
    let now = chrono::Utc::now().timestamp();
    let expired = oidc.issue(&with(
        oidc.claims("wl", AUD),
        json!({"iat": now - 4000, "nbf": now - 4000, "exp": now - 1000}),
    ));
    refused(exchange(&app, &client_id, &expired).await, "expired").await;
    refused(
        exchange(&app, &client_id, "not.a-token.at-all").await,
        "garbage",
    )
    .await;
    // None of this used up the token.
    access_token(&app, &client_id, &token).await;
}

/// Refused workload tokens count against the failure throttle of the client id they name.
async fn refusals_count_against_the_failure_throttle(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let (_, client_id, _) = federated(&app, &account, json!([rule(&oidc, "wl")])).await;
    for _ in 0..3 {
        let bad = workload_token(&oidc, "someone-else");
        refused(exchange(&app, &client_id, &bad).await, "wrong subject").await;
    }
    let r = exchange(&app, &client_id, &workload_token(&oidc, "wl")).await;
    assert_eq!(r.status(), 429);
}

/// `PUT /credentials/{id}/trust` swaps which tokens work, keeps an unchanged rule's last use,
/// is audited without any token; it fits the other credential endpoints for methods, ids,
/// scoped tokens and deactivated credentials. A federated credential has nothing to rotate.
async fn replacing_the_trust_rules(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let (id, client_id, _) = federated(
        &app,
        &account,
        json!([rule(&oidc, "old"), rule(&oidc, "kept")]),
    )
    .await;
    let issued = access_token(&app, &client_id, &workload_token(&oidc, "old")).await;
    access_token(&app, &client_id, &workload_token(&oidc, "kept")).await;
    app.flush_usage().await;
    let before = read(&app, &id).await;
    let kept_used = before["trust"][1]["last_used_at"].clone();
    assert!(kept_used.is_string(), "{before}");

    // A rule read back (with its last_used_at) can be sent again.
    let replaced = TestApp::expect(
        put_trust(&app, &id, json!([before["trust"][1], rule(&oidc, "new")])).await,
        200,
    )
    .await;
    let subjects: Vec<&str> = replaced["trust"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["kept", "new"]);
    assert_eq!(replaced["trust"][0]["last_used_at"], kept_used);
    assert_eq!(replaced["trust"][1]["last_used_at"], Value::Null);
    refused(
        exchange(&app, &client_id, &workload_token(&oidc, "old")).await,
        "a removed rule",
    )
    .await;
    access_token(&app, &client_id, &workload_token(&oidc, "new")).await;
    access_token(&app, &client_id, &workload_token(&oidc, "kept")).await;
    assert_eq!(app.introspect(&issued).await["active"], true);

    let audit = audit_of(&app, &id).await;
    let event = &audit["items"][0];
    assert_eq!(event["action"], "credential.updated");
    assert_eq!(event["details"]["trust_rules_changed"], true);
    assert_eq!(event["details"]["trust_rules_after"][1]["subject"], "new");
    assert_eq!(audit["items"][1]["action"], "credential.created");
    assert_eq!(audit["items"][1]["details"]["auth_method"], "federated");

    // Errors.
    assert_eq!(put_trust(&app, &id, json!([])).await.status(), 400);
    assert_eq!(
        put_trust(&app, &id, json!({"issuer": oidc.issuer()}))
            .await
            .status(),
        400
    );
    let secret_cred = app.account_credential(&account, json!({})).await;
    let r = put_trust(&app, &secret_cred.id, json!([rule(&oidc, "x")])).await;
    assert_eq!(TestApp::expect(r, 409).await["error"], "conflict");
    let unknown = "01a23a92-8900-70c8-928d-142c565f571a";
    assert_eq!(
        put_trust(&app, unknown, json!([rule(&oidc, "x")]))
            .await
            .status(),
        404
    );
    let other_account = app.create_account("Other").await;
    let scoped = app
        .create_admin_token("other-portal", Some(&other_account))
        .await;
    let r = app
        .client
        .put(app.admin_url(&format!("/credentials/{id}/trust")))
        .bearer_auth(&scoped)
        .json(&json!([rule(&oidc, "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let own = app.create_admin_token("acme-portal", Some(&account)).await;
    let r = app
        .client
        .put(app.admin_url(&format!("/credentials/{id}/trust")))
        .bearer_auth(&own)
        .json(&json!([rule(&oidc, "own")]))
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::expect(r, 200).await["trust"][0]["subject"], "own");
    let r = app
        .admin_post(&format!("/credentials/{id}/rotate"), json!({}))
        .await;
    let body = TestApp::expect(r, 409).await;
    assert!(
        body["message"].as_str().unwrap().contains("federated"),
        "{body}"
    );

    TestApp::expect(
        app.admin_post(&format!("/credentials/{id}/deactivate"), json!({}))
            .await,
        200,
    )
    .await;
    let r = put_trust(&app, &id, json!([rule(&oidc, "x")])).await;
    assert_eq!(TestApp::expect(r, 409).await["error"], "conflict");
}

/// Creation refuses bad rules, and `trust`/`jwks` with the wrong method, with 400 and a
/// message naming the problem; nothing is created.
async fn bad_trust_rules_are_refused_at_creation(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let path = format!("/accounts/{account}/credentials");
    let good = rule(&oidc, "wl");
    let jwk = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
    let cases = [
        (
            "http off loopback",
            json!({"auth_method": "federated",
                "trust": [{"issuer": "http://ci.example", "subject": "x", "audience": AUD}]}),
            "trust[0].issuer",
        ),
        (
            "21 rules",
            json!({"auth_method": "federated", "trust": vec![good.clone(); 21]}),
            "trust",
        ),
        (
            "no rules",
            json!({"auth_method": "federated", "trust": []}),
            "trust",
        ),
        (
            "a bad pattern",
            json!({"auth_method": "federated",
                "trust": [good.clone(), {"issuer": oidc.issuer(), "subject": "repo:**", "audience": AUD}]}),
            "trust[1].subject",
        ),
        (
            "a reserved claim",
            json!({"auth_method": "federated",
                "trust": [{"issuer": oidc.issuer(), "subject": "x", "audience": AUD, "claims": {"sub": "y"}}]}),
            "trust[0].claims",
        ),
        ("no trust", json!({"auth_method": "federated"}), "trust"),
        (
            "trust with a secret",
            json!({"trust": [good.clone()]}),
            "trust",
        ),
        (
            "trust with keys",
            json!({"auth_method": "private_key_jwt", "jwks": jwk.clone(), "trust": [good.clone()]}),
            "trust",
        ),
        (
            "keys with federated",
            json!({"auth_method": "federated", "jwks": jwk, "trust": [good.clone()]}),
            "jwks",
        ),
    ];
    for (case, body, names) in cases {
        let mut full = json!({"name": "bad"});
        crate::helpers::merge(&mut full, body);
        let r = app.admin_post(&path, full).await;
        let body = TestApp::expect(r, 400).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(names), "{case}: {message}");
    }
    let listed = TestApp::expect(
        app.admin_get(&format!("/credentials?account_id={account}"))
            .await,
        200,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
}

/// The replay record is shared: a workload token used at one replica is refused at the other,
/// and of two replicas receiving it at once, exactly one accepts it.
async fn a_replayed_external_jti_is_refused_across_replicas(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let replica = app.replica().await;
    let account = app.create_account("Acme").await;
    let (_, client_id, _) = federated(&app, &account, json!([rule(&oidc, "wl")])).await;
    let token = workload_token(&oidc, "wl");
    TestApp::expect(
        exchange_at(&app, &replica.public, Some(&client_id), &token).await,
        200,
    )
    .await;
    refused(
        exchange_at(&app, &app.public, Some(&client_id), &token).await,
        "replay at the other",
    )
    .await;
    for _ in 0..5 {
        let token = workload_token(&oidc, "wl");
        let (a, b) = tokio::join!(
            exchange_at(&app, &app.public, Some(&client_id), &token),
            exchange_at(&app, &replica.public, Some(&client_id), &token),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 401]);
    }
}

/// The decision after the boundary wait reads the credential again: a rule replaced meanwhile
/// no longer authenticates the request.
async fn a_rule_replaced_during_the_boundary_wait_is_refused(app: TestApp) {
    let oidc = OidcIssuer::start().await;
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "W").await;
    let path = format!("/workspaces/{workspace}/credentials");
    let created = TestApp::expect(
        create_with_trust(
            &app,
            &path,
            json!([rule(&oidc, "wl")]),
            json!({"role": "chat_user"}),
        )
        .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let token = workload_token(&oidc, "wl");

    let second = app.freeze();
    TestApp::expect(
        app.admin_patch(
            &format!("/credentials/{id}"),
            json!({"role": "content_manager"}),
        )
        .await,
        200,
    )
    .await;
    let request = {
        let client = app.client.clone();
        let url = app.token_url();
        tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!request.is_finished(), "signed in the event's second");
    TestApp::expect(
        put_trust(&app, &id, json!([rule(&oidc, "other")])).await,
        200,
    )
    .await;
    app.at(second + 1, 0);
    refused(request.await.unwrap(), "rule replaced during the wait").await;
}

backend_tests!(
    a_workload_token_gets_the_token_a_secret_would,
    the_issuers_key_rotation_is_followed with crate::federated::quick_refetch,
    subject_patterns_do_not_cross_slash_or_colon with crate::federated::no_failure_throttle,
    claims_must_match with crate::federated::no_failure_throttle,
    the_first_matching_rule_wins with crate::helpers::manual_flush,
    the_dry_run_changes_nothing_and_gives_reasons with crate::helpers::manual_flush,
    a_replayed_external_jti_is_refused,
    wrong_presentations_are_refused with crate::federated::no_failure_throttle,
    refusals_count_against_the_failure_throttle
        with crate::federated::three_failures_per_client,
    replacing_the_trust_rules with crate::helpers::manual_flush,
    bad_trust_rules_are_refused_at_creation,
    a_replayed_external_jti_is_refused_across_replicas,
    a_rule_replaced_during_the_boundary_wait_is_refused,
);
