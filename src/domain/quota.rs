//! Monthly token quotas: which month a token counts in, when the count resets, and the decision.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::oauth_error::OAuthError;

/// The UTC month `at` falls in, as `YYYY-MM`: the key tokens are counted under.
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

/// Whether `month` is a well-formed `YYYY-MM`.
pub fn is_month(month: &str) -> bool {
    let b = month.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit)
        && matches!(month[5..].parse::<u32>(), Ok(1..=12))
}

/// The first instant of `month` (`YYYY-MM`), if it is one.
pub fn month_start(month: &str) -> Option<DateTime<Utc>> {
    if !is_month(month) {
        return None;
    }
    let year = month[..4].parse().ok()?;
    let number = month[5..].parse().ok()?;
    Utc.with_ymd_and_hms(year, number, 1, 0, 0, 0).single()
}

/// The first instant of the UTC month after the one `at` falls in: when the count starts again.
pub fn resets_at(at: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// Refuses a new token when `used` tokens already reach the account's `quota` (`None`: no
/// quota). `now` gives the reset time the error reports.
pub fn check(used: u64, quota: Option<u64>, now: DateTime<Utc>) -> Result<(), OAuthError> {
    match quota {
        Some(quota) if used >= quota => {
            let resets = resets_at(now);
            Err(OAuthError::QuotaExceeded {
                quota,
                resets_at: resets.timestamp(),
                retry_after: u64::try_from((resets - now).num_seconds())
                    .unwrap_or(0)
                    .max(1),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn tokens_count_in_their_utc_month() {
        assert_eq!(month_of(at("2026-12-31T23:59:59Z")), "2026-12");
        assert_eq!(month_of(at("2027-01-01T00:00:00Z")), "2027-01");
        // 23:30 on the 31st in UTC-2 is already January in UTC.
        assert_eq!(month_of(at("2026-12-31T23:30:00-02:00")), "2027-01");
    }

    #[test]
    fn the_count_resets_at_the_start_of_the_next_utc_month() {
        assert_eq!(
            resets_at(at("2026-12-15T10:00:00Z")),
            at("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            resets_at(at("2027-02-28T23:59:59Z")),
            at("2027-03-01T00:00:00Z")
        );
        assert_eq!(
            resets_at(at("2027-01-01T00:00:00Z")),
            at("2027-02-01T00:00:00Z")
        );
    }

    #[test]
    fn a_month_starts_at_midnight_on_the_first() {
        assert_eq!(month_start("2026-12"), Some(at("2026-12-01T00:00:00Z")));
        assert_eq!(month_start("2026-13"), None);
        assert_eq!(
            resets_at(month_start("2026-12").unwrap()),
            at("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn months_are_validated() {
        for good in ["2026-01", "2026-12", "0001-09"] {
            assert!(is_month(good), "{good}");
        }
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-01",
            "2026/01",
            "2026-01-01",
            "２０２６-01",
            "",
        ] {
            assert!(!is_month(bad), "{bad}");
        }
    }

    #[test]
    fn the_quota_refuses_only_once_used_up() {
        let now = at("2026-12-15T10:00:00Z");
        assert!(check(0, None, now).is_ok());
        assert!(check(u64::MAX, None, now).is_ok());
        assert!(check(9, Some(10), now).is_ok());
        assert_eq!(
            check(10, Some(10), now),
            Err(OAuthError::QuotaExceeded {
                quota: 10,
                resets_at: at("2027-01-01T00:00:00Z").timestamp(),
                retry_after: 16 * 86_400 + 14 * 3600,
            })
        );
        assert!(check(11, Some(10), now).is_err());
        assert!(check(0, Some(0), now).is_err());
    }
}
