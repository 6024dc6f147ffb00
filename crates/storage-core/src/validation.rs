//! Message validation and preparation: the one place every backend's input rules live.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{ChatAppMessage, Result, StorageError, time};

/// The limits [`validate_message_with`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ValidationLimits {
    /// Maximum `content` size in bytes (default 4 MiB).
    pub max_content_bytes: usize,
    /// Maximum size in bytes of every other text field (default 256).
    pub max_field_bytes: usize,
    /// Maximum size of the metadata serialised as JSON (default 64 KiB).
    pub max_metadata_bytes: usize,
}

impl ValidationLimits {
    /// Default `max_content_bytes`: 4 MiB.
    pub const DEFAULT_MAX_CONTENT_BYTES: usize = 4 * 1024 * 1024;
    /// Default `max_field_bytes`: 256.
    pub const DEFAULT_MAX_FIELD_BYTES: usize = 256;
    /// Default `max_metadata_bytes`: 64 KiB.
    pub const DEFAULT_MAX_METADATA_BYTES: usize = 64 * 1024;
}

impl Default for ValidationLimits {
    fn default() -> Self {
        Self {
            max_content_bytes: Self::DEFAULT_MAX_CONTENT_BYTES,
            max_field_bytes: Self::DEFAULT_MAX_FIELD_BYTES,
            max_metadata_bytes: Self::DEFAULT_MAX_METADATA_BYTES,
        }
    }
}

/// How deeply metadata may nest: the metadata object is level 1, each array or object inside
/// it one more. A fixed rule, like NUL: deeper JSON cannot be read back by `serde_json` (its
/// parser stops at 128 levels) and walking it recursively could overflow the stack.
pub const MAX_METADATA_DEPTH: usize = 32;

/// Validates `msg` against the default [`ValidationLimits`].
///
/// ```
/// use hotplex_storage_core::{validate_message, ChatAppMessage};
/// assert!(validate_message(&ChatAppMessage::user("s1", "hi")).is_ok());
/// let err = validate_message(&ChatAppMessage::user("", "hi")).unwrap_err();
/// assert!(err.to_string().contains("chat_session_id"));
/// ```
pub fn validate_message(msg: &ChatAppMessage) -> Result<()> {
    validate_message_with(msg, &ValidationLimits::default())
}

/// Validates `msg`: `chat_session_id` and `message_type` non-empty; `content` at most
/// `max_content_bytes`; every other text field at most `max_field_bytes`; no NUL character in
/// any text field, metadata key or metadata string (PostgreSQL cannot store it); metadata
/// nested at most [`MAX_METADATA_DEPTH`] levels and at most `max_metadata_bytes` as JSON;
/// `deleted_at` only on a deleted message.
///
/// Fails with [`StorageError::InvalidMessage`] naming the first offending field.
pub fn validate_message_with(msg: &ChatAppMessage, limits: &ValidationLimits) -> Result<()> {
    if msg.chat_session_id.is_empty() {
        return Err(StorageError::invalid_message(
            "chat_session_id",
            "is required",
        ));
    }
    if msg.message_type.as_str().is_empty() {
        return Err(StorageError::invalid_message("message_type", "is required"));
    }
    let short_fields = [
        ("id", msg.id.as_str()),
        ("chat_session_id", &msg.chat_session_id),
        ("chat_platform", &msg.chat_platform),
        ("chat_user_id", &msg.chat_user_id),
        ("chat_bot_user_id", &msg.chat_bot_user_id),
        ("chat_channel_id", &msg.chat_channel_id),
        ("chat_thread_id", &msg.chat_thread_id),
        ("engine_namespace", &msg.engine_namespace),
        ("provider_session_id", &msg.provider_session_id),
        ("provider_type", &msg.provider_type),
        ("message_type", msg.message_type.as_str()),
        ("from_user_id", &msg.from_user_id),
        ("from_user_name", &msg.from_user_name),
        ("to_user_id", &msg.to_user_id),
    ];
    for (field, value) in short_fields {
        check_text(field, value, limits.max_field_bytes)?;
    }
    check_text("content", &msg.content, limits.max_content_bytes)?;
    // Depth and NUL first, without recursion: serialising deeply nested JSON recurses.
    check_metadata_values(&msg.metadata)?;
    let metadata_bytes = serde_json::to_vec(&msg.metadata)
        .map_err(|e| StorageError::invalid_message("metadata", e.to_string()))?
        .len();
    if metadata_bytes > limits.max_metadata_bytes {
        return Err(StorageError::invalid_message(
            "metadata",
            format!(
                "serialises to {metadata_bytes} bytes, over the limit of {}",
                limits.max_metadata_bytes
            ),
        ));
    }
    if !msg.deleted && msg.deleted_at.is_some() {
        return Err(StorageError::invalid_message(
            "deleted_at",
            "is set on a message that is not deleted",
        ));
    }
    Ok(())
}

fn check_text(field: &str, value: &str, max_bytes: usize) -> Result<()> {
    if value.len() > max_bytes {
        return Err(StorageError::invalid_message(
            field,
            format!("is {} bytes, over the limit of {max_bytes}", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(StorageError::invalid_message(
            field,
            "contains a NUL character",
        ));
    }
    Ok(())
}

/// Checks every key and value of `metadata` for NUL and its nesting against
/// [`MAX_METADATA_DEPTH`], walking it with an explicit stack (no recursion, so any input is
/// safe to check).
fn check_metadata_values(metadata: &crate::Metadata) -> Result<()> {
    let nul_key = || StorageError::invalid_message("metadata", "a key contains NUL");
    // Each entry: a value and the level of the object or array that holds it.
    let mut pending: Vec<(&Value, usize)> = Vec::new();
    for (key, value) in metadata {
        if key.contains('\0') {
            return Err(nul_key());
        }
        pending.push((value, 1));
    }
    while let Some((value, level)) = pending.pop() {
        let inner = level + 1;
        let too_deep = || {
            StorageError::invalid_message(
                "metadata",
                format!("nests deeper than {MAX_METADATA_DEPTH} levels"),
            )
        };
        match value {
            Value::String(s) if s.contains('\0') => {
                return Err(StorageError::invalid_message(
                    "metadata",
                    "a string value contains a NUL character",
                ));
            }
            Value::Array(items) => {
                if inner > MAX_METADATA_DEPTH {
                    return Err(too_deep());
                }
                pending.extend(items.iter().map(|v| (v, inner)));
            }
            Value::Object(map) => {
                if inner > MAX_METADATA_DEPTH {
                    return Err(too_deep());
                }
                for (key, v) in map {
                    if key.contains('\0') {
                        return Err(nul_key());
                    }
                    pending.push((v, inner));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fills what a store (or a retrying decorator, before its first attempt) must fix once:
/// an empty `id` becomes a new UUIDv7, a missing `created_at` becomes `now`, and
/// `created_at` is truncated to microseconds.
pub fn assign_identity(msg: &mut ChatAppMessage, now: DateTime<Utc>) {
    if msg.id.is_empty() {
        msg.id = Uuid::now_v7().to_string();
    }
    msg.created_at = Some(time::truncate_to_micros(msg.created_at.unwrap_or(now)));
}

/// Validates `msg` and returns the row a store writes: identity assigned
/// ([`assign_identity`]), `updated_at` defaulting to `created_at`, `deleted_at` defaulting to
/// `now` on a deleted message, every timestamp truncated to microseconds and `seq` reset to 0
/// (the store assigns it).
pub fn prepare_message(
    msg: &ChatAppMessage,
    limits: &ValidationLimits,
    now: DateTime<Utc>,
) -> Result<ChatAppMessage> {
    validate_message_with(msg, limits)?;
    let mut row = msg.clone();
    assign_identity(&mut row, now);
    row.updated_at = Some(time::truncate_to_micros(
        row.updated_at.or(row.created_at).unwrap_or(now),
    ));
    if row.deleted {
        row.deleted_at = Some(time::truncate_to_micros(row.deleted_at.unwrap_or(now)));
    }
    row.seq = 0;
    Ok(row)
}

/// [`prepare_message`] for every message of a batch: all or nothing. The error's reason
/// names the failing message's position.
pub fn prepare_batch(
    msgs: &[ChatAppMessage],
    limits: &ValidationLimits,
    now: DateTime<Utc>,
) -> Result<Vec<ChatAppMessage>> {
    msgs.iter()
        .enumerate()
        .map(|(index, msg)| {
            prepare_message(msg, limits, now).map_err(|e| match e {
                StorageError::InvalidMessage { field, reason } => StorageError::InvalidMessage {
                    field,
                    reason: format!("{reason} (batch index {index})"),
                },
                other => other,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(result: Result<()>) -> String {
        match result {
            Err(StorageError::InvalidMessage { field, .. }) => field,
            other => panic!("expected InvalidMessage, got {other:?}"),
        }
    }

    /// A metadata value `levels` deep counting the metadata object: `levels - 1` nested
    /// arrays (objects alternate in, to cover both).
    fn nested(levels: usize) -> Value {
        let mut value = Value::Null;
        for level in 1..levels {
            value = if level % 2 == 0 {
                json!({ "k": value })
            } else {
                json!([value])
            };
        }
        value
    }

    #[test]
    fn metadata_depth_limit_is_inclusive() {
        let at_limit =
            ChatAppMessage::user("s", "c").with_metadata_entry("k", nested(MAX_METADATA_DEPTH));
        assert!(validate_message(&at_limit).is_ok());
        let over =
            ChatAppMessage::user("s", "c").with_metadata_entry("k", nested(MAX_METADATA_DEPTH + 1));
        let err = validate_message(&over).unwrap_err();
        assert!(err.to_string().contains("deeper than 32"), "{err}");
        assert_eq!(field_of(Err(err)), "metadata");
        let flat = ChatAppMessage::user("s", "c").with_metadata_entry("k", json!(1));
        assert!(validate_message(&flat).is_ok());
    }

    #[test]
    fn deep_but_small_metadata_is_refused_without_recursing() {
        // 20,000 levels in 40 KB: under the byte limit, far over the depth limit. A recursive
        // walk (or serialising first) overflows a 256 KiB stack on it.
        let mut deep = Value::Null;
        for _ in 0..20_000 {
            deep = Value::Array(vec![deep]);
        }
        let msg = ChatAppMessage::user("s", "c").with_metadata_entry("k", deep);
        let outcome = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let field = field_of(validate_message(&msg));
                // Dropping 20,000 nested arrays recurses too: leak it inside the thread.
                std::mem::forget(msg);
                field
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(outcome, "metadata");
    }

    #[test]
    fn content_limit_is_inclusive() {
        let limits = ValidationLimits {
            max_content_bytes: 10,
            ..ValidationLimits::default()
        };
        let ok = ChatAppMessage::user("s", "x".repeat(10));
        assert!(validate_message_with(&ok, &limits).is_ok());
        let over = ChatAppMessage::user("s", "x".repeat(11));
        assert_eq!(field_of(validate_message_with(&over, &limits)), "content");
    }

    #[test]
    fn id_fields_are_limited_to_256_bytes() {
        let ok = ChatAppMessage::user("s".repeat(256), "c");
        assert!(validate_message(&ok).is_ok());
        let over = ChatAppMessage::user("s".repeat(257), "c");
        assert_eq!(field_of(validate_message(&over)), "chat_session_id");
        let over = ChatAppMessage::user("s", "c").with_user("u".repeat(257));
        assert_eq!(field_of(validate_message(&over)), "chat_user_id");
    }

    #[test]
    fn nul_is_rejected_everywhere() {
        assert_eq!(
            field_of(validate_message(&ChatAppMessage::user("s", "a\0b"))),
            "content"
        );
        let m = ChatAppMessage::user("s", "c").with_metadata_entry("k", json!({"x": ["a\0"]}));
        assert_eq!(field_of(validate_message(&m)), "metadata");
        let m = ChatAppMessage::user("s", "c").with_metadata_entry("k\0", 1);
        assert_eq!(field_of(validate_message(&m)), "metadata");
        let m = ChatAppMessage::user("s", "c").with_platform("sl\0ck");
        assert_eq!(field_of(validate_message(&m)), "chat_platform");
    }

    #[test]
    fn metadata_size_limit_is_inclusive() {
        let limits = ValidationLimits {
            max_metadata_bytes: 20,
            ..ValidationLimits::default()
        };
        // {"k":"<n x>"} is 8 + n bytes.
        let ok = ChatAppMessage::user("s", "c").with_metadata_entry("k", "x".repeat(12));
        assert!(validate_message_with(&ok, &limits).is_ok());
        let over = ChatAppMessage::user("s", "c").with_metadata_entry("k", "x".repeat(13));
        assert_eq!(field_of(validate_message_with(&over, &limits)), "metadata");
    }

    #[test]
    fn required_fields_and_deleted_at() {
        let mut m = ChatAppMessage::user("s", "c");
        m.message_type = crate::MessageType::default();
        assert_eq!(field_of(validate_message(&m)), "message_type");
        let mut m = ChatAppMessage::user("s", "c");
        m.deleted_at = Some(Utc::now());
        assert_eq!(field_of(validate_message(&m)), "deleted_at");
    }

    #[test]
    fn prepare_fills_identity_once() {
        let now = Utc::now();
        let row = prepare_message(
            &ChatAppMessage::user("s", "c"),
            &ValidationLimits::default(),
            now,
        )
        .unwrap();
        assert_eq!(Uuid::parse_str(&row.id).unwrap().get_version_num(), 7);
        assert_eq!(row.created_at, Some(time::truncate_to_micros(now)));
        assert_eq!(row.updated_at, row.created_at);
        let again = prepare_message(&row, &ValidationLimits::default(), Utc::now()).unwrap();
        assert_eq!(again.id, row.id);
        assert_eq!(again.created_at, row.created_at);
    }

    #[test]
    fn batch_errors_name_the_index() {
        let msgs = [
            ChatAppMessage::user("s", "ok"),
            ChatAppMessage::user("", "bad"),
        ];
        let err = prepare_batch(&msgs, &ValidationLimits::default(), Utc::now()).unwrap_err();
        assert!(err.to_string().contains("batch index 1"), "{err}");
    }
}
