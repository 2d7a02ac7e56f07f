//! Running `tessera` as a process, by concern: [`process`] (one-shot commands and the
//! installation they run in), [`server`] (`tessera serve` and talking to it), [`jwt`] (tokens
//! checked against the JWKS) and [`postgres`] (throwaway databases and clusters). What they
//! share is here: bounded waits and time checks.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

mod jwt;
#[cfg(feature = "postgres")]
mod postgres;
mod process;
mod server;

pub use jwt::{kid_of, kids, verify};
#[cfg(feature = "postgres")]
pub use postgres::{postgres_or_skip, Cluster, PgDatabase};
pub use process::{Install, Run};
pub use server::{Cred, Reply, Server, STOP_LIMIT};

/// The longest any poll loop waits.
pub const POLL_LIMIT: Duration = Duration::from_secs(15);

/// Now, for bracketing what a server records.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// A bounded poll loop: `tick` sleeps 100 ms, or panics naming what never happened.
pub struct Deadline {
    until: Instant,
    what: String,
}

impl Deadline {
    pub fn after(limit: Duration, what: impl Into<String>) -> Self {
        Self {
            until: Instant::now() + limit,
            what: what.into(),
        }
    }

    pub async fn tick(&self) {
        assert!(
            Instant::now() < self.until,
            "gave up waiting for {}",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A time field of an admin API body.
pub fn time_field(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .map(|s| {
            DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Asserts `t` lies in `[from, to]`, give or take the microsecond rounding of the database.
#[track_caller]
pub fn assert_between(t: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) {
    let slack = chrono::Duration::milliseconds(1);
    assert!(
        from - slack <= t && t <= to + slack,
        "{t} is not between {from} and {to}"
    );
}

/// Parses `tessera keys list`: (kid, state) per key, oldest first.
pub fn key_list(run: &Run) -> Vec<(String, String)> {
    run.stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            assert!(cols.len() >= 4, "unexpected keys list line: {l:?}");
            (cols[0].to_owned(), cols[2].to_owned())
        })
        .collect()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}
