//! Deletes and purges. Each is one statement (one transaction) except
//! [`purge_messages_before`], which deletes and then recomputes the touched session metas in
//! one explicit transaction. At level 2 every hard delete also releases the ids in
//! `message_ids`, so a purged id can be stored again.

use chrono::{DateTime, Utc};
use hotplex_storage_core::Result;

use crate::connection::PgConn;
use crate::error::{from_pg, from_pg_commit};

/// The purge statements of one level.
#[derive(Debug, Clone)]
pub(crate) struct OpsSql {
    session: String,
    deleted_before: String,
    messages_before: String,
}

impl OpsSql {
    /// The statements of `level`.
    pub(crate) fn new(level: u8) -> Self {
        // `d` holds the deleted rows; level 2 releases their ids in the same statement.
        let release = if level == 2 {
            ", released AS (DELETE FROM message_ids WHERE id IN (SELECT id FROM d))"
        } else {
            ""
        };
        Self {
            session: format!(
                "WITH d AS (DELETE FROM messages WHERE chat_session_id = $1 RETURNING id), \
                 gone AS (DELETE FROM session_meta WHERE chat_session_id = $1){release} \
                 SELECT count(*) FROM d"
            ),
            deleted_before: format!(
                "WITH d AS (DELETE FROM messages WHERE deleted AND deleted_at < $1 \
                 RETURNING id){release} SELECT count(*) FROM d"
            ),
            messages_before: format!(
                "WITH d AS (DELETE FROM messages WHERE created_at < $1 \
                 RETURNING id, chat_session_id){release} \
                 SELECT count(*), coalesce(array_agg(DISTINCT chat_session_id), '{{}}') FROM d"
            ),
        }
    }
}

const DELETE_SESSION: &str = "WITH marked AS (UPDATE messages SET deleted = true, deleted_at = $2 \
     WHERE chat_session_id = $1 AND NOT deleted RETURNING 1), \
     gone AS (DELETE FROM session_meta WHERE chat_session_id = $1) \
     SELECT count(*) FROM marked";

/// Recomputes the metas of the sessions in `$1` from their live messages and drops the metas
/// of sessions left without any.
const RECOMPUTE_METAS: &str = "WITH live AS (\
       SELECT chat_session_id, count(*) AS n, \
         (array_agg(id ORDER BY created_at DESC, seq DESC))[1] AS last_id, \
         max(created_at) AS last_at, \
         (array_agg(seq ORDER BY created_at DESC, seq DESC))[1] AS last_seq \
       FROM messages WHERE NOT deleted AND chat_session_id = ANY($1) \
       GROUP BY chat_session_id), \
     updated AS (UPDATE session_meta m SET message_count = live.n, \
         last_message_id = live.last_id, last_message_at = live.last_at, \
         last_message_seq = live.last_seq, updated_at = greatest(m.updated_at, $2) \
       FROM live WHERE m.chat_session_id = live.chat_session_id) \
     DELETE FROM session_meta WHERE chat_session_id = ANY($1) \
       AND chat_session_id NOT IN (SELECT chat_session_id FROM live)";

/// Locks the metas of the sessions in `$1`, in session order.
const LOCK_METAS: &str = "SELECT 1 FROM session_meta WHERE chat_session_id = ANY($1) \
     ORDER BY chat_session_id FOR UPDATE";

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The count in the first column of the only row of a `SELECT count(*)` statement.
fn first_count(rows: &[postgres::Row]) -> u64 {
    rows.first().map_or(0, |row| count(row.get(0)))
}

/// Soft-deletes a session's live messages (`deleted_at = now`) and drops its meta.
pub(crate) fn delete_session(conn: &mut PgConn, session: &str, now: DateTime<Utc>) -> Result<u64> {
    let rows = conn.write(DELETE_SESSION, &[&session, &now], "delete_session")?;
    Ok(first_count(&rows))
}

/// Hard-deletes a session's messages and its meta.
pub(crate) fn purge_session(conn: &mut PgConn, sql: &OpsSql, session: &str) -> Result<u64> {
    let rows = conn.write(&sql.session, &[&session], "purge_session")?;
    Ok(first_count(&rows))
}

/// Hard-deletes soft-deleted messages whose `deleted_at` is before `cutoff`.
pub(crate) fn purge_deleted_before(
    conn: &mut PgConn,
    sql: &OpsSql,
    cutoff: DateTime<Utc>,
) -> Result<u64> {
    let rows = conn.write(&sql.deleted_before, &[&cutoff], "purge_deleted_before")?;
    Ok(first_count(&rows))
}

/// Hard-deletes every message created before `cutoff` (live or deleted) and keeps the session
/// metas exact, in one transaction.
pub(crate) fn purge_messages_before(
    conn: &mut PgConn,
    sql: &OpsSql,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let op = "purge_messages_before";
    let purge = conn
        .statement(&sql.messages_before)
        .map_err(|e| from_pg(op, e))?;
    let recompute = conn
        .statement(RECOMPUTE_METAS)
        .map_err(|e| from_pg(op, e))?;
    let mut tx = conn.client.transaction().map_err(|e| from_pg(op, e))?;
    let row = tx
        .query_one(&purge, &[&cutoff])
        .map_err(|e| from_pg(op, e))?;
    let removed: i64 = row.get(0);
    let sessions: Vec<String> = row.get(1);
    if !sessions.is_empty() {
        // Lock the metas first (in one order, no deadlock): a store into one of these
        // sessions then either committed before (its message is counted below) or waits and
        // adds itself after this commit, so the recomputed count is exact.
        tx.execute(LOCK_METAS, &[&sessions])
            .map_err(|e| from_pg(op, e))?;
        tx.execute(&recompute, &[&sessions, &now])
            .map_err(|e| from_pg(op, e))?;
    }
    tx.commit().map_err(|e| from_pg_commit(op, e))?;
    Ok(count(removed))
}
