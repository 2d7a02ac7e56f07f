//! Rate limits of the token endpoint, as GCRA (the `governor` crate):
//!
//! - the failed-authentication throttle: after `failed_auth_per_client` failures from one
//!   client id, or `failed_auth_per_ip` from one source address, within the window, further
//!   attempts are refused until the budget refills. The check runs before any database or
//!   argon2 work, so a brute-force or garbage flood costs a map lookup per request;
//! - the per-credential request rate of the account's plan (`token_requests_per_minute`),
//!   checked once the client is authenticated, so nobody can use up another client's rate.
//!
//! Everything is in memory and per process: with several replicas behind a load balancer each
//! enforces its own share, which the README states.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use dashmap::DashMap;
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::state::keyed::DashMapStateStore;
use governor::{NotUntil, Quota, RateLimiter};

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::oauth_error::{OAuthError, RateLimit};
use crate::telemetry::{self, Refusal};

/// Keys remembered per limit. A flood of distinct keys beyond this is not tracked per key (the
/// other limit still applies), so memory stays bounded whatever a client sends.
const MAX_TRACKED_KEYS: usize = 100_000;

/// Longest client id kept as a key; real ones are far shorter.
const MAX_KEY_CHARS: usize = 64;

/// The application clock as governor sees it: time since the Unix epoch. Tests that move the
/// application clock move the rate limits with it.
#[derive(Clone, Debug)]
struct RateClock(Clock);

impl governor::clock::Clock for RateClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        let micros = self.0.now().timestamp_micros();
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }
}

type Limiter<MW = NoOpMiddleware<Duration>> =
    RateLimiter<String, DashMapStateStore<String>, RateClock, MW>;

/// At most [`MAX_KEY_CHARS`] characters of a client id, without copying.
fn bounded_key(client_id: &str) -> &str {
    match client_id.char_indices().nth(MAX_KEY_CHARS) {
        Some((end, _)) => &client_id[..end],
        None => client_id,
    }
}

/// Seconds to wait, rounded up, at least 1: what `Retry-After` says.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Failures of one kind of key (client id or address), and the keys refused until a time.
#[derive(Debug)]
struct FailureLimit {
    /// Reports the budget left after each failure, so the key is refused right after its N-th.
    failures: Limiter<StateInformationMiddleware>,
    /// Key → the instant its next attempt may be tried. Only keys that ran out of budget are
    /// here, so the per-request check is one lookup in a (normally empty) map.
    blocked: DashMap<String, Duration>,
}

impl FailureLimit {
    fn new(per_window: u32, window: Duration, clock: &RateClock) -> Option<Self> {
        let burst = NonZeroU32::new(per_window)?;
        let quota = Quota::with_period(window / per_window)?.allow_burst(burst);
        Some(Self {
            failures: RateLimiter::dashmap_with_clock(quota, clock.clone()).with_middleware(),
            blocked: DashMap::new(),
        })
    }

    fn check(&self, key: &str, now: Duration) -> Result<(), u64> {
        let until = self.blocked.get(key).map(|until| *until);
        match until {
            Some(until) if until > now => Err(whole_seconds(until - now)),
            Some(_) => {
                self.blocked.remove_if(key, |_, until| *until <= now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, key: &str) {
        if self.failures.len() >= MAX_TRACKED_KEYS {
            self.failures.retain_recent();
            if self.failures.len() >= MAX_TRACKED_KEYS {
                log::warn!(
                    "failed-authentication throttle is tracking too many keys; skipping one"
                );
                return;
            }
        }
        let key = key.to_owned();
        let not_until = match self.failures.check_key(&key) {
            // That failure used the last of the budget. A second look is refused without
            // changing the state, and says when the budget has a failure to spare again.
            Ok(left) if left.remaining_burst_capacity() == 0 => self.failures.check_key(&key).err(),
            Ok(_) => None,
            Err(not_until) => Some(not_until),
        };
        if let Some(not_until) = not_until {
            self.blocked.insert(key, not_until.earliest_possible());
        }
    }

    fn prune(&self, now: Duration) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        self.blocked.retain(|_, until| *until > now);
        self.blocked.shrink_to_fit();
    }
}

/// Every rate limit of the token endpoint; shared by all workers.
#[derive(Debug)]
pub struct Throttle {
    clock: RateClock,
    by_client: Option<FailureLimit>,
    by_ip: Option<FailureLimit>,
    /// Plan name → (its rate, a limiter keyed by credential id).
    requests: HashMap<String, (u32, Limiter)>,
}

impl Throttle {
    /// The limits of `settings`, on `clock`.
    pub fn new(settings: &Settings, clock: Clock) -> Self {
        let clock = RateClock(clock);
        let limits = &settings.rate_limits;
        let window = Duration::from_secs(limits.failed_auth_window_seconds.max(1));
        let requests = settings
            .plans
            .iter()
            .filter_map(|(name, plan)| {
                let rate = plan.token_requests_per_minute?;
                let quota = Quota::per_minute(NonZeroU32::new(rate)?);
                let limiter = RateLimiter::dashmap_with_clock(quota, clock.clone());
                Some((name.clone(), (rate, limiter)))
            })
            .collect();
        Self {
            by_client: FailureLimit::new(limits.failed_auth_per_client, window, &clock),
            by_ip: FailureLimit::new(limits.failed_auth_per_ip, window, &clock),
            requests,
            clock,
        }
    }

    fn now(&self) -> Duration {
        governor::clock::Clock::now(&self.clock)
    }

    fn keys<'a>(
        &'a self,
        client_id: Option<&'a str>,
        ip: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a FailureLimit, &'a str)> {
        let client = self.by_client.as_ref().zip(client_id.map(bounded_key));
        client.into_iter().chain(self.by_ip.as_ref().zip(ip))
    }

    /// Refuses an attempt from a client id or address that failed too often, before any other
    /// work is done for it.
    pub fn check_failures(
        &self,
        client_id: Option<&str>,
        ip: Option<&str>,
    ) -> Result<(), OAuthError> {
        let now = self.now();
        let by_client = self
            .by_client
            .as_ref()
            .zip(client_id.map(bounded_key))
            .and_then(|(limit, key)| limit.check(key, now).err());
        let by_ip = self
            .by_ip
            .as_ref()
            .zip(ip)
            .and_then(|(limit, key)| limit.check(key, now).err());
        // The limit that makes the client wait longest is the one that refused it.
        let refused = match (by_client, by_ip) {
            (Some(c), Some(i)) if i > c => Some((Refusal::FailedAuthIp, i)),
            (Some(c), _) => Some((Refusal::FailedAuthClient, c)),
            (None, Some(i)) => Some((Refusal::FailedAuthIp, i)),
            (None, None) => None,
        };
        match refused {
            Some((limit, retry_after)) => {
                telemetry::refusal(limit);
                Err(OAuthError::RateLimited {
                    limit: RateLimit::FailedAuthentication,
                    retry_after,
                })
            }
            None => Ok(()),
        }
    }

    /// Counts a failed authentication against the client id and the address.
    pub fn record_failure(&self, client_id: Option<&str>, ip: Option<&str>) {
        for (limit, key) in self.keys(client_id, ip) {
            limit.record(key);
        }
    }

    /// Counts one token request of an authenticated credential against its plan's rate.
    pub fn check_request(&self, plan: &str, credential_id: &str) -> Result<(), OAuthError> {
        let Some((per_minute, limiter)) = self.requests.get(plan) else {
            return Ok(());
        };
        limiter
            .check_key(&credential_id.to_owned())
            .map_err(|not_until: NotUntil<Duration>| {
                telemetry::refusal(Refusal::PlanRate);
                OAuthError::RateLimited {
                    limit: RateLimit::Requests {
                        per_minute: *per_minute,
                    },
                    retry_after: whole_seconds(not_until.wait_time_from(self.now())),
                }
            })
    }

    /// Forgets keys whose budget has refilled; run now and then so memory follows the load.
    pub fn prune(&self) {
        let now = self.now();
        for limit in self.by_client.iter().chain(&self.by_ip) {
            limit.prune(now);
        }
        for (_, limiter) in self.requests.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_client: u32, per_ip: u32, window: u64, rate: Option<u32>) -> (Throttle, Clock) {
        let mut settings = Settings::defaults().unwrap();
        settings.rate_limits.failed_auth_per_client = per_client;
        settings.rate_limits.failed_auth_per_ip = per_ip;
        settings.rate_limits.failed_auth_window_seconds = window;
        settings
            .plans
            .get_mut("standard")
            .unwrap()
            .token_requests_per_minute = rate;
        let clock = Clock::system();
        (Throttle::new(&settings, clock.clone()), clock)
    }

    fn retry_after(result: Result<(), OAuthError>) -> u64 {
        match result {
            Err(OAuthError::RateLimited { retry_after, .. }) => retry_after,
            other => panic!("expected rate_limited, got {other:?}"),
        }
    }

    #[test]
    fn a_client_id_is_refused_after_its_failures_and_refills_evenly() {
        // 3 failures per 30 s: a burst of 3, then one more every 10 s.
        let (t, clock) = throttle(3, 0, 30, None);
        for _ in 0..3 {
            assert!(t.check_failures(Some("ak_x"), Some("192.0.2.1")).is_ok());
            t.record_failure(Some("ak_x"), Some("192.0.2.1"));
        }
        // The third failure used the last of the budget; the next attempt is refused.
        let wait = retry_after(t.check_failures(Some("ak_x"), Some("192.0.2.9")));
        assert!((1..=10).contains(&wait), "{wait}");
        // Another client id is not affected, and without an ip limit neither is the address.
        assert!(t.check_failures(Some("ak_y"), Some("192.0.2.1")).is_ok());
        clock.advance(10);
        assert!(t.check_failures(Some("ak_x"), None).is_ok());
        t.record_failure(Some("ak_x"), None);
        assert!(t.check_failures(Some("ak_x"), None).is_err());
    }

    #[test]
    fn an_address_is_refused_after_failures_with_any_client_ids() {
        let (t, clock) = throttle(0, 2, 60, None);
        t.record_failure(Some("ak_a"), Some("198.51.100.7"));
        t.record_failure(Some("ak_b"), Some("198.51.100.7"));
        assert!(t
            .check_failures(Some("ak_c"), Some("198.51.100.7"))
            .is_err());
        assert!(t.check_failures(Some("ak_c"), Some("198.51.100.8")).is_ok());
        clock.advance(31);
        assert!(t.check_failures(Some("ak_c"), Some("198.51.100.7")).is_ok());
    }

    #[test]
    fn successes_never_count_and_zero_turns_a_limit_off() {
        let (t, _) = throttle(0, 0, 60, None);
        for _ in 0..1000 {
            t.record_failure(Some("ak_x"), Some("192.0.2.1"));
        }
        assert!(t.check_failures(Some("ak_x"), Some("192.0.2.1")).is_ok());
        let (t, _) = throttle(1, 1, 60, None);
        for _ in 0..1000 {
            assert!(t.check_failures(Some("ak_x"), Some("192.0.2.1")).is_ok());
        }
    }

    #[test]
    fn a_credential_gets_its_plans_rate_per_minute() {
        let (t, clock) = throttle(0, 0, 60, Some(6));
        for _ in 0..6 {
            assert!(t.check_request("standard", "cred-1").is_ok());
        }
        let err = t.check_request("standard", "cred-1").unwrap_err();
        assert_eq!(
            err,
            OAuthError::RateLimited {
                limit: RateLimit::Requests { per_minute: 6 },
                retry_after: 10,
            }
        );
        assert!(t.check_request("standard", "cred-2").is_ok());
        // A plan without a rate has no limit.
        for _ in 0..100 {
            assert!(t.check_request("enterprise-unknown", "cred-1").is_ok());
        }
        clock.advance(10);
        assert!(t.check_request("standard", "cred-1").is_ok());
    }

    #[test]
    fn pruning_forgets_refilled_keys_and_keeps_blocked_ones() {
        let (t, clock) = throttle(1, 0, 60, None);
        t.record_failure(Some("ak_gone"), None);
        // governor keeps a key until one emission interval after its budget refilled.
        clock.advance(121);
        t.record_failure(Some("ak_blocked"), None);
        t.prune();
        assert_eq!(t.by_client.as_ref().unwrap().failures.len(), 1);
        assert!(t.check_failures(Some("ak_blocked"), None).is_err());
    }

    #[test]
    fn long_client_ids_are_bounded_keys() {
        let (t, _) = throttle(1, 0, 60, None);
        let long = "x".repeat(10_000);
        t.record_failure(Some(&long), None);
        assert!(t.check_failures(Some(&long), None).is_err());
        let key_len = t
            .by_client
            .as_ref()
            .unwrap()
            .blocked
            .iter()
            .next()
            .unwrap()
            .key()
            .len();
        assert!(key_len <= MAX_KEY_CHARS, "{key_len}");
    }
}
