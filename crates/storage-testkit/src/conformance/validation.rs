//! Validation: every rule at its edge. A rejected write is `InvalidMessage` naming the field
//! and leaves every row and the session meta unchanged, alone or inside a batch.

use hotplex_storage_core::{
    ChatAppMessage, MAX_METADATA_DEPTH, MessageQuery, MessageType, ReadOnlyStore, ValidationLimits,
    time,
};
use serde_json::json;

use super::support::{Store, assert_accepted, assert_rejected, timed};

const MAX_FIELD: usize = ValidationLimits::DEFAULT_MAX_FIELD_BYTES;

/// The short text fields of a message, by name, with a setter.
fn set_field(msg: &mut ChatAppMessage, field: &str, value: String) {
    match field {
        "id" => msg.id = value,
        "chat_session_id" => msg.chat_session_id = value,
        "chat_platform" => msg.chat_platform = value,
        "chat_user_id" => msg.chat_user_id = value,
        "chat_bot_user_id" => msg.chat_bot_user_id = value,
        "chat_channel_id" => msg.chat_channel_id = value,
        "chat_thread_id" => msg.chat_thread_id = value,
        "engine_namespace" => msg.engine_namespace = value,
        "provider_session_id" => msg.provider_session_id = value,
        "provider_type" => msg.provider_type = value,
        "message_type" => msg.message_type = MessageType::new(value),
        "from_user_id" => msg.from_user_id = value,
        "from_user_name" => msg.from_user_name = value,
        "to_user_id" => msg.to_user_id = value,
        other => panic!("unknown field {other}"),
    }
}

const SHORT_FIELDS: [&str; 13] = [
    "id",
    "chat_platform",
    "chat_user_id",
    "chat_bot_user_id",
    "chat_channel_id",
    "chat_thread_id",
    "engine_namespace",
    "provider_session_id",
    "provider_type",
    "message_type",
    "from_user_id",
    "from_user_name",
    "to_user_id",
];

/// Content of exactly 4 MiB is accepted and read back whole; 4 MiB + 1 byte is rejected.
pub async fn content_size_limit_edge(store: Store) {
    let max = ValidationLimits::DEFAULT_MAX_CONTENT_BYTES;
    let edge = timed("s", &"x".repeat(max), 1);
    assert_accepted(&store, &edge, "content of exactly 4 MiB").await;
    let mut over = "é".repeat(max / 2);
    over.push('x');
    assert_eq!(over.len(), max + 1);
    assert_rejected(&store, &timed("s", &over, 2), "content").await;
}

/// `chat_session_id` of 256 bytes is accepted; 257 bytes is rejected.
pub async fn session_id_length_edge(store: Store) {
    let edge = "s".repeat(MAX_FIELD);
    assert_accepted(&store, &timed(&edge, "c", 1), "a 256-byte session id").await;
    let over = "s".repeat(MAX_FIELD + 1);
    assert_rejected(&store, &timed(&over, "c", 1), "chat_session_id").await;
}

/// Every other id or short text field accepts 256 bytes (multi-byte characters count in
/// bytes) and rejects 257.
pub async fn short_field_length_edge(store: Store) {
    for (i, field) in SHORT_FIELDS.iter().enumerate() {
        let mut ok = timed("s", "c", 1);
        // 128 two-byte characters: 256 bytes.
        let mut value = "é".repeat(MAX_FIELD / 2);
        if *field == "id" {
            value = format!("{i:03}{}", "i".repeat(MAX_FIELD - 3));
        }
        set_field(&mut ok, field, value.clone());
        assert_accepted(&store, &ok, &format!("a 256-byte {field}")).await;
        let mut over = timed("s", "c", 1);
        value.push('x');
        set_field(&mut over, field, value);
        assert_rejected(&store, &over, field).await;
    }
}

/// An empty `chat_session_id` is rejected.
pub async fn empty_session_id_rejected(store: Store) {
    assert_rejected(&store, &ChatAppMessage::user("", "c"), "chat_session_id").await;
}

/// An empty `message_type` is rejected.
pub async fn empty_message_type_rejected(store: Store) {
    let msg = timed("s", "c", 1).with_message_type(MessageType::new(""));
    assert_rejected(&store, &msg, "message_type").await;
}

/// A NUL character in `content` is rejected, wherever it is.
pub async fn nul_in_content_rejected(store: Store) {
    for content in ["\0", "a\0b", "end\0"] {
        assert_rejected(&store, &timed("s", content, 1), "content").await;
    }
}

/// A NUL character in any short text field is rejected.
pub async fn nul_in_short_field_rejected(store: Store) {
    for field in SHORT_FIELDS {
        let mut msg = timed("s", "c", 1);
        set_field(&mut msg, field, "a\0b".into());
        assert_rejected(&store, &msg, field).await;
    }
    assert_rejected(&store, &timed("s\0", "c", 1), "chat_session_id").await;
}

/// A NUL character in a metadata string nested in arrays and objects is rejected.
pub async fn nul_in_nested_metadata_rejected(store: Store) {
    let values = [
        json!("top\0"),
        json!(["ok", "in\0array"]),
        json!({"a": {"b": "deep\0"}}),
        json!([{"x": [1, {"y": "\0"}]}]),
    ];
    for value in values {
        let msg = timed("s", "c", 1).with_metadata_entry("k", value);
        assert_rejected(&store, &msg, "metadata").await;
    }
}

/// A NUL character in a metadata key, top-level or nested, is rejected.
pub async fn nul_in_metadata_key_rejected(store: Store) {
    let msg = timed("s", "c", 1).with_metadata_entry("k\0", 1);
    assert_rejected(&store, &msg, "metadata").await;
    let msg = timed("s", "c", 1).with_metadata_entry("k", json!({"inner\0": true}));
    assert_rejected(&store, &msg, "metadata").await;
    let msg = timed("s", "c", 1).with_metadata_entry("k", json!([{"\0": null}]));
    assert_rejected(&store, &msg, "metadata").await;
}

/// Metadata serialising to exactly 64 KiB is accepted and read back; one byte more is
/// rejected.
pub async fn metadata_size_limit_edge(store: Store) {
    let max = ValidationLimits::DEFAULT_MAX_METADATA_BYTES;
    // {"k":"<n bytes>"} serialises to n + 8 bytes.
    let edge = timed("s", "c", 1).with_metadata_entry("k", "v".repeat(max - 8));
    assert_eq!(
        serde_json::to_vec(&edge.metadata).map(|v| v.len()).ok(),
        Some(max)
    );
    assert_accepted(&store, &edge, "metadata of exactly 64 KiB").await;
    let over = timed("s", "c", 1).with_metadata_entry("k", "v".repeat(max - 7));
    assert_rejected(&store, &over, "metadata").await;
}

/// Metadata nested exactly `MAX_METADATA_DEPTH` levels is accepted and read back (by `get`
/// and by `list`); one level more is rejected, however few bytes it takes.
pub async fn metadata_depth_limit_edge(store: Store) {
    let nested = |levels: usize| {
        // The metadata object is level 1; each array or object inside it adds one.
        let mut value = json!("leaf");
        for level in 1..levels {
            value = if level % 2 == 0 {
                json!({ "k": value })
            } else {
                json!([value])
            };
        }
        value
    };
    let edge = timed("s", "c", 1).with_metadata_entry("k", nested(MAX_METADATA_DEPTH));
    assert_accepted(&store, &edge, "metadata nested exactly to the limit").await;
    let listed = store
        .list(&MessageQuery::for_session("s"))
        .await
        .expect("list after storing the deepest metadata");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].metadata, edge.metadata,
        "list reads the metadata back"
    );
    let over = timed("s", "c", 2).with_metadata_entry("k", nested(MAX_METADATA_DEPTH + 1));
    assert_rejected(&store, &over, "metadata").await;
}

/// `deleted_at` on a message that is not deleted is rejected.
pub async fn deleted_at_on_live_message_rejected(store: Store) {
    let mut msg = timed("s", "c", 1);
    msg.deleted_at = Some(time::now_micros());
    assert_rejected(&store, &msg, "deleted_at").await;
}
