//! `MessageStorePlugin::from_config`: the plugin over the store a `StorageConfig` describes.

mod support;

use hotplex_storage_chat::MessageStorePlugin;
use hotplex_storage_core::{ChatAppMessageStore, MessageQuery, ReadOnlyStore, StorageError};
use hotplex_storage_registry::StorageConfig;
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use support::{bot_ctx, user_ctx};

fn config(path: &std::path::Path, streaming: bool) -> StorageConfig {
    let yaml = format!(
        "message_store:\n  type: sqlite\n  sqlite:\n    path: {}\n  streaming:\n    enabled: {streaming}\n    timeout: 5m\n",
        path.display()
    );
    StorageConfig::from_yaml_str(&yaml).unwrap()
}

#[tokio::test]
async fn with_streaming_an_unfinished_reply_is_stored_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let plugin = MessageStorePlugin::from_config(&config(&db, true))
        .await
        .unwrap();
    plugin
        .on_user_message(&user_ctx("s1", "U1", "hello"))
        .await
        .unwrap();
    let template = bot_ctx("s1", "U1");
    for token in ["Hi ", "there"] {
        plugin
            .on_stream_chunk("r1", &template, token)
            .await
            .unwrap();
    }
    plugin.close().await.unwrap();
    let reopened = SqliteStore::new(SqliteConfig::new(&db)).unwrap();
    reopened.initialize().await.unwrap();
    let rows = reopened
        .list(&MessageQuery::for_session("s1").with_ascending(true))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1].content, "Hi there");
    assert_eq!(rows[1].metadata["stream_status"], "interrupted");
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn without_streaming_replies_are_stored_directly_and_chunks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let plugin = MessageStorePlugin::from_config(&config(&db, false))
        .await
        .unwrap();
    plugin
        .on_bot_response(&bot_ctx("s1", "U1").with_content("done"))
        .await
        .unwrap();
    let err = plugin
        .on_stream_chunk("r1", &bot_ctx("s1", "U1"), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::InvalidConfig { key, .. } if key == "streaming"),
        "{err:?}"
    );
    let history = plugin.thread_history("s1", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].content, "done");
    plugin.close().await.unwrap();
}
