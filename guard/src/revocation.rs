//! The revocation feed (SPEC §3, `GET {issuer}/oauth/revocations`).
//!
//! Each feed is a complete snapshot of what is revoked *now*: applying one replaces the previous
//! one. That is what lets a reactivated workspace's tokens work again, and it is why entries can
//! drop out once every token they could concern has expired.
//!
//! Rule (SPEC §3): a token is rejected when its `client_id`, `account_id` or `workspace_id` is
//! listed with `revoked_before` *strictly later* than the token's `iat`, or its `jti` is listed.
//! Strictly: a token issued in the same second as a rotation stays valid.

use std::collections::{HashMap, HashSet};

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

/// The revocation feed document.
///
/// ```
/// use tessera_guard::RevocationFeed;
/// let feed: RevocationFeed = serde_json::from_str(r#"{
///     "generated_at": 1763800000,
///     "credentials": [{"client_id": "wk_1", "revoked_before": 1763799000}],
///     "accounts": [], "workspaces": [],
///     "tokens": [{"jti": "j1", "exp": 1763880000}]
/// }"#).unwrap();
/// assert_eq!(feed.credentials.len(), 1);
///
/// // Or built in code, e.g. in tests:
/// let feed = RevocationFeed::default().with_account("acc_1", 1763799500).with_token("j2", 0);
/// assert_eq!(feed.accounts[0].account_id, "acc_1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationFeed {
    /// When the issuer produced the feed (Unix seconds).
    #[serde(default)]
    pub generated_at: i64,
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
}

impl RevocationFeed {
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
}

/// The feed, indexed for the per-request check (a few hash lookups).
#[derive(Debug, Default)]
pub(crate) struct RevocationIndex {
    generated_at: Option<i64>,
    credentials: HashMap<String, i64>,
    accounts: HashMap<String, i64>,
    workspaces: HashMap<String, i64>,
    tokens: HashSet<String>,
}

fn index_latest<I: IntoIterator<Item = (String, i64)>>(entries: I) -> HashMap<String, i64> {
    let mut map = HashMap::new();
    for (id, revoked_before) in entries {
        // Should an id be listed twice, the later cut-off is the safe one.
        map.entry(id)
            .and_modify(|rb: &mut i64| *rb = (*rb).max(revoked_before))
            .or_insert(revoked_before);
    }
    map
}

impl RevocationIndex {
    pub(crate) fn from_feed(feed: RevocationFeed) -> Self {
        Self {
            generated_at: Some(feed.generated_at),
            credentials: index_latest(
                feed.credentials
                    .into_iter()
                    .map(|e| (e.client_id, e.revoked_before)),
            ),
            accounts: index_latest(
                feed.accounts
                    .into_iter()
                    .map(|e| (e.account_id, e.revoked_before)),
            ),
            workspaces: index_latest(
                feed.workspaces
                    .into_iter()
                    .map(|e| (e.workspace_id, e.revoked_before)),
            ),
            tokens: feed.tokens.into_iter().map(|e| e.jti).collect(),
        }
    }

    pub(crate) fn generated_at(&self) -> Option<i64> {
        self.generated_at
    }

    /// Why `claims` is revoked, if it is.
    pub(crate) fn check(&self, claims: &Claims) -> Option<RevocationReason> {
        let revoked = |map: &HashMap<String, i64>, id: &str| {
            map.get(id)
                .is_some_and(|revoked_before| *revoked_before > claims.iat)
        };
        if self.tokens.contains(&claims.jti) {
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
