//! Rules for credentials, accounts and workspaces that hold whatever stores them.

use chrono::{DateTime, Utc};

/// The role every account credential carries; it cannot be changed.
pub const ACCOUNT_ROLE: &str = "account_admin";

const MAX_NAME_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// Account keys act across every workspace of the account; workspace keys within one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// "Account API key".
    Account,
    /// "Workspace API key".
    Workspace,
}

impl CredentialKind {
    /// The name used in the API, the database and the `key_type` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Workspace => "workspace",
        }
    }

    /// Parses a stored or requested kind.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "account" => Some(Self::Account),
            "workspace" => Some(Self::Workspace),
            _ => None,
        }
    }

    /// The `client_id` prefix of this kind.
    pub fn client_id_prefix(self) -> &'static str {
        match self {
            Self::Account => "ak_",
            Self::Workspace => "wk_",
        }
    }
}

/// How a credential's client proves who it is at the token endpoint; fixed at creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMethod {
    /// A secret Tessera generated (`client_secret_basic` / `client_secret_post`).
    #[default]
    ClientSecret,
    /// An assertion the client signs with its own private key (RFC 7523); Tessera stores only
    /// the public keys.
    PrivateKeyJwt,
    /// A token an external identity provider issued to the workload, accepted by trust rules.
    Federated,
}

impl AuthMethod {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::Federated => "federated",
        }
    }

    /// Parses a stored or requested method.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "client_secret" => Some(Self::ClientSecret),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "federated" => Some(Self::Federated),
            _ => None,
        }
    }
}

/// A credential's state as an administrator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialStatus {
    /// Can obtain tokens.
    Active,
    /// Past its `expires_at`.
    Expired,
    /// Deactivated by an administrator; permanent.
    Deactivated,
}

impl CredentialStatus {
    /// Derives the status; deactivation wins over expiry.
    pub fn derive(
        deactivated_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if deactivated_at.is_some() {
            Self::Deactivated
        } else if expires_at.is_some_and(|at| at <= now) {
            Self::Expired
        } else {
            Self::Active
        }
    }

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Deactivated => "deactivated",
        }
    }

    /// Parses an API filter value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "expired" => Some(Self::Expired),
            "deactivated" => Some(Self::Deactivated),
            _ => None,
        }
    }
}

/// The state of an account or a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantStatus {
    /// Its credentials obtain tokens.
    Active,
    /// Its credentials are refused with `unauthorized_client`.
    Suspended,
}

impl TenantStatus {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses an API or stored value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

impl TenantStatus {
    /// What asking for `requested` at `now` changes: the new status and its suspension time,
    /// or `None` when the tenant already has that status (nothing to record).
    pub fn change_to(
        self,
        requested: TenantStatus,
        now: DateTime<Utc>,
    ) -> Option<(TenantStatus, Option<DateTime<Utc>>)> {
        let suspended_at = match requested {
            Self::Suspended => Some(now),
            Self::Active => None,
        };
        (requested != self).then_some((requested, suspended_at))
    }
}

/// The longest rotation grace period: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// When each live secret stops working after a rotation at `now` with `grace_seconds`. `ends`
/// are the live secrets' current ends, newest first. The newest keeps working until the end of
/// the grace period (or its own earlier end); every older one, still in an earlier grace
/// period, stops at once — so never more than two secrets work.
pub fn rotated_secret_ends(
    ends: &[Option<DateTime<Utc>>],
    grace_seconds: i64,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, RuleViolation> {
    if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(RuleViolation(format!(
            "grace_seconds must be between 0 and {MAX_GRACE_SECONDS} (7 days)"
        )));
    }
    let grace_end = now + chrono::Duration::seconds(grace_seconds);
    Ok(ends
        .iter()
        .enumerate()
        .map(|(i, end)| {
            let cut = if i == 0 { grace_end } else { now };
            end.map_or(cut, |e| e.min(cut))
        })
        .collect())
}

/// A plan's limit on active credentials, refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan {plan:?} allows at most {max} active credentials (max_active_credentials); the account has {active}")]
pub struct PlanLimitExceeded {
    /// The plan's name.
    pub plan: String,
    /// Its `max_active_credentials`.
    pub max: u64,
    /// Active credentials the account has.
    pub active: u64,
}

/// Whether an account of plan `plan` with `active` active credentials may have one more.
pub fn check_plan_limit(plan: &str, max: u64, active: u64) -> Result<(), PlanLimitExceeded> {
    if active >= max {
        Err(PlanLimitExceeded {
            plan: plan.to_owned(),
            max,
            active,
        })
    } else {
        Ok(())
    }
}

/// A rule an administrator's input broke; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleViolation(pub String);

/// The role a new credential gets. Account keys are always `account_admin`; a workspace key
/// needs one of the configured roles.
pub fn role_for(
    kind: CredentialKind,
    requested: Option<&str>,
    workspace_roles: &[String],
) -> Result<String, RuleViolation> {
    match kind {
        CredentialKind::Account => match requested {
            None => Ok(ACCOUNT_ROLE.to_owned()),
            Some(ACCOUNT_ROLE) => Ok(ACCOUNT_ROLE.to_owned()),
            Some(_) => Err(RuleViolation(format!(
                "an account credential always has the role {ACCOUNT_ROLE}"
            ))),
        },
        CredentialKind::Workspace => {
            let role = requested.ok_or_else(|| {
                RuleViolation(format!(
                    "role is required; allowed roles: {}",
                    workspace_roles.join(", ")
                ))
            })?;
            workspace_role(role, workspace_roles)
        }
    }
}

/// Checks a workspace role against the configured list.
pub fn workspace_role(role: &str, workspace_roles: &[String]) -> Result<String, RuleViolation> {
    if workspace_roles.iter().any(|r| r == role) {
        Ok(role.to_owned())
    } else {
        Err(RuleViolation(format!(
            "unknown role {:?}; allowed roles: {}",
            truncate(role, 64),
            workspace_roles.join(", ")
        )))
    }
}

/// A display name: trimmed, 1–200 characters, no control characters.
pub fn name(field: &str, value: &str) -> Result<String, RuleViolation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(RuleViolation(format!("{field} must not be empty")));
    }
    text(field, trimmed, MAX_NAME_CHARS)
}

/// A free-text description: up to 2000 characters, no control characters but newlines and tabs.
pub fn description(value: &str) -> Result<String, RuleViolation> {
    text("description", value, MAX_DESCRIPTION_CHARS)
}

fn text(field: &str, value: &str, max: usize) -> Result<String, RuleViolation> {
    if value.chars().count() > max {
        return Err(RuleViolation(format!(
            "{field} must be at most {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(RuleViolation(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

/// Cuts a client-supplied value before echoing it in an error message.
pub fn truncate(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn roles() -> Vec<String> {
        vec!["workspace_admin".into(), "content_manager".into()]
    }

    #[test]
    fn auth_methods_round_trip_and_default_to_secrets() {
        for m in [
            AuthMethod::ClientSecret,
            AuthMethod::PrivateKeyJwt,
            AuthMethod::Federated,
        ] {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(AuthMethod::default(), AuthMethod::ClientSecret);
        assert_eq!(AuthMethod::parse("client_secret_basic"), None);
    }

    #[test]
    fn account_keys_are_always_account_admin() {
        assert_eq!(
            role_for(CredentialKind::Account, None, &roles()).unwrap(),
            ACCOUNT_ROLE
        );
        assert!(role_for(CredentialKind::Account, Some("content_manager"), &roles()).is_err());
    }

    #[test]
    fn workspace_keys_need_a_configured_role() {
        assert!(role_for(CredentialKind::Workspace, None, &roles()).is_err());
        let err = role_for(CredentialKind::Workspace, Some("root"), &roles()).unwrap_err();
        assert!(err.0.contains("workspace_admin, content_manager"));
        assert_eq!(
            role_for(CredentialKind::Workspace, Some("content_manager"), &roles()).unwrap(),
            "content_manager"
        );
    }

    #[test]
    fn status_prefers_deactivation_then_expiry() {
        let now = Utc::now();
        let past = Some(now - Duration::seconds(1));
        let future = Some(now + Duration::seconds(1));
        assert_eq!(
            CredentialStatus::derive(None, None, now),
            CredentialStatus::Active
        );
        assert_eq!(
            CredentialStatus::derive(None, future, now),
            CredentialStatus::Active
        );
        assert_eq!(
            CredentialStatus::derive(None, Some(now), now),
            CredentialStatus::Expired
        );
        assert_eq!(
            CredentialStatus::derive(past, past, now),
            CredentialStatus::Deactivated
        );
    }

    #[test]
    fn a_status_change_records_when_a_suspension_began() {
        let now = Utc::now();
        let active = TenantStatus::Active;
        assert_eq!(active.change_to(TenantStatus::Active, now), None);
        assert_eq!(
            active.change_to(TenantStatus::Suspended, now),
            Some((TenantStatus::Suspended, Some(now)))
        );
        assert_eq!(
            TenantStatus::Suspended.change_to(TenantStatus::Active, now),
            Some((TenantStatus::Active, None))
        );
    }

    #[test]
    fn a_rotation_keeps_at_most_the_newest_old_secret_in_grace() {
        let now = Utc::now();
        let hour = chrono::Duration::hours(1);
        let ends = rotated_secret_ends(&[None, Some(now + hour)], 600, now).unwrap();
        assert_eq!(ends, vec![now + chrono::Duration::seconds(600), now]);
        // A current secret already ending sooner keeps its own end.
        let soon = now + chrono::Duration::seconds(5);
        assert_eq!(
            rotated_secret_ends(&[Some(soon)], 600, now).unwrap(),
            vec![soon]
        );
        assert!(rotated_secret_ends(&[None], -1, now).is_err());
        assert!(rotated_secret_ends(&[None], MAX_GRACE_SECONDS + 1, now).is_err());
    }

    #[test]
    fn the_plan_limit_counts_active_credentials() {
        assert!(check_plan_limit("standard", 2, 1).is_ok());
        let refused = check_plan_limit("standard", 2, 2).unwrap_err();
        assert!(refused.to_string().contains("max_active_credentials"));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  CI bot ").unwrap(), "CI bot");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(201)).is_err());
        assert!(name("name", "a\0b").is_err());
        assert!(description("line\nline").is_ok());
    }
}
