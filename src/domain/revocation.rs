//! When an issued, unexpired token is no longer valid (SPEC §3 revocation feed).
//!
//! A credential, account or workspace entry revokes every token whose `iat` is *earlier* than its
//! `revoked_before`. Times are whole seconds, so a token issued in the same second as a rotation
//! stays valid: the new token a client fetches right after a rotation must work, and the price is
//! that a token issued earlier in that same second does too.

use chrono::{DateTime, Utc};

/// What the issuer knows about a token's subject when asked.
#[derive(Debug, Clone, Default)]
pub struct SubjectState {
    /// The credential still exists and is not deactivated.
    pub credential_active: bool,
    /// Tokens of the credential issued before this are revoked.
    pub credential_revoked_before: Option<DateTime<Utc>>,
    /// The account is suspended.
    pub account_suspended: bool,
    /// The workspace (workspace keys) is suspended.
    pub workspace_suspended: bool,
    /// The token's `jti` was revoked (RFC 7009).
    pub jti_revoked: bool,
}

/// A feed timestamp: whole Unix seconds, rounded down.
pub fn revoked_before_seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

/// Whether a token issued at `iat` (Unix seconds) is revoked.
pub fn is_revoked(iat: i64, subject: &SubjectState) -> bool {
    !subject.credential_active
        || subject.jti_revoked
        || subject.account_suspended
        || subject.workspace_suspended
        || subject
            .credential_revoked_before
            .is_some_and(|at| revoked_before_seconds(at) > iat)
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
    fn a_token_from_the_rotation_second_stays_valid() {
        let rotated = Utc.timestamp_opt(1_000, 700_000_000).unwrap();
        let s = SubjectState {
            credential_revoked_before: Some(rotated),
            ..active()
        };
        assert!(is_revoked(999, &s));
        assert!(!is_revoked(1_000, &s));
        assert!(!is_revoked(1_001, &s));
    }

    #[test]
    fn deactivation_suspension_and_jti_revoke() {
        assert!(!is_revoked(5, &active()));
        assert!(is_revoked(5, &SubjectState::default()));
        for s in [
            SubjectState {
                account_suspended: true,
                ..active()
            },
            SubjectState {
                workspace_suspended: true,
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
}
