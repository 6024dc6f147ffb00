//! The search index on database files: a database of the previous release (schema 1) migrates
//! and then searches correctly; a full database still deletes and purges with the index; a
//! connection without `hotplex_fold` cannot write behind the index's back.

use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use hotplex_storage_core::migration::Migration;
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, SearchQuery, SessionStore,
    StorageError, WriteOnlyStore, search_by_scan,
};
use hotplex_storage_sqlite::{SCHEMA_VERSION, SqliteConfig, SqliteStore};
use rusqlite::{Connection, params};

/// Schema 1 exactly as the previous release wrote it (its SQL, its history row).
const SCHEMA_1: &str = include_str!("../src/migrations/0001_initial_schema.sql");

/// Queries whose index-driven answers must equal the scan's.
const QUERIES: &[&str] = &[
    "wal",
    "WAL mode",
    "数据库",
    "数据",
    "库",
    "message",
    "message 7",
    "deleted",
    "ß",
    "zzz",
];

/// Writes a schema-1 database at `path` with `n` messages in 3 sessions; every 5th deleted.
fn previous_release_database(path: &Path, n: i64) {
    previous_release_database_of(path, n, |i| match i % 4 {
        0 => format!("message {i}: WAL mode on"),
        1 => format!("message {i}: 数据库 备份"),
        2 => format!("message {i}: Straße deleted?"),
        _ => format!("message {i}: plain"),
    });
}

/// [`previous_release_database`] with the content of message `i` from `content`.
fn previous_release_database_of(path: &Path, n: i64, content: impl Fn(i64) -> String) {
    let mut conn = Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(
        "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, \
         name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;",
    )
    .unwrap();
    tx.execute_batch(SCHEMA_1).unwrap();
    let first = Migration {
        version: 1,
        name: "initial_schema",
        sql: SCHEMA_1,
    };
    tx.execute(
        "INSERT INTO schema_migrations VALUES (1, 'initial_schema', ?1, 0)",
        params![first.checksum()],
    )
    .unwrap();
    for i in 0..n {
        let deleted = i % 5 == 0;
        let content = content(i);
        tx.execute(
            "INSERT INTO messages (id, chat_session_id, message_type, content, created_at, \
             updated_at, deleted, deleted_at) VALUES (?1, ?2, 'user_input', ?3, ?4, ?4, ?5, ?6)",
            params![
                format!("m{i}"),
                format!("s{}", i % 3),
                content,
                1_700_000_000_000_000 + i * 1_000,
                i64::from(deleted),
                deleted.then_some(1_800_000_000_000_000_i64),
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

async fn open(config: SqliteConfig) -> SqliteStore {
    let store = SqliteStore::new(config).unwrap();
    store.initialize().await.unwrap();
    store
}

/// Every query of [`QUERIES`], paged with the cursor `limit` at a time, equals the scan.
async fn assert_search_equals_scan(store: &SqliteStore, limit: usize) -> usize {
    let mut total = 0;
    for text in QUERIES {
        let mut query = SearchQuery::new(*text).with_limit(limit);
        loop {
            let got = store.search(&query).await.unwrap();
            let expected = search_by_scan(store, &query).await.unwrap();
            assert_eq!(got, expected, "{text}");
            total += got.len();
            match got.last() {
                Some(last) if got.len() == limit => {
                    query.cursor = Some(hotplex_storage_core::Cursor::of(&last.message).unwrap());
                }
                _ => break,
            }
        }
    }
    total
}

fn indexed_rows(path: &Path) -> (i64, i64) {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        "SELECT (SELECT count(*) FROM message_search), \
                (SELECT count(*) FROM messages WHERE deleted = 0)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_release_database_migrates_and_searches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    // 10,400 live messages: more than one backfill batch (10,000).
    previous_release_database(&path, 13_000);
    let store = open(SqliteConfig::new(&path)).await;
    let status = store.migration_status().await.unwrap();
    assert_eq!(status.current_version, SCHEMA_VERSION);
    assert!(status.is_up_to_date());
    let (indexed, live) = indexed_rows(&path);
    assert_eq!((indexed, live), (10_400, 10_400));
    // Deleted rows were never indexed; every query answers like the scan, page by page.
    let wal = store
        .search(&SearchQuery::new("wal").with_limit(1000))
        .await
        .unwrap();
    assert_eq!(wal.len(), 1000);
    assert!(
        wal.iter()
            .all(|h| !h.message.deleted && h.message.content.contains("WAL"))
    );
    assert!(assert_search_equals_scan(&store, 400).await > 10_000);
    // The migrated database keeps its index with every write path.
    store.delete_session("s0").await.unwrap();
    store.purge_session("s1").await.unwrap();
    store
        .store_user_message(&ChatAppMessage::user("s3", "a new WAL message"))
        .await
        .unwrap();
    store
        .purge_messages_before(Utc.timestamp_opt(1_700_000_005, 0).unwrap())
        .await
        .unwrap();
    store
        .purge_deleted_before(Utc::now() + Duration::days(36_500))
        .await
        .unwrap();
    assert_search_equals_scan(&store, 1000).await;
    store.close().await.unwrap();
    let (indexed, live) = indexed_rows(&path);
    assert_eq!(indexed, live);
}

/// Stores fill a size-limited database (index included) to its store share; deletes and
/// purges still work on it, and the index follows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_with_the_index_still_deletes_and_purges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let store = open(SqliteConfig::new(&path).with_max_size_mb(1)).await;
    let mut stored = 0_u64;
    let err = loop {
        let batch: Vec<_> = (0..20)
            .map(|i| {
                ChatAppMessage::user(
                    ["a", "b", "c"][i % 3],
                    format!("WAL 数据库 message {stored}-{i} Straße"),
                )
            })
            .collect();
        match store.store_batch(&batch).await {
            Ok(receipts) => stored += receipts.len() as u64,
            Err(e) => break e,
        }
        assert!(stored < 100_000, "1 MiB limit never reached");
    };
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    assert!(stored > 200, "only {stored} messages fit");
    let in_a = store.count(&MessageQuery::for_session("a")).await.unwrap();
    assert_eq!(store.delete_session("a").await.unwrap(), in_a);
    assert!(store.purge_session("b").await.unwrap() > 50);
    let cutoff = Utc::now() + Duration::seconds(1);
    assert_eq!(store.purge_deleted_before(cutoff).await.unwrap(), in_a);
    assert_search_equals_scan(&store, 100).await;
    let hits = store
        .search(&SearchQuery::new("数据库").with_limit(1000))
        .await
        .unwrap();
    assert!(hits.iter().all(|h| h.message.chat_session_id == "c"));
    store
        .store_user_message(&ChatAppMessage::user("d", "after the purge WAL"))
        .await
        .unwrap();
    store.close().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let (indexed, live) = indexed_rows(&path);
    assert_eq!(indexed, live);
}

/// A plain connection (no `hotplex_fold`) may read, but an insert fails whole instead of
/// leaving the index behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_the_fold_function_cannot_write_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    let store = open(SqliteConfig::new(&path)).await;
    store.close().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let err = conn
        .execute(
            "INSERT INTO messages (id, chat_session_id, message_type, content, created_at, \
             updated_at) VALUES ('x', 's', 'user_input', 'hi', 1, 1)",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("hotplex_fold"), "{err}");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

/// A deterministic text generator for the timing run: words from a vocabulary of 5,000
/// pseudo-words and 400 CJK characters; `rareword` in one message of 10,000.
fn generated_content(i: u64) -> String {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words = 8 + next() % 20;
    let mut out = String::new();
    for _ in 0..words {
        let w = next();
        if w % 5 == 0 {
            for k in 0..2 {
                out.push(
                    char::from_u32(0x4E00 + u32::try_from((w >> (8 * k)) % 400).unwrap()).unwrap(),
                );
            }
        } else {
            let id = w % 5_000;
            for k in 0..(3 + id % 6) {
                out.push(char::from(
                    b'a' + u8::try_from((id * 7 + k * 13) % 26).unwrap(),
                ));
            }
        }
        out.push(' ');
    }
    if i % 10_000 == 7 {
        out.push_str("rareword");
    }
    out
}

/// Times search against an unindexed LIKE scan (`HOTPLEX_SEARCH_TIMING_ROWS`, default
/// 100,000 and 10,000). Run: `cargo test --release -p hotplex-storage-sqlite --test search
/// -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing run, prints figures"]
async fn search_timing() {
    let big: u64 = std::env::var("HOTPLEX_SEARCH_TIMING_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for rows in [10_000, big] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = open(SqliteConfig::new(&path)).await;
        let started = std::time::Instant::now();
        for chunk in 0..rows / 1_000 {
            let batch: Vec<_> = (0..1_000)
                .map(|k| {
                    let i = chunk * 1_000 + k;
                    ChatAppMessage::user(format!("s{}", i % 1_000), generated_content(i))
                })
                .collect();
            store.store_batch(&batch).await.unwrap();
        }
        println!(
            "{rows} rows stored in {:?}, {} bytes",
            started.elapsed(),
            std::fs::metadata(&path).unwrap().len()
        );
        let common = {
            // A word of the generator's vocabulary, in many messages.
            let text = generated_content(1);
            text.split(' ')
                .find(|w| w.len() >= 5 && w.is_ascii())
                .unwrap()
                .to_owned()
        };
        let cjk: String = generated_content(3)
            .chars()
            .filter(|c| !c.is_ascii())
            .take(2)
            .collect();
        let cases = [
            ("common 3+", SearchQuery::new(common.clone())),
            ("rare 3+", SearchQuery::new("rareword")),
            ("absent 3+", SearchQuery::new("qqqzzz")),
            ("cjk 2", SearchQuery::new(cjk.clone())),
            (
                "rare 3+ in session",
                SearchQuery::new("rareword").with_session("s7"),
            ),
        ];
        for (name, query) in cases {
            let mut times = Vec::new();
            let mut n = 0;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                n = store
                    .search(&query.clone().with_limit(20))
                    .await
                    .unwrap()
                    .len();
                times.push(t.elapsed());
            }
            times.sort();
            println!("  {name:<20} {n:>3} hits  p50 {:?}", times[2]);
        }
        let conn = Connection::open(&path).unwrap();
        let t = std::time::Instant::now();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT seq FROM messages WHERE deleted = 0 AND content LIKE '%rareword%' ORDER BY created_at DESC, seq DESC LIMIT 20)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        println!("  LIKE scan (rare)     {n:>3} hits  {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT seq FROM messages WHERE deleted = 0 AND content LIKE '%qqqzzz%' ORDER BY created_at DESC, seq DESC LIMIT 20)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        println!("  LIKE scan (absent)   {n:>3} hits  {:?}", t.elapsed());
        store.close().await.unwrap();
        print_sizes(&conn);
        // The migration of a schema-1 database of as many rows (every 5th deleted).
        let old = dir.path().join("v1.db");
        let rows = i64::try_from(rows).unwrap();
        previous_release_database_of(&old, rows, |i| generated_content(i.unsigned_abs()));
        let t = std::time::Instant::now();
        open(SqliteConfig::new(&old)).await.close().await.unwrap();
        println!(
            "  migration 1 -> {SCHEMA_VERSION} of {rows} rows: {:?}",
            t.elapsed()
        );
        print_sizes(&Connection::open(&old).unwrap());
    }
}

/// Bytes of the messages table with its indexes, and of the search index.
fn print_sizes(conn: &Connection) {
    let (table, index): (i64, i64) = conn
        .query_row(
            "SELECT sum(pgsize) FILTER (WHERE name NOT LIKE 'message_search%'), \
                    sum(pgsize) FILTER (WHERE name LIKE 'message_search%') FROM dbstat",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    println!("  bytes: tables and indexes {table}, search index {index}");
}
