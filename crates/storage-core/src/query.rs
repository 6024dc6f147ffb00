//! [`MessageQuery`] and [`Cursor`]: what `list` and `count` select, and keyset positions.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ChatAppMessage, MessageType, QueryPlan, Result, StorageError, time};

/// Which messages `list` returns and `count` counts. Every field is honoured by every backend.
///
/// Results are ordered by `(created_at, seq)`, ascending or descending. `after` and `before`
/// are positions on that time axis, independent of the direction: `after` keeps messages
/// strictly newer than the cursor, `before` strictly older. Page forwards in ascending order
/// with `after = Cursor::of(last)?`, backwards (newest first) with `before = Cursor::of(last)?`.
///
/// ```
/// use hotplex_storage_core::MessageQuery;
/// let newest_50 = MessageQuery::for_session("slack:U1:C1").with_limit(50);
/// assert!(!newest_50.ascending);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageQuery {
    /// Only this session.
    pub chat_session_id: Option<String>,
    /// Only messages with this `chat_user_id`.
    pub chat_user_id: Option<String>,
    /// Only this engine session.
    pub engine_session_id: Option<Uuid>,
    /// Only this provider type.
    pub provider_type: Option<String>,
    /// Only this provider session.
    pub provider_session_id: Option<String>,
    /// Only messages created at or after this time (inclusive).
    pub start_time: Option<DateTime<Utc>>,
    /// Only messages created at or before this time (inclusive).
    pub end_time: Option<DateTime<Utc>>,
    /// Only these types; empty means any type.
    pub message_types: Vec<MessageType>,
    /// At most this many results; 0 means no limit. Ignored by `count`.
    pub limit: usize,
    /// Skip this many results (after the cursors). Ignored by `count`.
    pub offset: usize,
    /// Oldest first when true; newest first (the default) when false.
    pub ascending: bool,
    /// Include soft-deleted messages.
    pub include_deleted: bool,
    /// Keyset paging: strictly after (newer than) this position. Ignored by `count`.
    pub after: Option<Cursor>,
    /// Keyset paging: strictly before (older than) this position. Ignored by `count`.
    pub before: Option<Cursor>,
}

impl MessageQuery {
    /// A query for every message of one session, newest first.
    pub fn for_session(chat_session_id: impl Into<String>) -> Self {
        Self {
            chat_session_id: Some(chat_session_id.into()),
            ..Self::default()
        }
    }

    /// Sets `limit`.
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets `offset`.
    #[must_use]
    pub fn with_offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// Sets `ascending`.
    #[must_use]
    pub fn with_ascending(mut self, ascending: bool) -> Self {
        self.ascending = ascending;
        self
    }

    /// Sets `include_deleted`.
    #[must_use]
    pub fn with_include_deleted(mut self, include_deleted: bool) -> Self {
        self.include_deleted = include_deleted;
        self
    }

    /// Sets `after`.
    #[must_use]
    pub fn with_after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Sets `before`.
    #[must_use]
    pub fn with_before(mut self, cursor: Cursor) -> Self {
        self.before = Some(cursor);
        self
    }

    /// Sets `message_types`.
    #[must_use]
    pub fn with_message_types(mut self, types: impl IntoIterator<Item = MessageType>) -> Self {
        self.message_types = types.into_iter().collect();
        self
    }

    /// True when `msg` passes every filter of this query, the cursors included, but not
    /// `limit` or `offset` ([`QueryPlan::list`] decides what that means).
    pub fn matches(&self, msg: &ChatAppMessage) -> bool {
        QueryPlan::list(self).matches(msg)
    }

    /// True when `msg` passes every filter that `count` applies (all but the cursors;
    /// [`QueryPlan::count`]).
    pub fn matches_filters(&self, msg: &ChatAppMessage) -> bool {
        QueryPlan::count(self).matches(msg)
    }

    /// Rejects queries that cannot mean anything: `start_time` after `end_time`, `after` not
    /// older than `before`, an empty message type, or a filter string containing NUL.
    pub fn validate(&self) -> Result<()> {
        if let (Some(start), Some(end)) = (self.start_time, self.end_time)
            && start > end
        {
            return Err(StorageError::invalid_query(format!(
                "start_time {start} is after end_time {end}"
            )));
        }
        if let (Some(after), Some(before)) = (self.after, self.before)
            && after >= before
        {
            return Err(StorageError::invalid_query(
                "the `after` cursor is not older than the `before` cursor",
            ));
        }
        if self.message_types.iter().any(|t| t.as_str().is_empty()) {
            return Err(StorageError::invalid_query(
                "empty message type in message_types",
            ));
        }
        for (field, value) in [
            ("chat_session_id", &self.chat_session_id),
            ("chat_user_id", &self.chat_user_id),
            ("provider_type", &self.provider_type),
            ("provider_session_id", &self.provider_session_id),
        ] {
            if value.as_ref().is_some_and(|v| v.contains('\0')) {
                return Err(StorageError::invalid_query(format!("{field} contains NUL")));
            }
        }
        if self.message_types.iter().any(|t| t.as_str().contains('\0')) {
            return Err(StorageError::invalid_query("message_types contains NUL"));
        }
        Ok(())
    }
}

/// A position in the `(created_at, seq)` order of messages, for keyset paging.
///
/// Obtained from any returned message with [`Cursor::of`]. Opaque to callers; it serialises
/// as a string token (`"<micros>:<seq>"`) that [`Cursor::from_str`] parses back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    created_at_micros: i64,
    seq: i64,
}

impl Cursor {
    /// The position of a stored message.
    ///
    /// Every message a store returns has one; a message that was never stored (no
    /// `created_at`) is refused with [`StorageError::InvalidQuery`].
    pub fn of(msg: &ChatAppMessage) -> Result<Self> {
        Self::try_of(msg).ok_or_else(|| {
            StorageError::invalid_query(
                "a cursor needs a stored message: this one has no created_at",
            )
        })
    }

    /// The position of a message, or `None` when it has no `created_at` yet.
    pub fn try_of(msg: &ChatAppMessage) -> Option<Self> {
        msg.created_at.map(|c| Self::new(c, msg.seq))
    }

    /// A position from its parts (timestamps are truncated to microseconds).
    pub fn new(created_at: DateTime<Utc>, seq: i64) -> Self {
        Self {
            created_at_micros: time::to_micros(created_at),
            seq,
        }
    }

    /// The timestamp part.
    pub fn created_at(&self) -> DateTime<Utc> {
        time::from_micros(self.created_at_micros).unwrap_or_default()
    }

    /// The timestamp part in microseconds since the epoch.
    pub fn created_at_micros(&self) -> i64 {
        self.created_at_micros
    }

    /// The sequence part.
    pub fn seq(&self) -> i64 {
        self.seq
    }
}

impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cursor {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.created_at_micros, self.seq).cmp(&(other.created_at_micros, other.seq))
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.created_at_micros, self.seq)
    }
}

impl FromStr for Cursor {
    type Err = StorageError;

    fn from_str(token: &str) -> Result<Self> {
        let bad = || StorageError::invalid_query(format!("malformed cursor {token:?}"));
        let (micros, seq) = token.split_once(':').ok_or_else(bad)?;
        let created_at_micros: i64 = micros.parse().map_err(|_| bad())?;
        time::from_micros(created_at_micros).map_err(|_| bad())?;
        Ok(Self {
            created_at_micros,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let token = String::deserialize(d)?;
        token.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: i64, micros: i64) -> ChatAppMessage {
        let mut m = ChatAppMessage::user("s", "c");
        m.created_at = Some(time::from_micros(micros).unwrap());
        m.seq = seq;
        m
    }

    #[test]
    fn cursor_orders_by_time_then_seq_and_round_trips() {
        let a = Cursor::of(&stored(5, 100)).unwrap();
        let b = Cursor::of(&stored(2, 200)).unwrap();
        let c = Cursor::of(&stored(3, 200)).unwrap();
        assert!(a < b && b < c);
        let token = c.to_string();
        assert_eq!(token.parse::<Cursor>().unwrap(), c);
        assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{token}\""));
        assert!(
            "nope"
                .parse::<Cursor>()
                .unwrap_err()
                .to_string()
                .contains("malformed")
        );
    }

    #[test]
    fn a_cursor_of_a_message_never_stored_is_an_invalid_query() {
        let unstored = ChatAppMessage::user("s", "c");
        let err = Cursor::of(&unstored).unwrap_err();
        assert!(matches!(err, StorageError::InvalidQuery { .. }), "{err:?}");
        assert_eq!(Cursor::try_of(&unstored), None);
    }

    #[test]
    fn cursors_bound_strictly() {
        let q = MessageQuery::default()
            .with_after(Cursor::of(&stored(1, 100)).unwrap())
            .with_before(Cursor::of(&stored(3, 100)).unwrap());
        assert!(!q.matches(&stored(1, 100)));
        assert!(q.matches(&stored(2, 100)));
        assert!(!q.matches(&stored(3, 100)));
    }

    #[test]
    fn validate_rejects_inverted_ranges() {
        let q = MessageQuery {
            start_time: Some(time::from_micros(10).unwrap()),
            end_time: Some(time::from_micros(5).unwrap()),
            ..MessageQuery::default()
        };
        assert!(q.validate().unwrap_err().is_invalid_input());
        let q = MessageQuery::default()
            .with_after(Cursor::of(&stored(3, 100)).unwrap())
            .with_before(Cursor::of(&stored(3, 100)).unwrap());
        assert!(q.validate().is_err());
        assert!(MessageQuery::default().validate().is_ok());
    }
}
