//! Identifiers that cross the API boundary, validated once when they enter.

use std::fmt;

use super::credential::CredentialKind;
use super::{is_base62, random_base62};

/// Random characters after the `ak_`/`wk_` prefix of a generated client id (~143 bits).
const CLIENT_ID_RANDOM_LEN: usize = 24;
/// Documented format (docs/api.md): at least 22 base62 characters follow the prefix.
const CLIENT_ID_MIN_RANDOM_LEN: usize = 22;
/// Longer values cannot be ours; rejecting them early keeps garbage out of queries.
const CLIENT_ID_MAX_RANDOM_LEN: usize = 64;

/// A public client identifier: `ak_` (account) or `wk_` (workspace) + base62.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// A fresh identifier for a credential of `kind`.
    pub fn generate(kind: CredentialKind) -> Self {
        Self(format!(
            "{}{}",
            kind.client_id_prefix(),
            random_base62(CLIENT_ID_RANDOM_LEN)
        ))
    }

    /// Accepts only the shape Tessera issues; anything else is not a client of ours.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value
            .strip_prefix("ak_")
            .or_else(|| value.strip_prefix("wk_"))?;
        let len_ok = (CLIENT_ID_MIN_RANDOM_LEN..=CLIENT_ID_MAX_RANDOM_LEN).contains(&rest.len());
        (len_ok && is_base62(rest)).then(|| Self(value.to_owned()))
    }

    /// The kind of credential the prefix names.
    pub fn kind(&self) -> CredentialKind {
        if self.0.starts_with("ak_") {
            CredentialKind::Account
        } else {
            CredentialKind::Workspace
        }
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new internal row id for a row made at `now` (the injected clock's time, so tests that
/// move the clock see ids in its order): UUIDv7, so ids sort by creation time and serve as page
/// cursors. Ids made within one millisecond still sort in the order they were made.
pub fn new_row_id(now: chrono::DateTime<chrono::Utc>) -> String {
    static CONTEXT: std::sync::Mutex<uuid::ContextV7> =
        std::sync::Mutex::new(uuid::ContextV7::new());
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    let context = CONTEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ts = uuid::Timestamp::from_unix(&*context, secs, now.timestamp_subsec_nanos());
    uuid::Uuid::new_v7(ts).to_string()
}

/// Whether `value` looks like one of our row ids (a hyphenated UUID); lets the HTTP layer answer
/// 404 for garbage without a query.
pub fn is_row_id(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::try_parse(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_keep_their_kind() {
        for kind in [CredentialKind::Account, CredentialKind::Workspace] {
            let id = ClientId::generate(kind);
            let parsed = ClientId::parse(id.as_str()).unwrap();
            assert_eq!(parsed.kind(), kind);
            assert_eq!(id.as_str().len(), 3 + CLIENT_ID_RANDOM_LEN);
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "ak_",
            "ak_short",
            "xk_0123456789012345678901",
            "ak_01234567890123456789-1",
            "ak_0123456789012345678901\0",
            "wk_ÄÖÜ0123456789012345678901",
        ] {
            assert!(ClientId::parse(bad).is_none(), "{bad:?} accepted");
        }
        assert!(ClientId::parse(&format!("wk_{}", "a".repeat(65))).is_none());
        assert!(ClientId::parse(&format!("wk_{}", "a".repeat(22))).is_some());
    }

    #[test]
    fn row_ids_follow_the_given_clock_and_their_order() {
        let now = chrono::Utc::now() + chrono::Duration::days(1);
        let a = new_row_id(now);
        let b = new_row_id(now);
        assert!(
            is_row_id(&a) && a < b,
            "same millisecond: in the order made"
        );
        // The 48-bit millisecond timestamp leads a UUIDv7: a day ahead of the wall clock here.
        let ms = u64::from_str_radix(&a.replace('-', "")[..12], 16).unwrap();
        assert_eq!(ms, u64::try_from(now.timestamp_millis()).unwrap());
        assert!(!is_row_id("1; DROP TABLE accounts"));
    }
}
