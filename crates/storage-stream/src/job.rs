//! One store write of buffered content ([`Job`]) and the in-flight bookkeeping around it.
//!
//! A job owns what it writes. A write of buffered content (a part, a completed or interrupted
//! stream) runs in its own Tokio task, so dropping the caller's future neither cancels the
//! write nor loses the content: when the write ends, the job settles the outcome in the buffer
//! map (forgets the content on success, puts it back on failure). If the job is dropped before
//! it could settle (its task was cancelled or panicked), `Drop` puts the content back too.
//! Nothing buffered ever disappears without a stored row.
//!
//! A chunk row (`all_chunks`) carries a chunk that is not accepted yet, so it runs in the
//! caller's task ([`Job::run_in_caller`]): a call whose future is dropped drops its job, whose
//! `Drop` settles it as a failure that may have landed — the chunk is *not* appended (the
//! caller never got `Ok`), and the stream keeps the id the row was written under, so the
//! caller's retry is answered `AlreadyStored` and appends the chunk once.

use std::mem;
use std::sync::Arc;

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreOutcome, StoreReceipt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::buffer::{Identity, OverflowRecord, State, Stream};
use crate::record::{self, InterruptReason, StreamStatus};
use crate::stream_store::Shared;

/// Counts one store write in flight until dropped; `close()` waits for the count to reach 0.
pub(crate) struct InFlight {
    shared: Arc<Shared>,
}

impl InFlight {
    /// Registers a write. Called with the state lock held, right after checking `closed`, so
    /// that `close()` cannot miss it.
    pub(crate) fn begin(shared: &Arc<Shared>, state: &mut State) -> Self {
        state.in_flight += 1;
        Self {
            shared: Arc::clone(shared),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.in_flight = st.in_flight.saturating_sub(1);
        }
        self.shared.changed.notify_waiters();
    }
}

/// One direct write of an overflow row (`direct_store`), run in the caller's task, and the
/// [`OverflowRecord`] that remembers it until it is known to be stored.
///
/// The record is created (or found, for a retry) under the lock before the write, so that a
/// cancelled call — whose write may still land — leaves it behind: the retry of the chunk then
/// reuses the row's id. [`settle`](Self::settle) applies the write's outcome; `Drop` of an
/// unsettled write counts as a failure that may have landed.
pub(crate) struct OverflowWrite {
    shared: Arc<Shared>,
    key: String,
    pub(crate) identity: Identity,
    /// `stream_limit` of the row.
    pub(crate) limit: &'static str,
    /// The limit's configured value (for the log; 0 for a retry).
    pub(crate) limit_value: u64,
    /// This rewrites a row that may have landed.
    pub(crate) retry: bool,
    /// The key of a remembered overflow row that had to be forgotten to stay within the bound.
    pub(crate) forgotten: Option<String>,
    settled: bool,
    _in_flight: InFlight,
}

impl OverflowWrite {
    /// A first write of `chunk` (with `fingerprint`) as an overflow row of `key`. Lock held.
    pub(crate) fn begin(
        shared: &Arc<Shared>,
        state: &mut State,
        key: &str,
        fingerprint: u128,
        (limit, limit_value): (&'static str, u64),
        now: Instant,
        cap: usize,
    ) -> Self {
        let identity = record::fresh_identity();
        let forgotten = state.remember_overflow(
            key,
            OverflowRecord {
                identity: identity.clone(),
                fingerprint,
                limit,
                in_flight: true,
                may_have_landed: false,
                since: now,
            },
            cap,
        );
        Self {
            shared: Arc::clone(shared),
            key: key.to_owned(),
            identity,
            limit,
            limit_value,
            retry: false,
            forgotten,
            settled: false,
            _in_flight: InFlight::begin(shared, state),
        }
    }

    /// The retry of `key`'s remembered overflow row, whose write may have landed. Lock held;
    /// the record must exist and not be in flight.
    pub(crate) fn retry(shared: &Arc<Shared>, state: &mut State, key: &str) -> Option<Self> {
        let record = state.overflows.get_mut(key)?;
        record.in_flight = true;
        let (identity, limit) = (record.identity.clone(), record.limit);
        Some(Self {
            shared: Arc::clone(shared),
            key: key.to_owned(),
            identity,
            limit,
            limit_value: 0,
            retry: true,
            forgotten: None,
            settled: false,
            _in_flight: InFlight::begin(shared, state),
        })
    }

    /// Applies the write's outcome: a stored row (any `Ok`) forgets the record; a failure keeps
    /// it if this or an earlier attempt may have landed.
    pub(crate) fn settle(&mut self, result: &Result<StoreReceipt>) {
        let may_have_landed = match result {
            Ok(_) => None,
            Err(e) => Some(e.is_transient() || matches!(e, StorageError::RetryExhausted { .. })),
        };
        self.settle_with(may_have_landed);
    }

    /// `None`: stored; `Some(may_have_landed)`: failed.
    fn settle_with(&mut self, failed: Option<bool>) {
        if mem::replace(&mut self.settled, true) {
            return;
        }
        {
            let mut st = self.shared.lock();
            // The record may be gone (the key moved on, `close()`), or be another write's.
            let forget = match st.overflows.get_mut(&self.key) {
                Some(r) if r.identity.id == self.identity.id => match failed {
                    None => true,
                    Some(may_have_landed) => {
                        r.in_flight = false;
                        r.may_have_landed |= may_have_landed;
                        !r.may_have_landed
                    }
                },
                _ => false,
            };
            if forget {
                st.overflows.remove(&self.key);
            }
        }
        self.shared.changed.notify_waiters();
    }
}

impl Drop for OverflowWrite {
    fn drop(&mut self) {
        if !self.settled {
            tracing::warn!(
                stream_key = %self.key,
                "overflow row write abandoned before it finished; its id is kept for a retry \
                 of the chunk"
            );
            self.settle_with(Some(true));
        }
    }
}

/// What a job writes and how its outcome changes the buffer.
pub(crate) enum JobKind {
    /// The whole stream, taken out of its entry: complete or interrupted.
    Finish {
        stream: Stream,
        status: StreamStatus,
        reason: Option<InterruptReason>,
        /// The row's id came from the caller's template, not from this stream.
        caller_id: bool,
    },
    /// The stream's content so far, as a part; the stream stays in its entry.
    Part { chunks: u64 },
    /// One chunk row (`all_chunks`); on success the chunk joins the buffer.
    ChunkRow,
}

/// How a write ended, as far as the buffer is concerned.
enum Settlement {
    /// The store has the row (`Stored`, or `AlreadyStored` under the job's own id), or its
    /// strategy declined it (`Filtered`): either way the content leaves the buffer.
    Written(StoreReceipt),
    /// The write failed. It may have landed when the error was transient, retries were
    /// exhausted, or the job was abandoned.
    Failed { may_have_landed: bool },
    /// `AlreadyStored` under an id this stream never wrote: another message has it, nothing of
    /// this write landed.
    ForeignId,
}

/// One write of buffered content for `key`. While it exists, the key's entry is `busy`.
pub(crate) struct Job {
    shared: Arc<Shared>,
    pub(crate) key: String,
    pub(crate) msg: ChatAppMessage,
    kind: Option<JobKind>,
    /// True when `AlreadyStored` can only mean this stream's own earlier write of the same
    /// content: the id is one the stream generated (a fresh UUIDv7 belongs to no other
    /// message, so the answer comes from a retry inside the inner store after a lost
    /// acknowledgement), the stream's pending id (a failed earlier write of the same content,
    /// which may have landed), or a chunk row's id, which names the chunk and its position.
    /// Not for a caller-supplied id met on its first write: another message has it.
    accepts_existing: bool,
    _in_flight: InFlight,
}

impl Job {
    /// A job for `key`, whose entry the caller has just marked busy (lock held).
    pub(crate) fn new(
        shared: &Arc<Shared>,
        state: &mut State,
        key: &str,
        msg: ChatAppMessage,
        kind: JobKind,
    ) -> Self {
        let (own_id, pending) = match &kind {
            JobKind::Finish {
                stream, caller_id, ..
            } => (!caller_id, stream.pending.as_ref()),
            // Parts are built from the prepared template, whose id is cleared.
            JobKind::Part { .. } | JobKind::ChunkRow => (true, None),
        };
        let accepts_existing = own_id || pending.is_some_and(|p| p.id == msg.id);
        if matches!(kind, JobKind::ChunkRow) {
            // The chunk is in flight: counted against `max_total_bytes` until it is settled
            // (joins the buffer or is released), so concurrent new streams cannot all pass.
            state.bytes += msg.content.len();
        }
        Self {
            shared: Arc::clone(shared),
            key: key.to_owned(),
            msg,
            kind: Some(kind),
            accepts_existing,
            _in_flight: InFlight::begin(shared, state),
        }
    }

    /// Starts the write in its own task (inline when no Tokio runtime is running).
    pub(crate) fn start(self) -> Pending {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => Pending::Spawned(handle.spawn(self.run())),
            Err(_) => Pending::Inline(Box::new(self)),
        }
    }

    /// Runs the write in the calling task: dropping the returned future drops the job, which
    /// settles as a failure that may have landed (see the module docs). Used for chunk rows,
    /// whose chunk is accepted only when the caller gets `Ok`. The job still counts as a write
    /// in flight until it settles, so `close()` waits for it.
    pub(crate) async fn run_in_caller(self) -> Result<StoreReceipt> {
        self.run().await
    }

    /// The reason of an interrupted stream's last row, if this job writes one.
    fn interrupt_reason(&self) -> Option<InterruptReason> {
        match &self.kind {
            Some(JobKind::Finish {
                status: StreamStatus::Interrupted,
                reason,
                ..
            }) => *reason,
            _ => None,
        }
    }

    async fn run(mut self) -> Result<StoreReceipt> {
        let mut result = self.shared.store.store_bot_response(&self.msg).await;
        if let Err(e @ StorageError::InvalidMessage { .. }) = &result
            && let Some(reason) = self.interrupt_reason()
        {
            // Defence in depth: the template was checked against `StreamConfig::limits`, but
            // the inner store's limits may be smaller. Accepted content must still land.
            tracing::warn!(
                stream_key = %self.key,
                stream_reason = reason.as_str(),
                error = %e,
                "the store refused the interrupted row as invalid; storing a minimal \
                 interrupted row (session, content, stream_status, stream_reason, stream_id) \
                 instead"
            );
            let minimal = record::minimal_row(&self.msg);
            result = self.shared.store.store_bot_response(&minimal).await;
        }
        let settlement = match &result {
            Ok(receipt)
                if receipt.outcome == StoreOutcome::AlreadyStored && !self.accepts_existing =>
            {
                Settlement::ForeignId
            }
            Ok(receipt) => Settlement::Written(receipt.clone()),
            Err(e) => Settlement::Failed {
                may_have_landed: e.is_transient()
                    || matches!(e, StorageError::RetryExhausted { .. }),
            },
        };
        if matches!(settlement, Settlement::ForeignId) {
            result = Err(StorageError::invalid_message(
                "id",
                format!(
                    "{:?} is already stored; a stream's message needs a new id (nothing was \
                     stored, the stream is kept)",
                    self.msg.id
                ),
            ));
        }
        match &result {
            Err(e) => tracing::warn!(
                stream_key = %self.key,
                error = %e,
                "stream write failed; the buffered content is kept"
            ),
            Ok(receipt) if receipt.outcome == StoreOutcome::Filtered => tracing::warn!(
                stream_key = %self.key,
                message_type = %self.msg.message_type,
                stream_status = record::status_of(&self.msg),
                bytes = self.msg.content.len(),
                "stream row declined by the storage strategy (Filtered): its content is not \
                 stored"
            ),
            Ok(_) => {}
        }
        self.settle(settlement);
        result
    }

    /// Applies the outcome to the buffer map and frees the entry.
    fn settle(&mut self, settlement: Settlement) {
        let Some(kind) = self.kind.take() else { return };
        let (written, foreign, may_have_landed) = match settlement {
            Settlement::Written(receipt) => (Some(receipt), false, false),
            Settlement::Failed { may_have_landed } => (None, false, may_have_landed),
            Settlement::ForeignId => (None, true, false),
        };
        let shared = Arc::clone(&self.shared);
        {
            let mut guard = shared.lock();
            let st = &mut *guard;
            let filtered = written
                .as_ref()
                .is_some_and(|r| r.outcome == StoreOutcome::Filtered);
            if written.is_none() {
                st.counters.write_failures += 1;
            }
            if filtered {
                // Not a stored row: counted here only, never as completed, partial, ….
                st.counters.filtered += 1;
            }
            st.entries.entry(self.key.clone()).or_default().busy = false;
            match kind {
                JobKind::Finish {
                    stream,
                    status,
                    reason,
                    caller_id,
                } => {
                    if written.is_some() {
                        st.bytes = st.bytes.saturating_sub(self.msg.content.len());
                        st.chunks = st.chunks.saturating_sub(stream.chunks);
                        if filtered {
                            // Counted above, as filtered only.
                        } else if status == StreamStatus::Complete {
                            st.counters.completed += 1;
                        } else {
                            st.counters.interrupted += 1;
                            if reason == Some(InterruptReason::Expired) {
                                st.counters.expired += 1;
                            }
                        }
                    } else {
                        self.restore_stream(st, stream, caller_id, foreign, may_have_landed);
                    }
                }
                JobKind::Part { chunks } => match written {
                    Some(receipt) => self.part_stored(st, chunks, receipt, filtered),
                    None => self.restore_part(st, chunks, foreign, may_have_landed),
                },
                JobKind::ChunkRow => {
                    // Release the reservation; a stored chunk joins the buffer below.
                    st.bytes = st.bytes.saturating_sub(self.msg.content.len());
                    if written.is_some() {
                        self.chunk_row_stored(st, filtered);
                    } else if let Some(entry) = st.entries.get_mut(&self.key)
                        && let Some(stream) = entry.stream.as_mut()
                    {
                        if may_have_landed {
                            // Kept, even empty, so that a retry of the chunk reuses its stream
                            // id and position, hence the row's id, and is answered
                            // `AlreadyStored`.
                            stream.unsettled_row = true;
                        } else if stream.is_empty() && stream.chunks == 0 && !stream.unsettled_row {
                            // The stream was started by this chunk, holds nothing, and no row
                            // of it may have landed (not this one, nor an earlier attempt's):
                            // forget it.
                            entry.stream = None;
                        }
                    }
                }
            }
            if st
                .entries
                .get(&self.key)
                .is_some_and(|e| e.stream.is_none())
            {
                st.entries.remove(&self.key);
            }
        }
        shared.changed.notify_waiters();
    }

    /// A failed write of the whole stream: it goes back into its entry with its content.
    ///
    /// Only a write that may have landed becomes the stream's pending identity; after a
    /// permanent error or a foreign id, an earlier pending write (of the same content) stays.
    fn restore_stream(
        &mut self,
        st: &mut State,
        mut stream: Stream,
        caller_id: bool,
        foreign: bool,
        may_have_landed: bool,
    ) {
        stream.content = mem::take(&mut self.msg.content);
        if !foreign && may_have_landed {
            // The next write of this content reuses its id (a caller's id: only a completion
            // under that same id).
            stream.pending = Some(self.identity(caller_id));
        }
        let entry = st.entries.entry(self.key.clone()).or_default();
        if let Some(newer) = entry.stream.take() {
            // Unreachable while the entry was busy; merge defensively, in order.
            stream.content.push_str(&newer.content);
            stream.chunks += newer.chunks;
            stream.numbered += newer.numbered;
            stream.last_update = newer.last_update;
            stream.pending = None;
        }
        entry.stream = Some(stream);
    }

    fn part_stored(&mut self, st: &mut State, chunks: u64, receipt: StoreReceipt, filtered: bool) {
        let Some(stream) = st
            .entries
            .get_mut(&self.key)
            .and_then(|e| e.stream.as_mut())
        else {
            return;
        };
        stream.parts = stream.parts.saturating_add(1);
        stream.pending = None;
        stream.last_part = Some(receipt);
        st.bytes = st.bytes.saturating_sub(self.msg.content.len());
        st.chunks = st.chunks.saturating_sub(chunks);
        if !filtered {
            st.counters.partial += 1;
        }
    }

    /// A failed part write: its content goes back in front of whatever the stream holds.
    fn restore_part(&mut self, st: &mut State, chunks: u64, foreign: bool, may_have_landed: bool) {
        let identity = self.identity(false);
        let Some(stream) = st
            .entries
            .get_mut(&self.key)
            .and_then(|e| e.stream.as_mut())
        else {
            return;
        };
        let rest = mem::take(&mut stream.content);
        stream.content = mem::take(&mut self.msg.content);
        stream.content.push_str(&rest);
        stream.chunks += chunks;
        if !rest.is_empty() {
            stream.pending = None;
        } else if !foreign && may_have_landed {
            stream.pending = Some(identity);
        }
    }

    fn chunk_row_stored(&self, st: &mut State, filtered: bool) {
        let Some(stream) = st
            .entries
            .get_mut(&self.key)
            .and_then(|e| e.stream.as_mut())
        else {
            return;
        };
        stream.unsettled_row = false;
        State::append(
            stream,
            &mut st.bytes,
            &mut st.chunks,
            &self.msg.content,
            Instant::now(),
        );
        if !filtered {
            st.counters.chunk_rows += 1;
        }
        st.counters.chunks_accepted += 1;
    }

    /// The id and creation time this job wrote under; `caller` says the id is the caller's.
    fn identity(&self, caller: bool) -> Identity {
        Identity {
            id: self.msg.id.clone(),
            created_at: self.msg.created_at.unwrap_or_default(),
            caller,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Not settled: the call or task was cancelled, or the store panicked. Keep the
        // content (a chunk row's chunk is not accepted); the write may have landed.
        if self.kind.is_some() {
            tracing::warn!(
                stream_key = %self.key,
                "stream write abandoned before it finished; the buffered content is kept"
            );
            self.settle(Settlement::Failed {
                may_have_landed: true,
            });
        }
    }
}

/// A started job.
pub(crate) enum Pending {
    Spawned(JoinHandle<Result<StoreReceipt>>),
    Inline(Box<Job>),
}

impl Pending {
    /// The job's result. Dropping this future does not stop a spawned job.
    pub(crate) async fn wait(self) -> Result<StoreReceipt> {
        match self {
            Self::Spawned(handle) => handle.await.unwrap_or_else(|e| {
                Err(StorageError::query(
                    "stream write",
                    format!("write task failed: {e}"),
                ))
            }),
            Self::Inline(job) => job.run().await,
        }
    }
}
