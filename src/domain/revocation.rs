//! When an issued, unexpired token is no longer valid (the revocation feed's rule), and the
//! boundary rule that makes it exact.
//!
//! A credential, account or workspace entry revokes every token whose `iat` is *earlier* than
//! its `revoked_before`. Times on the wire are whole seconds, so `revoked_before` is the event's
//! second **plus one**: a token signed earlier in that second is covered. A token requested for
//! the same subject later in that second must then not carry that second as its `iat`: the
//! issuer waits for the next second to begin before it signs ([`must_wait_until`]). `iat` is
//! never in the future.
//!
//! An entry matters as long as a validator could still accept a token it revokes: a token's
//! `exp` plus the validators' leeway. [`entry_expires_at`] and [`token_entry_expires_at`] say
//! when that is.

use chrono::{DateTime, Utc};

/// What the issuer knows about a token's subject when asked.
#[derive(Debug, Clone, Default)]
pub struct SubjectState {
    /// The credential still exists and is not deactivated.
    pub credential_active: bool,
    /// The credential's latest revocation event (deactivation, a rotation with
    /// `revoke_tokens`, a role change, the per-credential cap).
    pub credential_revoked_at: Option<DateTime<Utc>>,
    /// The account's suspension, while it is suspended.
    pub account_suspended_at: Option<DateTime<Utc>>,
    /// The workspace's suspension (workspace keys), while it is suspended.
    pub workspace_suspended_at: Option<DateTime<Utc>>,
    /// The token's `jti` was revoked (RFC 7009).
    pub jti_revoked: bool,
}

/// The feed's `revoked_before` for an event at `at`: the next whole second, so that every token
/// issued up to the event — also earlier in the same second — has an earlier `iat`.
pub fn revoked_before_seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp() + 1
}

/// Whether a token issued at `iat` (Unix seconds) is revoked: the same rule an offline
/// validator applies to the feed.
pub fn is_revoked(iat: i64, subject: &SubjectState) -> bool {
    let before = |at: Option<DateTime<Utc>>| at.is_some_and(|at| revoked_before_seconds(at) > iat);
    !subject.credential_active
        || subject.jti_revoked
        || before(subject.credential_revoked_at)
        || before(subject.account_suspended_at)
        || before(subject.workspace_suspended_at)
}

/// When a token for a subject last revoked at `revoked_at` may be signed, if not `now`: the
/// start of the second after the event (the boundary rule). `None`: sign now.
pub fn must_wait_until(
    revoked_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let revoked_before = revoked_before_seconds(revoked_at?);
    (revoked_before > now.timestamp())
        .then(|| DateTime::from_timestamp(revoked_before, 0))
        .flatten()
}

/// The Unix second from which a subject entry (`revoked_before`) no longer matters: every
/// token it revokes has expired, leeway included.
pub fn entry_expires_at(revoked_before: i64, lifetime: i64, leeway: i64) -> i64 {
    revoked_before + lifetime + leeway
}

/// The Unix second from which a `jti` entry no longer matters.
pub fn token_entry_expires_at(exp: i64, leeway: i64) -> i64 {
    exp + leeway
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn active() -> SubjectState {
        SubjectState {
            credential_active: true,
            ..SubjectState::default()
        }
    }

    #[test]
    fn every_token_of_the_event_second_is_revoked() {
        let rotated = Utc.timestamp_opt(1_000, 700_000_000).unwrap();
        let s = SubjectState {
            credential_revoked_at: Some(rotated),
            ..active()
        };
        assert!(is_revoked(999, &s));
        assert!(is_revoked(1_000, &s));
        assert!(!is_revoked(1_001, &s));
    }

    #[test]
    fn a_token_after_an_event_in_the_same_second_waits_for_the_next() {
        let event = Utc.timestamp_opt(1_000, 100_000_000).unwrap();
        let later = Utc.timestamp_opt(1_000, 900_000_000).unwrap();
        let next = Utc.timestamp_opt(1_001, 0).unwrap();
        assert_eq!(must_wait_until(Some(event), later), Some(next));
        assert_eq!(must_wait_until(Some(event), next), None);
        assert_eq!(must_wait_until(None, later), None);
        // A token signed once the wait is over is valid.
        let s = SubjectState {
            credential_revoked_at: Some(event),
            ..active()
        };
        assert!(!is_revoked(next.timestamp(), &s));
    }

    #[test]
    fn deactivation_suspension_and_jti_revoke() {
        assert!(!is_revoked(5, &active()));
        assert!(is_revoked(5, &SubjectState::default()));
        let at = Some(Utc.timestamp_opt(5, 0).unwrap());
        for s in [
            SubjectState {
                account_suspended_at: at,
                ..active()
            },
            SubjectState {
                workspace_suspended_at: at,
                ..active()
            },
            SubjectState {
                jti_revoked: true,
                ..active()
            },
        ] {
            assert!(is_revoked(5, &s));
        }
    }

    #[test]
    fn entries_last_as_long_as_a_validator_could_accept_their_tokens() {
        // The last token an entry revokes was issued at revoked_before - 1 and is accepted
        // until its exp + leeway, inclusive for some validators.
        let (lifetime, leeway) = (86_400, 60);
        let revoked_before = 1_000;
        let last_exp = revoked_before - 1 + lifetime;
        assert!(entry_expires_at(revoked_before, lifetime, leeway) > last_exp + leeway);
        assert_eq!(token_entry_expires_at(2_000, 60), 2_060);
    }
}
