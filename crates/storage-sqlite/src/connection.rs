//! Opening connections and the pragmas every connection gets.
//!
//! Every connection (writer, pooled readers, backup source) is opened without URI
//! interpretation and initialised with `journal_mode = WAL`, `busy_timeout`,
//! `foreign_keys = ON` and the configured `synchronous`. Readers are also `query_only`. Only
//! the writer carries `max_page_count` (the size limit), since only it writes.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::config::{SqliteConfig, Synchronous};

/// Prepared statements cached per connection (the list/count builder has a few dozen
/// shapes).
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The per-connection settings, copied out of [`SqliteConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionSettings {
    /// `PRAGMA synchronous`.
    pub(crate) synchronous: Synchronous,
    /// `PRAGMA busy_timeout`.
    pub(crate) busy_timeout: Duration,
}

impl ConnectionSettings {
    /// The settings of `config`.
    pub(crate) fn of(config: &SqliteConfig) -> Self {
        Self {
            synchronous: config.synchronous,
            busy_timeout: config.busy_timeout,
        }
    }
}

/// What a connection is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The one connection that writes.
    Writer,
    /// A pooled or backup connection that only reads (`query_only`).
    Reader,
}

/// Open flags: read-write, create, no mutex (each connection is used by one thread at a
/// time) and, deliberately, no `SQLITE_OPEN_URI`.
pub(crate) fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// Opens the database file at `path` (absolute) and applies [`configure`].
pub(crate) fn open(
    path: &Path,
    settings: ConnectionSettings,
    role: Role,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, open_flags())?;
    configure(&conn, settings, role)?;
    Ok(conn)
}

/// Opens a private in-memory database and applies [`configure`].
pub(crate) fn open_in_memory(settings: ConnectionSettings) -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory_with_flags(open_flags())?;
    configure(&conn, settings, Role::Writer)?;
    Ok(conn)
}

/// Applies the pragmas every connection gets (see the module documentation).
///
/// `journal_mode` comes first: it is the one that may need to wait for a lock, so
/// `busy_timeout` is set before it.
pub(crate) fn configure(
    conn: &Connection,
    settings: ConnectionSettings,
    role: Role,
) -> rusqlite::Result<()> {
    conn.busy_timeout(settings.busy_timeout)?;
    let mode = enter_wal_mode(conn, settings.busy_timeout)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(journal_mode = %mode, "sqlite refused WAL mode");
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", settings.synchronous.as_pragma())?;
    if role == Role::Reader {
        conn.pragma_update(None, "query_only", true)?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(())
}

/// Switches `conn` to WAL and returns the journal mode in force.
///
/// Switching a new rollback-journal file to WAL needs an exclusive lock, and SQLite answers
/// `SQLITE_BUSY` at once, without calling the busy handler, when another connection is
/// opening the same file at that moment (two processes starting together). So the switch is
/// retried here, with short pauses, for up to `busy_timeout`, as the busy handler would.
fn enter_wal_mode(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e) if is_busy(&e) && started.elapsed() < busy_timeout => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_WAL_RETRY_PAUSE);
            }
            result => return result,
        }
    }
}

/// The longest pause between two attempts of [`enter_wal_mode`].
const MAX_WAL_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Whether `e` is `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Sets `max_page_count` on the writer so that the database cannot grow past `max_bytes`;
/// returns the limit in force (SQLite never sets it below the current size).
pub(crate) fn limit_size(conn: &Connection, max_bytes: u64) -> rusqlite::Result<i64> {
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let page_size = u64::try_from(page_size.max(1)).unwrap_or(4096);
    let pages = i64::try_from((max_bytes / page_size).max(1)).unwrap_or(i64::MAX);
    conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get(0))
}

/// `page_count * page_size` of the main database (what `max_size_mb` limits).
pub(crate) fn database_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let (pages, size): (i64, i64) = conn.query_row(
        "SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(u64::try_from(pages).unwrap_or(0) * u64::try_from(size).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(synchronous: Synchronous) -> ConnectionSettings {
        ConnectionSettings {
            synchronous,
            busy_timeout: Duration::from_millis(1234),
        }
    }

    #[test]
    fn every_pragma_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let writer = open(&path, settings(Synchronous::Full), Role::Writer).unwrap();
        let reader = open(&path, settings(Synchronous::Normal), Role::Reader).unwrap();
        let get = |c: &Connection, p: &str| -> String {
            c.query_row(&format!("PRAGMA {p}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(get(&writer, "journal_mode"), "wal");
        assert_eq!(get(&reader, "journal_mode"), "wal");
        assert_eq!(get(&writer, "busy_timeout"), "1234");
        assert_eq!(get(&writer, "foreign_keys"), "1");
        assert_eq!(get(&writer, "synchronous"), "2");
        assert_eq!(get(&reader, "synchronous"), "1");
        assert_eq!(get(&writer, "query_only"), "0");
        assert_eq!(get(&reader, "query_only"), "1");
        assert!(reader.execute_batch("CREATE TABLE t (x)").is_err());
    }

    #[test]
    fn size_limit_is_in_pages() {
        let conn = open_in_memory(settings(Synchronous::Full)).unwrap();
        let pages = limit_size(&conn, 1024 * 1024).unwrap();
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(pages * page_size, 1024 * 1024);
        assert!(database_bytes(&conn).is_ok());
    }
}
