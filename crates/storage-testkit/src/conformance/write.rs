//! Writing: round trips of every field, identity (ids, timestamps, seq) and idempotent
//! re-stores.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use hotplex_storage_core::{
    ChatAppMessage, MessageQuery, MessageType, StorageError, StoreOutcome, time,
};
use serde_json::json;
use uuid::Uuid;

use super::support::{
    Store, assert_no_meta, at, at_nanos, count, get, ids, list, meta, put, put_batch, put_new,
    timed,
};

/// Metadata numbers read back exactly: integers at the `i64`/`u64` extremes and floats whose
/// shortest decimal form a fast parser reads one ulp off.
pub async fn metadata_numbers_round_trip_exactly(store: Store) {
    let floats = [
        f64::from_bits(0x305f_050c_368d_cc74),
        0.1,
        -2.5e-308,
        f64::MAX,
        f64::MIN_POSITIVE,
        1.0 / 3.0,
    ];
    let msg = timed("s", "numbers", 1)
        .with_metadata_entry("i64_min", i64::MIN)
        .with_metadata_entry("i64_max", i64::MAX)
        .with_metadata_entry("u64_max", u64::MAX)
        .with_metadata_entry("floats", json!(floats));
    let id = put(&store, &msg).await.id;
    let back = get(&store, &id).await;
    assert_eq!(back.metadata["i64_min"].as_i64(), Some(i64::MIN));
    assert_eq!(back.metadata["i64_max"].as_i64(), Some(i64::MAX));
    assert_eq!(back.metadata["u64_max"].as_u64(), Some(u64::MAX));
    let read: Vec<u64> = back.metadata["floats"]
        .as_array()
        .expect("floats read back as an array")
        .iter()
        .map(|v| v.as_f64().expect("a float reads back as a float").to_bits())
        .collect();
    let written: Vec<u64> = floats.iter().map(|f| f.to_bits()).collect();
    assert_eq!(read, written, "every float reads back bit-exact");
}

/// Every field of a message survives a store/get round trip, nested metadata and
/// `engine_session_id` included; caller timestamps keep their microseconds, `seq` is assigned
/// by the store and the input `seq` ignored; `list` returns the same message.
pub async fn round_trip_every_field(store: Store) {
    let created = at_nanos(100, 123_456_000);
    let updated = at_nanos(105, 654_321_000);
    let msg = ChatAppMessage {
        id: "msg-round-trip-1".into(),
        chat_session_id: "slack:U1:C1".into(),
        chat_platform: "slack".into(),
        chat_user_id: "U1".into(),
        chat_bot_user_id: "B1".into(),
        chat_channel_id: "C1".into(),
        chat_thread_id: "T1".into(),
        engine_session_id: Uuid::now_v7(),
        engine_namespace: "hotplex".into(),
        provider_session_id: "prov-session-1".into(),
        provider_type: "claude-code".into(),
        message_type: MessageType::FINAL_RESPONSE,
        from_user_id: "B1".into(),
        from_user_name: "Bot".into(),
        to_user_id: "U1".into(),
        content: "The answer is 42.".into(),
        metadata: json!({
            "nested": {"a": [1, 2, {"b": "c"}], "empty": {}},
            "flag": true,
            "n": 1.5,
            "none": null,
            "text": "x"
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        created_at: Some(created),
        updated_at: Some(updated),
        deleted: false,
        deleted_at: None,
        seq: -7,
    };
    let receipt = store.store_bot_response(&msg).await.expect("store");
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(receipt.id, msg.id, "a caller id is kept");
    let back = get(&store, &msg.id).await;
    assert_ne!(
        back.seq, -7,
        "the input seq is ignored: the store assigns it"
    );
    let expected = ChatAppMessage {
        seq: back.seq,
        ..msg.clone()
    };
    assert_eq!(back, expected, "get returns every field as stored");
    let listed = list(&store, &MessageQuery::for_session("slack:U1:C1")).await;
    assert_eq!(listed, vec![expected], "list returns the same message");
}

/// Caller timestamps keep microsecond precision and lose sub-microsecond nanos; a missing
/// `updated_at` equals `created_at`; a missing `created_at` becomes "now" (microseconds).
pub async fn timestamps_truncated_to_micros(store: Store) {
    let created = at_nanos(10, 123_456_789);
    let id = put_new(
        &store,
        &ChatAppMessage::user("s", "nanos").with_created_at(created),
    )
    .await;
    let back = get(&store, &id).await;
    let got = back.created_at.expect("created_at is set");
    assert_eq!(got, at_nanos(10, 123_456_000), "sub-µs nanos are truncated");
    assert_eq!(
        back.updated_at,
        Some(got),
        "a missing updated_at equals created_at"
    );

    let before = time::now_micros();
    let id = put_new(&store, &ChatAppMessage::user("s", "now")).await;
    let after = Utc::now();
    let back = get(&store, &id).await;
    let got = back.created_at.expect("a missing created_at is filled");
    assert!(
        got >= before - chrono::Duration::seconds(5) && got <= after + chrono::Duration::seconds(5),
        "a missing created_at becomes now: {got} not within [{before}, {after}]"
    );
    assert_eq!(got.timestamp_subsec_nanos() % 1_000, 0, "µs precision");
    assert_eq!(back.updated_at, Some(got));
}

/// Caller-given `created_at` values are kept exactly, far in the past and in the future.
pub async fn caller_created_at_kept(store: Store) {
    let times = [
        Utc.with_ymd_and_hms(2001, 9, 9, 1, 46, 40).unwrap(),
        at(0),
        Utc.with_ymd_and_hms(2099, 12, 31, 23, 59, 59).unwrap()
            + chrono::Duration::microseconds(999_999),
    ];
    for (i, t) in times.into_iter().enumerate() {
        let id = put_new(
            &store,
            &ChatAppMessage::user("s", format!("m{i}")).with_created_at(t),
        )
        .await;
        let back = get(&store, &id).await;
        assert_eq!(back.created_at, Some(t), "created_at {t} is kept");
        assert_eq!(back.updated_at, Some(t));
    }
}

/// Ids assigned by the store are UUIDv7 strings, unique over 1,000 batched and 10 single
/// writes, and listed under exactly those ids.
pub async fn generated_ids_are_unique_uuidv7(store: Store) {
    let batch: Vec<_> = (0..1_000)
        .map(|i| ChatAppMessage::user("ids", format!("m{i}")))
        .collect();
    let mut all: Vec<String> = put_batch(&store, &batch)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.outcome, StoreOutcome::Stored);
            r.id
        })
        .collect();
    for i in 0..10 {
        all.push(put_new(&store, &ChatAppMessage::bot("ids", format!("single {i}"))).await);
    }
    for id in &all {
        let uuid = Uuid::parse_str(id).unwrap_or_else(|e| panic!("id {id:?} is not a UUID: {e}"));
        assert_eq!(uuid.get_version_num(), 7, "id {id} is not a UUIDv7");
        assert_eq!(&uuid.to_string(), id, "ids are lowercase hyphenated UUIDs");
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 1_010, "generated ids are unique");
    let listed: HashSet<String> = ids(&list(&store, &MessageQuery::for_session("ids")).await)
        .into_iter()
        .collect();
    assert_eq!(
        listed,
        all.iter().cloned().collect(),
        "listed ids are the receipts' ids"
    );
}

/// Ids given by the caller are kept verbatim (any opaque string up to 256 bytes).
pub async fn caller_ids_kept(store: Store) {
    let long = "i".repeat(256);
    for id in [
        "custom-1",
        "ext:abc/def?x=1",
        "Ünïcödé-id-✓",
        "0",
        long.as_str(),
    ] {
        let receipt = put(&store, &ChatAppMessage::user("s", "c").with_id(id)).await;
        assert_eq!(receipt.outcome, StoreOutcome::Stored);
        assert_eq!(receipt.id, id, "the receipt carries the caller id");
        assert_eq!(get(&store, id).await.id, id, "get finds the caller id");
    }
    assert_eq!(count(&store, &MessageQuery::for_session("s")).await, 5);
}

/// `seq` is strictly increasing in insertion order across sessions, single writes and
/// batches, whatever the `created_at` values.
pub async fn seq_strictly_increasing(store: Store) {
    let mut ids = Vec::new();
    for i in 0..12_i64 {
        let session = ["a", "b", "c"][usize::try_from(i % 3).unwrap()];
        ids.push(put_new(&store, &timed(session, "single", 100 - i)).await);
    }
    let batch: Vec<_> = (0..10).map(|i| timed("b", "batched", i)).collect();
    ids.extend(put_batch(&store, &batch).await.into_iter().map(|r| r.id));
    ids.push(put_new(&store, &timed("a", "last", 0)).await);
    let mut previous = i64::MIN;
    for id in &ids {
        let seq = get(&store, id).await.seq;
        assert!(
            seq > previous,
            "seq must increase strictly in insertion order: {seq} after {previous}"
        );
        previous = seq;
    }
}

/// Re-storing an existing id returns `AlreadyStored` through every write method and changes
/// nothing: not the content, not the count, not the session meta.
pub async fn restore_existing_id_is_already_stored(store: Store) {
    let original = timed("s", "first", 10).with_id("dup").with_user("U1");
    put_new(&store, &original).await;
    put_new(&store, &timed("s", "other", 20)).await;
    let meta_before = meta(&store, "s").await;
    let stored_before = get(&store, "dup").await;

    let retry = timed("s", "second", 30).with_id("dup").with_user("U2");
    for (how, result) in [
        ("store_user_message", store.store_user_message(&retry).await),
        ("store_bot_response", store.store_bot_response(&retry).await),
    ] {
        let receipt = result.unwrap_or_else(|e| panic!("{how} of an existing id failed: {e}"));
        assert_eq!(
            receipt.outcome,
            StoreOutcome::AlreadyStored,
            "{how} of an existing id"
        );
        assert_eq!(receipt.id, "dup");
    }
    let receipts = put_batch(&store, std::slice::from_ref(&retry)).await;
    assert_eq!(receipts[0].outcome, StoreOutcome::AlreadyStored);
    assert_eq!(receipts[0].id, "dup");

    assert_eq!(
        get(&store, "dup").await,
        stored_before,
        "the row is unchanged"
    );
    assert_eq!(count(&store, &MessageQuery::for_session("s")).await, 2);
    assert_eq!(
        meta(&store, "s").await,
        meta_before,
        "the meta is unchanged"
    );
}

/// Re-storing the id of a soft-deleted message returns `AlreadyStored` and does not
/// resurrect it: still invisible, still deleted, no meta.
pub async fn restore_after_soft_delete_not_resurrected(store: Store) {
    put_new(&store, &timed("s", "first", 10).with_id("gone")).await;
    assert_eq!(store.delete_session("s").await.expect("delete"), 1);
    let receipt = put(&store, &timed("s", "again", 10).with_id("gone")).await;
    assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
    assert_eq!(receipt.id, "gone");
    assert!(
        matches!(store.get("gone").await, Err(StorageError::NotFound { .. })),
        "a re-store must not resurrect a soft-deleted message"
    );
    assert_eq!(count(&store, &MessageQuery::for_session("s")).await, 0);
    assert_no_meta(&store, "s", "after re-storing a deleted id").await;
    let rows = list(
        &store,
        &MessageQuery::for_session("s").with_include_deleted(true),
    )
    .await;
    assert_eq!(rows.len(), 1, "still exactly one row");
    assert!(rows[0].deleted && rows[0].deleted_at.is_some());
    assert_eq!(rows[0].content, "first");
}

/// `store_user_message` and `store_bot_response` behave the same: either stores any message
/// type unchanged, both are idempotent, both update the meta.
pub async fn user_and_bot_writes_behave_the_same(store: Store) {
    let bot_via_user = timed("s", "bot text", 10)
        .with_message_type(MessageType::FINAL_RESPONSE)
        .with_id("a");
    let user_via_bot = timed("s", "user text", 20)
        .with_message_type(MessageType::USER_INPUT)
        .with_id("b");
    let thinking = timed("s", "hmm", 30)
        .with_message_type(MessageType::THINKING)
        .with_id("c");
    let r = store
        .store_user_message(&bot_via_user)
        .await
        .expect("store");
    assert_eq!(r.outcome, StoreOutcome::Stored);
    let r = store
        .store_bot_response(&user_via_bot)
        .await
        .expect("store");
    assert_eq!(r.outcome, StoreOutcome::Stored);
    let r = store.store_bot_response(&thinking).await.expect("store");
    assert_eq!(r.outcome, StoreOutcome::Stored);
    assert_eq!(
        get(&store, "a").await.message_type,
        MessageType::FINAL_RESPONSE
    );
    assert_eq!(get(&store, "b").await.message_type, MessageType::USER_INPUT);
    assert_eq!(get(&store, "c").await.message_type, MessageType::THINKING);
    let r = store
        .store_bot_response(&bot_via_user)
        .await
        .expect("store");
    assert_eq!(r.outcome, StoreOutcome::AlreadyStored);
    let r = store
        .store_user_message(&user_via_bot)
        .await
        .expect("store");
    assert_eq!(r.outcome, StoreOutcome::AlreadyStored);
    let m = meta(&store, "s").await;
    assert_eq!(m.message_count, 3);
    assert_eq!(m.last_message_id, "c");
}

/// Unicode (CJK, emoji, ZWJ sequences, RTL, control characters, quotes) round-trips in
/// content, ids, metadata keys and values, and works as a filter value.
pub async fn unicode_round_trip(store: Store) {
    let content =
        "你好，世界 🌍🚀 👨‍👩‍👧 مرحبا Ελληνικά \u{200d}\t\n\r ' \" \\ %_ 日本語のテキスト 한국어";
    let msg = timed("飞书:会话:1", content, 10)
        .with_user("用户-😀")
        .with_platform("feishu")
        .with_metadata_entry("键", json!({"值": ["🌈", "ü"]}));
    let id = put_new(&store, &msg).await;
    let back = get(&store, &id).await;
    assert_eq!(back.content, content);
    assert_eq!(back.chat_session_id, "飞书:会话:1");
    assert_eq!(back.chat_user_id, "用户-😀");
    assert_eq!(back.metadata, msg.metadata);
    let by_user = MessageQuery {
        chat_user_id: Some("用户-😀".into()),
        ..MessageQuery::default()
    };
    assert_eq!(ids(&list(&store, &by_user).await), vec![id]);
    assert_eq!(meta(&store, "飞书:会话:1").await.chat_user_id, "用户-😀");
    assert_eq!(
        super::support::user_sessions(&store, "feishu", "用户-😀").await,
        vec!["飞书:会话:1".to_owned()]
    );
}

/// Empty content is a valid message and reads back empty.
pub async fn empty_content_allowed(store: Store) {
    let id = put_new(&store, &ChatAppMessage::bot("s", "")).await;
    assert_eq!(get(&store, &id).await.content, "");
    assert_eq!(meta(&store, "s").await.message_count, 1);
}

/// Metadata values of every JSON type round-trip: integers at the edges of i64/u64, floats,
/// booleans, null, strings, nested arrays and objects; empty metadata stays empty.
pub async fn metadata_value_types_round_trip(store: Store) {
    let metadata = json!({
        "i64_min": i64::MIN,
        "i64_max": i64::MAX,
        "u64_max": u64::MAX,
        "zero": 0,
        "negative": -42,
        "float": 0.1,
        "tiny": 2.5e-8,
        "big_float": 1.0e300,
        "t": true,
        "f": false,
        "null": null,
        "empty_string": "",
        "empty_array": [],
        "empty_object": {},
        "deep": {"a": {"b": {"c": [1, [2, [3, {"d": "e"}]]]}}},
        "mixed": [1, "two", 3.5, null, false, {"k": []}]
    });
    let metadata = metadata.as_object().cloned().expect("object");
    let id = put_new(
        &store,
        &ChatAppMessage::user("s", "meta").with_metadata(metadata.clone()),
    )
    .await;
    assert_eq!(get(&store, &id).await.metadata, metadata);
    let id = put_new(&store, &ChatAppMessage::user("s", "no meta")).await;
    assert!(
        get(&store, &id).await.metadata.is_empty(),
        "empty stays empty"
    );
}

/// A message with only the required fields keeps every optional field at its default:
/// empty strings, nil `engine_session_id`, empty metadata, not deleted.
pub async fn defaults_round_trip(store: Store) {
    let msg = ChatAppMessage::user("s", "bare");
    let id = put_new(&store, &msg).await;
    let back = get(&store, &id).await;
    assert!(back.engine_session_id.is_nil());
    assert!(back.chat_platform.is_empty() && back.chat_user_id.is_empty());
    assert!(back.provider_type.is_empty() && back.engine_namespace.is_empty());
    assert!(!back.deleted && back.deleted_at.is_none());
    let expected = ChatAppMessage {
        id: id.clone(),
        created_at: back.created_at,
        updated_at: back.created_at,
        seq: back.seq,
        ..msg
    };
    assert_eq!(back, expected);
    let m = meta(&store, "s").await;
    assert_eq!(
        (m.chat_platform.as_str(), m.chat_user_id.as_str()),
        ("", "")
    );
}
