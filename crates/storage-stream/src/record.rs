//! The rows a stream produces: their `metadata.stream_*` vocabulary and how each is built from
//! the stream's template.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hash, Hasher};

use hotplex_storage_core::{
    ChatAppMessage, MessageType, Result, StorageError, ValidationLimits, assign_identity, time,
    validate_message_with,
};
use serde_json::Value;
use uuid::Uuid;

use crate::buffer::{Identity, Stream};

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
    if key.is_empty() {
        return Err(StorageError::invalid_message("stream_key", "is required"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::invalid_message(
            "stream_key",
            format!("is {} bytes, over the limit of {MAX_KEY_BYTES}", key.len()),
        ));
    }
    if key.contains('\0') {
        return Err(StorageError::invalid_message(
            "stream_key",
            "contains a NUL character",
        ));
    }
    Ok(())
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

/// Checks that every row a stream could build from `row` (a prepared template, or the bare
/// message of a stream without one) passes `limits`: `row` with every `stream_*` key at its
/// longest value — a superset of the keys of any row, so its metadata is at least as large.
///
/// The content is not part of the check: it is at most `max_buffer_bytes`, which
/// [`StreamConfig::validate`](crate::StreamConfig::validate) keeps within
/// `limits.max_content_bytes`, and chunks with NUL are refused on arrival.
pub(crate) fn check_largest_row(row: &ChatAppMessage, limits: &ValidationLimits) -> Result<()> {
    let mut probe = ChatAppMessage {
        content: String::new(),
        ..row.clone()
    };
    if probe.id.is_empty() {
        probe.id = Uuid::nil().to_string();
    }
    let longest_status = StreamStatus::Interrupted.as_str();
    let longest_reason = InterruptReason::Overflow.as_str();
    let m = &mut probe.metadata;
    m.insert(keys::STREAM_STATUS.into(), longest_status.into());
    m.insert(keys::STREAM_REASON.into(), longest_reason.into());
    m.insert(keys::STREAM_LIMIT.into(), "max_total_bytes".into());
    m.insert(keys::STREAM_ID.into(), Uuid::nil().to_string().into());
    m.insert(keys::STREAM_KEY.into(), longest_key().into());
    for key in [keys::STREAM_PART, keys::STREAM_SEQ, keys::STREAM_CHUNKS] {
        m.insert(key.into(), Value::from(u64::MAX));
    }
    validate_message_with(&probe, limits)
}

/// The session fields kept for a stream: the template without content, identity and times,
/// with the key as `chat_session_id` when it has none. Checked now as the largest row it could
/// become ([`check_largest_row`]), so that every row built from it later can be stored.
pub(crate) fn prepare_template(
    key: &str,
    template: &ChatAppMessage,
    limits: &ValidationLimits,
) -> Result<ChatAppMessage> {
    let mut t = ChatAppMessage {
        content: String::new(),
        ..template.clone()
    };
    t.id.clear();
    t.created_at = None;
    make_live(&mut t);
    if t.chat_session_id.is_empty() {
        key.clone_into(&mut t.chat_session_id);
    }
    if t.message_type.as_str().is_empty() {
        t.message_type = MessageType::FINAL_RESPONSE;
    }
    check_largest_row(&t, limits)?;
    Ok(t)
}

/// Checks the template given to `on_stream_complete` as the largest last row it could become
/// ([`final_row`] with every `stream_*` key). An empty `chat_session_id` is checked as the key
/// (the captured one was checked when it was captured).
pub(crate) fn check_completion_template(
    key: &str,
    template: &ChatAppMessage,
    limits: &ValidationLimits,
) -> Result<()> {
    let mut row = ChatAppMessage {
        content: String::new(),
        ..template.clone()
    };
    if row.chat_session_id.is_empty() {
        key.clone_into(&mut row.chat_session_id);
    }
    if row.message_type.as_str().is_empty() {
        row.message_type = MessageType::FINAL_RESPONSE;
    }
    check_largest_row(&row, limits)
}

/// Clears what only a stored message has: `deleted`, `deleted_at`, `updated_at` and `seq`.
/// Every row a stream store writes is a live, new message; a template's lifecycle fields are
/// ignored rather than stored (a completion marked `deleted` would otherwise be stored
/// soft-deleted and answered `Stored`).
pub(crate) fn make_live(msg: &mut ChatAppMessage) {
    msg.updated_at = None;
    msg.deleted = false;
    msg.deleted_at = None;
    msg.seq = 0;
}

/// `template` as the message a completion without buffered chunks stores: as it is, but live
/// ([`make_live`]).
pub(crate) fn live_message(template: &ChatAppMessage) -> Cow<'_, ChatAppMessage> {
    if template.deleted
        || template.deleted_at.is_some()
        || template.updated_at.is_some()
        || template.seq != 0
    {
        let mut msg = template.clone();
        make_live(&mut msg);
        Cow::Owned(msg)
    } else {
        Cow::Borrowed(template)
    }
}

/// A row of `key`'s stream: the caller's template if given, else the stream's, else a bare
/// `final_response` in session `key`.
fn base(key: &str, stream_template: Option<&ChatAppMessage>) -> ChatAppMessage {
    stream_template.map_or_else(|| ChatAppMessage::bot(key, ""), Clone::clone)
}

/// Gives `msg` an id: the stream's own pending one if there is one — the content may already
/// be stored under it, so its next write must use it, whatever id a caller's template carries
/// — else its own (a caller's template), else a fresh one. A pending id that came from a
/// caller is never borrowed here: it may be another message's (a completion under that same
/// id keeps it as the template's own).
fn fill_identity(msg: &mut ChatAppMessage, pending: Option<&Identity>) {
    if let Some(p) = pending.filter(|p| !p.caller) {
        msg.id.clone_from(&p.id);
        msg.created_at = Some(p.created_at);
    }
    assign_identity(msg, time::now_micros());
}

/// True when the stream's next write must reuse its own pending id (see [`fill_identity`]).
pub(crate) fn has_own_pending(stream: &Stream) -> bool {
    stream.pending.as_ref().is_some_and(|p| !p.caller)
}

fn stamp(msg: &mut ChatAppMessage, key: &str, stream_id: &Uuid, status: StreamStatus) {
    let m = &mut msg.metadata;
    m.insert(keys::STREAM_STATUS.into(), status.as_str().into());
    m.insert(keys::STREAM_ID.into(), stream_id.to_string().into());
    m.insert(keys::STREAM_KEY.into(), key.into());
}

/// The `stream_status` of a row built here (empty for any other message).
pub(crate) fn status_of(msg: &ChatAppMessage) -> &str {
    msg.metadata
        .get(keys::STREAM_STATUS)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The last row of a stream (complete or interrupted), carrying `content`.
///
/// `caller` is the template given to `on_stream_complete`: it wins over the captured one
/// (except for its id when the stream has its own pending id, see [`fill_identity`]); its
/// empty `chat_session_id` / `message_type` are filled from the stream or the key, its
/// lifecycle fields cleared ([`make_live`]).
pub(crate) fn final_row(
    key: &str,
    stream: &Stream,
    content: String,
    caller: Option<&ChatAppMessage>,
    status: StreamStatus,
    reason: Option<InterruptReason>,
) -> ChatAppMessage {
    let captured = stream.template.as_deref();
    let mut msg = match caller {
        Some(t) => {
            let mut msg = t.clone();
            make_live(&mut msg);
            if msg.chat_session_id.is_empty() {
                msg.chat_session_id =
                    captured.map_or_else(|| key.to_owned(), |c| c.chat_session_id.clone());
            }
            if msg.message_type.as_str().is_empty() {
                msg.message_type = MessageType::FINAL_RESPONSE;
            }
            msg
        }
        None => base(key, captured),
    };
    msg.content = content;
    fill_identity(&mut msg, stream.pending.as_ref());
    stamp(&mut msg, key, &stream.id, status);
    msg.metadata
        .insert(keys::STREAM_CHUNKS.into(), Value::from(stream.chunks));
    if let Some(reason) = reason {
        msg.metadata
            .insert(keys::STREAM_REASON.into(), reason.as_str().into());
    }
    if stream.parts > 0 {
        msg.metadata
            .insert(keys::STREAM_PART.into(), Value::from(next_part(stream)));
    }
    msg
}

/// The `stream_part` of the stream's next row: one more than the parts stored. Saturating, so
/// no number of parts can panic (a `u64` of parts is not reachable anyway).
fn next_part(stream: &Stream) -> u64 {
    stream.parts.saturating_add(1)
}

/// Part `stream.parts + 1` of an over-long stream, carrying `content` (`chunks` chunks).
pub(crate) fn part_row(key: &str, stream: &Stream, content: String, chunks: u64) -> ChatAppMessage {
    let mut msg = base(key, stream.template.as_deref());
    msg.content = content;
    fill_identity(&mut msg, stream.pending.as_ref());
    stamp(&mut msg, key, &stream.id, StreamStatus::Partial);
    msg.metadata
        .insert(keys::STREAM_PART.into(), Value::from(next_part(stream)));
    msg.metadata
        .insert(keys::STREAM_CHUNKS.into(), Value::from(chunks));
    msg
}

/// The row of one (non-empty) chunk under `all_chunks`: `stream_seq` = `stream.numbered + 1`.
///
/// Its id is derived from the stream, the position and the chunk ([`chunk_row_id`]): writing
/// the same chunk at the same position again — a retry after a lost acknowledgement — can only
/// be answered `AlreadyStored`, never make a second row.
pub(crate) fn chunk_row(key: &str, stream: &Stream, chunk: &str) -> ChatAppMessage {
    let seq = stream.numbered + 1;
    let mut msg = base(key, stream.template.as_deref());
    chunk.clone_into(&mut msg.content);
    msg.id = chunk_row_id(&stream.id, seq, chunk);
    fill_identity(&mut msg, None);
    stamp(&mut msg, key, &stream.id, StreamStatus::Chunk);
    msg.metadata
        .insert(keys::STREAM_SEQ.into(), Value::from(seq));
    msg
}

/// The id of chunk row `seq` of stream `stream_id` carrying `chunk`: a UUIDv7 with the stream's
/// timestamp (so the rows of a stream sort together) whose other 74 bits are a hash of the
/// three. Deterministic within the process, which is as long as a stream lives.
///
/// The chunk is part of the name on purpose: if a chunk row's write failed and the caller then
/// sends a *different* chunk, that chunk must get its own row rather than be acknowledged by
/// the row of the chunk it replaced.
pub(crate) fn chunk_row_id(stream_id: &Uuid, seq: u64, chunk: &str) -> String {
    let mut bits = [0u8; 16];
    for (half, salt) in bits.chunks_exact_mut(8).zip([0u8, 1]) {
        let mut h = DefaultHasher::new();
        (salt, stream_id.as_u128(), seq, chunk).hash(&mut h);
        half.copy_from_slice(&h.finish().to_be_bytes());
    }
    // A UUIDv7 starts with its 48-bit Unix timestamp in milliseconds.
    let b = stream_id.as_bytes();
    let millis = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
    let mut random = [0u8; 10];
    random.copy_from_slice(&bits[..10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// The smallest interrupted row that still keeps `row`'s content, identity and session: a bare
/// `final_response` with only `stream_status`, `stream_reason` and `stream_id` (plus
/// `stream_part` when the stream was stored in parts). Written when the store refuses `row`
/// itself as invalid, so that accepted content still lands.
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

/// A fresh identity for a row (an overflow row): a new UUIDv7, created now.
pub(crate) fn fresh_identity() -> Identity {
    Identity {
        id: Uuid::now_v7().to_string(),
        created_at: time::now_micros(),
        caller: false,
    }
}

/// A chunk stored on its own because no buffer could be started for `key`. `template` is the
/// prepared template ([`prepare_template`]), if the caller gave one.
/// Written under `identity`, which a retry of the same chunk reuses.
pub(crate) fn overflow_row(
    key: &str,
    template: Option<&ChatAppMessage>,
    chunk: &str,
    limit: &'static str,
    identity: &Identity,
) -> ChatAppMessage {
    let mut msg = base(key, template);
    chunk.clone_into(&mut msg.content);
    fill_identity(&mut msg, Some(identity));
    let m = &mut msg.metadata;
    m.insert(
        keys::STREAM_STATUS.into(),
        StreamStatus::Interrupted.as_str().into(),
    );
    m.insert(keys::STREAM_KEY.into(), key.into());
    m.insert(
        keys::STREAM_REASON.into(),
        InterruptReason::Overflow.as_str().into(),
    );
    m.insert(keys::STREAM_LIMIT.into(), limit.into());
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn keys_and_chunks_are_checked() {
        assert!(validate_key("k").is_ok());
        assert!(validate_key(&"k".repeat(256)).is_ok());
        assert!(validate_key(&"k".repeat(257)).is_err());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\0b").is_err());
        assert!(validate_chunk("").is_ok());
        assert!(validate_chunk("x\0").is_err());
    }

    #[test]
    fn templates_lose_identity_and_gain_a_session() {
        let t = ChatAppMessage::bot("", "ignored")
            .with_id("m1")
            .with_platform("slack")
            .with_created_at(chrono::Utc::now());
        let limits = ValidationLimits::default();
        let p = prepare_template("key-1", &t, &limits).unwrap();
        assert_eq!(p.chat_session_id, "key-1");
        assert!(p.id.is_empty() && p.content.is_empty() && p.created_at.is_none());
        assert_eq!(p.chat_platform, "slack");
        let bad = ChatAppMessage::bot("s", "").with_user("u".repeat(300));
        assert!(prepare_template("k", &bad, &limits).is_err());
    }

    #[test]
    fn templates_are_checked_as_the_largest_row_they_can_become() {
        let limits = ValidationLimits::default();
        let with_metadata = |bytes: usize| {
            ChatAppMessage::bot("s", "").with_metadata_entry("k", "x".repeat(bytes - 8))
        };
        // The bare row of a stream without a template, with the longest key: its metadata is
        // what the stream keys can take at most.
        let mut bare = ChatAppMessage::bot(longest_key(), "");
        bare.id = Uuid::nil().to_string();
        let reserve = {
            let mut probe = bare.clone();
            let m = &mut probe.metadata;
            m.insert(keys::STREAM_STATUS.into(), "interrupted".into());
            m.insert(keys::STREAM_REASON.into(), "overflow".into());
            m.insert(keys::STREAM_LIMIT.into(), "max_total_bytes".into());
            m.insert(keys::STREAM_ID.into(), bare.id.clone().into());
            m.insert(keys::STREAM_KEY.into(), longest_key().into());
            for k in [keys::STREAM_PART, keys::STREAM_SEQ, keys::STREAM_CHUNKS] {
                m.insert(k.into(), Value::from(u64::MAX));
            }
            serde_json::to_vec(&probe.metadata).unwrap().len()
        };
        assert!(
            reserve > 6 * 256,
            "the key is counted JSON-escaped: {reserve}"
        );
        check_largest_row(&bare, &limits).unwrap();
        // `{"k":"…"}` plus the stream keys: `,` replaces one `{`/`}` pair.
        let fits = limits.max_metadata_bytes - reserve + 1;
        assert!(prepare_template("k", &with_metadata(fits), &limits).is_ok());
        let err = prepare_template("k", &with_metadata(fits + 1), &limits).unwrap_err();
        assert!(err.to_string().contains("metadata"), "{err}");
        assert!(check_completion_template("k", &with_metadata(fits + 1), &limits).is_err());
        assert!(check_completion_template("k", &with_metadata(fits), &limits).is_ok());
        // A completion template without session or type is checked as the row it becomes.
        check_completion_template("k", &ChatAppMessage::default(), &limits).unwrap();
    }

    #[test]
    fn chunk_row_ids_name_the_stream_the_position_and_the_chunk() {
        let stream = Stream::new(None, Instant::now());
        let a = chunk_row("k", &stream, "a");
        assert_eq!(a.id, chunk_row("k", &stream, "a").id);
        assert_ne!(a.id, chunk_row("k", &stream, "b").id);
        let other = Stream::new(None, Instant::now());
        assert_ne!(a.id, chunk_row("k", &other, "a").id);
        let mut next = Stream::new(None, Instant::now());
        next.id = stream.id;
        next.numbered = 1;
        assert_ne!(a.id, chunk_row("k", &next, "a").id);
        let id = Uuid::parse_str(&a.id).unwrap();
        assert_eq!(id.get_version_num(), 7);
        // The stream's timestamp: the rows of a stream sort together.
        assert_eq!(id.as_bytes()[..6], stream.id.as_bytes()[..6]);
    }

    #[test]
    fn minimal_rows_keep_content_identity_session_and_the_stream_keys_only() {
        let mut stream = Stream::new(
            Some(std::sync::Arc::new(
                ChatAppMessage::bot("sess", "")
                    .with_platform("slack")
                    .with_metadata_entry("model", "m"),
            )),
            Instant::now(),
        );
        stream.parts = 1;
        let row = final_row(
            "k",
            &stream,
            "text".into(),
            None,
            StreamStatus::Interrupted,
            Some(InterruptReason::Expired),
        );
        let min = minimal_row(&row);
        assert_eq!(
            (min.id.as_str(), min.created_at),
            (row.id.as_str(), row.created_at)
        );
        assert_eq!(
            (min.chat_session_id.as_str(), min.content.as_str()),
            ("sess", "text")
        );
        assert_eq!(min.message_type, MessageType::FINAL_RESPONSE);
        assert!(min.chat_platform.is_empty());
        let mut names: Vec<_> = min.metadata.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["stream_id", "stream_part", "stream_reason", "stream_status"]
        );
        assert_eq!(min.metadata[keys::STREAM_REASON], "expired");
    }

    #[test]
    fn part_numbers_saturate_instead_of_overflowing() {
        let mut stream = Stream::new(None, Instant::now());
        stream.parts = u64::MAX;
        let part = part_row("k", &stream, "x".into(), 1);
        assert_eq!(part.metadata[keys::STREAM_PART], u64::MAX);
        let last = final_row("k", &stream, "y".into(), None, StreamStatus::Complete, None);
        assert_eq!(last.metadata[keys::STREAM_PART], u64::MAX);
        check_largest_row(&last, &ValidationLimits::default()).unwrap();
    }

    #[test]
    fn rows_carry_the_stream_vocabulary() {
        let mut stream = Stream::new(None, Instant::now());
        stream.chunks = 2;
        let row = final_row(
            "k",
            &stream,
            "ab".into(),
            None,
            StreamStatus::Interrupted,
            Some(InterruptReason::Closed),
        );
        assert_eq!(row.chat_session_id, "k");
        assert_eq!(row.message_type, MessageType::FINAL_RESPONSE);
        assert_eq!(row.metadata[keys::STREAM_STATUS], "interrupted");
        assert_eq!(row.metadata[keys::STREAM_REASON], "closed");
        assert_eq!(row.metadata[keys::STREAM_CHUNKS], 2);
        assert!(!row.id.is_empty() && row.created_at.is_some());
        assert!(!row.metadata.contains_key(keys::STREAM_PART));

        stream.pending = Some(Identity {
            id: "fixed".into(),
            created_at: row.created_at.unwrap(),
            caller: false,
        });
        stream.parts = 2;
        let again = final_row(
            "k",
            &stream,
            "ab".into(),
            None,
            StreamStatus::Complete,
            None,
        );
        assert_eq!(again.id, "fixed");
        assert_eq!(again.metadata[keys::STREAM_PART], 3);
        let part = part_row("k", &stream, "x".into(), 1);
        assert_eq!(part.metadata[keys::STREAM_PART], 3);
        assert_eq!(part.metadata[keys::STREAM_STATUS], "partial");
        let chunk = chunk_row("k", &stream, "c");
        assert_eq!(chunk.metadata[keys::STREAM_SEQ], 1);
        // A caller's id is never borrowed by a part or an interrupted row.
        stream.pending.as_mut().unwrap().caller = true;
        let part = part_row("k", &stream, "x".into(), 1);
        assert_ne!(part.id, "fixed");
        let row = final_row(
            "k",
            &stream,
            "x".into(),
            None,
            StreamStatus::Interrupted,
            None,
        );
        assert_ne!(row.id, "fixed");
        assert_ne!(chunk.id, "fixed");
        let over = overflow_row("k", None, "c", "max_buffers", &fresh_identity());
        assert_eq!(over.metadata[keys::STREAM_STATUS], "interrupted");
        assert_eq!(over.metadata[keys::STREAM_REASON], "overflow");
        assert_eq!(over.metadata[keys::STREAM_LIMIT], "max_buffers");
        assert_eq!(over.content, "c");
    }
}
