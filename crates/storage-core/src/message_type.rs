//! [`MessageType`]: the kind of a chat message, with the HotPlex vocabulary.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of a stored message (`user_input`, `final_response`, `thinking`, …).
///
/// A newtype over a string so that applications can store kinds this crate does not know;
/// the HotPlex kinds are associated constants. Only [`MessageType::USER_INPUT`] and
/// [`MessageType::FINAL_RESPONSE`] are [storable](MessageType::is_storable) under the default
/// strategy.
///
/// ```
/// use hotplex_storage_core::MessageType;
/// assert_eq!(MessageType::parse("User-Input"), MessageType::USER_INPUT);
/// assert!(MessageType::FINAL_RESPONSE.is_storable());
/// assert!(!MessageType::THINKING.is_storable());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageType(Cow<'static, str>);

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        impl MessageType {
            $($(#[$doc])* pub const $name: MessageType = MessageType(Cow::Borrowed($value));)*

            /// Every HotPlex message type this crate names, in declaration order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];
        }
    };
}

message_types! {
    /// A message typed by the human user.
    USER_INPUT = "user_input",
    /// The bot's final answer to a turn.
    FINAL_RESPONSE = "final_response",
    /// Intermediate model reasoning.
    THINKING = "thinking",
    /// An agent action.
    ACTION = "action",
    /// A tool invocation.
    TOOL_USE = "tool_use",
    /// A tool's result.
    TOOL_RESULT = "tool_result",
    /// A status update.
    STATUS = "status",
    /// An error report.
    ERROR = "error",
    /// Plan mode entered.
    PLAN_MODE = "plan_mode",
    /// Plan mode left.
    EXIT_PLAN_MODE = "exit_plan_mode",
    /// The agent asks the user a question.
    ASK_USER_QUESTION = "ask_user_question",
    /// A dangerous operation was blocked.
    DANGER_BLOCK = "danger_block",
    /// Session statistics.
    SESSION_STATS = "session_stats",
    /// Progress of a command.
    COMMAND_PROGRESS = "command_progress",
    /// A command completed.
    COMMAND_COMPLETE = "command_complete",
    /// A system message.
    SYSTEM = "system",
    /// A raw user event.
    USER = "user",
    /// An agent step started.
    STEP_START = "step_start",
    /// An agent step finished.
    STEP_FINISH = "step_finish",
    /// Raw engine output.
    RAW = "raw",
    /// A session started.
    SESSION_START = "session_start",
    /// The engine is starting.
    ENGINE_STARTING = "engine_starting",
    /// The user's message was received.
    USER_MESSAGE_RECEIVED = "user_message_received",
    /// The agent requests a permission.
    PERMISSION_REQUEST = "permission_request",
    /// An answer event (not storable under the default strategy).
    ANSWER = "answer",
    /// Permissions were denied.
    PERMISSION_DENIALS = "permission_denials",
}

impl MessageType {
    /// What [`MessageType::parse`] returns for text that names no known type.
    pub const UNKNOWN: MessageType = MessageType(Cow::Borrowed("unknown"));

    /// A message type with any name; use the constants for the HotPlex types.
    pub fn new(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    /// The type's name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the types the default strategy stores: `user_input` and `final_response`.
    pub fn is_storable(&self) -> bool {
        *self == Self::USER_INPUT || *self == Self::FINAL_RESPONSE
    }

    /// True for every type that is not [storable](Self::is_storable).
    pub fn is_intermediate(&self) -> bool {
        !self.is_storable()
    }

    /// Normalises free text into a known type, like the Go `ParseMessageType`.
    ///
    /// Case, surrounding blanks and `-` versus `_` are ignored, the Go aliases are accepted
    /// (`userinput`, `response`, `error_message`, …) and every HotPlex type is recognised by
    /// its own name. Anything else is [`MessageType::UNKNOWN`].
    pub fn parse(text: &str) -> MessageType {
        let normalised = text.trim().to_lowercase().replace('-', "_");
        let alias = match normalised.as_str() {
            "userinput" => Some(Self::USER_INPUT),
            "finalresponse" | "response" => Some(Self::FINAL_RESPONSE),
            "tooluse" => Some(Self::TOOL_USE),
            "toolresult" => Some(Self::TOOL_RESULT),
            "error_message" => Some(Self::ERROR),
            _ => None,
        };
        alias
            .or_else(|| Self::ALL.iter().find(|t| t.as_str() == normalised).cloned())
            .unwrap_or(Self::UNKNOWN)
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for MessageType {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for MessageType {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl AsRef<str> for MessageType {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for MessageType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_go_aliases_and_every_known_name() {
        assert_eq!(MessageType::parse(" User-Input "), MessageType::USER_INPUT);
        assert_eq!(MessageType::parse("userinput"), MessageType::USER_INPUT);
        assert_eq!(MessageType::parse("response"), MessageType::FINAL_RESPONSE);
        assert_eq!(
            MessageType::parse("Final-Response"),
            MessageType::FINAL_RESPONSE
        );
        assert_eq!(MessageType::parse("tooluse"), MessageType::TOOL_USE);
        assert_eq!(MessageType::parse("tool-result"), MessageType::TOOL_RESULT);
        assert_eq!(MessageType::parse("error_message"), MessageType::ERROR);
        for known in MessageType::ALL {
            assert_eq!(&MessageType::parse(&known.as_str().to_uppercase()), known);
        }
        assert_eq!(MessageType::parse(""), MessageType::UNKNOWN);
        assert_eq!(MessageType::parse("gibberish"), MessageType::UNKNOWN);
    }

    #[test]
    fn only_user_input_and_final_response_are_storable() {
        let storable: Vec<_> = MessageType::ALL
            .iter()
            .filter(|t| t.is_storable())
            .collect();
        assert_eq!(
            storable,
            [&MessageType::USER_INPUT, &MessageType::FINAL_RESPONSE]
        );
        assert!(MessageType::ANSWER.is_intermediate());
    }

    #[test]
    fn serde_is_a_plain_string() {
        let json = serde_json::to_string(&MessageType::TOOL_USE).unwrap();
        assert_eq!(json, "\"tool_use\"");
        let back: MessageType = serde_json::from_str("\"custom_kind\"").unwrap();
        assert_eq!(back, MessageType::new("custom_kind"));
        assert_eq!(MessageType::ALL.len(), 26);
    }
}
