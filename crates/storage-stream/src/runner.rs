//! Runs the writes the [`Machine`] asks for, outside its lock, and feeds each result back;
//! flushes expired streams periodically.
//!
//! A write of buffered content (a part, a last row) runs in its own Tokio task, so dropping the
//! caller's future neither cancels it nor loses its content. A chunk row, an overflow row and a
//! direct completion run in the caller's task: their chunk or message is accepted only when the
//! caller gets `Ok`. Either way a write is owned by a [`Ticket`] from the moment the machine
//! hands it out; a ticket dropped unsettled settles as abandoned (in doubt), so the machine
//! keeps the content and its id.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use hotplex_storage_core::{Result, StorageError, StoreOutcome, StoreReceipt, WriteOnlyStore};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::StreamConfig;
use crate::machine::{Machine, Write, WriteKind};
use crate::record;

/// State shared by the store, its write tasks and its flusher.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn WriteOnlyStore>,
    pub(crate) config: StreamConfig,
    pub(crate) machine: Mutex<Machine>,
    /// Notified whenever a write settles or the store closes.
    pub(crate) changed: Notify,
}

impl Shared {
    /// The machine. Never held across an `.await` or a store call; a poisoned lock is
    /// recovered (the machine completes every update before anything can panic).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts `write` (see [`Ticket::start`]).
    pub(crate) fn run(self: &Arc<Self>, write: Write) -> Started {
        Ticket::new(self, write).start()
    }

    /// Runs `step` on the machine and returns, with its outcome, a notification of the next
    /// settlement registered under the same lock: a step that says "wait" awaits it and misses
    /// nothing.
    pub(crate) fn decide<T>(&self, step: impl FnOnce(&mut Machine) -> T) -> (Notified<'_>, T) {
        let mut machine = self.lock();
        (self.changed.notified(), step(&mut machine))
    }
}

/// A [`Write`] in flight. Settled with its result by [`perform`](Self::perform); dropped
/// unsettled (its call or task was cancelled, or the store panicked), it settles as a write
/// that may have landed: the machine keeps the content and the id.
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    write: Option<Write>,
}

/// A started write: its own task, or (an `all_chunks` chunk row, an overflow row, a direct
/// completion, or no runtime) to be performed by whoever awaits it.
pub(crate) enum Started {
    Task(JoinHandle<Result<StoreReceipt>>),
    Here(Ticket),
}

impl Ticket {
    fn new(shared: &Arc<Shared>, write: Write) -> Self {
        Self {
            shared: Arc::clone(shared),
            write: Some(write),
        }
    }

    pub(crate) fn start(self) -> Started {
        // In the caller's task: a chunk row, an overflow row or a direct completion, whose chunk
        // or message counts only if the caller gets `Ok`.
        let in_caller = self.write.as_ref().is_none_or(|w| {
            matches!(
                w.kind,
                WriteKind::ChunkRow { .. } | WriteKind::Overflow { .. } | WriteKind::Direct
            )
        });
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if !in_caller => Started::Task(handle.spawn(self.perform())),
            _ => Started::Here(self),
        }
    }

    async fn perform(mut self) -> Result<StoreReceipt> {
        let result = match &self.write {
            Some(write) => store_row(&*self.shared.store, write).await,
            None => return Err(StorageError::query("stream write", "already settled")),
        };
        self.settle(result)
    }

    fn settle(&mut self, result: Result<StoreReceipt>) -> Result<StoreReceipt> {
        let Some(write) = self.write.take() else {
            return result;
        };
        let result = self.shared.lock().settle(write, result);
        self.shared.changed.notify_waiters();
        result
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(write) = &self.write {
            tracing::warn!(
                stream_key = %write.key,
                "stream write abandoned before it finished; its content and id are kept"
            );
            let abandoned = StorageError::query("stream write", "abandoned before it finished");
            let _ = self.settle(Err(StorageError::in_doubt(abandoned)));
        }
    }
}

impl Started {
    /// The write's result. Dropping this future does not stop a write in its own task.
    pub(crate) async fn wait(self) -> Result<StoreReceipt> {
        match self {
            Self::Task(handle) => handle.await.unwrap_or_else(|e| {
                Err(StorageError::query(
                    "stream write",
                    format!("write task failed: {e}"),
                ))
            }),
            Self::Here(ticket) => ticket.perform().await,
        }
    }
}

/// Stores `write`'s row. An interrupted row the store refuses as invalid (its limits are
/// smaller than [`StreamConfig::limits`]) is stored as a minimal row instead, so that accepted
/// content still lands.
async fn store_row(store: &dyn WriteOnlyStore, write: &Write) -> Result<StoreReceipt> {
    let result = store.store_bot_response(&write.msg).await;
    let reason = match write.kind {
        WriteKind::Last { reason, .. } => reason,
        _ => None,
    };
    match (&result, reason) {
        (Err(e @ StorageError::InvalidMessage { .. }), Some(reason)) => {
            tracing::warn!(
                stream_key = %write.key,
                stream_reason = reason.as_str(),
                error = %e,
                "the store refused the interrupted row as invalid; storing a minimal \
                 interrupted row (session, content, stream_status, stream_reason, stream_id) \
                 instead"
            );
            store
                .store_bot_response(&record::minimal_row(&write.msg))
                .await
        }
        _ => result,
    }
}

/// Takes writes from the machine with `take` and starts each right away (no `await` between):
/// every write is owned by a [`Ticket`] before the caller can be cancelled.
pub(crate) fn start_all(
    shared: &Arc<Shared>,
    take: impl FnOnce(&mut Machine) -> Vec<Write>,
) -> Vec<Started> {
    let writes = take(&mut shared.lock());
    writes.into_iter().map(|w| shared.run(w)).collect()
}

pub(crate) async fn flush_expired(shared: &Arc<Shared>) -> Result<usize> {
    if shared.lock().closed {
        return Err(StorageError::Closed);
    }
    let started = start_all(shared, |m| m.expire(Instant::now()));
    if started.is_empty() {
        return Ok(0);
    }
    tracing::info!(
        streams = started.len(),
        "storing expired streams as interrupted"
    );
    let mut stored = 0;
    let mut first_error = None;
    for write in started {
        match write.wait().await {
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

pub(crate) async fn run_flusher(shared: Weak<Shared>, interval: Duration) {
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
