//! `open`/`build`: the assembled stack, errors, backups through `dyn`, and the retention task.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hotplex_storage_core::{
    BackupFormat, ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore,
    RetentionPolicy, StorageError, StoreOutcome, WriteOnlyStore,
};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_registry::{
    PluginRegistry, RetainingStore, RetentionOptions, StorageConfig, build, open, stack,
};

fn memory() -> StorageConfig {
    StorageConfig::new().with_type("memory")
}

fn sqlite_in(dir: &std::path::Path) -> StorageConfig {
    StorageConfig::new()
        .with_type("sqlite")
        .with_sqlite_path(dir.join("db/messages.db").to_string_lossy())
}

#[tokio::test]
async fn memory_stack_applies_the_strategy_and_backs_up_as_jsonl() {
    let store = open(&memory()).await.unwrap();
    assert_eq!(store.name(), "memory");
    let thinking = ChatAppMessage::of_type("s", hotplex_storage_core::MessageType::THINKING, "hm");
    let receipt = store.store_bot_response(&thinking).await.unwrap();
    assert_eq!(
        receipt.outcome,
        StoreOutcome::Filtered,
        "strategy default is applied"
    );
    store
        .store_user_message(&ChatAppMessage::user("s", "hi"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = store.backup_to(&dir.path().join("b.jsonl")).await.unwrap();
    assert_eq!(report.format, BackupFormat::Jsonl);
    assert_eq!(report.messages, 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_stack_creates_a_private_file_and_backs_up_online() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sqlite_in(dir.path());
    let unopened = build(&cfg).unwrap();
    assert!(
        !dir.path().join("db/messages.db").exists(),
        "build does no I/O"
    );
    drop(unopened);
    let store = open(&cfg).await.unwrap();
    assert_eq!(store.name(), "sqlite");
    let db = dir.path().join("db/messages.db");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    store
        .store_user_message(&ChatAppMessage::user("s", "hi"))
        .await
        .unwrap();
    let report = store.backup_to(&dir.path().join("copy.db")).await.unwrap();
    assert_eq!(report.format, BackupFormat::SqliteDatabase);
    assert_eq!(report.messages, 1);
    assert_eq!(mode(&dir.path().join("copy.db")), 0o600);
    store.close().await.unwrap();
    // The copy opens as a store of its own.
    let copy =
        open(&sqlite_in(dir.path()).with_sqlite_path(dir.path().join("copy.db").to_string_lossy()))
            .await
            .unwrap();
    assert_eq!(copy.count(&MessageQuery::default()).await.unwrap(), 1);
    copy.close().await.unwrap();
}

#[tokio::test]
async fn unknown_and_uncompiled_types_list_the_available_ones() {
    let names: &[&str] = if cfg!(feature = "postgres") {
        &["mysql", "sqlserver"]
    } else {
        &["mysql", "postgres", "postgresql"]
    };
    for &name in names {
        match open(&memory().with_type(name)).await {
            Err(StorageError::UnsupportedType {
                name: got,
                available,
            }) => {
                assert_eq!(got, name);
                assert_eq!(available, PluginRegistry::global().names());
                assert!(available.contains(&"memory".to_owned()));
            }
            Err(other) => panic!("{name}: {other:?}"),
            Ok(_) => panic!("{name}: opened"),
        }
    }
}

/// With the `postgres` feature, `postgres` and `postgresql` need a DSN, named in the error.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_without_a_dsn_names_the_key() {
    for name in ["postgres", "postgresql", " PostgreSQL "] {
        match open(&memory().with_type(name)).await {
            Err(StorageError::InvalidConfig { key, .. }) => {
                assert_eq!(key, "message_store.postgres.dsn", "{name}");
            }
            Err(other) => panic!("{name}: {other:?}"),
            Ok(_) => panic!("{name}: opened without a DSN"),
        }
    }
}

#[tokio::test]
async fn the_strategy_is_configurable() {
    let store = open(&memory().with_strategy("verbose")).await.unwrap();
    let thinking = ChatAppMessage::of_type("s", hotplex_storage_core::MessageType::THINKING, "hm");
    let receipt = store.store_bot_response(&thinking).await.unwrap();
    assert_eq!(
        receipt.outcome,
        StoreOutcome::Stored,
        "verbose keeps every type"
    );
    store.close().await.unwrap();
    let err = open(&memory().with_strategy("chatty")).await.err().unwrap();
    assert!(err.to_string().contains("message_store.strategy"), "{err}");
}

#[test]
fn the_stack_is_listed_once_strategy_then_retry() {
    let layers = stack(&memory().with_strategy("minimal")).unwrap();
    assert_eq!(layers.names(), ["strategy:minimal", "retry"]);
    let bad_retry = memory().with_retry(hotplex_storage_stream::RetryConfig {
        max_attempts: 0,
        ..hotplex_storage_stream::RetryConfig::default()
    });
    let err = stack(&bad_retry).err().unwrap();
    assert!(
        err.to_string().contains("message_store.retry.max_attempts"),
        "{err}"
    );
}

#[tokio::test]
async fn disabled_storage_is_a_clear_error() {
    let err = build(&memory().with_enabled(false)).err().unwrap();
    assert!(err.to_string().contains("message_store.enabled"), "{err}");
    let yaml = "message_store:\n  enabled: false\n  type: memory\n";
    let cfg = StorageConfig::from_yaml_str(yaml).unwrap();
    match open(&cfg).await {
        Err(StorageError::InvalidConfig { key, reason }) => {
            assert_eq!(key, "message_store.enabled");
            assert!(reason.contains("disabled"), "{reason}");
        }
        other => panic!("{:?}", other.map(|s| s.name().to_owned())),
    }
}

#[tokio::test]
async fn a_failed_initialize_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let cfg = StorageConfig::new()
        .with_type("sqlite")
        .with_sqlite_path(blocker.join("m.db").to_string_lossy());
    let err = open(&cfg).await.err().expect("the parent is a file");
    assert!(!err.is_config_error(), "{err}");
}

#[tokio::test]
async fn open_runs_retention_in_the_background() {
    let cfg = memory().with_retention(retention(Duration::from_secs(1)));
    let store = open(&cfg).await.unwrap();
    let old =
        ChatAppMessage::user("s", "old").with_created_at(Utc::now() - chrono::Duration::hours(2));
    store.store_user_message(&old).await.unwrap();
    store
        .store_user_message(&ChatAppMessage::user("s", "new"))
        .await
        .unwrap();
    let all = MessageQuery::default().with_include_deleted(true);
    let mut waited = Duration::ZERO;
    while store.count(&all).await.unwrap() != 1 {
        assert!(
            waited < Duration::from_secs(10),
            "the old message was never purged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    store.close().await.unwrap();
}

fn retention(interval: Duration) -> RetentionOptions {
    RetentionOptions::new(RetentionPolicy::new().with_max_age(Duration::from_hours(1)))
        .with_interval(interval)
}

#[tokio::test]
async fn close_stops_the_retention_task_and_releases_the_store() {
    let inner: Arc<dyn ChatAppMessageStore> = Arc::new(MemoryStore::new());
    let weak = Arc::downgrade(&inner);
    let policy = RetentionPolicy::new().with_max_age(Duration::from_hours(1));
    let store = RetainingStore::start(inner, policy, Duration::from_hours(1));
    assert!(store.is_retention_running());
    store.close().await.unwrap();
    assert!(!store.is_retention_running(), "close waited for the task");
    drop(store);
    assert!(weak.upgrade().is_none(), "no task holds the store any more");
}

#[tokio::test]
async fn dropping_without_close_aborts_the_task() {
    let inner: Arc<dyn ChatAppMessageStore> = Arc::new(MemoryStore::new());
    let weak = Arc::downgrade(&inner);
    let policy = RetentionPolicy::new().with_deleted_grace(Duration::ZERO);
    let store = RetainingStore::start(inner, policy, Duration::from_hours(1));
    drop(store);
    let mut tries = 0;
    while weak.upgrade().is_some() {
        tries += 1;
        assert!(tries < 200, "the aborted task still holds the store");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
