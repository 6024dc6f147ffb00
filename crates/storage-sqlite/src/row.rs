//! Conversions between [`ChatAppMessage`] / [`SessionMeta`] and table rows.

use chrono::{DateTime, Utc};
use hotplex_storage_core::{ChatAppMessage, MessageType, Metadata, SessionMeta, time};
use rusqlite::Row;
use rusqlite::types::Type;
use uuid::Uuid;

/// The `messages` columns every read selects, in the order [`message_from_row`] expects, as
/// a literal (so that fixed statements are built with `concat!`, not at run time).
macro_rules! message_columns {
    () => {
        "seq, id, chat_session_id, chat_platform, chat_user_id, chat_bot_user_id, \
         chat_channel_id, chat_thread_id, engine_session_id, engine_namespace, \
         provider_session_id, provider_type, message_type, from_user_id, from_user_name, \
         to_user_id, content, metadata, created_at, updated_at, deleted, deleted_at"
    };
}
pub(crate) use message_columns;

/// The `session_meta` columns, in the order [`session_meta_from_row`] expects, as a literal.
macro_rules! session_meta_columns {
    () => {
        "chat_session_id, chat_platform, chat_user_id, last_message_id, last_message_at, \
         message_count, created_at, updated_at"
    };
}
pub(crate) use session_meta_columns;

/// [`message_columns!`] as a constant.
pub(crate) const MESSAGE_COLUMNS: &str = message_columns!();

fn conversion_error(
    index: usize,
    kind: Type,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, kind, Box::new(error))
}

/// A timestamp column (INTEGER microseconds).
fn timestamp(row: &Row<'_>, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    let micros: i64 = row.get(index)?;
    time::from_micros(micros).map_err(|e| conversion_error(index, Type::Integer, e))
}

/// A TEXT column borrowed from the row (no copy), for values that are parsed, not kept.
fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(index)?
        .as_str()
        .map_err(|e| conversion_error(index, Type::Text, e))
}

/// A `message_type` column: the shared constant for a HotPlex type (no allocation), an owned
/// name for any other.
fn message_type(row: &Row<'_>, index: usize) -> rusqlite::Result<MessageType> {
    let name = text(row, index)?;
    // `ALL` starts with `user_input` and `final_response`, the types stored by default.
    Ok(MessageType::ALL
        .iter()
        .find(|known| known.as_str() == name)
        .map_or_else(|| MessageType::new(name), MessageType::clone))
}

/// Decodes one row selected with [`message_columns!`].
pub(crate) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatAppMessage> {
    let engine_session_id =
        Uuid::parse_str(text(row, 8)?).map_err(|e| conversion_error(8, Type::Text, e))?;
    let metadata: Metadata =
        serde_json::from_str(text(row, 17)?).map_err(|e| conversion_error(17, Type::Text, e))?;
    let deleted_at = match row.get::<_, Option<i64>>(21)? {
        None => None,
        Some(_) => Some(timestamp(row, 21)?),
    };
    Ok(ChatAppMessage {
        seq: row.get(0)?,
        id: row.get(1)?,
        chat_session_id: row.get(2)?,
        chat_platform: row.get(3)?,
        chat_user_id: row.get(4)?,
        chat_bot_user_id: row.get(5)?,
        chat_channel_id: row.get(6)?,
        chat_thread_id: row.get(7)?,
        engine_session_id,
        engine_namespace: row.get(9)?,
        provider_session_id: row.get(10)?,
        provider_type: row.get(11)?,
        message_type: message_type(row, 12)?,
        from_user_id: row.get(13)?,
        from_user_name: row.get(14)?,
        to_user_id: row.get(15)?,
        content: row.get(16)?,
        metadata,
        created_at: Some(timestamp(row, 18)?),
        updated_at: Some(timestamp(row, 19)?),
        deleted: row.get::<_, i64>(20)? != 0,
        deleted_at,
    })
}

/// Decodes one row selected with [`session_meta_columns!`].
pub(crate) fn session_meta_from_row(row: &Row<'_>) -> rusqlite::Result<SessionMeta> {
    Ok(SessionMeta {
        chat_session_id: row.get(0)?,
        chat_platform: row.get(1)?,
        chat_user_id: row.get(2)?,
        last_message_id: row.get(3)?,
        last_message_at: timestamp(row, 4)?,
        message_count: row.get(5)?,
        created_at: timestamp(row, 6)?,
        updated_at: timestamp(row, 7)?,
    })
}
