//! Times a guard's revocation-feed polls against a running issuer: complete polls (a new guard
//! each), polls with nothing new (`304`), and polls right after one change (a delta). Used by
//! `bench/revocation.sh`; prints one `kind ms entries` line per poll.
//!
//! ```text
//! ISSUER_URL=http://127.0.0.1:18080 ADMIN_URL=http://127.0.0.1:18081 ADMIN_TOKEN=… \
//!     CREDENTIALS=id1,id2,… cargo run --release -p tessera-guard --example feed_poll
//! ```
//!
//! Each id of `CREDENTIALS` is deactivated through the admin API before one delta poll.

use std::time::Instant;

use tessera_guard::{Guard, GuardConfig};

const AUDIENCE: &str = "https://api.example.test/";
const ROUNDS: usize = 10;

async fn timed_poll(guard: &Guard, kind: &str) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    guard.poll_revocations_now().await?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!("{kind} {ms:.2} {}", guard.revocation_entries());
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let issuer = var("ISSUER_URL")?;
    let admin = var("ADMIN_URL")?;
    let admin_token = var("ADMIN_TOKEN")?;
    let credentials = var("CREDENTIALS")?;
    let mut config = GuardConfig::new(issuer, AUDIENCE);
    config.max_feed_bytes = 256 * 1024 * 1024;

    for _ in 0..ROUNDS {
        timed_poll(&Guard::new(config.clone())?, "complete").await?;
    }
    let guard = Guard::new(config)?;
    timed_poll(&guard, "first").await?;
    for _ in 0..ROUNDS {
        timed_poll(&guard, "not_modified").await?;
    }
    let client = reqwest::Client::new();
    for id in credentials
        .split(',')
        .filter(|s| !s.is_empty())
        .take(ROUNDS)
    {
        client
            .post(format!("{admin}/admin/v1/credentials/{id}/deactivate"))
            .bearer_auth(&admin_token)
            .send()
            .await?
            .error_for_status()?;
        timed_poll(&guard, "delta").await?;
    }
    Ok(())
}
