//! Tokens signed per account and UTC month, for monthly quotas.

use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::account_usage;
use super::{DbConnection, StorageError};

/// One account's count for one month.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_usage)]
struct UsageRow {
    account_id: String,
    month: String,
    tokens_issued: i64,
}

/// Adds `tokens` to the count of `account_id` in `month` (`YYYY-MM`). The increment happens in
/// the database, so replicas flushing at the same moment add up instead of overwriting.
pub fn add_tokens(
    conn: &mut DbConnection,
    account_id: &str,
    month: &str,
    tokens: i64,
) -> Result<(), StorageError> {
    let row = UsageRow {
        account_id: account_id.to_owned(),
        month: month.to_owned(),
        tokens_issued: tokens,
    };
    let add = account_usage::tokens_issued
        .eq(account_usage::tokens_issued + excluded(account_usage::tokens_issued));
    // The MultiConnection enum has no upsert; each backend runs the same statement itself.
    on_backend!(conn, c => diesel::insert_into(account_usage::table)
        .values(&row)
        .on_conflict((account_usage::account_id, account_usage::month))
        .do_update()
        .set(add)
        .execute(c)?);
    Ok(())
}

/// The flushed count of `account_id` in `month`; 0 when nothing was counted yet.
pub fn tokens_issued(
    conn: &mut DbConnection,
    account_id: &str,
    month: &str,
) -> Result<i64, StorageError> {
    Ok(account_usage::table
        .find((account_id, month))
        .select(account_usage::tokens_issued)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}
