//! Conversions between [`ChatAppMessage`] / [`SessionMeta`] and table rows.

use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    ChatAppMessage, MessageType, Metadata, Result, SessionMeta, StorageError,
};
use postgres::Row;

/// The `messages` columns every read selects, in the order [`message_from_row`] expects.
pub(crate) const MESSAGE_COLUMNS: &str = "seq, id, chat_session_id, chat_platform, \
    chat_user_id, chat_bot_user_id, chat_channel_id, chat_thread_id, engine_session_id, \
    engine_namespace, provider_session_id, provider_type, message_type, from_user_id, \
    from_user_name, to_user_id, content, metadata, created_at, updated_at, deleted, deleted_at";

/// The `session_meta` columns, in the order [`session_meta_from_row`] expects.
pub(crate) const SESSION_META_COLUMNS: &str = "chat_session_id, chat_platform, chat_user_id, \
    last_message_id, last_message_at, message_count, created_at, updated_at";

/// Reads column `index`, mapping a type mismatch to a data error.
fn get<'a, T: postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    row.try_get(index)
        .map_err(|e| StorageError::data(format!("decoding column {index}"), e.to_string()))
}

/// Decodes one row selected with [`MESSAGE_COLUMNS`].
pub(crate) fn message_from_row(row: &Row) -> Result<ChatAppMessage> {
    let metadata: String = get(row, 17)?;
    let metadata: Metadata = serde_json::from_str(&metadata)
        .map_err(|e| StorageError::data("decoding metadata", e.to_string()))?;
    Ok(ChatAppMessage {
        seq: get(row, 0)?,
        id: get(row, 1)?,
        chat_session_id: get(row, 2)?,
        chat_platform: get(row, 3)?,
        chat_user_id: get(row, 4)?,
        chat_bot_user_id: get(row, 5)?,
        chat_channel_id: get(row, 6)?,
        chat_thread_id: get(row, 7)?,
        engine_session_id: get(row, 8)?,
        engine_namespace: get(row, 9)?,
        provider_session_id: get(row, 10)?,
        provider_type: get(row, 11)?,
        message_type: MessageType::new(get::<String>(row, 12)?),
        from_user_id: get(row, 13)?,
        from_user_name: get(row, 14)?,
        to_user_id: get(row, 15)?,
        content: get(row, 16)?,
        metadata,
        created_at: Some(get::<DateTime<Utc>>(row, 18)?),
        updated_at: Some(get::<DateTime<Utc>>(row, 19)?),
        deleted: get(row, 20)?,
        deleted_at: get(row, 21)?,
    })
}

/// Decodes one row selected with [`SESSION_META_COLUMNS`].
pub(crate) fn session_meta_from_row(row: &Row) -> Result<SessionMeta> {
    Ok(SessionMeta {
        chat_session_id: get(row, 0)?,
        chat_platform: get(row, 1)?,
        chat_user_id: get(row, 2)?,
        last_message_id: get(row, 3)?,
        last_message_at: get(row, 4)?,
        message_count: get(row, 5)?,
        created_at: get(row, 6)?,
        updated_at: get(row, 7)?,
    })
}
