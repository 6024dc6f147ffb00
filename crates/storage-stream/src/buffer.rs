//! The in-memory state of a stream store: one [`Entry`] per key, each holding at most one
//! [`Stream`], plus totals and counters. Pure data, no I/O, no locking: the store keeps all of
//! it in one `std::sync::Mutex` that is never held across an `.await` or a store call.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hotplex_storage_core::{ChatAppMessage, StoreReceipt};
use tokio::time::Instant;
use uuid::Uuid;

use crate::StreamMetrics;

/// The id and creation time a write used; reused by the next write of the same content so
/// that a write whose acknowledgement was lost is answered `AlreadyStored`, not duplicated.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) id: String,
    pub(crate) created_at: DateTime<Utc>,
    /// The id came from the caller's completion template, not from this stream: it may be
    /// another message's, so it is reused only by a completion under that same id, never by a
    /// part or an interrupted row.
    pub(crate) caller: bool,
}

/// One stream: the chunks accepted so far and not yet handed to a write.
#[derive(Debug)]
pub(crate) struct Stream {
    /// `stream_id` of every row of this stream (UUIDv7).
    pub(crate) id: Uuid,
    /// The accepted chunks, concatenated in order.
    pub(crate) content: String,
    /// Number of chunks in `content` (empty chunks included).
    pub(crate) chunks: u64,
    /// Non-empty chunks accepted by this stream so far, in every part; the next chunk row's
    /// `stream_seq` is this plus one. Empty chunks are not numbered (they get no chunk row).
    pub(crate) numbered: u64,
    /// Parts already stored (`stream_status = "partial"`).
    pub(crate) parts: u64,
    /// Session fields captured when the stream started (content, id and times cleared).
    pub(crate) template: Option<Arc<ChatAppMessage>>,
    /// When the last chunk arrived.
    pub(crate) last_update: Instant,
    /// Identity of a failed write of exactly `content` that may have landed (a transient
    /// error, exhausted retries or an abandoned write; never a permanent error). A write
    /// answered `AlreadyStored` counts as stored only under this id (or an id the stream
    /// generated). Cleared when `content` is stored.
    pub(crate) pending: Option<Identity>,
    /// `all_chunks`: a chunk row of this stream failed in a way that may have landed (its
    /// acknowledgement lost, or its call cancelled) and none was stored since. Such a stream
    /// is never forgotten by a later failed write, even while it holds nothing: its id names
    /// that row, so the retry of the chunk is answered `AlreadyStored` instead of writing it
    /// again under a new stream's id.
    pub(crate) unsettled_row: bool,
    /// The receipt of the last part stored. Finishing the stream when no content followed it
    /// writes nothing and answers with this receipt.
    pub(crate) last_part: Option<StoreReceipt>,
}

impl Stream {
    pub(crate) fn new(template: Option<Arc<ChatAppMessage>>, now: Instant) -> Self {
        Self {
            id: Uuid::now_v7(),
            content: String::new(),
            chunks: 0,
            numbered: 0,
            parts: 0,
            template,
            last_update: now,
            pending: None,
            unsettled_row: false,
            last_part: None,
        }
    }

    /// True when nothing of this stream was ever stored or is waiting to be.
    pub(crate) fn is_empty(&self) -> bool {
        self.content.is_empty() && self.parts == 0
    }
}

/// Everything the store knows about one key.
///
/// Invariant: an entry exists only while it has a stream or a write of its content is in
/// flight (`busy`). While `busy`, nothing else touches the entry: calls for the key wait, the
/// flusher and `close` skip it.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    pub(crate) stream: Option<Stream>,
    pub(crate) busy: bool,
}

/// An overflow row (`direct_store`) whose write may have landed, remembered for its key so
/// that the caller's retry of the same chunk is written under the same id (`AlreadyStored`
/// if it had landed) instead of becoming a second row.
///
/// Created before the write (a cancelled call leaves it behind as may-have-landed), dropped
/// when a write of it succeeds, when the key sends a different chunk or ends its stream, when
/// it is older than `timeout`, and — the oldest first — when more than `max_buffers` are
/// remembered.
#[derive(Debug)]
pub(crate) struct OverflowRecord {
    /// The id and creation time of the row.
    pub(crate) identity: Identity,
    /// [`State::fingerprint`] of the chunk.
    pub(crate) fingerprint: u128,
    /// The limit the first attempt hit (`stream_limit`).
    pub(crate) limit: &'static str,
    /// A write of the row is running; calls for the key wait for its outcome.
    pub(crate) in_flight: bool,
    /// An attempt failed in a way that may have landed (a transient error, exhausted retries,
    /// a cancelled call): a later permanent failure does not make the record forgettable.
    pub(crate) may_have_landed: bool,
    /// When the first attempt started.
    pub(crate) since: Instant,
}

/// Counters reported by [`StreamMetrics`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) completed: u64,
    pub(crate) interrupted: u64,
    pub(crate) expired: u64,
    pub(crate) partial: u64,
    pub(crate) chunk_rows: u64,
    pub(crate) overflowed: u64,
    pub(crate) rejected: u64,
    pub(crate) write_failures: u64,
    pub(crate) chunks_accepted: u64,
    pub(crate) filtered: u64,
}

/// The whole mutable state of a stream store.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) entries: HashMap<String, Entry>,
    /// Bytes of every stream's content plus content whose write is in flight.
    pub(crate) bytes: usize,
    /// Chunks of every stream's content plus chunks whose write is in flight.
    pub(crate) chunks: u64,
    /// Store writes in flight (jobs and direct writes).
    pub(crate) in_flight: usize,
    pub(crate) closed: bool,
    pub(crate) counters: Counters,
    /// Overflow rows that may have landed, by key (see [`OverflowRecord`]).
    pub(crate) overflows: HashMap<String, OverflowRecord>,
    /// Keys of [`State::fingerprint`]: random per store, so chunks cannot be crafted to collide.
    hasher: RandomState,
}

impl State {
    /// Appends `chunk` to `stream` and updates the totals. The stream is not busy, and has no
    /// pending identity of its own: content whose write may have landed is first written as
    /// a part under that identity. A caller's pending id is forgotten here.
    pub(crate) fn append(
        stream: &mut Stream,
        bytes: &mut usize,
        chunks: &mut u64,
        chunk: &str,
        now: Instant,
    ) {
        stream.content.push_str(chunk);
        stream.chunks += 1;
        if !chunk.is_empty() {
            stream.numbered += 1;
        }
        stream.last_update = now;
        stream.pending = None;
        *bytes += chunk.len();
        *chunks += 1;
    }

    /// A 128-bit keyed hash of `chunk` and the stream `template` it came with: tells a
    /// retried overflow chunk from a different one — or from the same text sent as a new
    /// answer with other session fields — without keeping either.
    pub(crate) fn fingerprint(&self, chunk: &str, template: Option<&ChatAppMessage>) -> u128 {
        // A template that cannot be serialised (it was validated, so never) hashes as absent.
        let template = template.and_then(|t| serde_json::to_vec(t).ok());
        let hi = self.hasher.hash_one((0u8, chunk, &template));
        let lo = self.hasher.hash_one((1u8, chunk, &template));
        (u128::from(hi) << 64) | u128::from(lo)
    }

    /// Remembers `record` for `key`, first forgetting the oldest settled record if `cap` are
    /// already remembered. Returns the key of a forgotten record that may have landed.
    pub(crate) fn remember_overflow(
        &mut self,
        key: &str,
        record: OverflowRecord,
        cap: usize,
    ) -> Option<String> {
        let mut forgotten = None;
        if self.overflows.len() >= cap && !self.overflows.contains_key(key) {
            let oldest = self
                .overflows
                .iter()
                .filter(|(_, r)| !r.in_flight)
                .min_by_key(|(_, r)| r.since)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest
                && let Some(r) = self.overflows.remove(&oldest)
                && r.may_have_landed
            {
                forgotten = Some(oldest);
            }
        }
        self.overflows.insert(key.to_owned(), record);
        forgotten
    }

    /// The oldest stream whose last chunk is more than `timeout` old and that is not busy.
    pub(crate) fn oldest_expired(
        &self,
        now: Instant,
        timeout: std::time::Duration,
    ) -> Option<&str> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.busy)
            .filter_map(|(k, e)| e.stream.as_ref().map(|s| (k, s.last_update)))
            .filter(|(_, last)| now.saturating_duration_since(*last) > timeout)
            .min_by_key(|(_, last)| *last)
            .map(|(k, _)| k.as_str())
    }

    /// A snapshot for [`StreamMetrics`].
    pub(crate) fn metrics(&self) -> StreamMetrics {
        let c = self.counters;
        StreamMetrics {
            active_buffers: self.entries.len() as u64,
            buffered_bytes: self.bytes as u64,
            buffered_chunks: self.chunks,
            in_flight_writes: self.in_flight as u64,
            flushed: c.completed + c.interrupted + c.partial,
            completed: c.completed,
            interrupted: c.interrupted,
            expired: c.expired,
            partial: c.partial,
            chunk_rows: c.chunk_rows,
            overflowed: c.overflowed,
            rejected: c.rejected,
            write_failures: c.write_failures,
            chunks_accepted: c.chunks_accepted,
            filtered: c.filtered,
            closed: self.closed,
        }
    }
}
