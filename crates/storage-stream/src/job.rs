//! One store write of buffered content ([`Job`]) and the in-flight bookkeeping around it.
//!
//! A job owns what it writes. It runs in its own Tokio task, so dropping the caller's future
//! neither cancels the write nor loses the content: when the write ends, the job settles the
//! outcome in the buffer map (forgets the content on success, puts it back on failure). If the
//! job is dropped before it could settle (its task was cancelled or panicked), `Drop` puts the
//! content back too. Nothing buffered ever disappears without a stored row.

use std::mem;
use std::sync::Arc;

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, StoreReceipt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::buffer::{Identity, State, Stream};
use crate::record::{InterruptReason, StreamStatus};
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

/// What a job writes and how its outcome changes the buffer.
pub(crate) enum JobKind {
    /// The whole stream, taken out of its entry: complete or interrupted.
    Finish {
        stream: Stream,
        status: StreamStatus,
        reason: Option<InterruptReason>,
    },
    /// The stream's content so far, as a part; the stream stays in its entry.
    Part { chunks: u64 },
    /// One chunk row (`all_chunks`); on success the chunk joins the buffer.
    ChunkRow,
}

/// One write of buffered content for `key`. While it exists, the key's entry is `busy`.
pub(crate) struct Job {
    shared: Arc<Shared>,
    pub(crate) key: String,
    pub(crate) msg: ChatAppMessage,
    kind: Option<JobKind>,
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
        Self {
            shared: Arc::clone(shared),
            key: key.to_owned(),
            msg,
            kind: Some(kind),
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

    async fn run(mut self) -> Result<StoreReceipt> {
        let result = self.shared.store.store_bot_response(&self.msg).await;
        if let Err(e) = &result {
            tracing::warn!(
                stream_key = %self.key,
                error = %e,
                "stream write failed; the buffered content is kept"
            );
        }
        self.settle(result.is_ok());
        result
    }

    /// Applies the outcome to the buffer map and frees the entry.
    fn settle(&mut self, ok: bool) {
        let Some(kind) = self.kind.take() else { return };
        {
            let mut guard = self.shared.lock();
            let st = &mut *guard;
            if !ok {
                st.counters.write_failures += 1;
            }
            let written = self.msg.content.len();
            let identity = Identity {
                id: self.msg.id.clone(),
                created_at: self.msg.created_at.unwrap_or_default(),
            };
            let entry = st.entries.entry(self.key.clone()).or_default();
            entry.busy = false;
            match kind {
                JobKind::Finish {
                    stream,
                    status,
                    reason,
                } if ok => {
                    st.bytes = st.bytes.saturating_sub(written);
                    st.chunks = st.chunks.saturating_sub(stream.chunks);
                    if status == StreamStatus::Complete {
                        st.counters.completed += 1;
                    } else {
                        st.counters.interrupted += 1;
                    }
                    if reason == Some(InterruptReason::Expired) {
                        st.counters.expired += 1;
                    }
                    if entry.stream.is_none() {
                        st.entries.remove(&self.key);
                    }
                }
                JobKind::Finish { mut stream, .. } => {
                    stream.content = mem::take(&mut self.msg.content);
                    stream.pending = Some(identity);
                    if let Some(newer) = entry.stream.take() {
                        // Unreachable while the entry was busy; merge defensively, in order.
                        stream.content.push_str(&newer.content);
                        stream.chunks += newer.chunks;
                        stream.accepted += newer.accepted;
                        stream.last_update = newer.last_update;
                        stream.pending = None;
                    }
                    entry.stream = Some(stream);
                }
                JobKind::Part { chunks } => {
                    if let Some(stream) = entry.stream.as_mut() {
                        if ok {
                            st.bytes = st.bytes.saturating_sub(written);
                            st.chunks = st.chunks.saturating_sub(chunks);
                            stream.parts += 1;
                            stream.pending = None;
                            st.counters.partial += 1;
                        } else {
                            let rest = mem::take(&mut stream.content);
                            stream.content = mem::take(&mut self.msg.content);
                            stream.content.push_str(&rest);
                            stream.chunks += chunks;
                            stream.pending = rest.is_empty().then_some(identity);
                        }
                    }
                }
                JobKind::ChunkRow => {
                    if ok {
                        if let Some(stream) = entry.stream.as_mut() {
                            State::append(
                                stream,
                                &mut st.bytes,
                                &mut st.chunks,
                                &self.msg.content,
                                Instant::now(),
                            );
                            st.counters.chunk_rows += 1;
                            st.counters.chunks_accepted += 1;
                        }
                    } else if entry
                        .stream
                        .as_ref()
                        .is_none_or(|s| s.is_empty() && s.chunks == 0)
                    {
                        // The stream was started by this chunk and holds nothing: forget it.
                        st.entries.remove(&self.key);
                    }
                }
            }
        }
        self.shared.changed.notify_waiters();
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Not settled: the task was cancelled or the store panicked. Keep the content.
        if self.kind.is_some() {
            tracing::warn!(
                stream_key = %self.key,
                "stream write abandoned before it finished; the buffered content is kept"
            );
            self.settle(false);
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
