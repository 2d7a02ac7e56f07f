//! Revocation feed and token cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::support::*;
use crate::{
    BoxFuture, FetchError, Guard, GuardError, KeyStore, PublicKey, Removal, RevocationFeed,
    RevocationReason, StaticKeyStore,
};

const WK: &str = "wk_0123456789abcdefghijkl";
const AK: &str = "ak_0123456789abcdefghijkl";

#[tokio::test]
async fn a_revoked_credential_rejects_tokens_issued_before_the_cut_off() {
    let guard = guard();
    let token = TokenBuilder::workspace(NOW).sign();
    guard.apply_revocations(RevocationFeed::default().with_credential(WK, NOW + 1));
    assert_eq!(
        guard.validate_at(&token, NOW + 5).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Credential)
    );
}

#[tokio::test]
async fn revoked_before_is_exclusive_the_boundary_rule() {
    // The issuer sets revoked_before to the second after the event: a token issued in the
    // event's second (before it) is covered, a token of the next second is not.
    let guard = guard();
    let event = NOW;
    let same_second = TokenBuilder::workspace(event).sign();
    let next_second = TokenBuilder::workspace(event + 1).sign();
    guard.apply_revocations(RevocationFeed::default().with_credential(WK, event + 1));
    assert_eq!(
        guard
            .validate_at(&same_second, event + 1)
            .await
            .unwrap_err(),
        GuardError::Revoked(RevocationReason::Credential)
    );
    assert!(guard.validate_at(&next_second, event + 1).await.is_ok());
    // `revoked_before` equal to `iat` does not cover the token; earlier does not either.
    guard.apply_revocations(RevocationFeed::default().with_credential(WK, NOW));
    assert!(guard.validate_at(&same_second, NOW).await.is_ok());
    guard.apply_revocations(RevocationFeed::default().with_credential(WK, NOW - 100));
    assert!(guard.validate_at(&same_second, NOW).await.is_ok());
}

#[tokio::test]
async fn an_entry_for_another_credential_does_not_matter() {
    let guard = guard();
    let token = TokenBuilder::workspace(NOW).sign();
    guard.apply_revocations(
        RevocationFeed::default()
            .with_credential("wk_other", NOW + 10)
            .with_account("acc_other", NOW + 10)
            .with_workspace("ws_other", NOW + 10)
            .with_token("jti-other", NOW + 10),
    );
    assert!(guard.validate_at(&token, NOW).await.is_ok());
}

#[tokio::test]
async fn a_suspended_account_rejects_account_and_workspace_tokens() {
    let guard = guard();
    let account = TokenBuilder::account(NOW).sign();
    let workspace = TokenBuilder::workspace(NOW).sign();
    guard.apply_revocations(RevocationFeed::default().with_account("acc_1", NOW + 1));
    for token in [account, workspace] {
        assert_eq!(
            guard.validate_at(&token, NOW).await.unwrap_err(),
            GuardError::Revoked(RevocationReason::Account)
        );
    }
    // A token issued after the suspension's cut-off is not affected by the entry.
    let later = TokenBuilder::account(NOW + 2).sign();
    assert!(guard.validate_at(&later, NOW + 2).await.is_ok());
}

#[tokio::test]
async fn a_suspended_workspace_rejects_its_tokens_only() {
    let guard = guard();
    let workspace = TokenBuilder::workspace(NOW).sign();
    let account = TokenBuilder::account(NOW).sign();
    guard.apply_revocations(RevocationFeed::default().with_workspace("ws_1", NOW + 1));
    assert_eq!(
        guard.validate_at(&workspace, NOW).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );
    assert!(guard.validate_at(&account, NOW).await.is_ok());
}

#[tokio::test]
async fn a_listed_jti_is_rejected() {
    let guard = guard();
    let builder = TokenBuilder::account(NOW);
    let jti = builder.claims["jti"].as_str().unwrap().to_owned();
    let token = builder.sign();
    guard.apply_revocations(RevocationFeed::default().with_token(jti, NOW + LIFETIME));
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Token)
    );
}

#[tokio::test]
async fn each_feed_replaces_the_previous_one() {
    let guard = guard();
    let token = TokenBuilder::workspace(NOW).sign();
    guard.apply_revocations(RevocationFeed::default().with_workspace("ws_1", NOW + 1));
    assert!(guard.validate_at(&token, NOW).await.is_err());
    // Workspace reactivated: the entry is gone from the next feed.
    guard.apply_revocations(RevocationFeed {
        generated_at: NOW + 60,
        ..Default::default()
    });
    assert!(guard.validate_at(&token, NOW).await.is_ok());
    assert_eq!(guard.revocations_generated_at(), Some(NOW + 60));
}

#[tokio::test]
async fn the_old_feed_json_parses_as_a_complete_feed() {
    let feed: RevocationFeed = serde_json::from_value(json!({
        "generated_at": 1763800000,
        "credentials": [{"client_id": "wk_x", "revoked_before": 1763799000}],
        "accounts":    [{"account_id": "a", "revoked_before": 1763799500}],
        "workspaces":  [{"workspace_id": "w", "revoked_before": 1763799600}],
        "tokens":      [{"jti": "j", "exp": 1763880000}],
        "something_new": true
    }))
    .unwrap();
    assert_eq!(feed.credentials[0].revoked_before, 1763799000);
    assert_eq!(feed.tokens[0].jti, "j");
    assert!(feed.complete);
    assert_eq!(feed.next_cursor, None);
    assert_eq!((feed.token_lifetime, feed.leeway), (None, None));
    let empty: RevocationFeed = serde_json::from_str(r#"{"generated_at": 1}"#).unwrap();
    assert!(empty.credentials.is_empty() && empty.tokens.is_empty());
}

#[tokio::test]
async fn the_new_feed_json_parses() {
    let feed: RevocationFeed = serde_json::from_value(json!({
        "generated_at": 1763800000,
        "complete": false,
        "next_cursor": "opaque-string",
        "token_lifetime": 86400,
        "leeway": 60,
        "credentials": [{"client_id": "wk_x", "revoked_before": 1763799000}],
        "accounts":    [{"account_id": "a", "revoked_before": 1763799500}],
        "workspaces":  [{"workspace_id": "w", "revoked_before": 1763799600}],
        "tokens":      [{"jti": "j", "exp": 1763880000}],
        "removed":     [{"account_id": "a2"}, {"workspace_id": "w2"}, {"client_id": "c2"}, {"jti": "j2"}]
    }))
    .unwrap();
    assert!(!feed.complete);
    assert_eq!(feed.next_cursor.as_deref(), Some("opaque-string"));
    assert_eq!((feed.token_lifetime, feed.leeway), (Some(86400), Some(60)));
    assert_eq!(
        feed.removed,
        [
            Removal::Account("a2".into()),
            Removal::Workspace("w2".into()),
            Removal::Credential("c2".into()),
            Removal::Token("j2".into()),
        ]
    );
    // It survives a round trip.
    let again: RevocationFeed =
        serde_json::from_str(&serde_json::to_string(&feed).unwrap()).unwrap();
    assert_eq!(again, feed);
}

/// A key store that counts lookups, to see when the signature is really verified.
struct CountingStore {
    inner: StaticKeyStore,
    lookups: Arc<AtomicUsize>,
}

impl KeyStore for CountingStore {
    fn key<'a>(
        &'a self,
        kid: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<PublicKey>>, FetchError>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.key(kid)
    }
}

fn counting_guard(capacity: usize) -> (Guard, Arc<AtomicUsize>) {
    let lookups = Arc::new(AtomicUsize::new(0));
    let store = CountingStore {
        inner: StaticKeyStore::new([public_key_a()]),
        lookups: lookups.clone(),
    };
    let mut config = config();
    config.cache_capacity = capacity;
    (fed(Guard::with_key_store(config, store).unwrap()), lookups)
}

#[tokio::test]
async fn a_repeated_token_is_served_from_the_cache() {
    let (guard, lookups) = counting_guard(100);
    let token = TokenBuilder::workspace(NOW).sign();
    let first = guard.validate_at(&token, NOW).await.unwrap();
    let second = guard.validate_at(&token, NOW + 1).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
    assert_eq!(guard.cached_tokens(), 1);
    guard.clear_cache();
    guard.validate_at(&token, NOW).await.unwrap();
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_cache_hit_still_honours_revocation() {
    let (guard, lookups) = counting_guard(100);
    let token = TokenBuilder::workspace(NOW).sign();
    guard.validate_at(&token, NOW).await.unwrap();
    guard.apply_revocations(RevocationFeed::default().with_credential(WK, NOW + 1));
    assert_eq!(
        guard.validate_at(&token, NOW + 2).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Credential)
    );
    guard.apply_revocations(RevocationFeed::default());
    assert!(guard.validate_at(&token, NOW + 2).await.is_ok());
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        1,
        "every later check was a cache hit"
    );
}

#[tokio::test]
async fn a_cache_hit_still_honours_expiry() {
    let (guard, _) = counting_guard(100);
    let token = TokenBuilder::account(NOW).sign();
    guard.validate_at(&token, NOW).await.unwrap();
    assert_eq!(
        guard
            .validate_at(&token, NOW + LIFETIME + 60)
            .await
            .unwrap_err(),
        GuardError::Expired
    );
    assert_eq!(guard.cached_tokens(), 0, "the expired entry is dropped");
}

#[tokio::test]
async fn a_rejected_token_is_not_cached_as_valid() {
    let (guard, lookups) = counting_guard(100);
    let token = TokenBuilder::workspace(NOW)
        .claim("aud", json!("https://other.test/"))
        .sign();
    for _ in 0..3 {
        assert_eq!(
            guard.validate_at(&token, NOW).await.unwrap_err(),
            GuardError::InvalidAudience
        );
    }
    assert_eq!(guard.cached_tokens(), 0);
    assert_eq!(lookups.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let (guard, _) = counting_guard(4);
    for i in 0..20 {
        let token = TokenBuilder::workspace(NOW + i).sign();
        guard.validate_at(&token, NOW + i).await.unwrap();
        assert!(guard.cached_tokens() <= 4);
    }
}

#[tokio::test]
async fn the_cache_can_be_disabled() {
    let (guard, lookups) = counting_guard(0);
    let token = TokenBuilder::workspace(NOW).sign();
    guard.validate_at(&token, NOW).await.unwrap();
    guard.validate_at(&token, NOW).await.unwrap();
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
    assert_eq!(guard.cached_tokens(), 0);
}

#[tokio::test]
async fn the_feed_is_polled_from_the_issuer() {
    let issuer = FakeIssuer::start();
    let mut config = config();
    config.revocation_feed_url = Some(format!("{}/oauth/revocations", issuer.url()));
    let guard = guard_with(config);
    let token = TokenBuilder::account(NOW).sign();

    let feed = json!({"generated_at": NOW, "credentials": [{"client_id": AK, "revoked_before": NOW + 1}],
                      "accounts": [], "workspaces": [], "tokens": []});
    issuer.set_json("/oauth/revocations", &feed.to_string());
    guard.poll_revocations_now().await.unwrap();
    assert_eq!(guard.revocations_generated_at(), Some(NOW));
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Credential)
    );

    // Issuer failing: the previous list stays in force.
    issuer.set("/oauth/revocations", Reply::Json(503, "{}".into()));
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::Status(503))
    ));
    issuer.set("/oauth/revocations", Reply::Hangup);
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::Http(_))
    ));
    issuer.set_json("/oauth/revocations", "not json");
    assert!(matches!(
        guard.poll_revocations_now().await,
        Err(FetchError::InvalidBody(_))
    ));
    assert!(guard.validate_at(&token, NOW).await.is_err());
    assert_eq!(guard.revocations_generated_at(), Some(NOW));
}

#[tokio::test]
async fn the_default_feed_url_is_under_the_issuer() {
    let issuer = FakeIssuer::start();
    let guard = Guard::with_key_store(
        crate::GuardConfig::new(format!("{}/", issuer.url()), AUDIENCE),
        StaticKeyStore::new([public_key_a()]),
    )
    .unwrap();
    issuer.set_json("/oauth/revocations", r#"{"generated_at": 7}"#);
    guard.poll_revocations_now().await.unwrap();
    assert_eq!(guard.revocations_generated_at(), Some(7));
}

#[tokio::test]
async fn the_background_task_polls_the_feed() {
    let issuer = FakeIssuer::start();
    let mut config = config();
    config.revocation_feed_url = Some(format!("{}/feed", issuer.url()));
    config.feed_poll_interval = Duration::from_millis(50);
    let guard = guard_with(config);
    issuer.set_json("/feed", r#"{"generated_at": 1}"#);
    let task = guard.spawn_refresh_task();

    let token = TokenBuilder::workspace(NOW).sign();
    assert!(wait_until(|| guard.revocations_generated_at() == Some(1)).await);
    assert!(guard.validate_at(&token, NOW).await.is_ok());

    issuer.set_json("/feed", &json!({"generated_at": 2, "workspaces": [{"workspace_id": "ws_1", "revoked_before": NOW + 1}]}).to_string());
    assert!(wait_until(|| guard.revocations_generated_at() == Some(2)).await);
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Revoked(RevocationReason::Workspace)
    );
    assert!(issuer.hits("/feed") >= 2);
    task.stop();
}

#[tokio::test]
async fn the_background_task_ends_when_the_guard_is_dropped() {
    let mut config = config();
    config.revocation_feed_url = Some("http://127.0.0.1:9/unreachable".into());
    config.feed_poll_interval = Duration::from_millis(20);
    let guard = guard_with(config);
    let task = guard.spawn_refresh_task();
    drop(guard);
    assert!(wait_until(|| task.is_finished()).await);
}

async fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}
