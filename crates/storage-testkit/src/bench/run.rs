//! Generic workload runners over `Arc<dyn ChatAppMessageStore>`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, MessageType, Result, StorageError,
    StoreOutcome, StoreReceipt,
};

use super::{BenchResult, PLATFORM, SplitMix64, Workload};

/// The seed W3 and W4 draw sessions with, so that every backend reads the same sessions.
pub const DEFAULT_SEED: u64 = 0x00C0_FFEE;

/// How W1 calls the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// One caller, sessions in order (`seq`).
    Seq,
    /// `n` concurrent tasks, task `k` owning sessions `s` with `s % n == k`, each storing its
    /// sessions in order and the turns of a session in order (`c16` for 16).
    Concurrent(usize),
}

impl Mode {
    /// The mode's label in results: `seq` or `c{n}`.
    pub fn label(&self) -> String {
        match self {
            Self::Seq => "seq".to_owned(),
            Self::Concurrent(n) => format!("c{n}"),
        }
    }
}

/// One read operation of W3/W4, each on a session drawn with the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadOp {
    /// `list` of the session's newest 50 messages (descending, limit 50).
    List50,
    /// `count` of the session's messages.
    Count,
    /// `get_session_meta`.
    SessionMeta,
    /// `list_user_sessions` of the session's platform and user.
    UserSessions,
    /// `get` of one of the session's messages (ids obtained with an untimed `list`).
    Get,
}

impl ReadOp {
    /// Every read of W3, in reporting order.
    pub const ALL: [ReadOp; 5] = [
        Self::List50,
        Self::Count,
        Self::SessionMeta,
        Self::UserSessions,
        Self::Get,
    ];

    /// The label in results: `list50`, `count`, `session_meta`, `user_sessions`, `get`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::List50 => "list50",
            Self::Count => "count",
            Self::SessionMeta => "session_meta",
            Self::UserSessions => "user_sessions",
            Self::Get => "get",
        }
    }

    /// The generator that draws this operation's sessions (and `get`'s message) from `seed`:
    /// one stream per operation, whatever other operations a run includes, so that a floor
    /// written outside the runner reads exactly what the store read.
    pub fn rng(self, seed: u64) -> SplitMix64 {
        let position = Self::ALL.iter().position(|op| *op == self).unwrap_or(0);
        SplitMix64::new(seed ^ ((position as u64 + 1) << 56))
    }
}

/// Fails unless every receipt reports a fresh write: chat-bench needs an empty store.
pub(super) fn expect_stored(receipt: &StoreReceipt) -> Result<()> {
    if receipt.outcome == StoreOutcome::Stored {
        Ok(())
    } else {
        Err(StorageError::data(
            "chat-bench",
            format!(
                "message {} was {:?}, not Stored: run the write workloads on an empty store",
                receipt.id, receipt.outcome
            ),
        ))
    }
}

/// Stores `msgs` one call each, the method chosen by message type, failing unless each is
/// a fresh write: W1's unit of work (public so that a bench can alternate a store's W1 with a
/// floor's, slice by slice).
pub async fn store_each(store: &dyn ChatAppMessageStore, msgs: &[ChatAppMessage]) -> Result<()> {
    for msg in msgs {
        let receipt = if msg.message_type == MessageType::USER_INPUT {
            store.store_user_message(msg).await?
        } else {
            store.store_bot_response(msg).await?
        };
        expect_stored(&receipt)?;
    }
    Ok(())
}

fn ops_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// W1 ingest: every message of `workload` with one `store_user_message` /
/// `store_bot_response` call, in `mode`. Messages are generated before the clock starts.
/// Needs an empty store.
pub async fn run_w1(
    store: Arc<dyn ChatAppMessageStore>,
    workload: &Workload,
    mode: Mode,
) -> Result<BenchResult> {
    let sessions: Vec<Vec<ChatAppMessage>> = (0..workload.sessions)
        .map(|s| workload.session_messages(s))
        .collect();
    let started = Instant::now();
    match mode {
        Mode::Seq => {
            for msgs in &sessions {
                store_each(store.as_ref(), msgs).await?;
            }
        }
        Mode::Concurrent(tasks) => {
            let tasks = tasks.max(1);
            let mut owned: Vec<Vec<Vec<ChatAppMessage>>> = vec![Vec::new(); tasks];
            for (s, msgs) in sessions.into_iter().enumerate() {
                owned[s % tasks].push(msgs);
            }
            let handles: Vec<_> = owned
                .into_iter()
                .map(|mine| {
                    let store = Arc::clone(&store);
                    tokio::spawn(async move {
                        for msgs in &mine {
                            store_each(store.as_ref(), msgs).await?;
                        }
                        Ok::<(), StorageError>(())
                    })
                })
                .collect();
            for handle in handles {
                match handle.await {
                    Ok(result) => result?,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => return Err(StorageError::data("chat-bench W1", e.to_string())),
                }
            }
        }
    }
    let elapsed = started.elapsed();
    Ok(BenchResult::new(
        "W1",
        store.name(),
        ops_of(workload.message_count()),
        elapsed,
    )
    .with_mode(mode.label()))
}

/// W1b batch: the W1 messages, in order, through `store_batch` in batches of `batch_size`
/// (500 in `BENCHMARK.md`). Reports messages per second. Needs an empty store.
pub async fn run_w1b(
    store: Arc<dyn ChatAppMessageStore>,
    workload: &Workload,
    batch_size: usize,
) -> Result<BenchResult> {
    let batch_size = batch_size.max(1);
    let msgs: Vec<ChatAppMessage> = workload.messages().collect();
    let mut latencies = Vec::with_capacity(msgs.len().div_ceil(batch_size));
    let started = Instant::now();
    for batch in msgs.chunks(batch_size) {
        let call = Instant::now();
        for receipt in store.store_batch(batch).await? {
            expect_stored(&receipt)?;
        }
        latencies.push(call.elapsed());
    }
    let elapsed = started.elapsed();
    Ok(
        BenchResult::new("W1b", store.name(), ops_of(msgs.len()), elapsed)
            .with_mode(format!("batch{batch_size}"))
            .with_extra("batches", latencies.len()),
    )
}

/// W3 read: `ops` operations of each [`ReadOp`] on sessions drawn with `seed`, on a store
/// holding `workload` (run W1 or W1b first). One result per operation, with p50/p99.
pub async fn run_w3(
    store: Arc<dyn ChatAppMessageStore>,
    workload: &Workload,
    ops: usize,
    seed: u64,
) -> Result<Vec<BenchResult>> {
    run_reads(store, workload, "W3", &ReadOp::ALL, ops, seed).await
}

/// W4 scale: W3's `list50` and `count` on a store holding `workload`; each result carries
/// `messages=<S × T × 2>` so that runs at 10k, 100k and 1M messages can be compared.
pub async fn run_w4(
    store: Arc<dyn ChatAppMessageStore>,
    workload: &Workload,
    ops: usize,
    seed: u64,
) -> Result<Vec<BenchResult>> {
    let results = run_reads(
        store,
        workload,
        "W4",
        &[ReadOp::List50, ReadOp::Count],
        ops,
        seed,
    )
    .await?;
    Ok(results
        .into_iter()
        .map(|r| r.with_extra("messages", workload.message_count()))
        .collect())
}

/// Runs `ops` timed calls of each operation in `kinds` on sessions drawn with `seed` (the
/// same draws for every backend), reporting them as `bench`.
pub async fn run_reads(
    store: Arc<dyn ChatAppMessageStore>,
    workload: &Workload,
    bench: &str,
    kinds: &[ReadOp],
    ops: usize,
    seed: u64,
) -> Result<Vec<BenchResult>> {
    let mut results = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let mut draws = ReadDraws::new(*kind, workload, seed)?;
        let mut latencies = Vec::with_capacity(ops);
        for _ in 0..ops {
            latencies.push(draws.next(store.as_ref()).await?);
        }
        results.push(reads_result(bench, store.name(), *kind, &mut latencies));
    }
    Ok(results)
}

/// The result of one read operation from its per-call latencies: `ops` is their number, the
/// time their sum, p50/p99 theirs.
pub fn reads_result(
    bench: &str,
    backend: &str,
    kind: ReadOp,
    latencies: &mut [Duration],
) -> BenchResult {
    let total: Duration = latencies.iter().sum();
    BenchResult::new(bench, backend, ops_of(latencies.len()), total)
        .with_op(kind.label())
        .with_latencies(latencies)
}

/// The hand-off every pooled read makes (DESIGN: blocking calls run on `spawn_blocking`):
/// `ops` awaited `spawn_blocking` of nothing, one at a time. Reported as `W3`, backend
/// `tokio`, op `spawn_blocking_noop`, beside the reads whose floor it bounds.
pub async fn run_spawn_blocking_hop(ops: usize) -> BenchResult {
    let mut latencies = Vec::with_capacity(ops);
    for _ in 0..ops {
        let started = Instant::now();
        // A no-op task cannot panic; a runtime shutting down would drop it (counted anyway).
        let _ = tokio::task::spawn_blocking(|| ()).await;
        latencies.push(started.elapsed());
    }
    let total: Duration = latencies.iter().sum();
    BenchResult::new("W3", "tokio", ops_of(latencies.len()), total)
        .with_op("spawn_blocking_noop")
        .with_latencies(&mut latencies)
}

/// The calls of one [`ReadOp`], one at a time, on sessions drawn with [`ReadOp::rng`]: what
/// [`run_reads`] does, exposed so that a bench can alternate a store's calls with a floor's in
/// small slices (both then see the same load). `get`'s message is drawn among the session's
/// ids, which an untimed `list` of the session (newest first) looks up once per session.
#[derive(Debug)]
pub struct ReadDraws {
    kind: ReadOp,
    rng: SplitMix64,
    sessions: usize,
    ids_of: HashMap<usize, Vec<String>>,
}

impl ReadDraws {
    /// The draws of `kind` over `workload`'s sessions; fails on a workload without sessions.
    pub fn new(kind: ReadOp, workload: &Workload, seed: u64) -> Result<Self> {
        if workload.sessions == 0 {
            return Err(StorageError::data(
                "chat-bench",
                "the workload has no sessions",
            ));
        }
        Ok(Self {
            kind,
            rng: kind.rng(seed),
            sessions: workload.sessions,
            ids_of: HashMap::new(),
        })
    }

    /// Draws the next session and times one call on `store`, up to and including dropping
    /// what it returned.
    pub async fn next(&mut self, store: &dyn ChatAppMessageStore) -> Result<Duration> {
        let s = self.rng.below(self.sessions);
        let session = Workload::session_id(s);
        Ok(match self.kind {
            ReadOp::List50 => {
                let q = MessageQuery::for_session(session).with_limit(50);
                let t = Instant::now();
                store.list(&q).await?;
                t.elapsed()
            }
            ReadOp::Count => {
                let q = MessageQuery::for_session(session);
                let t = Instant::now();
                store.count(&q).await?;
                t.elapsed()
            }
            ReadOp::SessionMeta => {
                let t = Instant::now();
                store.get_session_meta(&session).await?;
                t.elapsed()
            }
            ReadOp::UserSessions => {
                let user = Workload::user_id(s);
                let t = Instant::now();
                store.list_user_sessions(PLATFORM, &user).await?;
                t.elapsed()
            }
            ReadOp::Get => {
                if let Entry::Vacant(slot) = self.ids_of.entry(s) {
                    let q = MessageQuery::for_session(session.clone());
                    slot.insert(store.list(&q).await?.into_iter().map(|m| m.id).collect());
                }
                let ids = &self.ids_of[&s];
                if ids.is_empty() {
                    return Err(StorageError::data(
                        "chat-bench W3",
                        format!("session {session} holds no message: load the workload first"),
                    ));
                }
                let id = &ids[self.rng.below(ids.len())];
                let t = Instant::now();
                store.get(id).await?;
                t.elapsed()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotplex_storage_memory::MemoryStore;

    #[test]
    fn each_read_has_its_own_stream_whatever_else_runs() {
        // The streams `run_reads` drew from before `ReadOp::rng` existed: position k in
        // `ALL` (W4 runs `[List50, Count]`, the same positions), so old and new runs draw the
        // same sessions.
        for (k, op) in ReadOp::ALL.iter().enumerate() {
            let mut old = SplitMix64::new(DEFAULT_SEED ^ ((k as u64 + 1) << 56));
            let mut new = op.rng(DEFAULT_SEED);
            for _ in 0..10 {
                assert_eq!(new.next_u64(), old.next_u64(), "{}", op.label());
            }
        }
        assert_ne!(
            ReadOp::List50.rng(1).next_u64(),
            ReadOp::Count.rng(1).next_u64()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn draws_read_a_loaded_store_and_fail_on_an_empty_one() {
        let workload = Workload::new(3, 2);
        let loaded: Arc<dyn ChatAppMessageStore> = Arc::new(MemoryStore::new());
        run_w1b(loaded.clone(), &workload, 5).await.unwrap();
        for op in ReadOp::ALL {
            let mut draws = ReadDraws::new(op, &workload, 7).unwrap();
            let mut latencies: Vec<Duration> = Vec::new();
            for _ in 0..20 {
                latencies.push(draws.next(loaded.as_ref()).await.unwrap());
            }
            let result = reads_result("W3", loaded.name(), op, &mut latencies);
            assert_eq!((result.ops, result.op.as_deref()), (20, Some(op.label())));
            assert!(result.p50_us.is_some() && result.p99_us >= result.p50_us);
        }
        let empty = MemoryStore::new();
        let mut draws = ReadDraws::new(ReadOp::Get, &workload, 7).unwrap();
        let error = draws.next(&empty).await.unwrap_err();
        assert!(matches!(error, StorageError::Data { .. }), "{error:?}");
        assert!(ReadDraws::new(ReadOp::Count, &Workload::new(0, 2), 7).is_err());
    }
}
