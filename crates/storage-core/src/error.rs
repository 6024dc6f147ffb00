//! [`StorageError`]: the one error type of every store, with portable predicates.

use std::time::Duration;

/// A boxed driver error kept as the `source` of a [`StorageError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`StorageError`] as the error.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Every failure a store, decorator or backend reports.
///
/// Messages name the operation and the entity and never contain passwords. Driver errors are
/// kept as the [`source`](std::error::Error::source). Use the predicates
/// ([`is_transient`](Self::is_transient), [`is_not_found`](Self::is_not_found), …) rather than
/// matching driver details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No live message has this id.
    #[error("message not found: {id}")]
    NotFound {
        /// The id that was looked up.
        id: String,
    },
    /// The session has no live messages (and so no session meta).
    #[error("session not found: {chat_session_id}")]
    SessionNotFound {
        /// The session that was looked up.
        chat_session_id: String,
    },
    /// A message failed validation; nothing was written.
    #[error("invalid message: {field}: {reason}")]
    InvalidMessage {
        /// The offending field (`content`, `metadata`, `batch[3].chat_session_id`, …).
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A query cannot be answered as asked.
    #[error("invalid query: {reason}")]
    InvalidQuery {
        /// Why it was rejected.
        reason: String,
    },
    /// A configuration value is missing or wrong.
    #[error("invalid config: {key}: {reason}")]
    InvalidConfig {
        /// The configuration key, as a path (`sqlite.max_size_mb`).
        key: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No backend (or strategy) is registered under this name.
    #[error("unsupported storage type {name:?}; available: {}", available.join(", "))]
    UnsupportedType {
        /// The requested name.
        name: String,
        /// The names that are available.
        available: Vec<String>,
    },
    /// Connecting to the database failed or the connection was lost.
    #[error("connection failed: {message}")]
    Connection {
        /// What failed.
        message: String,
        /// Whether repeating the operation may succeed.
        transient: bool,
        /// The driver's error.
        #[source]
        source: Option<BoxError>,
    },
    /// A statement failed.
    #[error("query failed: {operation}: {message}")]
    Query {
        /// The store operation (`store`, `list`, `migrate`, …).
        operation: String,
        /// What failed.
        message: String,
        /// Whether repeating the operation may succeed (busy, locked, serialization failure).
        transient: bool,
        /// The driver's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store reached its configured size limit; nothing of the failed write was kept.
    #[error("storage full: {message}")]
    StorageFull {
        /// What limit was reached.
        message: String,
    },
    /// A bounded resource (stream buffers, a queue) is at capacity.
    #[error("capacity exceeded: {resource} (limit {limit})")]
    CapacityExceeded {
        /// Which resource is full.
        resource: String,
        /// The configured limit.
        limit: u64,
    },
    /// The store was closed; no further calls succeed.
    #[error("store is closed")]
    Closed,
    /// An operation did not finish in time.
    #[error("timed out after {elapsed:?}: {operation}")]
    Timeout {
        /// What timed out.
        operation: String,
        /// How long it ran.
        elapsed: Duration,
    },
    /// Schema migration failed: checksum mismatch, or the database is newer than the code.
    #[error("migration failed: {message}")]
    Migration {
        /// What is wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("i/o error: {context}")]
    Io {
        /// The operation and the path.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising or parsing data (JSON metadata, export lines) failed.
    #[error("data error: {context}: {message}")]
    Data {
        /// What was being encoded or decoded.
        context: String,
        /// What is wrong.
        message: String,
    },
    /// A write failed in a way that leaves its outcome unknown: the connection was lost during
    /// or after `COMMIT`, or an earlier attempt of a retried write ended like that. The write
    /// may have been committed; repeating it with the same id is the way to find out
    /// (`AlreadyStored`). See [`may_have_landed`](Self::may_have_landed).
    #[error("write outcome unknown (it may have been committed): {cause}")]
    InDoubt {
        /// The error that was observed.
        #[source]
        cause: Box<StorageError>,
    },
    /// A retried operation failed on every attempt.
    #[error("retry exhausted after {attempts} attempts: {last}")]
    RetryExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<StorageError>,
    },
}

impl StorageError {
    /// [`StorageError::NotFound`] for a message id.
    pub fn not_found(id: impl Into<String>) -> Self {
        Self::NotFound { id: id.into() }
    }

    /// [`StorageError::SessionNotFound`].
    pub fn session_not_found(chat_session_id: impl Into<String>) -> Self {
        Self::SessionNotFound {
            chat_session_id: chat_session_id.into(),
        }
    }

    /// [`StorageError::InvalidMessage`].
    pub fn invalid_message(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidMessage {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// [`StorageError::InvalidQuery`].
    pub fn invalid_query(reason: impl Into<String>) -> Self {
        Self::InvalidQuery {
            reason: reason.into(),
        }
    }

    /// [`StorageError::InvalidConfig`].
    pub fn invalid_config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// [`StorageError::UnsupportedType`]; `available` is sorted.
    pub fn unsupported_type(
        name: impl Into<String>,
        available: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut available: Vec<String> = available.into_iter().map(Into::into).collect();
        available.sort();
        Self::UnsupportedType {
            name: name.into(),
            available,
        }
    }

    /// A transient [`StorageError::Connection`] (connection refused or lost).
    pub fn connection(message: impl Into<String>) -> Self {
        Self::Connection {
            message: message.into(),
            transient: true,
            source: None,
        }
    }

    /// A permanent [`StorageError::Query`] (bad SQL, constraint violation, corrupt data).
    pub fn query(operation: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Query {
            operation: operation.into(),
            message: message.into(),
            transient: false,
            source: None,
        }
    }

    /// A transient [`StorageError::Query`] (busy, locked, serialization failure, pool timeout).
    pub fn transient_query(operation: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Query {
            operation: operation.into(),
            message: message.into(),
            transient: true,
            source: None,
        }
    }

    /// [`StorageError::StorageFull`].
    pub fn storage_full(message: impl Into<String>) -> Self {
        Self::StorageFull {
            message: message.into(),
        }
    }

    /// [`StorageError::CapacityExceeded`].
    pub fn capacity_exceeded(resource: impl Into<String>, limit: u64) -> Self {
        Self::CapacityExceeded {
            resource: resource.into(),
            limit,
        }
    }

    /// [`StorageError::Migration`].
    pub fn migration(message: impl Into<String>) -> Self {
        Self::Migration {
            message: message.into(),
        }
    }

    /// [`StorageError::Io`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// [`StorageError::Data`].
    pub fn data(context: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Data {
            context: context.into(),
            message: message.into(),
        }
    }

    /// [`StorageError::InDoubt`] around `cause` (unchanged if `cause` already may have landed).
    pub fn in_doubt(cause: StorageError) -> Self {
        if cause.may_have_landed() {
            cause
        } else {
            Self::InDoubt {
                cause: Box::new(cause),
            }
        }
    }

    /// Attaches a driver error as the source of a `Connection` or `Query` error; other
    /// variants are returned unchanged.
    #[must_use]
    pub fn with_source(mut self, error: impl Into<BoxError>) -> Self {
        if let Self::Connection { source, .. } | Self::Query { source, .. } = &mut self {
            *source = Some(error.into());
        }
        self
    }

    /// True for `NotFound` and `SessionNotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::SessionNotFound { .. })
    }

    /// True for `InvalidConfig` and `UnsupportedType`.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            Self::InvalidConfig { .. } | Self::UnsupportedType { .. }
        )
    }

    /// True for `Connection` errors (also when wrapped in `InDoubt`).
    pub fn is_connection_error(&self) -> bool {
        match self {
            Self::Connection { .. } => true,
            Self::InDoubt { cause } => cause.is_connection_error(),
            _ => false,
        }
    }

    /// True when a failed write may nevertheless have been committed: an `InDoubt` error, or
    /// `RetryExhausted` whose last error is one. Decorators decide "did it land?" from this one
    /// predicate, never by matching variants; a store that reports `false` guarantees that
    /// nothing of the failed call was written.
    pub fn may_have_landed(&self) -> bool {
        match self {
            Self::InDoubt { .. } => true,
            Self::RetryExhausted { last, .. } => last.may_have_landed(),
            _ => false,
        }
    }

    /// True for `InvalidMessage` and `InvalidQuery`: the caller must change its input.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidMessage { .. } | Self::InvalidQuery { .. }
        )
    }

    /// True for `Closed`.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }

    /// The retry contract: true only for failures that may succeed if repeated — a lost or
    /// refused connection, SQLite busy/locked, a serialization failure, a pool or operation
    /// timeout. Never for invalid input, constraint violations, a full or closed store.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connection { transient, .. } | Self::Query { transient, .. } => *transient,
            Self::Timeout { .. } => true,
            Self::InDoubt { cause } => cause.is_transient(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_the_retry_contract() {
        assert!(StorageError::connection("refused").is_transient());
        assert!(StorageError::transient_query("store", "database is locked").is_transient());
        assert!(!StorageError::query("store", "UNIQUE constraint failed").is_transient());
        assert!(!StorageError::invalid_message("content", "too long").is_transient());
        assert!(!StorageError::Closed.is_transient());
        assert!(!StorageError::storage_full("512 MB").is_transient());
        assert!(StorageError::not_found("m").is_not_found());
        assert!(StorageError::session_not_found("s").is_not_found());
        assert!(StorageError::invalid_config("type", "empty").is_config_error());
        assert!(StorageError::unsupported_type("x", ["b", "a"]).is_config_error());
        assert!(StorageError::connection("x").is_connection_error());
    }

    #[test]
    fn in_doubt_is_the_only_error_that_may_have_landed() {
        let lost = StorageError::in_doubt(StorageError::connection("lost during COMMIT"));
        assert!(lost.may_have_landed());
        assert!(lost.is_transient());
        assert!(lost.is_connection_error());
        assert!(!StorageError::connection("refused").may_have_landed());
        assert!(!StorageError::transient_query("store", "busy").may_have_landed());
        let permanent_after_doubt = StorageError::in_doubt(StorageError::query("store", "bad"));
        assert!(permanent_after_doubt.may_have_landed());
        assert!(!permanent_after_doubt.is_transient());
        // Wrapping twice keeps one layer.
        let twice = StorageError::in_doubt(lost);
        assert!(matches!(&twice, StorageError::InDoubt { cause } if cause.is_connection_error()));
        let exhausted = StorageError::RetryExhausted {
            attempts: 3,
            last: Box::new(twice),
        };
        assert!(exhausted.may_have_landed());
        let exhausted_clean = StorageError::RetryExhausted {
            attempts: 3,
            last: Box::new(StorageError::connection("refused")),
        };
        assert!(!exhausted_clean.may_have_landed());
    }

    #[test]
    fn messages_name_the_entity_and_keep_the_source() {
        let e = StorageError::unsupported_type("mysql", ["sqlite", "memory"]);
        assert_eq!(
            e.to_string(),
            "unsupported storage type \"mysql\"; available: memory, sqlite"
        );
        let io = std::io::Error::other("disk");
        let e = StorageError::query("list", "boom").with_source(io);
        assert!(std::error::Error::source(&e).is_some());
        let e = StorageError::RetryExhausted {
            attempts: 3,
            last: Box::new(StorageError::connection("gone")),
        };
        assert_eq!(
            e.to_string(),
            "retry exhausted after 3 attempts: connection failed: gone"
        );
    }
}
