//! The replay record of client assertions: each `(credential, jti)` is accepted once until it
//! expires. It lives in the database so that every replica sees what the others accepted.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::assertion_jtis;
use super::{to_db, DbConnection, StorageError};

/// What recording a `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiRecord {
    /// First use: recorded.
    Recorded,
    /// Already recorded and not yet expired: a replay.
    Replayed,
}

/// Records that `credential_id` used `jti`, to be refused again until `expires_at`. One
/// statement, atomic on both backends: of two replicas recording the same pair at once, exactly
/// one gets [`JtiRecord::Recorded`]. A row left over from an earlier use that has expired (not
/// yet pruned) is taken over, as that `jti` may be used again.
pub fn record(
    conn: &mut DbConnection,
    credential_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JtiRecord, StorageError> {
    let (expires_at, now) = (to_db(expires_at), to_db(now));
    // INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now: a live row is left alone and
    // counts 0 rows written. (`FilterDsl` by path: as a method it would clash with `QueryDsl`.)
    let written = on_backend!(conn, c => diesel::query_dsl::methods::FilterDsl::filter(
        diesel::insert_into(assertion_jtis::table)
            .values((
                assertion_jtis::credential_id.eq(credential_id),
                assertion_jtis::jti.eq(jti),
                assertion_jtis::expires_at.eq(expires_at),
            ))
            .on_conflict((assertion_jtis::credential_id, assertion_jtis::jti))
            .do_update()
            .set(assertion_jtis::expires_at.eq(excluded(assertion_jtis::expires_at))),
        assertion_jtis::expires_at.le(now),
    )
    .execute(c))?;
    Ok(if written == 0 {
        JtiRecord::Replayed
    } else {
        JtiRecord::Recorded
    })
}

/// Forgets the records that expired by `now`; how many.
pub fn prune(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, StorageError> {
    Ok(
        diesel::delete(assertion_jtis::table.filter(assertion_jtis::expires_at.le(to_db(now))))
            .execute(conn)?,
    )
}
