//! The writer thread: one connection, every write, group commit.
//!
//! Callers queue requests on a bounded channel (awaiting a free slot, never blocking the
//! executor). The thread takes everything queued (up to [`MAX_GROUP`] requests), runs the
//! writes in one `BEGIN IMMEDIATE` transaction with a savepoint per request — so a request
//! that fails rolls back alone — writes the search index of the whole group last (one FTS5
//! segment per commit, see [`ops::index_queued`]), commits once, and only then acknowledges
//! each caller. While
//! it commits, new requests queue up and form the next group: throughput grows with
//! concurrency instead of being capped by the fsync rate.
//!
//! A request that panics fails alone, like one that returns an error: its savepoint is rolled
//! back and the group goes on (a request alone rolls back its transaction).
//!
//! If SQLite rolls back the whole transaction on an error (it may, for `SQLITE_FULL` or an
//! I/O error), the failed request keeps its error and the group's other requests are run
//! again in a fresh transaction, so no caller is acknowledged for a write that was undone.
//!
//! The queue is bounded twice: in requests ([`QUEUE_CAPACITY`]) and in bytes
//! ([`QUEUE_BYTES`], the requests' [`WriteOp::approx_bytes`]): a caller waits for room before
//! its request is queued, and the room is given back when the writer drops the request. Without
//! the byte bound 4,096 requests of 4 MiB each could hold 16 GiB.
//!
//! The same thread also runs connection jobs ([`WriterHandle::run`]): reads of an in-memory
//! database (one connection only), its backups, and health pings. Jobs and write groups run in
//! queue order.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use hotplex_storage_core::{Result, StorageError};
use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::connection::PageBudget;
use crate::error::from_sqlite;
use crate::ops::{self, WriteOp, WriteOutput};

/// Most requests committed in one transaction.
pub(crate) const MAX_GROUP: usize = 1024;
/// Requests that may wait in the queue before callers wait for a slot.
const QUEUE_CAPACITY: usize = 4096;
/// Bytes of requests that may wait in the queue (and be in the group being written) before
/// callers wait for room: 64 MiB. A request larger than this waits for an empty queue.
pub(crate) const QUEUE_BYTES: u32 = 64 * 1024 * 1024;
/// Brackets each request of a group of several.
const SAVEPOINT: &str = "SAVEPOINT hotplex_write";
const RELEASE: &str = "RELEASE hotplex_write";
const ROLLBACK_TO: &str = "ROLLBACK TO hotplex_write; RELEASE hotplex_write";

type ConnJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// What the writer thread receives.
enum Job {
    /// A write, acknowledged after its group commits.
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<WriteOutput>>,
        /// The request's share of [`QUEUE_BYTES`], given back when the job is dropped.
        room: OwnedSemaphorePermit,
    },
    /// A job on the connection, run between write groups (it sends its own reply).
    Run(ConnJob),
    /// Finish everything queued, close the connection, then acknowledge.
    Shutdown(oneshot::Sender<()>),
}

/// Counters of the writer thread, reported in `metrics().extra`.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    commits: AtomicU64,
    write_requests: AtomicU64,
    failed_write_requests: AtomicU64,
    largest_group: AtomicU64,
    group_restarts: AtomicU64,
}

impl WriterStats {
    /// The counters by name: `commits`, `write_requests`, `failed_write_requests`,
    /// `largest_group`, `group_restarts`.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        [
            ("commits", &self.commits),
            ("write_requests", &self.write_requests),
            ("failed_write_requests", &self.failed_write_requests),
            ("largest_group", &self.largest_group),
            ("group_restarts", &self.group_restarts),
        ]
        .into_iter()
        .map(|(name, counter)| (name.to_owned(), counter.load(Ordering::Relaxed)))
        .collect()
    }
}

/// A cheap, cloneable way to send work to the writer thread.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Job>,
    /// Permits are bytes of queued requests; [`QUEUE_BYTES`] of them, or fewer in tests.
    room: Arc<Semaphore>,
    /// The permits `room` started with.
    queue_bytes: u32,
}

impl std::fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("closed", &self.tx.is_closed())
            .field("room_bytes", &self.room.available_permits())
            .field("queue_bytes", &self.queue_bytes)
            .finish()
    }
}

fn writer_stopped() -> StorageError {
    StorageError::query("write", "the writer thread stopped before answering")
}

impl WriterHandle {
    /// Queues `op` and waits until its group committed (or it failed).
    pub(crate) async fn write(&self, op: WriteOp) -> Result<WriteOutput> {
        let answer = self.submit(op).await?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// Queues `op` and returns where its acknowledgement will arrive; the job is in the queue
    /// when this returns.
    async fn submit(&self, op: WriteOp) -> Result<oneshot::Receiver<Result<WriteOutput>>> {
        let (reply, answer) = oneshot::channel();
        let wanted = u32::try_from(op.approx_bytes())
            .unwrap_or(u32::MAX)
            .clamp(1, self.queue_bytes);
        let room = Arc::clone(&self.room)
            .acquire_many_owned(wanted)
            .await
            .map_err(|_| StorageError::Closed)?;
        self.tx
            .send(Job::Write { op, reply, room })
            .await
            .map_err(|_| StorageError::Closed)?;
        Ok(answer)
    }

    /// Runs `job` on the writer's connection between write groups and returns its result.
    pub(crate) async fn run<R, F>(&self, job: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ConnJob = Box::new(move |conn| {
            // The caller may have given up waiting; then nobody needs the answer.
            let _ = reply.send(job(conn));
        });
        self.tx
            .send(Job::Run(job))
            .await
            .map_err(|_| StorageError::Closed)?;
        answer.await.map_err(|_| writer_stopped())?
    }

    /// True once the thread stopped accepting work.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The writer thread and a handle to it.
#[derive(Debug)]
pub(crate) struct Writer {
    handle: WriterHandle,
    thread: JoinHandle<()>,
}

impl Writer {
    /// Starts the thread that owns `conn` from now on; `budget` is the size limit in force on
    /// `conn`, if any.
    pub(crate) fn spawn(
        conn: Connection,
        stats: Arc<WriterStats>,
        budget: Option<PageBudget>,
    ) -> Result<Self> {
        Self::spawn_with_queue_bytes(conn, stats, budget, QUEUE_BYTES)
    }

    /// [`spawn`](Self::spawn) with another byte bound on the queue (tests).
    fn spawn_with_queue_bytes(
        conn: Connection,
        stats: Arc<WriterStats>,
        budget: Option<PageBudget>,
        queue_bytes: u32,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("hotplex-sqlite-writer".into())
            .spawn(move || {
                Thread {
                    conn,
                    stats: &stats,
                    budget,
                }
                .run(rx);
            })
            .map_err(|e| StorageError::io("spawn the sqlite writer thread", e))?;
        Ok(Self {
            handle: WriterHandle {
                tx,
                room: Arc::new(Semaphore::new(queue_bytes as usize)),
                queue_bytes,
            },
            thread,
        })
    }

    /// A handle for queueing work.
    pub(crate) fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Stops accepting work, lets the thread finish everything already queued, close its
    /// connection, and joins it.
    pub(crate) async fn shutdown(self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        if self.handle.tx.send(Job::Shutdown(ack)).await.is_ok() {
            // An error here means the thread is gone already; joining tells how.
            let _ = done.await;
        }
        drop(self.handle);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| crate::error::from_join("close", &e))?
            .map_err(|_| StorageError::query("close", "the sqlite writer thread panicked"))
    }
}

/// What the writer thread owns: its connection, its counters and the size limit in force.
struct Thread<'s> {
    conn: Connection,
    stats: &'s WriterStats,
    budget: Option<PageBudget>,
}

impl Thread<'_> {
    /// The thread's loop: take what is queued, run it in order, repeat until shut down.
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut acks = Vec::new();
        let mut jobs = Vec::with_capacity(MAX_GROUP);
        while rx.blocking_recv_many(&mut jobs, MAX_GROUP) > 0 {
            let mut group = Vec::new();
            for job in jobs.drain(..) {
                match job {
                    Job::Write { op, reply, room } => group.push((op, reply, room)),
                    Job::Run(job) => {
                        self.commit_group(&mut group);
                        guarded(&mut self.conn, job);
                    }
                    Job::Shutdown(ack) => {
                        self.commit_group(&mut group);
                        // No new work; what is already queued is still received and run.
                        rx.close();
                        acks.push(ack);
                    }
                }
            }
            self.commit_group(&mut group);
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA optimize") {
            tracing::debug!(error = %e, "PRAGMA optimize failed on close");
        }
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!(error = %e, "closing the sqlite writer connection failed");
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }

    /// Commits `group` (emptying it) and acknowledges every request in it.
    fn commit_group(&mut self, group: &mut Vec<Pending>) {
        if group.is_empty() {
            return;
        }
        let pending = std::mem::take(group);
        let mut results = Vec::new();
        let stats = self.stats;
        let budget = &mut self.budget;
        guarded(&mut self.conn, |conn| {
            let ops: Vec<&WriteOp> = pending.iter().map(|(op, _, _)| op).collect();
            results = execute_group(conn, &ops, stats, budget);
        });
        let size = u64::try_from(pending.len()).unwrap_or(u64::MAX);
        stats.write_requests.fetch_add(size, Ordering::Relaxed);
        stats.largest_group.fetch_max(size, Ordering::Relaxed);
        let failed = results.iter().filter(|r| r.is_err()).count();
        stats
            .failed_write_requests
            .fetch_add(u64::try_from(failed).unwrap_or(u64::MAX), Ordering::Relaxed);
        // After a panic `results` is empty and the replies are dropped: callers see an error.
        for ((_, reply, _room), result) in pending.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Runs `work` so that a panic cannot kill the thread or leave a transaction open.
fn guarded(conn: &mut Connection, work: impl FnOnce(&mut Connection)) {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut *conn)));
    if outcome.is_err() {
        tracing::error!(
            "a job on the sqlite writer thread panicked; its transaction is rolled back"
        );
        rollback(conn);
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "sqlite ROLLBACK failed");
    }
}

type Pending = (
    WriteOp,
    oneshot::Sender<Result<WriteOutput>>,
    OwnedSemaphorePermit,
);

/// Runs `ops` in one transaction, a savepoint each, the search index written last; returns
/// one result per op, in order. If SQLite undoes the transaction, the other requests run again
/// together; if the group's index cannot be written (`StorageFull`), they run again one
/// transaction each, so only a request whose own index does not fit fails.
fn execute_group(
    conn: &mut Connection,
    ops: &[&WriteOp],
    stats: &WriterStats,
    budget: &mut Option<PageBudget>,
) -> Vec<Result<WriteOutput>> {
    let mut results: Vec<Option<Result<WriteOutput>>> =
        std::iter::repeat_with(|| None).take(ops.len()).collect();
    let mut one_at_a_time = false;
    loop {
        let mut pending: Vec<usize> = (0..ops.len()).filter(|&i| results[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        if one_at_a_time {
            pending.truncate(1);
        }
        rollback(conn);
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
            for &i in &pending {
                results[i] = Some(Err(replicate(ops[i].name(), &e)));
            }
            break;
        }
        let mut applied = Vec::with_capacity(pending.len());
        let mut transaction_lost = false;
        // A request alone needs no savepoint: on failure its whole transaction rolls back.
        let alone = pending.len() == 1;
        for &i in &pending {
            let result = if let Err(e) = admit(conn, budget, ops[i]) {
                Err(e)
            } else if alone {
                apply_caught(conn, ops[i])
            } else {
                apply_in_savepoint(conn, ops[i])
            };
            match result {
                Ok(output) => applied.push((i, output)),
                Err(e) => {
                    results[i] = Some(Err(e));
                    if alone {
                        rollback(conn);
                        break;
                    }
                    if conn.is_autocommit() {
                        transaction_lost = true;
                        break;
                    }
                }
            }
        }
        if transaction_lost {
            // SQLite undid the whole transaction: run the others again.
            stats.group_restarts.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if applied.is_empty() {
            rollback(conn);
            continue;
        }
        // The index of stored messages counts against the stores' share of the pages; a
        // group that queued nothing (deletes, purges) keeps the room it ran with.
        let indexed = ops::has_queued(conn).and_then(|queued| {
            if !queued {
                return Ok(());
            }
            if let Some(budget) = budget.as_mut() {
                budget.admit(conn, false)?;
            }
            ops::index_queued(conn)
        });
        if let Err(e) = indexed {
            rollback(conn);
            if let [(i, _)] = applied[..] {
                results[i] = Some(Err(from_sqlite(ops[i].name(), e)));
            } else {
                // The group's index does not fit: find the request that does not, alone.
                stats.group_restarts.fetch_add(1, Ordering::Relaxed);
                one_at_a_time = true;
            }
            continue;
        }
        match exec(conn, "COMMIT") {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                for (i, output) in applied {
                    results[i] = Some(Ok(output));
                }
            }
            Err(e) => {
                rollback(conn);
                for (i, _) in applied {
                    results[i] = Some(Err(replicate(ops[i].name(), &e)));
                }
            }
        }
    }
    finish(results)
}

fn finish(results: Vec<Option<Result<WriteOutput>>>) -> Vec<Result<WriteOutput>> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(writer_stopped())))
        .collect()
}

/// Sets the size limit for `op`: stores get the store share, writes that free space all of it.
fn admit(conn: &Connection, budget: &mut Option<PageBudget>, op: &WriteOp) -> Result<()> {
    match budget {
        Some(budget) => budget
            .admit(conn, op.frees_space())
            .map_err(|e| from_sqlite(op.name(), e)),
        None => Ok(()),
    }
}

/// Runs a statement without parameters through the connection's statement cache.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs one request inside `SAVEPOINT`; on failure only its own changes are undone.
fn apply_in_savepoint(conn: &Connection, op: &WriteOp) -> Result<WriteOutput> {
    let name = op.name();
    exec(conn, SAVEPOINT).map_err(|e| from_sqlite(name, e))?;
    let result = apply_caught(conn, op).and_then(|output| {
        exec(conn, RELEASE)
            .map(|()| output)
            .map_err(|e| from_sqlite(name, e))
    });
    if result.is_err()
        && !conn.is_autocommit()
        && let Err(e) = conn.execute_batch(ROLLBACK_TO)
    {
        // The request's changes could not be undone alone: undo the whole transaction,
        // which makes the group run again without this request.
        tracing::warn!(error = %e, "sqlite ROLLBACK TO savepoint failed; rolling back the group");
        rollback(conn);
    }
    result
}

/// [`ops::apply`], with a panic turned into this request's own (permanent) error, so one bad
/// request cannot fail the valid requests grouped with it. The caller rolls its changes back.
fn apply_caught(conn: &Connection, op: &WriteOp) -> Result<WriteOutput> {
    std::panic::catch_unwind(AssertUnwindSafe(|| ops::apply(conn, op))).unwrap_or_else(|_| {
        tracing::error!(
            operation = op.name(),
            "a write panicked on the sqlite writer thread; it alone fails and is rolled back"
        );
        Err(StorageError::query(
            op.name(),
            "the write panicked on the sqlite writer thread; nothing of it was kept",
        ))
    })
}

/// The same SQLite failure, mapped once per affected request.
fn replicate(operation: &str, error: &rusqlite::Error) -> StorageError {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => from_sqlite(
            operation,
            rusqlite::Error::SqliteFailure(*code, message.clone()),
        ),
        other => StorageError::query(operation, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use chrono::Utc;
    use hotplex_storage_core::{ChatAppMessage, StoreOutcome, ValidationLimits, prepare_message};

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn).unwrap();
        conn
    }

    fn row(session: &str, content: &str) -> ChatAppMessage {
        prepare_message(
            &ChatAppMessage::user(session, content),
            &ValidationLimits::default(),
            Utc::now(),
        )
        .unwrap()
    }

    fn queued(handle: &WriterHandle) -> usize {
        handle.tx.max_capacity() - handle.tx.capacity()
    }

    /// Holds the writer thread in a job until the returned sender fires.
    async fn block_writer(handle: &WriterHandle) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, is_started) = oneshot::channel();
        let blocker = handle.clone();
        tokio::spawn(async move {
            blocker
                .run(move |_| {
                    let _ = started.send(());
                    let _ = wait.recv();
                    Ok(())
                })
                .await
        });
        is_started.await.unwrap();
        release
    }

    /// Rows in `messages` and the `message_count` of session `s`.
    async fn rows_and_meta_count(handle: &WriterHandle) -> (i64, i64) {
        handle
            .run(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT (SELECT count(*) FROM messages), \
                         (SELECT message_count FROM session_meta WHERE chat_session_id = 's')",
                        [],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .unwrap())
            })
            .await
            .unwrap()
    }

    async fn wait_until_queued(handle: &WriterHandle, n: usize) {
        while queued(handle) < n {
            tokio::task::yield_now().await;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_commit_together_and_each_is_acknowledged() {
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(migrated(), Arc::clone(&stats), None).unwrap();
        let handle = writer.handle();
        let ops = (0..16)
            .map(|i| WriteOp::Store(vec![row(&format!("s{i}"), "hi")]))
            .collect();
        for out in run_queued(&handle, ops).await {
            assert!(
                matches!(out, Ok(WriteOutput::Receipts(r)) if r[0].outcome == StoreOutcome::Stored)
            );
        }
        let snapshot = stats.snapshot();
        assert_eq!(snapshot["write_requests"], 16);
        assert_eq!(snapshot["commits"], 1);
        assert_eq!(snapshot["largest_group"], 16);
        writer.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_request_rolls_back_alone() {
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(migrated(), Arc::clone(&stats), None).unwrap();
        let handle = writer.handle();
        // Violates CHECK (deleted = 1 OR deleted_at IS NULL): only validation bypassed here.
        let mut bad = row("s", "bad");
        bad.deleted_at = Some(Utc::now());
        let good_before = row("s", "before");
        let good_after = row("s", "after");
        let results = run_queued(
            &handle,
            vec![
                WriteOp::Store(vec![good_before.clone()]),
                WriteOp::Store(vec![row("s", "in the failing batch"), bad]),
                WriteOp::Store(vec![good_after.clone()]),
            ],
        )
        .await;
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
        assert!(results[2].is_ok());
        assert_eq!(stats.snapshot()["commits"], 1);
        assert_eq!(rows_and_meta_count(&handle).await, (2, 2));
        writer.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_database_fails_only_the_request_that_does_not_fit() {
        let conn = migrated();
        let limit = crate::connection::limit_size(&conn, 256 * 1024).unwrap();
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(conn, Arc::clone(&stats), Some(limit.budget())).unwrap();
        let handle = writer.handle();
        let results = run_queued(
            &handle,
            vec![
                WriteOp::Store(vec![row("s", "small one")]),
                WriteOp::Store(vec![row("s", &"x".repeat(512 * 1024))]),
                WriteOp::Store(vec![row("s", "small two")]),
            ],
        )
        .await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(
            matches!(results[1], Err(StorageError::StorageFull { .. })),
            "{:?}",
            results[1]
        );
        assert!(results[2].is_ok(), "{:?}", results[2]);
        assert_eq!(rows_and_meta_count(&handle).await, (2, 2));
        let integrity: String = handle
            .run(|conn| {
                Ok(conn
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap())
            })
            .await
            .unwrap();
        assert_eq!(integrity, "ok");
        assert_eq!(stats.snapshot()["commits"], 1);
        writer.shutdown().await.unwrap();
    }

    /// When the index of a group cannot be written (here a temporary trigger refuses to empty a
    /// queue holding a "too big" message; in production `StorageFull`), the group runs again
    /// one request per transaction and only the request whose index fails is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_whose_index_fails_runs_again_one_request_at_a_time() {
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(migrated(), Arc::clone(&stats), None).unwrap();
        let handle = writer.handle();
        handle
            .run(|conn| {
                conn.execute_batch(
                    "CREATE TEMP TRIGGER refuse BEFORE DELETE ON main.message_search_queue \
                     WHEN EXISTS (SELECT 1 FROM message_search_queue WHERE body LIKE '%too big%') \
                     BEGIN SELECT RAISE(ABORT, 'the index does not fit'); END;",
                )
                .map_err(|e| from_sqlite("test", e))
            })
            .await
            .unwrap();
        let ops = ["first", "too big", "third"]
            .iter()
            .map(|text| WriteOp::Store(vec![row("s", text)]))
            .collect();
        let results = run_queued(&handle, ops).await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(results[1].is_err(), "{:?}", results[1]);
        assert!(results[2].is_ok(), "{:?}", results[2]);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot["group_restarts"], 1);
        assert_eq!(snapshot["commits"], 2);
        let (rows, indexed, queued): (i64, i64, i64) = handle
            .run(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT (SELECT count(*) FROM messages), \
                         (SELECT count(*) FROM message_search), \
                         (SELECT count(*) FROM message_search_queue)",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .unwrap())
            })
            .await
            .unwrap();
        assert_eq!((rows, indexed, queued), (2, 2, 0));
        writer.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_undone_by_sqlite_runs_again_without_the_failed_request() {
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(migrated(), Arc::clone(&stats), None).unwrap();
        let handle = writer.handle();
        // What SQLite may do on SQLITE_FULL or an I/O error: roll the transaction back.
        let results = run_queued(
            &handle,
            vec![
                WriteOp::Store(vec![row("s", "one")]),
                WriteOp::Sql("ROLLBACK; SELECT * FROM no_such_table"),
                WriteOp::Store(vec![row("s", "two")]),
            ],
        )
        .await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(results[1].is_err());
        assert!(results[2].is_ok(), "{:?}", results[2]);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot["group_restarts"], 1);
        assert_eq!(snapshot["commits"], 1);
        let count: i64 = handle
            .run(|conn| {
                Ok(conn
                    .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
                    .unwrap())
            })
            .await
            .unwrap();
        assert_eq!(count, 2);
        writer.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_panics_fails_alone_and_its_group_commits() {
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(migrated(), Arc::clone(&stats), None).unwrap();
        let handle = writer.handle();
        let results = run_queued(
            &handle,
            vec![
                WriteOp::Store(vec![row("s", "one")]),
                WriteOp::PanicAfter("DELETE FROM messages"),
                WriteOp::Store(vec![row("s", "two")]),
            ],
        )
        .await;
        assert!(results[0].is_ok(), "{:?}", results[0]);
        let err = results[1].as_ref().unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert!(!err.is_transient() && !err.may_have_landed());
        assert!(results[2].is_ok(), "{:?}", results[2]);
        // The panicking request's DELETE was rolled back; both others are stored, in one commit.
        assert_eq!(rows_and_meta_count(&handle).await, (2, 2));
        assert_eq!(stats.snapshot()["commits"], 1);
        // Alone, it rolls back its transaction and the writer keeps working.
        let alone = handle
            .write(WriteOp::PanicAfter("DELETE FROM messages"))
            .await;
        assert!(alone.is_err());
        assert_eq!(rows_and_meta_count(&handle).await, (2, 2));
        handle
            .write(WriteOp::Store(vec![row("s", "three")]))
            .await
            .unwrap();
        assert_eq!(rows_and_meta_count(&handle).await, (3, 3));
        writer.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_queue_is_bounded_in_bytes() {
        let stats = Arc::new(WriterStats::default());
        let one = WriteOp::Store(vec![row("s", &"x".repeat(300))]);
        let weight = u32::try_from(one.approx_bytes()).unwrap();
        // Room for exactly two such requests.
        let writer =
            Writer::spawn_with_queue_bytes(migrated(), Arc::clone(&stats), None, 2 * weight)
                .unwrap();
        let handle = writer.handle();
        let release = block_writer(&handle).await;
        let first = handle.submit(one).await.unwrap();
        let second = handle
            .submit(WriteOp::Store(vec![row("s", &"y".repeat(300))]))
            .await
            .unwrap();
        assert_eq!(handle.room.available_permits(), 0);
        // A third waits for room instead of being queued, as does a request larger than the
        // whole bound (it needs the queue empty).
        let third = WriteOp::Store(vec![row("s", &"z".repeat(300))]);
        let waited = tokio::time::timeout(Duration::from_millis(100), handle.submit(third)).await;
        assert!(waited.is_err(), "queued past the byte bound");
        let huge = WriteOp::Store(vec![row("s", &"h".repeat(10_000))]);
        let h = handle.clone();
        let huge = tokio::spawn(async move { h.write(huge).await });
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        // Room comes back when the writer is done with a request: the huge one gets through.
        huge.await.unwrap().unwrap();
        assert_eq!(rows_and_meta_count(&handle).await, (3, 3));
        assert_eq!(handle.room.available_permits(), 2 * weight as usize);
        writer.shutdown().await.unwrap();
    }

    /// Queues `ops` in order behind a blocked writer, so they form one group, then releases
    /// it and returns each result in order. Each job is in the queue before the next is sent
    /// and before the release (counting reserved channel slots instead would race: a slot is
    /// reserved a moment before its job is pushed).
    async fn run_queued(handle: &WriterHandle, ops: Vec<WriteOp>) -> Vec<Result<WriteOutput>> {
        let release = block_writer(handle).await;
        let mut answers = Vec::new();
        for op in ops {
            answers.push(handle.submit(op).await.unwrap());
        }
        release.send(()).unwrap();
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        results
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_finishes_queued_work_then_refuses() {
        let stats = Arc::new(WriterStats::default());
        let writer = Writer::spawn(migrated(), Arc::clone(&stats), None).unwrap();
        let handle = writer.handle();
        let release = block_writer(&handle).await;
        let h = handle.clone();
        let queued_write =
            tokio::spawn(async move { h.write(WriteOp::Store(vec![row("s", "late")])).await });
        wait_until_queued(&handle, 1).await;
        let shutdown = tokio::spawn(writer.shutdown());
        wait_until_queued(&handle, 2).await;
        release.send(()).unwrap();
        shutdown.await.unwrap().unwrap();
        assert!(queued_write.await.unwrap().is_ok());
        let err = handle
            .write(WriteOp::PurgeSession("s".into()))
            .await
            .unwrap_err();
        assert!(err.is_closed());
        assert!(handle.is_closed());
    }
}
