//! The token endpoint's credential reads (`service::auth_lookup`): queued in arrival order, many
//! to a statement on PostgreSQL, and each request answered with its own client's record as it is
//! stored when the request arrives.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tessera::domain::quota::month_of;
use tessera::service::auth_lookup::AuthLookups;
use tessera::storage::credentials::AuthRecord;
use tessera::storage::StorageError;

use crate::helpers::{Backend, TestApp};

/// A pool of one connection over the app's database, and queued reads over it. `batch` is what
/// the backend batches: every waiting request on PostgreSQL, one at a time on SQLite.
fn one_connection(
    app: &TestApp,
    timeout_seconds: u64,
) -> (tessera::storage::Pool, Arc<AuthLookups>) {
    let mut settings = app.state.settings.database.clone();
    settings.pool_max_size = 1;
    settings.pool_timeout_seconds = timeout_seconds;
    let pool = tessera::storage::pool(&settings).unwrap();
    let postgres = app.backend != Backend::Sqlite;
    let lookups = Arc::new(AuthLookups::for_backend(pool.clone(), postgres, 2));
    (pool, lookups)
}

/// Starts one read per `(client_id, now)`, all queued at once.
fn read_all(
    lookups: &Arc<AuthLookups>,
    asks: &[(String, DateTime<Utc>)],
) -> Vec<tokio::task::JoinHandle<Result<Option<AuthRecord>, StorageError>>> {
    asks.iter()
        .map(|(id, at)| {
            let (lookups, id, at) = (Arc::clone(lookups), id.clone(), *at);
            tokio::spawn(async move { lookups.read(&id, at, &month_of(at)).await })
        })
        .collect()
}

async fn queued_reads_each_get_their_own_record(app: TestApp) {
    let (account, plain) = app.account_with_key().await;
    let workspace = app.create_workspace(&account, "Docs").await;
    let member = app
        .workspace_credential(&workspace, "content_manager", json!({}))
        .await;
    let (_, rotated) = app.account_with_key().await;
    let path = format!("/credentials/{}/rotate", rotated.id);
    TestApp::expect(
        app.admin_post(&path, json!({"grace_seconds": 3600})).await,
        200,
    )
    .await;

    let now = app.clock.now();
    let after_grace = now + chrono::Duration::seconds(3700);
    let unknown = "ak_000000000000000000000000".to_owned();
    let asks = vec![
        (plain.client_id.clone(), now),
        (member.client_id.clone(), now),
        (rotated.client_id.clone(), now),
        (rotated.client_id.clone(), after_grace),
        (unknown.clone(), now),
        (plain.client_id.clone(), now),
    ];

    // The one connection is taken, so every read but perhaps the first waits in the queue.
    let (pool, lookups) = one_connection(&app, 5);
    let held = pool.get().unwrap();
    let reads = read_all(&lookups, &asks);
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(held);

    for ((id, at), read) in asks.iter().zip(reads) {
        let record = read.await.unwrap().unwrap();
        if *id == unknown {
            assert!(record.is_none(), "an unknown client has no record");
            continue;
        }
        let record = record.unwrap_or_else(|| panic!("no record for {id}"));
        assert_eq!(record.credential.client_id, *id);
        let expected = if *id == member.client_id {
            Some("content_manager")
        } else {
            Some("account_admin")
        };
        assert_eq!(Some(record.credential.role.as_str()), expected);
        assert_eq!(record.workspace_status.is_some(), *id == member.client_id);
        let live = if *id == rotated.client_id && *at == now {
            2 // the new secret, and the old one in its grace period
        } else {
            1
        };
        assert_eq!(record.secrets.len(), live, "{id} at {at}");
        assert!(
            record.secrets[0].expires_at.is_none(),
            "the current secret comes first"
        );
    }
    let statements = lookups.statements();
    if app.backend == Backend::Sqlite {
        assert_eq!(
            statements,
            asks.len() as u64,
            "SQLite reads one request at a time"
        );
    } else {
        assert!(
            statements <= 2,
            "PostgreSQL read the queue in {statements} statements"
        );
    }
}

async fn a_pool_that_times_out_fails_the_queued_reads_and_the_next_read_works(app: TestApp) {
    let (_, cred) = app.account_with_key().await;
    let now = app.clock.now();
    let asks: Vec<_> = (0..5).map(|_| (cred.client_id.clone(), now)).collect();

    let (pool, lookups) = one_connection(&app, 1);
    let held = pool.get().unwrap();
    let reads = read_all(&lookups, &asks);
    for read in reads {
        let failed = read.await.unwrap();
        assert!(
            matches!(failed, Err(StorageError::Unavailable(_))),
            "{failed:?}"
        );
    }
    drop(held);
    let record = lookups.read(&cred.client_id, now, &month_of(now)).await;
    assert_eq!(
        record.unwrap().unwrap().credential.client_id,
        cred.client_id
    );
}

/// Many clients at once through HTTP: every token names the client that asked for it.
async fn concurrent_clients_each_get_their_own_token(app: TestApp) {
    let mut creds = Vec::new();
    for _ in 0..4 {
        let (account, cred) = app.account_with_key().await;
        creds.push(cred);
        let workspace = app.create_workspace(&account, "Docs").await;
        creds.push(
            app.workspace_credential(&workspace, "chat_user", json!({}))
                .await,
        );
    }
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let cred = creds[i % creds.len()].clone();
            let (client, url) = (app.client.clone(), app.token_url());
            tokio::spawn(async move {
                let body: Value = client
                    .post(url)
                    .basic_auth(&cred.client_id, Some(&cred.secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (cred, body)
            })
        })
        .collect();
    for task in tasks {
        let (cred, body) = task.await.unwrap();
        let token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"));
        let claims = app.verify(token).await;
        assert_eq!(claims["sub"], cred.client_id.as_str());
        assert_eq!(claims["roles"], json!([cred.body["role"]]), "{claims}");
    }
}

backend_tests!(
    queued_reads_each_get_their_own_record,
    a_pool_that_times_out_fails_the_queued_reads_and_the_next_read_works,
    concurrent_clients_each_get_their_own_token,
);
