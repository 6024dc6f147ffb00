//! Importing the Go plugin's SQLite database: a file written with the Go plugin's exact DDL
//! and statements (`GoPluginWriter`), read by `GoDatabase`, imported into `SqliteStore` and
//! `MemoryStore`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, GO_METADATA_RAW_KEY, GoImportReport, GoRowSource,
    MessageQuery, MessageType, ReadOnlyStore, StorageError, ValidationLimits, WriteOnlyStore,
    import_go_rows,
};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_sqlite::{GoDatabase, GoPluginRow, GoPluginWriter, SqliteConfig, SqliteStore};
use serde_json::json;
use uuid::Uuid;

const ENGINE: &str = "5c3e7d2a-4b1f-4c8e-9a6d-2f0b1e3c4d5a";

fn go_row(id: &str, session: &str, user: &str, content: &str, at: &str) -> GoPluginRow {
    GoPluginRow {
        id: id.into(),
        chat_session_id: session.into(),
        chat_platform: "slack".into(),
        chat_user_id: user.into(),
        chat_bot_user_id: "B1".into(),
        chat_channel_id: "C1".into(),
        chat_thread_id: "1711111111.000100".into(),
        engine_session_id: ENGINE.into(),
        engine_namespace: "hotplex".into(),
        provider_session_id: "prov-1".into(),
        provider_type: "claude-code".into(),
        message_type: if user.is_empty() {
            "final_response"
        } else {
            "user_input"
        }
        .into(),
        from_user_id: if user.is_empty() { "B1" } else { user }.into(),
        from_user_name: String::new(),
        to_user_id: String::new(),
        content: content.into(),
        metadata: "null".into(),
        created_at: at.into(),
        updated_at: at.into(),
    }
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().unwrap()
}

/// What a clean Go row becomes.
fn expected(row: &GoPluginRow, created: &str) -> ChatAppMessage {
    ChatAppMessage {
        id: row.id.clone(),
        chat_session_id: row.chat_session_id.clone(),
        chat_platform: row.chat_platform.clone(),
        chat_user_id: row.chat_user_id.clone(),
        chat_bot_user_id: row.chat_bot_user_id.clone(),
        chat_channel_id: row.chat_channel_id.clone(),
        chat_thread_id: row.chat_thread_id.clone(),
        engine_session_id: Uuid::parse_str(&row.engine_session_id).unwrap_or_default(),
        engine_namespace: row.engine_namespace.clone(),
        provider_session_id: row.provider_session_id.clone(),
        provider_type: row.provider_type.clone(),
        message_type: MessageType::new(row.message_type.clone()),
        from_user_id: row.from_user_id.clone(),
        from_user_name: row.from_user_name.clone(),
        to_user_id: row.to_user_id.clone(),
        content: row.content.clone(),
        metadata: serde_json::Map::new(),
        created_at: Some(utc(created)),
        updated_at: Some(utc(created)),
        deleted: false,
        deleted_at: None,
        seq: 0,
    }
}

fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn keep(messages: &mut BTreeMap<String, ChatAppMessage>, row: &GoPluginRow, created: &str) {
    messages.insert(row.id.clone(), expected(row, created));
}

/// The scenario: what the Go file holds and what each imported message must be.
struct Scenario {
    /// By id, what the store must hold after the import.
    messages: BTreeMap<String, ChatAppMessage>,
}

/// Writes the Go database at `path`:
/// - session `s-a`: three messages in three zones (`+0800 CST` with a monotonic reading,
///   `+0000 UTC`, `+0530 +0530` without an abbreviation), the bot's first (no user);
/// - `s-b`: metadata `""` (Go's marshal error) and invalid JSON;
/// - `s-c`: two messages, the session deleted, then `m6` re-stored (undeleted by Go's
///   `INSERT OR REPLACE`);
/// - `s-d`: one unparsable `created_at`, one in the year 10000;
/// - `s-e`: rows the Go code cannot write (NULL id, an integer `created_at`), inserted by hand.
fn write_go_database(path: &Path) -> Scenario {
    let go = GoPluginWriter::create(path).unwrap();
    let mut messages = BTreeMap::new();

    let m1 = go_row(
        "m1",
        "s-a",
        "",
        "Hello! How can I help?",
        "2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901",
    );
    let m2 = go_row(
        "m2",
        "s-a",
        "U1",
        "What is WAL?",
        "2026-03-23 10:15:00 +0000 UTC",
    );
    let mut m3 = go_row(
        "m3",
        "s-a",
        "",
        "Write-ahead logging.",
        "2026-03-23 15:46:00.5 +0530 +0530 m=+100.000000001",
    );
    m3.metadata = r#"{"model":"claude","tokens":12,"tags":["a","b"]}"#.into();
    for row in [&m1, &m2, &m3] {
        go.store(row).unwrap();
    }
    keep(&mut messages, &m1, "2026-03-23T10:14:31.123456Z");
    keep(&mut messages, &m2, "2026-03-23T10:15:00Z");
    keep(&mut messages, &m3, "2026-03-23T10:16:00.5Z");
    messages.get_mut("m3").unwrap().metadata =
        object(json!({"model":"claude","tokens":12,"tags":["a","b"]}));

    let mut m4 = go_row(
        "m4",
        "s-b",
        "U2",
        "first",
        "2026-03-22 20:00:00.000001 -0700 MST m=+5.000000000",
    );
    m4.metadata = String::new();
    let mut m5 = go_row("m5", "s-b", "", "second", "2026-03-23 03:00:01 +0000 UTC");
    m5.metadata = "{broken".into();
    go.store(&m4).unwrap();
    go.store(&m5).unwrap();
    keep(&mut messages, &m4, "2026-03-23T03:00:00.000001Z");
    keep(&mut messages, &m5, "2026-03-23T03:00:01Z");
    messages.get_mut("m5").unwrap().metadata = object(json!({GO_METADATA_RAW_KEY: "{broken"}));

    let m6 = go_row(
        "m6",
        "s-c",
        "U3",
        "to be deleted",
        "2026-03-20 09:00:00 +0900 JST m=+1.000000000",
    );
    let m7 = go_row(
        "m7",
        "s-c",
        "",
        "deleted answer",
        "2026-03-20 09:00:05 +0900 JST m=+6.000000000",
    );
    go.store(&m6).unwrap();
    go.store(&m7).unwrap();
    let deleted_at = "2026-03-21 12:00:00.25 +0100 CET m=+86400.000000000";
    assert_eq!(go.delete_session("s-c", deleted_at).unwrap(), 2);
    let mut m7_deleted = expected(&m7, "2026-03-20T00:00:05Z");
    m7_deleted.deleted = true;
    m7_deleted.deleted_at = Some(utc("2026-03-21T11:00:00.25Z"));
    messages.insert("m7".into(), m7_deleted);
    // Re-stored: Go's REPLACE drops the deleted flag (and gives the row a new rowid).
    let m6_again = go_row(
        "m6",
        "s-c",
        "U3",
        "asked again",
        "2026-03-22 09:00:00 +0900 JST m=+2.000000000",
    );
    go.store(&m6_again).unwrap();
    keep(&mut messages, &m6_again, "2026-03-22T00:00:00Z");

    let m8 = go_row("m8", "s-d", "U4", "no zone", "2026-03-23 18:14:31");
    let m9 = go_row(
        "m9",
        "s-d",
        "U4",
        "far future",
        "10000-01-01 00:00:00 +0000 UTC",
    );
    go.store(&m8).unwrap();
    go.store(&m9).unwrap();
    keep(&mut messages, &m9, "+10000-01-01T00:00:00Z");
    go.close().unwrap();

    insert_rows_go_cannot_write(path);
    Scenario { messages }
}

/// Session `s-e`: a NULL id and an integer `created_at`, which only hand-written SQL can store.
fn insert_rows_go_cannot_write(path: &Path) {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch(
        "INSERT INTO messages (id, chat_session_id, chat_platform, chat_user_id, engine_session_id,
             provider_session_id, provider_type, message_type, content, metadata, created_at, updated_at)
         VALUES (NULL, 's-e', 'slack', 'U5', '', '', '', 'user_input', 'no id', 'null',
                 '2026-03-23 10:00:00 +0000 UTC', '2026-03-23 10:00:00 +0000 UTC');
         INSERT INTO messages (id, chat_session_id, chat_platform, chat_user_id, engine_session_id,
             provider_session_id, provider_type, message_type, content, metadata, created_at, updated_at)
         VALUES ('m10', 's-e', 'slack', 'U5', '', '', '', 'user_input', 'epoch seconds', 'null',
                 1711111111, 1711111111);",
    )
    .unwrap();
    raw.close().unwrap();
}

async fn import(store: &(impl WriteOnlyStore + ?Sized), path: &Path) -> GoImportReport {
    let mut db = GoDatabase::open(path).unwrap();
    let mut calls = 0;
    let report = import_go_rows(store, &mut db, &ValidationLimits::default(), &mut |_| {
        calls += 1;
    })
    .await
    .unwrap();
    assert!(calls > 0);
    report
}

async fn all_messages(store: &(impl ReadOnlyStore + ?Sized)) -> BTreeMap<String, ChatAppMessage> {
    let query = MessageQuery::default().with_include_deleted(true);
    store
        .list(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.id.clone(), ChatAppMessage { seq: 0, ..m }))
        .collect()
}

/// Every check of the scenario against `store` (freshly initialized).
async fn check_scenario(
    store: &(impl ChatAppMessageStore + ?Sized),
    path: &Path,
    scenario: &Scenario,
) {
    let report = import(store, path).await;
    assert_eq!(report.rows, 11);
    assert_eq!(report.imported, 8, "{report:#?}");
    assert_eq!((report.already_present, report.filtered), (0, 0));
    let skipped: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert_eq!(skipped[0].0, "m8");
    assert!(
        skipped[0].1.contains("created_at \"2026-03-23 18:14:31\""),
        "{skipped:?}"
    );
    assert!(skipped[1].1.contains("id is NULL"), "{skipped:?}");
    assert_eq!(skipped[2].0, "m10");
    assert!(
        skipped[2].1.contains("created_at \"1711111111\""),
        "{skipped:?}"
    );
    let noted: Vec<&str> = report.notes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(noted, ["m4", "m5"]);
    assert!(
        report
            .skipped
            .iter()
            .chain(&report.notes)
            .all(|i| i.rowid > 0)
    );

    // Lossless: every field of every message, deleted ones too.
    let stored = all_messages(store).await;
    assert_eq!(stored, scenario.messages);

    // Metas are rebuilt from the stored messages, never copied from the drifting Go ones.
    let meta = store.get_session_meta("s-a").await.unwrap();
    assert_eq!(
        (meta.message_count, meta.last_message_id.as_str()),
        (3, "m3")
    );
    assert_eq!(
        (meta.chat_platform.as_str(), meta.chat_user_id.as_str()),
        ("slack", "U1")
    );
    assert_eq!(meta.last_message_at, utc("2026-03-23T10:16:00.5Z"));
    let meta = store.get_session_meta("s-b").await.unwrap();
    assert_eq!(
        (meta.message_count, meta.last_message_id.as_str()),
        (2, "m5")
    );
    // Go counted three stores here; one message is live.
    let meta = store.get_session_meta("s-c").await.unwrap();
    assert_eq!(
        (meta.message_count, meta.last_message_id.as_str()),
        (1, "m6")
    );
    let meta = store.get_session_meta("s-d").await.unwrap();
    assert_eq!(meta.message_count, 1);
    assert!(
        store
            .get_session_meta("s-e")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(store.get("m7").await.unwrap_err().is_not_found());
    assert_eq!(
        store.list_user_sessions("slack", "U1").await.unwrap(),
        ["s-a"]
    );

    // A second run imports nothing and changes nothing.
    let again = import(store, path).await;
    assert_eq!((again.imported, again.already_present), (0, 8));
    assert_eq!(again.skipped.len(), 3);
    assert_eq!(all_messages(store).await, scenario.messages);
    assert_eq!(
        store.get_session_meta("s-a").await.unwrap().message_count,
        3
    );
}

#[tokio::test]
async fn a_go_database_moves_losslessly_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let go_path = dir.path().join("chatapp_messages.db");
    let scenario = write_go_database(&go_path);
    let before = std::fs::read(&go_path).unwrap();
    let store = SqliteStore::new(SqliteConfig::new(dir.path().join("messages.db"))).unwrap();
    store.initialize().await.unwrap();
    check_scenario(&store, &go_path, &scenario).await;
    store.close().await.unwrap();
    // Reading never modified the Go file.
    assert_eq!(std::fs::read(&go_path).unwrap(), before);
}

#[tokio::test]
async fn a_go_database_moves_losslessly_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let go_path = dir.path().join("chatapp_messages.db");
    let scenario = write_go_database(&go_path);
    check_scenario(&MemoryStore::new(), &go_path, &scenario).await;
}

#[test]
fn the_summary_counts_rows_and_the_drifted_go_metas() {
    let dir = tempfile::tempdir().unwrap();
    let go_path = dir.path().join("chatapp_messages.db");
    write_go_database(&go_path);
    let db = GoDatabase::open(&go_path).unwrap();
    let summary = db.summary();
    assert_eq!((summary.rows, summary.deleted_rows), (11, 1));
    // s-a, s-b, s-c, s-d; only s-c's count (3 stores, 1 live row) disagrees.
    assert_eq!(summary.session_metas, Some(4));
    assert_eq!(summary.session_metas_disagreeing, Some(1));
    assert!(summary.ignored_columns.is_empty());
}

#[tokio::test]
async fn pages_cover_every_row_in_rowid_order_and_the_snapshot_holds() {
    let dir = tempfile::tempdir().unwrap();
    let go_path = dir.path().join("chatapp_messages.db");
    let go = GoPluginWriter::create(&go_path).unwrap();
    for n in 0..1_234 {
        let at = format!(
            "2026-03-23 18:{:02}:{:02}.{n} +0800 CST m=+1.000000000",
            n / 60 % 60,
            n % 60
        );
        go.store(&go_row(
            &format!("m{n}"),
            &format!("s{}", n % 5),
            "U1",
            "x",
            &at,
        ))
        .unwrap();
    }
    let mut db = GoDatabase::open(&go_path).unwrap();
    // Written after the open: not part of this import's snapshot.
    go.store(&go_row(
        "late",
        "s0",
        "U1",
        "late",
        "2026-03-24 00:00:00 +0000 UTC",
    ))
    .unwrap();
    let mut sizes = Vec::new();
    let mut rowids = Vec::new();
    loop {
        let page = db.next_rows().unwrap();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        rowids.extend(page.iter().map(|r| r.rowid));
    }
    assert_eq!(sizes, [500, 500, 234]);
    assert_eq!(rowids, (1..=1_234).collect::<Vec<i64>>());
    assert!(db.next_rows().unwrap().is_empty());
    let store = MemoryStore::new();
    let report = import(&store, &go_path).await;
    assert_eq!(report.imported, 1_235);
}

#[tokio::test]
async fn a_value_over_the_limit_is_not_read_and_its_row_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let go_path = dir.path().join("chatapp_messages.db");
    let go = GoPluginWriter::create(&go_path).unwrap();
    let at = "2026-03-23 10:00:00 +0000 UTC";
    go.store(&go_row("small", "s1", "U1", &"a".repeat(100), at))
        .unwrap();
    go.store(&go_row("big", "s1", "U1", &"b".repeat(101), at))
        .unwrap();
    let mut db = GoDatabase::open(&go_path)
        .unwrap()
        .with_max_value_bytes(100);
    let store = MemoryStore::new();
    let report = import_go_rows(&store, &mut db, &ValidationLimits::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].id, "big");
    assert!(
        report.skipped[0]
            .reason
            .contains("content is 101 bytes, over the import limit of 100")
    );
}

#[tokio::test]
async fn files_that_are_not_a_go_database_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("export.jsonl");
    std::fs::write(&text, "{\"id\":\"m1\"}\n").unwrap();
    let err = GoDatabase::open(&text).unwrap_err();
    assert!(
        err.to_string().contains("is not a SQLite database"),
        "{err}"
    );

    let err = GoDatabase::open(dir.path().join("missing.db")).unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");

    let empty = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&empty).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (x TEXT); CREATE TABLE messages (id TEXT, content TEXT);",
    )
    .unwrap();
    drop(conn);
    let err = GoDatabase::open(&empty).unwrap_err();
    assert!(
        err.to_string()
            .contains("lacks the Go plugin's columns chat_session_id"),
        "{err}"
    );

    let conn = rusqlite::Connection::open(dir.path().join("none.db")).unwrap();
    conn.execute_batch("CREATE TABLE notes (x TEXT);").unwrap();
    drop(conn);
    let err = GoDatabase::open(dir.path().join("none.db")).unwrap_err();
    assert!(err.to_string().contains("has no `messages` table"), "{err}");

    // Our own database is recognised as such.
    let ours = dir.path().join("messages.db");
    let store = SqliteStore::new(SqliteConfig::new(&ours)).unwrap();
    store.initialize().await.unwrap();
    store
        .store_user_message(&ChatAppMessage::user("s1", "hi"))
        .await
        .unwrap();
    store.close().await.unwrap();
    let err = GoDatabase::open(&ours).unwrap_err();
    assert!(
        err.to_string().contains("is a hotplex-storage database"),
        "{err}"
    );
}

#[tokio::test]
async fn the_smallest_and_largest_rowids_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let go_path = dir.path().join("chatapp_messages.db");
    GoPluginWriter::create(&go_path).unwrap().close().unwrap();
    let raw = rusqlite::Connection::open(&go_path).unwrap();
    for (rowid, id) in [(i64::MIN, "first"), (0, "middle"), (i64::MAX, "last")] {
        raw.execute(
            "INSERT INTO messages (rowid, id, chat_session_id, chat_platform, chat_user_id,
                 engine_session_id, provider_session_id, provider_type, message_type, content,
                 metadata, created_at, updated_at, deleted)
             VALUES (?1, ?2, 's1', '', '', '', '', '', 'user_input', 'x', 'null',
                 '2026-03-23 10:00:00 +0000 UTC', '2026-03-23 10:00:00 +0000 UTC', 0)",
            rusqlite::params![rowid, id],
        )
        .unwrap();
    }
    drop(raw);
    let mut db = GoDatabase::open(&go_path).unwrap();
    let page = db.next_rows().unwrap();
    let rowids: Vec<i64> = page.iter().map(|r| r.rowid).collect();
    assert_eq!(rowids, [i64::MIN, 0, i64::MAX]);
    assert!(db.next_rows().unwrap().is_empty());
}
