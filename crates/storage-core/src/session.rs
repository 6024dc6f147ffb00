//! [`SessionMeta`]: the per-session summary every store keeps in step with its messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Summary of one chat session's live messages.
///
/// Invariant kept by every backend, in the same transaction as each write:
/// `message_count` equals the number of the session's non-deleted messages. A session
/// without live messages has no `SessionMeta` (`SessionNotFound`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMeta {
    /// The session.
    pub chat_session_id: String,
    /// The first non-empty `chat_platform` seen in the session.
    pub chat_platform: String,
    /// The first non-empty `chat_user_id` seen in the session.
    pub chat_user_id: String,
    /// Id of the newest live message by `(created_at, seq)`.
    pub last_message_id: String,
    /// `created_at` of that message.
    pub last_message_at: DateTime<Utc>,
    /// Number of live (non-deleted) messages.
    pub message_count: i64,
    /// When this meta was created (the first live message was stored).
    pub created_at: DateTime<Utc>,
    /// When this meta last changed.
    pub updated_at: DateTime<Utc>,
}
