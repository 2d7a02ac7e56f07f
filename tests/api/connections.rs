//! Connection hygiene of both listeners: head size limits, request and keep-alive timeouts, the
//! connection cap. Nothing here depends on the database, so these run on SQLite only.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tessera::config::Settings;

use crate::helpers::{try_spawn, Backend, TestApp};

/// Generous: these tests prove a connection is closed, not how fast.
const CLOSE_WITHIN: Duration = Duration::from_secs(15);

async fn app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    try_spawn(Backend::Sqlite, configure).await.unwrap()
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `CLOSE_WITHIN` passes); returns what it sent.
fn read_until_closed(stream: &mut TcpStream) -> Result<String, String> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Ok(String::from_utf8_lossy(&got).into_owned())
            }
            Err(e) => return Err(e.to_string()),
        }
        if started.elapsed() > CLOSE_WITHIN {
            return Err(format!(
                "still open after {CLOSE_WITHIN:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
    }
}

#[tokio::test]
async fn an_over_long_target_or_oversized_headers_are_refused_on_both_listeners() {
    let app = app(|_| {}).await;
    let long_query = "a".repeat(9000);
    let public = app
        .client
        .get(format!("{}/healthz?{long_query}", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 414);
    let admin = app
        .client
        .get(app.admin_url(&format!("/accounts?{long_query}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 414);

    let big = "b".repeat(17 * 1024);
    let public = app
        .client
        .post(app.token_url())
        .header("X-Padding", &big)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 431);
    let admin = app
        .client
        .get(app.admin_url("/accounts"))
        .bearer_auth(&app.admin_token)
        .header("X-Padding", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 431);

    // Just under the limits is fine.
    let ok = app
        .client
        .get(format!("{}/healthz?{}", app.public, "a".repeat(4000)))
        .header("X-Padding", "c".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_slow_loris_client_cannot_hold_a_connection() {
    let app = app(|s| s.server.client_request_timeout_ms = 500).await;
    let addr = host_port(&app.public);
    // One client stops half-way through its head, another sends it a byte at a time.
    let stalled = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"POST /oauth/token HTTP/1.1\r\nHost: tessera\r\n")
                .unwrap();
            read_until_closed(&mut stream)
        })
    };
    let dripping = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        for byte in b"GET /healthz HTTP/1.1\r\nHost: tessera\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if stream.write_all(&[*byte]).is_err() || started.elapsed() > CLOSE_WITHIN {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        read_until_closed(&mut stream)
    });
    // Meanwhile everyone else is served.
    for _ in 0..5 {
        let r = app
            .client
            .get(format!("{}/healthz", app.public))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let stalled = stalled
        .await
        .unwrap()
        .expect("the stalled connection is closed");
    assert!(
        stalled.is_empty() || stalled.starts_with("HTTP/1.1 408"),
        "{stalled:?}"
    );
    let dripping = dripping
        .await
        .unwrap()
        .expect("the dripping connection is closed");
    assert!(
        !dripping.contains("200 OK"),
        "a head that takes too long is never answered: {dripping:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app(|s| s.server.keep_alive_seconds = 1).await;
    let addr = host_port(&app.public);
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\n\r\n")
            .unwrap();
        read_until_closed(&mut stream)
    })
    .await
    .unwrap()
    .expect("the idle connection is closed by the server");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_a_slot_frees() {
    let app = app(|s| {
        s.server.workers = 1;
        s.server.max_connections = 2;
        s.server.client_request_timeout_ms = 1000;
    })
    .await;
    let addr = host_port(&app.public);
    // Two connections that never send anything fill the cap…
    let held: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            tokio::task::spawn_blocking(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                read_until_closed(&mut stream)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …so a third is accepted only once the request timeout has dropped one of them.
    let started = Instant::now();
    let r = app
        .client
        .get(format!("{}/healthz", app.public))
        .timeout(CLOSE_WITHIN)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(r.status(), 200);
    assert!(
        waited >= Duration::from_millis(400),
        "the third connection was served before a slot was free ({waited:?})"
    );
    for h in held {
        h.await.unwrap().expect("held connections are closed");
    }
}
