//! Lifecycle: initialize, close, health, metrics, name and version.

use chrono::Utc;
use hotplex_storage_core::{ChatAppMessage, HealthStatus, MessageQuery, StorageError};

use super::support::{
    Store, count, delete_session, get, imported_deleted, put_each, put_new, timed,
};

fn assert_closed<T: std::fmt::Debug>(result: Result<T, StorageError>, op: &str) {
    match result {
        Err(e) if e.is_closed() => assert!(!e.is_transient(), "Closed is not transient"),
        other => panic!("{op} after close must fail with Closed, got {other:?}"),
    }
}

/// `close` is idempotent; afterwards every operation fails with `Closed`.
pub async fn close_then_every_call_fails(store: Store) {
    let id = put_new(&store, &timed("s", "c", 1)).await;
    store.close().await.expect("first close");
    store.close().await.expect("second close is Ok too");
    assert_closed(store.get(&id).await, "get");
    assert_closed(store.list(&MessageQuery::default()).await, "list");
    assert_closed(store.count(&MessageQuery::default()).await, "count");
    let msg = ChatAppMessage::user("s", "late");
    assert_closed(store.store_user_message(&msg).await, "store_user_message");
    assert_closed(store.store_bot_response(&msg).await, "store_bot_response");
    assert_closed(
        store.store_batch(std::slice::from_ref(&msg)).await,
        "store_batch",
    );
    assert_closed(store.get_session_meta("s").await, "get_session_meta");
    assert_closed(
        store.list_user_sessions("slack", "U1").await,
        "list_user_sessions",
    );
    assert_closed(store.delete_session("s").await, "delete_session");
    assert_closed(store.purge_session("s").await, "purge_session");
    assert_closed(
        store.purge_deleted_before(Utc::now()).await,
        "purge_deleted_before",
    );
    assert_closed(store.metrics().await, "metrics");
    assert_closed(store.initialize().await, "initialize");
    store
        .close()
        .await
        .expect("close after everything is still Ok");
}

/// A closed store answers `Closed` before it looks at the input: an invalid message, an
/// invalid batch or an invalid query given to a closed store is `Closed`, not
/// `InvalidMessage` / `InvalidQuery`, on every backend.
pub async fn closed_store_answers_closed_before_validating_input(store: Store) {
    let invalid_msg = ChatAppMessage::user("", "no session id");
    let valid_msg = ChatAppMessage::user("s", "fine");
    let mut nul = ChatAppMessage::user("s", "nul \0 in content");
    nul.chat_platform = "slack".into();
    let invalid_batch = [valid_msg, nul];
    let invalid_query = MessageQuery {
        start_time: Some(Utc::now()),
        end_time: Some(Utc::now() - chrono::Duration::seconds(60)),
        ..MessageQuery::default()
    };
    // While open, each input is rejected as invalid: the precedence below is what is tested.
    let invalid = |result: Result<_, StorageError>, op: &str| match result {
        Err(e) if e.is_invalid_input() => {}
        other => panic!("{op} on an open store must be rejected as invalid, got {other:?}"),
    };
    invalid(
        store.store_user_message(&invalid_msg).await.map(drop),
        "store_user_message(empty session id)",
    );
    invalid(
        store.store_batch(&invalid_batch).await.map(drop),
        "store_batch(with a NUL in content)",
    );
    invalid(
        store.list(&invalid_query).await.map(drop),
        "list(start_time > end_time)",
    );
    store.close().await.expect("close");
    assert_closed(
        store.store_user_message(&invalid_msg).await,
        "store_user_message of an invalid message",
    );
    assert_closed(
        store.store_bot_response(&invalid_msg).await,
        "store_bot_response of an invalid message",
    );
    assert_closed(
        store.store_batch(&invalid_batch).await,
        "store_batch of an invalid batch",
    );
    assert_closed(store.list(&invalid_query).await, "list of an invalid query");
    assert_closed(
        store.count(&invalid_query).await,
        "count of an invalid query",
    );
}

/// A closed store reports itself unhealthy.
pub async fn closed_store_is_unhealthy(store: Store) {
    store.close().await.expect("close");
    let health = store.health_check().await;
    assert_eq!(health.status, HealthStatus::Unhealthy, "{health:?}");
    assert!(!health.is_healthy());
}

/// An open store reports itself healthy.
pub async fn health_check_healthy_when_open(store: Store) {
    put_new(&store, &timed("s", "c", 1)).await;
    let health = store.health_check().await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health:?}");
    assert!(health.timestamp <= Utc::now() + chrono::Duration::seconds(60));
}

/// `metrics` counts live messages, soft-deleted messages and sessions with a meta, names
/// the backend, and reports a non-zero size once data is stored.
pub async fn metrics_counts(store: Store) {
    let empty = store.metrics().await.expect("metrics");
    assert_eq!(
        (
            empty.total_messages,
            empty.deleted_messages,
            empty.total_sessions
        ),
        (0, 0, 0)
    );
    assert_eq!(empty.backend, store.name());
    put_each(
        &store,
        &[
            timed("s1", "a", 1),
            timed("s1", "b", 2),
            timed("s1", "c", 3),
        ],
    )
    .await;
    put_each(&store, &[timed("s2", "a", 1), timed("s2", "b", 2)]).await;
    put_new(&store, &timed("s3", "a", 1)).await;
    put_new(&store, &imported_deleted("s3", "imp", 5)).await;
    put_new(&store, &imported_deleted("s4", "imp2", 5)).await;
    delete_session(&store, "s2").await;
    let m = store.metrics().await.expect("metrics");
    assert_eq!(m.total_messages, 4, "live: s1 × 3 + s3 × 1");
    assert_eq!(m.deleted_messages, 4, "s2 × 2 + two imported");
    assert_eq!(m.total_sessions, 2, "s1 and s3 have metas");
    assert!(m.storage_size_bytes > 0, "some bytes are used");
    store.purge_session("s2").await.expect("purge");
    let m = store.metrics().await.expect("metrics");
    assert_eq!(
        (m.total_messages, m.deleted_messages, m.total_sessions),
        (4, 2, 2)
    );
}

/// `name()` and `version()` are non-empty, and `metrics().backend` is the name.
pub async fn name_and_version(store: Store) {
    assert!(!store.name().is_empty(), "name() is empty");
    assert!(!store.version().is_empty(), "version() is empty");
    assert!(
        store
            .version()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit()),
        "version() looks like a version: {:?}",
        store.version()
    );
    let metrics = store.metrics().await.expect("metrics");
    assert_eq!(metrics.backend, store.name(), "metrics().backend is name()");
}

/// `initialize` is idempotent: calling it again keeps the data and the store usable.
pub async fn initialize_is_idempotent(store: Store) {
    let id = put_new(&store, &timed("s", "kept", 1)).await;
    store.initialize().await.expect("second initialize");
    store.initialize().await.expect("third initialize");
    assert_eq!(get(&store, &id).await.content, "kept");
    assert_eq!(count(&store, &MessageQuery::default()).await, 1);
    put_new(&store, &timed("s", "after", 2)).await;
    assert_eq!(count(&store, &MessageQuery::for_session("s")).await, 2);
}
