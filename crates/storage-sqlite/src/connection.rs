//! Opening connections and the pragmas every connection gets.
//!
//! Every connection (writer, pooled readers, backup source) is opened without URI
//! interpretation and initialised with `journal_mode = WAL`, `busy_timeout`,
//! `foreign_keys = ON` and the configured `synchronous`, and gets the `hotplex_fold` function
//! (see `functions`). Readers are also `query_only`. Only
//! the writer carries the size limit (`max_page_count`, and with it a smaller
//! `wal_autocheckpoint` and a `journal_size_limit`, see [`limit_size`]), since only it writes.

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
/// time), no symbolic link as the database path (`SQLITE_OPEN_NOFOLLOW`) and, deliberately,
/// no `SQLITE_OPEN_URI`.
pub(crate) fn open_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
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
    crate::functions::register(conn)
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

/// SQLite's default `wal_autocheckpoint`, in pages: the most a size limit sets it to.
const MAX_AUTOCHECKPOINT_PAGES: i64 = 1000;
/// The fewest pages a size limit sets `wal_autocheckpoint` to, so that a tiny limit does not
/// turn every commit into a checkpoint (one more fsync of the database file).
const MIN_AUTOCHECKPOINT_PAGES: i64 = 32;
/// Bytes of the WAL file header.
const WAL_HEADER_BYTES: i64 = 32;
/// Bytes of the header of each WAL frame (one page follows it).
const WAL_FRAME_HEADER_BYTES: i64 = 24;

/// The limits in force on the writer, as [`limit_size`] set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterLimits {
    /// `page_size` of the database, in bytes.
    pub(crate) page_size: i64,
    /// `max_page_count` in force.
    pub(crate) max_pages: i64,
    /// `wal_autocheckpoint` in force, in pages.
    pub(crate) wal_autocheckpoint: i64,
    /// `journal_size_limit` in force, in bytes.
    pub(crate) journal_size_limit: i64,
}

impl WriterLimits {
    /// `max_page_count × page_size`: the most bytes the main database may hold.
    pub(crate) fn max_bytes(&self) -> u64 {
        u64::try_from(self.max_pages.saturating_mul(self.page_size)).unwrap_or(u64::MAX)
    }

    /// How many of those pages stores may fill; see [`PageBudget`].
    pub(crate) fn budget(&self) -> PageBudget {
        PageBudget::new(self.max_pages)
    }
}

/// The pages a size limit allows, split between stores and the writes that free space.
///
/// Stores may grow the database to `store_pages`, 90 % of `max_pages` (all but
/// [`RESERVE_SHARE`]ths, at least [`MIN_RESERVE_PAGES`] kept back when the limit allows).
/// Deletes, purges and retention may use every page: a soft delete grows its rows (a
/// `deleted_at` value each) and the index of deleted rows, so on a database that stores filled
/// to the limit it would fail with `StorageFull` without that room. The writer switches
/// `max_page_count` between the two as it runs each request ([`PageBudget::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageBudget {
    /// `max_page_count` while a store runs.
    pub(crate) store_pages: i64,
    /// `max_page_count` while a space-freeing write runs.
    pub(crate) max_pages: i64,
    /// The value in force on the connection.
    current: i64,
}

/// The share of the pages kept back from stores: one tenth.
pub(crate) const RESERVE_SHARE: i64 = 10;
/// The fewest pages kept back from stores, when the limit has that many more than one.
pub(crate) const MIN_RESERVE_PAGES: i64 = 8;

impl PageBudget {
    /// The budget of a limit of `max_pages` pages (`max_page_count` is at `max_pages` now).
    pub(crate) fn new(max_pages: i64) -> Self {
        let max_pages = max_pages.max(1);
        let reserve = (max_pages / RESERVE_SHARE)
            .max(MIN_RESERVE_PAGES)
            .min(max_pages - 1);
        Self {
            store_pages: max_pages - reserve,
            max_pages,
            current: max_pages,
        }
    }

    /// Sets `max_page_count` for the next request: `store_pages` for a store, `max_pages`
    /// for a write that frees space. A pragma runs only when the value changes. SQLite never
    /// lowers the limit below the pages in use, so a database above `store_pages` (grown by a
    /// delete) takes no store that needs a new page until purges free some.
    pub(crate) fn admit(&mut self, conn: &Connection, frees_space: bool) -> rusqlite::Result<()> {
        let wanted = if frees_space {
            self.max_pages
        } else {
            self.store_pages
        };
        if wanted != self.current {
            conn.pragma_update_and_check(None, "max_page_count", wanted, |row| {
                row.get::<_, i64>(0)
            })?;
            self.current = wanted;
        }
        Ok(())
    }
}

/// `wal_autocheckpoint` for a database of at most `max_pages` pages: a tenth of them, at
/// least [`MIN_AUTOCHECKPOINT_PAGES`], at most SQLite's default of 1,000.
fn autocheckpoint_pages(max_pages: i64) -> i64 {
    (max_pages / 10).clamp(MIN_AUTOCHECKPOINT_PAGES, MAX_AUTOCHECKPOINT_PAGES)
}

/// Bytes of a WAL file holding `frames` pages of `page_size` bytes.
fn wal_bytes(frames: i64, page_size: i64) -> i64 {
    WAL_HEADER_BYTES.saturating_add(frames.saturating_mul(page_size + WAL_FRAME_HEADER_BYTES))
}

/// Limits the writer's database to `max_bytes` and its WAL to a size in proportion.
///
/// - `max_page_count = ⌊max_bytes / page_size⌋` (at least 1): the write that would grow the
///   database past it fails with `SQLITE_FULL`. SQLite never sets it below the current size.
/// - `wal_autocheckpoint = N`, a tenth of those pages within 32 ..= 1000 (see
///   [`autocheckpoint_pages`]): the commit that leaves N or more pages in the WAL copies them
///   into the database (a passive checkpoint) instead of letting the WAL reach SQLite's
///   default of 1,000 pages (4 MiB with 4 KiB pages) whatever the limit.
/// - `journal_size_limit` = the size of a WAL of N pages (`32 + N × (page_size + 24)`): after
///   a checkpoint, the next commit writes the WAL from its start again and, with this set,
///   truncates the file to that size (or to the end of its own frames, if larger). Without
///   it SQLite reuses the file at its largest size for as long as the database is open.
///   A WAL of N pages is what a checkpoint cycle reaches anyway, so truncating to it only
///   cuts off what the last commit before the checkpoint wrote past the mark, rather than a
///   file that every cycle would have to regrow.
///
/// So, as long as checkpoints complete (no other connection is inside a read when one is
/// due), the WAL never holds more than N − 1 pages plus one commit, and a commit writes
/// each page once (at most `max_page_count` pages) plus at most one frame to mark the
/// commit: `32 + (N + max_page_count) × (page_size + 24)` bytes at most. The first commit
/// after each checkpoint cuts it back to `journal_size_limit`.
pub(crate) fn limit_size(conn: &Connection, max_bytes: u64) -> rusqlite::Result<WriterLimits> {
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    let page_size = page_size.max(1);
    let pages = max_bytes / u64::try_from(page_size).unwrap_or(4096);
    let pages = i64::try_from(pages.max(1)).unwrap_or(i64::MAX);
    let max_pages =
        conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get(0))?;
    let wal_autocheckpoint = conn.pragma_update_and_check(
        None,
        "wal_autocheckpoint",
        autocheckpoint_pages(max_pages),
        |row| row.get(0),
    )?;
    let journal_size_limit = conn.pragma_update_and_check(
        None,
        "journal_size_limit",
        wal_bytes(wal_autocheckpoint, page_size),
        |row| row.get(0),
    )?;
    Ok(WriterLimits {
        page_size,
        max_pages,
        wal_autocheckpoint,
        journal_size_limit,
    })
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
    fn the_budget_keeps_a_tenth_back_from_stores() {
        assert_eq!(PageBudget::new(256).store_pages, 231);
        assert_eq!(PageBudget::new(1000).store_pages, 900);
        assert_eq!(PageBudget::new(50).store_pages, 42);
        assert_eq!(PageBudget::new(5).store_pages, 1);
        assert_eq!(PageBudget::new(1).store_pages, 1);
        let budget = PageBudget::new(40);
        assert_eq!((budget.store_pages, budget.max_pages), (32, 40));
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

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
    }

    #[test]
    fn size_limit_is_in_pages() {
        let conn = open_in_memory(settings(Synchronous::Full)).unwrap();
        let limit = limit_size(&conn, 1024 * 1024).unwrap();
        let page_size = pragma(&conn, "page_size");
        assert_eq!(limit.page_size, page_size);
        assert_eq!(limit.max_pages * page_size, 1024 * 1024);
        assert_eq!(limit.max_bytes(), 1024 * 1024);
        assert_eq!(pragma(&conn, "max_page_count"), limit.max_pages);
        assert!(database_bytes(&conn).is_ok());
    }

    #[test]
    fn size_limit_scales_the_wal_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(
            &dir.path().join("w.db"),
            settings(Synchronous::Full),
            Role::Writer,
        )
        .unwrap();
        assert_eq!(pragma(&conn, "wal_autocheckpoint"), 1000);
        assert_eq!(pragma(&conn, "journal_size_limit"), -1);
        // 1 MiB of 4 KiB pages: 256 pages, a tenth is 25, raised to the minimum of 32.
        let limit = limit_size(&conn, 1024 * 1024).unwrap();
        assert_eq!(limit.page_size, 4096);
        assert_eq!(limit.wal_autocheckpoint, 32);
        assert_eq!(limit.journal_size_limit, 32 + 32 * (4096 + 24));
        assert_eq!(pragma(&conn, "wal_autocheckpoint"), 32);
        assert_eq!(pragma(&conn, "journal_size_limit"), 32 + 32 * (4096 + 24));
        // 20 MiB: 5,120 pages, a tenth is 512.
        let limit = limit_size(&conn, 20 * 1024 * 1024).unwrap();
        assert_eq!(limit.wal_autocheckpoint, 512);
        assert_eq!(limit.journal_size_limit, 32 + 512 * (4096 + 24));
        // 1 GiB: capped at SQLite's default of 1,000 pages.
        let limit = limit_size(&conn, 1024 * 1024 * 1024).unwrap();
        assert_eq!(limit.wal_autocheckpoint, 1000);
        assert_eq!(pragma(&conn, "wal_autocheckpoint"), 1000);
    }
}
