//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): authenticating a client by a
//! short-lived assertion it signed with one of its registered keys.
//!
//! The order keeps garbage cheap and the database small: the assertion is read and its claims
//! checked (pure, [`crate::domain::client_assertion`]) before any query; the credential and its
//! keys are read in one query; the signature is checked with the guard crate's `verify_jws`;
//! only then is the `jti` recorded, so only verified assertions take a row of the replay record.
//! Every refusal is the same `invalid_client` answer; the cause goes to the debug log (never the
//! assertion itself).

use chrono::{DateTime, Utc};
use tessera_guard::verify_jws;

use crate::domain::client_assertion::{Assertion, Expected, Refusal};
use crate::domain::client_jwks::ClientJwk;
use crate::domain::credential::AuthMethod;
use crate::domain::ids::ClientId;
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::domain::quota;
use crate::service::token::{AuthenticatedClient, Authenticator};
use crate::state::AppState;
use crate::storage::assertion_jtis::{self, JtiRecord};
use crate::storage::credential_keys::CredentialKey;
use crate::storage::StorageError;

/// The `iss` an assertion claims, unverified: only to count a failure against the client it
/// names, as a wrong secret counts against its `client_id`.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    Assertion::parse(assertion).ok()?.claims.iss
}

/// Why a verification did not produce a client.
enum Failure {
    Refused(Refusal),
    Storage(StorageError),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// Authenticates the client that signed `assertion`. `client_id`, when the request carries
/// one, must be the assertion's `iss`.
pub async fn verify(
    state: &AppState,
    client_id: Option<String>,
    assertion: &str,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, OAuthError> {
    match verify_assertion(state, client_id, assertion, now).await {
        Ok(client) => Ok(client),
        Err(Failure::Refused(refusal)) => {
            log::debug!("client assertion refused: {}", refusal.reason());
            Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED))
        }
        Err(Failure::Storage(e)) => Err(e.into()),
    }
}

async fn verify_assertion(
    state: &AppState,
    client_id: Option<String>,
    assertion: &str,
    now: DateTime<Utc>,
) -> Result<AuthenticatedClient, Failure> {
    let assertion = Assertion::parse(assertion)?;
    let iss = assertion.claims.iss.as_deref().ok_or(Refusal::Issuer)?;
    if client_id.is_some_and(|id| id != iss) {
        return Err(Refusal::ClientIdMismatch.into());
    }
    let client_id = ClientId::parse(iss).ok_or(Refusal::NotThisMethod)?;
    let settings = &state.settings;
    let accepted = assertion.claims.check(&Expected {
        client_id: client_id.as_str(),
        token_url: &settings.token_url(),
        issuer: &settings.server.issuer,
        now: now.timestamp(),
        leeway: settings.keys.leeway_seconds,
    })?;

    let month = quota::month_of(now);
    let record = state
        .auth_lookups
        .read(client_id.as_str(), now, &month)
        .await?
        .filter(|r| r.credential.auth_method == AuthMethod::PrivateKeyJwt)
        .ok_or(Refusal::NotThisMethod)?;
    let (key_id, key) = choose_key(&record.keys, &assertion)?;
    if !verify_jws(key.key(), assertion.algorithm, assertion.token) {
        return Err(Refusal::Signature.into());
    }

    // Replicas share the record; a clock or date out of range only makes it last longer.
    let until = DateTime::from_timestamp(accepted.remember_until, 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
        .max(now);
    let credential_id = record.credential.id.clone();
    let jti = accepted.jti;
    let recorded = state
        .db(move |conn| assertion_jtis::record(conn, &credential_id, &jti, until, now))
        .await?;
    if recorded == JtiRecord::Replayed {
        return Err(Refusal::Replayed.into());
    }
    Ok(AuthenticatedClient {
        record,
        authenticator: Authenticator::Key(key_id),
        month,
    })
}

/// The registered key that verifies `assertion`: the one its `kid` names, or, without a `kid`,
/// the only key that can verify its algorithm. The key's type and stated `alg` must allow the
/// assertion's algorithm, so an assertion cannot have an RSA key read as an HMAC secret or an
/// EC key.
fn choose_key(
    keys: &[CredentialKey],
    assertion: &Assertion<'_>,
) -> Result<(String, ClientJwk), Refusal> {
    let parsed = |row: &CredentialKey| match ClientJwk::from_stored(&row.jwk) {
        Ok(key) => Some((row.id.clone(), key)),
        Err(e) => {
            log::error!("credential key {} cannot be read: {e}", row.id);
            None
        }
    };
    let fits = |(_, key): &(String, ClientJwk)| key.key().accepts(assertion.algorithm);
    match assertion.kid.as_deref() {
        Some(kid) => keys
            .iter()
            .find(|row| row.kid == kid)
            .and_then(parsed)
            .filter(fits)
            .ok_or(Refusal::UnknownKey),
        None => {
            let mut candidates = keys.iter().filter_map(parsed).filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Ok(only),
                _ => Err(Refusal::UnknownKey),
            }
        }
    }
}
