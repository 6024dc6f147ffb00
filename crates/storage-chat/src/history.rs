//! A thread printed the way the Go Slack adapter prints it for a model's context.

use std::fmt::Write as _;

use hotplex_storage_core::{ChatAppMessage, MessageType, format_timestamp};

/// One line per message, `"[2006-01-02 15:04:05] User: …"` for `user_input` and
/// `"[…] Assistant: …"` for every other type (the Go adapter's format; times in UTC). A
/// message without `created_at` (never stored) shows `[-]`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use hotplex_storage_chat::format_history;
/// use hotplex_storage_core::ChatAppMessage;
/// let at = Utc.with_ymd_and_hms(2026, 3, 23, 18, 14, 31).unwrap();
/// let thread = [
///     ChatAppMessage::user("s", "Hi?").with_created_at(at),
///     ChatAppMessage::bot("s", "Hello!").with_created_at(at),
/// ];
/// assert_eq!(
///     format_history(&thread),
///     "[2026-03-23 18:14:31] User: Hi?\n[2026-03-23 18:14:31] Assistant: Hello!\n"
/// );
/// ```
pub fn format_history(messages: &[ChatAppMessage]) -> String {
    let mut out = String::new();
    for msg in messages {
        let at = msg
            .created_at
            .map_or_else(|| "-".to_owned(), format_timestamp);
        let role = if msg.message_type == MessageType::USER_INPUT {
            "User"
        } else {
            "Assistant"
        };
        // Writing into a String cannot fail.
        let _ = writeln!(out, "[{at}] {role}: {}", msg.content);
    }
    out
}
