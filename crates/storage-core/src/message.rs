//! [`ChatAppMessage`]: one stored chat message and its builder-style setters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::MessageType;

/// A JSON object of free-form message metadata.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// One message of a chat conversation, as stored and returned by every backend.
///
/// On input, `id`, `created_at`, `updated_at` and `seq` may be left empty: the store assigns a
/// UUIDv7 id, the current time (microsecond precision, UTC) and the next sequence number.
/// A message read back equals the stored one after those fields were filled.
///
/// ```
/// use hotplex_storage_core::{ChatAppMessage, MessageType};
/// let msg = ChatAppMessage::user("slack:U1:C1", "hello")
///     .with_platform("slack")
///     .with_user("U1")
///     .with_metadata_entry("client", "web");
/// assert_eq!(msg.message_type, MessageType::USER_INPUT);
/// assert_eq!(msg.metadata["client"], "web");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatAppMessage {
    /// Unique id; empty on input means "assign a UUIDv7".
    pub id: String,
    /// The chat session (thread) the message belongs to; required, opaque.
    pub chat_session_id: String,
    /// Chat platform, e.g. `slack` or `feishu`.
    pub chat_platform: String,
    /// The human user of the conversation.
    pub chat_user_id: String,
    /// The bot's user id on the platform.
    pub chat_bot_user_id: String,
    /// Platform channel id.
    pub chat_channel_id: String,
    /// Platform thread id.
    pub chat_thread_id: String,
    /// The agent engine's session; [`Uuid::nil`] when unknown.
    pub engine_session_id: Uuid,
    /// The agent engine's namespace.
    pub engine_namespace: String,
    /// The LLM provider's session id.
    pub provider_session_id: String,
    /// The LLM provider, e.g. `claude-code`.
    pub provider_type: String,
    /// What kind of message this is.
    pub message_type: MessageType,
    /// Sender id.
    pub from_user_id: String,
    /// Sender display name.
    pub from_user_name: String,
    /// Recipient id.
    pub to_user_id: String,
    /// The message text.
    pub content: String,
    /// Free-form JSON metadata.
    pub metadata: Metadata,
    /// Creation time; `None` on input means "now". Kept with microsecond precision.
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time; `None` on input means "same as `created_at`".
    pub updated_at: Option<DateTime<Utc>>,
    /// Soft-delete flag.
    pub deleted: bool,
    /// When the message was soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Insertion order assigned by the store: strictly increasing. Ignored on input.
    pub seq: i64,
}

impl Default for ChatAppMessage {
    fn default() -> Self {
        Self {
            id: String::new(),
            chat_session_id: String::new(),
            chat_platform: String::new(),
            chat_user_id: String::new(),
            chat_bot_user_id: String::new(),
            chat_channel_id: String::new(),
            chat_thread_id: String::new(),
            engine_session_id: Uuid::nil(),
            engine_namespace: String::new(),
            provider_session_id: String::new(),
            provider_type: String::new(),
            message_type: MessageType::default(),
            from_user_id: String::new(),
            from_user_name: String::new(),
            to_user_id: String::new(),
            content: String::new(),
            metadata: Metadata::new(),
            created_at: None,
            updated_at: None,
            deleted: false,
            deleted_at: None,
            seq: 0,
        }
    }
}

impl ChatAppMessage {
    /// About how many bytes the message's data takes: its text fields, plus its metadata's
    /// keys and strings and 8 bytes per other value. Cheap (no allocation); used to bound
    /// queues and batches in bytes, not only in counts.
    pub fn approx_bytes(&self) -> u64 {
        let text: usize = [
            &self.id,
            &self.chat_session_id,
            &self.chat_platform,
            &self.chat_user_id,
            &self.chat_bot_user_id,
            &self.chat_channel_id,
            &self.chat_thread_id,
            &self.engine_namespace,
            &self.provider_session_id,
            &self.provider_type,
            &self.from_user_id,
            &self.from_user_name,
            &self.to_user_id,
            &self.content,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            + self.message_type.as_str().len();
        let mut metadata = 0_usize;
        let mut stack: Vec<&serde_json::Value> = Vec::new();
        for (key, value) in &self.metadata {
            metadata += key.len();
            stack.push(value);
        }
        while let Some(value) = stack.pop() {
            metadata += match value {
                serde_json::Value::String(s) => s.len(),
                serde_json::Value::Array(items) => {
                    stack.extend(items);
                    8
                }
                serde_json::Value::Object(map) => {
                    for (key, value) in map {
                        metadata += key.len();
                        stack.push(value);
                    }
                    8
                }
                _ => 8,
            };
        }
        u64::try_from(text + metadata).unwrap_or(u64::MAX)
    }

    /// A `user_input` message in `chat_session_id`.
    pub fn user(chat_session_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::of_type(chat_session_id, MessageType::USER_INPUT, content)
    }

    /// A `final_response` message in `chat_session_id`.
    pub fn bot(chat_session_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self::of_type(chat_session_id, MessageType::FINAL_RESPONSE, content)
    }

    /// A message of any type in `chat_session_id`.
    pub fn of_type(
        chat_session_id: impl Into<String>,
        message_type: MessageType,
        content: impl Into<String>,
    ) -> Self {
        Self {
            chat_session_id: chat_session_id.into(),
            message_type,
            content: content.into(),
            ..Self::default()
        }
    }

    /// Sets `id`.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets `chat_session_id`.
    #[must_use]
    pub fn with_session(mut self, chat_session_id: impl Into<String>) -> Self {
        self.chat_session_id = chat_session_id.into();
        self
    }

    /// Sets `chat_platform`.
    #[must_use]
    pub fn with_platform(mut self, platform: impl Into<String>) -> Self {
        self.chat_platform = platform.into();
        self
    }

    /// Sets `chat_user_id`.
    #[must_use]
    pub fn with_user(mut self, user_id: impl Into<String>) -> Self {
        self.chat_user_id = user_id.into();
        self
    }

    /// Sets `chat_bot_user_id`.
    #[must_use]
    pub fn with_bot_user(mut self, bot_user_id: impl Into<String>) -> Self {
        self.chat_bot_user_id = bot_user_id.into();
        self
    }

    /// Sets `chat_channel_id`.
    #[must_use]
    pub fn with_channel(mut self, channel_id: impl Into<String>) -> Self {
        self.chat_channel_id = channel_id.into();
        self
    }

    /// Sets `chat_thread_id`.
    #[must_use]
    pub fn with_thread(mut self, thread_id: impl Into<String>) -> Self {
        self.chat_thread_id = thread_id.into();
        self
    }

    /// Sets `engine_session_id`.
    #[must_use]
    pub fn with_engine_session(mut self, engine_session_id: Uuid) -> Self {
        self.engine_session_id = engine_session_id;
        self
    }

    /// Sets `engine_namespace`.
    #[must_use]
    pub fn with_engine_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.engine_namespace = namespace.into();
        self
    }

    /// Sets `provider_type` and `provider_session_id`.
    #[must_use]
    pub fn with_provider(
        mut self,
        provider_type: impl Into<String>,
        provider_session_id: impl Into<String>,
    ) -> Self {
        self.provider_type = provider_type.into();
        self.provider_session_id = provider_session_id.into();
        self
    }

    /// Sets `message_type`.
    #[must_use]
    pub fn with_message_type(mut self, message_type: MessageType) -> Self {
        self.message_type = message_type;
        self
    }

    /// Sets `content`.
    #[must_use]
    pub fn with_content(mut self, content: impl Into<String>) -> Self {
        self.content = content.into();
        self
    }

    /// Inserts one metadata entry.
    #[must_use]
    pub fn with_metadata_entry(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets `created_at`.
    #[must_use]
    pub fn with_created_at(mut self, created_at: DateTime<Utc>) -> Self {
        self.created_at = Some(created_at);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approx_bytes_counts_text_and_metadata() {
        let plain = ChatAppMessage::user("s1", "abcd");
        assert_eq!(plain.approx_bytes(), 2 + 4 + "user_input".len() as u64);
        let with_meta = plain
            .clone()
            .with_metadata_entry("k", "vvv")
            .with_metadata_entry("n", serde_json::json!([1, {"x": "yy"}]));
        // "k" + "vvv", "n" + array 8 + 1 → 8, object 8 + "x" + "yy".
        assert_eq!(
            with_meta.approx_bytes(),
            plain.approx_bytes() + 4 + 1 + 8 + 8 + 8 + 1 + 2
        );
    }

    #[test]
    fn serde_round_trip_keeps_every_field() {
        let msg = ChatAppMessage::bot("s1", "answer")
            .with_id("m1")
            .with_platform("slack")
            .with_user("U1")
            .with_engine_session(Uuid::now_v7())
            .with_provider("claude", "p1")
            .with_metadata_entry("k", 1)
            .with_created_at(Utc::now());
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.contains("\"chat_session_id\":\"s1\""));
        let back: ChatAppMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn missing_fields_deserialise_to_defaults() {
        let back: ChatAppMessage =
            serde_json::from_str(r#"{"chat_session_id":"s","content":"c"}"#).unwrap();
        assert_eq!(back.chat_session_id, "s");
        assert!(back.id.is_empty());
        assert!(back.engine_session_id.is_nil());
        assert_eq!(back.created_at, None);
    }
}
