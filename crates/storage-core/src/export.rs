//! JSON Lines export and import over the store traits, plus the Go plugin's export format.
//!
//! Export pages through a [`MessageQuery`] with a keyset cursor, so memory stays constant for
//! any table size; pages are bounded in bytes as well as in messages ([`export_page_limit`]). Import preserves ids, timestamps and deleted flags, batches writes, is
//! idempotent (a re-import adds nothing) and reports every rejected line with its number.
//! The caller owns the I/O: these functions take a writer or reader it opened.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::import_input;
use crate::{
    BackupFormat, BackupReport, ChatAppMessage, Cursor, MessageQuery, MessageType, Metadata,
    PrivateTempFile, ReadOnlyStore, Result, StorageError, StoreOutcome, ValidationLimits,
    WriteOnlyStore, validate_message_with,
};

/// Messages read per page during export, at most (see [`EXPORT_PAGE_BYTES`]).
pub const EXPORT_PAGE_SIZE: usize = 1_000;
/// Bytes of messages ([`ChatAppMessage::approx_bytes`]) an export page aims at: 32 MiB. The
/// page size is this budget divided by the largest message seen so far (before the first page:
/// the largest message valid under [`ValidationLimits::default`]), so a page exceeds it only
/// when it holds messages larger than every one before them.
pub const EXPORT_PAGE_BYTES: u64 = 32 * 1024 * 1024;
/// Bytes of messages an export page never exceeds while every message is valid under
/// [`ValidationLimits::default`]: 256 MiB. The page size is at most this bound divided by the
/// largest valid message (60 messages under the default limits). Guarantees:
/// `docs/reliability.md`.
pub const EXPORT_MAX_PAGE_BYTES: u64 = 256 * 1024 * 1024;
/// Messages written per `store_batch` call during import (at most; see [`IMPORT_BATCH_BYTES`]).
pub const IMPORT_BATCH_SIZE: usize = 500;
/// Bytes of messages ([`ChatAppMessage::approx_bytes`]) after which an import batch is written
/// even if it holds fewer than [`IMPORT_BATCH_SIZE`] messages: 32 MiB. A batch therefore holds
/// at most 32 MiB plus one message.
pub const IMPORT_BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Writes every message matching `query` to `out` as JSON Lines, oldest first; returns how many
/// were written. `query.limit` (when non-zero) caps the total; `offset`, cursors and direction
/// are replaced by the export's own paging. Use `include_deleted` for a full backup.
pub async fn export_jsonl<S, W>(store: &S, query: &MessageQuery, out: &mut W) -> Result<u64>
where
    S: ReadOnlyStore + ?Sized,
    W: Write + Send,
{
    export_jsonl_with_progress(store, query, out, &mut |_| {}).await
}

/// [`export_jsonl`] calling `progress` with the running total after each page.
pub async fn export_jsonl_with_progress<S, W>(
    store: &S,
    query: &MessageQuery,
    out: &mut W,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64>
where
    S: ReadOnlyStore + ?Sized,
    W: Write + Send,
{
    let total_cap = query.limit;
    let mut page_query = MessageQuery {
        ascending: true,
        offset: 0,
        after: query.after,
        before: query.before,
        ..query.clone()
    };
    let mut written: u64 = 0;
    let mut largest = max_message_bytes(&ValidationLimits::default());
    loop {
        let page_size = export_page_limit(largest);
        let remaining = if total_cap == 0 {
            page_size
        } else {
            let done = usize::try_from(written).unwrap_or(usize::MAX);
            page_size.min(total_cap.saturating_sub(done))
        };
        if remaining == 0 {
            break;
        }
        page_query.limit = remaining;
        let page = store.list(&page_query).await?;
        if let Some(page_largest) = page.iter().map(ChatAppMessage::approx_bytes).max() {
            largest = page_largest;
        }
        for msg in &page {
            serde_json::to_writer(&mut *out, msg)
                .map_err(|e| StorageError::data("export message", e.to_string()))?;
            out.write_all(b"\n")
                .map_err(|e| StorageError::io("export: write line", e))?;
        }
        written += page.len() as u64;
        progress(written);
        match page.last() {
            Some(last) if page.len() == remaining => page_query.after = Cursor::try_of(last),
            _ => break,
        }
    }
    out.flush()
        .map_err(|e| StorageError::io("export: flush", e))?;
    Ok(written)
}

/// The number of messages an export page asks for when the largest message seen so far has
/// `largest` bytes: [`EXPORT_PAGE_BYTES`] / `largest`, at most [`EXPORT_PAGE_SIZE`] and at most
/// [`EXPORT_MAX_PAGE_BYTES`] / the largest message valid under [`ValidationLimits::default`];
/// at least 1.
///
/// ```
/// use hotplex_storage_core::{EXPORT_PAGE_SIZE, export_page_limit};
/// assert_eq!(export_page_limit(100), 60);
/// assert_eq!(export_page_limit(1024 * 1024), 32);
/// assert_eq!(export_page_limit(u64::MAX), 1);
/// assert!(export_page_limit(0) <= EXPORT_PAGE_SIZE);
/// ```
pub fn export_page_limit(largest: u64) -> usize {
    let hard = EXPORT_MAX_PAGE_BYTES / max_message_bytes(&ValidationLimits::default()).max(1);
    let soft = EXPORT_PAGE_BYTES / largest.max(1);
    let messages = soft.min(hard).max(1);
    usize::try_from(messages).map_or(EXPORT_PAGE_SIZE, |m| m.min(EXPORT_PAGE_SIZE))
}

/// An upper bound of [`ChatAppMessage::approx_bytes`] for a message valid under `limits`: every
/// short field and the content at their limits, and four times the metadata limit
/// (`approx_bytes` counts 8 bytes for a number, `null`, `[]` or `{}`, which take at least two
/// bytes of JSON with their separator).
fn max_message_bytes(limits: &ValidationLimits) -> u64 {
    let bytes = limits
        .max_field_bytes
        .saturating_mul(import_input::SHORT_FIELDS)
        .saturating_add(limits.max_content_bytes)
        .saturating_add(limits.max_metadata_bytes.saturating_mul(4));
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// Writes every message of `store`, soft-deleted ones included, as JSON Lines to a new file
/// (mode 0600) beside `path` and renames it over `path` once complete: an existing file or
/// symlink at `path` is replaced, never written through; on failure nothing changes at
/// `path`. The default of [`ChatAppMessageStore::backup_to`](crate::ChatAppMessageStore::backup_to).
pub async fn backup_jsonl<S>(store: &S, path: &Path) -> Result<BackupReport>
where
    S: ReadOnlyStore + ?Sized,
{
    let mut temp = PrivateTempFile::beside(path)?;
    let query = MessageQuery::default().with_include_deleted(true);
    let messages = {
        let mut out = BufWriter::new(temp.file());
        let messages = export_jsonl(store, &query, &mut out).await?;
        out.into_inner()
            .map_err(|e| StorageError::io("backup: flush", e.into_error()))?;
        messages
    };
    let bytes = temp.commit()?;
    Ok(BackupReport::new(
        path,
        BackupFormat::Jsonl,
        messages,
        bytes,
    ))
}

/// One input line (or array element) that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    /// 1-based line number (element number for a JSON array).
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Messages written.
    pub imported: u64,
    /// Messages whose id was already in the store (nothing changed).
    pub already_present: u64,
    /// Messages a storage strategy declined (only when importing through a `StrategyStore`).
    pub filtered: u64,
    /// Lines that were not imported, with their reasons.
    pub rejected: Vec<RejectedLine>,
}

/// Imports JSON Lines written by [`export_jsonl`], or the Go plugin's export (a JSON array of
/// messages with Go field names such as `ID` and `ChatSessionID`), into `store`.
///
/// Ids, timestamps and deleted flags are preserved, so importing the same file twice adds
/// nothing the second time. Lines that fail to parse or validate are reported, not fatal;
/// storage errors (connection, full, closed) abort the import and are returned.
pub async fn import_jsonl<S, R>(store: &S, input: R) -> Result<ImportReport>
where
    S: WriteOnlyStore + ?Sized,
    R: BufRead + Send,
{
    import_jsonl_with_progress(store, input, &ValidationLimits::default(), &mut |_| {}).await
}

/// [`import_jsonl`] with explicit validation limits, calling `progress` with the number of
/// input records processed after each batch.
pub async fn import_jsonl_with_progress<S, R>(
    store: &S,
    input: R,
    limits: &ValidationLimits,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<ImportReport>
where
    S: WriteOnlyStore + ?Sized,
    R: BufRead + Send,
{
    let mut report = ImportReport::default();
    let mut batch = Batch::new(store, limits);
    let cap = import_input::max_record_bytes(limits);
    let (go_export, blank_lines, mut input) = import_input::start_of_input(input)?;
    let mut record = Vec::new();
    if go_export {
        let mut array = import_input::GoArray::open(input, cap)?;
        loop {
            let next = match array.next_element(&mut record) {
                Ok(next) => next,
                Err(e) => {
                    // Everything before the bad syntax is imported; say how far that got.
                    batch.flush(&mut report).await?;
                    return Err(after_partial_import(e, &report));
                }
            };
            let Some((number, read)) = next else {
                break;
            };
            let parsed = match read {
                import_input::Line::TooLong => Err(too_long(cap)),
                import_input::Line::Read => serde_json::from_slice::<GoMessage>(&record)
                    .map(ChatAppMessage::from)
                    .map_err(|e| e.to_string()),
            };
            batch.push(number, parsed, &mut report);
            if batch.is_full() {
                batch.flush(&mut report).await?;
                progress(number);
            }
        }
    } else {
        let mut number = blank_lines;
        while let Some(read) = import_input::read_line(&mut input, &mut record, cap)? {
            number += 1;
            let parsed = match read {
                import_input::Line::TooLong => Err(too_long(cap)),
                // Bytes, not `str`: a line that is not UTF-8 is rejected like any other.
                import_input::Line::Read if record.iter().all(u8::is_ascii_whitespace) => {
                    continue;
                }
                import_input::Line::Read => {
                    serde_json::from_slice::<ChatAppMessage>(&record).map_err(|e| e.to_string())
                }
            };
            batch.push(number, parsed, &mut report);
            if batch.is_full() {
                batch.flush(&mut report).await?;
                progress(number);
            }
        }
    }
    batch.flush(&mut report).await?;
    Ok(report)
}

/// The reason given for a record over the import record limit.
fn too_long(cap: usize) -> String {
    format!("the record is over the import limit of {cap} bytes")
}

/// `error` (bad syntax of a Go export) with what the import did before it.
fn after_partial_import(error: StorageError, report: &ImportReport) -> StorageError {
    match error {
        StorageError::Data { context, message } => StorageError::Data {
            context,
            message: format!(
                "{message}; every element before it was processed: {} imported, {} already \
                 present, {} filtered, {} rejected (the import is idempotent: run it again \
                 once the file is fixed)",
                report.imported,
                report.already_present,
                report.filtered,
                report.rejected.len()
            ),
        },
        other => other,
    }
}

/// Accumulates valid messages and writes them with one `store_batch` call (JSON Lines, Go
/// exports and Go databases alike).
pub(crate) struct Batch<'a, S: ?Sized> {
    store: &'a S,
    limits: &'a ValidationLimits,
    messages: Vec<ChatAppMessage>,
    /// The input line of each message in `messages`.
    lines: Vec<u64>,
    /// The `approx_bytes` of `messages`, summed.
    bytes: u64,
}

impl<'a, S: WriteOnlyStore + ?Sized> Batch<'a, S> {
    pub(crate) fn new(store: &'a S, limits: &'a ValidationLimits) -> Self {
        Self {
            store,
            limits,
            messages: Vec::with_capacity(IMPORT_BATCH_SIZE),
            lines: Vec::with_capacity(IMPORT_BATCH_SIZE),
            bytes: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.messages.len() >= IMPORT_BATCH_SIZE || self.bytes >= IMPORT_BATCH_BYTES
    }

    pub(crate) fn push(
        &mut self,
        line: u64,
        parsed: std::result::Result<ChatAppMessage, String>,
        report: &mut ImportReport,
    ) {
        let checked = parsed.and_then(|msg| {
            if msg.id.is_empty() {
                // A fresh id on every import would store the record again each time.
                return Err(
                    "id is required: import keeps ids so that a re-import adds nothing".to_owned(),
                );
            }
            validate_message_with(&msg, self.limits)
                .map(|()| msg)
                .map_err(|e| e.to_string())
        });
        match checked {
            Ok(msg) => {
                self.bytes = self.bytes.saturating_add(msg.approx_bytes());
                self.messages.push(msg);
                self.lines.push(line);
            }
            Err(reason) => report.rejected.push(RejectedLine { line, reason }),
        }
    }

    /// Writes the batch in one `store_batch` call. When the store rejects it as invalid (its
    /// own limits may be stricter than the ones checked here), the messages are written one
    /// by one so that only the offending lines are rejected, with their line numbers. Other
    /// storage errors (full, closed, connection) abort the import.
    pub(crate) async fn flush(&mut self, report: &mut ImportReport) -> Result<()> {
        if self.messages.is_empty() {
            return Ok(());
        }
        match self.store.store_batch(&self.messages).await {
            Ok(receipts) => receipts.iter().for_each(|r| count(report, r.outcome)),
            Err(e) if e.is_invalid_input() => {
                for (msg, &line) in self.messages.iter().zip(&self.lines) {
                    match self.store.store_batch(std::slice::from_ref(msg)).await {
                        Ok(receipts) => receipts.iter().for_each(|r| count(report, r.outcome)),
                        Err(e) if e.is_invalid_input() => report.rejected.push(RejectedLine {
                            line,
                            reason: e.to_string(),
                        }),
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        self.messages.clear();
        self.lines.clear();
        self.bytes = 0;
        Ok(())
    }
}

fn count(report: &mut ImportReport, outcome: StoreOutcome) {
    match outcome {
        StoreOutcome::Stored => report.imported += 1,
        StoreOutcome::AlreadyStored => report.already_present += 1,
        StoreOutcome::Filtered => report.filtered += 1,
    }
}

/// A message in the Go plugin's export format (Go field names, Go zero values).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct GoMessage {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "ChatSessionID")]
    chat_session_id: String,
    chat_platform: String,
    #[serde(rename = "ChatUserID")]
    chat_user_id: String,
    #[serde(rename = "ChatBotUserID")]
    chat_bot_user_id: String,
    #[serde(rename = "ChatChannelID")]
    chat_channel_id: String,
    #[serde(rename = "ChatThreadID")]
    chat_thread_id: String,
    #[serde(rename = "EngineSessionID")]
    engine_session_id: Option<Uuid>,
    engine_namespace: String,
    #[serde(rename = "ProviderSessionID")]
    provider_session_id: String,
    provider_type: String,
    message_type: String,
    #[serde(rename = "FromUserID")]
    from_user_id: String,
    from_user_name: String,
    #[serde(rename = "ToUserID")]
    to_user_id: String,
    content: String,
    metadata: Option<Metadata>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    deleted: bool,
    deleted_at: Option<DateTime<Utc>>,
}

/// Go writes the zero `time.Time` as year 1; treat it as absent.
pub(crate) fn non_zero(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.filter(|t| t.timestamp() > -62_135_596_800)
}

impl From<GoMessage> for ChatAppMessage {
    fn from(go: GoMessage) -> Self {
        let created_at = non_zero(go.created_at);
        Self {
            id: go.id,
            chat_session_id: go.chat_session_id,
            chat_platform: go.chat_platform,
            chat_user_id: go.chat_user_id,
            chat_bot_user_id: go.chat_bot_user_id,
            chat_channel_id: go.chat_channel_id,
            chat_thread_id: go.chat_thread_id,
            engine_session_id: go.engine_session_id.unwrap_or_else(Uuid::nil),
            engine_namespace: go.engine_namespace,
            provider_session_id: go.provider_session_id,
            provider_type: go.provider_type,
            message_type: MessageType::new(go.message_type),
            from_user_id: go.from_user_id,
            from_user_name: go.from_user_name,
            to_user_id: go.to_user_id,
            content: go.content,
            metadata: go.metadata.unwrap_or_default(),
            created_at,
            updated_at: non_zero(go.updated_at).or(created_at),
            deleted: go.deleted,
            deleted_at: if go.deleted {
                non_zero(go.deleted_at)
            } else {
                None
            },
            seq: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_export_records_convert() {
        let json = r#"{"ID":"m1","ChatSessionID":"s1","ChatPlatform":"slack","ChatUserID":"U1",
            "EngineSessionID":"00000000-0000-0000-0000-000000000000","MessageType":"user_input",
            "Content":"hi","Metadata":null,"CreatedAt":"2026-03-23T18:14:31.123456789+08:00",
            "UpdatedAt":"0001-01-01T00:00:00Z","Deleted":false,"DeletedAt":null}"#;
        let go: GoMessage = serde_json::from_str(json).unwrap();
        let msg = ChatAppMessage::from(go);
        assert_eq!(msg.id, "m1");
        assert_eq!(msg.chat_session_id, "s1");
        assert_eq!(msg.chat_platform, "slack");
        assert_eq!(msg.message_type, MessageType::USER_INPUT);
        assert!(msg.metadata.is_empty());
        let created = msg.created_at.unwrap();
        assert_eq!(created.to_rfc3339(), "2026-03-23T10:14:31.123456789+00:00");
        assert_eq!(msg.updated_at, Some(created));
    }
}
