//! W5's floor on rusqlite: the search a user would write by hand without a text index,
//! `content LIKE '%term%'` newest first, on the store's own database and indexes, rows decoded
//! into plain tuples.

use hotplex_storage_testkit::bench;
use rusqlite::{Connection, Statement, params};

use crate::floor::{BACKEND, MESSAGE_COLUMNS, MessageTuple, message_tuple};

/// W5's `LIKE` statements, prepared once on a read-only connection.
pub(crate) struct LikeFloor<'c> {
    all: Statement<'c>,
    session: Statement<'c>,
}

/// W5 floor SQL across every session.
const LIKE_ALL: &str = "WHERE deleted = 0 AND content LIKE ?1 \
    ORDER BY created_at DESC, seq DESC LIMIT ?2";

/// W5 floor SQL in one session.
const LIKE_SESSION: &str = "WHERE chat_session_id = ?2 AND deleted = 0 AND content LIKE ?1 \
    ORDER BY created_at DESC, seq DESC LIMIT ?3";

impl<'c> LikeFloor<'c> {
    /// The statements, prepared on `conn` (the store's database, opened read-only).
    pub(crate) fn prepare(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            all: conn.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages {LIKE_ALL}"
            ))?,
            session: conn.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages {LIKE_SESSION}"
            ))?,
        })
    }

    /// SQLite's plan of each statement (`EXPLAIN QUERY PLAN`), one line per scope, so the
    /// output says how the scan runs.
    pub(crate) fn plans(conn: &Connection) -> rusqlite::Result<Vec<String>> {
        [("all", LIKE_ALL), ("session", LIKE_SESSION)]
            .into_iter()
            .map(|(scope, clause)| {
                let mut stmt = conn.prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT seq FROM messages {clause}"
                ))?;
                let mut rows = stmt.raw_query();
                let mut steps = Vec::new();
                while let Some(row) = rows.next()? {
                    steps.push(row.get::<_, String>(3)?);
                }
                Ok(format!("{scope}: {}", steps.join("; ")))
            })
            .collect()
    }
}

impl bench::SearchFloor for LikeFloor<'_> {
    fn backend(&self) -> &str {
        BACKEND
    }

    fn search(
        &mut self,
        term: &str,
        session: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, String> {
        let (pattern, limit) = bench::like_floor_args(term, limit)?;
        let rows: Vec<MessageTuple> = match session {
            Some(session) => self
                .session
                .query_map(params![pattern, session, limit], message_tuple),
            None => self.all.query_map(params![pattern, limit], message_tuple),
        }
        .and_then(Iterator::collect)
        .map_err(|e| e.to_string())?;
        Ok(rows.into_iter().map(|row| row.1).collect())
    }
}
