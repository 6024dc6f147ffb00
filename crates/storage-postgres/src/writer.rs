//! Storing messages: one statement per call, whatever the batch size.
//!
//! The rows travel as one array per column and are expanded with `unnest`; a data-modifying
//! CTE then claims the ids (level 2: in `message_ids`, unique across partitions), inserts the
//! new rows in input order (so `seq` follows it) and adds them to their session metas. Each
//! row carries `content_folded`, its content through core's `fold`, which the search index
//! covers. The statement runs in autocommit, so the messages and the metas change in one
//! transaction and one round trip. An id already stored (or repeated within the batch) is
//! skipped: `AlreadyStored`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreReceipt, fold};

use crate::connection::PgConn;

/// Builds the store statement of `level`.
pub(crate) fn store_sql(level: u8) -> String {
    const COLUMNS: &str = "id, chat_session_id, chat_platform, chat_user_id, chat_bot_user_id, \
        chat_channel_id, chat_thread_id, engine_session_id, engine_namespace, \
        provider_session_id, provider_type, message_type, from_user_id, from_user_name, \
        to_user_id, content, metadata, created_at, updated_at, deleted, deleted_at, \
        content_folded";
    let (claim, source, conflict) = if level == 2 {
        (
            "claimed AS (INSERT INTO message_ids (id) SELECT id FROM first ORDER BY ord \
             ON CONFLICT DO NOTHING RETURNING id), ",
            "first WHERE id IN (SELECT id FROM claimed)",
            "",
        )
    } else {
        ("", "first", " ON CONFLICT (id) DO NOTHING")
    };
    format!(
        "WITH input AS (\
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
             $18::timestamptz[], $19::timestamptz[], $20::boolean[], $21::timestamptz[], \
             $23::text[]) \
           WITH ORDINALITY AS t({COLUMNS}, ord)), \
         first AS (SELECT DISTINCT ON (id) * FROM input ORDER BY id, ord), \
         {claim}\
         inserted AS (INSERT INTO messages ({COLUMNS}) SELECT {COLUMNS} FROM {source} \
           ORDER BY ord{conflict} \
           RETURNING seq, id, chat_session_id, chat_platform, chat_user_id, created_at, deleted), \
         meta AS (INSERT INTO session_meta AS m (chat_session_id, chat_platform, chat_user_id, \
             last_message_id, last_message_at, last_message_seq, message_count, created_at, \
             updated_at) \
           SELECT chat_session_id, \
             coalesce((array_agg(chat_platform ORDER BY seq) FILTER (WHERE chat_platform <> ''))[1], ''), \
             coalesce((array_agg(chat_user_id ORDER BY seq) FILTER (WHERE chat_user_id <> ''))[1], ''), \
             (array_agg(id ORDER BY created_at DESC, seq DESC))[1], max(created_at), \
             (array_agg(seq ORDER BY created_at DESC, seq DESC))[1], count(*), \
             $22::timestamptz, $22::timestamptz \
           FROM inserted WHERE NOT deleted GROUP BY chat_session_id ORDER BY chat_session_id \
           ON CONFLICT (chat_session_id) DO UPDATE SET \
             chat_platform = CASE WHEN m.chat_platform = '' THEN excluded.chat_platform \
                             ELSE m.chat_platform END, \
             chat_user_id = CASE WHEN m.chat_user_id = '' THEN excluded.chat_user_id \
                            ELSE m.chat_user_id END, \
             last_message_id = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
                 > (m.last_message_at, m.last_message_seq) THEN excluded.last_message_id \
                 ELSE m.last_message_id END, \
             last_message_seq = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
                 > (m.last_message_at, m.last_message_seq) THEN excluded.last_message_seq \
                 ELSE m.last_message_seq END, \
             last_message_at = greatest(m.last_message_at, excluded.last_message_at), \
             message_count = m.message_count + excluded.message_count, \
             updated_at = greatest(m.updated_at, excluded.updated_at)) \
         SELECT id FROM inserted"
    )
}

/// One array per column of the rows to store.
#[derive(Default)]
struct Columns {
    text: [Vec<String>; 16],
    engine: Vec<uuid::Uuid>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    deleted: Vec<bool>,
    deleted_at: Vec<Option<DateTime<Utc>>>,
    /// `fold(content)`: what the search index is built over.
    folded: Vec<String>,
}

impl Columns {
    fn of(rows: &[ChatAppMessage]) -> Result<Self> {
        let mut columns = Self::default();
        for row in rows {
            let (Some(created_at), Some(updated_at)) = (row.created_at, row.updated_at) else {
                return Err(StorageError::invalid_message(
                    "created_at",
                    "is not set (messages must go through prepare_message)",
                ));
            };
            let metadata = serde_json::to_string(&row.metadata)
                .map_err(|e| StorageError::invalid_message("metadata", e.to_string()))?;
            let values: [&str; 16] = [
                &row.id,
                &row.chat_session_id,
                &row.chat_platform,
                &row.chat_user_id,
                &row.chat_bot_user_id,
                &row.chat_channel_id,
                &row.chat_thread_id,
                &row.engine_namespace,
                &row.provider_session_id,
                &row.provider_type,
                row.message_type.as_str(),
                &row.from_user_id,
                &row.from_user_name,
                &row.to_user_id,
                &row.content,
                &metadata,
            ];
            for (column, value) in columns.text.iter_mut().zip(values) {
                column.push(value.to_owned());
            }
            columns.engine.push(row.engine_session_id);
            columns.created_at.push(created_at);
            columns.updated_at.push(updated_at);
            columns.deleted.push(row.deleted);
            columns.deleted_at.push(row.deleted_at);
            columns.folded.push(fold(&row.content));
        }
        Ok(columns)
    }
}

/// Stores prepared rows (`prepare_batch` already ran) in one statement; receipts in input
/// order.
pub(crate) fn store(
    conn: &mut PgConn,
    sql: &str,
    rows: &[ChatAppMessage],
    now: DateTime<Utc>,
) -> Result<Vec<StoreReceipt>> {
    let c = Columns::of(rows)?;
    let t = &c.text;
    let rows_out = conn.write(
        sql,
        &[
            &t[0],
            &t[1],
            &t[2],
            &t[3],
            &t[4],
            &t[5],
            &t[6],
            &c.engine,
            &t[7],
            &t[8],
            &t[9],
            &t[10],
            &t[11],
            &t[12],
            &t[13],
            &t[14],
            &t[15],
            &c.created_at,
            &c.updated_at,
            &c.deleted,
            &c.deleted_at,
            &now,
            &c.folded,
        ],
        "store",
    )?;
    let inserted: HashSet<String> = rows_out.iter().map(|row| row.get(0)).collect();
    let mut seen = HashSet::with_capacity(rows.len());
    Ok(rows
        .iter()
        .map(|row| {
            if seen.insert(row.id.as_str()) && inserted.contains(&row.id) {
                StoreReceipt::stored(&row.id)
            } else {
                StoreReceipt::already_stored(&row.id)
            }
        })
        .collect())
}
