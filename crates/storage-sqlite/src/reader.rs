//! Where reads run: an r2d2 pool of `query_only` connections for a file, or the writer's own
//! connection for `:memory:` (a private in-memory database exists on one connection only).
//!
//! A pooled read runs on the calling thread inside `tokio::task::block_in_place` when the
//! caller is on a multi-thread runtime (the worker hands its other tasks to another thread
//! first, so the executor never waits on SQLite), and on `spawn_blocking` otherwise (a
//! current-thread runtime cannot give its only worker away). Reads take a few to a few hundred
//! microseconds; sending each one to the blocking pool and waking the task again cost as much
//! as the read itself (see docs/benchmarks.md, "Where the time goes").

use std::path::Path;
use std::time::Duration;

use hotplex_storage_core::Result;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::connection::{self, ConnectionSettings, Role};
use crate::error::{from_join, from_pool, from_sqlite};
use crate::writer::WriterHandle;

/// The shortest time a read waits for a pooled connection (r2d2 rejects zero). Generous: the
/// first checkout, in `initialize`, waits for r2d2's background thread to open a connection,
/// which a loaded machine may not schedule at once.
const MIN_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of reader connections.
pub(crate) type ReadPool = r2d2::Pool<SqliteConnectionManager>;

/// Runs reads off the async executor.
#[derive(Debug, Clone)]
pub(crate) enum Reader {
    /// Pooled connections to a database file, used on the blocking thread pool.
    Pool(ReadPool),
    /// The writer thread's connection (`:memory:`).
    Writer(WriterHandle),
}

impl Reader {
    /// Runs `read` on a reader connection; `operation` names it in errors.
    pub(crate) async fn read<R, F>(&self, operation: &'static str, read: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        match self {
            Self::Pool(pool) if on_multi_thread_runtime() => {
                tokio::task::block_in_place(|| pooled(pool, operation, read))
            }
            Self::Pool(pool) => {
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || pooled(&pool, operation, read))
                    .await
                    .map_err(|e| from_join(operation, &e))?
            }
            Self::Writer(writer) => writer.run(move |conn| read(conn)).await,
        }
    }
}

/// Runs `read` on a connection checked out of `pool` (blocking).
fn pooled<R>(
    pool: &ReadPool,
    operation: &'static str,
    read: impl FnOnce(&Connection) -> Result<R>,
) -> Result<R> {
    let conn = pool.get().map_err(|e| from_pool(operation, e))?;
    read(&conn)
}

/// Whether the caller runs on a multi-thread Tokio runtime, where `block_in_place` may block.
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Builds the reader pool for the database file at `path` and opens its first connection,
/// so that a reader that cannot open fails `initialize` rather than the first read.
pub(crate) fn build_pool(path: &Path, settings: ConnectionSettings, size: u32) -> Result<ReadPool> {
    let manager = SqliteConnectionManager::file(path)
        .with_flags(connection::open_flags())
        .with_init(move |conn| connection::configure(conn, settings, Role::Reader));
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .test_on_check_out(false)
        .connection_timeout(settings.busy_timeout.max(MIN_CHECKOUT_TIMEOUT))
        .build_unchecked(manager);
    let conn = pool.get().map_err(|e| from_pool("open reader", e))?;
    conn.query_row("SELECT count(*) FROM schema_migrations", [], |_| Ok(()))
        .map_err(|e| from_sqlite("open reader", e))?;
    Ok(pool)
}
