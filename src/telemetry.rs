//! Prometheus metrics: one recorder per process, rendered at `GET /metrics` on the admin listener.
//!
//! Every label value is a `&'static str` from a fixed set named here or in
//! [`crate::domain::oauth_error`]: never a client id, account id, address or anything else a
//! client chooses, so the number of series is fixed. Counters on the token path are the
//! `metrics` macros with static keys: a lookup in the recorder's map, no allocation.
//!
//! The recorder is global to the process (the `metrics` facade allows one). Tests start many
//! servers in one process, so [`install`] is idempotent and every server renders the same
//! recorder: counters are process-wide, and tests look at increases.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::crypto::keys::KeyState;
use crate::domain::oauth_error::OAuthError;
use crate::state::AppState;

/// `tessera_token_requests_total{outcome}`
pub const TOKEN_REQUESTS: &str = "tessera_token_requests_total";
/// `tessera_token_request_duration_seconds`
pub const TOKEN_REQUEST_DURATION: &str = "tessera_token_request_duration_seconds";
/// `tessera_secret_verifications_total{result,cached}`
pub const SECRET_VERIFICATIONS: &str = "tessera_secret_verifications_total";
/// `tessera_hash_queue_depth`
pub const HASH_QUEUE_DEPTH: &str = "tessera_hash_queue_depth";
/// `tessera_db_pool_connections{state}`
pub const DB_POOL_CONNECTIONS: &str = "tessera_db_pool_connections";
/// `tessera_revocation_feed_entries{kind}`
pub const FEED_ENTRIES: &str = "tessera_revocation_feed_entries";
/// `tessera_throttle_refusals_total{limit}`
pub const THROTTLE_REFUSALS: &str = "tessera_throttle_refusals_total";
/// `tessera_signing_keys{state}`
pub const SIGNING_KEYS: &str = "tessera_signing_keys";

/// Token-request outcomes besides the error codes.
pub const OUTCOME_ISSUED: &str = "issued";
/// A token handed back under `tokens.reuse_seconds`.
pub const OUTCOME_REUSED: &str = "reused";

/// Every `outcome` label value.
pub const OUTCOMES: [&str; 11] = [
    OUTCOME_ISSUED,
    OUTCOME_REUSED,
    "invalid_request",
    "invalid_client",
    "unsupported_grant_type",
    "invalid_target",
    "invalid_scope",
    "unauthorized_client",
    "rate_limited",
    "quota_exceeded",
    "temporarily_unavailable",
];

/// The limits `tessera_throttle_refusals_total` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Failed authentications of one client id.
    FailedAuthClient,
    /// Failed authentications from one address.
    FailedAuthIp,
    /// The plan's `token_requests_per_minute`.
    PlanRate,
    /// The plan's `monthly_token_quota`.
    MonthlyQuota,
}

impl Refusal {
    /// The `limit` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::FailedAuthClient => "failed_auth_client",
            Self::FailedAuthIp => "failed_auth_ip",
            Self::PlanRate => "plan_rate",
            Self::MonthlyQuota => "monthly_quota",
        }
    }

    const ALL: [Self; 4] = [
        Self::FailedAuthClient,
        Self::FailedAuthIp,
        Self::PlanRate,
        Self::MonthlyQuota,
    ];
}

/// The `kind` label values of `tessera_revocation_feed_entries`.
pub const FEED_KINDS: [&str; 4] = ["credential", "account", "workspace", "token"];
/// The `state` label values of `tessera_signing_keys`, as `tessera keys list` shows them.
pub const KEY_STATES: [&str; 3] = ["signing", "published", "retired"];

/// Histogram buckets of the token-request duration: 1 ms to 5 s.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder on first call and returns its handle; later calls return the
/// same handle. Every family is registered at once with its fixed label values, so a scrape
/// shows all of them (at zero) before the first request.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(TOKEN_REQUEST_DURATION.to_owned()),
                &DURATION_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            log::warn!("a metrics recorder was already installed; /metrics shows nothing");
        }
        describe();
        register();
        let upkeep = handle.clone();
        // Histogram samples are held until folded into buckets; a process nobody scrapes must
        // not keep them all.
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
        if let Err(e) = spawned {
            log::warn!("cannot start the metrics upkeep thread: {e}");
        }
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        TOKEN_REQUESTS,
        "Token requests by outcome: issued, reused, or the OAuth error code."
    );
    metrics::describe_histogram!(
        TOKEN_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a token request."
    );
    metrics::describe_counter!(
        SECRET_VERIFICATIONS,
        "Client-secret verifications by result (match, mismatch) and whether a remembered \
         verification answered (cached=true) or argon2 ran (cached=false)."
    );
    metrics::describe_gauge!(
        HASH_QUEUE_DEPTH,
        "argon2 verifications waiting for a worker or running."
    );
    metrics::describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Pooled database connections by state (idle, in_use), at scrape time."
    );
    metrics::describe_gauge!(
        FEED_ENTRIES,
        "Entries in the revocation feed by kind, as of its last build on this replica."
    );
    metrics::describe_counter!(
        THROTTLE_REFUSALS,
        "Requests refused by a rate limit (429) or the monthly quota (402), by limit."
    );
    metrics::describe_gauge!(
        SIGNING_KEYS,
        "Loaded signing keys by state (signing, published, retired), at scrape time."
    );
}

/// Every series at zero, so each family is present from the first scrape.
fn register() {
    for outcome in OUTCOMES {
        metrics::counter!(TOKEN_REQUESTS, "outcome" => outcome).absolute(0);
    }
    let _ = metrics::histogram!(TOKEN_REQUEST_DURATION);
    for result in ["match", "mismatch"] {
        for cached in ["true", "false"] {
            metrics::counter!(SECRET_VERIFICATIONS, "result" => result, "cached" => cached)
                .absolute(0);
        }
    }
    metrics::gauge!(HASH_QUEUE_DEPTH).set(0.0);
    for state in ["idle", "in_use"] {
        metrics::gauge!(DB_POOL_CONNECTIONS, "state" => state).set(0.0);
    }
    for kind in FEED_KINDS {
        metrics::gauge!(FEED_ENTRIES, "kind" => kind).set(0.0);
    }
    for limit in Refusal::ALL {
        metrics::counter!(THROTTLE_REFUSALS, "limit" => limit.label()).absolute(0);
    }
    for state in KEY_STATES {
        metrics::gauge!(SIGNING_KEYS, "state" => state).set(0.0);
    }
}

/// Counts one token request and its duration.
pub fn token_request(outcome: &'static str, elapsed: Duration) {
    metrics::counter!(TOKEN_REQUESTS, "outcome" => outcome).increment(1);
    metrics::histogram!(TOKEN_REQUEST_DURATION).record(elapsed.as_secs_f64());
}

/// The `outcome` of a token request's result.
pub fn outcome(result: Result<bool, &OAuthError>) -> &'static str {
    match result {
        Ok(true) => OUTCOME_REUSED,
        Ok(false) => OUTCOME_ISSUED,
        Err(e) => e.code(),
    }
}

/// Counts one client-secret verification.
pub fn secret_verification(matched: bool, cached: bool) {
    let result = if matched { "match" } else { "mismatch" };
    let cached = if cached { "true" } else { "false" };
    metrics::counter!(SECRET_VERIFICATIONS, "result" => result, "cached" => cached).increment(1);
}

/// Counts one refusal by `limit`.
pub fn refusal(limit: Refusal) {
    metrics::counter!(THROTTLE_REFUSALS, "limit" => limit.label()).increment(1);
}

/// One argon2 verification waiting or running, for as long as it lives.
#[derive(Debug)]
pub struct HashQueued(());

impl HashQueued {
    /// Counts one more in the queue.
    pub fn enter() -> Self {
        metrics::gauge!(HASH_QUEUE_DEPTH).increment(1.0);
        Self(())
    }
}

impl Drop for HashQueued {
    fn drop(&mut self) {
        metrics::gauge!(HASH_QUEUE_DEPTH).decrement(1.0);
    }
}

/// Sets the feed gauges from the entries of a new build, counted by kind in [`FEED_KINDS`]
/// order.
pub fn feed_entries(counts: [usize; 4]) {
    for (kind, count) in FEED_KINDS.into_iter().zip(counts) {
        metrics::gauge!(FEED_ENTRIES, "kind" => kind).set(count as f64);
    }
}

/// The text exposition of every metric, with the gauges read at scrape time (the pool, the
/// keys) brought up to date first.
pub fn render(state: &AppState) -> String {
    let handle = install();
    let pool = state.pool.state();
    let idle = pool.idle_connections;
    let in_use = pool.connections.saturating_sub(idle);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));

    let settings = &state.settings;
    let keys = state.keys.current();
    let mut by_state = [0u32; 3];
    for (_, key_state) in keys.states(
        state.clock.now().timestamp(),
        settings.tokens.lifetime_seconds,
        settings.keys.leeway_seconds,
    ) {
        let i = match key_state {
            KeyState::Signing => 0,
            KeyState::Published => 1,
            KeyState::Retired => 2,
        };
        by_state[i] += 1;
    }
    for (label, count) in KEY_STATES.into_iter().zip(by_state) {
        metrics::gauge!(SIGNING_KEYS, "state" => label).set(f64::from(count));
    }
    handle.render()
}
