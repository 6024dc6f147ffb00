//! The SQL of every read: one builder for `list` and `count`, and the point lookups.
//!
//! Every value is a bound parameter (LIMIT and OFFSET included); only fixed fragments are
//! ever concatenated, so the statement text depends on which filters are set, never on their
//! values, and each shape is prepared once per connection and cached.

use hotplex_storage_core::{
    ChatAppMessage, MessageQuery, MessageType, Result, SessionMeta, StorageError, time,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::error::from_sqlite;
use crate::row::{MESSAGE_COLUMNS, SESSION_META_COLUMNS, message_from_row, session_meta_from_row};

/// A statement under construction: SQL text plus its positional parameters.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Sql {
    /// The statement text.
    pub(crate) text: String,
    /// Values for `?1`, `?2`, … in order.
    pub(crate) params: Vec<Value>,
}

impl Sql {
    /// Appends `fragment`, numbering each of its `?` placeholders and binding them, in
    /// order, to `values`.
    fn push_with(&mut self, fragment: &str, values: impl IntoIterator<Item = Value>) {
        let mut values = values.into_iter();
        let mut pieces = fragment.split('?');
        if let Some(first) = pieces.next() {
            self.text.push_str(first);
        }
        for piece in pieces {
            if let Some(value) = values.next() {
                self.params.push(value);
            }
            self.text.push('?');
            self.text.push_str(&self.params.len().to_string());
            self.text.push_str(piece);
        }
    }

    /// Appends `fragment` with one `?` bound to `value`.
    fn push(&mut self, fragment: &str, value: Value) {
        self.push_with(fragment, [value]);
    }

    /// Appends `fragment` with two `?` bound to `a` and `b`.
    fn push2(&mut self, fragment: &str, a: Value, b: Value) {
        self.push_with(fragment, [a, b]);
    }
}

/// Appends the WHERE clause of `query`'s filters (and, for `list`, its cursors).
fn push_filters(sql: &mut Sql, query: &MessageQuery, with_cursors: bool) -> Result<()> {
    sql.text.push_str(" WHERE 1 = 1");
    if !query.include_deleted {
        sql.text.push_str(" AND deleted = 0");
    }
    let text_filters = [
        (" AND chat_session_id = ?", &query.chat_session_id),
        (" AND chat_user_id = ?", &query.chat_user_id),
        (" AND provider_type = ?", &query.provider_type),
        (" AND provider_session_id = ?", &query.provider_session_id),
    ];
    for (fragment, value) in text_filters {
        if let Some(value) = value {
            sql.push(fragment, Value::Text(value.clone()));
        }
    }
    if let Some(engine) = query.engine_session_id {
        sql.push(
            " AND engine_session_id = ?",
            Value::Text(engine.hyphenated().to_string()),
        );
    }
    // Stored times are whole microseconds and bounds are compared exactly: a start with a
    // sub-microsecond part rounds up, an end rounds down (`to_micros` floors).
    if let Some(start) = query.start_time {
        sql.push(
            " AND created_at >= ?",
            Value::Integer(time::to_micros_ceil(start)),
        );
    }
    if let Some(end) = query.end_time {
        sql.push(" AND created_at <= ?", Value::Integer(time::to_micros(end)));
    }
    if !query.message_types.is_empty() {
        let names: Vec<&str> = query
            .message_types
            .iter()
            .map(MessageType::as_str)
            .collect();
        let json = serde_json::to_string(&names)
            .map_err(|e| StorageError::invalid_query(format!("message_types: {e}")))?;
        sql.push(
            " AND message_type IN (SELECT value FROM json_each(?))",
            Value::Text(json),
        );
    }
    if with_cursors {
        if let Some(after) = query.after {
            sql.push2(
                " AND (created_at, seq) > (?, ?)",
                Value::Integer(after.created_at_micros()),
                Value::Integer(after.seq()),
            );
        }
        if let Some(before) = query.before {
            sql.push2(
                " AND (created_at, seq) < (?, ?)",
                Value::Integer(before.created_at_micros()),
                Value::Integer(before.seq()),
            );
        }
    }
    Ok(())
}

/// The `list` statement for `query` (already validated): filters, cursors, order, then
/// OFFSET and LIMIT (0 = unlimited) as parameters.
pub(crate) fn list_sql(query: &MessageQuery) -> Result<Sql> {
    let mut sql = Sql {
        text: format!("SELECT {MESSAGE_COLUMNS} FROM messages"),
        params: Vec::new(),
    };
    push_filters(&mut sql, query, true)?;
    sql.text.push_str(if query.ascending {
        " ORDER BY created_at ASC, seq ASC"
    } else {
        " ORDER BY created_at DESC, seq DESC"
    });
    // SQLite reads a negative LIMIT as "no limit"; a limit beyond i64 is no limit either,
    // and an offset beyond i64 skips everything there can be.
    let limit = match query.limit {
        0 => -1,
        n => i64::try_from(n).unwrap_or(-1),
    };
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    sql.push2(
        " LIMIT ? OFFSET ?",
        Value::Integer(limit),
        Value::Integer(offset),
    );
    Ok(sql)
}

/// The `count` statement for `query` (already validated): filters only.
pub(crate) fn count_sql(query: &MessageQuery) -> Result<Sql> {
    let mut sql = Sql {
        text: "SELECT count(*) FROM messages".to_owned(),
        params: Vec::new(),
    };
    push_filters(&mut sql, query, false)?;
    Ok(sql)
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
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND deleted = 0"
    ))
    .and_then(|mut stmt| stmt.query_row(params![id], message_from_row).optional())
    .map_err(|e| from_sqlite("get", e))?
    .ok_or_else(|| StorageError::not_found(id))
}

/// The session's meta, or `SessionNotFound`.
pub(crate) fn session_meta(conn: &Connection, chat_session_id: &str) -> Result<SessionMeta> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_META_COLUMNS} FROM session_meta WHERE chat_session_id = ?1"
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
    use hotplex_storage_core::{Cursor, MessageType};

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
            vec![Value::Integer(-1), Value::Integer(i64::MAX)]
        );
    }
}
