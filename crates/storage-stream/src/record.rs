//! The rows a stream writes: their `metadata.stream_*` vocabulary, how each is built from the
//! stream's template, and their ids — all derived from the stream's identity (`UUIDv5`), so that
//! any retry of a row is the same write.

use hotplex_storage_core::{
    ChatAppMessage, MessageType, Result, StorageError, ValidationLimits, validate_message_with,
};
use serde_json::Value;
use uuid::Uuid;

/// Metadata keys written by the stream store. Readers can reassemble a stream from them.
pub mod keys {
    /// What the row is: see [`StreamStatus`](crate::StreamStatus).
    pub const STREAM_STATUS: &str = "stream_status";
    /// Why an interrupted stream ended: `expired`, `aborted`, `closed`, or `overflow` (its
    /// first chunk was stored on its own because the buffers were full).
    pub const STREAM_REASON: &str = "stream_reason";
    /// Which capacity limit sent a chunk to its own row (`max_buffers` or `max_total_bytes`).
    pub const STREAM_LIMIT: &str = "stream_limit";
    /// Shared by every row of one stream (a UUIDv7 string).
    pub const STREAM_ID: &str = "stream_id";
    /// The key the caller streamed under.
    pub const STREAM_KEY: &str = "stream_key";
    /// 1-based number of a part of a stream stored in several rows (set on every part and on
    /// the last row of such a stream).
    pub const STREAM_PART: &str = "stream_part";
    /// 1-based position of a chunk row among its stream's non-empty chunks (`all_chunks`): 1,
    /// 2, … without gaps; empty chunks get no row and no number.
    pub const STREAM_SEQ: &str = "stream_seq";
    /// Number of chunks merged into this row.
    pub const STREAM_CHUNKS: &str = "stream_chunks";
}

/// The value of `metadata.stream_status` on a row written by the stream store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamStatus {
    /// The merged stream, stored by `on_stream_complete`.
    Complete,
    /// A full buffer stored before the stream ended; more rows of the stream follow.
    Partial,
    /// The chunks of a stream that ended without completion (see `stream_reason`).
    Interrupted,
    /// One chunk, stored as it arrived (`all_chunks`).
    Chunk,
}

impl StreamStatus {
    /// The metadata value: `complete`, `partial`, `interrupted` or `chunk`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Partial => "partial",
            Self::Interrupted => "interrupted",
            Self::Chunk => "chunk",
        }
    }
}

/// Why a stream was stored as interrupted (`metadata.stream_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterruptReason {
    /// No chunk arrived for longer than the timeout.
    Expired,
    /// The caller called `on_stream_abort`.
    Aborted,
    /// The store was closed while the stream was open.
    Closed,
    /// No buffer could be started for the stream (capacity reached, `direct_store` policy):
    /// its first chunk was stored on its own; `stream_limit` names the limit.
    Overflow,
}

impl InterruptReason {
    /// The metadata value: `expired`, `aborted`, `closed` or `overflow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Aborted => "aborted",
            Self::Closed => "closed",
            Self::Overflow => "overflow",
        }
    }
}

/// The longest accepted stream key, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 256;

/// The longest stream key made of the characters that serialise longest as JSON (a control
/// character is written as `\u0001`, 6 bytes): the worst case of `stream_key` in a row.
pub(crate) fn longest_key() -> String {
    "\u{1}".repeat(MAX_KEY_BYTES)
}

/// Rejects keys that cannot serve as a `chat_session_id` fallback.
pub(crate) fn validate_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "is required".to_owned()
    } else if key.len() > MAX_KEY_BYTES {
        format!("is {} bytes, over the limit of {MAX_KEY_BYTES}", key.len())
    } else if key.contains('\0') {
        "contains a NUL character".to_owned()
    } else {
        return Ok(());
    };
    Err(StorageError::invalid_message("stream_key", reason))
}

/// Rejects chunks no store can keep.
pub(crate) fn validate_chunk(chunk: &str) -> Result<()> {
    if chunk.contains('\0') {
        return Err(StorageError::invalid_message(
            "content",
            "chunk contains a NUL character",
        ));
    }
    Ok(())
}

/// Checks that every row a stream could build from `row` passes `limits`: `row` with every
/// `stream_*` key at its longest value — a superset of the keys of any row. The content is
/// not checked: it is at most `max_buffer_bytes`, which `StreamConfig::validate` keeps within
/// `limits.max_content_bytes`, and chunks with NUL are refused on arrival.
pub(crate) fn check_largest_row(row: &ChatAppMessage, limits: &ValidationLimits) -> Result<()> {
    let mut probe = ChatAppMessage {
        content: String::new(),
        ..row.clone()
    };
    if probe.id.is_empty() {
        probe.id = Uuid::nil().to_string();
    }
    let m = &mut probe.metadata;
    m.insert(keys::STREAM_STATUS.into(), "interrupted".into());
    m.insert(keys::STREAM_REASON.into(), "overflow".into());
    m.insert(keys::STREAM_LIMIT.into(), "max_total_bytes".into());
    m.insert(keys::STREAM_ID.into(), Uuid::nil().to_string().into());
    m.insert(keys::STREAM_KEY.into(), longest_key().into());
    for key in [keys::STREAM_PART, keys::STREAM_SEQ, keys::STREAM_CHUNKS] {
        m.insert(key.into(), Value::from(u64::MAX));
    }
    validate_message_with(&probe, limits)
}

/// `template` as the session fields of a stream's rows: without content, id and times, live
/// ([`make_live`]), with the key as `chat_session_id` and `final_response` as type when it has
/// none. Checked as the largest row it could become ([`check_largest_row`]).
pub(crate) fn prepare_template(
    key: &str,
    template: &ChatAppMessage,
    limits: &ValidationLimits,
) -> Result<ChatAppMessage> {
    let mut t = with_defaults(key, template, None);
    t.id.clear();
    t.created_at = None;
    check_largest_row(&t, limits)?;
    Ok(t)
}

/// `template` as a row: without content, live, with an empty session filled from `captured`
/// (else the key) and an empty type as `final_response`.
pub(crate) fn with_defaults(
    key: &str,
    template: &ChatAppMessage,
    captured: Option<&ChatAppMessage>,
) -> ChatAppMessage {
    let mut t = ChatAppMessage {
        content: String::new(),
        ..template.clone()
    };
    make_live(&mut t);
    if t.chat_session_id.is_empty() {
        t.chat_session_id = captured.map_or_else(|| key.to_owned(), |c| c.chat_session_id.clone());
    }
    if t.message_type.as_str().is_empty() {
        t.message_type = MessageType::FINAL_RESPONSE;
    }
    t
}

/// Clears what only a stored message has: `deleted`, `deleted_at`, `updated_at` and `seq`.
/// Every row a stream store writes is a live, new message.
pub(crate) fn make_live(msg: &mut ChatAppMessage) {
    msg.updated_at = None;
    msg.deleted = false;
    msg.deleted_at = None;
    msg.seq = 0;
}

/// `template` as the message a completion without buffered chunks stores: as it is, but live.
pub(crate) fn live_message(template: &ChatAppMessage) -> ChatAppMessage {
    let mut msg = template.clone();
    make_live(&mut msg);
    msg
}

/// The id of content part `part` (1-based) of stream `stream_id`: the same however the stream
/// ends (a part, a completion, an interruption).
pub(crate) fn part_id(stream_id: &Uuid, part: u64) -> String {
    Uuid::new_v5(stream_id, format!("part/{part}").as_bytes()).to_string()
}

/// The id of chunk row `seq` of stream `stream_id` carrying `chunk`. The chunk is part of the
/// name: a different chunk sent after a failed row write gets its own row.
pub(crate) fn chunk_row_id(stream_id: &Uuid, seq: u64, chunk: &str) -> String {
    let name = [format!("chunk/{seq}\0").as_bytes(), chunk.as_bytes()].concat();
    Uuid::new_v5(stream_id, &name).to_string()
}

/// The id of the overflow row of `chunk`, sent under `key` with the prepared `template`, for
/// the overflow entry `stream_id`. Equal only for the same key, template and chunk, so it also
/// tells the retry of an overflow chunk from a new answer.
pub(crate) fn overflow_id(
    stream_id: &Uuid,
    key: &str,
    template: Option<&ChatAppMessage>,
    chunk: &str,
) -> Uuid {
    // A validated template always serialises; NUL (refused in keys and chunks, escaped in
    // JSON) separates the fields unambiguously.
    let template = template
        .and_then(|t| serde_json::to_vec(t).ok())
        .unwrap_or_default();
    let name = [
        b"overflow\0",
        key.as_bytes(),
        b"\0",
        &template,
        b"\0",
        chunk.as_bytes(),
    ]
    .concat();
    Uuid::new_v5(stream_id, &name)
}

/// What every row of one stream shares: its key, `stream_id` and captured template.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub(crate) key: &'a str,
    pub(crate) stream_id: Uuid,
    pub(crate) template: Option<&'a ChatAppMessage>,
}

impl Rows<'_> {
    /// A row with the stream's template (else a bare `final_response` in session `key`),
    /// `content`, `id` and the keys every row carries.
    fn row(
        &self,
        base: Option<ChatAppMessage>,
        id: String,
        content: String,
        status: StreamStatus,
    ) -> ChatAppMessage {
        let mut msg = base.unwrap_or_else(|| {
            self.template
                .map_or_else(|| ChatAppMessage::bot(self.key, ""), Clone::clone)
        });
        msg.id = id;
        msg.content = content;
        let m = &mut msg.metadata;
        m.insert(keys::STREAM_STATUS.into(), status.as_str().into());
        m.insert(keys::STREAM_ID.into(), self.stream_id.to_string().into());
        m.insert(keys::STREAM_KEY.into(), self.key.into());
        msg
    }

    /// Part `part` of an over-long stream (`stream_status = "partial"`).
    pub(crate) fn part(
        &self,
        part: u64,
        id: String,
        content: String,
        chunks: u64,
    ) -> ChatAppMessage {
        let mut msg = self.row(None, id, content, StreamStatus::Partial);
        msg.metadata.insert(keys::STREAM_PART.into(), part.into());
        msg.metadata
            .insert(keys::STREAM_CHUNKS.into(), chunks.into());
        msg
    }

    /// The last row of a stream: complete, or interrupted with `reason`. `caller` is the
    /// completion template, which wins over the captured one; `part` is set when earlier
    /// parts were stored.
    #[allow(
        clippy::too_many_arguments,
        reason = "one row, every field named at the call"
    )]
    pub(crate) fn last(
        &self,
        caller: Option<&ChatAppMessage>,
        id: String,
        content: String,
        chunks: u64,
        part: Option<u64>,
        reason: Option<InterruptReason>,
    ) -> ChatAppMessage {
        let base = caller.map(|t| with_defaults(self.key, t, self.template));
        let status = if reason.is_some() {
            StreamStatus::Interrupted
        } else {
            StreamStatus::Complete
        };
        let mut msg = self.row(base, id, content, status);
        let m = &mut msg.metadata;
        m.insert(keys::STREAM_CHUNKS.into(), chunks.into());
        if let Some(reason) = reason {
            m.insert(keys::STREAM_REASON.into(), reason.as_str().into());
        }
        if let Some(part) = part {
            m.insert(keys::STREAM_PART.into(), part.into());
        }
        msg
    }

    /// The row of non-empty chunk `seq` (`all_chunks`).
    pub(crate) fn chunk(&self, seq: u64, chunk: &str) -> ChatAppMessage {
        let id = chunk_row_id(&self.stream_id, seq, chunk);
        let mut msg = self.row(None, id, chunk.to_owned(), StreamStatus::Chunk);
        msg.metadata.insert(keys::STREAM_SEQ.into(), seq.into());
        msg
    }

    /// A chunk stored on its own because no buffer could be started (`limit` was reached).
    pub(crate) fn overflow(&self, id: &Uuid, chunk: &str, limit: &'static str) -> ChatAppMessage {
        let mut msg = self.row(
            None,
            id.to_string(),
            chunk.to_owned(),
            StreamStatus::Interrupted,
        );
        let m = &mut msg.metadata;
        m.insert(
            keys::STREAM_REASON.into(),
            InterruptReason::Overflow.as_str().into(),
        );
        m.insert(keys::STREAM_LIMIT.into(), limit.into());
        msg
    }
}

/// The `stream_status` of a row built here (empty for any other message).
pub(crate) fn status_of(msg: &ChatAppMessage) -> &str {
    msg.metadata
        .get(keys::STREAM_STATUS)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The smallest interrupted row that still keeps `row`'s content, identity and session: a bare
/// `final_response` with only `stream_status`, `stream_reason`, `stream_id` (and
/// `stream_part`). Written when the store refuses `row` itself as invalid.
pub(crate) fn minimal_row(row: &ChatAppMessage) -> ChatAppMessage {
    let mut msg = ChatAppMessage::bot(row.chat_session_id.clone(), row.content.clone());
    msg.id.clone_from(&row.id);
    msg.created_at = row.created_at;
    for key in [
        keys::STREAM_STATUS,
        keys::STREAM_REASON,
        keys::STREAM_ID,
        keys::STREAM_PART,
    ] {
        if let Some(value) = row.metadata.get(key) {
            msg.metadata.insert(key.into(), value.clone());
        }
    }
    msg
}
