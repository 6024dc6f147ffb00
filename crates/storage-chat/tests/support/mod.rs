//! Test helpers: contexts of a thread, plugins over memory and SQLite, and a store wrapper that
//! fails or blocks writes on demand.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test crate that includes this module uses a different part of it"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hotplex_storage_chat::{MessageContext, MessageStorePlugin, PluginConfig};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, DefaultStrategy, MessageQuery, ReadOnlyStore, Result,
    StorageError, StorageStrategy, StoreReceipt, StoreStack, StrategyLayer, WriteOnlyStore,
};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use hotplex_storage_stream::{RetryConfig, RetryLayer, StreamConfig};
use uuid::Uuid;

/// A user message of the thread `session` from `user`, every required field set.
pub fn user_ctx(session: &str, user: &str, content: &str) -> MessageContext {
    thread(session, user).with_content(content)
}

/// The bot's side of the thread `session` (a `final_response` without content: a stream
/// template; add content for a whole response).
pub fn bot_ctx(session: &str, user: &str) -> MessageContext {
    thread(session, user).with_message_type(hotplex_storage_core::MessageType::FINAL_RESPONSE)
}

fn thread(session: &str, user: &str) -> MessageContext {
    MessageContext::user_input("")
        .with_session(session)
        .with_platform("slack")
        .with_user(user)
        .with_bot_user("B0BOT")
        .with_channel("C0CHAN")
        .with_thread("1700000000.000100")
        .with_engine_session(Uuid::from_u128(0x1234))
        .with_engine_namespace("hotplex")
        .with_provider("claude-code", "provider-1")
        .with_metadata_entry("client", "test")
}

/// Streams that never expire unless a test says so.
pub fn quiet_streams() -> StreamConfig {
    StreamConfig {
        timeout: Duration::from_hours(24),
        flush_interval: Duration::from_hours(24),
        ..StreamConfig::default()
    }
}

/// Retries without jitter and with 1 ms delays.
pub fn fast_retry(max_attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        jitter: false,
        ..RetryConfig::default()
    }
}

/// `store` under a strategy layer and a retry layer, each when given.
pub fn layered(
    store: Arc<dyn ChatAppMessageStore>,
    strategy: Option<Arc<dyn StorageStrategy>>,
    retry: Option<RetryConfig>,
) -> Arc<dyn ChatAppMessageStore> {
    let mut stack = StoreStack::new();
    if let Some(strategy) = strategy {
        stack = stack.layer(StrategyLayer::new(strategy));
    }
    if let Some(retry) = retry {
        stack = stack.layer(RetryLayer::new(retry).unwrap());
    }
    stack.build(store).unwrap()
}

/// The Go plugin's layers over `store` (strategy `default`, retries on), as
/// `hotplex_storage_registry::stack` builds them from a default configuration.
pub fn go_stack(store: Arc<dyn ChatAppMessageStore>) -> Arc<dyn ChatAppMessageStore> {
    layered(
        store,
        Some(Arc::new(DefaultStrategy)),
        Some(RetryConfig::default()),
    )
}

/// A plugin over the Go plugin's layers over a fresh memory store; returns the store too.
pub fn memory_plugin(config: PluginConfig) -> (Arc<MemoryStore>, MessageStorePlugin) {
    let store = Arc::new(MemoryStore::new());
    let plugin = MessageStorePlugin::new(go_stack(store.clone()), config).unwrap();
    (store, plugin)
}

/// A plugin over the Go plugin's layers over an initialized SQLite file in `dir`.
pub async fn sqlite_plugin(
    dir: &tempfile::TempDir,
    config: PluginConfig,
) -> (Arc<SqliteStore>, MessageStorePlugin) {
    let store = Arc::new(SqliteStore::new(SqliteConfig::new(dir.path().join("chat.db"))).unwrap());
    let plugin = MessageStorePlugin::new(go_stack(store.clone()), config).unwrap();
    plugin.initialize().await.unwrap();
    (store, plugin)
}

/// `metadata[key]` as a string.
pub fn meta<'m>(msg: &'m ChatAppMessage, key: &str) -> Option<&'m str> {
    msg.metadata.get(key).and_then(|v| v.as_str())
}

/// Every live message of `session`, oldest first.
pub async fn rows(store: &dyn ReadOnlyStore, session: &str) -> Vec<ChatAppMessage> {
    store
        .list(&MessageQuery::for_session(session).with_ascending(true))
        .await
        .unwrap()
}

/// A memory store whose writes fail with a transient connection error while `failures` is
/// above zero (before writing anything), and wait while `block` is held.
/// (The tests reading through `inner` do so before the plugin closes it.)
#[derive(Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub failures: AtomicU32,
    /// Writes that reached the store (counted before waiting for `block`).
    pub entered: AtomicU32,
    pub block: tokio::sync::Mutex<()>,
}

impl FlakyStore {
    pub fn failing(times: u32) -> Arc<Self> {
        let store = Self::default();
        store.failures.store(times, Ordering::SeqCst);
        Arc::new(store)
    }

    async fn gate(&self) -> Result<()> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _held = self.block.lock().await;
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(StorageError::connection("injected: connection reset"));
        }
        Ok(())
    }
}

hotplex_storage_core::delegate_store!([] ReadOnlyStore for FlakyStore => field inner);

#[async_trait]
impl WriteOnlyStore for FlakyStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.gate().await?;
        self.inner.store_user_message(msg).await
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.gate().await?;
        self.inner.store_bot_response(msg).await
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.gate().await?;
        self.inner.store_batch(msgs).await
    }
}

hotplex_storage_core::delegate_store!([] SessionStore for FlakyStore => field inner);
hotplex_storage_core::delegate_store!([] ChatAppMessageStore for FlakyStore => field inner);
