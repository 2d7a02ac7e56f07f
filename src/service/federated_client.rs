//! `federated` credentials at the token endpoint: the client presents, as its client assertion,
//! a token an external identity provider issued to the workload (a Kubernetes service-account
//! token, a CI system's OIDC token, …), and the credential's trust rules say whether it is
//! accepted.
//!
//! The request names the credential by `client_id` (the external token's `iss` is its own
//! issuer, not a client). The credential and its rules are read in one query; the federation
//! engine ([`crate::service::federation`]) checks the token against them; an external `jti`, if
//! present, is then recorded in the replay record shared with `private_key_jwt`, so it is
//! accepted once per credential until the token expires. Every refusal is the same
//! `invalid_client` answer; the cause goes to the debug log, never the token itself.

use chrono::{DateTime, Utc};

use crate::domain::credential::AuthMethod;
use crate::domain::ids::ClientId;
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::domain::quota;
use crate::domain::trust::TrustRule;
use crate::service::federation::MAX_TOKEN_BYTES;
use crate::service::token::{AuthenticatedClient, Authenticator};
use crate::state::AppState;
use crate::storage::assertion_jtis::{self, JtiRecord};

fn refused(why: &str) -> OAuthError {
    log::debug!("federated client refused: {why}");
    OAuthError::InvalidClient(CLIENT_AUTH_FAILED)
}

/// Authenticates the `federated` credential `client_id` by the external `token`.
pub async fn verify(
    state: &AppState,
    client_id: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    let client_id = ClientId::parse(client_id).ok_or_else(|| refused("malformed client_id"))?;
    // Garbage costs no query: the engine would refuse it anyway.
    if token.len() > MAX_TOKEN_BYTES || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(refused("the token is not a compact JWS of at most 16 KiB"));
    }
    let month = quota::month_of(now);
    let record = state
        .auth_lookups
        .read(client_id.as_str(), now, &month)
        .await?
        .filter(|r| r.credential.auth_method == AuthMethod::Federated)
        .ok_or_else(|| refused("no federated credential has this client_id"))?;
    let rules: Vec<TrustRule> = record.trust_rules.iter().map(|r| r.rule.clone()).collect();
    let leeway = chrono::Duration::seconds(state.settings.keys.leeway_seconds);
    let verified = state
        .federation
        .verify(token, &rules, now, leeway)
        .await
        .map_err(|e| refused(&e.to_string()))?;
    let rule_id = record
        .trust_rules
        .get(verified.rule)
        .map(|r| r.id.clone())
        .ok_or_else(|| refused("the matched rule is gone"))?;
    if let Some(jti) = verified.jti {
        // Remembered as long as the token could be accepted: its `exp` plus the leeway.
        let until = (verified.exp + leeway).max(now);
        let credential_id = record.credential.id.clone();
        let recorded = state
            .db(move |conn| assertion_jtis::record(conn, &credential_id, &jti, until, now))
            .await?;
        if recorded == JtiRecord::Replayed {
            return Err(refused("the token's jti was used before"));
        }
    }
    Ok(AuthenticatedClient {
        record,
        authenticator: Authenticator::Rule(rule_id),
        month,
    })
}
