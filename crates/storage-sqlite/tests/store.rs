//! Behaviour of `SqliteStore` beyond the shared conformance suite: group commit, the size
//! limit, file modes, `~` expansion, backup under load, migrations, busy mapping, lifecycle.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, CheckStatus, HealthStatus, MessageQuery, ReadOnlyStore,
    SessionStore, StorageError, StoreOutcome, WriteOnlyStore,
};
use hotplex_storage_sqlite::{SCHEMA_VERSION, SqliteConfig, SqliteStore, Synchronous};
use rusqlite::Connection;

async fn open(config: SqliteConfig) -> SqliteStore {
    let store = SqliteStore::new(config).unwrap();
    store.initialize().await.unwrap();
    store
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn integrity(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn msg(session: &str, i: usize) -> ChatAppMessage {
    ChatAppMessage::user(session, format!("message {i}"))
        .with_platform("slack")
        .with_user("U1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = Arc::new(open(SqliteConfig::new(&path)).await);
    // Hold the write lock from another connection so that the writer's first transaction
    // waits: every other request queues up behind it and joins one group.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (store, started) = (Arc::clone(&store), Arc::clone(&started));
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                store.store_user_message(&msg(&format!("s{w}"), w)).await
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 16 {
        tokio::task::yield_now().await;
    }
    // Give the started calls a moment to reach the queue, then release the lock.
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(100));
        blocker.execute_batch("COMMIT").unwrap();
    })
    .await
    .unwrap();
    for writer in writers {
        assert_eq!(writer.await.unwrap().unwrap().outcome, StoreOutcome::Stored);
    }
    let extra = store.metrics().await.unwrap().extra;
    assert_eq!(extra["write_requests"], 16);
    assert!(extra["commits"] < 16, "no batching: {extra:?}");
    assert!(extra["largest_group"] > 1, "{extra:?}");
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 16);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_fails_the_write_and_keeps_the_database_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.db");
    let store = open(SqliteConfig::new(&path).with_max_size_mb(1)).await;
    let big = "x".repeat(16 * 1024);
    let mut stored = Vec::new();
    let err = loop {
        assert!(stored.len() < 200, "1 MiB limit never reached");
        let m = ChatAppMessage::user("s", big.clone()).with_user("U1");
        match store.store_user_message(&m).await {
            Ok(receipt) => stored.push(receipt.id),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    assert!(!err.is_transient());
    // Everything acknowledged before stays readable, and the meta still agrees.
    assert_eq!(
        store.count(&MessageQuery::for_session("s")).await.unwrap(),
        u64::try_from(stored.len()).unwrap()
    );
    for id in &stored {
        store.get(id).await.unwrap();
    }
    let meta = store.get_session_meta("s").await.unwrap();
    assert_eq!(meta.message_count, i64::try_from(stored.len()).unwrap());
    let metrics = store.metrics().await.unwrap();
    assert!(
        metrics.extra["database_bytes"] <= 1024 * 1024,
        "{metrics:?}"
    );
    let health = store.health_check().await;
    assert_eq!(health.checks["size"].status, CheckStatus::Warn);
    assert_eq!(health.status, HealthStatus::Degraded);
    // A batch that does not fit is rejected whole.
    let batch: Vec<_> = (0..8)
        .map(|_| ChatAppMessage::user("s2", big.clone()))
        .collect();
    let err = store.store_batch(&batch).await.unwrap_err();
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    assert_eq!(
        store.count(&MessageQuery::for_session("s2")).await.unwrap(),
        0
    );
    store.close().await.unwrap();
    assert_eq!(integrity(&path), "ok");
}

/// With `max_size_mb = 1` (256 pages of 4 KiB) the writer checkpoints once the WAL holds 32
/// pages (a tenth of 256, raised to the minimum of 32) and has `journal_size_limit` = the
/// size of a 32-page WAL. Checkpoints are never blocked here (no read runs during a write),
/// so the bound of `docs/configuration.md` holds exactly: the `-wal` file never exceeds a
/// header and 31 + 256 + 1 frames (31 pages waiting, then a commit of at most every page and
/// a commit frame), and the first commit after a checkpoint truncates it to
/// `journal_size_limit`. Before the WAL was scaled to the limit, the file grew to SQLite's
/// default of 1,000 pages (about 4 MiB) and stayed there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_bounds_the_wal_file() {
    const PAGE: u64 = 4096;
    const FRAME: u64 = 24 + PAGE;
    const WAL_HEADER: u64 = 32;
    const MAX_PAGES: u64 = 1024 * 1024 / PAGE;
    const AUTOCHECKPOINT: u64 = 32;
    const JOURNAL_SIZE_LIMIT: u64 = WAL_HEADER + AUTOCHECKPOINT * FRAME;
    const WAL_BOUND: u64 = WAL_HEADER + (AUTOCHECKPOINT + MAX_PAGES) * FRAME;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.db");
    let wal = dir.path().join("small.db-wal");
    let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let store = open(SqliteConfig::new(&path).with_max_size_mb(1)).await;
    assert_eq!(store.metrics().await.unwrap().extra["page_size"], PAGE);

    // Fill the database until the limit, watching the WAL after every commit.
    let big = "x".repeat(16 * 1024);
    let mut stored = 0_u64;
    let mut largest = 0;
    let err = loop {
        assert!(stored < 200, "1 MiB limit never reached");
        let m = ChatAppMessage::user("s", big.clone()).with_user("U1");
        match store.store_user_message(&m).await {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        largest = largest.max(wal_size());
    };
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    assert!(
        largest <= WAL_BOUND,
        "the WAL reached {largest} bytes, more than 32 + 256 pages ({WAL_BOUND})"
    );
    assert_eq!(store.purge_session("s").await.unwrap(), stored);
    assert!(wal_size() <= WAL_BOUND, "{} bytes", wal_size());

    // Checkpoint everything (from another connection, so the point is certain), then one
    // small commit through the store: it restarts the WAL and truncates the file.
    let other = Connection::open(&path).unwrap();
    let (busy, frames, copied): (i64, i64, i64) = other
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((busy, copied), (0, frames), "the checkpoint completed");
    drop(other);
    let kept = store.store_user_message(&msg("t", 1)).await.unwrap();
    assert!(
        wal_size() <= JOURNAL_SIZE_LIMIT,
        "after a checkpoint and a commit the WAL is {} bytes, more than journal_size_limit \
         ({JOURNAL_SIZE_LIMIT})",
        wal_size()
    );
    assert_eq!(store.get(&kept.id).await.unwrap().id, kept.id);
    store.close().await.unwrap();
    assert_eq!(integrity(&path), "ok");
    let reopened = open(SqliteConfig::new(&path)).await;
    assert_eq!(
        reopened.count(&MessageQuery::default()).await.unwrap(),
        1,
        "only the message stored after the purge is left"
    );
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn files_are_private_and_parents_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/chat.db");
    let store = open(SqliteConfig::new(&path)).await;
    store.store_user_message(&msg("s", 1)).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("a/b/c")), 0o700);
    let wal = dir.path().join("a/b/c/chat.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(store.path().as_deref(), Some(path.as_path()));
    store.close().await.unwrap();
}

#[tokio::test]
async fn tilde_expands_to_the_home_directory() {
    let home = tempfile::tempdir().unwrap();
    let store = open(SqliteConfig::new("~/.hotplex/messages.db").with_home_dir(home.path())).await;
    let expected = home.path().join(".hotplex/messages.db");
    assert_eq!(store.path().as_deref(), Some(expected.as_path()));
    assert!(expected.exists());
    store.close().await.unwrap();

    let err = SqliteStore::new(SqliteConfig::new("~bob/messages.db").with_home_dir(home.path()))
        .unwrap()
        .initialize()
        .await
        .unwrap_err();
    assert!(err.is_config_error(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_holds_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(SqliteConfig::new(dir.path().join("live.db"))).await);
    let mut acknowledged = HashSet::new();
    let batch: Vec<_> = (0..2000).map(|i| msg(&format!("s{}", i % 50), i)).collect();
    for receipt in store.store_batch(&batch).await.unwrap() {
        acknowledged.insert(receipt.id);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let receipt = store
                        .store_bot_response(&msg(&format!("load{w}"), i))
                        .await
                        .unwrap();
                    ids.push(receipt.id);
                    i += 1;
                }
                ids
            })
        })
        .collect();
    // Let the writers get going, then record what is acknowledged before the backup starts.
    while store.metrics().await.unwrap().extra["write_requests"] < 20 {
        tokio::task::yield_now().await;
    }
    let before = store.count(&MessageQuery::default()).await.unwrap();
    let copy = dir.path().join("backups/copy.db");
    store.backup_to(&copy).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut written_during_load = 0;
    for writer in writers {
        written_during_load += writer.await.unwrap().len();
    }
    assert!(written_during_load > 0);
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(integrity(&copy), "ok");
    let conn = Connection::open(&copy).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM messages").unwrap();
    let in_copy: HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(acknowledged.is_subset(&in_copy));
    assert!(u64::try_from(in_copy.len()).unwrap() >= before);
    // The copy opens as a store of its own.
    drop(stmt);
    drop(conn);
    let restored = open(SqliteConfig::new(&copy)).await;
    assert_eq!(
        restored.count(&MessageQuery::default()).await.unwrap(),
        u64::try_from(in_copy.len()).unwrap()
    );
    restored.close().await.unwrap();
    // An existing target is replaced atomically by a complete, private copy.
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = store.backup_to(&copy).await.unwrap();
    assert_eq!(
        again.format,
        hotplex_storage_core::BackupFormat::SqliteDatabase
    );
    assert_eq!(
        again.messages,
        store
            .count(&MessageQuery::default().with_include_deleted(true))
            .await
            .unwrap()
    );
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(integrity(&copy), "ok");
    store.close().await.unwrap();
}

#[tokio::test]
async fn in_memory_backup_and_reads_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(SqliteConfig::in_memory()).await;
    assert_eq!(store.path(), None);
    store.store_user_message(&msg("s", 1)).await.unwrap();
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 1);
    let copy = dir.path().join("mem.db");
    store.backup_to(&copy).await.unwrap();
    assert_eq!(integrity(&copy), "ok");
    let conn = Connection::open(&copy).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    store.close().await.unwrap();
}

fn tamper(path: &Path, sql: &str) {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    open(SqliteConfig::new(&path)).await.close().await.unwrap();
    tamper(
        &path,
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
         VALUES (99, 'from_the_future', '0', 0)",
    );
    let err = SqliteStore::new(SqliteConfig::new(&path))
        .unwrap()
        .initialize()
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Migration { .. }), "{err:?}");
    let expected =
        format!("database schema version 99 is newer than this build ({SCHEMA_VERSION})");
    assert!(err.to_string().contains(&expected), "{err}");
}

#[tokio::test]
async fn edited_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    open(SqliteConfig::new(&path)).await.close().await.unwrap();
    tamper(
        &path,
        "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1",
    );
    let err = SqliteStore::new(SqliteConfig::new(&path))
        .unwrap()
        .initialize()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

/// Stores opening one new file at the same moment race to switch it to WAL; SQLite answers
/// that race with an immediate `SQLITE_BUSY` (no busy handler), which the store must wait
/// out. One pair loses the race about a third of the time, so ten rounds of four stores
/// make the race all but certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_initialize_one_new_file_concurrently() {
    const ROUNDS: usize = 10;
    const STORES: usize = 4;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let stores: Vec<Arc<SqliteStore>> = (0..STORES)
            .map(|_| Arc::new(SqliteStore::new(SqliteConfig::new(&path)).unwrap()))
            .collect();
        let opening: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = Arc::clone(store);
                tokio::spawn(async move { store.initialize().await })
            })
            .collect();
        for (i, task) in opening.into_iter().enumerate() {
            let opened = task.await.unwrap();
            assert!(opened.is_ok(), "round {round}, store {i}: {opened:?}");
        }
        for (i, store) in stores.iter().enumerate() {
            store.store_user_message(&msg("s", i + 1)).await.unwrap();
        }
        assert_eq!(
            stores[0].count(&MessageQuery::default()).await.unwrap(),
            u64::try_from(STORES).unwrap()
        );
        assert_eq!(
            stores[STORES - 1]
                .get_session_meta("s")
                .await
                .unwrap()
                .message_count,
            i64::try_from(STORES).unwrap()
        );
        let conn = Connection::open(&path).unwrap();
        let versions: i64 = conn
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(versions, SCHEMA_VERSION);
        for store in &stores {
            store.close().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_elsewhere_is_a_transient_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = open(SqliteConfig::new(&path).with_busy_timeout(Duration::from_millis(50))).await;
    let stored = store.store_user_message(&msg("s", 1)).await.unwrap();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.store_user_message(&msg("s", 2)).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, StorageError::Query { .. }));
    // WAL: readers are not blocked by the writer lock.
    assert_eq!(store.get(&stored.id).await.unwrap().id, stored.id);
    other.execute_batch("ROLLBACK").unwrap();
    store.store_user_message(&msg("s", 2)).await.unwrap();
    assert_eq!(store.get_session_meta("s").await.unwrap().message_count, 2);
    store.close().await.unwrap();
}

#[tokio::test]
async fn bad_files_fail_initialize_permanently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = SqliteStore::new(SqliteConfig::new(&path))
        .unwrap()
        .initialize()
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert!(err.is_connection_error(), "{err:?}");

    let err = SqliteStore::new(SqliteConfig::new(dir.path()))
        .unwrap()
        .initialize()
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn config_is_validated_without_io() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never/created.db");
    let err = SqliteStore::new(SqliteConfig::new(&path).with_pool_size(0)).unwrap_err();
    assert!(err.is_config_error());
    let store = SqliteStore::new(SqliteConfig::new(&path)).unwrap();
    assert!(!path.parent().unwrap().exists());
    let err = store.count(&MessageQuery::default()).await.unwrap_err();
    assert!(err.to_string().contains("initialize"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(store.health_check().await.status, HealthStatus::Unhealthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_finishes_queued_writes_then_refuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store =
        Arc::new(open(SqliteConfig::new(&path).with_synchronous(Synchronous::Normal)).await);
    let writers: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.store_user_message(&msg("s", i)).await })
        })
        .collect();
    tokio::task::yield_now().await;
    store.close().await.unwrap();
    let mut acknowledged = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(_) => acknowledged += 1,
            Err(e) => assert!(e.is_closed(), "{e:?}"),
        }
    }
    store.close().await.unwrap();
    assert!(store.get("x").await.unwrap_err().is_closed());
    assert!(
        store
            .list(&MessageQuery::default())
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(
        store
            .store_user_message(&msg("s", 0))
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(store.store_batch(&[]).await.unwrap_err().is_closed());
    assert!(store.delete_session("s").await.unwrap_err().is_closed());
    assert!(store.metrics().await.unwrap_err().is_closed());
    assert!(
        store
            .backup_to(&dir.path().join("b.db"))
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(store.initialize().await.unwrap_err().is_closed());
    let health = store.health_check().await;
    assert_eq!(health.status, HealthStatus::Unhealthy);

    // Every acknowledged write is on disk.
    let reopened = open(SqliteConfig::new(&path)).await;
    assert_eq!(
        reopened.count(&MessageQuery::default()).await.unwrap(),
        acknowledged
    );
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn reopening_keeps_data_and_seq_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = open(SqliteConfig::new(&path)).await;
    store.store_user_message(&msg("keep", 1)).await.unwrap();
    let last = store.store_user_message(&msg("gone", 2)).await.unwrap();
    let last_seq = store.get(&last.id).await.unwrap().seq;
    assert_eq!(store.purge_session("gone").await.unwrap(), 1);
    store.close().await.unwrap();

    let store = open(SqliteConfig::new(&path)).await;
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 1);
    let next = store.store_user_message(&msg("keep", 3)).await.unwrap();
    assert!(store.get(&next.id).await.unwrap().seq > last_seq);
    let metrics = store.metrics().await.unwrap();
    assert_eq!(metrics.total_messages, 2);
    assert_eq!(metrics.total_sessions, 1);
    assert!(metrics.storage_size_bytes > 0);
    assert!(store.health_check().await.is_healthy());
    store.initialize().await.unwrap();
    store.close().await.unwrap();
}

/// Stores fill a size-limited database only to its store share; deletes, purges and retention
/// then still work on the full database (a soft delete grows every row it marks and the index
/// of deleted rows, which failed with `StorageFull` when stores could fill every page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_still_deletes_purges_and_stores_again_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let store = open(SqliteConfig::new(&path).with_max_size_mb(1)).await;
    // Small messages, many per session: the soft delete's growth is largest per byte stored.
    let sessions = ["a", "b", "c"];
    let mut stored = 0_u64;
    let err = 'fill: loop {
        for session in sessions {
            let batch: Vec<_> = (0..20)
                .map(|i| ChatAppMessage::user(session, format!("m{stored}-{i}")).with_user("U1"))
                .collect();
            match store.store_batch(&batch).await {
                Ok(receipts) => stored += receipts.len() as u64,
                Err(e) => break 'fill e,
            }
        }
        assert!(stored < 100_000, "1 MiB limit never reached");
    };
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    // Single messages fill what batches left, so the store share is really used up.
    let err = loop {
        match store
            .store_user_message(&ChatAppMessage::user("a", "one more").with_user("U1"))
            .await
        {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    assert!(stored > 300, "only {stored} messages fit");
    let in_a = store.count(&MessageQuery::for_session("a")).await.unwrap();
    assert!(in_a > 100, "{in_a}");
    // The soft delete of a session of hundreds of messages works on the full database.
    assert_eq!(store.delete_session("a").await.unwrap(), in_a);
    assert!(store.delete_session("b").await.unwrap() > 100);
    assert!(
        store
            .get_session_meta("a")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let live = store.count(&MessageQuery::default()).await.unwrap();
    assert_eq!(
        live,
        store.count(&MessageQuery::for_session("c")).await.unwrap()
    );
    // Retention frees the space, and stores work again.
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert!(store.purge_deleted_before(cutoff).await.unwrap() > 200);
    store
        .store_user_message(&ChatAppMessage::user("d", "after the purge").with_user("U1"))
        .await
        .unwrap();
    assert_eq!(store.get_session_meta("d").await.unwrap().message_count, 1);
    let metrics = store.metrics().await.unwrap();
    assert!(
        metrics.extra["database_bytes"] <= 1024 * 1024,
        "{metrics:?}"
    );
    store.close().await.unwrap();
    assert_eq!(integrity(&path), "ok");
}
