//! The revocation feed's freshness (fail closed), conditional and incremental polls, deltas and
//! ageing.

use std::time::Duration;

use serde_json::json;

use super::support::*;
use crate::guard::unix_now;
use crate::revocation::RevocationIndex;
use crate::{ConfigError, FetchError, GuardConfig, GuardError, RevocationFeed, RevocationReason};

const WK: &str = "wk_0123456789abcdefghijkl";
const FEED: &str = "/oauth/revocations";

/// A guard polling `issuer`'s feed, with `max_feed_age` and a 1 s poll interval (the
/// `Retry-After` of its 503s).
fn polling_guard(issuer: &FakeIssuer, max_feed_age: Duration) -> (crate::Guard, GuardConfig) {
    let mut config = config();
    config.revocation_feed_url = Some(format!("{}{FEED}", issuer.url()));
    config.feed_poll_interval = Duration::from_secs(1);
    config.max_feed_age = max_feed_age;
    (unfed_guard_with(config.clone()), config)
}

fn unavailable() -> GuardError {
    GuardError::FeedUnavailable {
        retry_after: Duration::from_secs(1),
    }
}

fn feed_reply(body: serde_json::Value, etag: Option<&str>) -> Reply {
    Reply::Full {
        status: 200,
        headers: etag
            .map(|e| vec![("ETag".to_owned(), e.to_owned())])
            .unwrap_or_default(),
        body: body.to_string(),
    }
}

#[tokio::test]
async fn before_the_first_poll_a_valid_token_is_refused_as_unavailable() {
    let guard = unfed_guard_with(config());
    assert!(!guard.feed_is_fresh());
    assert_eq!(guard.feed_age(), None);
    let token = TokenBuilder::workspace(NOW).sign();
    let err = guard.validate_at(&token, NOW).await.unwrap_err();
    assert_eq!(
        err,
        GuardError::FeedUnavailable {
            retry_after: Duration::from_secs(30)
        }
    );
    assert_eq!(err.status(), 503);
    assert_eq!(err.www_authenticate("tessera"), None);
    assert!(!err.is_invalid_token());

    // Token problems are still token problems (401), whatever the feed.
    let forged = TokenBuilder::workspace(NOW).signed_by_key_b().sign();
    assert_eq!(
        guard.validate_at(&forged, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
    assert_eq!(
        guard
            .validate_at(&token, NOW + LIFETIME + 60)
            .await
            .unwrap_err(),
        GuardError::Expired
    );

    // A delta alone does not make an unknown list known.
    guard.apply_revocations(RevocationFeed::delta().with_account("acc_other", NOW));
    assert!(!guard.feed_is_fresh());
    assert!(guard.validate_at(&token, NOW).await.is_err());
    // A complete feed does.
    guard.apply_revocations(RevocationFeed::default());
    assert!(guard.feed_is_fresh());
    assert!(guard.validate_at(&token, NOW).await.is_ok());
}

#[tokio::test]
async fn fail_open_accepts_without_a_feed() {
    let mut config = config();
    config.fail_open = true;
    let guard = unfed_guard_with(config);
    let token = TokenBuilder::workspace(NOW).sign();
    assert!(guard.validate_at(&token, NOW).await.is_ok());
    assert!(!guard.feed_is_fresh(), "fail_open does not pretend");
    // Revocations that are known still apply.
    guard.apply_revocations(RevocationFeed::default().with_workspace("ws_1", NOW + 1));
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );
}

#[tokio::test]
async fn the_list_goes_stale_after_max_feed_age_and_recovers_with_the_issuer() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(2));
    let now = unix_now();
    let token = TokenBuilder::workspace(now - 10).sign();

    issuer.set_json(FEED, r#"{"generated_at": 1}"#);
    guard.poll_revocations_now().await.unwrap();
    assert!(guard.validate_at(&token, now).await.is_ok());
    assert!(guard.validate_at(&token, now + 1).await.is_ok());

    // The issuer goes down: the list ages; at 2 s it is out of date.
    issuer.set(FEED, Reply::Hangup);
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::Http(_))
    ));
    assert_eq!(
        guard.validate_at(&token, now + 4).await.unwrap_err(),
        unavailable()
    );
    issuer.set(FEED, Reply::Json(503, "{}".into()));
    assert!(guard.poll_revocations_now().await.is_err());
    assert_eq!(
        guard.validate_at(&token, now + 4).await.unwrap_err(),
        unavailable()
    );

    // It answers again: fresh from now on.
    issuer.set_json(FEED, r#"{"generated_at": 2}"#);
    guard.poll_revocations_now().await.unwrap();
    assert!(guard.validate(&token).await.is_ok());
    assert!(guard.feed_is_fresh());
    assert_eq!(guard.revocations_generated_at(), Some(2));
}

#[tokio::test]
async fn a_stale_list_that_shows_the_token_revoked_still_says_revoked() {
    let guard = guard();
    let now = unix_now();
    let revoked = TokenBuilder::workspace(now - 10).sign();
    let other = TokenBuilder::account(now - 10)
        .claim("account_id", json!("acc_2"))
        .sign();
    guard.apply_revocations(RevocationFeed::default().with_workspace("ws_1", now - 9));
    let later = now + 15 * 60 + 1; // past the default max_feed_age
    assert_eq!(
        guard.validate_at(&revoked, later).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );
    assert_eq!(
        guard.validate_at(&other, later).await.unwrap_err(),
        GuardError::FeedUnavailable {
            retry_after: Duration::from_secs(30)
        }
    );
    assert!(guard.validate_at(&other, now).await.is_ok());
}

#[tokio::test]
async fn fail_open_keeps_accepting_on_a_stale_list() {
    let issuer = FakeIssuer::start();
    let mut config = config();
    config.revocation_feed_url = Some(format!("{}{FEED}", issuer.url()));
    config.feed_poll_interval = Duration::from_secs(1);
    config.max_feed_age = Duration::from_secs(2);
    config.fail_open = true;
    let guard = unfed_guard_with(config);
    let now = unix_now();
    let token = TokenBuilder::workspace(now - 10).sign();
    issuer.set_json(FEED, r#"{"generated_at": 1}"#);
    guard.poll_revocations_now().await.unwrap();
    issuer.set(FEED, Reply::Hangup);
    assert!(guard.poll_revocations_now().await.is_err());
    assert!(guard.validate_at(&token, now + 4).await.is_ok());
    // And an oversized or invalid feed does not stop it either.
    issuer.set_json(FEED, "not json");
    assert!(guard.poll_revocations_now().await.is_err());
    assert!(!guard.feed_is_fresh());
    assert!(guard.validate(&token).await.is_ok());
}

#[tokio::test]
async fn a_feed_over_the_size_limit_fails_closed_at_once_and_recovers() {
    let issuer = FakeIssuer::start();
    let (_, mut config) = polling_guard(&issuer, Duration::from_secs(600));
    config.max_feed_bytes = 300;
    let guard = unfed_guard_with(config);
    let token = TokenBuilder::workspace(unix_now() - 10).sign();

    issuer.set(
        FEED,
        feed_reply(
            json!({"generated_at": 1, "complete": true, "next_cursor": "c1"}),
            Some("\"e1\""),
        ),
    );
    guard.poll_revocations_now().await.unwrap();
    assert!(guard.validate(&token).await.is_ok());

    // Over 300 bytes: refused, and the list is unusable right away (not after max_feed_age).
    let padding = "x".repeat(400);
    let big = json!({"generated_at": 2, "complete": false, "next_cursor": "c2",
                     "tokens": [{"jti": padding, "exp": 1}]});
    issuer.set(FEED, feed_reply(big, Some("\"e2\"")));
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::TooLarge(300))
    ));
    assert!(!guard.feed_is_fresh());
    assert!(guard.feed_age().is_some());
    let err = guard.validate(&token).await.unwrap_err();
    assert_eq!(err, unavailable());

    // The next poll asks for the complete list (no cursor, no ETag), and its answer recovers.
    issuer.set_json(FEED, r#"{"generated_at": 3}"#);
    guard.poll_revocations_now().await.unwrap();
    let request = issuer.last_request(FEED).unwrap();
    assert_eq!(request.target, FEED);
    assert_eq!(request.header("if-none-match"), None);
    assert!(guard.feed_is_fresh());
    assert!(guard.validate(&token).await.is_ok());
}

#[tokio::test]
async fn an_invalid_feed_fails_closed_at_once_and_recovers() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(600));
    let token = TokenBuilder::workspace(unix_now() - 10).sign();
    issuer.set_json(FEED, r#"{"generated_at": 1}"#);
    guard.poll_revocations_now().await.unwrap();
    assert!(guard.validate(&token).await.is_ok());

    for bad in [
        "not json",
        r#"{"generated_at": "yesterday"}"#,
        r#"{"complete": true, "removed": [{"account_id": "a", "jti": "j"}]}"#,
        r#"{"complete": true, "removed": [{}]}"#,
    ] {
        issuer.set_json(FEED, bad);
        assert!(
            matches!(
                guard.poll_revocations_now().await,
                Err(FetchError::InvalidBody(_))
            ),
            "{bad}"
        );
        assert_eq!(
            guard.validate(&token).await.unwrap_err(),
            unavailable(),
            "{bad}"
        );
        issuer.set_json(FEED, r#"{"generated_at": 2}"#);
        guard.poll_revocations_now().await.unwrap();
        assert!(guard.validate(&token).await.is_ok(), "{bad}");
    }
}

#[tokio::test]
async fn a_delta_to_a_request_for_the_complete_list_is_refused() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(600));
    issuer.set_json(FEED, r#"{"generated_at": 1, "complete": false}"#);
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::InvalidBody(_))
    ));
    assert!(!guard.feed_is_fresh());
}

#[tokio::test]
async fn polls_are_conditional_and_a_304_refreshes_the_list() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(600));
    let now = unix_now();
    let token = TokenBuilder::workspace(now - 10).sign();
    // A cursor that needs percent-encoding.
    let cursor = "c 1/+&=é";
    issuer.set(
        FEED,
        feed_reply(
            json!({"generated_at": 1, "complete": true, "next_cursor": cursor,
                   "workspaces": [{"workspace_id": "ws_1", "revoked_before": now - 9}]}),
            Some("\"v1\""),
        ),
    );
    guard.poll_revocations_now().await.unwrap();
    let first = issuer.last_request(FEED).unwrap();
    assert_eq!(first.target, FEED, "the first poll asks for everything");
    assert_eq!(first.header("if-none-match"), None);
    assert_eq!(
        guard.validate(&token).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let age_before = guard.feed_age().unwrap();
    assert!(age_before >= Duration::from_millis(300));
    issuer.set(
        FEED,
        Reply::Full {
            status: 304,
            headers: vec![("ETag".into(), "\"v1\"".into())],
            body: String::new(),
        },
    );
    guard.poll_revocations_now().await.unwrap();
    assert_eq!(issuer.hits(FEED), 2);
    let second = issuer.last_request(FEED).unwrap();
    assert_eq!(second.header("if-none-match"), Some("\"v1\""));
    assert_eq!(second.query("since"), Some("c%201%2F%2B%26%3D%C3%A9"));
    assert!(
        guard.feed_age().unwrap() < age_before,
        "a 304 refreshes the list's age"
    );
    // Nothing else changed.
    assert_eq!(guard.revocations_generated_at(), Some(1));
    assert_eq!(
        guard.validate(&token).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );
}

#[tokio::test]
async fn a_304_without_an_etag_sent_is_an_error() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(600));
    issuer.set(
        FEED,
        Reply::Full {
            status: 304,
            headers: Vec::new(),
            body: String::new(),
        },
    );
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::Status(304))
    ));
    assert!(!guard.feed_is_fresh());
}

#[tokio::test]
async fn a_304_does_not_make_a_list_of_deltas_alone_fresh() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(600));
    // Deltas applied by hand to a guard that never had a complete list.
    guard.apply_revocations(RevocationFeed::delta().with_cursor("c0"));
    issuer.set(
        FEED,
        feed_reply(
            json!({"generated_at": 1, "complete": false, "next_cursor": "c1"}),
            Some("\"1\""),
        ),
    );
    guard.poll_revocations_now().await.unwrap();
    assert_eq!(
        issuer.last_request(FEED).unwrap().query("since"),
        Some("c0")
    );
    assert!(!guard.feed_is_fresh());
    issuer.set(
        FEED,
        Reply::Full {
            status: 304,
            headers: Vec::new(),
            body: String::new(),
        },
    );
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::Status(304))
    ));
    assert!(!guard.feed_is_fresh());
    // The next poll asks for the complete list, which makes it fresh.
    issuer.set_json(FEED, r#"{"generated_at": 2, "complete": true}"#);
    guard.poll_revocations_now().await.unwrap();
    let request = issuer.last_request(FEED).unwrap();
    assert_eq!(
        (request.target.as_str(), request.header("if-none-match")),
        (FEED, None)
    );
    assert!(guard.feed_is_fresh());
}

#[tokio::test]
async fn deltas_add_remove_and_a_complete_feed_replaces() {
    let issuer = FakeIssuer::start();
    let (guard, _) = polling_guard(&issuer, Duration::from_secs(600));
    let now = unix_now();
    let iat = now - 10;
    let token = TokenBuilder::workspace(iat).sign();
    let poll = |body: serde_json::Value, etag: &str| {
        issuer.set(FEED, feed_reply(body, Some(etag)));
        guard.poll_revocations_now()
    };

    poll(
        json!({"generated_at": 1, "complete": true, "next_cursor": "c1"}),
        "\"1\"",
    )
    .await
    .unwrap();
    assert!(guard.validate(&token).await.is_ok());

    // A delta adds the workspace: the token is refused.
    poll(
        json!({"generated_at": 2, "complete": false, "next_cursor": "c2",
               "workspaces": [{"workspace_id": "ws_1", "revoked_before": iat + 1}]}),
        "\"2\"",
    )
    .await
    .unwrap();
    let request = issuer.last_request(FEED).unwrap();
    assert_eq!(request.query("since"), Some("c1"));
    assert_eq!(request.header("if-none-match"), Some("\"1\""));
    assert_eq!(
        guard.validate(&token).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );

    // A delta removes it (reactivated): accepted again.
    poll(
        json!({"generated_at": 3, "complete": false, "next_cursor": "c3",
               "removed": [{"workspace_id": "ws_1"}]}),
        "\"3\"",
    )
    .await
    .unwrap();
    assert_eq!(
        issuer.last_request(FEED).unwrap().query("since"),
        Some("c2")
    );
    assert!(guard.validate(&token).await.is_ok());
    assert_eq!(guard.revocation_entries(), 0);

    // A listed entry replaces the local value: a later cut-off revokes, an earlier one
    // (the current value) no longer does.
    poll(
        json!({"generated_at": 4, "complete": false, "next_cursor": "c4",
               "credentials": [{"client_id": WK, "revoked_before": iat + 1}],
               "accounts": [{"account_id": "acc_other", "revoked_before": iat + 1}]}),
        "\"4\"",
    )
    .await
    .unwrap();
    assert_eq!(
        guard.validate(&token).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Credential)
    );
    poll(
        json!({"generated_at": 5, "complete": false, "next_cursor": "c5",
               "credentials": [{"client_id": WK, "revoked_before": iat}]}),
        "\"5\"",
    )
    .await
    .unwrap();
    assert!(guard.validate(&token).await.is_ok());
    assert_eq!(guard.revocation_entries(), 2);

    // A complete answer replaces everything (the account entry is gone).
    poll(
        json!({"generated_at": 6, "complete": true, "next_cursor": "c6",
               "tokens": [{"jti": "some-jti", "exp": now + 100}]}),
        "\"6\"",
    )
    .await
    .unwrap();
    assert_eq!(
        issuer.last_request(FEED).unwrap().query("since"),
        Some("c5")
    );
    assert_eq!(guard.revocation_entries(), 1);
    assert!(guard.validate(&token).await.is_ok());

    // An older issuer's answer (no `complete`, no cursor) is a complete list, and the next
    // poll asks for everything again.
    poll(
        json!({"generated_at": 7, "credentials": [{"client_id": WK, "revoked_before": iat + 1}]}),
        "\"7\"",
    )
    .await
    .unwrap();
    assert_eq!(guard.revocation_entries(), 1);
    assert!(guard.validate(&token).await.is_err());
    issuer.set_json(FEED, r#"{"generated_at": 8}"#);
    guard.poll_revocations_now().await.unwrap();
    assert_eq!(issuer.last_request(FEED).unwrap().query("since"), None);
    assert!(guard.validate(&token).await.is_ok());
}

#[tokio::test]
async fn removed_jti_and_credential_entries_un_revoke() {
    let guard = guard();
    let builder = TokenBuilder::workspace(NOW);
    let jti = builder.claims["jti"].as_str().unwrap().to_owned();
    let token = builder.sign();
    guard.apply_revocations(RevocationFeed::delta().with_token(jti.clone(), NOW + LIFETIME));
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Token)
    );
    guard.apply_revocations(RevocationFeed::delta().with_removed_token(jti));
    assert!(guard.validate_at(&token, NOW).await.is_ok());
    guard.apply_revocations(RevocationFeed::delta().with_credential(WK, NOW + 1));
    assert!(guard.validate_at(&token, NOW).await.is_err());
    guard.apply_revocations(RevocationFeed::delta().with_removed_credential(WK));
    assert!(guard.validate_at(&token, NOW).await.is_ok());
}

#[test]
fn entries_age_out_exactly_at_revoked_before_plus_lifetime_plus_leeway() {
    const T: i64 = NOW;
    let feed = RevocationFeed::default()
        .with_ageing(3600, 60)
        .with_credential("c", T)
        .with_account("a", T)
        .with_workspace("w", T)
        .with_token("j", T + 100);
    let mut index = RevocationIndex::default();
    index.apply(feed.clone(), T - 100, 60);
    assert_eq!(index.len(), 4);
    index.sweep(T + 159, 60);
    assert_eq!(index.len(), 4);
    index.sweep(T + 160, 60); // exp + leeway: the jti entry goes
    assert_eq!(index.len(), 3);
    index.sweep(T + 3659, 60);
    assert_eq!(index.len(), 3);
    index.sweep(T + 3660, 60); // revoked_before + lifetime + leeway: the rest
    assert_eq!(index.len(), 0);

    // Applying drops what has aged out already.
    let mut index = RevocationIndex::default();
    index.apply(feed.clone(), T + 3660, 60);
    assert_eq!(index.len(), 0);

    // The guard's own leeway, if larger, keeps entries longer.
    let mut index = RevocationIndex::default();
    index.apply(feed.clone(), T - 100, 120);
    index.sweep(T + 219, 120);
    assert_eq!(index.len(), 4);
    index.sweep(T + 220, 120);
    assert_eq!(index.len(), 3);

    // A delta that does not restate the ageing keeps the last one received.
    let mut index = RevocationIndex::default();
    index.apply(feed, T - 100, 60);
    index.apply(
        RevocationFeed::delta().with_credential("c2", T),
        T - 100,
        60,
    );
    index.sweep(T + 3660, 60);
    assert_eq!(index.len(), 0);
}

#[test]
fn without_lifetime_and_leeway_entries_stay_until_the_next_complete_feed() {
    let mut index = RevocationIndex::default();
    let feed = RevocationFeed::default()
        .with_credential("c", NOW)
        .with_token("j", NOW);
    index.apply(feed, NOW, 60);
    index.sweep(i64::MAX / 2, 60);
    assert_eq!(index.len(), 2);
    index.apply(RevocationFeed::default(), NOW, 60);
    assert_eq!(index.len(), 0);
}

#[tokio::test]
async fn the_guard_drops_aged_entries_when_applying() {
    let guard = guard();
    let now = unix_now();
    guard.apply_revocations(
        RevocationFeed::default()
            .with_ageing(3600, 60)
            .with_credential("gone", now - 3660)
            .with_credential("kept", now - 3600)
            .with_token("gone", now - 60)
            .with_token("kept", now + 5),
    );
    assert_eq!(guard.revocation_entries(), 2);
}

#[tokio::test]
async fn a_token_is_expired_at_the_instant_its_jti_entry_may_age_out() {
    let guard = guard(); // leeway 60
    let builder = TokenBuilder::workspace(NOW);
    let jti = builder.claims["jti"].as_str().unwrap().to_owned();
    let exp = NOW + LIFETIME;
    let token = builder.sign();
    // (No ageing in this feed: with the wall clock long past NOW, it would drop the entry.)
    guard.apply_revocations(RevocationFeed::default().with_token(jti, exp));
    assert_eq!(
        guard.validate_at(&token, exp + 59).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Token)
    );
    // From exp + leeway the entry may be gone: the token must be refused as expired.
    guard.apply_revocations(RevocationFeed::default());
    assert_eq!(
        guard.validate_at(&token, exp + 60).await.unwrap_err(),
        GuardError::Expired
    );
    // Also for a token already in the cache.
    let fresh = TokenBuilder::workspace(NOW).sign();
    assert!(guard.validate_at(&fresh, NOW).await.is_ok());
    assert!(guard.validate_at(&fresh, exp + 59).await.is_ok());
    assert_eq!(
        guard.validate_at(&fresh, exp + 60).await.unwrap_err(),
        GuardError::Expired
    );
}

#[tokio::test]
async fn the_background_task_retries_a_failed_poll_sooner() {
    let issuer = FakeIssuer::start();
    let mut config = config();
    config.revocation_feed_url = Some(format!("{}{FEED}", issuer.url()));
    config.feed_poll_interval = Duration::from_secs(30);
    let guard = unfed_guard_with(config);
    issuer.set(FEED, Reply::Json(503, "{}".into()));
    let task = guard.spawn_refresh_task();
    let started = std::time::Instant::now();
    while issuer.hits(FEED) == 0 && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!guard.feed_is_fresh());
    issuer.set_json(FEED, r#"{"generated_at": 1}"#);
    // Retried after about 1 s, not after the 30 s interval.
    while !guard.feed_is_fresh() && started.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(guard.feed_is_fresh(), "no retry within 4 s");
    task.stop();
}

#[test]
fn max_feed_age_must_be_longer_than_the_poll_interval() {
    let mut config = config();
    config.max_feed_age = config.feed_poll_interval;
    assert!(matches!(
        crate::Guard::with_key_store(config.clone(), crate::StaticKeyStore::default()),
        Err(ConfigError::Invalid {
            field: "max_feed_age",
            ..
        })
    ));
    config.max_feed_age = Duration::from_secs(31);
    config.max_feed_bytes = 0;
    assert!(matches!(
        crate::Guard::with_key_store(config, crate::StaticKeyStore::default()),
        Err(ConfigError::Invalid {
            field: "max_feed_bytes",
            ..
        })
    ));
}
