//! [`RetainingStore`]: a store with a background task applying a [`RetentionPolicy`] every
//! interval; `close` stops the task (and waits for it) before closing the store.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use hotplex_storage_core::{ChatAppMessageStore, Result, RetentionPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A store whose retention policy runs in the background. Built by
/// [`open`](crate::open) when `retention.interval` is set; every call is forwarded.
pub struct RetainingStore {
    inner: Arc<dyn ChatAppMessageStore>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for RetainingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetainingStore")
            .field("backend", &self.inner.name())
            .field("running", &self.is_retention_running())
            .finish_non_exhaustive()
    }
}

impl RetainingStore {
    /// Starts applying `policy` to `inner` now and then every `interval` (on the current
    /// Tokio runtime).
    pub fn start(
        inner: Arc<dyn ChatAppMessageStore>,
        policy: RetentionPolicy,
        interval: Duration,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(Arc::clone(&inner), policy, interval, stopped));
        Self {
            inner,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    /// True while the background task runs.
    pub fn is_retention_running(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Stops the task and waits until it has ended (a purge in progress completes first).
    async fn stop_task(&self) {
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "the retention task ended abnormally");
        }
    }
}

impl Drop for RetainingStore {
    fn drop(&mut self) {
        // Dropped without close: the task must not outlive the store.
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

async fn run(
    store: Arc<dyn ChatAppMessageStore>,
    policy: RetentionPolicy,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = ticker.tick() => {}
        }
        match policy.apply(store.as_ref(), Utc::now()).await {
            Ok(report) if report.total() > 0 => tracing::info!(
                deleted_purged = report.deleted_purged,
                expired_purged = report.expired_purged,
                "retention purged messages"
            ),
            Ok(_) => tracing::debug!("retention found nothing to purge"),
            Err(e) if e.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "retention failed; retrying at the next interval"),
        }
    }
}

hotplex_storage_core::delegate_store!([] ReadOnlyStore for RetainingStore => field inner);
hotplex_storage_core::delegate_store!([] WriteOnlyStore for RetainingStore => field inner);
hotplex_storage_core::delegate_store!([] SessionStore for RetainingStore => field inner);
hotplex_storage_core::delegate_store!(
    [] ChatAppMessageStore for RetainingStore => field inner, close = stop_then_close
);

impl RetainingStore {
    /// `close()`: stops the retention task (and waits for it), then closes the store.
    async fn stop_then_close(&self) -> Result<()> {
        self.stop_task().await;
        self.inner.close().await
    }
}
