//! [`RetainingStore`]: a store with a background task applying a [`RetentionPolicy`] every
//! interval; `close` stops the task (and waits for it) before closing the store.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    BackupReport, ChatAppMessage, ChatAppMessageStore, HealthCheckResult, MessageQuery,
    MigrationStatus, ReadOnlyStore, Result, RetentionPolicy, SessionMeta, SessionStore,
    StorageMetrics, StoreReceipt, WriteOnlyStore,
};
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

#[async_trait]
impl ReadOnlyStore for RetainingStore {
    async fn get(&self, message_id: &str) -> Result<ChatAppMessage> {
        self.inner.get(message_id).await
    }
    async fn list(&self, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
        self.inner.list(query).await
    }
    async fn count(&self, query: &MessageQuery) -> Result<u64> {
        self.inner.count(query).await
    }
}

#[async_trait]
impl WriteOnlyStore for RetainingStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.inner.store_user_message(msg).await
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.inner.store_bot_response(msg).await
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.inner.store_batch(msgs).await
    }
}

#[async_trait]
impl SessionStore for RetainingStore {
    async fn get_session_meta(&self, chat_session_id: &str) -> Result<SessionMeta> {
        self.inner.get_session_meta(chat_session_id).await
    }
    async fn list_user_sessions(&self, platform: &str, user_id: &str) -> Result<Vec<String>> {
        self.inner.list_user_sessions(platform, user_id).await
    }
    async fn delete_session(&self, chat_session_id: &str) -> Result<u64> {
        self.inner.delete_session(chat_session_id).await
    }
    async fn purge_session(&self, chat_session_id: &str) -> Result<u64> {
        self.inner.purge_session(chat_session_id).await
    }
    async fn purge_deleted_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.inner.purge_deleted_before(cutoff).await
    }
    async fn purge_messages_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.inner.purge_messages_before(cutoff).await
    }
}

#[async_trait]
impl ChatAppMessageStore for RetainingStore {
    async fn initialize(&self) -> Result<()> {
        self.inner.initialize().await
    }
    async fn close(&self) -> Result<()> {
        self.stop_task().await;
        self.inner.close().await
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn version(&self) -> &str {
        self.inner.version()
    }
    async fn health_check(&self) -> HealthCheckResult {
        self.inner.health_check().await
    }
    async fn metrics(&self) -> Result<StorageMetrics> {
        self.inner.metrics().await
    }
    async fn migration_status(&self) -> Result<MigrationStatus> {
        self.inner.migration_status().await
    }
    async fn backup_to(&self, path: &Path) -> Result<BackupReport> {
        self.inner.backup_to(path).await
    }
}
