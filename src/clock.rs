//! The one source of "now" for the request path.
//!
//! Domain functions take the time as a parameter; the HTTP layer asks this clock. Tests hold a
//! clone and move it forward, so grace periods and expiry are tested without sleeping; a test
//! that needs to be exact within a second (the revocation boundary) freezes it at an instant.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use tokio::sync::Notify;

/// Marks a clock that is not frozen.
const RUNNING: i64 = i64::MIN;

#[derive(Debug)]
struct Shared {
    offset_seconds: AtomicI64,
    /// Microseconds since the epoch while frozen, else [`RUNNING`].
    frozen_micros: AtomicI64,
    /// Wakes [`Clock::sleep_until`] when a test moves a frozen clock.
    moved: Notify,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            offset_seconds: AtomicI64::new(0),
            frozen_micros: AtomicI64::new(RUNNING),
            moved: Notify::new(),
        }
    }
}

/// Wall-clock time plus an offset that only tests ever change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    shared: Arc<Shared>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The current time, as this process sees it, to the microsecond (what both databases
    /// store, so a value read back equals the value written).
    pub fn now(&self) -> DateTime<Utc> {
        let frozen = self.shared.frozen_micros.load(Ordering::Acquire);
        if frozen != RUNNING {
            return DateTime::from_timestamp_micros(frozen).unwrap_or_default();
        }
        let offset = self.shared.offset_seconds.load(Ordering::Relaxed);
        let now = Utc::now() + Duration::seconds(offset);
        now.duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward; for tests.
    pub fn advance(&self, seconds: i64) {
        let frozen = self.shared.frozen_micros.load(Ordering::Acquire);
        if frozen == RUNNING {
            self.shared
                .offset_seconds
                .fetch_add(seconds, Ordering::Relaxed);
        } else {
            self.set(self.now() + Duration::seconds(seconds));
        }
    }

    /// Stops this clock at `at`: it reads `at` until moved by [`Self::set`] or
    /// [`Self::advance`]; for tests that must place events within one second.
    pub fn set(&self, at: DateTime<Utc>) {
        self.shared
            .frozen_micros
            .store(at.timestamp_micros(), Ordering::Release);
        self.shared.moved.notify_waiters();
    }

    /// Waits until this clock reads `deadline` or later: a real sleep on a running clock, and on
    /// a frozen one until a test moves it there.
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        loop {
            let moved = self.shared.moved.notified();
            let now = self.now();
            if now >= deadline {
                return;
            }
            if self.shared.frozen_micros.load(Ordering::Acquire) == RUNNING {
                let wait = (deadline - now).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
            } else {
                moved.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frozen_clock_sleeps_until_it_is_moved() {
        let clock = Clock::system();
        let start = DateTime::from_timestamp(1_000, 250_000_000).unwrap();
        clock.set(start);
        assert_eq!(clock.now(), start);
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(start + Duration::seconds(1)).await })
        };
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(1);
        sleeper.await.unwrap();
        assert_eq!(clock.now(), start + Duration::seconds(1));
    }

    #[tokio::test]
    async fn a_running_clock_sleeps_for_real() {
        let clock = Clock::system();
        let deadline = clock.now() + Duration::milliseconds(20);
        clock.sleep_until(deadline).await;
        assert!(clock.now() >= deadline);
    }
}
