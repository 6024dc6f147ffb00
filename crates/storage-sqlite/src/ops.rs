//! The SQL of every write, run by the writer thread inside its transaction.
//!
//! Each function assumes it runs inside a transaction (the writer wraps every request in a
//! savepoint of the group's `BEGIN IMMEDIATE` transaction), so a message and its session meta
//! change together or not at all.

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreReceipt, time};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::from_sqlite;

/// One write request, after validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WriteOp {
    /// Store prepared messages (`prepare_message` already ran): all or nothing.
    Store(Vec<ChatAppMessage>),
    /// Soft-delete a session's live messages and drop its meta.
    DeleteSession(String),
    /// Hard-delete a session's messages and its meta.
    PurgeSession(String),
    /// Hard-delete soft-deleted messages with `deleted_at` before this time (µs).
    PurgeDeletedBefore(i64),
    /// Hard-delete up to [`PURGE_CHUNK`] messages created before this time (µs), live or
    /// deleted, recomputing the metas of the sessions that lost live messages.
    PurgeMessagesBefore(i64),
    /// Tests only: run this SQL (to simulate failures the public operations cannot cause).
    #[cfg(test)]
    Sql(&'static str),
    /// Tests only: run this SQL, then panic (a bug in the middle of a write).
    #[cfg(test)]
    PanicAfter(&'static str),
}

impl WriteOp {
    /// About how many bytes the request holds while it waits for the writer (its messages'
    /// [`approx_bytes`](ChatAppMessage::approx_bytes), or a small constant).
    pub(crate) fn approx_bytes(&self) -> u64 {
        const SMALL_REQUEST_BYTES: u64 = 256;
        match self {
            Self::Store(rows) => rows
                .iter()
                .map(ChatAppMessage::approx_bytes)
                .fold(SMALL_REQUEST_BYTES, u64::saturating_add),
            _ => SMALL_REQUEST_BYTES,
        }
    }

    /// Whether the write frees space (deletes, purges, retention) and so may use the room a
    /// size limit keeps back from stores (see `connection::PageBudget`).
    pub(crate) fn frees_space(&self) -> bool {
        !matches!(self, Self::Store(_))
    }

    /// The operation name used in errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::DeleteSession(_) => "delete_session",
            Self::PurgeSession(_) => "purge_session",
            Self::PurgeDeletedBefore(_) => "purge_deleted_before",
            Self::PurgeMessagesBefore(_) => "purge_messages_before",
            #[cfg(test)]
            Self::Sql(_) => "sql",
            #[cfg(test)]
            Self::PanicAfter(_) => "panic",
        }
    }
}

/// The result of one [`WriteOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteOutput {
    /// Receipts of a `Store`, in input order.
    Receipts(Vec<StoreReceipt>),
    /// Rows affected by a delete or purge.
    Rows(u64),
}

/// Runs `op` on `conn` (inside the caller's transaction).
pub(crate) fn apply(conn: &Connection, op: &WriteOp) -> Result<WriteOutput> {
    let name = op.name();
    let sql = |e| from_sqlite(name, e);
    match op {
        WriteOp::Store(rows) => {
            let mut receipts = Vec::with_capacity(rows.len());
            for row in rows {
                receipts.push(insert_message(conn, row)?);
            }
            Ok(WriteOutput::Receipts(receipts))
        }
        WriteOp::DeleteSession(session) => {
            let now = time::to_micros(time::now_micros());
            let marked = conn
                .prepare_cached(
                    "UPDATE messages SET deleted = 1, deleted_at = ?2 \
                     WHERE chat_session_id = ?1 AND deleted = 0",
                )
                .and_then(|mut s| s.execute(params![session, now]))
                .map_err(sql)?;
            delete_meta(conn, session).map_err(sql)?;
            Ok(WriteOutput::Rows(rows(marked)))
        }
        WriteOp::PurgeSession(session) => {
            let removed = conn
                .prepare_cached("DELETE FROM messages WHERE chat_session_id = ?1")
                .and_then(|mut s| s.execute(params![session]))
                .map_err(sql)?;
            delete_meta(conn, session).map_err(sql)?;
            Ok(WriteOutput::Rows(rows(removed)))
        }
        WriteOp::PurgeDeletedBefore(cutoff) => {
            let removed = conn
                .prepare_cached("DELETE FROM messages WHERE deleted = 1 AND deleted_at < ?1")
                .and_then(|mut s| s.execute(params![cutoff]))
                .map_err(sql)?;
            Ok(WriteOutput::Rows(rows(removed)))
        }
        WriteOp::PurgeMessagesBefore(cutoff) => purge_messages_before(conn, *cutoff, PURGE_CHUNK)
            .map(WriteOutput::Rows)
            .map_err(sql),
        #[cfg(test)]
        WriteOp::Sql(text) => conn
            .execute_batch(text)
            .map(|()| WriteOutput::Rows(0))
            .map_err(sql),
        #[cfg(test)]
        WriteOp::PanicAfter(text) => {
            conn.execute_batch(text).map_err(sql)?;
            panic!("injected panic after {text}")
        }
    }
}

/// Whether the search index queue holds messages (migration 3, `docs/schema.md`).
pub(crate) fn has_queued(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM message_search_queue)")?
        .query_row([], |r| r.get(0))
}

/// Moves every queued message into the search index and empties the queue: what the writer
/// runs at the end of every transaction that queued some. One `INSERT … SELECT` per
/// transaction, so FTS5 writes one segment per commit rather than one per message.
pub(crate) fn index_queued(conn: &Connection) -> rusqlite::Result<()> {
    for sql in INDEX_QUEUED {
        conn.prepare_cached(sql)?.execute([])?;
    }
    Ok(())
}

/// The statements of [`index_queued`].
const INDEX_QUEUED: [&str; 2] = [
    "INSERT INTO message_search (rowid, body) SELECT seq, body FROM message_search_queue",
    "DELETE FROM message_search_queue",
];

/// Messages removed by one `PurgeMessagesBefore` request (one transaction); the store repeats
/// the request until fewer are removed, so other writers get in between chunks.
pub(crate) const PURGE_CHUNK: usize = 10_000;

/// Deletes up to `chunk` of the oldest messages created before `cutoff` and makes the metas of
/// the sessions that lost a live message exact again.
fn purge_messages_before(conn: &Connection, cutoff: i64, chunk: usize) -> rusqlite::Result<u64> {
    let limit = i64::try_from(chunk).unwrap_or(i64::MAX);
    let mut touched = std::collections::BTreeSet::new();
    let mut removed: u64 = 0;
    {
        let mut stmt = conn.prepare_cached(
            "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE created_at < ?1 \
             ORDER BY created_at, seq LIMIT ?2) RETURNING chat_session_id, deleted",
        )?;
        let mut returned = stmt.query(params![cutoff, limit])?;
        while let Some(row) = returned.next()? {
            removed += 1;
            if row.get::<_, i64>(1)? == 0 {
                touched.insert(row.get::<_, String>(0)?);
            }
        }
    }
    let now = time::to_micros(time::now_micros());
    for session in &touched {
        recompute_meta(conn, session, now)?;
    }
    Ok(removed)
}

/// Recomputes the count and last message of `session`'s meta from its live messages, or
/// drops the meta when none is left. `updated_at` never moves backwards.
fn recompute_meta(conn: &Connection, session: &str, now: i64) -> rusqlite::Result<()> {
    let last: Option<(String, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, created_at, seq FROM messages WHERE chat_session_id = ?1 AND deleted = 0 \
             ORDER BY created_at DESC, seq DESC LIMIT 1",
        )?
        .query_row(params![session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match last {
        None => delete_meta(conn, session).map(drop),
        Some((id, at, seq)) => conn
            .prepare_cached(
                "UPDATE session_meta SET message_count = (SELECT count(*) FROM messages \
                 WHERE chat_session_id = ?1 AND deleted = 0), last_message_id = ?2, \
                 last_message_at = ?3, last_message_seq = ?4, updated_at = max(updated_at, ?5) \
                 WHERE chat_session_id = ?1",
            )?
            .execute(params![session, id, at, seq, now])
            .map(drop),
    }
}

fn rows(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

fn delete_meta(conn: &Connection, session: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM session_meta WHERE chat_session_id = ?1")?
        .execute(params![session])
}

const INSERT_MESSAGE: &str = "INSERT INTO messages (id, chat_session_id, chat_platform, \
    chat_user_id, chat_bot_user_id, chat_channel_id, chat_thread_id, engine_session_id, \
    engine_namespace, provider_session_id, provider_type, message_type, from_user_id, \
    from_user_name, to_user_id, content, metadata, created_at, updated_at, deleted, deleted_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21) \
    ON CONFLICT (id) DO NOTHING \
    RETURNING seq";

/// Creates the meta of a session's first live message, or folds a further live message
/// into it: count + 1, empty platform/user filled, last message by `(created_at, seq)`,
/// `updated_at` never moving backwards (as in the memory model, even if the clock steps back).
const UPSERT_SESSION_META: &str = "INSERT INTO session_meta (chat_session_id, chat_platform, \
    chat_user_id, last_message_id, last_message_at, last_message_seq, message_count, \
    created_at, updated_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7) \
    ON CONFLICT (chat_session_id) DO UPDATE SET \
      chat_platform = CASE WHEN chat_platform = '' THEN excluded.chat_platform \
                      ELSE chat_platform END, \
      chat_user_id = CASE WHEN chat_user_id = '' THEN excluded.chat_user_id \
                     ELSE chat_user_id END, \
      last_message_id = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
                        > (last_message_at, last_message_seq) \
                        THEN excluded.last_message_id ELSE last_message_id END, \
      last_message_seq = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
                         > (last_message_at, last_message_seq) \
                         THEN excluded.last_message_seq ELSE last_message_seq END, \
      last_message_at = max(last_message_at, excluded.last_message_at), \
      message_count = message_count + 1, \
      updated_at = max(updated_at, excluded.updated_at)";

/// Inserts one prepared message and, when it is live, updates its session meta.
/// An existing id changes nothing and yields `AlreadyStored`.
fn insert_message(conn: &Connection, row: &ChatAppMessage) -> Result<StoreReceipt> {
    let sql = |e| from_sqlite("store", e);
    let (Some(created_at), Some(updated_at)) = (row.created_at, row.updated_at) else {
        return Err(StorageError::invalid_message(
            "created_at",
            "is not set (messages must go through prepare_message)",
        ));
    };
    let created_at = time::to_micros(created_at);
    let metadata = serde_json::to_string(&row.metadata)
        .map_err(|e| StorageError::invalid_message("metadata", e.to_string()))?;
    let seq: Option<i64> = conn
        .prepare_cached(INSERT_MESSAGE)
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    row.id,
                    row.chat_session_id,
                    row.chat_platform,
                    row.chat_user_id,
                    row.chat_bot_user_id,
                    row.chat_channel_id,
                    row.chat_thread_id,
                    row.engine_session_id.hyphenated().to_string(),
                    row.engine_namespace,
                    row.provider_session_id,
                    row.provider_type,
                    row.message_type.as_str(),
                    row.from_user_id,
                    row.from_user_name,
                    row.to_user_id,
                    row.content,
                    metadata,
                    created_at,
                    time::to_micros(updated_at),
                    i64::from(row.deleted),
                    row.deleted_at.map(time::to_micros),
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(sql)?;
    let Some(seq) = seq else {
        return Ok(StoreReceipt::already_stored(&row.id));
    };
    if !row.deleted {
        let now = time::to_micros(time::now_micros());
        conn.prepare_cached(UPSERT_SESSION_META)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    row.chat_session_id,
                    row.chat_platform,
                    row.chat_user_id,
                    row.id,
                    created_at,
                    seq,
                    now
                ])
            })
            .map_err(sql)?;
    }
    Ok(StoreReceipt::stored(&row.id))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use hotplex_storage_core::{ValidationLimits, prepare_message};

    use super::*;

    fn row(session: &str, id: &str, micros: i64) -> ChatAppMessage {
        let msg = ChatAppMessage::user(session, "c")
            .with_id(id)
            .with_created_at(time::from_micros(micros).unwrap());
        prepare_message(&msg, &ValidationLimits::default(), Utc::now()).unwrap()
    }

    /// `(message_count, last_message_id)` of `session`, `None` without a meta.
    fn meta(conn: &Connection, session: &str) -> Option<(i64, String)> {
        conn.query_row(
            "SELECT message_count, last_message_id FROM session_meta WHERE chat_session_id = ?1",
            params![session],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .unwrap()
    }

    /// Chunk by chunk, oldest first, each chunk leaves every meta exact.
    #[test]
    fn purge_in_chunks_keeps_metas_exact_after_each_chunk() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn).unwrap();
        let rows = vec![
            row("a", "a1", 10),
            row("b", "b1", 20),
            row("a", "a2", 30),
            row("a", "a3", 40),
            row("b", "b2", 50),
            row("a", "a4", 60),
        ];
        apply(&conn, &WriteOp::Store(rows)).unwrap();
        assert_eq!(purge_messages_before(&conn, 55, 2).unwrap(), 2, "a1, b1");
        assert_eq!(meta(&conn, "a"), Some((3, "a4".to_owned())));
        assert_eq!(meta(&conn, "b"), Some((1, "b2".to_owned())));
        assert_eq!(purge_messages_before(&conn, 55, 2).unwrap(), 2, "a2, a3");
        assert_eq!(meta(&conn, "a"), Some((1, "a4".to_owned())));
        assert_eq!(
            purge_messages_before(&conn, 55, 2).unwrap(),
            1,
            "b2: a short chunk"
        );
        assert_eq!(meta(&conn, "b"), None, "b has no live message left");
        assert_eq!(purge_messages_before(&conn, 55, 2).unwrap(), 0);
        assert_eq!(purge_messages_before(&conn, 61, 2).unwrap(), 1);
        assert_eq!(meta(&conn, "a"), None);
    }
}
