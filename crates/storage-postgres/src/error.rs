//! Mapping of `postgres`, r2d2 and task errors to [`StorageError`], in one place.
//!
//! The retry contract (`docs/semantics.md` "Errors"): SQLSTATE 40001 (serialization failure),
//! 40P01 (deadlock), class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect
//! now), 53300 (too many connections), a lost connection and a pool timeout are transient;
//! everything else is not. A write whose connection was lost without a server answer may have
//! committed: it is [`StorageError::in_doubt`].

use std::time::Duration;

use hotplex_storage_core::StorageError;
use postgres::error::SqlState;

/// True for the SQLSTATEs that may succeed when repeated.
fn is_transient_state(code: &SqlState) -> bool {
    let code = code.code();
    matches!(
        code,
        "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
    ) || code.starts_with("08")
}

/// True when repeating what raised `error` may succeed: a transient SQLSTATE, or no
/// SQLSTATE at all (the connection was lost).
pub(crate) fn is_transient_pg(error: &postgres::Error) -> bool {
    error.code().is_none_or(is_transient_state)
}

/// The server's own report (`ERROR: …`, with its detail and hint) when there is one, else the
/// driver's description (whose `Display` is only "db error" for server errors).
pub(crate) fn describe(error: &postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), ToString::to_string)
}

/// Maps a driver error raised by a read (or a write that certainly did not commit).
pub(crate) fn from_pg(operation: &str, error: postgres::Error) -> StorageError {
    match error.code() {
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            StorageError::Connection {
                message: format!("{operation}: {error}"),
                transient: true,
                source: Some(Box::new(error)),
            }
        }
        Some(code) if is_transient_state(code) => {
            StorageError::transient_query(operation, error.to_string()).with_source(error)
        }
        // No SQLSTATE: the connection closed or an I/O error occurred.
        None if error.is_closed() || std::error::Error::source(&error).is_some() => {
            StorageError::Connection {
                message: format!("{operation}: connection lost: {error}"),
                transient: true,
                source: Some(Box::new(error)),
            }
        }
        Some(_) | None => StorageError::query(operation, error.to_string()).with_source(error),
    }
}

/// Maps a driver error raised by a write that commits on its own (an autocommit statement or
/// `COMMIT`): when the server gave no answer (no SQLSTATE, the connection is gone), the write
/// may have committed, so the error is in doubt.
pub(crate) fn from_pg_commit(operation: &str, error: postgres::Error) -> StorageError {
    let in_doubt = error.code().is_none();
    let mapped = from_pg(operation, error);
    if in_doubt && mapped.is_connection_error() {
        StorageError::in_doubt(mapped)
    } else {
        mapped
    }
}

/// Maps a failure to check out a pooled connection within `timeout`: transient.
pub(crate) fn from_pool(operation: &str, error: &r2d2::Error, timeout: Duration) -> StorageError {
    StorageError::Timeout {
        operation: format!("{operation}: waiting for a pooled PostgreSQL connection ({error})"),
        elapsed: timeout,
    }
}

/// Maps the failure of a blocking task (it panicked or the runtime is shutting down).
pub(crate) fn from_join(operation: &str, error: &tokio::task::JoinError) -> StorageError {
    StorageError::query(operation, format!("blocking task failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_states_follow_the_retry_contract() {
        for code in [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ] {
            assert!(is_transient_state(&code), "{code:?}");
        }
        for code in [
            SqlState::UNIQUE_VIOLATION,
            SqlState::SYNTAX_ERROR,
            SqlState::DATETIME_FIELD_OVERFLOW,
            SqlState::INSUFFICIENT_PRIVILEGE,
            SqlState::DISK_FULL,
        ] {
            assert!(!is_transient_state(&code), "{code:?}");
        }
    }

    #[test]
    fn pool_timeouts_are_transient() {
        let err = StorageError::Timeout {
            operation: "list".into(),
            elapsed: Duration::from_millis(5),
        };
        assert!(err.is_transient());
        assert!(!err.may_have_landed());
    }
}
