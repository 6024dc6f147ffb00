//! PostgreSQL-specific behaviour beyond the conformance suite: partitions on demand and the
//! DEFAULT partition, concurrent initialisation, migration refusals, schema isolation,
//! killed backends, pool exhaustion, retention and password masking. Each test gets its own
//! database; without PostgreSQL (outside CI) each prints "skipping: …" and returns.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Months, TimeZone, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, SessionStore, StorageError,
    StoreOutcome, WriteOnlyStore,
};
use hotplex_storage_postgres::{PostgresConfig, PostgresStore, SCHEMA_VERSION};
use postgres::{NoTls, SimpleQueryMessage};

/// Runs `sql` on `dsn` outside any store and returns the first column of every row.
async fn sql(dsn: &str, sql: &str) -> Vec<Option<String>> {
    let (dsn, sql) = (dsn.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&dsn, NoTls).expect("admin connection");
        client
            .simple_query(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
                _ => None,
            })
            .collect()
    })
    .await
    .expect("admin task")
}

async fn one(dsn: &str, text: &str) -> String {
    sql(dsn, text)
        .await
        .into_iter()
        .next()
        .flatten()
        .unwrap_or_default()
}

fn message(session: &str, id: &str, at: DateTime<Utc>) -> ChatAppMessage {
    ChatAppMessage::user(session, format!("content of {id}"))
        .with_id(id)
        .with_created_at(at)
}

async fn initialized(db: &hotplex_storage_testkit::PgDatabase, level: u8) -> PostgresStore {
    let store = common::store(db, level);
    store.initialize().await.expect("initialize");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn far_future_and_far_past_months_get_partitions_on_demand() {
    let Some(db) = common::database() else { return };
    let store = initialized(&db, 2).await;
    let now = Utc::now();
    let ahead = now.checked_add_months(Months::new(60)).unwrap();
    let back = now.checked_sub_months(Months::new(120)).unwrap();
    for (id, at) in [("ahead", ahead), ("back", back), ("now", now)] {
        let receipt = store
            .store_user_message(&message("s", id, at))
            .await
            .unwrap();
        assert_eq!(receipt.outcome, StoreOutcome::Stored, "{id}");
    }
    let parts = sql(
        &db.dsn(),
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'messages'::regclass ORDER BY 1",
    )
    .await;
    let parts: Vec<String> = parts.into_iter().flatten().collect();
    for at in [ahead, back, now] {
        let name = at.format("messages_p%Y_%m").to_string();
        assert!(parts.contains(&name), "{name} missing from {parts:?}");
    }
    // Current month + 3 ahead exist from initialize, plus the two on demand and DEFAULT.
    assert!(parts.len() >= 7, "{parts:?}");
    assert_eq!(
        one(&db.dsn(), "SELECT count(*) FROM messages_default").await,
        "0"
    );
    let listed = store
        .list(&MessageQuery::for_session("s").with_ascending(true))
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["back", "now", "ahead"]);
    // Re-storing an id with another created_at is AlreadyStored across partitions.
    let again = store
        .store_user_message(&message("s", "ahead", back))
        .await
        .unwrap();
    assert_eq!(again.outcome, StoreOutcome::AlreadyStored);
    assert_eq!(store.get_session_meta("s").await.unwrap().message_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_in_default_move_into_their_month_when_it_is_created() {
    let Some(db) = common::database() else { return };
    let store = initialized(&db, 2).await;
    // A row of May 2001 lands in DEFAULT when written by something that did not create the
    // month first (an older build, a manual insert).
    sql(
        &db.dsn(),
        "INSERT INTO messages (id, chat_session_id, engine_session_id, message_type, content, \
           created_at, updated_at, content_folded) \
         VALUES ('stray', 'old', '00000000-0000-0000-0000-000000000000', 'user_input', \
           'Stray X', '2001-05-10 12:00:00+00', '2001-05-10 12:00:00+00', 'stray x'); \
         INSERT INTO message_ids (id) VALUES ('stray')",
    )
    .await;
    assert_eq!(
        one(&db.dsn(), "SELECT count(*) FROM messages_default").await,
        "1"
    );
    let stray_seq = one(&db.dsn(), "SELECT seq FROM messages WHERE id = 'stray'").await;
    let at = Utc.with_ymd_and_hms(2001, 5, 20, 8, 0, 0).unwrap();
    let receipt = store
        .store_user_message(&message("old", "new", at))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(
        one(&db.dsn(), "SELECT count(*) FROM messages_default").await,
        "0"
    );
    assert_eq!(
        one(&db.dsn(), "SELECT count(*) FROM messages_p2001_05").await,
        "2"
    );
    let moved = store.get("stray").await.expect("the moved row is readable");
    assert_eq!(moved.seq.to_string(), stray_seq, "seq survives the move");
    assert_eq!(
        one(
            &db.dsn(),
            "SELECT content_folded FROM messages_p2001_05 WHERE id = 'stray'"
        )
        .await,
        "stray x",
        "content_folded survives the move"
    );
    // DEFAULT is attached again and still catches what no month takes.
    assert_eq!(
        one(
            &db.dsn(),
            "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'messages_default'::regclass"
        )
        .await,
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn independent_stores_initialise_one_empty_database_at_once() {
    let Some(db) = common::database() else { return };
    for level in [2, 1] {
        let schema = format!("race{level}");
        let stores: Vec<Arc<PostgresStore>> = (0..4)
            .map(|_| {
                Arc::new(
                    PostgresStore::new(common::config(&db, level).with_schema(schema.clone()))
                        .unwrap(),
                )
            })
            .collect();
        let handles: Vec<_> = stores
            .iter()
            .map(|s| {
                let s = Arc::clone(s);
                tokio::spawn(async move { s.initialize().await })
            })
            .collect();
        for handle in handles {
            handle
                .await
                .unwrap()
                .expect("every concurrent initialize succeeds");
        }
        let history = one(
            &db.dsn(),
            &format!("SELECT count(*) FROM {schema}.schema_migrations WHERE success"),
        )
        .await;
        assert_eq!(history, SCHEMA_VERSION.to_string());
        for store in &stores {
            let status = store.migration_status().await.unwrap();
            assert!(status.is_up_to_date());
            assert_eq!(status.current_version, SCHEMA_VERSION);
        }
    }
}

async fn reopen_error(db: &hotplex_storage_testkit::PgDatabase, level: u8) -> StorageError {
    let store = common::store(db, level);
    store
        .initialize()
        .await
        .expect_err("initialize must refuse")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn newer_edited_failed_or_other_level_schemas_are_refused() {
    let Some(db) = common::database() else { return };
    drop(initialized(&db, 1).await);
    let dsn = db.dsn();

    sql(
        &dsn,
        "INSERT INTO schema_migrations VALUES (99, 'future', 'x', now(), true)",
    )
    .await;
    let err = reopen_error(&db, 1).await;
    assert!(matches!(err, StorageError::Migration { .. }), "{err:?}");
    assert!(err.to_string().contains("newer than this build"), "{err}");
    assert!(!err.is_transient());
    sql(&dsn, "DELETE FROM schema_migrations WHERE version = 99").await;

    sql(
        &dsn,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let err = reopen_error(&db, 1).await;
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    let original = hotplex_storage_core::migration::checksum(include_str!(
        "../src/migrations/0001_level1_schema.sql"
    ));
    sql(
        &dsn,
        &format!("UPDATE schema_migrations SET checksum = '{original}' WHERE version = 1"),
    )
    .await;
    initialized(&db, 1).await;

    let err = reopen_error(&db, 2).await;
    assert!(err.to_string().contains("level 2"), "{err}");

    sql(
        &dsn,
        "UPDATE schema_migrations SET success = false WHERE version = 1",
    )
    .await;
    let err = reopen_error(&db, 1).await;
    assert!(err.to_string().contains("failed earlier"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schemas_in_one_database_are_isolated() {
    let Some(db) = common::database() else { return };
    let a = PostgresStore::new(common::config(&db, 1).with_schema("app_a")).unwrap();
    let b = PostgresStore::new(common::config(&db, 2).with_schema("app_b")).unwrap();
    a.initialize().await.unwrap();
    b.initialize().await.unwrap();
    let now = Utc::now();
    a.store_user_message(&message("shared-session", "m1", now))
        .await
        .unwrap();
    assert_eq!(a.count(&MessageQuery::default()).await.unwrap(), 1);
    assert_eq!(b.count(&MessageQuery::default()).await.unwrap(), 0);
    assert!(b.get("m1").await.unwrap_err().is_not_found());
    assert!(b.get_session_meta("shared-session").await.is_err());
    // The same id is a new message in the other schema.
    let receipt = b
        .store_user_message(&message("shared-session", "m1", now))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(b.purge_session("shared-session").await.unwrap(), 1);
    assert_eq!(a.count(&MessageQuery::default()).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_backends_mid_load_lose_and_duplicate_nothing() {
    let Some(db) = common::database() else { return };
    for level in [1, 2] {
        let schema = format!("kill{level}");
        let store = Arc::new(
            PostgresStore::new(common::config(&db, level).with_schema(schema.clone())).unwrap(),
        );
        store.initialize().await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut transient = 0;
                    for i in 0..40 {
                        let msg = ChatAppMessage::user(format!("s{w}"), format!("m{i}"))
                            .with_id(format!("w{w}-{i}"));
                        let mut stored = false;
                        for _ in 0..50 {
                            match store.store_user_message(&msg).await {
                                Ok(receipt) => {
                                    stored = true;
                                    assert_ne!(receipt.outcome, StoreOutcome::Filtered);
                                    break;
                                }
                                Err(e) => {
                                    assert!(e.is_transient(), "not transient: {e:?}");
                                    transient += 1;
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                            }
                        }
                        assert!(stored, "w{w}-{i} never stored");
                    }
                    transient
                })
            })
            .collect();
        let dsn = db.dsn();
        let terminator = tokio::spawn(async move {
            let mut killed = 0;
            for _ in 0..6 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                let n = sql(
                    &dsn,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'hotplex-storage' \
                     AND pid <> pg_backend_pid()",
                )
                .await;
                killed += n[0].as_deref().unwrap_or("0").parse::<u32>().unwrap();
            }
            killed
        });
        let mut transient = 0;
        for writer in writers {
            transient += writer.await.expect("writer");
        }
        let killed = terminator.await.unwrap();
        eprintln!("level {level}: {killed} backends killed, {transient} transient errors retried");
        assert!(killed > 0, "the test killed no backend");
        assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 320);
        for w in 0..8 {
            let meta = store.get_session_meta(&format!("s{w}")).await.unwrap();
            assert_eq!(meta.message_count, 40, "s{w}");
        }
        let seqs = sql(
            &db.dsn(),
            &format!("SELECT count(DISTINCT id) FROM {schema}.messages"),
        )
        .await;
        assert_eq!(seqs[0].as_deref(), Some("320"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connections_dropped_by_the_server_are_replaced() {
    let Some(db) = common::database() else { return };
    let store = Arc::new(initialized(&db, 1).await);
    let kill_idle = || async {
        one(
            &db.dsn(),
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'hotplex-storage'",
        )
        .await
    };
    // Several pooled connections, all killed while idle (a server restart).
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.count(&MessageQuery::default()).await })
        })
        .collect();
    for read in reads {
        read.await.unwrap().unwrap();
    }
    assert_ne!(kill_idle().await, "0");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Used again at once: the call fails on its dead connection with 57P01, nothing can have
    // landed, so it runs once more on a verified connection: no error reaches the caller.
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 0);
    assert_eq!(
        store
            .store_user_message(&ChatAppMessage::user("s", "after a restart"))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::Stored
    );
    assert_ne!(kill_idle().await, "0");
    // Idle for longer than the check threshold (2 s), as during a long LLM call: the checkout
    // check notices the dead connection and opens a new one.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exhausted_pool_times_out_instead_of_hanging() {
    let Some(db) = common::database() else { return };
    let config = common::config(&db, 1)
        .with_max_connections(1)
        .with_connect_timeout(Duration::from_millis(300));
    let store = Arc::new(PostgresStore::new(config).unwrap());
    store.initialize().await.unwrap();
    // Another session locks the table, so the first write holds the only connection.
    let dsn = db.dsn();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&dsn, NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.batch_execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    let blocked = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .store_user_message(&ChatAppMessage::user("s", "waits for the lock"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let err = store
        .count(&MessageQuery::default())
        .await
        .expect_err("no connection is free");
    assert!(matches!(err, StorageError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    release_tx.send(()).unwrap();
    locker.join().unwrap();
    let receipt = blocked.await.unwrap().expect("the blocked write completes");
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_messages_before_keeps_session_metas_exact() {
    let Some(db) = common::database() else { return };
    for level in [1, 2] {
        let store =
            PostgresStore::new(common::config(&db, level).with_schema(format!("retention{level}")))
                .unwrap();
        store.initialize().await.unwrap();
        let t = |day| Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap();
        for (session, id, day) in [
            ("a", "a1", 1),
            ("a", "a2", 5),
            ("a", "a3", 9),
            ("b", "b1", 2),
        ] {
            store
                .store_user_message(&message(session, id, t(day)))
                .await
                .unwrap();
        }
        assert_eq!(store.purge_messages_before(t(6)).await.unwrap(), 3);
        let meta = store.get_session_meta("a").await.unwrap();
        assert_eq!(meta.message_count, 1);
        assert_eq!(meta.last_message_id, "a3");
        assert!(
            store
                .get_session_meta("b")
                .await
                .unwrap_err()
                .is_not_found()
        );
        // A purged id can be stored again (level 2 released it from message_ids).
        let receipt = store
            .store_user_message(&message("b", "b1", t(2)))
            .await
            .unwrap();
        assert_eq!(receipt.outcome, StoreOutcome::Stored, "level {level}");
        assert_eq!(store.get_session_meta("b").await.unwrap().message_count, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passwords_never_appear_in_debug_errors_or_metrics() {
    let secret = "pw-Secret-4711";
    let config = PostgresConfig::from_dsn(&format!(
        "postgres://app:{secret}@127.0.0.1:1/chat?connect_timeout=1"
    ))
    .unwrap();
    let store = PostgresStore::new(config.clone()).unwrap();
    for shown in [format!("{config:?}"), format!("{store:?}")] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let err = store
        .initialize()
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.is_transient() || err.is_connection_error(), "{err:?}");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        assert!(!cause.to_string().contains(secret));
        source = cause.source();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_and_health_report_the_level_and_partitions() {
    let Some(db) = common::database() else { return };
    let store = initialized(&db, 2).await;
    store
        .store_batch(&[
            ChatAppMessage::user("s", "one"),
            ChatAppMessage::bot("s", "two"),
        ])
        .await
        .unwrap();
    store.delete_session("s").await.unwrap();
    let metrics = store.metrics().await.unwrap();
    assert_eq!(metrics.backend, "postgres");
    assert_eq!((metrics.total_messages, metrics.deleted_messages), (0, 2));
    assert_eq!(metrics.extra["level"], 2);
    assert!(metrics.extra["partitions"] >= 5, "{:?}", metrics.extra);
    assert_eq!(metrics.extra["default_partition_rows"], 0);
    assert!(metrics.storage_size_bytes > 0);
    let health = store.health_check().await;
    assert!(
        health
            .checks
            .values()
            .all(|c| c.status == hotplex_storage_core::CheckStatus::Pass),
        "{health:?}"
    );
    store.close().await.unwrap();
    assert!(
        store
            .count(&MessageQuery::default())
            .await
            .unwrap_err()
            .is_closed()
    );
}
