//! Export and import round trips through a real store (the in-memory reference backend).

use chrono::{Duration, Utc};
use hotplex_storage_core::{
    ChatAppMessage, EXPORT_PAGE_SIZE, IMPORT_BATCH_SIZE, MessageQuery, ReadOnlyStore, SessionStore,
    WriteOnlyStore, export_jsonl, import_jsonl,
};
use hotplex_storage_memory::MemoryStore;

async fn seeded(sessions: usize, per_session: usize) -> MemoryStore {
    let store = MemoryStore::new();
    let base = Utc::now() - Duration::hours(1);
    let mut batch = Vec::new();
    for s in 0..sessions {
        for i in 0..per_session {
            let at = base + Duration::milliseconds(i64::try_from(i).unwrap());
            batch.push(
                ChatAppMessage::user(format!("s{s}"), format!("message {i} of session {s} 你好"))
                    .with_platform("slack")
                    .with_user(format!("U{s}"))
                    .with_metadata_entry("i", i)
                    .with_created_at(at),
            );
        }
    }
    store.store_batch(&batch).await.unwrap();
    store
}

async fn all(store: &MemoryStore) -> Vec<ChatAppMessage> {
    store
        .list(
            &MessageQuery::default()
                .with_ascending(true)
                .with_include_deleted(true),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn export_then_import_reproduces_every_message_and_deleted_flags() {
    let source = seeded(3, EXPORT_PAGE_SIZE + 7).await;
    assert_eq!(
        source.delete_session("s1").await.unwrap(),
        (EXPORT_PAGE_SIZE + 7) as u64
    );
    let mut out = Vec::new();
    let query = MessageQuery::default().with_include_deleted(true);
    let exported = export_jsonl(&source, &query, &mut out).await.unwrap();
    assert_eq!(exported, 3 * (EXPORT_PAGE_SIZE as u64 + 7));
    assert_eq!(
        String::from_utf8_lossy(&out).lines().count() as u64,
        exported
    );

    let target = MemoryStore::new();
    let report = import_jsonl(&target, &out[..]).await.unwrap();
    assert_eq!(report.imported, exported);
    assert_eq!(report.already_present, 0);
    assert!(report.rejected.is_empty());

    let (before, after) = (all(&source).await, all(&target).await);
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        // seq is assigned by each store; everything else must be identical.
        let mut b = b.clone();
        b.seq = a.seq;
        assert_eq!(a, &b);
    }
    assert!(
        target
            .get_session_meta("s1")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        target.get_session_meta("s0").await.unwrap().message_count,
        i64::try_from(EXPORT_PAGE_SIZE + 7).unwrap()
    );

    // Idempotent: a second import adds nothing.
    let again = import_jsonl(&target, &out[..]).await.unwrap();
    assert_eq!(again.imported, 0);
    assert_eq!(again.already_present, exported);
    assert_eq!(all(&target).await.len(), before.len());
}

#[tokio::test]
async fn export_honours_filters_and_limit() {
    let source = seeded(2, 30).await;
    let mut out = Vec::new();
    let n = export_jsonl(
        &source,
        &MessageQuery::for_session("s0").with_limit(25),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(n, 25);
    let text = String::from_utf8(out).unwrap();
    let first: ChatAppMessage = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first.chat_session_id, "s0");
    assert_eq!(first.metadata["i"], 0, "export is oldest first");
}

#[tokio::test]
async fn import_reports_bad_lines_with_numbers_and_keeps_the_rest() {
    let good = serde_json::to_string(&ChatAppMessage::user("s", "ok").with_id("m1")).unwrap();
    let nul = serde_json::to_string(&ChatAppMessage::user("s", "a\0b").with_id("m2")).unwrap();
    let input = format!("{good}\nnot json\n\n{nul}\n");
    let store = MemoryStore::new();
    let report = import_jsonl(&store, input.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 1);
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4]);
    assert!(
        report.rejected[1].reason.contains("content"),
        "{:?}",
        report.rejected[1]
    );
    assert_eq!(store.get("m1").await.unwrap().content, "ok");
    assert!(store.get("m2").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn import_accepts_the_go_plugin_export_format() {
    let go = r#"[
      {"ID":"g1","ChatSessionID":"s","ChatPlatform":"slack","ChatUserID":"U1","ChatBotUserID":"",
       "ChatChannelID":"","ChatThreadID":"","EngineSessionID":"00000000-0000-0000-0000-000000000000",
       "EngineNamespace":"","ProviderSessionID":"","ProviderType":"","MessageType":"user_input",
       "FromUserID":"","FromUserName":"","ToUserID":"","Content":"hi","Metadata":null,
       "CreatedAt":"2026-03-23T18:14:31.123456789+08:00","UpdatedAt":"0001-01-01T00:00:00Z",
       "Deleted":false,"DeletedAt":null},
      {"ID":"g2","ChatSessionID":"","MessageType":"user_input","Content":"no session"}
    ]"#;
    let store = MemoryStore::new();
    let report = import_jsonl(&store, go.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 2);
    let msg = store.get("g1").await.unwrap();
    assert_eq!(
        msg.created_at.unwrap().to_rfc3339(),
        "2026-03-23T10:14:31.123456+00:00"
    );
    assert_eq!(
        store.list_user_sessions("slack", "U1").await.unwrap(),
        ["s"]
    );
    let empty = import_jsonl(&store, &b"null"[..]).await.unwrap();
    assert_eq!(empty.imported + empty.already_present, 0);
}

#[tokio::test]
async fn import_batches_larger_inputs() {
    let lines: Vec<String> = (0..=IMPORT_BATCH_SIZE * 2)
        .map(|i| {
            let msg = ChatAppMessage::bot("s", format!("{i}")).with_id(format!("m{i}"));
            serde_json::to_string(&msg).unwrap()
        })
        .collect();
    let store = MemoryStore::new();
    let report = import_jsonl(&store, lines.join("\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(report.imported, (IMPORT_BATCH_SIZE * 2 + 1) as u64);
    assert_eq!(
        store.count(&MessageQuery::default()).await.unwrap(),
        report.imported
    );
}

#[tokio::test]
async fn a_line_the_store_rejects_is_reported_and_the_rest_of_its_batch_imported() {
    use hotplex_storage_core::ValidationLimits;
    // The store is stricter than import's own checks: 100-byte content.
    let store = MemoryStore::with_limits(ValidationLimits {
        max_content_bytes: 100,
        ..ValidationLimits::default()
    });
    let lines = [
        ChatAppMessage::user("s", "short one").with_id("a"),
        ChatAppMessage::user("s", "x".repeat(200)).with_id("b"),
        ChatAppMessage::user("s", "short two").with_id("c"),
    ]
    .map(|m| serde_json::to_string(&m).unwrap())
    .join("\n");
    let report = import_jsonl(&store, lines.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 2);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 2);
    assert!(
        report.rejected[0].reason.contains("content"),
        "{:?}",
        report.rejected
    );
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 2);
    assert!(store.get("b").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_rejected_not_fatal() {
    let mut input = serde_json::to_vec(&ChatAppMessage::user("s", "a").with_id("a")).unwrap();
    input.extend_from_slice(b"\r\n{\"chat_session_id\":\"s\",\"content\":\"caf\xe9\"}\n");
    input.extend_from_slice(
        &serde_json::to_vec(&ChatAppMessage::user("s", "c").with_id("c")).unwrap(),
    );
    let store = MemoryStore::new();
    let report = import_jsonl(&store, &input[..]).await.unwrap();
    assert_eq!(report.imported, 2);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 2);
    assert_eq!(store.get("c").await.unwrap().content, "c");
}

#[tokio::test]
async fn a_record_without_an_id_is_rejected_so_a_reimport_adds_nothing() {
    let input = [
        serde_json::to_string(&ChatAppMessage::user("s", "kept").with_id("a")).unwrap(),
        serde_json::to_string(&ChatAppMessage::user("s", "no id")).unwrap(),
    ]
    .join("\n");
    let go = r#"[{"ID":"","ChatSessionID":"s","MessageType":"user_input","Content":"go"}]"#;
    let store = MemoryStore::new();
    for _ in 0..2 {
        let report = import_jsonl(&store, input.as_bytes()).await.unwrap();
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert_eq!(report.rejected[0].line, 2);
        assert!(report.rejected[0].reason.contains("id is required"));
        let report = import_jsonl(&store, go.as_bytes()).await.unwrap();
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert_eq!(report.imported, 0);
    }
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 1);
}

#[tokio::test]
async fn a_line_longer_than_any_valid_message_is_skipped_unread() {
    use hotplex_storage_core::ValidationLimits;
    let limits = ValidationLimits {
        max_content_bytes: 10,
        max_field_bytes: 10,
        max_metadata_bytes: 10,
    };
    // The cap for these limits: 6 × (14 × 10 + 10 + 10) + 64 KiB = 66,496 bytes.
    let huge = format!("{{\"id\":\"x\",\"content\":\"{}\"}}\n", "y".repeat(70_000));
    let ok = serde_json::to_string(&ChatAppMessage::user("s", "fine").with_id("ok")).unwrap();
    let input = format!("{huge}{ok}\n");
    let store = MemoryStore::new();
    let report = hotplex_storage_core::import_jsonl_with_progress(
        &store,
        input.as_bytes(),
        &limits,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 1);
    assert!(
        report.rejected[0]
            .reason
            .contains("over the import limit of 66496 bytes"),
        "{report:?}"
    );
    assert_eq!(store.get("ok").await.unwrap().content, "fine");
}

#[tokio::test]
async fn a_go_export_is_imported_element_by_element_across_batches() {
    let elements: Vec<String> = (0..=IMPORT_BATCH_SIZE)
        .map(|i| {
            format!(
                r#"{{"ID":"g{i}","ChatSessionID":"s","MessageType":"user_input","Content":"{i}"}}"#
            )
        })
        .collect();
    let input = format!("[\n  {}\n]\n", elements.join(",\n  "));
    let store = MemoryStore::new();
    let report = import_jsonl(&store, input.as_bytes()).await.unwrap();
    assert_eq!(
        report.imported,
        (IMPORT_BATCH_SIZE + 1) as u64,
        "{report:?}"
    );
    let again = import_jsonl(&store, input.as_bytes()).await.unwrap();
    assert_eq!(again.already_present, (IMPORT_BATCH_SIZE + 1) as u64);
    assert_eq!(store.get("g7").await.unwrap().content, "7");
    // An element that is not a message is one rejected record; the rest is imported.
    let mixed = format!(
        "[{}, 42, {}]",
        elements[0].replace("g0", "h0"),
        elements[0].replace("g0", "h1")
    );
    let report = import_jsonl(&store, mixed.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 2, "{report:?}");
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 2);
}

#[tokio::test]
async fn a_go_export_cut_short_imports_everything_before_the_cut_and_says_so() {
    let elements: Vec<String> = (0..IMPORT_BATCH_SIZE + 100)
        .map(|i| {
            format!(
                r#"{{"ID":"g{i}","ChatSessionID":"s","MessageType":"user_input","Content":"x"}}"#
            )
        })
        .collect();
    let input = format!("[{}, {{\"ID\": \"cut", elements.join(","));
    let store = MemoryStore::new();
    let err = import_jsonl(&store, input.as_bytes()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, hotplex_storage_core::StorageError::Data { .. }),
        "{err:?}"
    );
    assert!(text.contains("ends inside array element 601"), "{text}");
    assert!(text.contains("600 imported"), "{text}");
    assert_eq!(store.count(&MessageQuery::default()).await.unwrap(), 600);
}

#[tokio::test]
async fn floats_and_the_deepest_metadata_survive_export_and_import() {
    use hotplex_storage_core::MAX_METADATA_DEPTH;
    // A float that the default (fast, lossy) serde_json parser reads back one ulp off.
    let float = f64::from_bits(0x305f_050c_368d_cc74);
    let mut deep = serde_json::Value::Null;
    for _ in 1..MAX_METADATA_DEPTH {
        deep = serde_json::Value::Array(vec![deep]);
    }
    let msg = ChatAppMessage::user("s", "c")
        .with_id("f")
        .with_metadata_entry("float", float)
        .with_metadata_entry("deep", deep.clone());
    let source = MemoryStore::new();
    source.store_user_message(&msg).await.unwrap();
    let mut out = Vec::new();
    export_jsonl(&source, &MessageQuery::default(), &mut out)
        .await
        .unwrap();
    let target = MemoryStore::new();
    let report = import_jsonl(&target, &out[..]).await.unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    let back = target.get("f").await.unwrap();
    assert_eq!(
        back.metadata["float"].as_f64().unwrap().to_bits(),
        float.to_bits()
    );
    assert_eq!(back.metadata["deep"], deep);
}

#[tokio::test]
async fn rejected_line_numbers_count_leading_blank_lines() {
    let good = serde_json::to_string(&ChatAppMessage::user("s", "good").with_id("g")).unwrap();
    let input = format!("\n\r\n{{bad}}\n{good}\nnot json\n");
    let store = MemoryStore::new();
    let report = import_jsonl(&store, input.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 1);
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 5]);
}

#[tokio::test]
async fn a_corrupt_first_line_starting_like_a_go_export_is_one_rejected_line() {
    let good = serde_json::to_string(&ChatAppMessage::user("s", "good").with_id("g")).unwrap();
    let other = serde_json::to_string(&ChatAppMessage::user("s", "other").with_id("o")).unwrap();
    for first in ["nonsense", "[broken", "null", "[\"x\"]", "n"] {
        let input = format!("{first}\n{good}\n{other}\n");
        let store = MemoryStore::new();
        let report = import_jsonl(&store, input.as_bytes()).await.unwrap();
        assert_eq!(report.imported, 2, "{first}: {report:?}");
        let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1], "{first}: {report:?}");
        assert_eq!(store.get("o").await.unwrap().content, "other");
    }
}

/// Records the largest `store_batch` call, in messages and bytes, then forwards it.
struct BatchMeter {
    inner: MemoryStore,
    largest: std::sync::Mutex<(usize, u64)>,
}

#[async_trait::async_trait]
impl hotplex_storage_core::WriteOnlyStore for BatchMeter {
    async fn store_user_message(
        &self,
        msg: &ChatAppMessage,
    ) -> hotplex_storage_core::Result<hotplex_storage_core::StoreReceipt> {
        self.inner.store_user_message(msg).await
    }
    async fn store_bot_response(
        &self,
        msg: &ChatAppMessage,
    ) -> hotplex_storage_core::Result<hotplex_storage_core::StoreReceipt> {
        self.inner.store_bot_response(msg).await
    }
    async fn store_batch(
        &self,
        msgs: &[ChatAppMessage],
    ) -> hotplex_storage_core::Result<Vec<hotplex_storage_core::StoreReceipt>> {
        let bytes = msgs.iter().map(ChatAppMessage::approx_bytes).sum::<u64>();
        {
            let mut largest = self.largest.lock().unwrap();
            largest.0 = largest.0.max(msgs.len());
            largest.1 = largest.1.max(bytes);
        }
        self.inner.store_batch(msgs).await
    }
}

#[tokio::test]
async fn import_batches_are_bounded_in_bytes_not_only_in_messages() {
    use hotplex_storage_core::IMPORT_BATCH_BYTES;
    let content = "x".repeat(1024 * 1024);
    let mut input = String::new();
    for i in 0..40 {
        let msg = ChatAppMessage::user("s", content.clone()).with_id(format!("big{i}"));
        input.push_str(&serde_json::to_string(&msg).unwrap());
        input.push('\n');
    }
    let meter = BatchMeter {
        inner: MemoryStore::new(),
        largest: std::sync::Mutex::new((0, 0)),
    };
    let report = import_jsonl(&meter, input.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 40, "{report:?}");
    let (messages, bytes) = *meter.largest.lock().unwrap();
    let one = ChatAppMessage::user("s", content.clone())
        .with_id("big0")
        .approx_bytes();
    assert!(
        bytes <= IMPORT_BATCH_BYTES + one,
        "a batch held {bytes} bytes in {messages} messages"
    );
    assert!(messages < 40, "the 40 MiB import was one batch");
}
