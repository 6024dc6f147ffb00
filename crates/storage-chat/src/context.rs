//! [`MessageContext`]: a chat event as an adapter sees it, with its builder and its checks.

use hotplex_storage_core::{
    ChatAppMessage, MessageType, Metadata, Result, StorageError, validate_message,
};
use uuid::Uuid;

use crate::MessageTransformer;
use crate::session_id::chat_session_id;

/// One chat event — a user message, a bot response or the template of a streamed response —
/// as a chat adapter sees it: a [`ChatAppMessage`] being built, which
/// [`MessageTransformer`] turns into the stored message by setting its direction.
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
pub struct MessageContext {
    /// The message as stored, less what the store assigns (id, timestamps, `seq`) and the
    /// direction (`from_user_id`/`to_user_id`, set by [`MessageTransformer`]).
    message: ChatAppMessage,
}

/// The setters of [`MessageContext`]: each sets the same field of the wrapped
/// [`ChatAppMessage`] through that message's own setter.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(self, $($arg: $ty),*) -> Self {
                Self { message: self.message.$name($($arg),*) }
            }
        )*
    };
}

impl MessageContext {
    /// An event of `message_type`, every other field empty.
    pub fn new(message_type: MessageType) -> Self {
        Self::default().with_message_type(message_type)
    }

    /// A `user_input` event with `content`.
    pub fn user_input(content: impl Into<String>) -> Self {
        Self::new(MessageType::USER_INPUT).with_content(content)
    }

    /// A `final_response` event with `content` (empty for a stream template).
    pub fn final_response(content: impl Into<String>) -> Self {
        Self::new(MessageType::FINAL_RESPONSE).with_content(content)
    }

    /// The event's fields, as the [`ChatAppMessage`] they become (read them here:
    /// `ctx.message().chat_session_id`).
    pub fn message(&self) -> &ChatAppMessage {
        &self.message
    }

    setters! {
        /// Sets `chat_session_id` (the thread's id; required). See [`chat_session_id`].
        with_session(chat_session_id: impl Into<String>);
        /// Sets `chat_platform` (`slack`, `feishu`, …; required).
        with_platform(platform: impl Into<String>);
        /// Sets `chat_user_id` (the human user; required for `user_input`, its sender).
        with_user(user_id: impl Into<String>);
        /// Sets `chat_bot_user_id` (required for every other type, their sender).
        with_bot_user(bot_user_id: impl Into<String>);
        /// Sets `chat_channel_id`.
        with_channel(channel_id: impl Into<String>);
        /// Sets `chat_thread_id`.
        with_thread(thread_id: impl Into<String>);
        /// Sets `engine_session_id` (required, not nil).
        with_engine_session(engine_session_id: Uuid);
        /// Sets `engine_namespace`.
        with_engine_namespace(namespace: impl Into<String>);
        /// Sets `provider_type` (e.g. `claude-code`) and `provider_session_id` (required).
        with_provider(provider_type: impl Into<String>, provider_session_id: impl Into<String>);
        /// Sets `message_type` (required).
        with_message_type(message_type: MessageType);
        /// Sets `content` (required for a whole message, ignored in a stream template).
        with_content(content: impl Into<String>);
        /// Replaces the metadata (free-form JSON, stored with the message).
        with_metadata(metadata: Metadata);
        /// Adds one metadata entry.
        with_metadata_entry(key: impl Into<String>, value: impl Into<serde_json::Value>);
    }

    /// Sets `chat_session_id` to the Go session manager's id of this event's thread:
    /// [`chat_session_id`]`(namespace, platform, user, bot user, channel, thread)` of the
    /// fields set so far — set those first.
    #[must_use]
    pub fn with_thread_session(self, namespace: &str) -> Self {
        let m = &self.message;
        let id = chat_session_id(
            namespace,
            &m.chat_platform,
            &m.chat_user_id,
            &m.chat_bot_user_id,
            &m.chat_channel_id,
            &m.chat_thread_id,
        );
        self.with_session(id)
    }

    /// True for `user_input`: the message comes from the user, every other type from the bot.
    pub fn is_from_user(&self) -> bool {
        self.message.message_type == MessageType::USER_INPUT
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
        let m = &self.message;
        let sender = if self.is_from_user() {
            (
                "chat_user_id",
                m.chat_user_id.as_str(),
                "the sender of user_input",
            )
        } else {
            (
                "chat_bot_user_id",
                m.chat_bot_user_id.as_str(),
                "the sender of bot messages",
            )
        };
        let required = [
            (
                "chat_session_id",
                m.chat_session_id.as_str(),
                "the thread's id",
            ),
            (
                "chat_platform",
                m.chat_platform.as_str(),
                "sessions are listed per platform",
            ),
            (
                "message_type",
                m.message_type.as_str(),
                "what kind of message this is",
            ),
            sender,
        ];
        if let Some((field, _, why)) = required.iter().find(|(_, value, _)| value.is_empty()) {
            return Err(missing(field, why));
        }
        if m.engine_session_id.is_nil() {
            return Err(missing(
                "engine_session_id",
                "the agent engine's session, not nil",
            ));
        }
        if m.provider_session_id.is_empty() {
            return Err(missing("provider_session_id", "the provider's session"));
        }
        if needs_content && m.content.is_empty() {
            return Err(missing("content", "the message text"));
        }
        validate_message(&MessageTransformer::to_storage_message(self))
    }
}

fn missing(field: &str, why: &str) -> StorageError {
    StorageError::invalid_message(field, format!("is required ({why})"))
}
