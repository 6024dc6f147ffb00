//! [`MessageContext`]: a chat event as an adapter sees it, with its builder and its checks.

use hotplex_storage_core::{MessageType, Metadata, Result, StorageError, validate_message};
use uuid::Uuid;

use crate::MessageTransformer;
use crate::session_id::chat_session_id;

/// One chat event — a user message, a bot response or the template of a streamed response —
/// as a chat adapter sees it. [`MessageTransformer`] turns it into the stored
/// [`ChatAppMessage`](hotplex_storage_core::ChatAppMessage).
///
/// Build it with [`user_input`](Self::user_input) / [`final_response`](Self::final_response)
/// (or [`new`](Self::new)) and the `with_*` setters; [`validate`](Self::validate) names the
/// first missing or invalid field. Required fields: `docs/chat.md`.
///
/// ```
/// use hotplex_storage_chat::{MessageContext, DEFAULT_NAMESPACE};
/// use uuid::Uuid;
/// let ctx = MessageContext::user_input("What is WAL?")
///     .with_platform("slack")
///     .with_user("U1")
///     .with_bot_user("B1")
///     .with_channel("C1")
///     .with_thread("1700000000.000100")
///     .with_thread_session(DEFAULT_NAMESPACE) // the Go UUIDv5 chat session id
///     .with_engine_session(Uuid::new_v4())
///     .with_provider("claude-code", "provider-session-1");
/// assert!(ctx.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct MessageContext {
    /// The chat session (thread) id; required. See [`chat_session_id`].
    pub chat_session_id: String,
    /// Chat platform (`slack`, `feishu`, …); required.
    pub chat_platform: String,
    /// The human user; required for `user_input` (the sender).
    pub chat_user_id: String,
    /// The bot's user id; required for every other type (the sender of bot messages).
    pub chat_bot_user_id: String,
    /// Platform channel id.
    pub chat_channel_id: String,
    /// Platform thread id.
    pub chat_thread_id: String,
    /// The agent engine's session; required (not nil).
    pub engine_session_id: Uuid,
    /// The agent engine's namespace.
    pub engine_namespace: String,
    /// The LLM provider's session id; required.
    pub provider_session_id: String,
    /// The LLM provider, e.g. `claude-code`.
    pub provider_type: String,
    /// What kind of message this is; required.
    pub message_type: MessageType,
    /// The message text; required for a whole message, ignored in a stream template.
    pub content: String,
    /// Free-form JSON metadata, stored with the message.
    pub metadata: Metadata,
}

impl MessageContext {
    /// An event of `message_type`, every other field empty.
    pub fn new(message_type: MessageType) -> Self {
        Self {
            message_type,
            ..Self::default()
        }
    }

    /// A `user_input` event with `content`.
    pub fn user_input(content: impl Into<String>) -> Self {
        Self::new(MessageType::USER_INPUT).with_content(content)
    }

    /// A `final_response` event with `content` (empty for a stream template).
    pub fn final_response(content: impl Into<String>) -> Self {
        Self::new(MessageType::FINAL_RESPONSE).with_content(content)
    }

    /// Sets `chat_session_id`.
    #[must_use]
    pub fn with_session(mut self, chat_session_id: impl Into<String>) -> Self {
        self.chat_session_id = chat_session_id.into();
        self
    }

    /// Sets `chat_session_id` to the Go session manager's id of this event's thread:
    /// [`chat_session_id`]`(namespace, platform, user, bot user, channel, thread)` of the
    /// fields set so far — set those first.
    #[must_use]
    pub fn with_thread_session(mut self, namespace: &str) -> Self {
        self.chat_session_id = chat_session_id(
            namespace,
            &self.chat_platform,
            &self.chat_user_id,
            &self.chat_bot_user_id,
            &self.chat_channel_id,
            &self.chat_thread_id,
        );
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

    /// Replaces the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Adds one metadata entry.
    #[must_use]
    pub fn with_metadata_entry(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// True for `user_input`: the message comes from the user, every other type from the bot.
    pub fn is_from_user(&self) -> bool {
        self.message_type == MessageType::USER_INPUT
    }

    /// Checks a whole message: every required field (content included), then the stored
    /// message against the default limits of every backend (field sizes, NUL characters,
    /// metadata size). Fails with [`StorageError::InvalidMessage`] naming the first offending
    /// field; the order and the rules are in `docs/chat.md`.
    pub fn validate(&self) -> Result<()> {
        self.check(true)
    }

    /// [`validate`](Self::validate) for the template of a streamed response: the same rules,
    /// but `content` may be empty (the chunks bring it).
    pub fn validate_template(&self) -> Result<()> {
        self.check(false)
    }

    fn check(&self, needs_content: bool) -> Result<()> {
        let sender = if self.is_from_user() {
            (
                "chat_user_id",
                self.chat_user_id.as_str(),
                "the sender of user_input",
            )
        } else {
            (
                "chat_bot_user_id",
                self.chat_bot_user_id.as_str(),
                "the sender of bot messages",
            )
        };
        let required = [
            (
                "chat_session_id",
                self.chat_session_id.as_str(),
                "the thread's id",
            ),
            (
                "chat_platform",
                self.chat_platform.as_str(),
                "sessions are listed per platform",
            ),
            (
                "message_type",
                self.message_type.as_str(),
                "what kind of message this is",
            ),
            sender,
        ];
        if let Some((field, _, why)) = required.iter().find(|(_, value, _)| value.is_empty()) {
            return Err(missing(field, why));
        }
        if self.engine_session_id.is_nil() {
            return Err(missing(
                "engine_session_id",
                "the agent engine's session, not nil",
            ));
        }
        if self.provider_session_id.is_empty() {
            return Err(missing("provider_session_id", "the provider's session"));
        }
        if needs_content && self.content.is_empty() {
            return Err(missing("content", "the message text"));
        }
        validate_message(&MessageTransformer::to_storage_message(self))
    }
}

fn missing(field: &str, why: &str) -> StorageError {
    StorageError::invalid_message(field, format!("is required ({why})"))
}
