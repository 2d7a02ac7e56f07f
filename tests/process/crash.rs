//! Crash and restart on SQLite: SIGKILL in the middle of concurrent admin changes and token
//! requests, then a restart on the same database and key directory. Whatever got a 2xx before
//! the kill is there with its audit event; nothing is half-applied; tokens issued before the
//! kill still verify and introspect as active.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{verify, Deadline, Install, Reply, Server, POLL_LIMIT};

/// What the test knows about one credential from the answers it got.
#[derive(Debug, Default, Clone)]
struct Known {
    client_id: String,
    /// The secret of the last acknowledged creation or rotation.
    secret: String,
    /// Acknowledged rotations, renames and deactivation.
    rotations: usize,
    renames: usize,
    name: String,
    deactivated: bool,
    /// A change was sent and no answer came back (the kill): it may or may not have happened.
    in_doubt: Option<&'static str>,
}

#[derive(Default)]
struct Ledger {
    credentials: BTreeMap<String, Known>,
    /// Credential creations sent without an answer (so no id is known).
    creations_in_doubt: usize,
    acknowledged: usize,
    /// Tokens issued before the kill, with their credential.
    tokens: Vec<(String, String)>,
}

/// One admin change: `Ok(Some(body))` on a 2xx, `Ok(None)` on another status, `Err` when the
/// connection failed (the server is gone).
async fn change(
    server: &Server,
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Option<Value>, ()> {
    let url = format!("{}/admin/v1{path}", server.admin);
    let mut request = server.client.request(method, url).bearer_auth(admin);
    if let Some(body) = body {
        request = request.json(&body);
    }
    match request.send().await {
        Ok(response) => {
            let reply = Reply::of(response).await;
            Ok((200..300).contains(&reply.status).then_some(reply.body))
        }
        Err(_) => Err(()),
    }
}

/// Admin changes until the server dies: creations, rotations with and without grace, renames,
/// deactivations, in a fixed rotation over the credentials.
async fn admin_stream(server: &Server, admin: &str, account: &str, ledger: &RefCell<Ledger>) {
    for i in 0usize.. {
        let ids: Vec<String> = ledger
            .borrow()
            .credentials
            .iter()
            .filter(|(_, k)| !k.deactivated)
            .map(|(id, _)| id.clone())
            .collect();
        // The first two credentials keep serving tokens: never deactivated.
        let target = ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
        let op = if ids.len() < 3 { 0 } else { i % 6 };
        let outcome = match op {
            0 | 5 => {
                let name = format!("cred-{i}");
                let result = change(
                    server,
                    admin,
                    Method::POST,
                    &format!("/accounts/{account}/credentials"),
                    Some(json!({"name": name})),
                )
                .await;
                match result {
                    Ok(Some(body)) => {
                        let id = body["id"].as_str().unwrap().to_owned();
                        ledger.borrow_mut().credentials.insert(
                            id,
                            Known {
                                client_id: body["client_id"].as_str().unwrap().to_owned(),
                                secret: body["client_secret"].as_str().unwrap().to_owned(),
                                name,
                                ..Known::default()
                            },
                        );
                        Ok(())
                    }
                    Ok(None) => panic!("a creation was refused"),
                    Err(()) => {
                        ledger.borrow_mut().creations_in_doubt += 1;
                        Err(())
                    }
                }
            }
            1 | 2 => {
                let body = if op == 1 {
                    json!({})
                } else {
                    json!({"grace_seconds": 600})
                };
                match change(
                    server,
                    admin,
                    Method::POST,
                    &format!("/credentials/{target}/rotate"),
                    Some(body),
                )
                .await
                {
                    Ok(Some(body)) => {
                        let mut l = ledger.borrow_mut();
                        let known = l.credentials.get_mut(&target).unwrap();
                        known.secret = body["client_secret"].as_str().unwrap().to_owned();
                        known.rotations += 1;
                        Ok(())
                    }
                    Ok(None) => panic!("a rotation was refused"),
                    Err(()) => {
                        ledger
                            .borrow_mut()
                            .credentials
                            .get_mut(&target)
                            .unwrap()
                            .in_doubt = Some("rotate");
                        Err(())
                    }
                }
            }
            3 => {
                let name = format!("renamed-{i}");
                match change(
                    server,
                    admin,
                    Method::PATCH,
                    &format!("/credentials/{target}"),
                    Some(json!({"name": name})),
                )
                .await
                {
                    Ok(Some(_)) => {
                        let mut l = ledger.borrow_mut();
                        let known = l.credentials.get_mut(&target).unwrap();
                        known.name = name;
                        known.renames += 1;
                        Ok(())
                    }
                    Ok(None) => panic!("a rename was refused"),
                    Err(()) => {
                        ledger
                            .borrow_mut()
                            .credentials
                            .get_mut(&target)
                            .unwrap()
                            .in_doubt = Some("rename");
                        Err(())
                    }
                }
            }
            _ => {
                // Deactivate the newest credential, never one of the first two.
                let Some(victim) = ids.iter().skip(2).last().cloned() else {
                    continue;
                };
                match change(
                    server,
                    admin,
                    Method::POST,
                    &format!("/credentials/{victim}/deactivate"),
                    None,
                )
                .await
                {
                    Ok(Some(_)) => {
                        ledger
                            .borrow_mut()
                            .credentials
                            .get_mut(&victim)
                            .unwrap()
                            .deactivated = true;
                        Ok(())
                    }
                    Ok(None) => panic!("a deactivation was refused"),
                    Err(()) => {
                        ledger
                            .borrow_mut()
                            .credentials
                            .get_mut(&victim)
                            .unwrap()
                            .in_doubt = Some("deactivate");
                        Err(())
                    }
                }
            }
        };
        match outcome {
            Ok(()) => ledger.borrow_mut().acknowledged += 1,
            Err(()) => return,
        }
    }
}

/// Token requests with the current secrets of the two long-lived credentials until the server
/// dies. A 401 right after a rotation without grace is expected (the secret just changed).
async fn token_stream(server: &Server, ledger: &RefCell<Ledger>) {
    for i in 0usize.. {
        let picked = ledger
            .borrow()
            .credentials
            .iter()
            .nth(i % 2)
            .map(|(id, known)| (id.clone(), known.clone()));
        let Some((id, known)) = picked else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": known.client_id,
            "client_secret": known.secret,
        });
        let sent = server
            .client
            .post(format!("{}/oauth/token", server.public))
            .json(&body)
            .send()
            .await;
        let Ok(response) = sent else { return };
        let reply = Reply::of(response).await;
        if reply.status == 200 {
            let token = reply.body["access_token"].as_str().unwrap().to_owned();
            ledger.borrow_mut().tokens.push((id, token));
        }
    }
}

async fn get(server: &Server, admin: &str, path: &str) -> Value {
    server
        .admin(admin, Method::GET, path, None)
        .await
        .expect(200)
}

/// Every page of a list.
async fn all(server: &Server, admin: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            None => format!("{path}{sep}limit=200"),
        };
        let page = get(server, admin, &page_path).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn sigkill_mid_stream_loses_no_acknowledged_change_and_no_token() {
    let install = Install::sqlite();
    let admin = install.admin_token("ops");
    let mut server = install.serve().await;
    let account = server
        .admin(
            &admin,
            Method::POST,
            "/accounts",
            Some(json!({"name": "Acme", "plan": "enterprise"})),
        )
        .await
        .expect(201);
    let account_id = account["id"].as_str().unwrap().to_owned();

    let ledger = RefCell::new(Ledger::default());
    let killed_at = {
        let server_ref = &server;
        let kill = async {
            // Enough history on both streams, then the kill while both have requests in flight.
            // A varying threshold, so the kill lands in different kinds of change.
            let threshold = 40
                + std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos() as usize % 6);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (changes, tokens) = {
                    let l = ledger.borrow();
                    (l.acknowledged, l.tokens.len())
                };
                if changes >= threshold && tokens >= 20 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "too slow: {changes} changes, {tokens} tokens"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            server_ref.signal("KILL");
            Instant::now()
        };
        let (_, _, killed_at) = tokio::join!(
            admin_stream(server_ref, &admin, &account_id, &ledger),
            token_stream(server_ref, &ledger),
            kill
        );
        killed_at
    };
    let deadline = Deadline::after(POLL_LIMIT, "the killed server to exit");
    while server.running() {
        deadline.tick().await;
    }
    assert!(killed_at.elapsed() < POLL_LIMIT);
    let ledger = ledger.into_inner();
    let in_doubt: Vec<_> = ledger
        .credentials
        .values()
        .filter_map(|k| k.in_doubt)
        .collect();
    assert!(
        in_doubt.len() + ledger.creations_in_doubt <= 1,
        "the admin stream is sequential: {in_doubt:?}"
    );
    // The issuer is fixed configuration in a real deployment; here it names the port, so the
    // restarted server (on new ports) is told the old one.
    let issuer = server.issuer.clone();
    eprintln!(
        "killed after {} acknowledged changes and {} tokens; {} credentials; in doubt: {:?} + {} creation(s)",
        ledger.acknowledged,
        ledger.tokens.len(),
        ledger.credentials.len(),
        in_doubt,
        ledger.creations_in_doubt
    );
    drop(server);

    // Restart on the same database and key directory.
    let mut restarted = install
        .serve_with(&[("TESSERA__SERVER__ISSUER", &issuer)])
        .await;
    let listed = all(
        &restarted,
        &admin,
        &format!("/credentials?account_id={account_id}"),
    )
    .await;
    let audit = all(
        &restarted,
        &admin,
        &format!("/audit?account_id={account_id}"),
    )
    .await;
    let actions_of = |id: &str, action: &str| {
        audit
            .iter()
            .filter(|e| e["credential_id"] == id && e["action"] == action)
            .count()
    };

    // Nothing half-applied: every credential listed has its creation event, and every change
    // event names a credential that exists.
    for credential in &listed {
        let id = credential["id"].as_str().unwrap();
        assert_eq!(actions_of(id, "credential.created"), 1, "{credential}");
        let secrets = credential["secrets"].as_array().unwrap();
        match credential["status"].as_str().unwrap() {
            "active" => {
                assert!((1..=2).contains(&secrets.len()), "{credential}");
                assert_eq!(
                    credential["secret_last4"], secrets[0]["last4"],
                    "{credential}"
                );
            }
            "deactivated" => {
                assert!(!credential["deactivated_at"].is_null(), "{credential}");
                assert_eq!(actions_of(id, "credential.deactivated"), 1, "{credential}");
            }
            other => panic!("unexpected status {other}: {credential}"),
        }
    }
    for event in &audit {
        if let Some(id) = event["credential_id"].as_str() {
            assert!(
                listed.iter().any(|c| c["id"] == id),
                "an audit event for a credential that is not there: {event}"
            );
        }
    }
    let unexplained = listed.len().saturating_sub(ledger.credentials.len());
    assert!(
        unexplained <= ledger.creations_in_doubt,
        "{unexplained} credentials that no answer showed and no lost request explains"
    );

    // Every acknowledged change is there, with its audit event.
    for (id, known) in &ledger.credentials {
        let read = get(&restarted, &admin, &format!("/credentials/{id}")).await;
        assert_eq!(read["client_id"], known.client_id.as_str());
        assert_eq!(actions_of(id, "credential.created"), 1, "{read}");
        let doubt = |what| usize::from(known.in_doubt == Some(what));
        let rotated = actions_of(id, "credential.rotated");
        assert!(
            (known.rotations..=known.rotations + doubt("rotate")).contains(&rotated),
            "{id}: {rotated} rotation events for {} acknowledged rotations",
            known.rotations
        );
        let renamed = actions_of(id, "credential.updated");
        assert!(
            (known.renames..=known.renames + doubt("rename")).contains(&renamed),
            "{id}: {renamed} update events for {} acknowledged renames",
            known.renames
        );
        if known.in_doubt != Some("rename") {
            assert_eq!(read["name"], known.name.as_str(), "{read}");
        }
        // The secret of the last answered creation or rotation works, unless a later change
        // that got no answer did happen (a rotation without grace, a deactivation).
        let deactivated = known.deactivated
            || (known.in_doubt == Some("deactivate") && read["status"] == "deactivated");
        let superseded = known.in_doubt == Some("rotate") && rotated > known.rotations;
        let reply = restarted.token(&known.client_id, &known.secret).await;
        if deactivated {
            assert_eq!(read["status"], "deactivated", "{read}");
            assert_eq!(reply.status, 401, "{}", reply.text);
        } else if !superseded {
            assert_eq!(read["status"], "active", "{read}");
            assert_eq!(
                reply.status, 200,
                "{id}: the last shown secret: {}",
                reply.text
            );
        }
    }

    // Tokens issued before the kill verify against the restarted server's JWKS and introspect
    // as active (their credentials were never deactivated).
    let jwks = restarted.jwks().await;
    assert!(ledger.tokens.len() >= 20);
    for (credential, token) in &ledger.tokens {
        let claims = verify(&jwks, token, &issuer);
        assert_eq!(
            claims["client_id"],
            ledger.credentials[credential].client_id.as_str()
        );
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let reply = Reply::of(
            restarted
                .client
                .post(format!("{}/oauth/introspect", restarted.public))
                .bearer_auth(&admin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            reply.expect(200)["active"],
            true,
            "a token issued before the kill"
        );
    }
    restarted.stop_cleanly().await;
}
