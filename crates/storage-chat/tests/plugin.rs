//! `MessageStorePlugin` over memory and SQLite: streaming on and off, replies that never
//! complete, strategies, retries, thread history, close.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_chat::{MAX_HISTORY_LIMIT, MessageStorePlugin, PluginConfig};
use hotplex_storage_core::{
    ChatAppMessageStore, DefaultStrategy, MessageQuery, MessageType, ReadOnlyStore, StorageError,
    StorageStrategy, StoreOutcome, VerboseStrategy, strategy_by_name,
};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use hotplex_storage_stream::{RetryConfig, RetryLayer, StreamConfig};
use support::{
    FlakyStore, bot_ctx, fast_retry, layered, memory_plugin, meta, quiet_streams, rows,
    sqlite_plugin, user_ctx,
};

/// `flaky` under the default strategy and `max_attempts` fast retries.
fn retrying(flaky: &Arc<FlakyStore>, max_attempts: u32) -> Arc<dyn ChatAppMessageStore> {
    layered(
        flaky.clone(),
        Some(Arc::new(DefaultStrategy)),
        Some(fast_retry(max_attempts)),
    )
}

fn streaming() -> PluginConfig {
    PluginConfig::new().with_streaming(quiet_streams())
}

fn invalid_field<T: std::fmt::Debug>(result: hotplex_storage_core::Result<T>) -> String {
    match result {
        Err(StorageError::InvalidMessage { field, .. }) => field,
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
}

fn config_key<T: std::fmt::Debug>(result: hotplex_storage_core::Result<T>) -> String {
    match result {
        Err(StorageError::InvalidConfig { key, .. }) => key,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[tokio::test]
async fn streaming_off_stores_user_messages_and_bot_responses_directly() {
    let (store, plugin) = memory_plugin(PluginConfig::new());
    assert!(!plugin.is_streaming());
    let q = plugin
        .on_user_message(&user_ctx("s1", "U1", "What is WAL?"))
        .await
        .unwrap();
    let a = plugin
        .on_bot_response(&bot_ctx("s1", "U1").with_content("A write-ahead log."))
        .await
        .unwrap();
    assert_eq!(
        (q.outcome, a.outcome),
        (StoreOutcome::Stored, StoreOutcome::Stored)
    );

    let stored = rows(store.as_ref(), "s1").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id, q.id);
    assert_eq!(stored[0].from_user_id, "U1");
    assert_eq!(stored[0].message_type, MessageType::USER_INPUT);
    assert_eq!(stored[1].id, a.id);
    assert_eq!(stored[1].from_user_id, "B0BOT");
    assert_eq!(stored[1].to_user_id, "U1");
    assert_eq!(stored[1].content, "A write-ahead log.");
    assert!(
        meta(&stored[1], "stream_status").is_none(),
        "not through the stream buffer"
    );

    // The stream calls need streaming.
    let template = bot_ctx("s1", "U1");
    assert_eq!(
        config_key(plugin.on_stream_chunk("r1", &template, "x").await),
        "streaming"
    );
    assert_eq!(
        config_key(plugin.on_stream_complete("r1", &template).await),
        "streaming"
    );
    assert_eq!(config_key(plugin.on_stream_abort("r1").await), "streaming");
    assert_eq!(plugin.flush_expired().await.unwrap(), 0);
    assert!(plugin.stream_metrics().is_none());
    assert_eq!(rows(store.as_ref(), "s1").await.len(), 2);
}

#[tokio::test]
async fn streaming_on_stores_a_whole_bot_response_at_once_without_merging_a_running_stream() {
    let (store, plugin) = memory_plugin(streaming());
    assert!(plugin.is_streaming());
    let template = bot_ctx("s1", "U1");
    // A stream of the same thread is running (keyed by the session id, as Go did).
    plugin
        .on_stream_chunk("s1", &template, "streamed ")
        .await
        .unwrap();
    plugin
        .on_stream_chunk("s1", &template, "answer")
        .await
        .unwrap();

    let whole = plugin
        .on_bot_response(&bot_ctx("s1", "U1").with_content("one-shot answer"))
        .await
        .unwrap();
    assert_eq!(whole.outcome, StoreOutcome::Stored);
    // Stored now, not when the plugin closes (the Go plugin buffered it and lost it).
    let stored = rows(store.as_ref(), "s1").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, "one-shot answer");
    assert_eq!(stored[0].id, whole.id);
    assert_eq!(plugin.stream_metrics().unwrap().active_buffers, 1);

    let done = plugin.on_stream_complete("s1", &template).await.unwrap();
    let stored = rows(store.as_ref(), "s1").await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].id, done.id);
    assert_eq!(stored[1].content, "streamed answer");
    assert_eq!(plugin.stream_metrics().unwrap().active_buffers, 0);
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn a_streamed_reply_is_stored_as_one_message_of_its_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plugin) = sqlite_plugin(&dir, streaming()).await;
    plugin
        .on_user_message(&user_ctx("s1", "U1", "Explain WAL"))
        .await
        .unwrap();
    let template = bot_ctx("s1", "U1").with_metadata_entry("model", "m1");
    for token in ["Write", "-ahead ", "logging", "."] {
        plugin
            .on_stream_chunk("reply-1", &template, token)
            .await
            .unwrap();
    }
    assert!(
        rows(store.as_ref(), "s1").await.len() == 1,
        "nothing stored before completion"
    );
    let receipt = plugin
        .on_stream_complete("reply-1", &template)
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);

    let stored = rows(store.as_ref(), "s1").await;
    assert_eq!(stored.len(), 2);
    let reply = &stored[1];
    assert_eq!(reply.id, receipt.id);
    assert_eq!(reply.content, "Write-ahead logging.");
    assert_eq!(reply.message_type, MessageType::FINAL_RESPONSE);
    assert_eq!(meta(reply, "stream_status"), Some("complete"));
    assert_eq!(meta(reply, "model"), Some("m1"));
    assert_eq!(reply.from_user_id, "B0BOT");
    assert_eq!(reply.chat_platform, "slack");
    assert_eq!(reply.chat_channel_id, "C0CHAN");
    assert_eq!(reply.provider_session_id, "provider-1");

    // Completing a key with nothing buffered and no content stores nothing.
    assert_eq!(
        invalid_field(plugin.on_stream_complete("reply-1", &template).await),
        "content"
    );
    // A completion with content and no chunks is a whole response.
    let whole = plugin
        .on_stream_complete("reply-2", &template.clone().with_content("whole"))
        .await
        .unwrap();
    assert_eq!(store.get(&whole.id).await.unwrap().content, "whole");
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn a_reply_that_never_completes_is_stored_as_interrupted_when_the_plugin_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, plugin) = sqlite_plugin(&dir, streaming()).await;
    plugin
        .on_user_message(&user_ctx("s1", "U1", "Summarise"))
        .await
        .unwrap();
    let template = bot_ctx("s1", "U1");
    for token in ["The outage ", "began at "] {
        plugin
            .on_stream_chunk("reply-1", &template, token)
            .await
            .unwrap();
    }
    plugin.close().await.unwrap();

    // A later process reads the thread back.
    let reopened = SqliteStore::new(SqliteConfig::new(dir.path().join("chat.db"))).unwrap();
    reopened.initialize().await.unwrap();
    let stored = rows(&reopened, "s1").await;
    assert_eq!(stored.len(), 2);
    let reply = &stored[1];
    assert_eq!(reply.content, "The outage began at ");
    assert_eq!(meta(reply, "stream_status"), Some("interrupted"));
    assert_eq!(meta(reply, "stream_reason"), Some("closed"));
    assert_eq!(
        reply.from_user_id, "B0BOT",
        "stored with the template's fields"
    );
    assert_eq!(reply.chat_platform, "slack");
    reopened.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_never_completes_is_stored_as_interrupted_when_it_expires() {
    let config = PluginConfig::new().with_streaming(StreamConfig {
        timeout: Duration::from_millis(100),
        flush_interval: Duration::from_millis(20),
        ..StreamConfig::default()
    });
    let (store, plugin) = memory_plugin(config);
    let template = bot_ctx("s1", "U1");
    plugin
        .on_stream_chunk("reply-1", &template, "half an ")
        .await
        .unwrap();
    plugin
        .on_stream_chunk("reply-1", &template, "answer")
        .await
        .unwrap();

    // The background flusher stores it; no close, no flush call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stored = loop {
        let stored = rows(store.as_ref(), "s1").await;
        if !stored.is_empty() || tokio::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stored.len(), 1, "the expired reply was not stored");
    assert_eq!(stored[0].content, "half an answer");
    assert_eq!(meta(&stored[0], "stream_status"), Some("interrupted"));
    assert_eq!(meta(&stored[0], "stream_reason"), Some("expired"));
    assert_eq!(stored[0].chat_user_id, "U1");
    let metrics = plugin.stream_metrics().unwrap();
    assert_eq!((metrics.active_buffers, metrics.expired), (0, 1));
    plugin.flush_expired().await.unwrap();
    assert_eq!(rows(store.as_ref(), "s1").await.len(), 1, "stored once");
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn an_aborted_reply_is_stored_as_interrupted() {
    let (store, plugin) = memory_plugin(streaming());
    assert!(
        plugin
            .on_stream_abort("nothing-here")
            .await
            .unwrap()
            .is_none()
    );
    plugin
        .on_stream_chunk("r1", &bot_ctx("s1", "U1"), "partial")
        .await
        .unwrap();
    let receipt = plugin.on_stream_abort("r1").await.unwrap().unwrap();
    let reply = store.get(&receipt.id).await.unwrap();
    assert_eq!(reply.content, "partial");
    assert_eq!(meta(&reply, "stream_reason"), Some("aborted"));
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn wrong_directions_and_invalid_contexts_store_nothing() {
    for config in [PluginConfig::new(), streaming()] {
        let (store, plugin) = memory_plugin(config);
        let answer = bot_ctx("s1", "U1").with_content("x");
        let question = user_ctx("s1", "U1", "q");
        assert_eq!(
            invalid_field(plugin.on_user_message(&answer).await),
            "message_type"
        );
        assert_eq!(
            invalid_field(plugin.on_bot_response(&question).await),
            "message_type"
        );
        assert_eq!(
            invalid_field(
                plugin
                    .on_user_message(&question.clone().with_platform(""))
                    .await
            ),
            "chat_platform"
        );
        assert_eq!(
            invalid_field(
                plugin
                    .on_bot_response(&answer.clone().with_bot_user(""))
                    .await
            ),
            "chat_bot_user_id"
        );
        assert_eq!(
            invalid_field(
                plugin
                    .on_bot_response(&answer.clone().with_content(""))
                    .await
            ),
            "content"
        );
        if plugin.is_streaming() {
            assert_eq!(
                invalid_field(plugin.on_stream_chunk("r1", &question, "x").await),
                "message_type"
            );
            let no_engine = bot_ctx("s1", "U1").with_engine_session(uuid::Uuid::nil());
            assert_eq!(
                invalid_field(plugin.on_stream_chunk("r1", &no_engine, "x").await),
                "engine_session_id"
            );
            assert_eq!(
                invalid_field(plugin.on_stream_chunk("", &bot_ctx("s1", "U1"), "x").await),
                "stream_key"
            );
            assert_eq!(plugin.stream_metrics().unwrap().active_buffers, 0);
        }
        let all = MessageQuery::default();
        assert_eq!(store.count(&all).await.unwrap(), 0);
        plugin.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_strategy_decides_and_says_so() {
    let thinking = bot_ctx("s1", "U1")
        .with_message_type(MessageType::THINKING)
        .with_content("hmm");
    // default: a thinking message is Filtered, visibly, streaming on or off.
    for config in [PluginConfig::new(), streaming()] {
        let (store, plugin) = memory_plugin(config);
        let receipt = plugin.on_bot_response(&thinking).await.unwrap();
        assert_eq!(receipt.outcome, StoreOutcome::Filtered);
        assert!(rows(store.as_ref(), "s1").await.is_empty());
        plugin.close().await.unwrap();
    }
    // verbose, by name or by value, and no strategy layer: stored.
    let strategies: [Option<Arc<dyn StorageStrategy>>; 3] = [
        Some(strategy_by_name("verbose").unwrap()),
        Some(Arc::new(VerboseStrategy)),
        None,
    ];
    for strategy in strategies {
        let store = Arc::new(MemoryStore::new());
        let stack = layered(store.clone(), strategy, Some(RetryConfig::default()));
        let plugin = MessageStorePlugin::new(stack, PluginConfig::new()).unwrap();
        let receipt = plugin.on_bot_response(&thinking).await.unwrap();
        assert_eq!(receipt.outcome, StoreOutcome::Stored);
        assert_eq!(rows(store.as_ref(), "s1").await.len(), 1);
    }
    // minimal drops metadata.
    let store = Arc::new(MemoryStore::new());
    let stack = layered(
        store.clone(),
        Some(strategy_by_name("minimal").unwrap()),
        None,
    );
    let plugin = MessageStorePlugin::new(stack, streaming()).unwrap();
    plugin
        .on_user_message(&user_ctx("s1", "U1", "q"))
        .await
        .unwrap();
    plugin
        .on_stream_chunk("r", &bot_ctx("s1", "U1"), "a")
        .await
        .unwrap();
    plugin
        .on_stream_complete("r", &bot_ctx("s1", "U1"))
        .await
        .unwrap();
    let stored = rows(store.as_ref(), "s1").await;
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|m| m.metadata.is_empty()), "{stored:?}");
    plugin.close().await.unwrap();
}

#[test]
fn configurations_are_validated_with_the_offending_key() {
    assert!(matches!(
        strategy_by_name("debug"),
        Err(StorageError::UnsupportedType { .. })
    ));
    let no_attempts = RetryConfig {
        max_attempts: 0,
        ..RetryConfig::default()
    };
    assert_eq!(
        config_key(RetryLayer::new(no_attempts)),
        "retry.max_attempts"
    );
    let no_buffers = StreamConfig {
        max_buffers: 0,
        ..StreamConfig::default()
    };
    let bad = PluginConfig::new().with_streaming(no_buffers);
    assert_eq!(config_key(bad.validate()), "streaming.max_buffers");
    // new() validates a configuration built field by field too.
    let store: Arc<dyn ChatAppMessageStore> = Arc::new(MemoryStore::new());
    assert_eq!(
        config_key(MessageStorePlugin::new(store, bad)),
        "streaming.max_buffers"
    );
    let defaults = PluginConfig::default();
    assert!(defaults.streaming.is_none());
    assert_eq!(defaults, PluginConfig::new().without_streaming());
}

#[tokio::test]
async fn transient_failures_are_retried_once_configured_and_reported_otherwise() {
    // Retries on: two transient failures, then success; stored once.
    let flaky = FlakyStore::failing(2);
    let plugin = MessageStorePlugin::new(retrying(&flaky, 3), PluginConfig::new()).unwrap();
    plugin
        .on_user_message(&user_ctx("s1", "U1", "q"))
        .await
        .unwrap();
    plugin
        .on_bot_response(&bot_ctx("s1", "U1").with_content("a"))
        .await
        .unwrap();
    assert_eq!(rows(flaky.as_ref(), "s1").await.len(), 2);

    // Attempts used up: RetryExhausted, nothing stored.
    let flaky = FlakyStore::failing(5);
    let plugin = MessageStorePlugin::new(retrying(&flaky, 3), PluginConfig::new()).unwrap();
    match plugin.on_user_message(&user_ctx("s1", "U1", "q")).await {
        Err(StorageError::RetryExhausted { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("expected RetryExhausted, got {other:?}"),
    }
    assert!(rows(flaky.as_ref(), "s1").await.is_empty());

    // Retries off: the first transient error is the caller's.
    let flaky = FlakyStore::failing(1);
    let plugin = MessageStorePlugin::new(flaky.clone(), PluginConfig::new()).unwrap();
    let err = plugin
        .on_user_message(&user_ctx("s1", "U1", "q"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    plugin
        .on_user_message(&user_ctx("s1", "U1", "q"))
        .await
        .unwrap();
    assert_eq!(rows(flaky.as_ref(), "s1").await.len(), 1);

    // Streaming on: a completion retried through the RetryStore is stored once.
    let flaky = FlakyStore::failing(0);
    let plugin = MessageStorePlugin::new(retrying(&flaky, 3), streaming()).unwrap();
    plugin
        .on_stream_chunk("r", &bot_ctx("s1", "U1"), "streamed")
        .await
        .unwrap();
    flaky.failures.store(2, std::sync::atomic::Ordering::SeqCst);
    plugin
        .on_stream_complete("r", &bot_ctx("s1", "U1"))
        .await
        .unwrap();
    let stored = rows(flaky.as_ref(), "s1").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content, "streamed");
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn thread_history_is_the_newest_messages_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, plugin) = sqlite_plugin(&dir, streaming()).await;
    for turn in 0..4 {
        plugin
            .on_user_message(&user_ctx("s1", "U1", &format!("q{turn}")))
            .await
            .unwrap();
        plugin
            .on_stream_chunk("r", &bot_ctx("s1", "U1"), &format!("a{turn}"))
            .await
            .unwrap();
        plugin
            .on_stream_complete("r", &bot_ctx("s1", "U1"))
            .await
            .unwrap();
        // Another thread's messages in between.
        plugin
            .on_user_message(&user_ctx("s2", "U2", "other"))
            .await
            .unwrap();
    }
    let contents = |msgs: Vec<hotplex_storage_core::ChatAppMessage>| {
        msgs.into_iter().map(|m| m.content).collect::<Vec<_>>()
    };
    let all = ["q0", "a0", "q1", "a1", "q2", "a2", "q3", "a3"];
    assert_eq!(
        contents(plugin.thread_history("s1", 100).await.unwrap()),
        all
    );
    assert_eq!(contents(plugin.thread_history("s1", 8).await.unwrap()), all);
    assert_eq!(
        contents(plugin.thread_history("s1", 3).await.unwrap()),
        ["a2", "q3", "a3"]
    );
    assert_eq!(
        contents(plugin.thread_history("s1", 1).await.unwrap()),
        ["a3"]
    );
    assert_eq!(
        plugin
            .thread_history("s1", MAX_HISTORY_LIMIT)
            .await
            .unwrap()
            .len(),
        8
    );
    assert!(
        plugin
            .thread_history("nobody", 10)
            .await
            .unwrap()
            .is_empty()
    );
    for (session, limit) in [("s1", 0), ("s1", MAX_HISTORY_LIMIT + 1), ("", 10)] {
        assert!(
            matches!(
                plugin.thread_history(session, limit).await,
                Err(StorageError::InvalidQuery { .. })
            ),
            "{session:?} {limit}"
        );
    }
    let meta = plugin.session_meta("s1").await.unwrap();
    assert_eq!(meta.message_count, 8);
    assert_eq!(meta.chat_user_id, "U1");
    assert!(
        plugin
            .session_meta("nobody")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(plugin.user_sessions("slack", "U2").await.unwrap(), ["s2"]);
    plugin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_calls_in_flight_and_then_refuses_new_ones() {
    let flaky = FlakyStore::failing(0);
    let plugin = Arc::new(MessageStorePlugin::new(flaky.clone(), PluginConfig::new()).unwrap());
    let held = flaky.block.lock().await;
    let writing = tokio::spawn({
        let plugin = plugin.clone();
        async move {
            plugin
                .on_user_message(&user_ctx("s1", "U1", "in flight"))
                .await
        }
    });
    // Wait until the write is inside the store, blocked there.
    while flaky.entered.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let closing = tokio::spawn({
        let plugin = plugin.clone();
        async move { plugin.close().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !closing.is_finished(),
        "close returned while a write was in flight"
    );
    drop(held);
    let landed = writing.await.unwrap().unwrap();
    assert_eq!(
        landed.outcome,
        StoreOutcome::Stored,
        "the write in flight landed"
    );
    closing.await.unwrap().unwrap();

    assert!(matches!(
        plugin.on_user_message(&user_ctx("s1", "U1", "late")).await,
        Err(StorageError::Closed)
    ));
    assert!(
        plugin
            .thread_history("s1", 10)
            .await
            .unwrap_err()
            .is_closed()
    );
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn calls_after_close_fail_with_closed_before_their_input_is_checked() {
    let (_store, plugin) = memory_plugin(streaming());
    plugin.close().await.unwrap();
    let bad = bot_ctx("", "");
    assert!(plugin.on_user_message(&bad).await.unwrap_err().is_closed());
    assert!(plugin.on_bot_response(&bad).await.unwrap_err().is_closed());
    assert!(
        plugin
            .on_stream_chunk("", &bad, "x")
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(
        plugin
            .on_stream_complete("", &bad)
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(plugin.on_stream_abort("").await.unwrap_err().is_closed());
    assert!(plugin.flush_expired().await.unwrap_err().is_closed());
    plugin.close().await.unwrap();
}

#[tokio::test]
async fn a_close_that_cannot_store_the_unfinished_streams_keeps_the_store_open_for_another() {
    let flaky = FlakyStore::failing(0);
    let plugin = MessageStorePlugin::new(flaky.clone(), streaming()).unwrap();
    plugin
        .on_stream_chunk("r1", &bot_ctx("s1", "U1"), "kept")
        .await
        .unwrap();

    flaky
        .failures
        .store(1_000, std::sync::atomic::Ordering::SeqCst);
    let err = plugin.close().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // Closed to callers, but the store is open and the stream still buffered.
    assert!(
        plugin
            .on_user_message(&user_ctx("s1", "U1", "q"))
            .await
            .unwrap_err()
            .is_closed()
    );
    assert_eq!(plugin.stream_metrics().unwrap().active_buffers, 1);
    assert!(
        rows(flaky.as_ref(), "s1").await.is_empty(),
        "store still open, nothing stored"
    );

    flaky.failures.store(0, std::sync::atomic::Ordering::SeqCst);
    plugin.close().await.unwrap();
    let metrics = plugin.stream_metrics().unwrap();
    assert_eq!(metrics.active_buffers, 0);
    assert_eq!(
        metrics.interrupted, 1,
        "the buffered stream was stored by the second close"
    );
    // Now the store is closed too.
    assert!(
        flaky
            .inner
            .list(&MessageQuery::default())
            .await
            .unwrap_err()
            .is_closed()
    );
}

/// Counts the messages it lets through.
#[derive(Default)]
struct Counting {
    calls: std::sync::atomic::AtomicU32,
}

impl StorageStrategy for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn should_store(&self, _msg: &hotplex_storage_core::ChatAppMessage) -> bool {
        true
    }
    fn before_store(
        &self,
        _msg: &mut hotplex_storage_core::ChatAppMessage,
    ) -> hotplex_storage_core::Result<()> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn the_plugin_adds_no_layer_of_its_own_so_each_applies_once() {
    use std::sync::atomic::Ordering::SeqCst;
    for config in [PluginConfig::new(), streaming()] {
        // A stack with one strategy and 3 attempts, over a store failing 5 times: the plugin
        // adding its own retry layer would make it 9 attempts (and succeed), its own strategy
        // would run a second set of hooks.
        let flaky = FlakyStore::failing(5);
        let counting = Arc::new(Counting::default());
        let stack = layered(flaky.clone(), Some(counting.clone()), Some(fast_retry(3)));
        let plugin = MessageStorePlugin::new(stack, config).unwrap();
        match plugin.on_user_message(&user_ctx("s1", "U1", "q")).await {
            Err(StorageError::RetryExhausted { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("expected RetryExhausted, got {other:?}"),
        }
        assert_eq!(flaky.entered.load(SeqCst), 3);
        // The strategy is inside the retry layer: once per attempt, never twice.
        assert_eq!(counting.calls.load(SeqCst), 3);
        // A thinking message the default strategy would filter is stored: no default
        // strategy was added by the plugin.
        flaky.failures.store(0, SeqCst);
        let thinking = bot_ctx("s1", "U1")
            .with_message_type(MessageType::THINKING)
            .with_content("hmm");
        let receipt = plugin.on_bot_response(&thinking).await.unwrap();
        assert_eq!(receipt.outcome, StoreOutcome::Stored);
        assert_eq!(counting.calls.load(SeqCst), 4);
        plugin.close().await.unwrap();
    }
}
