//! Importing the Go plugin's SQLite database (`~/.hotplex/chatapp_messages.db`): its rows as
//! values ([`GoRow`]), the mapping of one row to a [`ChatAppMessage`] ([`go_row_to_message`])
//! and the import loop ([`import_go_rows`]) over any [`GoRowSource`].
//!
//! No database code: a backend crate reads the file (`hotplex_storage_sqlite::GoDatabase`,
//! read-only, paged by rowid) and hands over rows. The loop reuses the JSON Lines import's
//! batching, so it has its guarantees: ids are kept (a second run adds nothing, an interrupted
//! run continues where it stopped), every skipped row is reported with its rowid and reason,
//! and storage errors end the import. Session metas are never copied: the store maintains them
//! from the messages it stores (`docs/semantics.md`), so the Go database's drifting
//! `session_metadata` counts play no part.
//!
//! The mapping, column by column, is the table in `docs/operations.md` ("Importing the Go
//! plugin's database").

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::export::{Batch, non_zero};
use crate::go_time::parse;
use crate::{
    ChatAppMessage, IMPORT_BATCH_SIZE, ImportReport, MessageType, Metadata, Result,
    ValidationLimits, WriteOnlyStore, time,
};

/// The first 16 bytes of every SQLite 3 database file.
pub const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// True when `head` (the first bytes of a file) starts with [`SQLITE_HEADER`].
///
/// ```
/// use hotplex_storage_core::is_sqlite_header;
/// assert!(is_sqlite_header(b"SQLite format 3\0\x10\x00"));
/// assert!(!is_sqlite_header(b"{\"id\":\"m1\"}"));
/// ```
pub fn is_sqlite_header(head: &[u8]) -> bool {
    head.starts_with(SQLITE_HEADER)
}

/// Metadata key holding the Go `metadata` column's text when it is not a JSON object
/// (invalid JSON, or JSON of another kind), so that nothing of it is lost.
pub const GO_METADATA_RAW_KEY: &str = "go_metadata_raw";
/// Metadata key holding the Go `engine_session_id` text when it is not a UUID (the message's
/// `engine_session_id` is then nil).
pub const GO_ENGINE_SESSION_ID_KEY: &str = "go_engine_session_id";
/// Metadata key holding the Go `deleted_at` text of a row that is not deleted (`deleted = 0`).
pub const GO_DELETED_AT_KEY: &str = "go_deleted_at";

/// One column value of a Go row, as SQLite holds it (SQLite columns are dynamically typed,
/// so a `TEXT` column may hold anything).
#[derive(Debug, Clone, PartialEq)]
pub enum GoValue {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// A blob, or text that is not UTF-8.
    Bytes(Vec<u8>),
    /// A value larger than the reader's limit, which was not read.
    Oversize {
        /// Its size in bytes.
        bytes: u64,
        /// The reader's limit in bytes.
        limit: u64,
    },
}

/// One row of the Go plugin's `messages` table, column by column, with its SQLite `rowid`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GoRow {
    /// The row's SQLite rowid (the Go plugin's insertion order).
    pub rowid: i64,
    /// `id TEXT PRIMARY KEY`.
    pub id: GoValue,
    /// `chat_session_id TEXT NOT NULL`.
    pub chat_session_id: GoValue,
    /// `chat_platform TEXT NOT NULL`.
    pub chat_platform: GoValue,
    /// `chat_user_id TEXT NOT NULL`.
    pub chat_user_id: GoValue,
    /// `chat_bot_user_id TEXT`.
    pub chat_bot_user_id: GoValue,
    /// `chat_channel_id TEXT`.
    pub chat_channel_id: GoValue,
    /// `chat_thread_id TEXT`.
    pub chat_thread_id: GoValue,
    /// `engine_session_id TEXT NOT NULL` (a UUID's text).
    pub engine_session_id: GoValue,
    /// `engine_namespace TEXT DEFAULT 'hotplex'`.
    pub engine_namespace: GoValue,
    /// `provider_session_id TEXT NOT NULL`.
    pub provider_session_id: GoValue,
    /// `provider_type TEXT NOT NULL`.
    pub provider_type: GoValue,
    /// `message_type TEXT`.
    pub message_type: GoValue,
    /// `from_user_id TEXT`.
    pub from_user_id: GoValue,
    /// `from_user_name TEXT`.
    pub from_user_name: GoValue,
    /// `to_user_id TEXT`.
    pub to_user_id: GoValue,
    /// `content TEXT NOT NULL`.
    pub content: GoValue,
    /// `metadata TEXT` (Go's `json.Marshal` of the metadata map).
    pub metadata: GoValue,
    /// `created_at DATETIME` (Go `time.Time.String()` text).
    pub created_at: GoValue,
    /// `updated_at DATETIME`.
    pub updated_at: GoValue,
    /// `deleted INTEGER DEFAULT 0`.
    pub deleted: GoValue,
    /// `deleted_at DATETIME`.
    pub deleted_at: GoValue,
}

impl GoRow {
    /// The columns of the Go `messages` table, in the order [`GoRow::new`] takes their values.
    pub const COLUMNS: [&'static str; 21] = [
        "id",
        "chat_session_id",
        "chat_platform",
        "chat_user_id",
        "chat_bot_user_id",
        "chat_channel_id",
        "chat_thread_id",
        "engine_session_id",
        "engine_namespace",
        "provider_session_id",
        "provider_type",
        "message_type",
        "from_user_id",
        "from_user_name",
        "to_user_id",
        "content",
        "metadata",
        "created_at",
        "updated_at",
        "deleted",
        "deleted_at",
    ];

    /// The row `rowid` with the values of [`GoRow::COLUMNS`], in that order.
    pub fn new(rowid: i64, values: [GoValue; 21]) -> Self {
        let [
            id,
            chat_session_id,
            chat_platform,
            chat_user_id,
            chat_bot_user_id,
            chat_channel_id,
            chat_thread_id,
            engine_session_id,
            engine_namespace,
            provider_session_id,
            provider_type,
            message_type,
            from_user_id,
            from_user_name,
            to_user_id,
            content,
            metadata,
            created_at,
            updated_at,
            deleted,
            deleted_at,
        ] = values;
        Self {
            rowid,
            id,
            chat_session_id,
            chat_platform,
            chat_user_id,
            chat_bot_user_id,
            chat_channel_id,
            chat_thread_id,
            engine_session_id,
            engine_namespace,
            provider_session_id,
            provider_type,
            message_type,
            from_user_id,
            from_user_name,
            to_user_id,
            content,
            metadata,
            created_at,
            updated_at,
            deleted,
            deleted_at,
        }
    }

    /// The `id` column as text for reports (empty when it is not text).
    fn id_text(&self) -> String {
        match &self.id {
            GoValue::Text(id) => id.clone(),
            _ => String::new(),
        }
    }
}

/// A Go row as a message, with what was noteworthy about it (bad metadata, a value kept in
/// metadata): the row is imported and each note reported.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GoRowMessage {
    /// The message to store.
    pub message: ChatAppMessage,
    /// Notes on the row, empty for a clean one.
    pub notes: Vec<String>,
}

/// Maps one Go row to the message it becomes, or the reason it is skipped.
///
/// Text columns map to the field of the same name, `NULL` and `""` alike to the empty string
/// (our absent value); `engine_session_id` `""` or the zero UUID to [`Uuid::nil`]; timestamps
/// are parsed with [`parse_go_time`](crate::parse_go_time) and truncated to microseconds;
/// `deleted` `0`/`1` to the flag. A row is skipped when a timestamp cannot be parsed,
/// `created_at` is missing, `deleted` is not 0 or 1, a value is not UTF-8 text or is over the
/// reader's limit, or `id` is `NULL`. Metadata `NULL` and `"null"` are no metadata; `""`
/// (Go's marshal error) is no metadata with a note; invalid JSON or JSON that is not an object
/// is kept as text under [`GO_METADATA_RAW_KEY`] with a note. Validation happens when the
/// message is stored.
///
/// ```
/// use hotplex_storage_core::{GoRow, GoValue, go_row_to_message};
/// let text = |s: &str| GoValue::Text(s.to_owned());
/// let mut values: [GoValue; 21] = std::array::from_fn(|_| text(""));
/// values[0] = text("m1");
/// values[1] = text("s1");
/// values[11] = text("user_input");
/// values[15] = text("hello");
/// values[16] = text("null");
/// values[17] = text("2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901");
/// values[18] = values[17].clone();
/// values[19] = GoValue::Integer(0);
/// values[20] = GoValue::Null;
/// let mapped = go_row_to_message(GoRow::new(1, values)).unwrap();
/// assert_eq!(mapped.message.created_at.unwrap().to_rfc3339(), "2026-03-23T10:14:31.123456+00:00");
/// assert!(mapped.notes.is_empty());
/// ```
pub fn go_row_to_message(row: GoRow) -> std::result::Result<GoRowMessage, String> {
    let GoRow {
        rowid: _,
        id,
        chat_session_id,
        chat_platform,
        chat_user_id,
        chat_bot_user_id,
        chat_channel_id,
        chat_thread_id,
        engine_session_id,
        engine_namespace,
        provider_session_id,
        provider_type,
        message_type,
        from_user_id,
        from_user_name,
        to_user_id,
        content,
        metadata,
        created_at,
        updated_at,
        deleted,
        deleted_at,
    } = row;
    let mut notes = Vec::new();
    let id = text("id", id)?.ok_or("id is NULL")?;
    let mut metadata = parse_metadata(metadata, &mut notes)?;
    let engine_session_id = match text("engine_session_id", engine_session_id)? {
        None => Uuid::nil(),
        Some(s) if s.is_empty() => Uuid::nil(),
        Some(s) => {
            if let Ok(uuid) = Uuid::try_parse(&s) {
                uuid
            } else {
                notes.push(format!(
                    "engine_session_id {s:?} is not a UUID: kept in metadata.{GO_ENGINE_SESSION_ID_KEY}"
                ));
                keep(&mut metadata, GO_ENGINE_SESSION_ID_KEY, s)?;
                Uuid::nil()
            }
        }
    };
    let created_at = timestamp("created_at", created_at)?
        .ok_or("created_at is missing (NULL or Go's zero time): the row has no creation time")?;
    let updated_at = timestamp("updated_at", updated_at)?.unwrap_or(created_at);
    let deleted = match deleted {
        GoValue::Integer(0) => false,
        GoValue::Integer(1) => true,
        other => return Err(format!("deleted is {}: expected 0 or 1", describe(&other))),
    };
    let deleted_at = match (deleted, deleted_at) {
        (true, value) => {
            let at = timestamp("deleted_at", value)?;
            if at.is_none() {
                notes.push(
                    "deleted_at is missing on a deleted row: the import time is recorded"
                        .to_owned(),
                );
            }
            at
        }
        (false, value) => {
            if let Some(raw) = text("deleted_at", value)? {
                notes.push(format!(
                    "deleted_at {raw:?} on a row that is not deleted: kept in metadata.{GO_DELETED_AT_KEY}"
                ));
                keep(&mut metadata, GO_DELETED_AT_KEY, raw)?;
            }
            None
        }
    };
    let message = ChatAppMessage {
        id,
        chat_session_id: text_or_empty("chat_session_id", chat_session_id)?,
        chat_platform: text_or_empty("chat_platform", chat_platform)?,
        chat_user_id: text_or_empty("chat_user_id", chat_user_id)?,
        chat_bot_user_id: text_or_empty("chat_bot_user_id", chat_bot_user_id)?,
        chat_channel_id: text_or_empty("chat_channel_id", chat_channel_id)?,
        chat_thread_id: text_or_empty("chat_thread_id", chat_thread_id)?,
        engine_session_id,
        engine_namespace: text_or_empty("engine_namespace", engine_namespace)?,
        provider_session_id: text_or_empty("provider_session_id", provider_session_id)?,
        provider_type: text_or_empty("provider_type", provider_type)?,
        message_type: MessageType::new(text_or_empty("message_type", message_type)?),
        from_user_id: text_or_empty("from_user_id", from_user_id)?,
        from_user_name: text_or_empty("from_user_name", from_user_name)?,
        to_user_id: text_or_empty("to_user_id", to_user_id)?,
        content: text_or_empty("content", content)?,
        metadata,
        created_at: Some(created_at),
        updated_at: Some(updated_at),
        deleted,
        deleted_at,
        seq: 0,
    };
    Ok(GoRowMessage { message, notes })
}

/// The text of a value: `None` for `NULL`, numbers in decimal, bytes when they are UTF-8.
fn text(column: &str, value: GoValue) -> std::result::Result<Option<String>, String> {
    match value {
        GoValue::Null => Ok(None),
        GoValue::Text(s) => Ok(Some(s)),
        GoValue::Integer(i) => Ok(Some(i.to_string())),
        GoValue::Real(f) => Ok(Some(f.to_string())),
        GoValue::Bytes(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("{column} is binary data, not UTF-8 text")),
        GoValue::Oversize { bytes, limit } => Err(format!(
            "{column} is {bytes} bytes, over the import limit of {limit}"
        )),
    }
}

fn text_or_empty(column: &str, value: GoValue) -> std::result::Result<String, String> {
    text(column, value).map(Option::unwrap_or_default)
}

/// A timestamp column: `None` for `NULL` and Go's zero time.
fn timestamp(
    column: &str,
    value: GoValue,
) -> std::result::Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let Some(raw) = text(column, value)? else {
        return Ok(None);
    };
    let parsed = parse(&raw)
        .map_err(|why| format!("{column} {raw:?} is not Go time.Time.String() text: {why}"))?;
    Ok(non_zero(Some(parsed)).map(time::truncate_to_micros))
}

fn parse_metadata(
    value: GoValue,
    notes: &mut Vec<String>,
) -> std::result::Result<Metadata, String> {
    let Some(raw) = text("metadata", value)? else {
        return Ok(Metadata::new());
    };
    if raw.is_empty() {
        notes.push(
            "metadata is empty (Go's json.Marshal failed when the row was written): stored \
             without metadata"
                .to_owned(),
        );
        return Ok(Metadata::new());
    }
    let why = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Object(map)) => return Ok(map),
        Ok(serde_json::Value::Null) => return Ok(Metadata::new()),
        Ok(_) => "is JSON but not an object".to_owned(),
        Err(e) => format!("is not valid JSON ({e})"),
    };
    notes.push(format!(
        "metadata {why}: kept as text in metadata.{GO_METADATA_RAW_KEY}"
    ));
    let mut metadata = Metadata::new();
    keep(&mut metadata, GO_METADATA_RAW_KEY, raw)?;
    Ok(metadata)
}

/// Adds `key` to `metadata`, refusing to overwrite a key the Go metadata already has.
fn keep(metadata: &mut Metadata, key: &str, value: String) -> std::result::Result<(), String> {
    if metadata.contains_key(key) {
        return Err(format!(
            "metadata already has the key {key:?}, where the import keeps a value it cannot map"
        ));
    }
    metadata.insert(key.to_owned(), serde_json::Value::String(value));
    Ok(())
}

fn describe(value: &GoValue) -> String {
    match value {
        GoValue::Null => "NULL".to_owned(),
        GoValue::Integer(i) => i.to_string(),
        GoValue::Real(f) => f.to_string(),
        GoValue::Text(s) => format!("{s:?}"),
        GoValue::Bytes(b) => format!("{} bytes of binary data", b.len()),
        GoValue::Oversize { bytes, .. } => format!("{bytes} bytes"),
    }
}

/// Where [`import_go_rows`] gets its rows: the Go `messages` table, in rowid order.
///
/// Reads are blocking (a local file), like the reader [`import_jsonl`](crate::import_jsonl)
/// takes.
pub trait GoRowSource: Send {
    /// The next rows after those returned so far; an empty vector at the end.
    fn next_rows(&mut self) -> Result<Vec<GoRow>>;
}

/// A row the import skipped, or a note on a row it imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoRowIssue {
    /// The row's SQLite rowid.
    pub rowid: i64,
    /// Its `id` column (empty when that is not text).
    pub id: String,
    /// What happened.
    pub reason: String,
}

/// What an import of a Go database did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GoImportReport {
    /// Rows read.
    pub rows: u64,
    /// Messages written.
    pub imported: u64,
    /// Rows whose id was already in the store (nothing changed).
    pub already_present: u64,
    /// Rows a storage strategy declined (only when importing through a `StrategyStore`).
    pub filtered: u64,
    /// Rows not imported, with their reasons.
    pub skipped: Vec<GoRowIssue>,
    /// Notes on rows that were imported (bad metadata, values kept in metadata).
    pub notes: Vec<GoRowIssue>,
}

/// A row read but not yet settled (written or rejected).
struct Pending {
    rowid: i64,
    id: String,
    notes: Vec<String>,
}

/// Imports every row of `source` into `store`, batched like [`import_jsonl`](crate::import_jsonl)
/// and as idempotent: ids are kept, so a second run imports nothing (`already_present`) and
/// a run after an interrupted one imports what the first did not get to. `progress` is called
/// with the number of rows processed after each batch.
///
/// Rows that cannot be mapped ([`go_row_to_message`]) or fail validation are skipped and
/// reported with their rowid; reading errors and storage errors (full, closed, connection)
/// end the import and are returned (every batch before them is stored).
pub async fn import_go_rows<S>(
    store: &S,
    source: &mut dyn GoRowSource,
    limits: &ValidationLimits,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<GoImportReport>
where
    S: WriteOnlyStore + ?Sized,
{
    let mut report = GoImportReport::default();
    let mut counts = ImportReport::default();
    let mut batch = Batch::new(store, limits);
    // Rows since the last flush; the first has the ordinal `settled + 1`.
    let mut pending: Vec<Pending> = Vec::with_capacity(IMPORT_BATCH_SIZE);
    loop {
        let rows = source.next_rows()?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            report.rows += 1;
            let (rowid, id) = (row.rowid, row.id_text());
            let (parsed, notes) = match go_row_to_message(row) {
                Ok(mapped) => (Ok(mapped.message), mapped.notes),
                Err(reason) => (Err(reason), Vec::new()),
            };
            pending.push(Pending { rowid, id, notes });
            batch.push(report.rows, parsed, &mut counts);
            if batch.is_full() || pending.len() >= IMPORT_BATCH_SIZE {
                batch.flush(&mut counts).await?;
                settle(&mut report, &mut counts, &mut pending);
                progress(report.rows);
            }
        }
    }
    batch.flush(&mut counts).await?;
    settle(&mut report, &mut counts, &mut pending);
    progress(report.rows);
    Ok(report)
}

/// Moves the outcome of the flushed rows into `report`: counts, skipped rows by rowid, and
/// the notes of the rows that were not skipped.
fn settle(report: &mut GoImportReport, counts: &mut ImportReport, pending: &mut Vec<Pending>) {
    let first = report.rows + 1 - pending.len() as u64;
    report.imported += std::mem::take(&mut counts.imported);
    report.already_present += std::mem::take(&mut counts.already_present);
    report.filtered += std::mem::take(&mut counts.filtered);
    let mut rejected = std::mem::take(&mut counts.rejected);
    rejected.sort_by_key(|r| r.line);
    let mut rejected = rejected.into_iter().peekable();
    for (ordinal, row) in (first..).zip(pending.drain(..)) {
        let mut skipped = false;
        while let Some(r) = rejected.next_if(|r| r.line == ordinal) {
            skipped = true;
            report.skipped.push(GoRowIssue {
                rowid: row.rowid,
                id: row.id.clone(),
                reason: r.reason,
            });
        }
        if !skipped {
            report
                .notes
                .extend(row.notes.into_iter().map(|reason| GoRowIssue {
                    rowid: row.rowid,
                    id: row.id.clone(),
                    reason,
                }));
        }
    }
}
