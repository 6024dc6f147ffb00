//! [`StreamMessageStore`]: the public face of the stream store. Each call asks the
//! [`Machine`] under its lock what to do and hands the resulting writes to the
//! [`runner`](crate::runner).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreReceipt, WriteOnlyStore};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::machine::{ChunkStep, End, FinishStep, Machine};
use crate::record::{self, InterruptReason};
use crate::runner::{self, Shared};
use crate::{StreamConfig, StreamMetrics};

/// Buffers the chunks of LLM token streams per key and stores each stream as one message
/// through an inner [`WriteOnlyStore`] (usually a [`RetryStore`](crate::RetryStore)).
///
/// Guarantees: the table "Streaming" in `docs/semantics.md`; summary in the
/// [crate documentation](crate). Needs a Tokio runtime; a background task flushes expired
/// streams every `flush_interval` (started by [`new`](Self::new) inside a runtime, else by the
/// first chunk). Call [`close`](Self::close) before dropping the store: dropping it with
/// buffered chunks logs an error, and those chunks are lost with the process.
pub struct StreamMessageStore {
    shared: Arc<Shared>,
    /// The background flusher: started once (`flusher_started`), aborted by `close`.
    flusher: Mutex<Option<JoinHandle<()>>>,
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
    /// A stream store writing through `store`; `InvalidConfig` when `config` is invalid. No I/O.
    pub fn new(store: Arc<dyn WriteOnlyStore>, config: StreamConfig) -> Result<Self> {
        config.validate()?;
        let this = Self {
            shared: Arc::new(Shared {
                store,
                machine: Mutex::new(Machine::new(config.clone())),
                config,
                changed: Notify::new(),
            }),
            flusher: Mutex::new(None),
            flusher_started: AtomicBool::new(false),
        };
        this.ensure_flusher();
        Ok(this)
    }

    /// The configuration in force.
    pub fn config(&self) -> &StreamConfig {
        &self.shared.config
    }

    /// Accepts `chunk` as the next piece of stream `key` (the first chunk starts it). The
    /// stream's rows get the key as `chat_session_id` and no other session field: prefer
    /// [`on_stream_chunk_with`](Self::on_stream_chunk_with).
    ///
    /// `Ok` means the chunk will be stored exactly once, in order. Errors: `Closed`;
    /// `InvalidMessage` for a bad key or a chunk with NUL; `CapacityExceeded` for a chunk over
    /// `max_buffer_bytes` or full buffers under `overflow = reject`; the store's error
    /// when a write the chunk needed failed (the chunk is then not accepted).
    pub async fn on_stream_chunk(&self, key: &str, chunk: &str) -> Result<()> {
        self.push_chunk(key, chunk, None).await
    }

    /// [`on_stream_chunk`](Self::on_stream_chunk) with the stream's session fields: the
    /// template (without content, id and times) is captured by the first chunk that carries
    /// one, and every row of the stream is built from it. It must leave room for the
    /// `stream_*` metadata keys (checked against [`StreamConfig::limits`], `InvalidMessage`).
    pub async fn on_stream_chunk_with(
        &self,
        key: &str,
        chunk: &str,
        template: &ChatAppMessage,
    ) -> Result<()> {
        self.push_chunk(key, chunk, Some(template)).await
    }

    /// Ends stream `key` and stores it as one message: `template` with the chunks merged in
    /// order, `stream_status = "complete"`. On failure the stream is kept and the error
    /// returned; call again. With nothing buffered, a template with content is stored as it
    /// is; one without content fails with `InvalidMessage` (field `content`). A template `id`
    /// another message already has fails with `InvalidMessage` (field `id`). The receipt
    /// names the row's id: read it from there (see `docs/semantics.md` for which id wins).
    pub async fn on_stream_complete(
        &self,
        key: &str,
        template: &ChatAppMessage,
    ) -> Result<StoreReceipt> {
        self.check_open()?;
        record::validate_key(key)?;
        let limits = &self.shared.config.limits;
        // Refused only if there is content to write with it (an `InvalidMessage`).
        let mut bad =
            record::check_largest_row(&record::with_defaults(key, template, None), limits).err();
        loop {
            let end = End::Complete {
                template,
                valid: bad.is_none(),
            };
            match self.finish(key, end).await {
                FinishStep::Write(write) => return self.shared.run(write).wait().await,
                FinishStep::StoredInParts(receipt) => return Ok(receipt),
                FinishStep::Fail(e) => return Err(e),
                FinishStep::BadTemplate => {
                    if let Some(e) = bad.take() {
                        return Err(e);
                    }
                }
                FinishStep::Nothing | FinishStep::Wait => {}
            }
        }
    }

    /// Ends stream `key` without completion: stored as `interrupted`, `stream_reason =
    /// "aborted"`. `Ok(None)` when nothing is buffered; the last part's receipt
    /// (`AlreadyStored`) when everything is already stored in parts. On failure the stream is
    /// kept and the error returned.
    pub async fn on_stream_abort(&self, key: &str) -> Result<Option<StoreReceipt>> {
        self.check_open()?;
        record::validate_key(key)?;
        loop {
            match self
                .finish(key, End::Interrupt(InterruptReason::Aborted))
                .await
            {
                FinishStep::Write(write) => return self.shared.run(write).wait().await.map(Some),
                FinishStep::StoredInParts(receipt) => return Ok(Some(receipt)),
                FinishStep::Fail(e) => return Err(e),
                FinishStep::Nothing | FinishStep::BadTemplate => return Ok(None),
                FinishStep::Wait => {}
            }
        }
    }

    /// Asks the machine how to end `key`; waits (and answers `Wait`) while a write of the key
    /// is in flight.
    async fn finish(&self, key: &str, end: End<'_>) -> FinishStep {
        let (settled, step) = self.shared.decide(|m| m.finish(key, end, Instant::now()));
        if matches!(step, FinishStep::Wait) {
            settled.await;
        }
        step
    }

    /// Stores every stream whose last chunk is older than `timeout` as interrupted
    /// (`stream_reason = "expired"`) and returns how many were stored (`Filtered` rows are
    /// not). Streams with a write in flight wait for the next run; a failed write keeps its
    /// stream, and the first error is returned after all were tried. `Closed` after `close()`.
    pub async fn flush_expired(&self) -> Result<usize> {
        runner::flush_expired(&self.shared).await
    }

    /// A snapshot of the buffers and counters, taken under the lock (never blocked by a write).
    pub fn metrics(&self) -> StreamMetrics {
        self.shared.lock().metrics()
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// `Closed` once closed, before the input is looked at (as the backends do).
    fn check_open(&self) -> Result<()> {
        (!self.is_closed())
            .then_some(())
            .ok_or(StorageError::Closed)
    }

    /// Stops accepting (later calls fail with `Closed`), stops the flusher, stores every
    /// buffered stream as interrupted (`stream_reason = "closed"`) and waits for every write
    /// in flight. Idempotent; fails with the store's last error when streams could not be
    /// stored (they stay for another `close()`). Does not close the inner store.
    pub async fn close(&self) -> Result<()> {
        if self.shared.lock().close() {
            tracing::debug!("closing stream store");
        }
        self.shared.changed.notify_waiters();
        self.stop_flusher();
        let mut last_error = None;
        loop {
            let started = runner::start_all(&self.shared, Machine::take_all);
            let (spawned, mut stored) = (started.len(), 0usize);
            for write in started {
                match write.wait().await {
                    Ok(_) => stored += 1,
                    Err(e) => last_error = Some(e),
                }
            }
            self.wait_idle().await;
            let remaining = self.shared.lock().metrics().active_buffers;
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
            if self.shared.lock().metrics().in_flight_writes == 0 {
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
        // Checked again under the lock: `close` may have stopped it meanwhile.
        if !self.flusher_started.swap(true, Ordering::AcqRel) {
            let weak = Arc::downgrade(&self.shared);
            let interval = self.shared.config.flush_interval;
            *flusher = Some(handle.spawn(runner::run_flusher(weak, interval)));
        }
    }

    fn stop_flusher(&self) {
        let mut flusher = self.flusher.lock().unwrap_or_else(PoisonError::into_inner);
        self.flusher_started.store(true, Ordering::Release);
        // Aborting is safe at any await point: the flusher's writes run in their own tasks.
        if let Some(handle) = flusher.take() {
            handle.abort();
        }
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
        let mut prepared = None;
        let mut may_evict = true;
        loop {
            let has_template = template.is_some();
            let now = Instant::now();
            let (settled, step) = self
                .shared
                .decide(|m| m.chunk(key, chunk, has_template, &mut prepared, may_evict, now));
            match step {
                ChunkStep::Done => return Ok(()),
                ChunkStep::Wait => settled.await,
                ChunkStep::NeedTemplate => {
                    if let Some(t) = template {
                        let limits = &self.shared.config.limits;
                        prepared = Some(Arc::new(record::prepare_template(key, t, limits)?));
                    }
                }
                ChunkStep::Before(write) => {
                    let evicting = write.key != key;
                    if evicting {
                        tracing::warn!(
                            stream_key = %write.key,
                            new_stream_key = %key,
                            bytes = write.msg.content.len(),
                            "stream buffers full: storing the oldest expired stream as \
                             interrupted to make room"
                        );
                    }
                    match self.shared.run(write).wait().await {
                        Err(_) if evicting => may_evict = false,
                        Err(e) => return Err(e),
                        Ok(_) => {}
                    }
                }
                // In this task: if the caller gives up, the chunk is not accepted behind its
                // back, and the row's id is kept for the retry.
                ChunkStep::Last(write) => return self.shared.run(write).wait().await.map(|_| ()),
                ChunkStep::Fail(e) => return Err(e),
            }
        }
    }
}

impl Drop for StreamMessageStore {
    fn drop(&mut self) {
        self.stop_flusher();
        let metrics = self.shared.lock().metrics();
        if !metrics.closed && metrics.active_buffers > 0 {
            tracing::error!(
                streams = metrics.active_buffers,
                bytes = metrics.buffered_bytes,
                chunks = metrics.buffered_chunks,
                "StreamMessageStore dropped without close(): its buffered chunks are not stored"
            );
        }
    }
}
