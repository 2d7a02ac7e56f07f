//! The revocation feed (`GET {issuer}/oauth/revocations`).
//!
//! The issuer answers a request without `?since=` with a complete list (`"complete": true`) and
//! a request with `?since=<cursor>` with what changed since that cursor (`"complete": false`): the
//! entries added or changed (each listed credential, account or workspace entry carries its
//! current `revoked_before`) and, under `removed`, the keys no longer revoked (a reactivated
//! account or workspace). A complete feed replaces the local list; a delta is merged into it.
//! A feed without `complete` (an older issuer) is a complete one.
//!
//! Rule: a token is rejected when its `client_id`, `account_id` or `workspace_id` is listed with
//! `revoked_before` *strictly later* than the token's `iat`, or its `jti` is listed. The issuer
//! sets `revoked_before` to the second after the revoking event (the boundary rule), so a token
//! issued in the same second as the event, before it, is covered too; a token issued in a later
//! second is not.
//!
//! Entries that can no longer concern any unexpired token age out locally (the issuer does not
//! announce it): a credential, account or workspace entry once `now >= revoked_before +
//! token_lifetime + leeway`, a `jti` entry once `now >= exp + leeway`, with the `token_lifetime`
//! and `leeway` of the last feed that stated them (and never less than the guard's own leeway).
//! A feed that states neither (an older issuer) keeps its entries until the next complete feed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::claims::Claims;
use crate::error::RevocationReason;

/// A revoked credential: tokens of `client_id` issued before `revoked_before` are invalid.
///
/// ```
/// let entry = tessera_guard::CredentialRevocation { client_id: "wk_1".into(), revoked_before: 10 };
/// assert_eq!(entry.revoked_before, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRevocation {
    /// The credential's `client_id`.
    pub client_id: String,
    /// Unix seconds; tokens with `iat` earlier than this are invalid.
    pub revoked_before: i64,
}

/// A suspended account: its tokens issued before `revoked_before` are invalid.
///
/// ```
/// let entry = tessera_guard::AccountRevocation { account_id: "acc".into(), revoked_before: 10 };
/// assert_eq!(entry.account_id, "acc");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRevocation {
    /// The account id.
    pub account_id: String,
    /// Unix seconds; tokens with `iat` earlier than this are invalid.
    pub revoked_before: i64,
}

/// A suspended workspace: its tokens issued before `revoked_before` are invalid.
///
/// ```
/// let entry = tessera_guard::WorkspaceRevocation { workspace_id: "ws".into(), revoked_before: 10 };
/// assert_eq!(entry.workspace_id, "ws");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceRevocation {
    /// The workspace id.
    pub workspace_id: String,
    /// Unix seconds; tokens with `iat` earlier than this are invalid.
    pub revoked_before: i64,
}

/// One revoked token (RFC 7009).
///
/// ```
/// let entry = tessera_guard::TokenRevocation { jti: "abc".into(), exp: 99 };
/// assert_eq!(entry.jti, "abc");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRevocation {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `exp`; after it the entry no longer matters.
    #[serde(default)]
    pub exp: i64,
}

/// A key that a delta feed says is no longer revoked (an element of
/// [`RevocationFeed::removed`]). On the wire each element is an object with exactly one of the
/// four key fields, e.g. `{"account_id": "acc_1"}`; an element with none or several of them
/// makes the whole feed invalid.
///
/// ```
/// use tessera_guard::Removal;
/// let removed: Vec<Removal> = serde_json::from_str(r#"[{"account_id": "acc_1"}, {"jti": "j1"}]"#).unwrap();
/// assert_eq!(removed, [Removal::Account("acc_1".into()), Removal::Token("j1".into())]);
/// assert_eq!(serde_json::to_string(&removed[0]).unwrap(), r#"{"account_id":"acc_1"}"#);
/// assert!(serde_json::from_str::<Removal>(r#"{"account_id": "a", "jti": "j"}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRemoval")]
pub enum Removal {
    /// `{"client_id": …}`: the credential's entry is gone.
    #[serde(rename = "client_id")]
    Credential(String),
    /// `{"account_id": …}`: the account was reactivated.
    #[serde(rename = "account_id")]
    Account(String),
    /// `{"workspace_id": …}`: the workspace was reactivated.
    #[serde(rename = "workspace_id")]
    Workspace(String),
    /// `{"jti": …}`: the token's entry is gone.
    #[serde(rename = "jti")]
    Token(String),
}

/// The wire shape of a [`Removal`], checked to hold exactly one key.
#[derive(Deserialize)]
struct RawRemoval {
    client_id: Option<String>,
    account_id: Option<String>,
    workspace_id: Option<String>,
    jti: Option<String>,
}

impl TryFrom<RawRemoval> for Removal {
    type Error = &'static str;

    fn try_from(raw: RawRemoval) -> Result<Self, Self::Error> {
        match (raw.client_id, raw.account_id, raw.workspace_id, raw.jti) {
            (Some(id), None, None, None) => Ok(Self::Credential(id)),
            (None, Some(id), None, None) => Ok(Self::Account(id)),
            (None, None, Some(id), None) => Ok(Self::Workspace(id)),
            (None, None, None, Some(id)) => Ok(Self::Token(id)),
            _ => Err(
                "a removed entry must have exactly one of client_id, account_id, workspace_id, jti",
            ),
        }
    }
}

fn complete_by_default() -> bool {
    true
}

/// The revocation feed document: a complete list, or a delta since a cursor.
///
/// ```
/// use tessera_guard::RevocationFeed;
/// let feed: RevocationFeed = serde_json::from_str(r#"{
///     "generated_at": 1763800000,
///     "complete": true,
///     "next_cursor": "c-42",
///     "token_lifetime": 86400,
///     "leeway": 60,
///     "credentials": [{"client_id": "wk_1", "revoked_before": 1763799000}],
///     "accounts": [], "workspaces": [],
///     "tokens": [{"jti": "j1", "exp": 1763880000}],
///     "removed": []
/// }"#).unwrap();
/// assert_eq!(feed.credentials.len(), 1);
/// assert_eq!(feed.next_cursor.as_deref(), Some("c-42"));
///
/// // The older format (no `complete`, no cursor, no lifetime) is a complete list.
/// let old: RevocationFeed = serde_json::from_str(r#"{"generated_at": 1, "credentials": []}"#).unwrap();
/// assert!(old.complete);
/// assert_eq!(old.token_lifetime, None);
///
/// // Or built in code, e.g. in tests:
/// let feed = RevocationFeed::default().with_account("acc_1", 1763799500).with_token("j2", 0);
/// assert!(feed.complete);
/// assert_eq!(feed.accounts[0].account_id, "acc_1");
/// let delta = RevocationFeed::delta().with_removed_account("acc_1");
/// assert!(!delta.complete);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// When the issuer produced the feed (Unix seconds).
    #[serde(default)]
    pub generated_at: i64,
    /// `true` (the default, and what an older issuer implies): the complete list, which replaces
    /// the local one. `false`: a delta since the cursor sent as `?since=`.
    #[serde(default = "complete_by_default")]
    pub complete: bool,
    /// The cursor to send as `?since=` on the next poll. Opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The longest lifetime of the issuer's tokens, in seconds; with [`leeway`](Self::leeway),
    /// when entries age out. `None` (an older issuer): entries stay until the next complete feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifetime: Option<u64>,
    /// The clock-skew allowance the issuer assumes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<u64>,
    /// Revoked credentials.
    #[serde(default)]
    pub credentials: Vec<CredentialRevocation>,
    /// Suspended accounts.
    #[serde(default)]
    pub accounts: Vec<AccountRevocation>,
    /// Suspended workspaces.
    #[serde(default)]
    pub workspaces: Vec<WorkspaceRevocation>,
    /// Individually revoked tokens.
    #[serde(default)]
    pub tokens: Vec<TokenRevocation>,
    /// In a delta: keys that are no longer revoked. Empty in a complete feed.
    #[serde(default)]
    pub removed: Vec<Removal>,
}

/// An empty *complete* feed: nothing is revoked.
///
/// ```
/// let feed = tessera_guard::RevocationFeed::default();
/// assert!(feed.complete && feed.credentials.is_empty());
/// ```
impl Default for RevocationFeed {
    fn default() -> Self {
        Self {
            generated_at: 0,
            complete: true,
            next_cursor: None,
            token_lifetime: None,
            leeway: None,
            credentials: Vec::new(),
            accounts: Vec::new(),
            workspaces: Vec::new(),
            tokens: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl RevocationFeed {
    /// An empty delta (`complete: false`): applying it changes nothing until entries are added.
    ///
    /// ```
    /// let delta = tessera_guard::RevocationFeed::delta().with_workspace("ws", 5);
    /// assert!(!delta.complete);
    /// ```
    pub fn delta() -> Self {
        Self {
            complete: false,
            ..Self::default()
        }
    }

    /// Sets `generated_at`.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().generated_at(7);
    /// assert_eq!(feed.generated_at, 7);
    /// ```
    pub fn generated_at(mut self, generated_at: i64) -> Self {
        self.generated_at = generated_at;
        self
    }

    /// Sets `next_cursor`.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().with_cursor("c1");
    /// assert_eq!(feed.next_cursor.as_deref(), Some("c1"));
    /// ```
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.next_cursor = Some(cursor.into());
        self
    }

    /// Sets `token_lifetime` and `leeway` (seconds), which make entries age out.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().with_ageing(86400, 60);
    /// assert_eq!((feed.token_lifetime, feed.leeway), (Some(86400), Some(60)));
    /// ```
    pub fn with_ageing(mut self, token_lifetime: u64, leeway: u64) -> Self {
        self.token_lifetime = Some(token_lifetime);
        self.leeway = Some(leeway);
        self
    }

    /// Adds a credential entry.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().with_credential("wk_1", 5);
    /// assert_eq!(feed.credentials.len(), 1);
    /// ```
    pub fn with_credential(mut self, client_id: impl Into<String>, revoked_before: i64) -> Self {
        self.credentials.push(CredentialRevocation {
            client_id: client_id.into(),
            revoked_before,
        });
        self
    }

    /// Adds an account entry.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().with_account("acc", 5);
    /// assert_eq!(feed.accounts.len(), 1);
    /// ```
    pub fn with_account(mut self, account_id: impl Into<String>, revoked_before: i64) -> Self {
        self.accounts.push(AccountRevocation {
            account_id: account_id.into(),
            revoked_before,
        });
        self
    }

    /// Adds a workspace entry.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().with_workspace("ws", 5);
    /// assert_eq!(feed.workspaces.len(), 1);
    /// ```
    pub fn with_workspace(mut self, workspace_id: impl Into<String>, revoked_before: i64) -> Self {
        self.workspaces.push(WorkspaceRevocation {
            workspace_id: workspace_id.into(),
            revoked_before,
        });
        self
    }

    /// Adds a token entry.
    ///
    /// ```
    /// let feed = tessera_guard::RevocationFeed::default().with_token("jti-1", 99);
    /// assert_eq!(feed.tokens.len(), 1);
    /// ```
    pub fn with_token(mut self, jti: impl Into<String>, exp: i64) -> Self {
        self.tokens.push(TokenRevocation {
            jti: jti.into(),
            exp,
        });
        self
    }

    /// Adds a removal (for a delta).
    ///
    /// ```
    /// use tessera_guard::{Removal, RevocationFeed};
    /// let delta = RevocationFeed::delta().with_removed(Removal::Token("j1".into()));
    /// assert_eq!(delta.removed.len(), 1);
    /// ```
    pub fn with_removed(mut self, removal: Removal) -> Self {
        self.removed.push(removal);
        self
    }

    /// Adds `{"client_id": …}` to `removed`.
    ///
    /// ```
    /// let delta = tessera_guard::RevocationFeed::delta().with_removed_credential("wk_1");
    /// assert_eq!(delta.removed.len(), 1);
    /// ```
    pub fn with_removed_credential(self, client_id: impl Into<String>) -> Self {
        self.with_removed(Removal::Credential(client_id.into()))
    }

    /// Adds `{"account_id": …}` to `removed`.
    ///
    /// ```
    /// let delta = tessera_guard::RevocationFeed::delta().with_removed_account("acc");
    /// assert_eq!(delta.removed.len(), 1);
    /// ```
    pub fn with_removed_account(self, account_id: impl Into<String>) -> Self {
        self.with_removed(Removal::Account(account_id.into()))
    }

    /// Adds `{"workspace_id": …}` to `removed`.
    ///
    /// ```
    /// let delta = tessera_guard::RevocationFeed::delta().with_removed_workspace("ws");
    /// assert_eq!(delta.removed.len(), 1);
    /// ```
    pub fn with_removed_workspace(self, workspace_id: impl Into<String>) -> Self {
        self.with_removed(Removal::Workspace(workspace_id.into()))
    }

    /// Adds `{"jti": …}` to `removed`.
    ///
    /// ```
    /// let delta = tessera_guard::RevocationFeed::delta().with_removed_token("j1");
    /// assert_eq!(delta.removed.len(), 1);
    /// ```
    pub fn with_removed_token(self, jti: impl Into<String>) -> Self {
        self.with_removed(Removal::Token(jti.into()))
    }
}

/// The revocation list, indexed for the per-request check (a few hash lookups).
#[derive(Debug, Default)]
pub(crate) struct RevocationIndex {
    generated_at: Option<i64>,
    credentials: HashMap<String, i64>,
    accounts: HashMap<String, i64>,
    workspaces: HashMap<String, i64>,
    /// `jti` → `exp`.
    tokens: HashMap<String, i64>,
    /// From the last feed that stated them; `None`: entries do not age out.
    token_lifetime: Option<i64>,
    leeway: Option<i64>,
}

/// Upserts `entries` into `map`. Should an id be listed twice in one feed, the later cut-off
/// (the safe one) wins; across feeds, the newer value replaces the older one.
fn upsert<I: IntoIterator<Item = (String, i64)>>(map: &mut HashMap<String, i64>, entries: I) {
    let mut listed: HashMap<String, i64> = HashMap::new();
    for (id, revoked_before) in entries {
        listed
            .entry(id)
            .and_modify(|rb| *rb = (*rb).max(revoked_before))
            .or_insert(revoked_before);
    }
    map.extend(listed);
}

fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

impl RevocationIndex {
    /// Applies `feed` (replacing everything when it is complete, merging it when it is a
    /// delta), then drops the entries aged out at `now`. `min_leeway` is the guard's own leeway:
    /// entries are never dropped before a token they concern has expired for the guard.
    pub(crate) fn apply(&mut self, feed: RevocationFeed, now: i64, min_leeway: i64) {
        if feed.complete {
            *self = Self::default();
            self.token_lifetime = feed.token_lifetime.map(seconds);
            self.leeway = feed.leeway.map(seconds);
        } else {
            if let Some(lifetime) = feed.token_lifetime {
                self.token_lifetime = Some(seconds(lifetime));
            }
            if let Some(leeway) = feed.leeway {
                self.leeway = Some(seconds(leeway));
            }
            // Removals first, then upserts: should a delta (wrongly) list a key both ways, it
            // stays revoked.
            for removal in feed.removed {
                match removal {
                    Removal::Credential(id) => self.credentials.remove(&id),
                    Removal::Account(id) => self.accounts.remove(&id),
                    Removal::Workspace(id) => self.workspaces.remove(&id),
                    Removal::Token(jti) => self.tokens.remove(&jti),
                };
            }
        }
        self.generated_at = Some(feed.generated_at);
        upsert(
            &mut self.credentials,
            feed.credentials
                .into_iter()
                .map(|e| (e.client_id, e.revoked_before)),
        );
        upsert(
            &mut self.accounts,
            feed.accounts
                .into_iter()
                .map(|e| (e.account_id, e.revoked_before)),
        );
        upsert(
            &mut self.workspaces,
            feed.workspaces
                .into_iter()
                .map(|e| (e.workspace_id, e.revoked_before)),
        );
        for entry in feed.tokens {
            let exp = self.tokens.entry(entry.jti).or_insert(entry.exp);
            *exp = (*exp).max(entry.exp);
        }
        self.sweep(now, min_leeway);
    }

    /// Drops the entries that can no longer concern an unexpired token at `now`.
    pub(crate) fn sweep(&mut self, now: i64, min_leeway: i64) {
        let Some(leeway) = self.leeway.map(|l| l.max(min_leeway)) else {
            return;
        };
        self.tokens
            .retain(|_, exp| now < exp.saturating_add(leeway));
        let Some(lifetime) = self.token_lifetime else {
            return;
        };
        let keep = |revoked_before: &mut i64| {
            now < revoked_before
                .saturating_add(lifetime)
                .saturating_add(leeway)
        };
        self.credentials.retain(|_, rb| keep(rb));
        self.accounts.retain(|_, rb| keep(rb));
        self.workspaces.retain(|_, rb| keep(rb));
    }

    pub(crate) fn generated_at(&self) -> Option<i64> {
        self.generated_at
    }

    /// Number of entries held (all four kinds).
    pub(crate) fn len(&self) -> usize {
        self.credentials.len() + self.accounts.len() + self.workspaces.len() + self.tokens.len()
    }

    /// Why `claims` is revoked, if it is.
    pub(crate) fn check(&self, claims: &Claims) -> Option<RevocationReason> {
        let revoked = |map: &HashMap<String, i64>, id: &str| {
            map.get(id)
                .is_some_and(|revoked_before| *revoked_before > claims.iat)
        };
        if self.tokens.contains_key(&claims.jti) {
            Some(RevocationReason::Token)
        } else if revoked(&self.credentials, &claims.client_id) {
            Some(RevocationReason::Credential)
        } else if revoked(&self.accounts, &claims.account_id) {
            Some(RevocationReason::Account)
        } else if claims
            .workspace_id
            .as_deref()
            .is_some_and(|ws| revoked(&self.workspaces, ws))
        {
            Some(RevocationReason::Workspace)
        } else {
            None
        }
    }
}
