//! `tessera serve` on SQLite: first start, key rotation (SIGHUP and periodic reload), SIGTERM
//! (drain, flush, exit 0).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{
    assert_between, key_list, kid_of, mode, now, time_field, verify, Cred, Deadline, Install,
    Server, POLL_LIMIT, STOP_LIMIT,
};

#[tokio::test]
async fn the_first_serve_generates_a_key_and_is_ready() {
    let install = Install::sqlite();
    assert!(install.key_files().is_empty());
    let mut server = install.serve().await;

    let files = install.key_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&install.keys_dir()), 0o700);

    let ready = server.get("/readyz").await.expect(200);
    assert_eq!(ready["status"], "ready", "{ready}");
    server.get("/healthz").await.expect(200);

    let list = install.run(&["keys", "list"]);
    let keys = key_list(list.success());
    assert_eq!(keys.len(), 1);
    assert_eq!(server.jwks_kids().await, vec![keys[0].0.clone()]);

    server.stop_cleanly().await;
    // A restart uses that key rather than making another.
    let mut again = install.serve().await;
    assert_eq!(install.key_files(), files);
    assert_eq!(again.jwks_kids().await, vec![keys[0].0.clone()]);
    // SIGINT (Ctrl-C) stops it as cleanly as SIGTERM.
    again.signal("INT");
    let deadline = Deadline::after(POLL_LIMIT, "the exit after SIGINT");
    let status = loop {
        if let Some(status) = again.exit_status() {
            break status;
        }
        deadline.tick().await;
    };
    assert_eq!(status.code(), Some(0), "exit after SIGINT: {status}");
    assert!(again.log().contains("shutting down"), "{}", again.log());
}

#[tokio::test]
async fn sighup_publishes_a_rotated_key_at_once_and_old_tokens_still_verify() {
    let mut install = Install::sqlite();
    // No periodic reload during the test: only the signal can explain a change.
    install.set("TESSERA__KEYS__RELOAD_SECONDS", "3600");
    let admin = install.admin_token("ops");
    let mut server = install.serve().await;
    // A SIGHUP as soon as the server answers must reload, not kill it (the default action).
    server.signal("HUP");
    server.get("/healthz").await.expect(200);
    assert!(server.running(), "an early SIGHUP killed the server");

    let cred = server.create_credential(&admin).await;
    let old_token = server.issue(&cred).await;
    let old_kid = kid_of(&old_token);
    assert_eq!(server.jwks_kids().await, vec![old_kid.clone()]);

    install.run(&["keys", "rotate"]).success();
    let keys = key_list(install.run(&["keys", "list"]).success());
    let new_kid = keys[1].0.clone();
    assert_ne!(new_kid, old_kid);
    // Not reloaded yet: the server still signs with the old key.
    assert_eq!(kid_of(&server.issue(&cred).await), old_kid);

    server.signal("HUP");
    let deadline = Deadline::after(POLL_LIMIT, "the JWKS to publish the rotated key");
    let jwks = loop {
        let jwks = server.jwks().await;
        if jwks["keys"].as_array().is_some_and(|k| k.len() == 2) {
            break jwks;
        }
        deadline.tick().await;
    };
    let kids = crate::harness::kids(&jwks);
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );

    let new_token = server.issue(&cred).await;
    assert_eq!(kid_of(&new_token), new_kid, "new tokens carry the new kid");
    // Both verify with nothing but the published JWKS.
    let old_claims = verify(&jwks, &old_token, &server.issuer);
    let new_claims = verify(&jwks, &new_token, &server.issuer);
    assert_eq!(old_claims["client_id"], cred.client_id.as_str());
    assert_eq!(new_claims["client_id"], cred.client_id.as_str());
    let ready = server.get("/readyz").await.expect(200);
    assert_eq!(ready["signing_key"], "ok");

    server.stop_cleanly().await;
}

#[tokio::test]
async fn a_rotation_is_picked_up_without_a_signal_by_the_periodic_reload() {
    let mut install = Install::sqlite();
    install.set("TESSERA__KEYS__RELOAD_SECONDS", "1");
    let admin = install.admin_token("ops");
    let mut server = install.serve().await;
    let cred = server.create_credential(&admin).await;
    let old_token = server.issue(&cred).await;
    let old_kid = kid_of(&old_token);

    install.run(&["keys", "rotate"]).success();
    let deadline = Deadline::after(POLL_LIMIT, "a token signed with the rotated key");
    let new_token = loop {
        let token = server.issue(&cred).await;
        if kid_of(&token) != old_kid {
            break token;
        }
        deadline.tick().await;
    };
    let jwks = server.jwks().await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "{jwks}");
    verify(&jwks, &old_token, &server.issuer);
    verify(&jwks, &new_token, &server.issuer);
    server.stop_cleanly().await;
}

/// Starts a token request on a raw connection and sends all of it but the last byte of the
/// body, so the server is reading it (in flight) until [`finish_in_flight`].
async fn start_in_flight(server: &Server, cred: &Cred) -> (TcpStream, Vec<u8>) {
    let body = json!({
        "grant_type": "client_credentials",
        "client_id": cred.client_id,
        "client_secret": cred.secret,
    })
    .to_string();
    let addr = server.public.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (most, last) = body.as_bytes().split_at(body.len() - 1);
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(most).await.expect("write body");
    stream.flush().await.expect("flush");
    (stream, last.to_vec())
}

/// Sends the rest of the body and reads the whole answer: (status, body).
async fn finish_in_flight(mut stream: TcpStream, rest: Vec<u8>) -> (u16, Value) {
    stream.write_all(&rest).await.expect("write the last byte");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_flushes_last_used_times_and_exits_0() {
    let mut install = Install::sqlite();
    // Only the shutdown flush can write the last use within this test.
    install.set("TESSERA__DATABASE__LAST_USED_FLUSH_SECONDS", "3600");
    let admin = install.admin_token("ops");
    let mut server = install.serve().await;
    let cred = server.create_credential(&admin).await;

    let before = now();
    server.issue(&cred).await;
    // A request in flight when SIGTERM arrives: the server has its headers and most of its
    // body, and waits for the rest.
    let (stream, rest) = start_in_flight(&server, &cred).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.signal("TERM");
    let deadline = Deadline::after(POLL_LIMIT, "the shutdown to begin");
    while !server.log().contains("shutting down") {
        deadline.tick().await;
    }
    assert!(server.running(), "exited with a request in flight");
    // New connections are no longer served while it drains.
    let probe = reqwest::Client::new()
        .get(format!("{}/healthz", server.public))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        probe.is_err(),
        "a new request was served after SIGTERM: {probe:?}"
    );
    let (status, body) = finish_in_flight(stream, rest).await;
    let after = now();
    assert_eq!(status, 200, "the in-flight request: {body}");
    assert!(body["access_token"].is_string(), "{body}");

    let deadline = Deadline::after(STOP_LIMIT, "the exit after SIGTERM");
    let status = loop {
        if let Some(status) = server.exit_status() {
            break status;
        }
        deadline.tick().await;
    };
    assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}");
    assert!(
        started.elapsed() < STOP_LIMIT,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        server
            .log()
            .contains("flushed last-used times of 1 credential"),
        "{}",
        server.log()
    );

    let mut restarted = install.serve().await;
    let read = restarted
        .admin(
            &admin,
            Method::GET,
            &format!("/credentials/{}", cred.id),
            None,
        )
        .await
        .expect(200);
    let last_used = time_field(&read["last_used_at"])
        .unwrap_or_else(|| panic!("last_used_at not flushed at shutdown: {read}"));
    assert_between(last_used, before, after);
    let secret_used = time_field(&read["secrets"][0]["last_used_at"])
        .unwrap_or_else(|| panic!("the secret's last_used_at not flushed: {read}"));
    assert_between(secret_used, before, after);
    restarted.stop_cleanly().await;
}

#[tokio::test]
async fn a_broken_key_file_at_run_time_keeps_the_loaded_keys() {
    let mut install = Install::sqlite();
    install.set("TESSERA__KEYS__RELOAD_SECONDS", "3600");
    let admin = install.admin_token("ops");
    let mut server = install.serve().await;
    let cred = server.create_credential(&admin).await;
    let kid = kid_of(&server.issue(&cred).await);

    std::fs::write(install.keys_dir().join("garbage.pem"), "not a key").unwrap();
    server.signal("HUP");
    let deadline = Deadline::after(POLL_LIMIT, "the failed reload to be logged");
    while !server.log().contains("key reload failed") {
        deadline.tick().await;
    }
    assert!(server.log().contains("garbage.pem"), "{}", server.log());
    assert!(
        server.running(),
        "a bad file must not stop a running server"
    );
    assert_eq!(kid_of(&server.issue(&cred).await), kid);
    assert_eq!(server.jwks_kids().await, vec![kid]);
    server.get("/readyz").await.expect(200);
    server.stop_cleanly().await;
}
