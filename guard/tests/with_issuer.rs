//! The guard against the real issuer: the issuer runs in-process on free ports (fresh SQLite
//! database and keys), accounts, workspaces and credentials are made through its admin API, and
//! the `resource_server` example runs as a child process validating the tokens it issues.
//!
//! - `role_and_tenancy_matrix`: who may call which route of the example (200/401/403 and the
//!   RFC 6750 challenges), and `X-User-Id` attribution.
//! - `revocation_reaches_the_example_within_a_poll_interval`: deactivation and account
//!   suspension refuse still-unexpired tokens within about one feed poll; reactivation lifts it.
//! - `the_example_follows_a_signing_key_rotation`: a token signed by a new key (unknown `kid`)
//!   is accepted after a JWKS refetch, and tokens of the old key still are.
//! - `guard_validates_and_revokes_real_tokens`: `Guard` itself, without the example.
//! - `guard_validates_real_es256_and_eddsa_tokens`: issuers configured with `keys.algorithm`
//!   ES256 and EdDSA, and a guard configured for each (and one that is not).
//! - `the_example_accepts_es256_tokens_when_configured_for_them`: `ALGORITHMS` of the example.
//! - `the_example_fails_closed_until_its_first_poll`: against a stand-in issuer whose feed the
//!   test switches on and off: 503 (and `/readyz` 503) before the first poll and once the list
//!   is older than `MAX_FEED_AGE_SECONDS`, 200 in between; `FEED_FAIL_OPEN=1` accepts anyway;
//!   an account token on a workspace of unknown owner is 403.
//! - `the_guard_follows_the_issuers_deltas_within_the_same_second`: incremental polls of the real
//!   issuer's feed: a token revoked in the second it was issued is refused, a suspension and its
//!   reactivation (`removed`) come through as deltas.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    kid, unix_now, wait_for_plain_status, wait_past_second, Issuer, MockIssuer, ResourceServer,
    AUDIENCE,
};
use tessera::crypto::keys::KeyAlgorithm;
use tessera_guard::{Algorithm, Guard, GuardConfig, GuardError, KeyType, RevocationReason};

/// How long a revocation may take to reach the example with `FEED_POLL_SECONDS=1`: one poll
/// interval, plus generous slack for a loaded machine.
const REVOCATION_DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn role_and_tenancy_matrix() {
    let issuer = Issuer::start().await;
    let acc_a = issuer.create_account("Acme").await;
    let ws_a1 = issuer.create_workspace(&acc_a, "Acme support").await;
    let ws_a2 = issuer.create_workspace(&acc_a, "Acme sales").await;
    let acc_b = issuer.create_account("Globex").await;
    let ws_b1 = issuer.create_workspace(&acc_b, "Globex support").await;

    let account_a = issuer.token(&issuer.account_credential(&acc_a).await).await;
    let account_b = issuer.token(&issuer.account_credential(&acc_b).await).await;
    let a1_admin = issuer
        .token(&issuer.workspace_credential(&ws_a1, "workspace_admin").await)
        .await;
    let a1_content = issuer
        .token(&issuer.workspace_credential(&ws_a1, "content_manager").await)
        .await;
    let a1_chat = issuer
        .token(&issuer.workspace_credential(&ws_a1, "chat_user").await)
        .await;
    let a2_content = issuer
        .token(&issuer.workspace_credential(&ws_a2, "content_manager").await)
        .await;
    let b1_content = issuer
        .token(&issuer.workspace_credential(&ws_b1, "content_manager").await)
        .await;

    // The example has no database: it is told who owns which workspace.
    let owners = format!("{ws_a1}={acc_a},{ws_a2}={acc_a},{ws_b1}={acc_b}");
    let server = ResourceServer::start(&issuer, &[("WORKSPACE_OWNERS", &owners)]).await;

    // GET /accounts/{account_id}/workspaces: account keys of that account only.
    let path = format!("/accounts/{acc_a}/workspaces");
    let reply = server.get(&path, Some(&account_a), None).await;
    reply.assert_ok("an account token of the account");
    assert_eq!(reply.body["account_id"], acc_a.as_str());
    let mut expected = vec![ws_a1.clone(), ws_a2.clone()];
    expected.sort();
    assert_eq!(reply.body["workspaces"], json!(expected));
    assert_eq!(reply.body["acting_user"], json!(null));
    let reply = server.get(&path, Some(&account_a), Some("user-42")).await;
    reply.assert_ok("an account token with X-User-Id");
    assert_eq!(reply.body["acting_user"], "user-42");

    for (token, what) in [
        (
            &a1_admin,
            "a workspace_admin token of one of its workspaces",
        ),
        (
            &a1_content,
            "a content_manager token of one of its workspaces",
        ),
        (&b1_content, "a workspace token of another account"),
        (&account_b, "another account's token"),
    ] {
        server
            .get(&path, Some(token), None)
            .await
            .assert_forbidden(what);
    }
    let reply = server
        .get(
            &format!("/accounts/{acc_b}/workspaces"),
            Some(&account_b),
            None,
        )
        .await;
    reply.assert_ok("account B's token on account B");
    assert_eq!(reply.body["workspaces"], json!([ws_b1.clone()]));

    // No token: a plain challenge without an error code (RFC 6750 §3.1).
    let reply = server.get(&path, None, None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        reply.challenge.as_deref(),
        Some(r#"Bearer realm="tessera""#)
    );
    let reply = server
        .send(server.request(&path).basic_auth("user", Some("password")))
        .await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        reply.challenge.as_deref(),
        Some(r#"Bearer realm="tessera""#)
    );
    // Garbage, and a real token with its signature broken.
    server
        .get(&path, Some("garbage"), None)
        .await
        .assert_invalid_token("a garbage token");
    let tampered = format!("{}AAAA", &account_a[..account_a.len() - 4]);
    server
        .get(&path, Some(&tampered), None)
        .await
        .assert_invalid_token("a token with a broken signature");

    // GET /workspaces/{workspace_id}/content.
    let path = format!("/workspaces/{ws_a1}/content");
    for (token, what) in [
        (&a1_admin, "workspace_admin of the workspace"),
        (&a1_content, "content_manager of the workspace"),
    ] {
        let reply = server.get(&path, Some(token), Some("user-42")).await;
        reply.assert_ok(what);
        assert_eq!(reply.body["key_type"], "workspace");
        // X-User-Id is attribution for portals acting with account keys; ignored here.
        assert_eq!(reply.body["acting_user"], json!(null), "{what}");
    }
    for (token, what) in [
        (&a1_chat, "chat_user of the workspace"),
        (
            &a2_content,
            "a workspace token of another workspace of the same account",
        ),
        (&b1_content, "a workspace token of another account"),
        (&account_b, "an account token of another account"),
    ] {
        server
            .get(&path, Some(token), None)
            .await
            .assert_forbidden(what);
    }
    let reply = server.get(&path, Some(&account_a), Some("user-42")).await;
    reply.assert_ok("an account token of the owning account");
    assert_eq!(reply.body["key_type"], "account");
    assert_eq!(reply.body["ownership_verified"], true);
    assert_eq!(reply.body["acting_user"], "user-42");
    let reply = server.get(&path, None, None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        reply.challenge.as_deref(),
        Some(r#"Bearer realm="tessera""#)
    );
    server
        .get(&path, Some("garbage"), None)
        .await
        .assert_invalid_token("a garbage token on content");

    // A workspace the example does not know the owner of: the account token is refused (never
    // let through unverified) until a workspace token of it has shown which account owns it.
    let ws_a3 = issuer.create_workspace(&acc_a, "Acme new").await;
    let a3_content = issuer
        .token(&issuer.workspace_credential(&ws_a3, "content_manager").await)
        .await;
    let path = format!("/workspaces/{ws_a3}/content");
    server
        .get(&path, Some(&account_a), None)
        .await
        .assert_forbidden("an account token on a workspace of unknown owner");
    server
        .get(&path, Some(&a3_content), None)
        .await
        .assert_ok("a workspace token of the new workspace");
    let reply = server.get(&path, Some(&account_a), None).await;
    reply.assert_ok("the owner's account token once the owner is known");
    assert_eq!(reply.body["ownership_verified"], true);
    server
        .get(&path, Some(&account_b), None)
        .await
        .assert_forbidden("another account's token once the owner is known");

    // Polled at start-up: ready.
    server.get("/readyz", None, None).await.assert_ok("/readyz");
}

#[tokio::test]
async fn revocation_reaches_the_example_within_a_poll_interval() {
    let issuer = Issuer::start().await;
    let acc = issuer.create_account("Acme").await;
    let ws = issuer.create_workspace(&acc, "Acme support").await;
    let other_acc = issuer.create_account("Globex").await;

    let doomed = issuer.workspace_credential(&ws, "content_manager").await;
    let doomed_token = issuer.token(&doomed).await;
    let sibling_token = issuer
        .token(&issuer.workspace_credential(&ws, "workspace_admin").await)
        .await;
    let account_token = issuer.token(&issuer.account_credential(&acc).await).await;
    let other_token = issuer
        .token(&issuer.account_credential(&other_acc).await)
        .await;
    let issued = unix_now();

    let server = ResourceServer::start(&issuer, &[]).await;
    let content = format!("/workspaces/{ws}/content");
    let workspaces = format!("/accounts/{acc}/workspaces");
    let other_workspaces = format!("/accounts/{other_acc}/workspaces");
    for (path, token) in [
        (&content, &doomed_token),
        (&content, &sibling_token),
        (&workspaces, &account_token),
        (&other_workspaces, &other_token),
    ] {
        server.get(path, Some(token), None).await.assert_ok(path);
    }

    // Revoke in a later second than the tokens' `iat` (see `wait_past_second`).
    wait_past_second(issued).await;

    // Deactivating a credential refuses its still-unexpired token, and only its token.
    issuer.deactivate(&doomed).await;
    let (reply, took) = server
        .wait_for_status(&content, &doomed_token, 401, REVOCATION_DEADLINE)
        .await;
    reply.assert_invalid_token("a deactivated credential's token");
    eprintln!("deactivation reached the example in {took:?}");
    server
        .get(&content, Some(&sibling_token), None)
        .await
        .assert_ok("another credential of the workspace");

    // Suspending the account refuses the tokens of every credential of the account.
    issuer.set_account_status(&acc, "suspended").await;
    let (reply, took) = server
        .wait_for_status(&workspaces, &account_token, 401, REVOCATION_DEADLINE)
        .await;
    reply.assert_invalid_token("an account token of a suspended account");
    eprintln!("suspension reached the example in {took:?}");
    server
        .get(&content, Some(&sibling_token), None)
        .await
        .assert_invalid_token("a workspace token of a suspended account");
    server
        .get(&other_workspaces, Some(&other_token), None)
        .await
        .assert_ok("another account");

    // Reactivation: the feed drops the account entry and the same tokens work again, except the
    // deactivated credential's (deactivation is permanent).
    issuer.set_account_status(&acc, "active").await;
    let (_, took) = server
        .wait_for_status(&workspaces, &account_token, 200, REVOCATION_DEADLINE)
        .await;
    eprintln!("reactivation reached the example in {took:?}");
    server
        .get(&content, Some(&sibling_token), None)
        .await
        .assert_ok("a workspace token after reactivation");
    server
        .get(&content, Some(&doomed_token), None)
        .await
        .assert_invalid_token("a deactivated credential's token after reactivation");
}

#[tokio::test]
async fn the_example_follows_a_signing_key_rotation() {
    let issuer = Issuer::start().await;
    let acc = issuer.create_account("Acme").await;
    let cred = issuer.account_credential(&acc).await;
    let old_token = issuer.token(&cred).await;
    let path = format!("/accounts/{acc}/workspaces");

    let server = ResourceServer::start(&issuer, &[]).await;
    // Give the example's refresh task the moment it needs for its start-up JWKS fetch, so the
    // first request finds the key there rather than spending the unknown-kid refetch budget.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server
        .get(&path, Some(&old_token), None)
        .await
        .assert_ok("a token of the original key");

    issuer.rotate_signing_key();
    let new_token = issuer.token(&cred).await;
    assert_ne!(
        kid(&new_token),
        kid(&old_token),
        "the rotation changed the kid"
    );

    // The example has never seen this kid: it refetches the JWKS and accepts the token. (At most
    // one such refetch per 30 s; should the first request above have spent it, this waits.)
    let (_, took) = server
        .wait_for_status(&path, &new_token, 200, Duration::from_secs(35))
        .await;
    eprintln!("the new key was accepted after {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "a token of the new key was refused for {took:?}: the unknown-kid refetch did not happen \
         at once; the example's log:\n{}",
        server.log()
    );
    server
        .get(&path, Some(&old_token), None)
        .await
        .assert_ok("a token of the old key after the rotation");
    server
        .get(&path, Some(&new_token), None)
        .await
        .assert_ok("the new token, again");
}

#[tokio::test]
async fn guard_validates_and_revokes_real_tokens() {
    let issuer = Issuer::start().await;
    let acc = issuer.create_account("Acme").await;
    let ws = issuer.create_workspace(&acc, "Acme support").await;
    let cred = issuer.workspace_credential(&ws, "content_manager").await;
    let token = issuer.token(&cred).await;
    let other = issuer.token(&issuer.account_credential(&acc).await).await;
    let issued = unix_now();

    let guard = Guard::new(GuardConfig::new(&issuer.url, AUDIENCE)).expect("a guard");
    guard
        .poll_revocations_now()
        .await
        .expect("the feed is reachable");
    let claims = guard
        .validate(&token)
        .await
        .expect("a real token validates");
    assert_eq!(claims.iss, issuer.url);
    assert_eq!(claims.aud, vec![AUDIENCE.to_owned()]);
    assert_eq!(claims.client_id, cred.client_id);
    assert_eq!(claims.sub, cred.client_id);
    assert_eq!(claims.key_type, KeyType::Workspace);
    assert_eq!(claims.account_id, acc);
    assert_eq!(claims.workspace_id.as_deref(), Some(ws.as_str()));
    assert_eq!(claims.roles, vec!["content_manager".to_owned()]);
    assert!(claims.iat <= issued && claims.exp > issued);
    let claims = guard.validate(&other).await.expect("an account token");
    assert_eq!(claims.key_type, KeyType::Account);
    assert_eq!(claims.workspace_id, None);

    wait_past_second(issued).await;
    issuer.deactivate(&cred).await;
    // Offline: nothing changes until the guard reads the feed again.
    guard
        .validate(&token)
        .await
        .expect("valid until the next poll");
    guard
        .poll_revocations_now()
        .await
        .expect("the feed is reachable");
    let err = guard.validate(&token).await.unwrap_err();
    assert_eq!(err, GuardError::Revoked(RevocationReason::Credential));
    assert_eq!(err.status(), 401);
    assert!(err.is_invalid_token());
    guard
        .validate(&other)
        .await
        .expect("another credential's token still validates");
}

#[tokio::test]
async fn guard_validates_real_es256_and_eddsa_tokens() {
    for (configured, alg) in [
        (KeyAlgorithm::Es256, Algorithm::ES256),
        (KeyAlgorithm::EdDsa, Algorithm::EdDSA),
    ] {
        let issuer = Issuer::start_with(|s| s.keys.algorithm = configured).await;
        let acc = issuer.create_account("Acme").await;
        let cred = issuer.account_credential(&acc).await;
        let token = issuer.token(&cred).await;
        let header = jsonwebtoken::decode_header(&token).expect("a JWT header");
        assert_eq!(header.alg, alg);

        let mut config = GuardConfig::new(&issuer.url, AUDIENCE);
        config.algorithms = vec![Algorithm::RS256, alg];
        let guard = Guard::new(config).expect("a guard");
        guard
            .poll_revocations_now()
            .await
            .expect("the feed is reachable");
        let claims = guard
            .validate(&token)
            .await
            .expect("a real token validates");
        assert_eq!(claims.client_id, cred.client_id);
        assert_eq!(claims.key_type, KeyType::Account);

        // A guard left at the default (RS256) refuses it: the switch needs the resource
        // servers configured first.
        let default = Guard::new(GuardConfig::new(&issuer.url, AUDIENCE)).expect("a guard");
        default
            .poll_revocations_now()
            .await
            .expect("the feed is reachable");
        assert_eq!(
            default.validate(&token).await.unwrap_err(),
            GuardError::AlgorithmNotAllowed
        );
    }
}

#[tokio::test]
async fn the_example_accepts_es256_tokens_when_configured_for_them() {
    let issuer = Issuer::start_with(|s| s.keys.algorithm = KeyAlgorithm::Es256).await;
    let acc = issuer.create_account("Acme").await;
    let token = issuer.token(&issuer.account_credential(&acc).await).await;
    let path = format!("/accounts/{acc}/workspaces");

    let switching = ResourceServer::start(&issuer, &[("ALGORITHMS", "RS256,ES256")]).await;
    switching
        .get(&path, Some(&token), None)
        .await
        .assert_ok("an ES256 token, ES256 configured");
    let default = ResourceServer::start(&issuer, &[]).await;
    default
        .get(&path, Some(&token), None)
        .await
        .assert_invalid_token("an ES256 token, only RS256 configured");
}

#[tokio::test]
async fn the_example_fails_closed_until_its_first_poll() {
    let issuer = MockIssuer::start(); // its feed answers 503 for now
    let owners = "ws_1=acc_1";
    let env = [("WORKSPACE_OWNERS", owners), ("MAX_FEED_AGE_SECONDS", "2")];
    let server = ResourceServer::start_at(&issuer.url, issuer.dir.path(), &env).await;
    let open = ResourceServer::start_at(
        &issuer.url,
        issuer.dir.path(),
        &[("WORKSPACE_OWNERS", owners), ("FEED_FAIL_OPEN", "1")],
    )
    .await;
    let content = "/workspaces/ws_1/content";
    let workspace = issuer.token("acc_1", Some("ws_1"), "content_manager");
    let owner = issuer.token("acc_1", None, "account_admin");
    let stranger = issuer.token("acc_2", None, "account_admin");

    // No feed yet: not ready, and a valid token gets 503 with Retry-After and no challenge.
    let reply = server.get("/readyz", None, None).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
    let reply = server.get(content, Some(&workspace), None).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
    assert_eq!(reply.challenge, None, "{reply:?}");
    // No token, or a bad one: 401 as ever.
    let reply = server.get(content, None, None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        reply.challenge.as_deref(),
        Some(r#"Bearer realm="tessera""#)
    );
    server
        .get(content, Some("garbage"), None)
        .await
        .assert_invalid_token("a garbage token before the first poll");
    // FEED_FAIL_OPEN=1: accepted without a feed (and still not "ready").
    open.get(content, Some(&workspace), None)
        .await
        .assert_ok("fail open before the first poll");
    assert_eq!(open.get("/readyz", None, None).await.status, 503);

    // The feed answers: ready within a retry or two, and tokens are accepted.
    issuer.set_feed(200, json!({"generated_at": unix_now(), "complete": true}));
    wait_for_plain_status(&server, "/readyz", 200, Duration::from_secs(5)).await;
    server
        .get(content, Some(&workspace), None)
        .await
        .assert_ok("a workspace token of the workspace");
    server
        .get(content, Some(&owner), None)
        .await
        .assert_ok("an account token of the known owner");
    server
        .get(content, Some(&stranger), None)
        .await
        .assert_forbidden("an account token of another account");
    server
        .get("/workspaces/ws_unknown/content", Some(&owner), None)
        .await
        .assert_forbidden("an account token on a workspace of unknown owner");

    // The feed goes away: after MAX_FEED_AGE_SECONDS (2 s) the example fails closed again.
    issuer.set_feed(503, json!({}));
    let reply = wait_for_plain_status(&server, "/readyz", 503, Duration::from_secs(6)).await;
    assert_eq!(reply.retry_after.as_deref(), Some("1"), "{reply:?}");
    let reply = server.get(content, Some(&workspace), None).await;
    assert_eq!(reply.status, 503, "{reply:?}");
}

#[tokio::test]
async fn the_guard_follows_the_issuers_deltas_within_the_same_second() {
    let issuer = Issuer::start().await;
    let acc = issuer.create_account("Acme").await;
    let cred = issuer.account_credential(&acc).await;
    let doomed = issuer
        .workspace_credential(&issuer.create_workspace(&acc, "W").await, "chat_user")
        .await;
    let guard = Guard::new(GuardConfig::new(&issuer.url, AUDIENCE)).expect("a guard");
    guard
        .poll_revocations_now()
        .await
        .expect("the complete feed");
    assert!(guard.feed_is_fresh());

    // Revoked in the second it was issued (no waiting): the boundary rule covers it.
    let token = issuer.token(&doomed).await;
    issuer.deactivate(&doomed).await;
    guard.poll_revocations_now().await.expect("a delta");
    assert_eq!(
        guard.validate(&token).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Credential)
    );

    // A suspension arrives as a delta, its reactivation as a removal.
    let account_token = issuer.token(&cred).await;
    issuer.set_account_status(&acc, "suspended").await;
    guard.poll_revocations_now().await.expect("a delta");
    assert_eq!(
        guard.validate(&account_token).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Account)
    );
    let entries = guard.revocation_entries();
    issuer.set_account_status(&acc, "active").await;
    guard.poll_revocations_now().await.expect("a delta");
    assert_eq!(guard.revocation_entries(), entries - 1);
    guard
        .validate(&account_token)
        .await
        .expect("valid again once the account is reactivated");
    // Nothing new: the poll is answered 304 and the list stays as it is, and fresh.
    guard.poll_revocations_now().await.expect("a 304");
    assert_eq!(guard.revocation_entries(), entries - 1);
    assert!(guard.feed_is_fresh());
}
