//! [`MessageStorePlugin`]: what a chat adapter calls to store a conversation — user messages,
//! bot responses, token streams — and to read a thread back.

use std::sync::Arc;

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, MessageType, Result, SessionMeta,
    StorageError, StoreReceipt, WriteOnlyStore,
};
use hotplex_storage_stream::{StreamMessageStore, StreamMetrics};
use tokio::sync::{RwLock, RwLockReadGuard};
use uuid::Uuid;

use crate::{MessageContext, MessageTransformer, PluginConfig};

/// The largest `limit` [`MessageStorePlugin::thread_history`] accepts.
pub const MAX_HISTORY_LIMIT: usize = 10_000;

/// The chat-app layer over a [`ChatAppMessageStore`]: chat adapters call it with
/// [`MessageContext`]s; it validates them, turns them into messages
/// ([`MessageTransformer`]) and stores them through the store stack it is given (strategy and
/// retry are layers of that stack: `hotplex_storage_registry::open`, or a
/// [`StoreStack`](hotplex_storage_core::StoreStack)), bot responses through a
/// [`StreamMessageStore`] when streaming is on. The plugin adds only that stream buffer.
///
/// Guarantees (a table in `docs/chat.md`): nothing is filtered or refused silently (a
/// `Filtered` receipt or a typed error); with streaming on, every accepted chunk is stored —
/// as the completed reply, or marked interrupted when the reply is aborted, expires or the
/// plugin is closed; [`close`](Self::close) waits for the calls in flight, stores the
/// unfinished streams and then closes the store.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use hotplex_storage_chat::{MessageContext, MessageStorePlugin, PluginConfig};
/// use hotplex_storage_core::{DefaultStrategy, MessageType, StoreStack, StrategyLayer};
/// use hotplex_storage_memory::MemoryStore;
/// use hotplex_storage_stream::{RetryConfig, RetryLayer, StreamConfig};
/// let stack = StoreStack::new()
///     .layer(StrategyLayer::new(Arc::new(DefaultStrategy)))
///     .layer(RetryLayer::new(RetryConfig::default())?)
///     .build(Arc::new(MemoryStore::new()))?;
/// let plugin =
///     MessageStorePlugin::new(stack, PluginConfig::new().with_streaming(StreamConfig::default()))?;
/// let thread = MessageContext::final_response("")
///     .with_session("thread-1").with_platform("slack").with_user("U1").with_bot_user("B1")
///     .with_engine_session(uuid::Uuid::new_v4()).with_provider("claude-code", "p-1");
/// let question = thread.clone().with_message_type(MessageType::USER_INPUT).with_content("Hi?");
/// plugin.on_user_message(&question).await?;
/// for token in ["Hel", "lo!"] {
///     plugin.on_stream_chunk("reply-1", &thread, token).await?;
/// }
/// plugin.on_stream_complete("reply-1", &thread).await?;
/// let history = plugin.thread_history("thread-1", 10).await?;
/// assert_eq!(history[1].content, "Hello!");
/// plugin.close().await?;
/// # Ok::<(), hotplex_storage_core::StorageError>(()) }).unwrap();
/// ```
pub struct MessageStorePlugin {
    store: Arc<dyn ChatAppMessageStore>,
    streams: Option<StreamMessageStore>,
    config: PluginConfig,
    /// `true` once closed. Every write call holds a read guard while it runs, so `close`
    /// (which takes the write guard) waits for them.
    closed: RwLock<bool>,
}

impl std::fmt::Debug for MessageStorePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStorePlugin")
            .field("store", &self.store.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MessageStorePlugin {
    /// A plugin storing into `store` (initialized or not: see
    /// [`initialize`](Self::initialize)). Validates `config`; does no I/O. With streaming on
    /// it must be called inside a Tokio runtime for expired streams to be flushed in the
    /// background from the start (otherwise the flusher starts with the first chunk).
    pub fn new(store: Arc<dyn ChatAppMessageStore>, config: PluginConfig) -> Result<Self> {
        config.validate()?;
        let streams = config
            .streaming
            .clone()
            .map(|streaming| {
                let writer: Arc<dyn WriteOnlyStore> = store.clone();
                StreamMessageStore::new(writer, streaming)
            })
            .transpose()?;
        Ok(Self {
            store,
            streams,
            config,
            closed: RwLock::new(false),
        })
    }

    /// Creates or migrates the store's schema (idempotent): the store's `initialize`.
    pub async fn initialize(&self) -> Result<()> {
        self.store.initialize().await
    }

    /// The configuration in force.
    pub fn config(&self) -> &PluginConfig {
        &self.config
    }

    /// The store, for reads the plugin does not wrap (`list`, `search`, `count`, …).
    pub fn store(&self) -> &Arc<dyn ChatAppMessageStore> {
        &self.store
    }

    /// True when bot responses go through the stream buffer.
    pub fn is_streaming(&self) -> bool {
        self.streams.is_some()
    }

    /// Stores a `user_input` message, from the user, through the store stack.
    ///
    /// Errors: `Closed` after [`close`](Self::close); `InvalidMessage` naming the field when
    /// `ctx` is not a `user_input` ([`on_bot_response`](Self::on_bot_response) takes the
    /// others) or fails [`MessageContext::validate`]; the store's error otherwise.
    pub async fn on_user_message(&self, ctx: &MessageContext) -> Result<StoreReceipt> {
        let _open = self.enter().await?;
        if !ctx.is_from_user() {
            return Err(wrong_type(
                ctx,
                "on_user_message takes user_input; use on_bot_response",
            ));
        }
        ctx.validate()?;
        let msg = MessageTransformer::to_storage_message(ctx);
        self.store.store_user_message(&msg).await
    }

    /// Stores a whole bot response (any type but `user_input`), from the bot user. With
    /// streaming on it goes through the stream buffer as a one-shot completion (under a key of
    /// its own, so it never merges with a running stream), otherwise straight through
    /// the store stack. A type its strategy declines yields a `Filtered` receipt.
    ///
    /// Errors as for [`on_user_message`](Self::on_user_message).
    pub async fn on_bot_response(&self, ctx: &MessageContext) -> Result<StoreReceipt> {
        let _open = self.enter().await?;
        if ctx.is_from_user() {
            return Err(wrong_type(
                ctx,
                "on_bot_response takes bot messages; use on_user_message",
            ));
        }
        ctx.validate()?;
        let msg = MessageTransformer::to_storage_message(ctx);
        match &self.streams {
            Some(streams) => {
                let key = format!("response:{}", Uuid::new_v4());
                streams.on_stream_complete(&key, &msg).await
            }
            None => self.store.store_bot_response(&msg).await,
        }
    }

    /// Accepts the next `chunk` of the streamed reply `key` (opaque: a per-response id, or
    /// the chat session id when a thread has one reply at a time). `ctx` is the reply's
    /// template (its content is ignored): every row of the stream carries its session fields,
    /// so a reply that never completes is still stored in its thread, marked interrupted.
    ///
    /// Errors: `Closed`; `InvalidConfig` (key `streaming`) when streaming is off;
    /// `InvalidMessage` for a `user_input` or invalid template
    /// ([`MessageContext::validate_template`]), a bad key (field `stream_key`) or a chunk with
    /// NUL; the stream store's errors (capacity, a failed write) — see `docs/chat.md`.
    pub async fn on_stream_chunk(
        &self,
        key: &str,
        ctx: &MessageContext,
        chunk: &str,
    ) -> Result<()> {
        let _open = self.enter().await?;
        let streams = self.streams()?;
        let template = stream_template(ctx)?;
        streams.on_stream_chunk_with(key, chunk, &template).await
    }

    /// Ends the streamed reply `key` and stores it as one message: `ctx` with the chunks
    /// merged in order as its content (marked `stream_status = "complete"`). With no chunk
    /// buffered for `key`, `ctx` is stored as a whole response if it has content, else
    /// `InvalidMessage` (field `content`): never an empty row. On failure the chunks stay
    /// buffered: call again, abort, or let the stream expire.
    ///
    /// Errors as for [`on_stream_chunk`](Self::on_stream_chunk).
    pub async fn on_stream_complete(
        &self,
        key: &str,
        ctx: &MessageContext,
    ) -> Result<StoreReceipt> {
        let _open = self.enter().await?;
        let streams = self.streams()?;
        let mut template = stream_template(ctx)?;
        template.content.clone_from(&ctx.message().content);
        streams.on_stream_complete(key, &template).await
    }

    /// Ends the streamed reply `key` without completion: its chunks are stored as one message
    /// marked interrupted (`stream_reason = "aborted"`). `Ok(None)` when nothing is buffered
    /// for `key`.
    pub async fn on_stream_abort(&self, key: &str) -> Result<Option<StoreReceipt>> {
        let _open = self.enter().await?;
        self.streams()?.on_stream_abort(key).await
    }

    /// Stores every stream idle for longer than `streaming.timeout` as interrupted
    /// (`stream_reason = "expired"`) and returns how many were stored; the background
    /// flusher does this every `streaming.flush_interval`. `Ok(0)` with streaming off.
    pub async fn flush_expired(&self) -> Result<usize> {
        let _open = self.enter().await?;
        match &self.streams {
            Some(streams) => streams.flush_expired().await,
            None => Ok(0),
        }
    }

    /// The stream buffer's counters; `None` with streaming off.
    pub fn stream_metrics(&self) -> Option<StreamMetrics> {
        self.streams.as_ref().map(StreamMessageStore::metrics)
    }

    /// The newest `limit` live messages of the thread `chat_session_id`, oldest first (the
    /// order to show or to feed to a model). Replies still streaming are not included.
    ///
    /// Errors: `InvalidQuery` for an empty session id or a `limit` of 0 or above
    /// [`MAX_HISTORY_LIMIT`]; `Closed` after [`close`](Self::close).
    pub async fn thread_history(
        &self,
        chat_session_id: &str,
        limit: usize,
    ) -> Result<Vec<ChatAppMessage>> {
        if chat_session_id.is_empty() {
            return Err(StorageError::invalid_query("chat_session_id is required"));
        }
        if limit == 0 || limit > MAX_HISTORY_LIMIT {
            return Err(StorageError::invalid_query(format!(
                "limit {limit} is not between 1 and {MAX_HISTORY_LIMIT}"
            )));
        }
        let query = MessageQuery::for_session(chat_session_id)
            .with_ascending(false)
            .with_limit(limit);
        let mut newest_first = self.store.list(&query).await?;
        newest_first.reverse();
        Ok(newest_first)
    }

    /// The thread's [`SessionMeta`] (`SessionNotFound` when it has no live message).
    pub async fn session_meta(&self, chat_session_id: &str) -> Result<SessionMeta> {
        self.store.get_session_meta(chat_session_id).await
    }

    /// The chat session ids of `user_id` on `platform`, most recent first.
    pub async fn user_sessions(&self, platform: &str, user_id: &str) -> Result<Vec<String>> {
        self.store.list_user_sessions(platform, user_id).await
    }

    /// Waits for the calls in flight, stores every unfinished stream as interrupted
    /// (`stream_reason = "closed"`), waits for those writes, then closes the store. Later
    /// calls fail with `Closed`.
    ///
    /// If storing the unfinished streams fails, the store is left open (the streams stay in
    /// memory) and the error is returned: call `close` again. Idempotent otherwise.
    pub async fn close(&self) -> Result<()> {
        let mut closed = self.closed.write().await;
        *closed = true;
        if let Some(streams) = &self.streams {
            streams.close().await?;
        }
        self.store.close().await
    }

    /// A read guard on the open state: `Closed` once [`close`](Self::close) started.
    async fn enter(&self) -> Result<RwLockReadGuard<'_, bool>> {
        let open = self.closed.read().await;
        if *open {
            return Err(StorageError::Closed);
        }
        Ok(open)
    }

    fn streams(&self) -> Result<&StreamMessageStore> {
        self.streams.as_ref().ok_or_else(|| {
            StorageError::invalid_config(
                "streaming",
                "streaming is off for this plugin: store whole replies with on_bot_response, \
                 or configure streaming",
            )
        })
    }
}

/// The stream template of `ctx`: a bot message, checked without content, stored without it.
fn stream_template(ctx: &MessageContext) -> Result<ChatAppMessage> {
    if ctx.is_from_user() {
        return Err(wrong_type(
            ctx,
            "a streamed reply comes from the bot, not user_input",
        ));
    }
    ctx.validate_template()?;
    let mut template = MessageTransformer::to_storage_message(ctx);
    template.content.clear();
    Ok(template)
}

fn wrong_type(ctx: &MessageContext, reason: &str) -> StorageError {
    let found = if ctx.message().message_type == MessageType::default() {
        "empty".to_owned()
    } else {
        format!("{:?}", ctx.message().message_type.as_str())
    };
    StorageError::invalid_message("message_type", format!("{reason} (got {found})"))
}
