//! [`StreamMessageStore`]: buffers LLM token chunks per key and stores each stream as one
//! message, without ever losing an accepted chunk.

use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use hotplex_storage_core::{
    ChatAppMessage, Result, StorageError, StoreOutcome, StoreReceipt, WriteOnlyStore,
};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::buffer::{Counters, State, Stream};
use crate::job::{InFlight, Job, JobKind, OverflowWrite, Pending};
use crate::record::{self, InterruptReason, StreamStatus};
use crate::{OverflowPolicy, StoragePolicy, StreamConfig, StreamMetrics};

/// State shared by the store, its write tasks and its flusher.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn WriteOnlyStore>,
    config: StreamConfig,
    state: Mutex<State>,
    /// Notified whenever an entry stops being busy, a write ends, or the store closes.
    pub(crate) changed: Notify,
}

impl Shared {
    /// The buffer map. Never held across an `.await` or a store call. A poisoned lock is
    /// recovered: every update of the state is completed before anything can panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A buffered stream's next step, decided under the lock and carried out after it.
enum ChunkStep<'a> {
    /// The chunk is in the buffer.
    Done,
    /// A write of this key is in flight; try again when it ends.
    Wait(Notified<'a>),
    /// The stream needs the caller's template: prepare it outside the lock, then retry.
    PrepareTemplate,
    /// The buffer is full: store it as a part, then retry.
    Part(Box<Job>),
    /// The buffers are full: store this expired stream to make room, then retry.
    Evict(Box<Job>),
    /// `all_chunks`: store the chunk's row; the chunk is accepted when it succeeds.
    Row(Box<Job>),
    /// No buffer can be started (or the chunk retries an overflow row that may have landed):
    /// store the chunk directly.
    Overflow(Box<OverflowWrite>),
    /// No buffer can be started, or the chunk is too large.
    Reject(&'static str, u64),
    /// The call fails.
    Fail(StorageError),
}

/// What ending a stream takes.
enum FinishStep<'a> {
    Wait(Notified<'a>),
    Write(Box<Job>),
    /// Nothing buffered for the key. Carries a write slot when the caller's message must be
    /// stored as it is.
    Nothing(Option<InFlight>),
    /// Everything the stream accepted is already stored in parts and nothing followed the
    /// last one: no row to write; the receipt names the last part (`AlreadyStored`).
    StoredInParts(StoreReceipt),
    /// The caller's template failed its check and there is a stream to write with it.
    BadTemplate,
    Fail(StorageError),
}

/// The template given to end a stream, if any.
#[derive(Clone, Copy)]
enum Caller<'t> {
    None,
    /// `valid` is the outcome of [`record::check_completion_template`].
    Template {
        template: &'t ChatAppMessage,
        valid: bool,
    },
}

enum Flusher {
    NotStarted,
    Running(JoinHandle<()>),
    Stopped,
}

/// Buffers the chunks of LLM token streams per key and stores each stream as one message
/// through an inner [`WriteOnlyStore`] (usually a [`RetryStore`](crate::RetryStore)).
///
/// See the [crate documentation](crate) for the guarantees and the API walk-through.
///
/// Needs a Tokio runtime: writes of buffered content run as Tokio tasks (so that cancelling a
/// call never loses content; an `all_chunks` chunk row runs in the caller's task, so that
/// cancelling its call does not accept the chunk), and a background task flushes expired streams every
/// `flush_interval`. It is started by [`new`](Self::new) when called inside a runtime,
/// otherwise by the first chunk. Call [`close`](Self::close) before dropping the store:
/// dropping it with buffered chunks logs an error, and those chunks are lost with the process.
pub struct StreamMessageStore {
    shared: Arc<Shared>,
    flusher: Mutex<Flusher>,
    flusher_started: AtomicBool,
}

impl std::fmt::Debug for StreamMessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamMessageStore")
            .field("config", &self.shared.config)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl StreamMessageStore {
    /// A stream store writing through `store`; fails with `InvalidConfig` when `config` is
    /// invalid. Does no I/O.
    pub fn new(store: Arc<dyn WriteOnlyStore>, config: StreamConfig) -> Result<Self> {
        config.validate()?;
        let this = Self {
            shared: Arc::new(Shared {
                store,
                config,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
            flusher: Mutex::new(Flusher::NotStarted),
            flusher_started: AtomicBool::new(false),
        };
        this.ensure_flusher();
        Ok(this)
    }

    /// The configuration in force.
    pub fn config(&self) -> &StreamConfig {
        &self.shared.config
    }

    /// Accepts `chunk` as the next piece of the stream `key`; the first chunk of a key starts
    /// its stream. The stream keeps the key as `chat_session_id` and no other session field:
    /// prefer [`on_stream_chunk_with`](Self::on_stream_chunk_with).
    ///
    /// `Ok` means the chunk will be persisted exactly once, in order (under `all_chunks`: its
    /// row is already stored). Errors: `Closed` (after [`close`](Self::close), whatever the
    /// input); `InvalidMessage` for an empty, over-long
    /// (> 256 bytes) or NUL-containing key, or a chunk containing NUL; `CapacityExceeded` for a
    /// chunk larger than `max_buffer_bytes`, or when a new stream finds the buffers full under
    /// [`OverflowPolicy::Reject`]; the store's error when a write this chunk needed failed
    /// (the chunk was then not accepted, nothing buffered was lost).
    pub async fn on_stream_chunk(&self, key: &str, chunk: &str) -> Result<()> {
        self.push_chunk(key, chunk, None).await
    }

    /// [`on_stream_chunk`](Self::on_stream_chunk) with the stream's session fields.
    ///
    /// The template (platform, user, bot, channel, thread, engine and provider ids, message
    /// type, metadata …) is captured — without content, id and timestamps — by the chunk that
    /// starts the stream, or by the first chunk that carries one. Every row of the stream is
    /// built from it: parts, chunk rows, overflow rows and interrupted messages, so these are
    /// stored in the right session even when `on_stream_complete` is never called. An empty
    /// `chat_session_id` in the template is replaced by the key. Passing the template with
    /// every chunk costs nothing after the first.
    ///
    /// The template is validated, against [`StreamConfig::limits`], as the largest row the
    /// stream could build from it: with every `stream_*` metadata key at its longest value
    /// (a 256-byte key included). A template that leaves no room for them — e.g. metadata at
    /// the 64 KiB limit — refuses the chunk with `InvalidMessage`, and nothing is accepted.
    pub async fn on_stream_chunk_with(
        &self,
        key: &str,
        chunk: &str,
        template: &ChatAppMessage,
    ) -> Result<()> {
        self.push_chunk(key, chunk, Some(template)).await
    }

    /// Ends the stream `key` and stores it as one message: `template` with `content` = the
    /// chunks merged in order and `metadata.stream_status = "complete"` (plus `stream_id`,
    /// `stream_key`, `stream_chunks`). Empty `chat_session_id` / `message_type` in the template
    /// are filled from the captured template or the key / `final_response`; an empty `id` is
    /// assigned here (a retried completion of unchanged content reuses it, so a lost
    /// acknowledgement never yields two rows).
    ///
    /// - The template is validated first, as the largest row it could become (see
    ///   [`on_stream_chunk_with`](Self::on_stream_chunk_with)); if it fails and a stream is
    ///   buffered, the `InvalidMessage` is returned and the stream kept, untouched.
    /// - `AlreadyStored` counts as stored only for an id that is the stream's own: one it
    ///   generated, or the id of its own earlier write of the same content that failed in a
    ///   way that may have landed (transient error, exhausted retries — a retry after a lost
    ///   acknowledgement; not a permanent error). A template `id` already used by another message
    ///   — e.g. one template with a fixed id reused for two answers — fails with
    ///   `InvalidMessage` on field `id` ("already stored; a stream's message needs a new id")
    ///   and the stream is kept: complete it again with a new or empty id. A caller-supplied
    ///   id must therefore be new; through a `RetryStore`, a lost acknowledgement of the very
    ///   first write under such an id is indistinguishable from a reused id and is refused too.
    ///   A caller's id is never reused for the stream's parts or interrupted rows; after a
    ///   failure under it that may have landed, a retry under the same id accepts
    ///   `AlreadyStored` (see the [crate documentation](crate) for this residual ambiguity).
    /// - The template's id is not used when the stream's content may already be stored under
    ///   the stream's own id (an earlier completion without id, expiry flush or part of this
    ///   content failed in a way that may have landed): the row is written under that id, so
    ///   the content is stored once, and the receipt names it (`AlreadyStored` if the earlier
    ///   write had landed). A warning with both ids is logged. Read the id from the receipt.
    /// - A receipt with outcome `Filtered` means the inner store's strategy (a
    ///   [`StrategyStore`](hotplex_storage_core::StrategyStore)) declined the message type:
    ///   nothing was stored, by that strategy's decision, and the stream is gone. It is
    ///   counted in [`StreamMetrics::filtered`] and logged as a warning.
    /// - When everything the stream accepted is already stored in parts (the last chunk that
    ///   would have followed a part was not accepted), no row is written — never an empty
    ///   one — and the receipt names the last part, with outcome `AlreadyStored`.
    ///
    /// - The stream is taken out of the buffer map under the lock and stored outside it.
    ///   Calls for the same key wait meanwhile; after success a new chunk starts a new stream.
    /// - On failure the buffer is kept unchanged and the error returned: call again (or
    ///   `on_stream_abort`, or let it expire). Nothing is ever stored twice.
    /// - The row is always a live message: the template's `deleted`, `deleted_at`,
    ///   `updated_at` and `seq` are ignored (cleared), as they are for a captured template.
    ///   A template marked `deleted` does not store a soft-deleted answer.
    /// - With no chunks buffered for `key`: a template with content is stored as it is, live
    ///   (the caller sent the whole answer; `AlreadyStored` under a template `id` fails with
    ///   `InvalidMessage` on field `id`, as above); a template without content stores nothing and fails
    ///   with `InvalidMessage` (field `content`) — never an empty row.
    /// - A stream longer than `max_buffer_bytes` was stored in parts while it ran; this
    ///   stores the last part (with `stream_part`).
    pub async fn on_stream_complete(
        &self,
        key: &str,
        template: &ChatAppMessage,
    ) -> Result<StoreReceipt> {
        self.check_open()?;
        record::validate_key(key)?;
        // Checked outside the lock; refused only if there is a stream to write with it.
        let mut bad_template =
            record::check_completion_template(key, template, &self.shared.config.limits).err();
        loop {
            let step = {
                let mut st = self.shared.lock();
                let caller = Caller::Template {
                    template,
                    valid: bad_template.is_none(),
                };
                self.decide_finish(&mut st, key, caller, StreamStatus::Complete, None)
            };
            match step {
                FinishStep::Wait(notified) => notified.await,
                FinishStep::Write(job) => {
                    if !template.id.is_empty() && job.msg.id != template.id {
                        tracing::warn!(
                            stream_key = %key,
                            template_id = %template.id,
                            id = %job.msg.id,
                            "an earlier write of this stream's content may have landed under \
                             the stream's own id: the completion is stored under that id, not \
                             the template's, so that it is stored once"
                        );
                    }
                    return job.start().wait().await;
                }
                FinishStep::Fail(e) => return Err(e),
                FinishStep::Nothing(Some(slot)) => {
                    let msg = record::live_message(template);
                    let mut result = self.shared.store.store_bot_response(&msg).await;
                    if !template.id.is_empty()
                        && matches!(&result, Ok(r) if r.outcome == StoreOutcome::AlreadyStored)
                    {
                        // Never written by this store: another message has the caller's id.
                        result = Err(StorageError::invalid_message(
                            "id",
                            format!(
                                "{:?} is already stored; the message needs a new id (nothing \
                                 was stored)",
                                template.id
                            ),
                        ));
                    }
                    self.count_direct_write(key, &msg, &result, |c| c.completed += 1, false);
                    drop(slot);
                    return result;
                }
                FinishStep::StoredInParts(receipt) => return Ok(receipt),
                FinishStep::BadTemplate => {
                    if let Some(e) = bad_template.take() {
                        return Err(e);
                    }
                }
                FinishStep::Nothing(None) => {
                    return Err(StorageError::invalid_message(
                        "content",
                        format!(
                            "no chunks are buffered for stream key {key:?} and the template \
                             has no content; nothing was stored"
                        ),
                    ));
                }
            }
        }
    }

    /// Ends the stream `key` without completion: its chunks are stored as one message marked
    /// `stream_status = "interrupted"`, `stream_reason = "aborted"`. `Ok(None)` when nothing is
    /// buffered for the key; the last part's receipt (`AlreadyStored`) when everything
    /// accepted is already stored in parts. On failure the buffer is kept and the error
    /// returned. If the store refuses the row as invalid (`InvalidMessage`: its limits are
    /// smaller than [`StreamConfig::limits`]), a minimal row — session, content,
    /// `stream_status`, `stream_reason`, `stream_id` (and `stream_part`) — is stored instead;
    /// the same holds for rows of expired and closed streams.
    pub async fn on_stream_abort(&self, key: &str) -> Result<Option<StoreReceipt>> {
        self.check_open()?;
        record::validate_key(key)?;
        loop {
            let step = {
                let mut st = self.shared.lock();
                self.decide_finish(
                    &mut st,
                    key,
                    Caller::None,
                    StreamStatus::Interrupted,
                    Some(InterruptReason::Aborted),
                )
            };
            match step {
                FinishStep::Wait(notified) => notified.await,
                FinishStep::Write(job) => return job.start().wait().await.map(Some),
                FinishStep::StoredInParts(receipt) => return Ok(Some(receipt)),
                FinishStep::Fail(e) => return Err(e),
                FinishStep::Nothing(_) | FinishStep::BadTemplate => return Ok(None),
            }
        }
    }

    /// Stores every stream whose last chunk is older than `timeout` as interrupted
    /// (`stream_reason = "expired"`) and returns how many were stored (rows the inner store's
    /// strategy declined — `Filtered` — are not: they are counted in
    /// [`StreamMetrics::filtered`]). Streams whose write is
    /// in flight are left for the next run. A failed write keeps its stream; the first error
    /// is returned after every expired stream was tried. `Closed` after `close()`.
    ///
    /// The background flusher calls this every `flush_interval`.
    pub async fn flush_expired(&self) -> Result<usize> {
        flush_expired(&self.shared).await
    }

    /// Counts a write a call made itself (not through a [`Job`]) and logs a filtered one.
    /// `stored` counts a row that was stored; `chunk` says the write carried an accepted chunk.
    fn count_direct_write(
        &self,
        key: &str,
        msg: &ChatAppMessage,
        result: &Result<StoreReceipt>,
        stored: fn(&mut Counters),
        chunk: bool,
    ) {
        let filtered = matches!(result, Ok(r) if r.outcome == StoreOutcome::Filtered);
        if filtered {
            tracing::warn!(
                stream_key = %key,
                message_type = %msg.message_type,
                stream_status = record::status_of(msg),
                bytes = msg.content.len(),
                "stream row declined by the storage strategy (Filtered): its content is not \
                 stored"
            );
        }
        let mut st = self.shared.lock();
        match result {
            Ok(_) if filtered => st.counters.filtered += 1,
            Ok(_) => stored(&mut st.counters),
            Err(_) => st.counters.write_failures += 1,
        }
        if chunk && result.is_ok() {
            st.counters.chunks_accepted += 1;
        }
    }

    /// A snapshot of the buffers and counters, taken under the lock (never blocked by a write).
    pub fn metrics(&self) -> StreamMetrics {
        self.shared.lock().metrics()
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// `Closed` once [`close`](Self::close) was called. Checked before the input is looked
    /// at, as the backends do: a closed store answers `Closed`, not `InvalidMessage`. (The
    /// decisions under the lock check again: `close()` may run meanwhile.)
    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(StorageError::Closed);
        }
        Ok(())
    }

    /// Stops accepting (every later call fails with `Closed`), stops the flusher, stores every
    /// buffered stream as interrupted (`stream_reason = "closed"`), waits for every write in
    /// flight — including completions started before — and returns.
    ///
    /// Idempotent: a second call waits for writes and stores what a failed earlier call could
    /// not. Fails with the store's last error when buffered streams could not be stored; they
    /// stay in memory (see [`metrics`](Self::metrics)) for another `close()`.
    ///
    /// The inner store is not closed: this type only holds it as a [`WriteOnlyStore`]; close it
    /// after this returns.
    pub async fn close(&self) -> Result<()> {
        let first = {
            let mut st = self.shared.lock();
            // Nothing can be retried after close.
            st.overflows.clear();
            !mem::replace(&mut st.closed, true)
        };
        self.shared.changed.notify_waiters();
        self.stop_flusher();
        if first {
            tracing::debug!("closing stream store");
        }
        let mut last_error = None;
        loop {
            let jobs = {
                let mut st = self.shared.lock();
                take_streams(&self.shared, &mut st, |_| true, InterruptReason::Closed)
            };
            let spawned = jobs.len();
            let mut stored = 0usize;
            // Start them all before awaiting any: once taken, every job must be running.
            let pending: Vec<Pending> = jobs.into_iter().map(Job::start).collect();
            for p in pending {
                match p.wait().await {
                    Ok(_) => stored += 1,
                    Err(e) => last_error = Some(e),
                }
            }
            self.wait_idle().await;
            let remaining = self.shared.lock().entries.len();
            if remaining == 0 {
                return Ok(());
            }
            if spawned > 0 && stored == 0 {
                let error = last_error.unwrap_or_else(|| {
                    StorageError::query("close stream store", "buffered streams remain")
                });
                tracing::error!(
                    streams = remaining,
                    error = %error,
                    "close could not store every buffered stream; they stay in memory"
                );
                return Err(error);
            }
        }
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.shared.changed.notified();
            if self.shared.lock().in_flight == 0 {
                return;
            }
            notified.await;
        }
    }

    fn ensure_flusher(&self) {
        if self.flusher_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut flusher = self.flusher.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*flusher, Flusher::NotStarted) {
            let weak = Arc::downgrade(&self.shared);
            let interval = self.shared.config.flush_interval;
            *flusher = Flusher::Running(handle.spawn(run_flusher(weak, interval)));
        }
        self.flusher_started.store(true, Ordering::Release);
    }

    fn stop_flusher(&self) {
        let mut flusher = self.flusher.lock().unwrap_or_else(PoisonError::into_inner);
        // Aborting is safe at any await point: the flusher's writes run in their own tasks.
        if let Flusher::Running(handle) = mem::replace(&mut *flusher, Flusher::Stopped) {
            handle.abort();
        }
        self.flusher_started.store(true, Ordering::Release);
    }

    async fn push_chunk(
        &self,
        key: &str,
        chunk: &str,
        template: Option<&ChatAppMessage>,
    ) -> Result<()> {
        self.check_open()?;
        record::validate_key(key)?;
        record::validate_chunk(chunk)?;
        self.ensure_flusher();
        let mut prepared: Option<Arc<ChatAppMessage>> = None;
        let mut may_evict = true;
        loop {
            let step = {
                let mut st = self.shared.lock();
                self.decide_chunk(&mut st, key, chunk, template, &mut prepared, may_evict)
            };
            match step {
                ChunkStep::Done => return Ok(()),
                ChunkStep::Wait(notified) => notified.await,
                ChunkStep::PrepareTemplate => {
                    if let Some(t) = template {
                        let limits = &self.shared.config.limits;
                        prepared = Some(Arc::new(record::prepare_template(key, t, limits)?));
                    }
                }
                ChunkStep::Part(job) => {
                    job.start().wait().await?;
                }
                ChunkStep::Evict(job) => {
                    tracing::warn!(
                        stream_key = %job.key,
                        new_stream_key = %key,
                        bytes = job.msg.content.len(),
                        "stream buffers full: storing the oldest expired stream as interrupted \
                         to make room"
                    );
                    if job.start().wait().await.is_err() {
                        may_evict = false;
                    }
                }
                // In this task, not spawned: if the caller gives up (drops this future), the
                // chunk must not be appended behind its back. See `Job::run_in_caller`.
                ChunkStep::Row(job) => return job.run_in_caller().await.map(|_| ()),
                ChunkStep::Overflow(mut write) => {
                    if let Some(forgotten) = write.forgotten.take() {
                        tracing::warn!(
                            stream_key = %forgotten,
                            "forgetting an overflow row that may have landed (more than \
                             max_buffers remembered): a retry of its chunk would store it again"
                        );
                    }
                    if write.retry {
                        tracing::info!(
                            stream_key = %key,
                            id = %write.identity.id,
                            chunk_bytes = chunk.len(),
                            "retried chunk: writing its overflow row again under the id of the \
                             earlier write, which may have landed"
                        );
                    } else {
                        tracing::warn!(
                            stream_key = %key,
                            limit = write.limit,
                            limit_value = write.limit_value,
                            policy = OverflowPolicy::DirectStore.as_str(),
                            chunk_bytes = chunk.len(),
                            "stream buffers full: storing the chunk directly as an overflow row"
                        );
                    }
                    let msg = record::overflow_row(
                        key,
                        prepared.as_deref(),
                        chunk,
                        write.limit,
                        &write.identity,
                    );
                    // In this task: a cancelled call leaves the record for its retry.
                    let result = self.shared.store.store_bot_response(&msg).await;
                    write.settle(&result);
                    self.count_direct_write(key, &msg, &result, |c| c.overflowed += 1, true);
                    drop(write);
                    return result.map(|_| ());
                }
                ChunkStep::Reject(limit, value) => {
                    tracing::warn!(
                        stream_key = %key,
                        limit,
                        limit_value = value,
                        policy = OverflowPolicy::Reject.as_str(),
                        chunk_bytes = chunk.len(),
                        "stream chunk rejected: capacity exceeded"
                    );
                    return Err(StorageError::capacity_exceeded(
                        format!("stream buffers ({limit})"),
                        value,
                    ));
                }
                ChunkStep::Fail(e) => return Err(e),
            }
        }
    }

    /// The next step for `chunk` of stream `key`. Runs under the lock: no I/O, no await.
    fn decide_chunk<'a>(
        &'a self,
        st: &mut State,
        key: &str,
        chunk: &str,
        template: Option<&ChatAppMessage>,
        prepared: &mut Option<Arc<ChatAppMessage>>,
        may_evict: bool,
    ) -> ChunkStep<'a> {
        let shared = &self.shared;
        let cfg = &shared.config;
        if st.closed {
            return ChunkStep::Fail(StorageError::Closed);
        }
        if chunk.len() > cfg.max_buffer_bytes {
            st.counters.rejected += 1;
            return ChunkStep::Reject("max_buffer_bytes", cfg.max_buffer_bytes as u64);
        }
        let all_chunks = cfg.storage_policy == StoragePolicy::AllChunks && !chunk.is_empty();
        let now = Instant::now();
        if let Some(entry) = st.entries.get_mut(key) {
            if entry.busy {
                return ChunkStep::Wait(shared.changed.notified());
            }
            if let Some(stream) = entry.stream.as_mut() {
                if template.is_some() && stream.template.is_none() {
                    match prepared.take() {
                        Some(t) => stream.template = Some(t),
                        None => return ChunkStep::PrepareTemplate,
                    }
                }
                // Content whose earlier write may have landed (its acknowledgement lost) is
                // written again, as a part under that write's id, before anything is appended:
                // appended to, it would be rewritten under a new id — a duplicate.
                let landed_maybe = stream.pending.as_ref().is_some_and(|p| !p.caller);
                if !stream.content.is_empty()
                    && (landed_maybe || stream.content.len() + chunk.len() > cfg.max_buffer_bytes)
                {
                    let content = mem::take(&mut stream.content);
                    let chunks = mem::replace(&mut stream.chunks, 0);
                    let msg = record::part_row(key, stream, content, chunks);
                    entry.busy = true;
                    return ChunkStep::Part(Box::new(Job::new(
                        shared,
                        st,
                        key,
                        msg,
                        JobKind::Part { chunks },
                    )));
                }
                if all_chunks {
                    let msg = record::chunk_row(key, stream, chunk);
                    entry.busy = true;
                    return ChunkStep::Row(Box::new(Job::new(
                        shared,
                        st,
                        key,
                        msg,
                        JobKind::ChunkRow,
                    )));
                }
                State::append(stream, &mut st.bytes, &mut st.chunks, chunk, now);
                st.counters.chunks_accepted += 1;
                return ChunkStep::Done;
            }
            // An idle entry without a stream cannot exist; drop it and start afresh.
            st.entries.remove(key);
        }
        self.decide_start(st, key, chunk, template.is_some(), prepared, may_evict)
    }

    /// [`decide_chunk`](Self::decide_chunk) for a key without a stream: the only place
    /// capacity is checked.
    fn decide_start<'a>(
        &'a self,
        st: &mut State,
        key: &str,
        chunk: &str,
        has_template: bool,
        prepared: &mut Option<Arc<ChatAppMessage>>,
        may_evict: bool,
    ) -> ChunkStep<'a> {
        let shared = &self.shared;
        let cfg = &shared.config;
        let all_chunks = cfg.storage_policy == StoragePolicy::AllChunks && !chunk.is_empty();
        let now = Instant::now();
        if has_template && prepared.is_none() {
            return ChunkStep::PrepareTemplate;
        }
        if let Some(record) = st.overflows.get(key) {
            if record.in_flight {
                return ChunkStep::Wait(shared.changed.notified());
            }
            // An empty chunk neither retries the overflow row nor moves the key on.
            if !chunk.is_empty() {
                let fresh = now.saturating_duration_since(record.since) <= cfg.timeout;
                let same =
                    fresh && record.fingerprint == st.fingerprint(chunk, prepared.as_deref());
                if same && let Some(write) = OverflowWrite::retry(shared, st, key) {
                    // The retry of a chunk whose overflow row may have landed: written again
                    // as that row, under its id, whatever the capacity now — buffered, it
                    // would be stored a second time.
                    return ChunkStep::Overflow(Box::new(write));
                }
                // The key moved on (another chunk or template), or the record is older than
                // `timeout`.
                st.overflows.remove(key);
            }
        }
        loop {
            let full = if st.entries.len() >= cfg.max_buffers {
                Some(("max_buffers", cfg.max_buffers as u64))
            } else if st.bytes + chunk.len() > cfg.max_total_bytes {
                Some(("max_total_bytes", cfg.max_total_bytes as u64))
            } else {
                None
            };
            let Some((limit, value)) = full else { break };
            if may_evict
                && let Some(victim) = st.oldest_expired(now, cfg.timeout).map(str::to_owned)
            {
                match take_stream(shared, st, &victim, InterruptReason::Expired) {
                    Some(job) => return ChunkStep::Evict(Box::new(job)),
                    // The victim held no content and was forgotten: look again.
                    None => continue,
                }
            }
            return match cfg.overflow {
                OverflowPolicy::Reject => {
                    st.counters.rejected += 1;
                    ChunkStep::Reject(limit, value)
                }
                OverflowPolicy::DirectStore if chunk.is_empty() => {
                    st.counters.chunks_accepted += 1;
                    ChunkStep::Done
                }
                OverflowPolicy::DirectStore => {
                    let fingerprint = st.fingerprint(chunk, prepared.as_deref());
                    ChunkStep::Overflow(Box::new(OverflowWrite::begin(
                        shared,
                        st,
                        key,
                        fingerprint,
                        (limit, value),
                        now,
                        cfg.max_buffers,
                    )))
                }
            };
        }
        let mut stream = Stream::new(prepared.take(), now);
        if all_chunks {
            let msg = record::chunk_row(key, &stream, chunk);
            st.entries.insert(
                key.to_owned(),
                crate::buffer::Entry {
                    stream: Some(stream),
                    busy: true,
                },
            );
            return ChunkStep::Row(Box::new(Job::new(shared, st, key, msg, JobKind::ChunkRow)));
        }
        State::append(&mut stream, &mut st.bytes, &mut st.chunks, chunk, now);
        st.counters.chunks_accepted += 1;
        st.entries.insert(
            key.to_owned(),
            crate::buffer::Entry {
                stream: Some(stream),
                busy: false,
            },
        );
        ChunkStep::Done
    }

    /// The next step to end stream `key`. Runs under the lock: no I/O, no await.
    fn decide_finish<'a>(
        &'a self,
        st: &mut State,
        key: &str,
        caller: Caller<'_>,
        status: StreamStatus,
        reason: Option<InterruptReason>,
    ) -> FinishStep<'a> {
        let shared = &self.shared;
        if st.closed {
            return FinishStep::Fail(StorageError::Closed);
        }
        if let Some(record) = st.overflows.get(key) {
            if record.in_flight {
                return FinishStep::Wait(shared.changed.notified());
            }
            // The stream ends: a later chunk equal to the overflow chunk is a new one.
            st.overflows.remove(key);
        }
        let (caller, valid) = match caller {
            Caller::None => (None, true),
            Caller::Template { template, valid } => (Some(template), valid),
        };
        let nothing = |st: &mut State| {
            let slot = caller
                .filter(|t| !t.content.is_empty())
                .map(|_| InFlight::begin(shared, st));
            FinishStep::Nothing(slot)
        };
        let Some(entry) = st.entries.get_mut(key) else {
            return nothing(st);
        };
        if entry.busy {
            return FinishStep::Wait(shared.changed.notified());
        }
        let Some(stream) = entry.stream.take() else {
            st.entries.remove(key);
            return nothing(st);
        };
        if stream.content.is_empty() {
            // Only empty chunks since the start or since the last stored part: nothing to
            // store, never an empty row. A stream stored in parts answers with its last part.
            st.chunks = st.chunks.saturating_sub(stream.chunks);
            st.entries.remove(key);
            return match stream.last_part {
                Some(part) => FinishStep::StoredInParts(already_stored(part)),
                None => nothing(st),
            };
        }
        if !valid {
            entry.stream = Some(stream);
            return FinishStep::BadTemplate;
        }
        entry.busy = true;
        FinishStep::Write(Box::new(finish_job(
            shared, st, key, stream, caller, status, reason,
        )))
    }
}

impl Drop for StreamMessageStore {
    fn drop(&mut self) {
        self.stop_flusher();
        let st = self.shared.lock();
        if !st.closed && !st.entries.is_empty() {
            tracing::error!(
                streams = st.entries.len(),
                bytes = st.bytes,
                chunks = st.chunks,
                "StreamMessageStore dropped without close(): its buffered chunks are not stored"
            );
        }
    }
}

/// The receipt for a stream whose content is all in stored parts: the last part's id,
/// `AlreadyStored` (or `Filtered`, if the strategy declined that part).
fn already_stored(last_part: StoreReceipt) -> StoreReceipt {
    match last_part.outcome {
        StoreOutcome::Filtered => last_part,
        _ => StoreReceipt::already_stored(last_part.id),
    }
}

/// Takes stream `key` out of its (idle) entry for an interrupted write. Empty streams are
/// forgotten instead (`None`).
fn take_stream(
    shared: &Arc<Shared>,
    st: &mut State,
    key: &str,
    reason: InterruptReason,
) -> Option<Job> {
    let entry = st.entries.get_mut(key)?;
    if entry.busy {
        return None;
    }
    let Some(stream) = entry.stream.take() else {
        st.entries.remove(key);
        return None;
    };
    if stream.content.is_empty() {
        // Only empty chunks since the start or the last stored part: never an empty row.
        st.chunks = st.chunks.saturating_sub(stream.chunks);
        st.entries.remove(key);
        return None;
    }
    entry.busy = true;
    Some(finish_job(
        shared,
        st,
        key,
        stream,
        None,
        StreamStatus::Interrupted,
        Some(reason),
    ))
}

/// The job writing `stream`'s content as its final row (completed or interrupted); the entry
/// is already marked busy. `caller` is the completion template, if any.
fn finish_job(
    shared: &Arc<Shared>,
    st: &mut State,
    key: &str,
    mut stream: Stream,
    caller: Option<&ChatAppMessage>,
    status: StreamStatus,
    reason: Option<InterruptReason>,
) -> Job {
    // The stream's own pending id wins over a caller's id: its content may already be stored
    // under it (a write whose acknowledgement was lost), and a write under the caller's id
    // would store it a second time.
    let own_pending = record::has_own_pending(&stream);
    let content = mem::take(&mut stream.content);
    let msg = record::final_row(key, &stream, content, caller, status, reason);
    Job::new(
        shared,
        st,
        key,
        msg,
        JobKind::Finish {
            stream,
            status,
            reason,
            caller_id: !own_pending && caller.is_some_and(|t| !t.id.is_empty()),
        },
    )
}

/// Takes every idle stream `select` picks, for interrupted writes with `reason`.
fn take_streams(
    shared: &Arc<Shared>,
    st: &mut State,
    select: impl Fn(&Stream) -> bool,
    reason: InterruptReason,
) -> Vec<Job> {
    let keys: Vec<String> = st
        .entries
        .iter()
        .filter(|(_, e)| !e.busy && e.stream.as_ref().is_some_and(&select))
        .map(|(k, _)| k.clone())
        .collect();
    keys.iter()
        .filter_map(|k| take_stream(shared, st, k, reason))
        .collect()
}

async fn flush_expired(shared: &Arc<Shared>) -> Result<usize> {
    let jobs = {
        let mut st = shared.lock();
        if st.closed {
            return Err(StorageError::Closed);
        }
        let now = Instant::now();
        let timeout = shared.config.timeout;
        st.overflows
            .retain(|_, r| r.in_flight || now.saturating_duration_since(r.since) <= timeout);
        take_streams(
            shared,
            &mut st,
            |s| now.saturating_duration_since(s.last_update) > timeout,
            InterruptReason::Expired,
        )
    };
    if jobs.is_empty() {
        return Ok(0);
    }
    tracing::info!(
        streams = jobs.len(),
        "storing expired streams as interrupted"
    );
    // Start them all before awaiting any: once taken, every job must be running.
    let pending: Vec<Pending> = jobs.into_iter().map(Job::start).collect();
    let mut stored = 0;
    let mut first_error = None;
    for p in pending {
        match p.wait().await {
            // Declined by the strategy: counted in `filtered`, not stored.
            Ok(r) if r.outcome == StoreOutcome::Filtered => {}
            Ok(_) => stored += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(stored), Err)
}

async fn run_flusher(shared: Weak<Shared>, interval: Duration) {
    // `validate()` bounds the interval (1 day); checked anyway, so no value can panic here.
    let Some(start) = Instant::now().checked_add(interval) else {
        tracing::error!(
            ?interval,
            "flush_interval is too large to schedule; expired streams are flushed only by \
             flush_expired() and close()"
        );
        return;
    };
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match flush_expired(&shared).await {
            Ok(_) => {}
            Err(StorageError::Closed) => return,
            Err(e) => tracing::warn!(
                error = %e,
                "flushing expired streams failed; they stay buffered for the next run"
            ),
        }
    }
}
