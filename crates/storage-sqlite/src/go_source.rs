//! [`GoDatabase`]: the Go plugin's SQLite database (`~/.hotplex/chatapp_messages.db`), opened
//! read-only and read in rowid order, page by page, for
//! [`import_go_rows`](hotplex_storage_core::import_go_rows).
//!
//! The file is never modified: the connection is opened `SQLITE_OPEN_READONLY` with
//! `query_only`, and all reads happen in one read transaction, so the rows and the summary
//! are one consistent snapshot even while a Go process still writes (WAL mode). Memory stays
//! bounded: a page holds at most [`IMPORT_BATCH_SIZE`] rows and stops early past
//! [`IMPORT_BATCH_BYTES`], and a value over the limit (`with_max_value_bytes`) is not read at
//! all but handed over as [`GoValue::Oversize`].

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotplex_storage_core::{
    GoRow, GoRowSource, GoValue, IMPORT_BATCH_BYTES, IMPORT_BATCH_SIZE, Result, StorageError,
    ValidationLimits, is_sqlite_header,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};

use crate::error::from_sqlite;

/// What a Go database holds, read when it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoDatabaseSummary {
    /// Rows in `messages`.
    pub rows: u64,
    /// Rows of them with `deleted <> 0`.
    pub deleted_rows: u64,
    /// Rows in `session_metadata` (`None` when the table is absent).
    pub session_metas: Option<u64>,
    /// Session metas whose `message_count` differs from the number of the session's rows with
    /// `deleted = 0` (the Go plugin counted re-stores and never decremented). The import
    /// rebuilds every meta from the messages instead.
    pub session_metas_disagreeing: Option<u64>,
    /// Columns of `messages` that the Go plugin never had; their values are not imported.
    pub ignored_columns: Vec<String>,
}

/// The Go plugin's database, open read-only (see the module docs).
pub struct GoDatabase {
    conn: Connection,
    path: PathBuf,
    summary: GoDatabaseSummary,
    max_value_bytes: u64,
    /// The smallest rowid not handed out yet.
    from: i64,
    finished: bool,
}

impl std::fmt::Debug for GoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoDatabase")
            .field("path", &self.path)
            .field("summary", &self.summary)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

const OPEN: &str = "open Go plugin database";
const READ: &str = "read Go plugin database";

impl GoDatabase {
    /// Opens `path` read-only and checks that it is the Go plugin's database: a SQLite file
    /// whose `messages` table has every column of the Go schema.
    ///
    /// Fails with `Io` when the file cannot be read, `Data` when it is not a SQLite database,
    /// is a hotplex-storage database, or lacks the Go schema, and `Connection`/`Query` for
    /// SQLite errors (a hot journal that needs a writer to roll back, a corrupt file).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        let mut head = Vec::with_capacity(16);
        std::fs::File::open(&path)
            .and_then(|f| f.take(16).read_to_end(&mut head))
            .map_err(|e| StorageError::io(format!("{OPEN} {shown}"), e))?;
        if !is_sqlite_header(&head) {
            return Err(StorageError::data(
                OPEN,
                format!("{shown} is not a SQLite database"),
            ));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| from_sqlite(OPEN, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| from_sqlite(OPEN, e))?;
        // One read transaction for everything: a consistent snapshot.
        conn.execute_batch("PRAGMA query_only = ON; BEGIN DEFERRED;")
            .map_err(|e| from_sqlite(OPEN, e))?;
        let ignored_columns = check_schema(&conn, &shown)?;
        let summary = read_summary(&conn, ignored_columns)?;
        Ok(Self {
            conn,
            path,
            summary,
            max_value_bytes: ValidationLimits::DEFAULT_MAX_CONTENT_BYTES as u64,
            from: i64::MIN,
            finished: false,
        })
    }

    /// Values larger than `bytes` are not read ([`GoValue::Oversize`]). Default: the default
    /// content limit, 4 MiB.
    #[must_use]
    pub fn with_max_value_bytes(mut self, bytes: u64) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// The file this reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the database holds.
    pub fn summary(&self) -> &GoDatabaseSummary {
        &self.summary
    }
}

/// Checks the Go schema; returns the columns of `messages` beyond it.
fn check_schema(conn: &Connection, shown: &str) -> Result<Vec<String>> {
    let messages = columns(conn, "messages")?;
    if messages.is_empty() {
        return Err(StorageError::data(
            OPEN,
            format!("{shown} has no `messages` table: it is not a Go plugin database"),
        ));
    }
    if messages.contains("seq") && !columns(conn, "schema_migrations")?.is_empty() {
        return Err(StorageError::data(
            OPEN,
            format!(
                "{shown} is a hotplex-storage database, not the Go plugin's: copy it with \
                 `backup`, or `export` it and import the JSON Lines"
            ),
        ));
    }
    let missing: Vec<&str> = GoRow::COLUMNS
        .iter()
        .copied()
        .filter(|c| !messages.contains(*c))
        .collect();
    if !missing.is_empty() {
        return Err(StorageError::data(
            OPEN,
            format!(
                "{shown}: its `messages` table lacks the Go plugin's columns {}: it is not a \
                 Go plugin database",
                missing.join(", ")
            ),
        ));
    }
    Ok(messages
        .into_iter()
        .filter(|c| !GoRow::COLUMNS.contains(&c.as_str()))
        .collect())
}

/// The column names of `table` (empty when there is no such table).
fn columns(conn: &Connection, table: &str) -> Result<BTreeSet<String>> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(|e| from_sqlite(OPEN, e))?;
    let names = stmt
        .query_map([table], |row| row.get::<_, String>(0))
        .map_err(|e| from_sqlite(OPEN, e))?
        .collect::<rusqlite::Result<BTreeSet<String>>>()
        .map_err(|e| from_sqlite(OPEN, e))?;
    Ok(names)
}

fn read_summary(conn: &Connection, ignored_columns: Vec<String>) -> Result<GoDatabaseSummary> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let (rows, deleted_rows) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(deleted IS NOT 0), 0) FROM messages",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
        )
        .map_err(|e| from_sqlite(OPEN, e))?;
    let metas = columns(conn, "session_metadata")?;
    let (session_metas, session_metas_disagreeing) =
        if metas.contains("chat_session_id") && metas.contains("message_count") {
            let (all, disagreeing) = conn
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(s.message_count IS NOT (
                         SELECT COUNT(*) FROM messages m
                         WHERE m.chat_session_id = s.chat_session_id AND m.deleted = 0)), 0)
                     FROM session_metadata s",
                    [],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
                )
                .map_err(|e| from_sqlite(OPEN, e))?;
            (Some(count(all)), Some(count(disagreeing)))
        } else {
            (None, None)
        };
    Ok(GoDatabaseSummary {
        rows: count(rows),
        deleted_rows: count(deleted_rows),
        session_metas,
        session_metas_disagreeing,
        ignored_columns,
    })
}

/// The page query: per column its value when at most `?1` bytes (else NULL) and its size;
/// rows from rowid `?2` on, at most `?3`. Column names are the fixed Go schema's, never input.
fn page_sql() -> String {
    let mut sql = String::from("SELECT rowid");
    for column in GoRow::COLUMNS {
        let _ = write!(
            sql,
            ", CASE WHEN octet_length(\"{column}\") > ?1 THEN NULL ELSE \"{column}\" END, \
             octet_length(\"{column}\")"
        );
    }
    sql.push_str(" FROM messages WHERE rowid >= ?2 ORDER BY rowid LIMIT ?3");
    sql
}

/// A column value; `size` is its byte length as SQLite reports it.
fn value(raw: ValueRef<'_>, size: Option<i64>, limit: u64) -> GoValue {
    match raw {
        ValueRef::Null => match size.and_then(|s| u64::try_from(s).ok()) {
            Some(bytes) if bytes > limit => GoValue::Oversize { bytes, limit },
            _ => GoValue::Null,
        },
        ValueRef::Integer(i) => GoValue::Integer(i),
        ValueRef::Real(f) => GoValue::Real(f),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => GoValue::Text(text.to_owned()),
            Err(_) => GoValue::Bytes(bytes.to_vec()),
        },
        ValueRef::Blob(bytes) => GoValue::Bytes(bytes.to_vec()),
    }
}

impl GoRowSource for GoDatabase {
    /// Up to [`IMPORT_BATCH_SIZE`] rows after the last one returned, fewer once their values
    /// pass [`IMPORT_BATCH_BYTES`].
    fn next_rows(&mut self) -> Result<Vec<GoRow>> {
        if self.finished {
            return Ok(Vec::new());
        }
        let limit = self.max_value_bytes;
        let mut stmt = self
            .conn
            .prepare_cached(&page_sql())
            .map_err(|e| from_sqlite(READ, e))?;
        let page_rows = i64::try_from(IMPORT_BATCH_SIZE).unwrap_or(i64::MAX);
        let bound = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query(params![bound, self.from, page_rows])
            .map_err(|e| from_sqlite(READ, e))?;
        let mut page = Vec::new();
        let mut bytes: u64 = 0;
        let mut complete = true;
        while let Some(row) = rows.next().map_err(|e| from_sqlite(READ, e))? {
            let rowid: i64 = row.get(0).map_err(|e| from_sqlite(READ, e))?;
            let mut values: [GoValue; 21] = std::array::from_fn(|_| GoValue::Null);
            for (i, slot) in values.iter_mut().enumerate() {
                let raw = row.get_ref(1 + 2 * i).map_err(|e| from_sqlite(READ, e))?;
                let size: Option<i64> = row.get(2 + 2 * i).map_err(|e| from_sqlite(READ, e))?;
                if matches!(raw, ValueRef::Text(_) | ValueRef::Blob(_)) {
                    bytes =
                        bytes.saturating_add(size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0));
                }
                *slot = value(raw, size, limit);
            }
            page.push(GoRow::new(rowid, values));
            let Some(next) = rowid.checked_add(1) else {
                // The largest rowid there is: nothing can follow it.
                self.finished = true;
                break;
            };
            self.from = next;
            if bytes >= IMPORT_BATCH_BYTES {
                complete = false;
                break;
            }
        }
        if complete && page.len() < IMPORT_BATCH_SIZE {
            self.finished = true;
        }
        Ok(page)
    }
}
