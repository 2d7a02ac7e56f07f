//! Trust rules of `federated` credentials: which external tokens (a CI system's OIDC token, a
//! Kubernetes service-account token, …) a credential accepts in place of a secret, and why a
//! token does or does not match each rule. Pure: verifying the token's signature and fetching
//! the issuer's keys is `service::federation`'s job; this module sees claims already decoded.
//!
//! A rule is `{issuer, subject, audience, claims?, jwks_uri?}`:
//! - `issuer`: compared exactly with the token's `iss`; an absolute `https://` URL, or `http://`
//!   on a loopback host only (`127.0.0.0/8`, `[::1]`, `localhost`); no query, fragment or
//!   user information. The same rule holds for `jwks_uri` (the shared guard rule,
//!   [`tessera_guard::check_fetch_url`]).
//! - `subject`: the token's `sub`, exactly; or, if it contains `*`, a pattern in which each `*`
//!   stands for one or more characters other than `/` and `:` (so a `*` never reaches into
//!   another path segment or another `:`-separated field). There is no escape: a `*` is always a
//!   wildcard. `**` and a subject made of `*` only are refused.
//! - `audience`: must be the token's `aud` or one of its elements.
//! - `claims`: further top-level claims that must be equal to the given values. Values are JSON
//!   strings, numbers, booleans or arrays of those. A string equals only a string with the same
//!   characters (`"1"` is not `1`, comparison is case-sensitive); numbers compare by value;
//!   an array equals an array of equal elements in the same order. A claim the token lacks
//!   fails. `iss`, `sub`, `aud`, `exp`, `nbf`, `iat` and `jti` cannot be named here.
//! - `jwks_uri`: where the issuer's keys are; absent, they are found by OpenID Connect
//!   discovery of `issuer`.
//!
//! A credential holds 1 to [`MAX_RULES`] rules; the first that matches wins ([`evaluate`]).
//! Every string has a length limit (the `MAX_*` constants).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most rules a credential may hold.
pub const MAX_RULES: usize = 20;
/// Longest `issuer` and `jwks_uri`, in bytes.
pub const MAX_URL_BYTES: usize = 512;
/// Longest `subject` (exact or pattern), in bytes.
pub const MAX_SUBJECT_BYTES: usize = 512;
/// Longest `audience`, in bytes.
pub const MAX_AUDIENCE_BYTES: usize = 512;
/// Most entries in `claims`.
pub const MAX_CLAIMS: usize = 16;
/// Longest claim name, in bytes.
pub const MAX_CLAIM_NAME_BYTES: usize = 128;
/// Longest string value of a claim (alone or in an array), in bytes.
pub const MAX_CLAIM_STRING_BYTES: usize = 512;
/// Most elements of an array value of a claim.
pub const MAX_CLAIM_ARRAY_ITEMS: usize = 32;
/// A token subject longer than this never matches a pattern (it may still equal an exact
/// subject). Bounds the work a token can cause.
pub const MAX_MATCHED_SUBJECT_BYTES: usize = 1024;

/// Claims a rule cannot name in `claims`: they have their own fields or are checked anyway.
const RESERVED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// A value shown in a reason is cut to this many characters.
const SHOWN_CHARS: usize = 200;

/// A rule that could not be accepted: which member, and what is wrong with it.
///
/// ```
/// use serde_json::json;
/// use tessera::domain::trust::TrustRule;
/// let err = TrustRule::parse_list(&json!([{"issuer": "http://ci.example", "subject": "x", "audience": "a"}]))
///     .unwrap_err();
/// assert_eq!(err.field, "trust[0].issuer");
/// assert_eq!(
///     err.to_string(),
///     "trust[0].issuer: must use https (http only with a loopback host: 127.0.0.0/8, ::1 or localhost)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct TrustRuleError {
    /// The member, e.g. `subject`, `claims.repository` or, from [`TrustRule::parse_list`],
    /// `trust[2].audience`.
    pub field: String,
    /// What is wrong, as a sentence fragment.
    pub problem: String,
}

impl TrustRuleError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// One validated trust rule. Built only by [`TrustRule::new`] or [`TrustRule::parse`] (and
/// `Deserialize`, which calls `parse`), so every instance satisfies the rules of the module
/// documentation. Serialises as the admin API shows it: every member, `claims` `{}` and
/// `jwks_uri` `null` when not set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct TrustRule {
    issuer: String,
    subject: String,
    audience: String,
    claims: Map<String, Value>,
    jwks_uri: Option<String>,
}

impl TryFrom<Value> for TrustRule {
    type Error = TrustRuleError;

    fn try_from(value: Value) -> Result<Self, TrustRuleError> {
        Self::parse(&value)
    }
}

impl TrustRule {
    /// A rule from its members, validated.
    ///
    /// ```
    /// use tessera::domain::trust::TrustRule;
    /// let rule = TrustRule::new(
    ///     "https://token.actions.githubusercontent.com",
    ///     "repo:acme/deploy:ref:refs/heads/main",
    ///     "https://tessera.example",
    ///     serde_json::Map::new(),
    ///     None,
    /// ).unwrap();
    /// assert!(!rule.is_pattern());
    /// ```
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: impl Into<String>,
        claims: Map<String, Value>,
        jwks_uri: Option<String>,
    ) -> Result<Self, TrustRuleError> {
        let rule = Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: audience.into(),
            claims,
            jwks_uri,
        };
        check_url("issuer", &rule.issuer)?;
        check_subject(&rule.subject)?;
        check_text("audience", &rule.audience, MAX_AUDIENCE_BYTES)?;
        check_claims(&rule.claims)?;
        if let Some(uri) = &rule.jwks_uri {
            check_url("jwks_uri", uri)?;
        }
        Ok(rule)
    }

    /// A rule from the admin API's JSON: an object with string members `issuer`, `subject`,
    /// `audience`, an optional object `claims` and an optional string `jwks_uri` (`null` is the
    /// same as absent for both). `last_used_at`, which a rule shows when read, is accepted and
    /// ignored, so a rule read back can be sent again; any other member is refused.
    ///
    /// ```
    /// use serde_json::json;
    /// use tessera::domain::trust::TrustRule;
    /// let rule = TrustRule::parse(&json!({
    ///     "issuer": "https://token.actions.githubusercontent.com",
    ///     "subject": "repo:acme/*:ref:refs/heads/main",
    ///     "audience": "https://tessera.example",
    ///     "claims": {"repository_owner": "acme"}
    /// })).unwrap();
    /// assert!(rule.is_pattern());
    /// assert_eq!(rule.claims()["repository_owner"], "acme");
    /// assert_eq!(serde_json::to_value(&rule).unwrap()["jwks_uri"], json!(null));
    /// let err = TrustRule::parse(&json!({"issuer": "https://i.example", "subject": "s"})).unwrap_err();
    /// assert_eq!(err.to_string(), "audience: is required");
    /// ```
    pub fn parse(value: &Value) -> Result<Self, TrustRuleError> {
        let Value::Object(members) = value else {
            return Err(TrustRuleError::new(
                "rule",
                "must be an object with issuer, subject and audience",
            ));
        };
        for name in members.keys() {
            if !matches!(
                name.as_str(),
                "issuer" | "subject" | "audience" | "claims" | "jwks_uri" | "last_used_at"
            ) {
                return Err(TrustRuleError::new(
                    shown_name(name),
                    "is not a member of a trust rule (issuer, subject, audience, claims, jwks_uri)",
                ));
            }
        }
        let required = |name: &'static str| match members.get(name) {
            Some(Value::String(text)) => Ok(text.clone()),
            None | Some(Value::Null) => Err(TrustRuleError::new(name, "is required")),
            Some(_) => Err(TrustRuleError::new(name, "must be a string")),
        };
        let issuer = required("issuer")?;
        let subject = required("subject")?;
        let audience = required("audience")?;
        let claims = match members.get("claims") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(claims)) => claims.clone(),
            Some(_) => {
                return Err(TrustRuleError::new(
                    "claims",
                    "must be an object of claim names and values",
                ))
            }
        };
        let jwks_uri = match members.get("jwks_uri") {
            None | Some(Value::Null) => None,
            Some(Value::String(uri)) => Some(uri.clone()),
            Some(_) => return Err(TrustRuleError::new("jwks_uri", "must be a string")),
        };
        Self::new(issuer, subject, audience, claims, jwks_uri)
    }

    /// A credential's rules from the admin API's JSON: an array of 1 to [`MAX_RULES`] rules
    /// ([`parse`](Self::parse)). Errors name the member as `trust[INDEX].MEMBER`.
    ///
    /// ```
    /// use serde_json::json;
    /// use tessera::domain::trust::TrustRule;
    /// let one = json!({"issuer": "https://i.example", "subject": "s", "audience": "a"});
    /// assert_eq!(TrustRule::parse_list(&json!([one.clone(), one.clone()])).unwrap().len(), 2);
    /// assert_eq!(TrustRule::parse_list(&json!([])).unwrap_err().field, "trust");
    /// assert_eq!(TrustRule::parse_list(&json!(vec![one; 21])).unwrap_err().field, "trust");
    /// ```
    pub fn parse_list(value: &Value) -> Result<Vec<Self>, TrustRuleError> {
        let Value::Array(items) = value else {
            return Err(TrustRuleError::new("trust", "must be an array of rules"));
        };
        if items.is_empty() || items.len() > MAX_RULES {
            return Err(TrustRuleError::new(
                "trust",
                format!("must hold 1 to {MAX_RULES} rules, not {}", items.len()),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                Self::parse(item).map_err(|e| e.within(&format!("trust[{index}]")))
            })
            .collect()
    }

    /// The issuer (the token's `iss` must equal it).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject or subject pattern.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The audience the token's `aud` must contain.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The further claims that must be equal.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Where the issuer's keys are, if not found by discovery.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// Whether `subject` is a pattern (contains `*`).
    pub fn is_pattern(&self) -> bool {
        self.subject.contains('*')
    }

    /// Why the token with these (decoded) `claims` does not match this rule: one sentence per
    /// failed check, in the order issuer, subject, audience, then the claims by name; empty when
    /// it matches.
    /// The sentences show the rule's values and the token's claims (which are not secret),
    /// JSON-quoted and cut to 200 characters.
    ///
    /// ```
    /// use serde_json::json;
    /// use tessera::domain::trust::TrustRule;
    /// let rule = TrustRule::parse(&json!({
    ///     "issuer": "https://a.example", "subject": "system:serviceaccount:ci:*", "audience": "tessera",
    /// })).unwrap();
    /// let token = json!({"iss": "https://b.example", "sub": "system:serviceaccount:ci:a:b", "aud": ["x"]});
    /// assert_eq!(rule.mismatches(token.as_object().unwrap()), [
    ///     r#"issuer is "https://a.example", the token's is "https://b.example""#,
    ///     r#"the token's subject "system:serviceaccount:ci:a:b" does not match the pattern "system:serviceaccount:ci:*""#,
    ///     r#"audience "tessera" is not in the token's aud ["x"]"#,
    /// ]);
    /// ```
    pub fn mismatches(&self, claims: &Map<String, Value>) -> Vec<String> {
        let mut reasons = Vec::new();
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(Value::String(iss)) => reasons.push(format!(
                "issuer is {}, the token's is {}",
                shown_str(&self.issuer),
                shown_str(iss)
            )),
            Some(_) => reasons.push("the token's iss is not a string".to_owned()),
            None => reasons.push("the token has no iss claim".to_owned()),
        }
        match claims.get("sub") {
            Some(Value::String(sub)) => {
                if let Some(reason) = self.subject_mismatch(sub) {
                    reasons.push(reason);
                }
            }
            Some(_) => reasons.push("the token's sub is not a string".to_owned()),
            None => reasons.push("the token has no sub claim".to_owned()),
        }
        match claims.get("aud") {
            Some(Value::String(aud)) if *aud == self.audience => {}
            Some(Value::Array(auds))
                if auds
                    .iter()
                    .any(|a| a.as_str() == Some(self.audience.as_str())) => {}
            Some(aud @ (Value::String(_) | Value::Array(_))) => reasons.push(format!(
                "audience {} is not in the token's aud {}",
                shown_str(&self.audience),
                shown(aud)
            )),
            Some(_) => reasons.push("the token's aud is not a string or an array".to_owned()),
            None => reasons.push("the token has no aud claim".to_owned()),
        }
        // In name order, whatever order the map keeps.
        let mut wanted_claims: Vec<(&String, &Value)> = self.claims.iter().collect();
        wanted_claims.sort_unstable_by_key(|(name, _)| *name);
        for (name, wanted) in wanted_claims {
            match claims.get(name) {
                Some(actual) if claim_equals(wanted, actual) => {}
                Some(actual) => reasons.push(format!(
                    "claim {name} is {}, the rule wants {}",
                    shown(actual),
                    shown(wanted)
                )),
                None => reasons.push(format!(
                    "the token has no claim {name}; the rule wants {}",
                    shown(wanted)
                )),
            }
        }
        reasons
    }

    fn subject_mismatch(&self, sub: &str) -> Option<String> {
        if !self.is_pattern() {
            return (sub != self.subject).then(|| {
                format!(
                    "subject is {}, the token's is {}",
                    shown_str(&self.subject),
                    shown_str(sub)
                )
            });
        }
        if sub.len() > MAX_MATCHED_SUBJECT_BYTES {
            return Some(format!(
                "the token's subject is longer than {MAX_MATCHED_SUBJECT_BYTES} bytes, which no pattern matches"
            ));
        }
        (!subject_matches(&self.subject, sub)).then(|| {
            format!(
                "the token's subject {} does not match the pattern {}",
                shown_str(sub),
                shown_str(&self.subject)
            )
        })
    }
}

/// Whether `subject` matches `pattern`: equal when `pattern` has no `*`; otherwise each `*`
/// stands for one or more characters other than `/` and `:`, and everything else must be
/// equal. Linear in practice; at worst the product of the lengths.
///
/// ```
/// use tessera::domain::trust::subject_matches;
/// assert!(subject_matches("repo:acme/*:ref:refs/heads/main", "repo:acme/deploy:ref:refs/heads/main"));
/// assert!(!subject_matches("repo:acme/*:ref:refs/heads/main", "repo:acme/x/y:ref:refs/heads/main"));
/// assert!(!subject_matches("repo:acme/*:ref:refs/heads/main", "repo:acme/:ref:refs/heads/main"));
/// assert!(subject_matches("system:serviceaccount:ns:*", "system:serviceaccount:ns:deployer"));
/// assert!(!subject_matches("system:serviceaccount:ns:*", "system:serviceaccount:ns:a:b"));
/// assert!(subject_matches("spiffe://prod.example/ns/*/sa/*", "spiffe://prod.example/ns/web/sa/api"));
/// ```
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == subject;
    }
    // A `*` never produces a separator, so the separators of both must be the same, in the same
    // order; each segment between them is then matched on its own.
    let mut patterns = pattern.split(is_separator);
    let mut subjects = subject.split(is_separator);
    let separators = |s: &str| {
        s.bytes()
            .filter(|b| is_separator_byte(*b))
            .collect::<Vec<u8>>()
    };
    if separators(pattern) != separators(subject) {
        return false;
    }
    loop {
        match (patterns.next(), subjects.next()) {
            (Some(p), Some(s)) => {
                if !segment_matches(p, s) {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn is_separator(c: char) -> bool {
    c == '/' || c == ':'
}

fn is_separator_byte(b: u8) -> bool {
    b == b'/' || b == b':'
}

/// Wildcard match within one segment (neither side holds a separator): `*` is one or more
/// characters. Greedy with backtracking to the last `*` only, which suffices because a later
/// `*` can absorb anything an earlier one could.
fn segment_matches(pattern: &str, subject: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let subject: Vec<char> = subject.chars().collect();
    let (mut p, mut s) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, subject index its match ends).
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        if pattern.get(p) == Some(&'*') {
            // The `*` takes one character at least.
            star = Some((p + 1, s + 1));
            p += 1;
            s += 1;
        } else if pattern.get(p) == Some(&subject[s]) {
            p += 1;
            s += 1;
        } else if let Some((after, end)) = star {
            // Let the last `*` take one character more.
            star = Some((after, end + 1));
            p = after;
            s = end + 1;
        } else {
            return false;
        }
    }
    // `s` can overshoot by one when a `*` grew past the end: that is a failed attempt.
    s == subject.len() && p == pattern.len()
}

/// Whether a token's claim value equals a rule's: see the module documentation.
fn claim_equals(wanted: &Value, actual: &Value) -> bool {
    match (wanted, actual) {
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
                a == b
            } else if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
                a == b
            } else {
                a.as_f64() == b.as_f64()
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| claim_equals(a, b))
        }
        _ => false,
    }
}

/// The result for one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleResult {
    /// The rule's 0-based position.
    pub index: usize,
    /// Whether the token matches it.
    pub matched: bool,
    /// Why not, one sentence per failed check; empty when it matches.
    pub reasons: Vec<String>,
}

/// Which rule a token matches, and why every other one does not. Serialises as the dry run
/// shows it: `{"matched": INDEX or null, "rules": [{"index", "matched", "reasons"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The first rule that matches, if any.
    pub matched: Option<usize>,
    /// One result per rule, in order.
    pub rules: Vec<RuleResult>,
}

impl Evaluation {
    /// Marks rule `index` as not matching, for `reason` (found outside the claims, e.g. its
    /// keys do not verify the token's signature), and recomputes [`matched`](Self::matched).
    ///
    /// ```
    /// use serde_json::json;
    /// use tessera::domain::trust::{evaluate, TrustRule};
    /// let rules = TrustRule::parse_list(&json!([{"issuer": "https://i.example", "subject": "s", "audience": "a"}])).unwrap();
    /// let claims = json!({"iss": "https://i.example", "sub": "s", "aud": "a"});
    /// let mut evaluation = evaluate(&rules, claims.as_object().unwrap());
    /// assert_eq!(evaluation.matched, Some(0));
    /// evaluation.reject(0, "the token's signature does not verify".into());
    /// assert_eq!(evaluation.matched, None);
    /// assert_eq!(evaluation.rules[0].reasons, ["the token's signature does not verify"]);
    /// ```
    pub fn reject(&mut self, index: usize, reason: String) {
        if let Some(rule) = self.rules.get_mut(index) {
            rule.matched = false;
            rule.reasons.push(reason);
        }
        self.matched = self.rules.iter().find(|r| r.matched).map(|r| r.index);
    }

    /// Every rule refused for one `reason` about the token as a whole (malformed, expired, …),
    /// each with its claim mismatches first when the claims could be read.
    pub fn reject_all(&mut self, reason: &str) {
        for index in 0..self.rules.len() {
            self.reject(index, reason.to_owned());
        }
    }

    /// An evaluation of `rule_count` rules in which each is refused for `reason` alone (the
    /// token's claims could not even be read).
    pub fn refused(rule_count: usize, reason: &str) -> Self {
        Self {
            matched: None,
            rules: (0..rule_count)
                .map(|index| RuleResult {
                    index,
                    matched: false,
                    reasons: vec![reason.to_owned()],
                })
                .collect(),
        }
    }
}

/// Evaluates every rule against a token's (decoded) claims: `matched` is the first rule with no
/// mismatch ([`TrustRule::mismatches`]). The caller must have verified the token (signature,
/// expiry) before acting on `matched`.
///
/// ```
/// use serde_json::json;
/// use tessera::domain::trust::{evaluate, TrustRule};
/// let rules = TrustRule::parse_list(&json!([
///     {"issuer": "https://ci.example", "subject": "repo:acme/*:ref:refs/heads/main", "audience": "tessera"},
///     {"issuer": "https://ci.example", "subject": "repo:acme/*:*", "audience": "tessera"},
/// ])).unwrap();
/// let claims = json!({"iss": "https://ci.example", "sub": "repo:acme/web:ref:refs/heads/main", "aud": "tessera"});
/// let evaluation = evaluate(&rules, claims.as_object().unwrap());
/// assert_eq!(evaluation.matched, Some(0)); // both match; the first wins
/// ```
pub fn evaluate(rules: &[TrustRule], claims: &Map<String, Value>) -> Evaluation {
    let rules: Vec<RuleResult> = rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let reasons = rule.mismatches(claims);
            RuleResult {
                index,
                matched: reasons.is_empty(),
                reasons,
            }
        })
        .collect();
    Evaluation {
        matched: rules.iter().find(|r| r.matched).map(|r| r.index),
        rules,
    }
}

fn check_text(field: &str, value: &str, max_bytes: usize) -> Result<(), TrustRuleError> {
    if value.is_empty() {
        return Err(TrustRuleError::new(field, "must not be empty"));
    }
    if value.len() > max_bytes {
        return Err(TrustRuleError::new(
            field,
            format!("must be at most {max_bytes} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(TrustRuleError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn check_url(field: &str, value: &str) -> Result<(), TrustRuleError> {
    check_text(field, value, MAX_URL_BYTES)?;
    tessera_guard::check_fetch_url(value).map_err(|e| TrustRuleError::new(field, e.to_string()))
}

fn check_subject(subject: &str) -> Result<(), TrustRuleError> {
    check_text("subject", subject, MAX_SUBJECT_BYTES)?;
    if subject.contains("**") {
        return Err(TrustRuleError::new(
            "subject",
            "must not contain ** (one * already stands for any run of characters other than / and :)",
        ));
    }
    if subject.chars().all(|c| c == '*') {
        return Err(TrustRuleError::new(
            "subject",
            "must contain more than * (a rule would trust nearly any subject of the issuer)",
        ));
    }
    Ok(())
}

fn check_claims(claims: &Map<String, Value>) -> Result<(), TrustRuleError> {
    if claims.len() > MAX_CLAIMS {
        return Err(TrustRuleError::new(
            "claims",
            format!("must hold at most {MAX_CLAIMS} claims"),
        ));
    }
    for (name, value) in claims {
        let field = format!("claims.{}", shown_name(name));
        if name.is_empty() || name.len() > MAX_CLAIM_NAME_BYTES {
            return Err(TrustRuleError::new(
                "claims",
                format!("claim names must be 1 to {MAX_CLAIM_NAME_BYTES} bytes"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(TrustRuleError::new(
                "claims",
                "claim names must not contain control characters",
            ));
        }
        if RESERVED_CLAIMS.contains(&name.as_str()) {
            return Err(TrustRuleError::new(
                field,
                "cannot be set here (use issuer, subject and audience; exp, nbf, iat and jti are always checked)",
            ));
        }
        match value {
            Value::Array(items) => {
                if items.len() > MAX_CLAIM_ARRAY_ITEMS {
                    return Err(TrustRuleError::new(
                        field,
                        format!("must hold at most {MAX_CLAIM_ARRAY_ITEMS} values"),
                    ));
                }
                for item in items {
                    check_scalar(&field, item)?;
                }
            }
            scalar => check_scalar(&field, scalar)?,
        }
    }
    Ok(())
}

fn check_scalar(field: &str, value: &Value) -> Result<(), TrustRuleError> {
    match value {
        Value::String(text) if text.len() > MAX_CLAIM_STRING_BYTES => Err(TrustRuleError::new(
            field,
            format!("strings must be at most {MAX_CLAIM_STRING_BYTES} bytes"),
        )),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(TrustRuleError::new(
            field,
            "must be a string, a number, a boolean or an array of those",
        )),
    }
}

/// A member name as it may appear in an error: cut, and without control characters.
fn shown_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// A string as a reason shows it: JSON-quoted, cut to [`SHOWN_CHARS`] characters.
fn shown_str(text: &str) -> Shown {
    Shown(Value::String(text.to_owned()))
}

/// A JSON value as a reason shows it: compact JSON, cut to [`SHOWN_CHARS`] characters.
fn shown(value: &Value) -> Shown {
    Shown(value.clone())
}

struct Shown(Value);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        if text.chars().count() > SHOWN_CHARS {
            let cut: String = text.chars().take(SHOWN_CHARS).collect();
            write!(f, "{cut}…")
        } else {
            f.write_str(&text)
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
