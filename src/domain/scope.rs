//! OAuth scopes (RFC 6749 §3.3): space-separated scope tokens.

use std::fmt;

use super::credential::RuleViolation;

const MAX_SCOPES: usize = 50;
const MAX_SCOPE_LEN: usize = 128;

/// An ordered set of valid scope tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_SCOPE_LEN
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl Scopes {
    /// Parses a request's `scope` parameter. `None` when any token is invalid.
    pub fn parse_request(value: &str) -> Option<Self> {
        let mut out: Vec<String> = Vec::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) || out.len() >= MAX_SCOPES {
                return None;
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        Some(Self(out))
    }

    /// Validates the list an administrator gives a credential.
    pub fn from_admin_list(values: &[String]) -> Result<Self, RuleViolation> {
        if values.len() > MAX_SCOPES {
            return Err(RuleViolation(format!(
                "at most {MAX_SCOPES} scopes are allowed"
            )));
        }
        let mut out: Vec<String> = Vec::new();
        for value in values {
            if !is_scope_token(value) {
                return Err(RuleViolation(format!(
                    "invalid scope {:?}: a scope is 1-{MAX_SCOPE_LEN} printable ASCII characters without spaces, quotes or backslashes",
                    super::credential::truncate(value, 64)
                )));
            }
            if !out.contains(value) {
                out.push(value.clone());
            }
        }
        Ok(Self(out))
    }

    /// Reads the stored form (space-separated, already validated).
    pub fn from_stored(value: &str) -> Self {
        Self(
            value
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether every scope here is also in `allowed`.
    pub fn is_subset_of(&self, allowed: &Scopes) -> bool {
        self.0.iter().all(|s| allowed.0.contains(s))
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes as a list.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_scopes_parse_and_dedupe() {
        let s = Scopes::parse_request("read  write read").unwrap();
        assert_eq!(s.to_string(), "read write");
        assert!(Scopes::parse_request("").unwrap().is_empty());
        assert!(Scopes::parse_request("bad\"quote").is_none());
        assert!(Scopes::parse_request("nul\0").is_none());
        assert!(Scopes::parse_request("ünï").is_none());
    }

    #[test]
    fn subset_check() {
        let allowed = Scopes::from_admin_list(&["read".into(), "write".into()]).unwrap();
        assert!(Scopes::parse_request("read")
            .unwrap()
            .is_subset_of(&allowed));
        assert!(!Scopes::parse_request("read admin")
            .unwrap()
            .is_subset_of(&allowed));
    }

    #[test]
    fn admin_lists_are_validated() {
        assert!(Scopes::from_admin_list(&["has space".into()]).is_err());
        assert!(Scopes::from_admin_list(&[String::new()]).is_err());
        assert_eq!(
            Scopes::from_stored("a b").as_slice(),
            &["a".to_string(), "b".to_string()]
        );
    }
}
