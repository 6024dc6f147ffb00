//! Where reads run: an r2d2 pool of `query_only` connections for a file, or the writer's own
//! connection for `:memory:` (a private in-memory database exists on one connection only).
//!
//! A pooled read runs on `tokio::task::spawn_blocking`, never on an async worker, so a caller's
//! `select!` and `timeout` keep working while it runs (an inline `block_in_place` was measured
//! and rejected: it froze them; see docs/benchmarks.md, "Where the time goes").

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::config::Synchronous;

    /// A pooled reader of a new migrated database in `dir`.
    fn pooled_reader(dir: &Path) -> Reader {
        let settings = ConnectionSettings {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        };
        let path = dir.join("r.db");
        let mut conn = connection::open(&path, settings, Role::Writer).unwrap();
        crate::migrations::migrate(&mut conn).unwrap();
        Reader::Pool(build_pool(&path, settings, 2).unwrap())
    }

    /// Runs, inside a spawned task (so on a worker thread), a read that blocks until a task
    /// spawned just before it has run (at most 10 s): true when the executor kept running
    /// tasks while the read blocked.
    async fn executor_runs_during_a_blocking_read(reader: Reader) -> bool {
        tokio::spawn(async move {
            let ran = Arc::new(AtomicBool::new(false));
            let setter = {
                let ran = Arc::clone(&ran);
                tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
            };
            let seen = reader
                .read("test", move |conn| {
                    conn.query_row("SELECT count(*) FROM messages", [], |_| Ok(()))
                        .map_err(|e| from_sqlite("test", e))?;
                    let until = Instant::now() + Duration::from_secs(10);
                    while !ran.load(Ordering::SeqCst) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Ok(ran.load(Ordering::SeqCst))
                })
                .await
                .unwrap();
            setter.await.unwrap();
            seen
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_read_leaves_the_only_worker_free() {
        let dir = tempfile::tempdir().unwrap();
        let reader = pooled_reader(dir.path());
        assert!(executor_runs_during_a_blocking_read(reader).await);
    }

    #[tokio::test]
    async fn a_current_thread_runtime_reads_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let reader = pooled_reader(dir.path());
        assert!(executor_runs_during_a_blocking_read(reader).await);
    }

    /// A `timeout` around a read fires while the read still runs (the read is not on the
    /// worker that polls the timeout).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timeout_around_a_slow_read_fires() {
        let dir = tempfile::tempdir().unwrap();
        let reader = pooled_reader(dir.path());
        let started = Instant::now();
        let slow = reader.read("test", |_| {
            std::thread::sleep(Duration::from_millis(800));
            Ok(())
        });
        let outcome = tokio::time::timeout(Duration::from_millis(50), slow).await;
        assert!(outcome.is_err(), "the read finished before the timeout");
        assert!(
            started.elapsed() < Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn more_concurrent_readers_than_connections_all_get_their_answer() {
        let dir = tempfile::tempdir().unwrap();
        let reader = pooled_reader(dir.path());
        let tasks: Vec<_> = (0..16_i64)
            .map(|i| {
                let reader = reader.clone();
                tokio::spawn(async move {
                    reader
                        .read("test", move |conn| {
                            conn.query_row("SELECT ?1 * 2", [i], |r| r.get::<_, i64>(0))
                                .map_err(|e| from_sqlite("test", e))
                        })
                        .await
                })
            })
            .collect();
        for (i, task) in (0..16_i64).zip(tasks) {
            assert_eq!(task.await.unwrap().unwrap(), i * 2);
        }
    }
}
