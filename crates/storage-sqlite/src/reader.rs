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
    async fn an_inline_read_hands_the_only_worker_s_tasks_to_another_thread() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            on_multi_thread_runtime(),
            "reads run in block_in_place here"
        );
        let reader = pooled_reader(dir.path());
        assert!(executor_runs_during_a_blocking_read(reader).await);
    }

    #[tokio::test]
    async fn a_current_thread_runtime_reads_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            !on_multi_thread_runtime(),
            "block_in_place would panic here"
        );
        let reader = pooled_reader(dir.path());
        assert!(executor_runs_during_a_blocking_read(reader).await);
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
