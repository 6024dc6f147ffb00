//! 100 users talk to the bot at once, each in a thread of their own, with streamed replies.

mod support;

use std::sync::Arc;

use hotplex_storage_chat::{MessageStorePlugin, PluginConfig, format_history};
use hotplex_storage_core::{ChatAppMessageStore, MessageQuery, ReadOnlyStore};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use support::{bot_ctx, meta, quiet_streams, user_ctx};

const USERS: usize = 100;

async fn converse(plugin: Arc<MessageStorePlugin>, user: usize) {
    let (session, user_id) = (format!("thread-{user}"), format!("U{user:03}"));
    let template = bot_ctx(&session, &user_id);
    plugin
        .on_user_message(&user_ctx(
            &session,
            &user_id,
            &format!("question 1 of {user_id}"),
        ))
        .await
        .unwrap();
    // Keyed by the thread: one reply at a time per thread.
    for token in ["answer ", "1 ", "for ", user_id.as_str()] {
        plugin
            .on_stream_chunk(&session, &template, token)
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    plugin
        .on_stream_complete(&session, &template)
        .await
        .unwrap();
    plugin
        .on_user_message(&user_ctx(
            &session,
            &user_id,
            &format!("question 2 of {user_id}"),
        ))
        .await
        .unwrap();
    plugin
        .on_bot_response(
            &template
                .clone()
                .with_content(format!("answer 2 for {user_id}")),
        )
        .await
        .unwrap();
}

async fn hundred_users(store: Arc<dyn ChatAppMessageStore>) {
    let plugin = Arc::new(
        MessageStorePlugin::new(
            support::go_stack(store.clone()),
            PluginConfig::new().with_streaming(quiet_streams()),
        )
        .unwrap(),
    );
    plugin.initialize().await.unwrap();
    let tasks: Vec<_> = (0..USERS)
        .map(|user| tokio::spawn(converse(plugin.clone(), user)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    for user in 0..USERS {
        let (session, user_id) = (format!("thread-{user}"), format!("U{user:03}"));
        let history = plugin.thread_history(&session, 10).await.unwrap();
        let contents: Vec<&str> = history.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            [
                format!("question 1 of {user_id}"),
                format!("answer 1 for {user_id}"),
                format!("question 2 of {user_id}"),
                format!("answer 2 for {user_id}"),
            ],
            "{}",
            format_history(&history)
        );
        assert_eq!(meta(&history[1], "stream_status"), Some("complete"));
        assert!(history.iter().all(|m| m.chat_user_id == user_id));
        assert_eq!(
            plugin.session_meta(&session).await.unwrap().message_count,
            4
        );
        assert_eq!(
            plugin.user_sessions("slack", &user_id).await.unwrap(),
            [session]
        );
    }
    let total = store.count(&MessageQuery::default()).await.unwrap();
    assert_eq!(total, 4 * USERS as u64);
    let metrics = plugin.stream_metrics().unwrap();
    assert_eq!(metrics.active_buffers, 0);
    assert_eq!(metrics.interrupted, 0);
    plugin.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_users_each_get_their_own_thread_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::new(SqliteConfig::new(dir.path().join("chat.db"))).unwrap();
    hundred_users(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_users_each_get_their_own_thread_in_memory() {
    hundred_users(Arc::new(MemoryStore::new())).await;
}
