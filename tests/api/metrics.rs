//! `GET /metrics` on the admin listener: every family is there with its HELP and TYPE, token
//! requests move the right counters, `metrics.require_token` asks for an admin token, and no
//! label carries a client-chosen value.
//!
//! The recorder is one per process and the tests of this binary run side by side, so counters
//! are checked for increases, never for absolute values.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use tessera::config::Settings;

use crate::helpers::TestApp;

/// Every family and its type.
const FAMILIES: [(&str, &str); 8] = [
    ("tessera_token_requests_total", "counter"),
    ("tessera_token_request_duration_seconds", "histogram"),
    ("tessera_secret_verifications_total", "counter"),
    ("tessera_hash_queue_depth", "gauge"),
    ("tessera_db_pool_connections", "gauge"),
    ("tessera_revocation_feed_entries", "gauge"),
    ("tessera_throttle_refusals_total", "counter"),
    ("tessera_signing_keys", "gauge"),
];

/// One scrape, parsed from the text exposition format.
struct Scrape {
    help: BTreeSet<String>,
    types: BTreeMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut scrape = Self {
            help: BTreeSet::new(),
            types: BTreeMap::new(),
            samples: Vec::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                assert!(!help.trim().is_empty(), "{line}");
                scrape.help.insert(name.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                scrape.types.insert(name.to_owned(), kind.to_owned());
            } else if line.starts_with('#') {
                continue;
            } else {
                scrape.samples.push(parse_sample(line));
            }
        }
        scrape
    }

    /// The sum of the samples named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert!(!found.is_empty(), "no sample {name}{labels:?}");
        found.iter().sum()
    }

    fn label_values(&self) -> BTreeSet<&str> {
        self.samples
            .iter()
            .flat_map(|(_, labels, _)| labels.values().map(String::as_str))
            .collect()
    }
}

/// `name{k="v",…} value` or `name value`.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let (series, value) = line.rsplit_once(' ').unwrap();
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value: {line}"));
    let mut labels = BTreeMap::new();
    let name = match series.split_once('{') {
        None => series,
        Some((name, rest)) => {
            let mut rest = rest.strip_suffix('}').unwrap();
            while !rest.is_empty() {
                let (key, after) = rest.split_once("=\"").unwrap();
                // Values Tessera writes hold no quote or backslash; a test would catch one.
                let (value, after) = after.split_once('"').unwrap();
                labels.insert(key.to_owned(), value.to_owned());
                rest = after.strip_prefix(',').unwrap_or(after);
            }
            name
        }
    };
    (name.to_owned(), labels, value)
}

async fn get_metrics(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/metrics", app.admin));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn scrape(app: &TestApp) -> Scrape {
    let response = get_metrics(app, None).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Scrape::parse(&response.text().await.unwrap())
}

/// The standard plan allows 2 token requests a minute per credential.
pub fn tight_plan(settings: &mut Settings) {
    settings
        .plans
        .get_mut("standard")
        .unwrap()
        .token_requests_per_minute = Some(2);
}

pub fn require_token(settings: &mut Settings) {
    settings.metrics.require_token = true;
}

async fn families_are_present_and_token_requests_move_their_counters(app: TestApp) {
    let before = scrape(&app).await;
    for (family, kind) in FAMILIES {
        assert!(before.help.contains(family), "no HELP for {family}");
        assert_eq!(
            before.types.get(family).map(String::as_str),
            Some(kind),
            "TYPE of {family}"
        );
    }
    let outcome = |s: &Scrape, o: &str| s.value("tessera_token_requests_total", &[("outcome", o)]);
    let verified = |s: &Scrape, result: &str, cached: &str| {
        s.value(
            "tessera_secret_verifications_total",
            &[("result", result), ("cached", cached)],
        )
    };
    let refusals =
        |s: &Scrape, limit: &str| s.value("tessera_throttle_refusals_total", &[("limit", limit)]);
    let requests = |s: &Scrape| s.value("tessera_token_request_duration_seconds_count", &[]);

    let (account, cred) = app.account_with_key().await;
    // Issued (argon2, then the remembered verification), a wrong secret, then the plan's rate.
    app.token(&cred).await;
    // A bad checksum: invalid_client before any database or argon2 work.
    let (kept, last) = cred.secret.split_at(cred.secret.len() - 1);
    // Another last character: replacing it with one it already is would change nothing.
    let wrong = format!("{kept}{}", if last == "x" { "y" } else { "x" });
    let refused = app.token_json(&cred.client_id, &wrong, json!({})).await;
    assert_eq!(refused.status(), 401);
    app.token(&cred).await;
    let limited = app
        .token_json(&cred.client_id, &cred.secret, json!({}))
        .await;
    assert_eq!(limited.status(), 429);
    // The feed is built once, so its gauges are set by this server too.
    let feed = app
        .client
        .get(format!("{}/oauth/revocations", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);

    let after = scrape(&app).await;
    let grew = |what: &str, b: f64, a: f64, by: f64| {
        assert!(a - b >= by, "{what}: {b} -> {a}, expected +{by} at least");
    };
    grew(
        "issued",
        outcome(&before, "issued"),
        outcome(&after, "issued"),
        2.0,
    );
    grew(
        "invalid_client",
        outcome(&before, "invalid_client"),
        outcome(&after, "invalid_client"),
        1.0,
    );
    grew(
        "rate_limited",
        outcome(&before, "rate_limited"),
        outcome(&after, "rate_limited"),
        1.0,
    );
    grew(
        "plan_rate refusals",
        refusals(&before, "plan_rate"),
        refusals(&after, "plan_rate"),
        1.0,
    );
    grew(
        "argon2 matches",
        verified(&before, "match", "false"),
        verified(&after, "match", "false"),
        1.0,
    );
    grew(
        "remembered matches",
        verified(&before, "match", "true"),
        verified(&after, "match", "true"),
        1.0,
    );
    // The wrong secret above fails its checksum, so no verification ran for it: mismatches
    // are checked with a well-formed one in the next test.
    grew("duration count", requests(&before), requests(&after), 4.0);
    assert!(
        after.value(
            "tessera_token_request_duration_seconds_bucket",
            &[("le", "+Inf")]
        ) >= requests(&after)
    );
    assert!(after.value("tessera_signing_keys", &[("state", "signing")]) >= 1.0);
    for state in ["published", "retired"] {
        after.value("tessera_signing_keys", &[("state", state)]);
    }
    for state in ["idle", "in_use"] {
        after.value("tessera_db_pool_connections", &[("state", state)]);
    }
    for kind in ["credential", "account", "workspace", "token"] {
        after.value("tessera_revocation_feed_entries", &[("kind", kind)]);
    }
    after.value("tessera_hash_queue_depth", &[]);

    // No label carries an id or anything a client sent.
    let values = after.label_values();
    for chosen in [
        cred.client_id.as_str(),
        account.as_str(),
        cred.id.as_str(),
        "127.0.0.1",
    ] {
        assert!(
            !values.iter().any(|v| v.contains(chosen)),
            "a label carries {chosen}: {values:?}"
        );
    }
}

async fn a_wrong_secret_counts_as_a_mismatch(app: TestApp) {
    let before = scrape(&app).await;
    let (_, cred) = app.account_with_key().await;
    // A well-formed secret of another credential: looked up, and argon2 says no.
    let (_, other) = app.account_with_key().await;
    let refused = app
        .token_json(&cred.client_id, &other.secret, json!({}))
        .await;
    assert_eq!(refused.status(), 401);
    let after = scrape(&app).await;
    let mismatches = |s: &Scrape| {
        s.value(
            "tessera_secret_verifications_total",
            &[("result", "mismatch"), ("cached", "false")],
        )
    };
    assert!(mismatches(&after) - mismatches(&before) >= 1.0);
}

async fn metrics_can_require_an_admin_token(app: TestApp) {
    let refused = get_metrics(&app, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(TestApp::expect(refused, 401).await["error"], "unauthorized");
    let garbage = get_metrics(&app, Some("tat_nonsense")).await;
    assert_eq!(garbage.status(), 401);
    let ok = get_metrics(&app, Some(&app.admin_token)).await;
    assert_eq!(ok.status(), 200);
    assert!(ok
        .text()
        .await
        .unwrap()
        .contains("# TYPE tessera_token_requests_total counter"));
    // A token scoped to one account reads the metrics too.
    let account = app.create_account("Scoped").await;
    let pool = app.state.pool.clone();
    let scoped = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tessera::service::admin::admin_tokens::create(
            &mut conn,
            "scoped",
            Some(&account),
            chrono::Utc::now(),
        )
        .unwrap()
        .expose()
        .to_owned()
    })
    .await
    .unwrap();
    assert_eq!(get_metrics(&app, Some(&scoped)).await.status(), 200);
}

async fn metrics_are_open_by_default(app: TestApp) {
    assert_eq!(get_metrics(&app, None).await.status(), 200);
}

backend_tests!(
    families_are_present_and_token_requests_move_their_counters with crate::metrics::tight_plan,
    a_wrong_secret_counts_as_a_mismatch,
    metrics_can_require_an_admin_token with crate::metrics::require_token,
    metrics_are_open_by_default,
);
