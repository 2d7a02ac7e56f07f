//! PostgreSQL: replicas on one database, concurrent migrations, and a database outage.
//! Only with `TESSERA_TEST_POSTGRES_URL`; the outage test also needs `initdb`/`pg_ctl`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::{
    assert_between, now, postgres_or_skip, time_field, verify, Cluster, Deadline, Install,
    PgDatabase, POLL_LIMIT,
};

#[tokio::test]
async fn replicas_share_credentials_secrets_and_keys() {
    let Some(base) = postgres_or_skip("replicas_share_credentials_secrets_and_keys") else {
        return;
    };
    let db = PgDatabase::create(&base);
    let install = Install::on_database(&db.url);
    let admin = install.admin_token("ops");
    // A first, so that it generates the key B then loads.
    let mut a = install.serve().await;
    let mut b = install.serve().await;
    assert_eq!(install.key_files().len(), 1);
    let jwks = a.jwks().await;
    assert_eq!(jwks, b.jwks().await, "both replicas publish the same JWKS");

    let cred = a.create_credential(&admin).await;
    let token = b.issue(&cred).await;
    let claims = verify(&jwks, &token, &b.issuer);
    assert_eq!(claims["client_id"], cred.client_id.as_str());

    // A rotation at A is honoured by B on the very next request.
    let rotated = a
        .admin(
            &admin,
            Method::POST,
            &format!("/credentials/{}/rotate", cred.id),
            Some(json!({})),
        )
        .await
        .expect(200);
    let new_secret = rotated["client_secret"].as_str().expect("new secret");
    let old = b.token(&cred.client_id, &cred.secret).await;
    assert_eq!(old.status, 401, "{}", old.text);
    assert_eq!(old.body["error"], "invalid_client");
    b.token(&cred.client_id, new_secret).await.expect(200);

    // A deactivation at A is refused by B at once.
    a.admin(
        &admin,
        Method::POST,
        &format!("/credentials/{}/deactivate", cred.id),
        None,
    )
    .await
    .expect(200);
    let refused = b.token(&cred.client_id, new_secret).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.body["error"], "invalid_client");

    b.stop_cleanly().await;
    a.stop_cleanly().await;
}

#[tokio::test]
async fn replicas_flush_the_latest_last_use_once() {
    let Some(base) = postgres_or_skip("replicas_flush_the_latest_last_use_once") else {
        return;
    };
    let db = PgDatabase::create(&base);
    let mut install = Install::on_database(&db.url);
    // Only the shutdown flushes write the last uses within this test.
    install.set("TESSERA__DATABASE__LAST_USED_FLUSH_SECONDS", "3600");
    let admin = install.admin_token("ops");
    let mut a = install.serve().await;
    let mut b = install.serve().await;
    let cred = a.create_credential(&admin).await;

    a.issue(&cred).await;
    let a_done = now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b_start = now();
    b.issue(&cred).await;
    let b_done = now();

    // B (the later use) flushes first; A's earlier use, flushed after, must not overwrite it.
    b.stop_cleanly().await;
    a.stop_cleanly().await;

    let mut c = install.serve().await;
    let read = c
        .admin(
            &admin,
            Method::GET,
            &format!("/credentials/{}", cred.id),
            None,
        )
        .await
        .expect(200);
    let last_used = time_field(&read["last_used_at"])
        .unwrap_or_else(|| panic!("no last_used_at after both shutdowns: {read}"));
    assert!(last_used > a_done, "A's earlier use won: {read}");
    assert_between(last_used, b_start, b_done);
    let secrets = read["secrets"].as_array().expect("secrets");
    assert_eq!(secrets.len(), 1, "{read}");
    let secret_used = time_field(&secrets[0]["last_used_at"]).expect("secret last use");
    assert_between(secret_used, b_start, b_done);
    c.stop_cleanly().await;
}

#[test]
fn concurrent_migrations_from_two_processes_both_succeed() {
    let Some(base) = postgres_or_skip("concurrent_migrations_from_two_processes_both_succeed")
    else {
        return;
    };
    let db = PgDatabase::create(&base);
    let install = Install::on_database(&db.url);
    let first = install.start(&["migrate"], &[]);
    let second = install.start(&["migrate"], &[]);
    let runs = [first.finish(), second.finish()];
    let mut applied: Vec<String> = runs
        .iter()
        .map(|r| r.success().last_line().to_owned())
        .collect();
    applied.sort();
    assert_eq!(
        applied[0], "applied 0 migration(s)",
        "one waits for the other: {runs:#?}"
    );
    assert_ne!(applied[1], "applied 0 migration(s)", "{runs:#?}");
    let third = install.run(&["migrate"]);
    assert_eq!(third.success().last_line(), "applied 0 migration(s)");
}

#[tokio::test]
async fn a_database_outage_answers_503_and_recovers_without_a_restart() {
    let test = "a_database_outage_answers_503_and_recovers_without_a_restart";
    if postgres_or_skip(test).is_none() {
        return;
    }
    let Some(cluster) = Cluster::init(test) else {
        return;
    };
    cluster.start();
    cluster.create_database("tessera");
    let mut install = Install::on_database(&cluster.url("tessera"));
    install.set("TESSERA__DATABASE__POOL_TIMEOUT_SECONDS", "2");
    let admin = install.admin_token("ops");
    let mut server = install.serve().await;
    let cred = server.create_credential(&admin).await;
    server.issue(&cred).await;

    cluster.stop();
    // Twice: once through a pooled connection the shutdown broke, once through a pool that
    // cannot connect (the checkout timeout).
    for attempt in 0..2 {
        let started = Instant::now();
        let reply = server.token(&cred.client_id, &cred.secret).await;
        let took = started.elapsed();
        assert_eq!(reply.status, 503, "attempt {attempt}: {}", reply.text);
        assert_eq!(
            reply.body["error"], "temporarily_unavailable",
            "{}",
            reply.text
        );
        assert!(
            reply.headers.contains_key("retry-after"),
            "{:?}",
            reply.headers
        );
        assert!(
            took < Duration::from_secs(6),
            "attempt {attempt} took {took:?}"
        );
    }
    let admin_reply = server.admin(&admin, Method::GET, "/accounts", None).await;
    assert_eq!(admin_reply.status, 503, "{}", admin_reply.text);
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    server.get("/healthz").await.expect(200);
    assert!(server.running());
    // A command meanwhile fails within the pool timeout, with one clear `tessera:` line.
    let started = Instant::now();
    let list = install.run(&["admin-token", "list"]);
    assert_eq!(list.code(), Some(1), "{list:#?}");
    assert!(started.elapsed() < Duration::from_secs(6), "{list:#?}");
    let last = list.stderr.lines().rev().find(|l| !l.trim().is_empty());
    assert!(
        last.is_some_and(
            |l| l.starts_with("tessera: database unavailable") && l.contains("Connection refused")
        ),
        "the whole error on one line: {list:#?}"
    );

    cluster.start();
    let deadline = Deadline::after(POLL_LIMIT, "the token endpoint to recover");
    loop {
        let reply = server.token(&cred.client_id, &cred.secret).await;
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.text);
        deadline.tick().await;
    }
    server.get("/readyz").await.expect(200);
    server
        .admin(&admin, Method::GET, "/accounts", None)
        .await
        .expect(200);
    server.stop_cleanly().await;
}
