//! Where reads run: an r2d2 pool of `query_only` connections on `spawn_blocking` for a file,
//! or the writer's own connection for `:memory:` (a private in-memory database exists on one
//! connection only).

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
            Self::Pool(pool) => {
                let pool = pool.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = pool.get().map_err(|e| from_pool(operation, e))?;
                    read(&conn)
                })
                .await
                .map_err(|e| from_join(operation, &e))?
            }
            Self::Writer(writer) => writer.run(move |conn| read(conn)).await,
        }
    }
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
