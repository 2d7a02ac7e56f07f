//! The trust rules of `federated` credentials: which external tokens each accepts, in order.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::trust_rules;
use super::{from_db, to_db, DbConnection, StorageError};
use crate::domain::trust::TrustRule;

/// One stored trust rule of a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrustRule {
    /// Row id.
    pub id: String,
    /// Owning credential.
    pub credential_id: String,
    /// Its place in the credential's list, from 0: the first rule that matches wins.
    pub position: i32,
    /// The rule, validated before it was stored.
    pub rule: TrustRule,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Last successful token request it matched (flushed periodically).
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = trust_rules)]
struct Row {
    id: String,
    credential_id: String,
    position: i32,
    issuer: String,
    subject: String,
    audience: String,
    claims: String,
    jwks_uri: Option<String>,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
}

impl TryFrom<Row> for StoredTrustRule {
    type Error = StorageError;

    fn try_from(row: Row) -> Result<Self, StorageError> {
        let claims = match serde_json::from_str(&row.claims) {
            Ok(serde_json::Value::Object(claims)) => claims,
            _ => return Err(StorageError::corrupt("trust_rules.claims", &row.claims)),
        };
        let rule = TrustRule::new(row.issuer, row.subject, row.audience, claims, row.jwks_uri)
            .map_err(|e| StorageError::corrupt("trust_rules", &e.to_string()))?;
        Ok(Self {
            id: row.id,
            credential_id: row.credential_id,
            position: row.position,
            rule,
            created_at: from_db(row.created_at),
            last_used_at: row.last_used_at.map(from_db),
        })
    }
}

impl From<&StoredTrustRule> for Row {
    fn from(r: &StoredTrustRule) -> Self {
        Self {
            id: r.id.clone(),
            credential_id: r.credential_id.clone(),
            position: r.position,
            issuer: r.rule.issuer().to_owned(),
            subject: r.rule.subject().to_owned(),
            audience: r.rule.audience().to_owned(),
            claims: serde_json::Value::Object(r.rule.claims().clone()).to_string(),
            jwks_uri: r.rule.jwks_uri().map(str::to_owned),
            created_at: to_db(r.created_at),
            last_used_at: r.last_used_at.map(to_db),
        }
    }
}

impl StoredTrustRule {
    /// The rules of `credential_id`, in order. On the backend's own connection: the token
    /// endpoint reads them for every `federated` request.
    pub fn of(conn: &mut DbConnection, credential_id: &str) -> Result<Vec<Self>, StorageError> {
        let rows = on_backend!(conn, c => trust_rules::table
            .filter(trust_rules::credential_id.eq(credential_id))
            .select(Row::as_select())
            .order(trust_rules::position.asc())
            .load(c))?;
        rows.into_iter().map(Self::try_from).collect()
    }

    /// Inserts `rules`, one statement each (at most 20).
    pub fn insert_all(conn: &mut DbConnection, rules: &[Self]) -> Result<(), StorageError> {
        for rule in rules {
            diesel::insert_into(trust_rules::table)
                .values(Row::from(rule))
                .execute(conn)?;
        }
        Ok(())
    }

    /// Makes `rules` the whole list of `credential_id`. Call it in the transaction that locked
    /// the credential, so no reader sees half a list.
    pub fn replace_all(
        conn: &mut DbConnection,
        credential_id: &str,
        rules: &[Self],
    ) -> Result<(), StorageError> {
        diesel::delete(trust_rules::table.filter(trust_rules::credential_id.eq(credential_id)))
            .execute(conn)?;
        Self::insert_all(conn, rules)
    }

    /// Sets the rule's last use if `at` is later than the stored one. A rule replaced since has
    /// no row, and nothing is written.
    pub fn record_usage(
        conn: &mut DbConnection,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        move_last_used!(conn, trust_rules, id, at)
    }
}
