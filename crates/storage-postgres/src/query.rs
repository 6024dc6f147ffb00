//! The SQL of every read: `list` and `count` rendered from core's [`QueryPlan`], and the
//! point lookups. Every value is a bound parameter; each statement shape is prepared once per
//! connection.

use hotplex_storage_core::{
    ChatAppMessage, MessageQuery, QueryPlan, Result, SessionMeta, SqlDialect, SqlParam,
    SqlStatement, StorageError, time,
};
use postgres::types::{ToSql, Type};

use crate::connection::PgConn;
use crate::error::from_pg;
use crate::row::{MESSAGE_COLUMNS, SESSION_META_COLUMNS, message_from_row, session_meta_from_row};

/// PostgreSQL's spelling of the plan's conditions (`message_types` bound as one `text[]`).
pub(crate) const DIALECT: SqlDialect = SqlDialect {
    placeholder: '$',
    live: "NOT deleted",
    type_in: "message_type = ANY(?)",
};

/// A parameter converted to a driver value.
type Param = Box<dyn ToSql + Sync + Send>;

/// Converts the plan's parameters to driver values.
fn params(statement: &SqlStatement) -> Result<Vec<Param>> {
    statement
        .params
        .iter()
        .map(|param| {
            Ok(match param {
                SqlParam::Text(text) => Box::new(text.clone()) as Param,
                SqlParam::Uuid(id) => Box::new(*id),
                SqlParam::Micros(micros) => Box::new(time::from_micros(*micros)?),
                SqlParam::Int(n) => Box::new(*n),
                SqlParam::TextList(list) => Box::new(list.clone()),
                // `LIMIT NULL` is no limit.
                SqlParam::Limit(limit) => Box::new(*limit),
            })
        })
        .collect()
}

/// The PostgreSQL type each parameter is bound as (for statements sent with their types,
/// unprepared).
fn param_type(param: &SqlParam) -> Type {
    match param {
        SqlParam::Text(_) => Type::TEXT,
        SqlParam::Uuid(_) => Type::UUID,
        SqlParam::Micros(_) => Type::TIMESTAMPTZ,
        SqlParam::Int(_) | SqlParam::Limit(_) => Type::INT8,
        SqlParam::TextList(_) => Type::TEXT_ARRAY,
    }
}

/// Runs `statement` unprepared, its parameters sent with their types (one round trip): the
/// server plans it for these values, never with a cached generic plan.
pub(crate) fn query_planned_per_call(
    conn: &mut PgConn,
    statement: &SqlStatement,
    operation: &str,
) -> Result<Vec<postgres::Row>> {
    let values = params(statement)?;
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = values
        .iter()
        .zip(&statement.params)
        .map(|(value, param)| (value.as_ref() as &(dyn ToSql + Sync), param_type(param)))
        .collect();
    conn.client
        .query_typed(&statement.text, &typed)
        .map_err(|e| from_pg(operation, e))
}

fn as_refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// The `list` statement for `query` (already validated).
pub(crate) fn list_sql(query: &MessageQuery) -> SqlStatement {
    QueryPlan::list(query).render(&DIALECT, MESSAGE_COLUMNS, "messages", true)
}

/// The `count` statement for `query` (already validated).
pub(crate) fn count_sql(query: &MessageQuery) -> SqlStatement {
    QueryPlan::count(query).render(&DIALECT, "count(*)", "messages", false)
}

/// Runs `list`.
pub(crate) fn list(conn: &mut PgConn, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
    let sql = list_sql(query);
    let values = params(&sql)?;
    conn.query(&sql.text, &as_refs(&values))
        .map_err(|e| from_pg("list", e))?
        .iter()
        .map(message_from_row)
        .collect()
}

/// Runs `count`.
pub(crate) fn count(conn: &mut PgConn, query: &MessageQuery) -> Result<u64> {
    let sql = count_sql(query);
    let values = params(&sql)?;
    let n: i64 = conn
        .query_one(&sql.text, &as_refs(&values))
        .map_err(|e| from_pg("count", e))?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The live message with this id, or `NotFound`.
pub(crate) fn get(conn: &mut PgConn, id: &str) -> Result<ChatAppMessage> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND NOT deleted");
    conn.query_opt(&sql, &[&id])
        .map_err(|e| from_pg("get", e))?
        .map_or_else(
            || Err(StorageError::not_found(id)),
            |row| message_from_row(&row),
        )
}

/// The session's meta, or `SessionNotFound`.
pub(crate) fn session_meta(conn: &mut PgConn, chat_session_id: &str) -> Result<SessionMeta> {
    let sql = format!("SELECT {SESSION_META_COLUMNS} FROM session_meta WHERE chat_session_id = $1");
    conn.query_opt(&sql, &[&chat_session_id])
        .map_err(|e| from_pg("get_session_meta", e))?
        .map_or_else(
            || Err(StorageError::session_not_found(chat_session_id)),
            |row| session_meta_from_row(&row),
        )
}

/// Sessions of one platform user, most recent first, ties by id.
pub(crate) fn user_sessions(conn: &mut PgConn, platform: &str, user: &str) -> Result<Vec<String>> {
    Ok(conn
        .query(
            "SELECT chat_session_id FROM session_meta \
             WHERE chat_platform = $1 AND chat_user_id = $2 \
             ORDER BY last_message_at DESC, chat_session_id ASC",
            &[&platform, &user],
        )
        .map_err(|e| from_pg("list_user_sessions", e))?
        .iter()
        .map(|row| row.get(0))
        .collect())
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
    /// Bytes of the store's tables and indexes (partitions included).
    pub(crate) bytes: u64,
    /// Partitions (level 2), the DEFAULT one included; 0 at level 1.
    pub(crate) partitions: u64,
    /// Rows in the DEFAULT partition (level 2; should be 0).
    pub(crate) default_rows: u64,
}

/// Reads [`Counts`] in one statement (one consistent snapshot).
pub(crate) fn counts(conn: &mut PgConn, level: u8) -> Result<Counts> {
    let to_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
    let default_rows = if level == 2 {
        "(SELECT count(*) FROM messages_default)"
    } else {
        "0::bigint"
    };
    let sql = format!(
        "SELECT (SELECT count(*) FROM messages WHERE NOT deleted), \
                (SELECT count(*) FROM messages WHERE deleted), \
                (SELECT count(*) FROM session_meta), \
                (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                   FROM pg_class c \
                  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')), \
                (SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass), \
                {default_rows}"
    );
    let row = conn
        .query_one(&sql, &[])
        .map_err(|e| from_pg("metrics", e))?;
    Ok(Counts {
        live: to_u64(row.get(0)),
        deleted: to_u64(row.get(1)),
        sessions: to_u64(row.get(2)),
        bytes: to_u64(row.get(3)),
        partitions: to_u64(row.get(4)),
        default_rows: to_u64(row.get(5)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotplex_storage_core::MessageType;

    #[test]
    fn list_sql_uses_dollar_placeholders_and_any_for_types() {
        let query = MessageQuery::for_session("s")
            .with_message_types([MessageType::USER_INPUT])
            .with_limit(5);
        let sql = list_sql(&query);
        assert!(
            sql.text.contains("NOT deleted AND chat_session_id = $1"),
            "{}",
            sql.text
        );
        assert!(sql.text.contains("message_type = ANY($2)"), "{}", sql.text);
        assert!(sql.text.ends_with("LIMIT $3 OFFSET $4"), "{}", sql.text);
        assert_eq!(params(&sql).unwrap().len(), 4);
        let count = count_sql(&query);
        assert!(count.text.starts_with("SELECT count(*) FROM messages"));
        assert_eq!(count.params.len(), 2);
    }
}
