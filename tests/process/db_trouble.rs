//! Database trouble on SQLite: a write lock held by another connection past the busy timeout,
//! and a database whose files stop being writable. Writes answer 503 `temporarily_unavailable`
//! with `Retry-After` — on the admin API and on the public listener (RFC 7009 revocation) —
//! within a bounded time, never a 500 or a hang; and everything works again when the trouble
//! ends, without a restart.
//!
//! What WAL mode means here: readers never wait for the writer, so a write lock or a read-only
//! file does not stop the token endpoint (it only reads; last-used times are written in the
//! background and retried). The tests assert that it keeps issuing, rather than a needless 503.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use reqwest::Method;
use serde_json::json;

use crate::harness::{Cred, Install, Reply, Server};

/// Short, so a refused write answers quickly.
const BUSY_TIMEOUT_MS: &str = "300";
/// A request during the trouble must be answered within this.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

fn install() -> Install {
    let mut install = Install::sqlite();
    install
        .set("TESSERA__DATABASE__SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
        .set("TESSERA__DATABASE__POOL_TIMEOUT_SECONDS", "1");
    install
}

fn database(install: &Install) -> PathBuf {
    install.path("data/tessera.db")
}

/// Asserts a 503 `temporarily_unavailable` with `Retry-After`, answered in time. `error_key`
/// is `error` in both formats.
#[track_caller]
fn assert_unavailable(what: &str, reply: &Reply, took: Duration) {
    assert_eq!(reply.status, 503, "{what}: {}", reply.text);
    assert_eq!(
        reply.body["error"], "temporarily_unavailable",
        "{what}: {}",
        reply.text
    );
    assert!(
        reply.headers.contains_key("retry-after"),
        "{what}: no Retry-After: {:?}",
        reply.headers
    );
    assert!(took < ANSWER_LIMIT, "{what} took {took:?}");
}

async fn timed<F: std::future::Future<Output = Reply>>(f: F) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = f.await;
    (reply, started.elapsed())
}

async fn create_account(server: &Server, admin: &str, name: &str) -> Reply {
    server
        .admin(
            admin,
            Method::POST,
            "/accounts",
            Some(json!({ "name": name })),
        )
        .await
}

async fn rename(server: &Server, admin: &str, cred: &Cred, name: &str) -> Reply {
    server
        .admin(
            admin,
            Method::PATCH,
            &format!("/credentials/{}", cred.id),
            Some(json!({ "name": name })),
        )
        .await
}

/// RFC 7009 revocation of `token` by its own client: a write on the public listener.
async fn revoke(server: &Server, cred: &Cred, token: &str) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &cred.client_id)
        .append_pair("client_secret", &cred.secret)
        .append_pair("token", token)
        .finish();
    Reply::of(
        server
            .client
            .post(format!("{}/oauth/revoke", server.public))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("revoke"),
    )
    .await
}

/// What works again once the trouble is over: several concurrent writes (more than the pool
/// holds, so every pooled connection is used), a revocation and a token.
async fn assert_recovered(server: &Server, admin: &str, cred: &Cred) {
    let names: Vec<String> = (0..8).map(|i| format!("after-{i}")).collect();
    let writes = names.iter().map(|name| create_account(server, admin, name));
    for reply in futures_util::future::join_all(writes).await {
        assert_eq!(
            reply.status, 201,
            "a write after the trouble: {}",
            reply.text
        );
    }
    rename(server, admin, cred, "renamed after")
        .await
        .expect(200);
    let token = server.issue(cred).await;
    revoke(server, cred, &token).await.expect(200);
    server.issue(cred).await;
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(" 500 "), "a 500 in the access log:\n{log}");
}

#[tokio::test]
async fn a_write_lock_held_past_the_busy_timeout_makes_writes_503_and_they_recover() {
    let install = install();
    let admin = install.admin_token("ops");
    let server = install.serve().await;
    let cred = server.create_credential(&admin).await;
    let token = server.issue(&cred).await;

    // Another process's connection takes the write lock and keeps it.
    let mut locker = SqliteConnection::establish(database(&install).to_str().unwrap())
        .expect("open the database");
    locker
        .batch_execute("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE;")
        .expect("take the write lock");

    let (reply, took) = timed(create_account(&server, &admin, "during the lock")).await;
    assert_unavailable("POST /accounts", &reply, took);
    assert!(
        took >= Duration::from_millis(250),
        "refused before the busy timeout ({took:?}): it did not wait for the lock"
    );
    let (reply, took) = timed(rename(&server, &admin, &cred, "during the lock")).await;
    assert_unavailable("PATCH /credentials", &reply, took);
    let (reply, took) = timed(revoke(&server, &cred, &token)).await;
    assert_unavailable("POST /oauth/revoke", &reply, took);
    // Readers are not blocked by a writer in WAL mode: tokens and reads still work.
    server.issue(&cred).await;
    server
        .admin(
            &admin,
            Method::GET,
            &format!("/credentials/{}", cred.id),
            None,
        )
        .await
        .expect(200);

    locker.batch_execute("ROLLBACK").expect("release the lock");
    drop(locker);
    assert_recovered(&server, &admin, &cred).await;
}

/// Makes files unwritable for the server: read-only permission bits, or, as root (who ignores
/// them), the immutable attribute (`chattr +i`, which needs `CAP_LINUX_IMMUTABLE` and a file
/// system that has the attribute, such as ext4, xfs or btrfs); undone when dropped, also when the
/// test fails. Where neither works, the test says SKIPPED, which `TESSERA_REQUIRE_ALL=1` turns
/// into a failure.
struct ReadOnly {
    files: Vec<PathBuf>,
    immutable: bool,
}

impl ReadOnly {
    /// `Err` with the reason when this environment cannot make a file read-only for root.
    fn apply(files: &[PathBuf]) -> Result<Self, String> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let guard = Self {
            files: files.to_vec(),
            immutable: root,
        };
        for file in files {
            if root {
                let out = Command::new("chattr")
                    .arg("+i")
                    .arg(file)
                    .output()
                    .map_err(|e| format!("cannot run chattr: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "chattr +i {} failed: {}",
                        file.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
            } else {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(file, fs::Permissions::from_mode(0o444))
                    .map_err(|e| format!("chmod {}: {e}", file.display()))?;
            }
        }
        // The proof: this process has the server's privileges and cannot write them.
        for file in files {
            if fs::OpenOptions::new().append(true).open(file).is_ok() {
                return Err(format!("{} is still writable", file.display()));
            }
        }
        Ok(guard)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        for file in &self.files {
            if self.immutable {
                let _ = Command::new("chattr").arg("-i").arg(file).status();
            } else {
                use std::os::unix::fs::PermissionsExt;
                let _ = fs::set_permissions(file, fs::Permissions::from_mode(0o644));
            }
        }
    }
}

fn wal(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// Runs for real in CI: CI runs as root on this project's machines, whose file system (ext4)
/// has the immutable attribute, so `chattr +i` makes the files read-only even for root (checked:
/// `ReadOnly::apply` proves it by failing to open them for writing). Elsewhere, a machine that can
/// do neither prints SKIPPED, and CI's `TESSERA_REQUIRE_ALL=1` makes that a failure rather than a
/// pass that tested nothing.
#[tokio::test]
async fn a_read_only_database_makes_writes_503_and_they_recover() {
    let install = install();
    let admin = install.admin_token("ops");
    let server = install.serve().await;
    let cred = server.create_credential(&admin).await;
    let token = server.issue(&cred).await;

    // The database and its WAL (where writes go first). Not the -shm index: SQLite maps it into
    // memory, and an immutable mapping makes every SQLite user crash with SIGBUS — that is not
    // a read-only database but a broken machine.
    let db = database(&install);
    let files = [db.clone(), wal(&db)];
    assert!(files.iter().all(|f| f.exists()), "{files:?}");
    let read_only = match ReadOnly::apply(&files) {
        Ok(guard) => guard,
        Err(why) => {
            tessera::testing::skip(
                "a_read_only_database_makes_writes_503_and_they_recover",
                &format!("this environment cannot make the database read-only ({why})"),
            );
            return;
        }
    };

    let (reply, took) = timed(create_account(&server, &admin, "read-only")).await;
    assert_unavailable("POST /accounts", &reply, took);
    let (reply, took) = timed(rename(&server, &admin, &cred, "read-only")).await;
    assert_unavailable("PATCH /credentials", &reply, took);
    let (reply, took) = timed(revoke(&server, &cred, &token)).await;
    assert_unavailable("POST /oauth/revoke", &reply, took);
    server.issue(&cred).await;
    // A burst wider than the idle connections makes the pool open new ones while the file is
    // read-only: each request is a token or a 503, nothing else.
    let burst = (0..6).map(|_| timed(server.token(&cred.client_id, &cred.secret)));
    for (reply, took) in futures_util::future::join_all(burst).await {
        if reply.status != 200 {
            assert_unavailable("a token request in the burst", &reply, took);
        }
    }

    // A second server started now opens its connections while the file is read-only (SQLite
    // then opens it read-only, silently): it serves tokens, refuses writes with 503 ...
    let late = install.serve().await;
    late.issue(&cred).await;
    let (reply, took) = timed(create_account(&late, &admin, "read-only")).await;
    assert_unavailable(
        "POST /accounts on the server started during the trouble",
        &reply,
        took,
    );

    drop(read_only);
    assert_recovered(&server, &admin, &cred).await;
    // ... and recovers like the first: no connection opened read-only outlives the trouble.
    assert_recovered(&late, &admin, &cred).await;
}
