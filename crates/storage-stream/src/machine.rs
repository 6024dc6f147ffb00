//! The stream store's state machine: every buffer, overflow entry and counter, and every
//! decision about them. Synchronous and free of I/O: its inputs are a chunk, a completion, an
//! abort, an expiry, a close and the result of a write; its outputs are the [`Write`]s to
//! perform. The async shell ([`crate::StreamMessageStore`]) keeps it in one mutex, performs the
//! writes outside it and feeds each result back through [`Machine::settle`].
//!
//! Rows get ids derived from the stream's identity ([`crate::record`]): part `N` of a stream
//! has one id however the stream ends, a chunk row is named by its stream, position and chunk,
//! an overflow row by its key, template and chunk. Writing a row again — a retry after a lost
//! acknowledgement, a cancelled call, a transient then a permanent error — is therefore
//! answered `AlreadyStored` by the backend, never a second row. What the machine must still
//! keep is which content a part id may already hold: once a write of part `N` was attempted,
//! part `N`'s content is frozen ([`Pin`]) until a write of it succeeds.

use std::collections::HashMap;
use std::mem;
use std::sync::Arc;

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreOutcome, StoreReceipt};
use tokio::time::Instant;
use uuid::Uuid;

use crate::record::{self, InterruptReason, Rows};
use crate::{OverflowPolicy, StoragePolicy, StreamConfig, StreamMetrics};

/// Which id the current part's content may already be stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pin {
    /// No write of the content was attempted: chunks may be appended.
    Free,
    /// A write under the part's derived id failed: the content is frozen and every write of it
    /// uses that id; the next chunk first stores it as a part.
    Own,
    /// A completion under this caller id failed in a way that may have landed
    /// ([`StorageError::may_have_landed`]): as [`Pin::Own`], under the caller's id.
    Caller(String),
}

/// One stream: its identity and the content of its current part.
#[derive(Debug)]
struct Stream {
    /// `stream_id` of every row (UUIDv7, minted by the first chunk).
    id: Uuid,
    /// Session fields captured from the first chunk that carried a template.
    template: Option<Arc<ChatAppMessage>>,
    /// The current part: the chunks accepted since the last stored part, in order. Empty while
    /// a write of it is in flight (the write holds it).
    content: String,
    /// Chunks in `content`, empty ones included.
    chunks: u64,
    /// Non-empty chunks accepted so far (`stream_seq` of the last chunk row).
    numbered: u64,
    /// Parts stored; the current part is `parts + 1`.
    parts: u64,
    pin: Pin,
    /// The receipt of the last stored part: the answer when the stream ends with nothing after it.
    last_part: Option<StoreReceipt>,
    last_update: Instant,
    /// A write for this key is in flight: calls for the key wait, expiry and close skip it.
    busy: bool,
}

impl Stream {
    fn rows<'a>(&'a self, key: &'a str) -> Rows<'a> {
        Rows {
            key,
            stream_id: self.id,
            template: self.template.as_deref(),
        }
    }

    /// The id of the current part: the pinned caller id, else the derived one.
    fn part_id(&self) -> String {
        match &self.pin {
            Pin::Caller(id) => id.clone(),
            Pin::Free | Pin::Own => record::part_id(&self.id, self.parts.saturating_add(1)),
        }
    }
}

/// A chunk stored as its own row because no buffer could be started (`direct_store`), kept
/// while its write runs or after it failed, so that the caller's retry of the same chunk
/// rewrites the same row (same id) — even when a buffer has become free meanwhile.
#[derive(Debug)]
struct Overflow {
    stream_id: Uuid,
    row: Uuid,
    limit: &'static str,
    since: Instant,
    busy: bool,
}

/// What a [`Write`] stores, and what its result changes.
#[derive(Debug)]
pub(crate) enum WriteKind {
    /// The stream's current part as its last row (complete, or interrupted with a reason).
    /// `caller`: the row's id is this caller id (not derived from the stream).
    Last {
        reason: Option<InterruptReason>,
        caller: Option<String>,
    },
    /// The stream's current part as a `partial` row; the stream goes on.
    Part,
    /// A chunk row (`all_chunks`); the chunk joins the stream when it is stored. `created`:
    /// this chunk started the stream.
    ChunkRow { created: bool },
    /// An overflow row; `created`: this call created the overflow entry.
    Overflow { created: bool },
    /// A completion with nothing buffered: the caller's message as it is.
    Direct,
}

/// One store write the shell performs outside the lock, then hands back to
/// [`Machine::settle`] with its result. Counted in flight until then.
#[derive(Debug)]
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) msg: Box<ChatAppMessage>,
    pub(crate) kind: WriteKind,
}

impl Write {
    /// The reason of an interrupted last row, if this writes one.
    pub(crate) fn interrupt_reason(&self) -> Option<InterruptReason> {
        match self.kind {
            WriteKind::Last { reason, .. } => reason,
            _ => None,
        }
    }

    /// A write whose `Ok` runs in the caller's task and ends the call (its chunk is accepted
    /// only when the caller gets `Ok`); others run in their own task.
    pub(crate) fn in_caller(&self) -> bool {
        matches!(
            self.kind,
            WriteKind::ChunkRow { .. } | WriteKind::Overflow { .. } | WriteKind::Direct
        )
    }
}

/// The next step of a chunk.
#[derive(Debug)]
pub(crate) enum ChunkStep {
    /// The chunk is accepted.
    Done,
    /// A write of this key is in flight: call again when it ends.
    Wait,
    /// The stream needs the caller's template prepared (outside the lock): call again with it.
    NeedTemplate,
    /// Perform this write, then call again (a part to make room in the buffer, or an expired
    /// stream to make room for a new one).
    Before(Write),
    /// Perform this write: its result is the call's (a chunk row or an overflow row).
    Last(Write),
    /// Refused: the buffers are full or the chunk is too large.
    Reject(&'static str, u64),
    Fail(StorageError),
}

/// The next step of ending a stream.
#[derive(Debug)]
pub(crate) enum FinishStep {
    Wait,
    Write(Write),
    /// Nothing is buffered for the key (and no message to store as it is).
    Nothing,
    /// Everything the stream accepted is in stored parts: the last part's receipt.
    StoredInParts(StoreReceipt),
    /// The completion template failed its check and there is content to write with it.
    BadTemplate,
    Fail(StorageError),
}

/// How a stream ends.
#[derive(Clone, Copy)]
pub(crate) enum End<'t> {
    /// `on_stream_complete`; `valid` is the outcome of the template's check.
    Complete {
        template: &'t ChatAppMessage,
        valid: bool,
    },
    /// Stored as interrupted.
    Interrupt(InterruptReason),
}

/// The whole state of a stream store.
#[derive(Debug)]
pub(crate) struct Machine {
    config: StreamConfig,
    streams: HashMap<String, Stream>,
    overflows: HashMap<String, Overflow>,
    /// Bytes of every stream's content (in flight included) and of chunk rows in flight.
    bytes: usize,
    /// Chunks of every stream's content, in flight included.
    chunks: u64,
    in_flight: usize,
    closed: bool,
    /// The counters of [`StreamMetrics`] (its gauges are filled in by [`Machine::metrics`]).
    counters: StreamMetrics,
}

impl Machine {
    pub(crate) fn new(config: StreamConfig) -> Self {
        Self {
            config,
            streams: HashMap::new(),
            overflows: HashMap::new(),
            bytes: 0,
            chunks: 0,
            in_flight: 0,
            closed: false,
            counters: StreamMetrics::default(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Streams still buffered.
    pub(crate) fn buffered(&self) -> usize {
        self.streams.len()
    }

    fn write(&mut self, key: &str, msg: ChatAppMessage, kind: WriteKind) -> Write {
        self.in_flight += 1;
        let (key, msg) = (key.to_owned(), Box::new(msg));
        Write { key, msg, kind }
    }

    /// Input: `chunk` for stream `key`. `has_template`: the caller gave a template, which
    /// `prepared` holds once [`ChunkStep::NeedTemplate`] was answered.
    pub(crate) fn chunk(
        &mut self,
        key: &str,
        chunk: &str,
        has_template: bool,
        prepared: &mut Option<Arc<ChatAppMessage>>,
        may_evict: bool,
        now: Instant,
    ) -> ChunkStep {
        let cfg = &self.config;
        if self.closed {
            return ChunkStep::Fail(StorageError::Closed);
        }
        if chunk.len() > cfg.max_buffer_bytes {
            self.counters.rejected += 1;
            return ChunkStep::Reject("max_buffer_bytes", cfg.max_buffer_bytes as u64);
        }
        let row = cfg.storage_policy == StoragePolicy::AllChunks && !chunk.is_empty();
        let max_buffer_bytes = cfg.max_buffer_bytes;
        if let Some(s) = self.streams.get_mut(key) {
            if s.busy {
                return ChunkStep::Wait;
            }
            // A stream is alive while its caller sends chunks, accepted or not: a chunk whose
            // write failed is retried into the same stream, not into a new one after expiry.
            s.last_update = now;
            if has_template && s.template.is_none() {
                match prepared.take() {
                    Some(t) => s.template = Some(t),
                    None => return ChunkStep::NeedTemplate,
                }
            }
            if !s.content.is_empty()
                && (s.pin != Pin::Free || s.content.len() + chunk.len() > max_buffer_bytes)
            {
                s.busy = true;
                let content = mem::take(&mut s.content);
                let msg =
                    s.rows(key)
                        .part(s.parts.saturating_add(1), s.part_id(), content, s.chunks);
                return ChunkStep::Before(self.write(key, msg, WriteKind::Part));
            }
            if row {
                s.busy = true;
                let msg = s.rows(key).chunk(s.numbered + 1, chunk);
                self.bytes += chunk.len();
                return ChunkStep::Last(self.write(
                    key,
                    msg,
                    WriteKind::ChunkRow { created: false },
                ));
            }
            append(s, &mut self.bytes, &mut self.chunks, chunk, now);
            self.counters.chunks_accepted += 1;
            return ChunkStep::Done;
        }
        if has_template && prepared.is_none() {
            return ChunkStep::NeedTemplate;
        }
        if let Some(o) = self.overflows.get_mut(key) {
            if o.busy {
                return ChunkStep::Wait;
            }
            // An empty chunk neither retries the overflow row nor starts a buffer.
            if chunk.is_empty() {
                self.counters.chunks_accepted += 1;
                return ChunkStep::Done;
            }
            let fresh = now.saturating_duration_since(o.since) <= self.config.timeout;
            if fresh && o.row == record::overflow_id(&o.stream_id, key, prepared.as_deref(), chunk)
            {
                // The retry of this chunk: the same row, whatever the capacity now.
                o.busy = true;
                o.since = now;
                tracing::info!(
                    stream_key = %key,
                    id = %o.row,
                    chunk_bytes = chunk.len(),
                    "retried chunk: writing its overflow row again under the same id"
                );
                let rows = Rows {
                    key,
                    stream_id: o.stream_id,
                    template: prepared.as_deref(),
                };
                let msg = rows.overflow(&o.row, chunk, o.limit);
                return ChunkStep::Last(self.write(
                    key,
                    msg,
                    WriteKind::Overflow { created: false },
                ));
            }
            // The key moved on (another chunk or template), or the entry is stale.
            self.overflows.remove(key);
        }
        self.start(key, chunk, prepared, may_evict, now)
    }

    /// [`chunk`](Self::chunk) for a key without a stream: the only place capacity is checked.
    fn start(
        &mut self,
        key: &str,
        chunk: &str,
        prepared: &mut Option<Arc<ChatAppMessage>>,
        may_evict: bool,
        now: Instant,
    ) -> ChunkStep {
        let (max_buffers, max_total) = (self.config.max_buffers, self.config.max_total_bytes);
        let policy = self.config.overflow;
        loop {
            let full = if self.streams.len() >= max_buffers {
                Some(("max_buffers", max_buffers as u64))
            } else if self.bytes + chunk.len() > max_total {
                Some(("max_total_bytes", max_total as u64))
            } else {
                None
            };
            let Some((limit, value)) = full else { break };
            if may_evict && let Some(victim) = self.oldest_expired(now) {
                match self.take(&victim, InterruptReason::Expired) {
                    Some(write) => return ChunkStep::Before(write),
                    // The victim held no content and was forgotten: look again.
                    None => continue,
                }
            }
            return match policy {
                OverflowPolicy::Reject => {
                    self.counters.rejected += 1;
                    ChunkStep::Reject(limit, value)
                }
                OverflowPolicy::DirectStore if chunk.is_empty() => {
                    self.counters.chunks_accepted += 1;
                    ChunkStep::Done
                }
                OverflowPolicy::DirectStore => {
                    tracing::warn!(
                        stream_key = %key,
                        limit,
                        limit_value = value,
                        policy = OverflowPolicy::DirectStore.as_str(),
                        chunk_bytes = chunk.len(),
                        "stream buffers full: storing the chunk directly as an overflow row"
                    );
                    self.overflow(key, chunk, prepared.as_deref(), limit, now)
                }
            };
        }
        let mut s = Stream {
            id: Uuid::now_v7(),
            template: prepared.take(),
            content: String::new(),
            chunks: 0,
            numbered: 0,
            parts: 0,
            pin: Pin::Free,
            last_part: None,
            last_update: now,
            busy: false,
        };
        if self.config.storage_policy == StoragePolicy::AllChunks && !chunk.is_empty() {
            s.busy = true;
            let msg = s.rows(key).chunk(1, chunk);
            self.bytes += chunk.len();
            self.streams.insert(key.to_owned(), s);
            return ChunkStep::Last(self.write(key, msg, WriteKind::ChunkRow { created: true }));
        }
        append(&mut s, &mut self.bytes, &mut self.chunks, chunk, now);
        self.counters.chunks_accepted += 1;
        self.streams.insert(key.to_owned(), s);
        ChunkStep::Done
    }

    /// A new overflow entry for `key` and the write of its row. Beyond `max_buffers`
    /// entries, the oldest idle one is forgotten (with a warning).
    fn overflow(
        &mut self,
        key: &str,
        chunk: &str,
        template: Option<&ChatAppMessage>,
        limit: &'static str,
        now: Instant,
    ) -> ChunkStep {
        if self.overflows.len() >= self.config.max_buffers {
            let oldest = self
                .overflows
                .iter()
                .filter(|(_, o)| !o.busy)
                .min_by_key(|(_, o)| o.since)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.overflows.remove(&oldest);
                tracing::warn!(
                    stream_key = %oldest,
                    "forgetting a failed overflow row (more than max_buffers remembered): a \
                     retry of its chunk is stored as a new row"
                );
            }
        }
        let stream_id = Uuid::now_v7();
        let row = record::overflow_id(&stream_id, key, template, chunk);
        let msg = Rows {
            key,
            stream_id,
            template,
        }
        .overflow(&row, chunk, limit);
        let o = Overflow {
            stream_id,
            row,
            limit,
            since: now,
            busy: true,
        };
        self.overflows.insert(key.to_owned(), o);
        ChunkStep::Last(self.write(key, msg, WriteKind::Overflow { created: true }))
    }

    /// Input: end stream `key` as `end`.
    pub(crate) fn finish(&mut self, key: &str, end: End<'_>) -> FinishStep {
        if self.closed {
            return FinishStep::Fail(StorageError::Closed);
        }
        if let Some(o) = self.overflows.get(key) {
            if o.busy {
                return FinishStep::Wait;
            }
            // The stream ends: a later chunk equal to the overflow chunk is a new one.
            self.overflows.remove(key);
        }
        let Some(s) = self.streams.get_mut(key) else {
            return self.direct(key, end);
        };
        if s.busy {
            return FinishStep::Wait;
        }
        if s.content.is_empty() {
            // Nothing since the start or the last stored part: never an empty row.
            let last_part = s.last_part.take();
            self.forget(key);
            return match last_part {
                Some(part) if part.outcome == StoreOutcome::Filtered => {
                    FinishStep::StoredInParts(part)
                }
                Some(part) => FinishStep::StoredInParts(StoreReceipt::already_stored(part.id)),
                None => self.direct(key, end),
            };
        }
        let write = match end {
            End::Complete { valid: false, .. } => return FinishStep::BadTemplate,
            End::Complete { template, .. } => self.last(key, Some(template), None),
            End::Interrupt(reason) => self.last(key, None, Some(reason)),
        };
        write.map_or(FinishStep::Nothing, FinishStep::Write)
    }

    /// Nothing buffered: a completion template with content is stored as it is.
    fn direct(&mut self, key: &str, end: End<'_>) -> FinishStep {
        match end {
            End::Complete { template, .. } if !template.content.is_empty() => {
                let msg = record::live_message(template).into_owned();
                FinishStep::Write(self.write(key, msg, WriteKind::Direct))
            }
            _ => FinishStep::Nothing,
        }
    }

    /// The write of idle stream `key`'s content as its last row. The row's id is the
    /// pinned one, else the caller's, else part `N`'s derived id.
    fn last(
        &mut self,
        key: &str,
        caller: Option<&ChatAppMessage>,
        reason: Option<InterruptReason>,
    ) -> Option<Write> {
        let s = self.streams.get_mut(key)?;
        s.busy = true;
        let caller_id = caller.map(|t| t.id.as_str()).filter(|id| !id.is_empty());
        let (id, caller_row) = match (&s.pin, caller_id) {
            (Pin::Caller(id), _) => (id.clone(), Some(id.clone())),
            (Pin::Free, Some(id)) => (id.to_owned(), Some(id.to_owned())),
            _ => (s.part_id(), None),
        };
        if let Some(theirs) = caller_id.filter(|c| *c != id) {
            tracing::warn!(
                stream_key = %key,
                template_id = %theirs,
                id = %id,
                "an earlier write of this stream's content may have landed under another id: \
                 the completion is stored under that id, so that it is stored once"
            );
        }
        let part = (s.parts > 0).then(|| s.parts.saturating_add(1));
        let content = mem::take(&mut s.content);
        let msg = s
            .rows(key)
            .last(caller, id, content, s.chunks, part, reason);
        Some(self.write(
            key,
            msg,
            WriteKind::Last {
                reason,
                caller: caller_row,
            },
        ))
    }

    /// Takes idle stream `key` for an interrupted write; one without content is forgotten.
    fn take(&mut self, key: &str, reason: InterruptReason) -> Option<Write> {
        let s = self.streams.get(key)?;
        if s.busy {
            return None;
        }
        if s.content.is_empty() {
            self.forget(key);
            return None;
        }
        self.last(key, None, Some(reason))
    }

    fn forget(&mut self, key: &str) {
        if let Some(s) = self.streams.remove(key) {
            self.bytes = self.bytes.saturating_sub(s.content.len());
            self.chunks = self.chunks.saturating_sub(s.chunks);
        }
    }

    fn oldest_expired(&self, now: Instant) -> Option<String> {
        self.streams
            .iter()
            .filter(|(_, s)| {
                !s.busy && now.saturating_duration_since(s.last_update) > self.config.timeout
            })
            .min_by_key(|(_, s)| s.last_update)
            .map(|(k, _)| k.clone())
    }

    /// Input: expiry at `now`. The writes of every idle stream older than `timeout`; stale
    /// overflow entries are forgotten.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Write> {
        let timeout = self.config.timeout;
        self.overflows
            .retain(|_, o| o.busy || now.saturating_duration_since(o.since) <= timeout);
        let old = |s: &Stream| now.saturating_duration_since(s.last_update) > timeout;
        self.take_where(old, InterruptReason::Expired)
    }

    /// Input: close. Later inputs fail with `Closed`; returns true the first time.
    pub(crate) fn close(&mut self) -> bool {
        self.overflows.retain(|_, o| o.busy);
        !mem::replace(&mut self.closed, true)
    }

    /// The writes storing every idle stream as interrupted (`closed`).
    pub(crate) fn take_all(&mut self) -> Vec<Write> {
        self.take_where(|_| true, InterruptReason::Closed)
    }

    fn take_where(
        &mut self,
        pick: impl Fn(&Stream) -> bool,
        reason: InterruptReason,
    ) -> Vec<Write> {
        let keys: Vec<String> = self
            .streams
            .iter()
            .filter(|(_, s)| pick(s))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.take(k, reason)).collect()
    }

    /// Input: the result of `write`; returns the call's result. `AlreadyStored` under a caller
    /// id that is not pinned is another message's row: `InvalidMessage` on `id`.
    pub(crate) fn settle(
        &mut self,
        write: Write,
        result: Result<StoreReceipt>,
    ) -> Result<StoreReceipt> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Write { key, msg, kind } = write;
        let caller_id = match &kind {
            WriteKind::Last { caller, .. } => caller.as_ref(),
            WriteKind::Direct => Some(&msg.id).filter(|id| !id.is_empty()),
            _ => None,
        };
        let pinned = |id: &String| {
            let s = self.streams.get(&key);
            s.is_some_and(|s| matches!(&s.pin, Pin::Caller(p) if p == id))
        };
        let result = match result {
            Ok(r)
                if r.outcome == StoreOutcome::AlreadyStored
                    && caller_id.is_some_and(|id| !pinned(id)) =>
            {
                Err(StorageError::invalid_message(
                    "id",
                    format!(
                        "{:?} is already stored; a stream's message needs a new id (nothing was stored)",
                        r.id
                    ),
                ))
            }
            other => other,
        };
        let filtered = matches!(&result, Ok(r) if r.outcome == StoreOutcome::Filtered);
        match &result {
            Err(e) => {
                self.counters.write_failures += 1;
                tracing::warn!(stream_key = %key, error = %e, "stream write failed; the buffered content is kept");
            }
            Ok(_) if filtered => {
                self.counters.filtered += 1;
                tracing::warn!(
                    stream_key = %key,
                    message_type = %msg.message_type,
                    stream_status = record::status_of(&msg),
                    bytes = msg.content.len(),
                    "stream row declined by the storage strategy (Filtered): its content is not stored"
                );
            }
            Ok(_) => {}
        }
        let stored = result.as_ref().ok().filter(|_| !filtered);
        match kind {
            WriteKind::Direct => self.counters.completed += u64::from(stored.is_some()),
            WriteKind::Overflow { created } => {
                self.settle_overflow(&key, &msg.id, created, &result, filtered);
            }
            WriteKind::ChunkRow { created } => {
                self.settle_chunk_row(&key, &msg.content, created, &result, filtered);
            }
            kind => self.settle_content(&key, msg.content, kind, &result, filtered),
        }
        result
    }

    fn settle_overflow(
        &mut self,
        key: &str,
        id: &str,
        created: bool,
        result: &Result<StoreReceipt>,
        filtered: bool,
    ) {
        let Some(o) = self
            .overflows
            .get_mut(key)
            .filter(|o| o.row.to_string() == id)
        else {
            // Forgotten meanwhile (the key moved on, the store closed).
            return self.count_overflow(result, filtered);
        };
        o.busy = false;
        match result {
            Err(e) if !created || !settled_for_good(e) => {}
            // Stored, or it did not land and will not be retried.
            _ => drop(self.overflows.remove(key)),
        }
        self.count_overflow(result, filtered);
    }

    fn count_overflow(&mut self, result: &Result<StoreReceipt>, filtered: bool) {
        if result.is_ok() {
            self.counters.chunks_accepted += 1;
            self.counters.overflowed += u64::from(!filtered);
        }
    }

    fn settle_chunk_row(
        &mut self,
        key: &str,
        chunk: &str,
        created: bool,
        result: &Result<StoreReceipt>,
        filtered: bool,
    ) {
        self.bytes = self.bytes.saturating_sub(chunk.len());
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        s.busy = false;
        match result {
            Ok(_) => {
                append(s, &mut self.bytes, &mut self.chunks, chunk, Instant::now());
                self.counters.chunks_accepted += 1;
                self.counters.chunk_rows += u64::from(!filtered);
            }
            // A stream this chunk started, whose row did not land and will not be retried.
            Err(e) if created && settled_for_good(e) => drop(self.streams.remove(key)),
            // Kept: the retry reuses its id and position, hence the row's id.
            Err(_) => {}
        }
    }

    /// A part or last row: on success the part is stored (the stream ends after its last
    /// row); on failure the content goes back, pinned to the id it was written under.
    fn settle_content(
        &mut self,
        key: &str,
        content: String,
        kind: WriteKind,
        result: &Result<StoreReceipt>,
        filtered: bool,
    ) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        s.busy = false;
        let receipt = match result {
            Ok(receipt) => receipt,
            Err(e) => {
                s.content = content;
                s.pin = match (mem::replace(&mut s.pin, Pin::Free), kind) {
                    (
                        Pin::Free,
                        WriteKind::Last {
                            caller: Some(id), ..
                        },
                    ) if e.may_have_landed() => Pin::Caller(id),
                    (
                        Pin::Free,
                        WriteKind::Last {
                            caller: Some(_), ..
                        },
                    ) => Pin::Free,
                    (Pin::Free, _) => Pin::Own,
                    (pin, _) => pin,
                };
                return;
            }
        };
        self.bytes = self.bytes.saturating_sub(content.len());
        self.chunks = self.chunks.saturating_sub(s.chunks);
        s.chunks = 0;
        s.pin = Pin::Free;
        s.parts = s.parts.saturating_add(1);
        s.last_part = Some(receipt.clone());
        let c = &mut self.counters;
        match kind {
            _ if filtered => {}
            WriteKind::Last {
                reason: Some(reason),
                ..
            } => {
                c.interrupted += 1;
                c.expired += u64::from(reason == InterruptReason::Expired);
            }
            WriteKind::Last { .. } => c.completed += 1,
            _ => c.partial += 1,
        }
        if matches!(kind, WriteKind::Last { .. }) {
            self.streams.remove(key);
        }
    }

    /// A snapshot for [`StreamMetrics`].
    pub(crate) fn metrics(&self) -> StreamMetrics {
        let c = &self.counters;
        StreamMetrics {
            active_buffers: self.streams.len() as u64,
            buffered_bytes: self.bytes as u64,
            buffered_chunks: self.chunks,
            in_flight_writes: self.in_flight as u64,
            flushed: c.completed + c.interrupted + c.partial,
            closed: self.closed,
            ..c.clone()
        }
    }
}

/// True when a failed write neither may have landed nor is worth repeating: the entry it
/// created (a stream, an overflow entry) can be forgotten. A transient error keeps it for the
/// caller's retry, which then continues it.
fn settled_for_good(e: &StorageError) -> bool {
    !e.may_have_landed() && !e.is_transient()
}

fn append(s: &mut Stream, bytes: &mut usize, chunks: &mut u64, chunk: &str, now: Instant) {
    s.content.push_str(chunk);
    s.chunks += 1;
    s.numbered += u64::from(!chunk.is_empty());
    s.last_update = now;
    *bytes += chunk.len();
    *chunks += 1;
}
