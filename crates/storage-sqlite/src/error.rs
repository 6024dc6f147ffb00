//! Mapping of rusqlite, r2d2 and task errors to [`StorageError`], in one place.
//!
//! The retry contract: `SQLITE_BUSY` / `SQLITE_LOCKED` and a pool timeout are transient;
//! constraint violations, bad input, a full database and everything else are not.

use hotplex_storage_core::StorageError;
use rusqlite::ErrorCode;

/// Maps a rusqlite error raised by `operation` (`store`, `list`, `migrate`, …).
pub(crate) fn from_sqlite(operation: &str, error: rusqlite::Error) -> StorageError {
    let Some(code) = error.sqlite_error_code() else {
        return StorageError::query(operation, error.to_string()).with_source(error);
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            StorageError::transient_query(operation, error.to_string()).with_source(error)
        }
        ErrorCode::DiskFull => StorageError::storage_full(format!(
            "{operation}: the database reached its size limit (max_size_mb) or the disk is full ({error})"
        )),
        ErrorCode::CannotOpen
        | ErrorCode::PermissionDenied
        | ErrorCode::NotADatabase
        | ErrorCode::ReadOnly
        | ErrorCode::SystemIoFailure
        | ErrorCode::FileLockingProtocolFailed
        | ErrorCode::NoLargeFileSupport => StorageError::Connection {
            message: format!("{operation}: {error}"),
            transient: false,
            source: Some(Box::new(error)),
        },
        _ => StorageError::query(operation, error.to_string()).with_source(error),
    }
}

/// Maps a failure to check out a pooled reader connection: the pool timed out, which may
/// succeed later.
pub(crate) fn from_pool(operation: &str, error: r2d2::Error) -> StorageError {
    StorageError::transient_query(
        operation,
        format!("no reader connection became available: {error}"),
    )
    .with_source(error)
}

/// Maps the failure of a blocking task (it panicked or the runtime is shutting down).
pub(crate) fn from_join(operation: &str, error: &tokio::task::JoinError) -> StorageError {
    StorageError::query(operation, format!("blocking task failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("detail".into()))
    }

    #[test]
    fn busy_and_locked_are_transient() {
        for code in [
            ffi::SQLITE_BUSY,
            ffi::SQLITE_LOCKED,
            ffi::SQLITE_BUSY_SNAPSHOT,
        ] {
            let e = from_sqlite("store", sqlite(code));
            assert!(e.is_transient(), "{code}: {e:?}");
            assert!(std::error::Error::source(&e).is_some());
        }
    }

    #[test]
    fn constraints_full_and_bad_input_are_permanent() {
        let e = from_sqlite("store", sqlite(ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert!(!e.is_transient());
        assert!(matches!(e, StorageError::Query { .. }));
        let e = from_sqlite("store", sqlite(ffi::SQLITE_FULL));
        assert!(matches!(e, StorageError::StorageFull { .. }));
        assert!(!e.is_transient());
        let e = from_sqlite("open", sqlite(ffi::SQLITE_CANTOPEN));
        assert!(e.is_connection_error() && !e.is_transient());
        let e = from_sqlite("open", sqlite(ffi::SQLITE_NOTADB));
        assert!(e.is_connection_error() && !e.is_transient());
        let e = from_sqlite("list", rusqlite::Error::InvalidColumnIndex(3));
        assert!(!e.is_transient());
        let e = from_sqlite("list", sqlite(ffi::SQLITE_MISMATCH));
        assert!(!e.is_transient());
    }
}
