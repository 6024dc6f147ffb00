//! [`MemoryStore`]: the store traits over one [`State`] behind a `RwLock`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, Check, CheckStatus, HealthCheckResult, MessageQuery,
    ReadOnlyStore, Result, SearchHit, SearchQuery, SessionMeta, SessionStore, StorageError,
    StorageMetrics, StoreReceipt, ValidationLimits, WriteOnlyStore, prepare_batch, prepare_message,
    time,
};

use crate::state::State;

/// The backend name reported by [`ChatAppMessageStore::name`].
pub const NAME: &str = "memory";

/// An in-process chat message store: the reference model of the hotplex-storage semantics.
///
/// All data lives in one `std::sync::RwLock`-protected state: a map from id to message, an
/// ordered `(created_at, seq)` index over all messages and one per session (so a session's
/// newest messages are found without scanning the store), and the session metas. Every call
/// takes the lock once, never across an `.await`, so each write — a batch included — is atomic
/// and readers never see part of it. Results are clones; nothing shared is handed out.
///
/// Constructors do no work beyond allocation; [`initialize`](ChatAppMessageStore::initialize)
/// is a no-op kept for the contract. After [`close`](ChatAppMessageStore::close) the data is
/// dropped and every call fails with [`StorageError::Closed`].
///
/// ```
/// use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, ValidationLimits};
/// use hotplex_storage_memory::MemoryStore;
///
/// let default = MemoryStore::new();
/// assert_eq!(default.name(), "memory");
/// let small = MemoryStore::with_limits(ValidationLimits {
///     max_content_bytes: 1024,
///     ..ValidationLimits::default()
/// });
/// assert_eq!(small.limits().max_content_bytes, 1024);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    state: RwLock<State>,
    closed: AtomicBool,
    limits: ValidationLimits,
    started: Instant,
}

impl MemoryStore {
    /// An empty store with the default [`ValidationLimits`].
    pub fn new() -> Self {
        Self::with_limits(ValidationLimits::default())
    }

    /// An empty store enforcing `limits` on every write.
    pub fn with_limits(limits: ValidationLimits) -> Self {
        Self {
            state: RwLock::new(State::default()),
            closed: AtomicBool::new(false),
            limits,
            started: Instant::now(),
        }
    }

    /// The validation limits this store enforces.
    pub fn limits(&self) -> &ValidationLimits {
        &self.limits
    }

    /// True once [`close`](ChatAppMessageStore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    /// The state for reading; fails when closed or when a writer panicked.
    fn read(&self, operation: &str) -> Result<RwLockReadGuard<'_, State>> {
        self.ensure_open()?;
        let guard = self
            .state
            .read()
            .map_err(|_| StorageError::query(operation, "lock poisoned"))?;
        // `closed` only changes under the write lock, so this answer holds until we release.
        self.ensure_open()?;
        Ok(guard)
    }

    /// The state for writing; fails when closed or when a writer panicked.
    fn write(&self, operation: &str) -> Result<RwLockWriteGuard<'_, State>> {
        self.ensure_open()?;
        let guard = self
            .state
            .write()
            .map_err(|_| StorageError::query(operation, "lock poisoned"))?;
        self.ensure_open()?;
        Ok(guard)
    }

    fn store_one(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.ensure_open()?;
        let now = time::now_micros();
        let row = prepare_message(msg, &self.limits, now)?;
        Ok(self.write("store")?.insert(row, now))
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl ReadOnlyStore for MemoryStore {
    async fn get(&self, message_id: &str) -> Result<ChatAppMessage> {
        self.read("get")?
            .get(message_id)
            .cloned()
            .ok_or_else(|| StorageError::not_found(message_id))
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
        self.ensure_open()?;
        query.validate()?;
        Ok(self.read("list")?.list(query))
    }

    async fn count(&self, query: &MessageQuery) -> Result<u64> {
        self.ensure_open()?;
        query.validate()?;
        Ok(self.read("count")?.count(query))
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        self.ensure_open()?;
        let plan = query.plan()?;
        Ok(self.read("search")?.search(&plan))
    }
}

#[async_trait]
impl WriteOnlyStore for MemoryStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg)
    }

    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg)
    }

    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.ensure_open()?;
        let now = time::now_micros();
        let rows = prepare_batch(msgs, &self.limits, now)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut state = self.write("store_batch")?;
        Ok(rows.into_iter().map(|row| state.insert(row, now)).collect())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn get_session_meta(&self, chat_session_id: &str) -> Result<SessionMeta> {
        self.read("get_session_meta")?
            .meta(chat_session_id)
            .cloned()
            .ok_or_else(|| StorageError::session_not_found(chat_session_id))
    }

    async fn list_user_sessions(&self, platform: &str, user_id: &str) -> Result<Vec<String>> {
        Ok(self
            .read("list_user_sessions")?
            .user_sessions(platform, user_id))
    }

    async fn delete_session(&self, chat_session_id: &str) -> Result<u64> {
        let now = time::now_micros();
        Ok(self
            .write("delete_session")?
            .delete_session(chat_session_id, now))
    }

    async fn purge_session(&self, chat_session_id: &str) -> Result<u64> {
        Ok(self.write("purge_session")?.purge_session(chat_session_id))
    }

    async fn purge_deleted_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        Ok(self
            .write("purge_deleted_before")?
            .purge_deleted_before(cutoff))
    }

    async fn purge_messages_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let now = time::now_micros();
        Ok(self
            .write("purge_messages_before")?
            .purge_messages_before(cutoff, now))
    }
}

#[async_trait]
impl ChatAppMessageStore for MemoryStore {
    async fn initialize(&self) -> Result<()> {
        self.read("initialize").map(drop)
    }

    async fn close(&self) -> Result<()> {
        // Closing must work even after a panic poisoned the lock: the data is dropped anyway.
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.closed.store(true, Ordering::Release);
        state.clear();
        Ok(())
    }

    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> &str {
        crate::VERSION
    }

    async fn health_check(&self) -> HealthCheckResult {
        let started = Instant::now();
        let check = match self.read("health_check") {
            Ok(state) => {
                let counts = state.counts();
                Check {
                    status: CheckStatus::Pass,
                    message: format!(
                        "{} live and {} deleted messages in memory",
                        counts.live, counts.deleted
                    ),
                    latency: started.elapsed(),
                }
            }
            Err(e) => Check {
                status: CheckStatus::Fail,
                message: e.to_string(),
                latency: started.elapsed(),
            },
        };
        let checks = BTreeMap::from([("state".to_owned(), check)]);
        HealthCheckResult::from_checks(checks, started.elapsed())
    }

    async fn metrics(&self) -> Result<StorageMetrics> {
        let counts = self.read("metrics")?.counts();
        Ok(StorageMetrics {
            backend: NAME.to_owned(),
            total_messages: counts.live,
            deleted_messages: counts.deleted,
            total_sessions: counts.sessions,
            storage_size_bytes: counts.bytes,
            uptime: self.started.elapsed(),
            extra: BTreeMap::from([
                ("indexed_sessions".to_owned(), counts.indexed_sessions),
                (
                    "last_seq".to_owned(),
                    u64::try_from(counts.last_seq).unwrap_or(0),
                ),
            ]),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hotplex_storage_core::{CheckStatus, HealthStatus};

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn a_poisoned_lock_is_an_error_not_a_panic() {
        let store = Arc::new(MemoryStore::new());
        block_on(store.store_user_message(&ChatAppMessage::user("s", "c"))).expect("store");
        let poisoner = Arc::clone(&store);
        let joined = std::thread::spawn(move || {
            let _guard = poisoner.state.write().expect("not yet poisoned");
            panic!("poisoning the lock on purpose");
        })
        .join();
        assert!(joined.is_err(), "the helper thread panicked");
        let err = block_on(store.list(&MessageQuery::default())).expect_err("poisoned");
        assert!(err.to_string().contains("lock poisoned"), "{err}");
        assert!(!err.is_transient());
        let err = block_on(store.store_user_message(&ChatAppMessage::user("s", "c")))
            .expect_err("poisoned");
        assert!(err.to_string().contains("lock poisoned"), "{err}");
        let health = block_on(store.health_check());
        assert_eq!(health.status, HealthStatus::Unhealthy);
        assert_eq!(health.checks["state"].status, CheckStatus::Fail);
        block_on(store.close()).expect("close works on a poisoned lock");
        assert!(block_on(store.get("x")).expect_err("closed").is_closed());
    }

    #[test]
    fn custom_limits_are_enforced() {
        let store = MemoryStore::with_limits(ValidationLimits {
            max_content_bytes: 4,
            ..ValidationLimits::default()
        });
        block_on(store.store_user_message(&ChatAppMessage::user("s", "four"))).expect("fits");
        let err = block_on(store.store_batch(&[ChatAppMessage::user("s", "fives")]))
            .expect_err("too long");
        assert!(err.is_invalid_input(), "{err}");
        assert_eq!(
            block_on(store.count(&MessageQuery::default())).expect("count"),
            1
        );
    }

    #[test]
    fn metrics_report_size_and_backend_counters() {
        let store = MemoryStore::default();
        let msg = ChatAppMessage::user("s", "x".repeat(1_000)).with_metadata_entry("k", "v");
        block_on(store.store_user_message(&msg)).expect("store");
        let m = block_on(store.metrics()).expect("metrics");
        assert!(
            m.storage_size_bytes >= 1_000 + 9,
            "content and metadata: {m:?}"
        );
        assert_eq!(m.extra["last_seq"], 1);
        assert_eq!(m.extra["indexed_sessions"], 1);
        assert_eq!(store.version(), env!("CARGO_PKG_VERSION"));
        assert!(!store.is_closed());
        block_on(store.close()).expect("close");
        assert!(store.is_closed());
    }
}
