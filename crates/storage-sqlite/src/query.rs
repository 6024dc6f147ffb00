//! The SQL of every read: one builder for `list` and `count`, and the point lookups.
//!
//! Every value is a bound parameter (LIMIT and OFFSET included); only fixed fragments are
//! ever concatenated, so the statement text depends on which filters are set, never on their
//! values, and each shape is prepared once per connection and cached.

use hotplex_storage_core::{
    ChatAppMessage, MessageQuery, QueryPlan, Result, SessionMeta, SqlDialect, SqlParam,
    SqlStatement, StorageError,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::error::from_sqlite;
use crate::row::{
    MESSAGE_COLUMNS, message_columns, message_from_row, session_meta_columns, session_meta_from_row,
};

/// SQLite's spelling of the plan's conditions (`message_types` bound as one JSON array).
pub(crate) const DIALECT: SqlDialect = SqlDialect {
    placeholder: '?',
    live: "deleted = 0",
    type_in: "message_type IN (SELECT value FROM json_each(?))",
};

/// A rendered statement with its parameters converted to SQLite values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sql {
    /// The statement text.
    pub(crate) text: String,
    /// Values for `?1`, `?2`, … in order.
    pub(crate) params: Vec<Value>,
}

impl Sql {
    /// Converts a rendered statement's parameters to SQLite values.
    pub(crate) fn from_statement(statement: SqlStatement) -> Result<Self> {
        let params = statement
            .params
            .into_iter()
            .map(|param| {
                Ok(match param {
                    SqlParam::Text(text) => Value::Text(text),
                    SqlParam::Uuid(id) => Value::Text(id.hyphenated().to_string()),
                    SqlParam::Micros(n) | SqlParam::Int(n) => Value::Integer(n),
                    // SQLite reads a negative LIMIT as "no limit".
                    SqlParam::Limit(limit) => Value::Integer(limit.unwrap_or(-1)),
                    SqlParam::TextList(list) => {
                        Value::Text(serde_json::to_string(&list).map_err(|e| {
                            StorageError::invalid_query(format!("message_types: {e}"))
                        })?)
                    }
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            text: statement.text,
            params,
        })
    }
}

/// The `list` statement for `query` (already validated): its [`QueryPlan::list`].
pub(crate) fn list_sql(query: &MessageQuery) -> Result<Sql> {
    Sql::from_statement(QueryPlan::list(query).render(&DIALECT, MESSAGE_COLUMNS, "messages", true))
}

/// The `count` statement for `query` (already validated): its [`QueryPlan::count`].
pub(crate) fn count_sql(query: &MessageQuery) -> Result<Sql> {
    Sql::from_statement(QueryPlan::count(query).render(&DIALECT, "count(*)", "messages", false))
}

/// Runs `list`.
pub(crate) fn list(conn: &Connection, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
    let sql = list_sql(query)?;
    let error = |e| from_sqlite("list", e);
    let mut stmt = conn.prepare_cached(&sql.text).map_err(error)?;
    stmt.query_map(params_from_iter(sql.params.iter()), message_from_row)
        .and_then(Iterator::collect)
        .map_err(error)
}

/// Runs `count`.
pub(crate) fn count(conn: &Connection, query: &MessageQuery) -> Result<u64> {
    let sql = count_sql(query)?;
    let error = |e| from_sqlite("count", e);
    let n: i64 = conn
        .prepare_cached(&sql.text)
        .and_then(|mut stmt| stmt.query_row(params_from_iter(sql.params.iter()), |r| r.get(0)))
        .map_err(error)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The live message with this id, or `NotFound`.
pub(crate) fn get(conn: &Connection, id: &str) -> Result<ChatAppMessage> {
    conn.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE id = ?1 AND deleted = 0"
    ))
    .and_then(|mut stmt| stmt.query_row(params![id], message_from_row).optional())
    .map_err(|e| from_sqlite("get", e))?
    .ok_or_else(|| StorageError::not_found(id))
}

/// The session's meta, or `SessionNotFound`.
pub(crate) fn session_meta(conn: &Connection, chat_session_id: &str) -> Result<SessionMeta> {
    conn.prepare_cached(concat!(
        "SELECT ",
        session_meta_columns!(),
        " FROM session_meta WHERE chat_session_id = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![chat_session_id], session_meta_from_row)
            .optional()
    })
    .map_err(|e| from_sqlite("get_session_meta", e))?
    .ok_or_else(|| StorageError::session_not_found(chat_session_id))
}

/// Sessions of one platform user, most recent first, ties by id.
pub(crate) fn user_sessions(conn: &Connection, platform: &str, user: &str) -> Result<Vec<String>> {
    let error = |e| from_sqlite("list_user_sessions", e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT chat_session_id FROM session_meta \
             WHERE chat_platform = ?1 AND chat_user_id = ?2 \
             ORDER BY last_message_at DESC, chat_session_id ASC",
        )
        .map_err(error)?;
    stmt.query_map(params![platform, user], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(error)
}

/// Counts for `metrics()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Live messages.
    pub(crate) live: u64,
    /// Soft-deleted messages.
    pub(crate) deleted: u64,
    /// Sessions with a meta.
    pub(crate) sessions: u64,
    /// Pages of the main database.
    pub(crate) page_count: u64,
    /// Bytes per page.
    pub(crate) page_size: u64,
    /// Unused pages.
    pub(crate) freelist_count: u64,
}

/// Reads [`Counts`] in one statement (one consistent snapshot).
pub(crate) fn counts(conn: &Connection) -> Result<Counts> {
    let to_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
    conn.prepare_cached(
        "SELECT (SELECT count(*) FROM messages), \
                (SELECT count(*) FROM messages WHERE deleted = 1), \
                (SELECT count(*) FROM session_meta), \
                (SELECT page_count FROM pragma_page_count()), \
                (SELECT page_size FROM pragma_page_size()), \
                (SELECT freelist_count FROM pragma_freelist_count())",
    )
    .and_then(|mut stmt| {
        stmt.query_row([], |r| {
            let total: i64 = r.get(0)?;
            let deleted: i64 = r.get(1)?;
            Ok(Counts {
                live: to_u64(total - deleted),
                deleted: to_u64(deleted),
                sessions: to_u64(r.get(2)?),
                page_count: to_u64(r.get(3)?),
                page_size: to_u64(r.get(4)?),
                freelist_count: to_u64(r.get(5)?),
            })
        })
    })
    .map_err(|e| from_sqlite("metrics", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use hotplex_storage_core::{Cursor, MessageType, time};

    #[test]
    fn placeholders_are_numbered_in_order_and_values_never_inlined() {
        let t = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let evil = "x' OR 1=1 --".to_owned();
        let query = MessageQuery {
            chat_session_id: Some(evil.clone()),
            chat_user_id: Some("u".into()),
            start_time: Some(t),
            message_types: vec![MessageType::USER_INPUT],
            after: Some(Cursor::new(t, 7)),
            limit: 50,
            offset: 5,
            ..MessageQuery::default()
        };
        let sql = list_sql(&query).unwrap();
        assert!(!sql.text.contains(&evil));
        assert!(!sql.text.contains("50"));
        for i in 1..=sql.params.len() {
            assert!(sql.text.contains(&format!("?{i}")), "{}", sql.text);
        }
        assert_eq!(sql.params.len(), 8);
        assert_eq!(sql.params[0], Value::Text(evil));
        assert_eq!(sql.params[6], Value::Integer(50));
        assert_eq!(sql.params[7], Value::Integer(5));
        assert!(sql.text.contains("deleted = 0"));
        assert!(
            sql.text
                .ends_with("ORDER BY created_at DESC, seq DESC LIMIT ?7 OFFSET ?8")
        );

        let count = count_sql(&query).unwrap();
        assert!(!count.text.contains("seq) >"));
        assert_eq!(count.params.len(), 4);
    }

    #[test]
    fn time_bounds_round_towards_the_inside() {
        let t = Utc.timestamp_opt(50, 500).unwrap();
        assert_eq!(time::to_micros_ceil(t), 50_000_001);
        assert_eq!(time::to_micros(t), 50_000_000);
        let exact = Utc.timestamp_opt(50, 1000).unwrap();
        assert_eq!(time::to_micros_ceil(exact), 50_000_001);
        let before_epoch = Utc.timestamp_opt(-1, 500).unwrap();
        assert_eq!(time::to_micros_ceil(before_epoch), -999_999);
    }

    #[test]
    fn unlimited_and_huge_bounds_are_checked_not_truncated() {
        let sql = list_sql(&MessageQuery::default().with_include_deleted(true)).unwrap();
        assert!(!sql.text.contains("deleted = 0"));
        assert_eq!(sql.params, vec![Value::Integer(-1), Value::Integer(0)]);
        let sql = list_sql(
            &MessageQuery::default()
                .with_limit(usize::MAX)
                .with_offset(usize::MAX),
        )
        .unwrap();
        assert_eq!(
            sql.params,
            vec![Value::Integer(i64::MAX), Value::Integer(i64::MAX)]
        );
    }
}
