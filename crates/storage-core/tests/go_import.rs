//! The Go database import of core: the row mapping and the import loop (over `MemoryStore`).

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use hotplex_storage_core::{
    ChatAppMessage, GO_DELETED_AT_KEY, GO_ENGINE_SESSION_ID_KEY, GO_METADATA_RAW_KEY,
    GoImportReport, GoRow, GoRowMessage, GoRowSource, GoValue, MessageQuery, MessageType,
    ReadOnlyStore, Result, SessionStore, StorageError, StoreReceipt, ValidationLimits,
    WriteOnlyStore, go_row_to_message, import_go_rows,
};
use hotplex_storage_memory::MemoryStore;

fn text(s: &str) -> GoValue {
    GoValue::Text(s.to_owned())
}

/// A row as the Go plugin writes it: every column set, `deleted = 0`, `deleted_at` NULL.
fn row(rowid: i64, id: &str, session: &str, created_at: &str) -> GoRow {
    let mut values: [GoValue; 21] = std::array::from_fn(|_| text(""));
    values[0] = text(id);
    values[1] = text(session);
    values[2] = text("slack");
    values[3] = text("U1");
    values[7] = text("5c3e7d2a-4b1f-4c8e-9a6d-2f0b1e3c4d5a");
    values[8] = text("hotplex");
    values[11] = text("user_input");
    values[15] = text(&format!("content of {id}"));
    values[16] = text("{\"k\":1}");
    values[17] = text(created_at);
    values[18] = text(created_at);
    values[19] = GoValue::Integer(0);
    values[20] = GoValue::Null;
    GoRow::new(rowid, values)
}

const AT: &str = "2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901";

fn mapped(row: GoRow) -> GoRowMessage {
    go_row_to_message(row).unwrap()
}

fn skipped(row: GoRow) -> String {
    go_row_to_message(row).unwrap_err()
}

#[test]
fn a_clean_row_maps_field_by_field() {
    let m = mapped(row(1, "m1", "s1", AT));
    assert!(m.notes.is_empty());
    let msg = m.message;
    assert_eq!(msg.id, "m1");
    assert_eq!(msg.chat_session_id, "s1");
    assert_eq!(msg.chat_platform, "slack");
    assert_eq!(msg.chat_user_id, "U1");
    assert_eq!(
        msg.engine_session_id.to_string(),
        "5c3e7d2a-4b1f-4c8e-9a6d-2f0b1e3c4d5a"
    );
    assert_eq!(msg.engine_namespace, "hotplex");
    assert_eq!(msg.message_type, MessageType::USER_INPUT);
    assert_eq!(msg.content, "content of m1");
    assert_eq!(msg.metadata["k"], 1);
    let at = msg.created_at.unwrap();
    assert_eq!(at.to_rfc3339(), "2026-03-23T10:14:31.123456+00:00");
    assert_eq!(msg.updated_at, Some(at));
    assert!(!msg.deleted && msg.deleted_at.is_none());
}

#[test]
fn null_and_empty_strings_are_absent_values() {
    let mut r = row(1, "m1", "s1", AT);
    r.chat_bot_user_id = GoValue::Null;
    r.engine_namespace = GoValue::Null;
    r.engine_session_id = text("");
    r.updated_at = GoValue::Null;
    r.metadata = GoValue::Null;
    let m = mapped(r);
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    assert_eq!(m.message.chat_bot_user_id, "");
    assert_eq!(m.message.engine_namespace, "");
    assert!(m.message.engine_session_id.is_nil());
    assert_eq!(m.message.updated_at, m.message.created_at);
    assert!(m.message.metadata.is_empty());
    // Go's zero UUID is nil as well.
    let mut r = row(1, "m1", "s1", AT);
    r.engine_session_id = text("00000000-0000-0000-0000-000000000000");
    assert!(mapped(r).message.engine_session_id.is_nil());
}

#[test]
fn metadata_null_empty_and_invalid_are_handled_and_noted() {
    let with = |value: GoValue| {
        let mut r = row(1, "m1", "s1", AT);
        r.metadata = value;
        mapped(r)
    };
    let m = with(text("null"));
    assert!(m.message.metadata.is_empty() && m.notes.is_empty());
    let m = with(text(""));
    assert!(m.message.metadata.is_empty());
    assert!(m.notes[0].contains("metadata is empty"), "{:?}", m.notes);
    for bad in ["{not json", "[1,2]", "\"text\"", "{\"a\":1} trailing"] {
        let m = with(text(bad));
        assert_eq!(m.message.metadata.len(), 1, "{bad}");
        assert_eq!(m.message.metadata[GO_METADATA_RAW_KEY], bad);
        assert!(
            m.notes[0].contains(GO_METADATA_RAW_KEY),
            "{bad}: {:?}",
            m.notes
        );
    }
    let m = with(GoValue::Integer(42));
    assert_eq!(m.message.metadata[GO_METADATA_RAW_KEY], "42");
}

#[test]
fn values_without_a_place_are_kept_in_metadata() {
    let mut r = row(1, "m1", "s1", AT);
    r.engine_session_id = text("not-a-uuid");
    r.deleted_at = text(AT);
    let m = mapped(r);
    assert!(m.message.engine_session_id.is_nil());
    assert_eq!(m.message.metadata[GO_ENGINE_SESSION_ID_KEY], "not-a-uuid");
    assert_eq!(m.message.metadata[GO_DELETED_AT_KEY], AT);
    assert!(m.message.deleted_at.is_none());
    assert_eq!(m.notes.len(), 2, "{:?}", m.notes);
    // A key the Go metadata already has is never overwritten: the row is skipped.
    let mut r = row(1, "m1", "s1", AT);
    r.metadata = text(&format!("{{\"{GO_ENGINE_SESSION_ID_KEY}\":\"x\"}}"));
    r.engine_session_id = text("not-a-uuid");
    assert!(skipped(r).contains("already has the key"));
}

#[test]
fn deleted_rows_arrive_deleted() {
    let mut r = row(1, "m1", "s1", AT);
    r.deleted = GoValue::Integer(1);
    r.deleted_at = text("2026-03-24 09:00:00.5 +0900 JST m=+99.000000000");
    let m = mapped(r);
    assert!(m.message.deleted);
    assert_eq!(
        m.message.deleted_at.unwrap().to_rfc3339(),
        "2026-03-24T00:00:00.500+00:00"
    );
    let mut r = row(1, "m1", "s1", AT);
    r.deleted = GoValue::Integer(1);
    let m = mapped(r);
    assert!(m.message.deleted && m.message.deleted_at.is_none());
    assert!(m.notes[0].contains("import time"), "{:?}", m.notes);
}

/// A change to a clean row.
type Change = Box<dyn Fn(&mut GoRow)>;

#[test]
fn what_cannot_be_read_is_skipped_with_its_reason() {
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|r| r.created_at = text("garbage")),
            "created_at \"garbage\"",
        ),
        (
            Box::new(|r| r.created_at = GoValue::Null),
            "created_at is missing",
        ),
        (
            Box::new(|r| r.created_at = text("0001-01-01 00:00:00 +0000 UTC")),
            "created_at is missing",
        ),
        (
            Box::new(|r| r.created_at = GoValue::Integer(1_711_111_111)),
            "created_at \"1711111111\"",
        ),
        (
            Box::new(|r| r.updated_at = text("2026-03-23")),
            "updated_at",
        ),
        (
            Box::new(|r| {
                r.deleted = GoValue::Integer(1);
                r.deleted_at = text("yesterday");
            }),
            "deleted_at \"yesterday\"",
        ),
        (Box::new(|r| r.deleted = GoValue::Null), "deleted is NULL"),
        (
            Box::new(|r| r.deleted = GoValue::Integer(2)),
            "deleted is 2",
        ),
        (Box::new(|r| r.deleted = text("yes")), "deleted is \"yes\""),
        (Box::new(|r| r.id = GoValue::Null), "id is NULL"),
        (
            Box::new(|r| r.content = GoValue::Bytes(vec![0xff, 0xfe])),
            "content is binary",
        ),
        (
            Box::new(|r| r.content = GoValue::Oversize { bytes: 9, limit: 8 }),
            "content is 9 bytes, over the import limit of 8",
        ),
    ];
    for (change, says) in cases {
        let mut r = row(1, "m1", "s1", AT);
        change(&mut r);
        let reason = skipped(r);
        assert!(reason.contains(says), "{says}: {reason}");
    }
    // UTF-8 in a blob is text.
    let mut r = row(1, "m1", "s1", AT);
    r.content = GoValue::Bytes("héllo".as_bytes().to_vec());
    assert_eq!(mapped(r).message.content, "héllo");
}

/// Rows handed out `page` at a time.
struct Rows {
    rows: Vec<GoRow>,
    page: usize,
}

impl GoRowSource for Rows {
    fn next_rows(&mut self) -> Result<Vec<GoRow>> {
        let n = self.page.min(self.rows.len());
        Ok(self.rows.drain(..n).collect())
    }
}

fn source(rows: &[GoRow], page: usize) -> Rows {
    Rows {
        rows: rows.to_vec(),
        page,
    }
}

async fn run(store: &(impl WriteOnlyStore + ?Sized), rows: &[GoRow]) -> Result<GoImportReport> {
    let mut seen = Vec::new();
    let report = import_go_rows(
        store,
        &mut source(rows, 7),
        &ValidationLimits::default(),
        &mut |n| seen.push(n),
    )
    .await?;
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last().copied(), Some(report.rows));
    Ok(report)
}

/// 1,203 rows over three sessions: every 100th has bad metadata, every 250th an unparsable
/// `created_at`, every 400th an empty session (invalid), session `s2` is deleted.
fn many_rows() -> Vec<GoRow> {
    (1..=1_203_i64)
        .map(|n| {
            let session = format!("s{}", n % 3);
            let at = format!(
                "2026-03-23 18:{:02}:{:02}.{n:09} +0800 CST m=+1.000000000",
                n / 60 % 60,
                n % 60
            );
            let mut r = row(n * 2, &format!("m{n}"), &session, &at);
            if n % 100 == 0 {
                r.metadata = text("{broken");
            }
            if n % 250 == 0 {
                r.created_at = text("2026-03-23 18:00:00");
            }
            if n % 400 == 0 {
                r.chat_session_id = text("");
            }
            if session == "s2" {
                r.deleted = GoValue::Integer(1);
                r.deleted_at = text(AT);
            }
            r
        })
        .collect()
}

#[tokio::test]
async fn imports_reports_and_a_second_run_imports_nothing() {
    let rows = many_rows();
    let store = MemoryStore::new();
    let report = run(&store, &rows).await.unwrap();
    // Skipped: n % 250 (4 rows: 250, 500, 750, 1000) and n % 400 (400, 800, 1200); none both.
    let skipped: Vec<i64> = report.skipped.iter().map(|s| s.rowid).collect();
    assert_eq!(skipped, [500, 800, 1000, 1500, 1600, 2000, 2400]);
    assert!(report.skipped[0].reason.contains("created_at"));
    assert!(report.skipped[1].reason.contains("chat_session_id"));
    assert_eq!(report.skipped[1].id, "m400");
    // Notes only for imported rows: n % 100 except 400, 800, 1000, 1200 (skipped) and 500.
    let noted: Vec<i64> = report.notes.iter().map(|s| s.rowid / 2).collect();
    assert_eq!(noted, [100, 200, 300, 600, 700, 900, 1100]);
    assert_eq!(report.rows, 1_203);
    assert_eq!(report.imported, 1_203 - 7);
    assert_eq!((report.already_present, report.filtered), (0, 0));
    let all = MessageQuery::default().with_include_deleted(true);
    assert_eq!(store.count(&all).await.unwrap(), 1_196);

    // Metas come from the stored messages: the deleted session has none.
    assert!(
        store
            .get_session_meta("s2")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let live = MessageQuery::for_session("s1");
    let meta = store.get_session_meta("s1").await.unwrap();
    assert_eq!(
        meta.message_count,
        i64::try_from(store.count(&live).await.unwrap()).unwrap()
    );
    let newest = store.list(&live.clone().with_limit(1)).await.unwrap();
    assert_eq!(meta.last_message_id, newest[0].id);

    let again = run(&store, &rows).await.unwrap();
    assert_eq!((again.imported, again.already_present), (0, 1_196));
    assert_eq!(again.skipped.len(), 7);
    assert_eq!(store.count(&all).await.unwrap(), 1_196);
}

/// A store that fails (storage full) once `fail_after` batches have been written.
struct FailingAfter {
    inner: MemoryStore,
    batches: AtomicUsize,
    fail_after: usize,
}

#[async_trait]
impl WriteOnlyStore for FailingAfter {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.inner.store_user_message(msg).await
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.inner.store_bot_response(msg).await
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        if self.batches.fetch_add(1, Ordering::SeqCst) >= self.fail_after {
            return Err(StorageError::storage_full("test limit"));
        }
        self.inner.store_batch(msgs).await
    }
}

#[tokio::test]
async fn an_interrupted_import_continues_on_the_next_run() {
    let rows = many_rows();
    let failing = FailingAfter {
        inner: MemoryStore::new(),
        batches: AtomicUsize::new(0),
        fail_after: 1,
    };
    let err = run(&failing, &rows).await.unwrap_err();
    assert!(matches!(err, StorageError::StorageFull { .. }), "{err:?}");
    let all = MessageQuery::default().with_include_deleted(true);
    let first = failing.inner.count(&all).await.unwrap();
    assert!(first > 0 && first < 1_196, "{first}");
    let rest = run(&failing.inner, &rows).await.unwrap();
    assert_eq!(rest.already_present, first);
    assert_eq!(rest.imported + first, 1_196);
    assert_eq!(failing.inner.count(&all).await.unwrap(), 1_196);
}
