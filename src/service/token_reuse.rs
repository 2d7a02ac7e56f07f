//! Opt-in token reuse (`tokens.reuse_seconds`): a client asking again for the same token within
//! the window gets the one it was given, with `expires_in` counting down, instead of a new
//! signature. Clients that never cache their token stop costing an RSA operation each.
//!
//! The key holds everything the claims depend on (credential, role, audience, scope), and an
//! entry is used only if it was issued at or after the credential's `tokens_revoked_before`: a
//! role change, a revoking rotation or a deactivation never hands back a stale token. The caller
//! also checks the entry's `jti` against RFC 7009 revocations, which any replica may record.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a reused token must have been issued for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReuseKey {
    /// Credential row id.
    pub credential_id: String,
    /// Role at issuance.
    pub role: String,
    /// Audience.
    pub audience: String,
    /// Scope claim.
    pub scope: Option<String>,
}

#[derive(Debug, Clone)]
struct Issued {
    token: String,
    jti: String,
    iat: i64,
    exp: i64,
}

/// A token that may be handed out again.
#[derive(Debug, PartialEq, Eq)]
pub struct Reusable {
    /// The JWT.
    pub token: String,
    /// Its `jti`, to check against RFC 7009 revocations.
    pub jti: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// A bounded map of recently issued tokens.
#[derive(Debug)]
pub struct TokenReuse {
    window: i64,
    capacity: usize,
    entries: Mutex<HashMap<ReuseKey, Issued>>,
}

impl TokenReuse {
    /// Reuse within `window` seconds of issuance; 0 disables it.
    pub fn new(window: i64, capacity: usize) -> Self {
        Self {
            window,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether reuse is on.
    pub fn enabled(&self) -> bool {
        self.window > 0 && self.capacity > 0
    }

    /// A token issued for `key` within the window, not revoked by `revoked_before` (Unix
    /// seconds).
    pub fn get(&self, key: &ReuseKey, now: i64, revoked_before: Option<i64>) -> Option<Reusable> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let issued = entries.get(key)?;
        let fresh = now - issued.iat < self.window && issued.exp > now;
        let revoked = revoked_before.is_some_and(|rb| rb > issued.iat);
        (fresh && !revoked).then(|| Reusable {
            token: issued.token.clone(),
            jti: issued.jti.clone(),
            expires_in: issued.exp - now,
        })
    }

    /// Remembers a token just issued.
    pub fn put(&self, key: ReuseKey, token: &str, jti: &str, iat: i64, exp: i64) {
        if !self.enabled() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let window = self.window;
            entries.retain(|_, v| iat - v.iat < window);
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            key,
            Issued {
                token: token.to_owned(),
                jti: jti.to_owned(),
                iat,
                exp,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: &str) -> ReuseKey {
        ReuseKey {
            credential_id: "c".into(),
            role: role.into(),
            audience: "a".into(),
            scope: None,
        }
    }

    #[test]
    fn reuse_within_the_window_with_a_countdown() {
        let r = TokenReuse::new(60, 10);
        r.put(key("x"), "t", "j", 100, 1_000);
        assert_eq!(
            r.get(&key("x"), 130, None),
            Some(Reusable {
                token: "t".into(),
                jti: "j".into(),
                expires_in: 870
            })
        );
        assert_eq!(r.get(&key("x"), 160, None), None, "window over");
        assert_eq!(r.get(&key("y"), 130, None), None, "role changed");
        assert_eq!(r.get(&key("x"), 130, Some(101)), None, "revoked");
        assert!(
            r.get(&key("x"), 130, Some(100)).is_some(),
            "same second stays"
        );
    }

    #[test]
    fn disabled_by_default_window() {
        let r = TokenReuse::new(0, 10);
        r.put(key("x"), "t", "j", 100, 1_000);
        assert_eq!(r.get(&key("x"), 100, None), None);
    }
}
