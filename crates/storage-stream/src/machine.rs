//! The stream store's state machine: every buffer, overflow entry and counter, and every
//! decision about them. Synchronous and free of I/O. Inputs: a chunk, a completion, an abort,
//! an expiry, a close, and the result of a write ([`Machine::settle`]); outputs: the
//! [`Write`]s to perform, which the [`runner`](crate::runner) performs outside the lock.
//!
//! Every row has an id derived from its stream ([`crate::record`]), so writing it again — after
//! a lost acknowledgement, a cancelled call, a transient then a permanent error — is answered
//! `AlreadyStored`, never a second row. What the machine keeps is which content a part id may
//! already hold: once a write of part `N` was attempted, its content is pinned ([`Pin`]) until
//! a write of it succeeds; a chunk arriving meanwhile first stores it as a part.

use std::collections::HashMap;
use std::mem;
use std::sync::Arc;

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreOutcome, StoreReceipt};
use tokio::time::Instant;
use uuid::Uuid;

use crate::record::{self, InterruptReason, Rows};
use crate::{OverflowPolicy, StoragePolicy, StreamConfig, StreamMetrics};

/// Under which id the current part's content may already be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pin {
    /// No write of it was attempted: chunks may be appended.
    Free,
    /// A write under the part's derived id failed (in any way): content and id are fixed.
    Own,
    /// A completion under this caller id failed and may have landed
    /// ([`StorageError::may_have_landed`]): content and id (the caller's) are fixed.
    Caller(String),
}

/// One stream: its identity and its current part.
#[derive(Debug)]
struct Stream {
    /// `stream_id` of every row (UUIDv7, minted by the first chunk).
    id: Uuid,
    /// Session fields captured from the first chunk that carried a template.
    template: Option<Arc<ChatAppMessage>>,
    /// The current part (part `parts + 1`): the chunks accepted since the last stored part.
    /// Held by the write while one is in flight.
    content: String,
    /// Chunks in `content`, empty ones included.
    chunks: u64,
    /// Non-empty chunks accepted so far: the last chunk row's `stream_seq`.
    numbered: u64,
    parts: u64,
    pin: Pin,
    /// A caller's id names one of the stored parts (its pin): later rows take derived ids, so
    /// that new content is never answered by that part's `AlreadyStored`.
    spent: bool,
    /// The last stored part's receipt: the answer when the stream ends with nothing after it.
    last_part: Option<StoreReceipt>,
    /// The last call for the key (a chunk, a completion or an abort, done or not): a failed
    /// call's prompt retry finds the same stream.
    last_update: Instant,
    /// A write of this key is in flight: its calls wait, expiry and close skip it.
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

/// A chunk stored as its own row because no buffer could be started (`direct_store`). Kept
/// while its write runs and after it failed, so that the caller's retry of the same chunk (same
/// key and template) writes the same row, even when a buffer has become free meanwhile.
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
    /// The current part as the stream's last row: complete, or interrupted with `reason`.
    /// `caller`: the row's id is this caller id rather than the derived one.
    Last {
        reason: Option<InterruptReason>,
        caller: Option<String>,
    },
    /// The current part as a `partial` row; the stream goes on.
    Part,
    /// A chunk row (`all_chunks`): the chunk joins the stream once stored. `created`: the
    /// chunk started the stream.
    ChunkRow { created: bool },
    /// An overflow row; `created`: this call created the overflow entry.
    Overflow { created: bool },
    /// A completion with nothing buffered: the caller's message as it is.
    Direct,
}

/// One store write, handed back to [`Machine::settle`] with its result; in flight until then.
#[derive(Debug)]
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) msg: Box<ChatAppMessage>,
    pub(crate) kind: WriteKind,
}

/// The next step of a chunk.
#[derive(Debug)]
pub(crate) enum ChunkStep {
    /// Accepted.
    Done,
    /// A write of this key is in flight: call again when it settles.
    Wait,
    /// Prepare the caller's template (outside the lock) and call again with it.
    NeedTemplate,
    /// Perform this write (a part, or an expired stream making room), then call again.
    Before(Write),
    /// Perform this write (a chunk row or an overflow row): its result is the call's.
    Last(Write),
    Fail(StorageError),
}

/// The next step of ending a stream.
#[derive(Debug)]
pub(crate) enum FinishStep {
    Wait,
    Write(Write),
    /// Nothing buffered for the key (an abort).
    Nothing,
    /// Everything accepted is in stored parts: the last part's receipt.
    StoredInParts(StoreReceipt),
    /// The completion template failed its check and there is content to write with it.
    BadTemplate,
    Fail(StorageError),
}

/// How a stream ends.
#[derive(Clone, Copy)]
pub(crate) enum End<'t> {
    /// `on_stream_complete`; `valid`: the template passed its check.
    Complete {
        template: &'t ChatAppMessage,
        valid: bool,
    },
    Interrupt(InterruptReason),
}

/// The whole state of a stream store.
#[derive(Debug, Default)]
pub(crate) struct Machine {
    config: StreamConfig,
    streams: HashMap<String, Stream>,
    overflows: HashMap<String, Overflow>,
    /// Bytes of every stream's content (in flight included) and of chunk rows in flight.
    bytes: usize,
    /// Chunks of every stream's content, in flight included.
    chunks: u64,
    in_flight: usize,
    pub(crate) closed: bool,
    /// The counters of [`StreamMetrics`]; [`Machine::metrics`] adds the gauges.
    counters: StreamMetrics,
}

impl Machine {
    pub(crate) fn new(config: StreamConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    fn write(&mut self, key: &str, msg: ChatAppMessage, kind: WriteKind) -> Write {
        self.in_flight += 1;
        Write {
            key: key.to_owned(),
            msg: Box::new(msg),
            kind,
        }
    }

    /// Input: `chunk` for stream `key`. `has_template`: the caller gave one; `prepared` holds it
    /// once [`ChunkStep::NeedTemplate`] was answered. `may_evict`: an expired stream may be
    /// stored to make room (false after such a write failed).
    pub(crate) fn chunk(
        &mut self,
        key: &str,
        chunk: &str,
        has_template: bool,
        prepared: &mut Option<Arc<ChatAppMessage>>,
        may_evict: bool,
        now: Instant,
    ) -> ChunkStep {
        let max = self.config.max_buffer_bytes;
        if self.closed {
            return ChunkStep::Fail(StorageError::Closed);
        }
        if chunk.len() > max {
            return self.reject(key, chunk, "max_buffer_bytes", max);
        }
        let row = self.config.storage_policy == StoragePolicy::AllChunks && !chunk.is_empty();
        if let Some(s) = self.streams.get_mut(key) {
            if s.busy {
                return ChunkStep::Wait;
            }
            s.last_update = now;
            if has_template && s.template.is_none() {
                match prepared.take() {
                    Some(t) => s.template = Some(t),
                    None => return ChunkStep::NeedTemplate,
                }
            }
            if !s.content.is_empty() && (s.pin != Pin::Free || s.content.len() + chunk.len() > max)
            {
                s.busy = true;
                let (part, content) = (s.parts.saturating_add(1), mem::take(&mut s.content));
                let msg = s.rows(key).part(part, s.part_id(), content, s.chunks);
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
        let template = prepared.as_deref();
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
            if fresh && o.row == record::overflow_id(&o.stream_id, key, template, chunk) {
                // The retry of this chunk: the same row, whatever the capacity now.
                (o.busy, o.since) = (true, now);
                tracing::info!(stream_key = %key, id = %o.row, "overflow row written again");
                let msg = Rows {
                    key,
                    stream_id: o.stream_id,
                    template,
                }
                .overflow(&o.row, chunk, o.limit);
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
        loop {
            let (limit, value) = if self.streams.len() >= max_buffers {
                ("max_buffers", max_buffers)
            } else if self.bytes + chunk.len() > max_total {
                ("max_total_bytes", max_total)
            } else {
                break;
            };
            if may_evict && let Some(victim) = self.oldest_expired(now) {
                match self.take(&victim, InterruptReason::Expired) {
                    Some(write) => return ChunkStep::Before(write),
                    None => continue, // it held no content and was forgotten
                }
            }
            return match self.config.overflow {
                OverflowPolicy::Reject => self.reject(key, chunk, limit, value),
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
            spent: false,
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

    /// Refuses `chunk`: `limit` (of `value`) reached.
    fn reject(&mut self, key: &str, chunk: &str, limit: &'static str, value: usize) -> ChunkStep {
        self.counters.rejected += 1;
        tracing::warn!(
            stream_key = %key,
            limit,
            limit_value = value,
            policy = OverflowPolicy::Reject.as_str(),
            chunk_bytes = chunk.len(),
            "stream chunk rejected: capacity exceeded"
        );
        let resource = format!("stream buffers ({limit})");
        ChunkStep::Fail(StorageError::capacity_exceeded(resource, value as u64))
    }

    /// A new overflow entry for `key` and its row's write. Beyond `max_buffers` entries the
    /// oldest idle one is forgotten, with a warning.
    fn overflow(
        &mut self,
        key: &str,
        chunk: &str,
        template: Option<&ChatAppMessage>,
        limit: &'static str,
        now: Instant,
    ) -> ChunkStep {
        if self.overflows.len() >= self.config.max_buffers {
            let idle = self.overflows.iter().filter(|(_, o)| !o.busy);
            if let Some(oldest) = idle.min_by_key(|(_, o)| o.since).map(|(k, _)| k.clone()) {
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
        let entry = Overflow {
            stream_id,
            row,
            limit,
            since: now,
            busy: true,
        };
        self.overflows.insert(key.to_owned(), entry);
        ChunkStep::Last(self.write(key, msg, WriteKind::Overflow { created: true }))
    }

    /// Input: end stream `key` as `end`, asked at `now`.
    pub(crate) fn finish(&mut self, key: &str, end: End<'_>, now: Instant) -> FinishStep {
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
        s.last_update = now; // a failed completion's prompt retry still finds the stream
        if s.content.is_empty() {
            // Nothing since the start or the last stored part: never an empty row.
            let last_part = s.last_part.take();
            self.forget(key);
            return match last_part {
                Some(p) if p.outcome == StoreOutcome::Filtered => FinishStep::StoredInParts(p),
                Some(p) => FinishStep::StoredInParts(StoreReceipt::already_stored(p.id)),
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

    /// Nothing buffered: a completion template with content is stored as it is; one without
    /// content is refused (never an empty row).
    fn direct(&mut self, key: &str, end: End<'_>) -> FinishStep {
        match end {
            End::Complete { template, .. } if !template.content.is_empty() => {
                let msg = record::live_message(template);
                FinishStep::Write(self.write(key, msg, WriteKind::Direct))
            }
            End::Complete { .. } => FinishStep::Fail(StorageError::invalid_message(
                "content",
                format!(
                    "no chunks are buffered for stream key {key:?} and the template has no \
                     content; nothing was stored"
                ),
            )),
            End::Interrupt(_) => FinishStep::Nothing,
        }
    }

    /// The write of idle stream `key`'s current part as its last row, under the pinned id, else
    /// the caller's, else the derived one.
    fn last(
        &mut self,
        key: &str,
        caller: Option<&ChatAppMessage>,
        reason: Option<InterruptReason>,
    ) -> Option<Write> {
        let s = self.streams.get_mut(key)?;
        s.busy = true;
        let theirs = caller.map(|t| t.id.as_str()).filter(|id| !id.is_empty());
        let (id, caller_id) = match (&s.pin, theirs) {
            (Pin::Caller(id), _) => (id.clone(), Some(id.clone())),
            (Pin::Free, Some(id)) if !s.spent => (id.to_owned(), Some(id.to_owned())),
            _ => (s.part_id(), None),
        };
        if let Some(theirs) = theirs.filter(|t| *t != id) {
            tracing::warn!(
                stream_key = %key,
                template_id = %theirs,
                id = %id,
                "the completion is stored under the stream's id, not the template's: its \
                 content may already be stored under that id, or the template's names a part"
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
                caller: caller_id,
            },
        ))
    }

    /// Takes idle stream `key` for an interrupted write; one without content is forgotten.
    fn take(&mut self, key: &str, reason: InterruptReason) -> Option<Write> {
        let s = self.streams.get(key).filter(|s| !s.busy)?;
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
        let timeout = self.config.timeout;
        let idle = self.streams.iter().filter(|(_, s)| !s.busy);
        idle.filter(|(_, s)| now.saturating_duration_since(s.last_update) > timeout)
            .min_by_key(|(_, s)| s.last_update)
            .map(|(k, _)| k.clone())
    }

    /// Input: expiry at `now`: the writes of every idle stream older than `timeout`; stale
    /// overflow entries are forgotten.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Write> {
        let timeout = self.config.timeout;
        self.overflows
            .retain(|_, o| o.busy || now.saturating_duration_since(o.since) <= timeout);
        self.take_where(
            |s| now.saturating_duration_since(s.last_update) > timeout,
            InterruptReason::Expired,
        )
    }

    /// Input: close. Later inputs fail with `Closed`; true the first time.
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
        let picked = self.streams.iter().filter(|(_, s)| pick(s));
        let keys: Vec<String> = picked.map(|(k, _)| k.clone()).collect();
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
                let reason = format!(
                    "{:?} is already stored; a stream's message needs a new id (nothing stored)",
                    r.id
                );
                Err(StorageError::invalid_message("id", reason))
            }
            other => other,
        };
        let filtered = matches!(&result, Ok(r) if r.outcome == StoreOutcome::Filtered);
        match &result {
            Err(e) => {
                self.counters.write_failures += 1;
                tracing::warn!(stream_key = %key, error = %e, "stream write failed; content kept");
            }
            Ok(_) if filtered => {
                self.counters.filtered += 1;
                tracing::warn!(
                    stream_key = %key,
                    message_type = %msg.message_type,
                    stream_status = record::status_of(&msg),
                    bytes = msg.content.len(),
                    "stream row declined by the storage strategy (Filtered): content not stored"
                );
            }
            Ok(_) => {}
        }
        // A failed write that created an entry (a stream, an overflow entry), did not land and
        // will not be retried (not transient) leaves nothing to continue: the entry goes.
        let for_good = result
            .as_ref()
            .err()
            .is_some_and(|e| !e.may_have_landed() && !e.is_transient());
        let (ok, counted) = (result.is_ok(), u64::from(result.is_ok() && !filtered));
        let c = &mut self.counters;
        match kind {
            WriteKind::Direct => c.completed += counted,
            WriteKind::Overflow { created } => {
                c.chunks_accepted += u64::from(ok);
                c.overflowed += counted;
                let ours = self
                    .overflows
                    .get_mut(&key)
                    .filter(|o| o.row.to_string() == msg.id);
                if let Some(o) = ours {
                    o.busy = false;
                    if ok || (created && for_good) {
                        self.overflows.remove(&key);
                    }
                }
            }
            WriteKind::ChunkRow { created } => {
                self.bytes = self.bytes.saturating_sub(msg.content.len());
                let Some(s) = self.streams.get_mut(&key) else {
                    return result;
                };
                s.busy = false;
                if ok {
                    append(
                        s,
                        &mut self.bytes,
                        &mut self.chunks,
                        &msg.content,
                        Instant::now(),
                    );
                    (c.chunks_accepted, c.chunk_rows) =
                        (c.chunks_accepted + 1, c.chunk_rows + counted);
                } else if created && for_good {
                    self.streams.remove(&key);
                }
                // Otherwise kept, failed: the retry reuses its id and position, hence the row's id.
            }
            kind => self.settle_part(&key, msg.content, kind, &result, filtered),
        }
        result
    }

    /// A part or last row: stored, the part is done (the stream too, after its last row);
    /// failed, the content goes back, pinned to the id it was written under.
    fn settle_part(
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
        self.chunks = self.chunks.saturating_sub(mem::take(&mut s.chunks));
        s.spent |= matches!(s.pin, Pin::Caller(_));
        (s.pin, s.parts, s.last_part) =
            (Pin::Free, s.parts.saturating_add(1), Some(receipt.clone()));
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

fn append(s: &mut Stream, bytes: &mut usize, chunks: &mut u64, chunk: &str, now: Instant) {
    s.content.push_str(chunk);
    s.chunks += 1;
    s.numbered += u64::from(!chunk.is_empty());
    s.last_update = now;
    *bytes += chunk.len();
    *chunks += 1;
}
