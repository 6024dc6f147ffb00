//! Randomised sequences of calls with injected faults (failed writes, lost acknowledgements,
//! "transient then permanent" failures, permanent failures, expiry), on paused time with fixed
//! seeds: deterministic. Directly over the faulty store, and through a `RetryStore`.
//!
//! The caller behaves as the documentation asks: a chunk that failed is sent again until it is
//! accepted, and a completion under its own id that failed is sent again under that id — not
//! necessarily at once: faults, empty chunks for the key, chunks and aborts for other keys and
//! flushes may come between the failed call and its retry (nothing that ends the key's stream,
//! sends it another chunk, or lets time pass). Then every accepted chunk must be stored exactly
//! once — no loss, no duplicate — under every storage and overflow policy, and the buffers must
//! be empty after `close()`.
//!
//! 200 seeds per combination; `HOTPLEX_STREAM_FUZZ_SEEDS` sets another count (`cargo xtask
//! soak` runs 5,000).

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_core::{ChatAppMessage, StorageError, WriteOnlyStore};
use hotplex_storage_stream::{
    OverflowPolicy, RetryConfig, RetryStore, StoragePolicy, StreamConfig, StreamMessageStore,
};
use support::{FaultyStore, cfg, status, template};

/// A small deterministic generator (64-bit LCG), so that every run sees the same sequences.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.next()).unwrap_or_default() % len
    }
}

/// The outage ends: the next attempt can succeed.
fn heal(inner: &FaultyStore) {
    inner.set_permanent_failure(false);
    inner.fail_next(0);
}

/// True for errors after which nothing was written and the caller stops retrying.
fn refused(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::CapacityExceeded { .. } | StorageError::InvalidMessage { .. }
    )
}

/// A call that failed and that the caller sends again later, unchanged.
#[derive(Debug)]
enum Retry {
    Chunk(String),
    /// A completion under the caller's own (new) id.
    Complete(Box<ChatAppMessage>),
}

/// One generated run: the calls so far, what was accepted, and the failed call awaiting its
/// retry.
struct Run<'a> {
    seed: u64,
    rng: Lcg,
    inner: &'a FaultyStore,
    streams: &'a StreamMessageStore,
    accepted_bytes: usize,
    accepted_chunks: HashSet<String>,
    log: Vec<String>,
}

impl Run<'_> {
    /// Sets a fault for the next call(s), or ends one.
    fn fault(&mut self) {
        match self.rng.below(8) {
            0 => self.inner.fail_next(1),
            1..=2 => self.inner.fail_after_write_next(1),
            3 => {
                // Transient then permanent: the write lands unacknowledged, then every call
                // fails for good until the outage ends.
                self.inner.fail_after_write_next(1);
                self.inner.then_fail_permanently();
            }
            4 => self.inner.set_permanent_failure(true),
            _ => self.inner.set_permanent_failure(false),
        }
    }

    /// Sends `op` for `key` once. `Ok(true)`: done (accepted, or refused without a write);
    /// `Ok(false)`: failed, to be sent again.
    async fn attempt(&mut self, key: &str, op: &Retry) -> bool {
        match op {
            Retry::Chunk(chunk) => {
                let r = self.streams.on_stream_chunk(key, chunk).await;
                self.log.push(format!("chunk {key} {chunk:?} -> {r:?}"));
                match r {
                    Ok(()) => {
                        self.accepted_bytes += chunk.len();
                        if !chunk.is_empty() {
                            self.accepted_chunks.insert(chunk.clone());
                        }
                        true
                    }
                    Err(e) => refused(&e),
                }
            }
            Retry::Complete(t) => {
                let r = self.streams.on_stream_complete(key, t).await;
                self.log.push(format!("complete {key} {} -> {r:?}", t.id));
                r.as_ref().map_or_else(refused, |_| true)
            }
        }
    }

    /// Sends `op` until it is done; the outage ends between attempts.
    async fn until_done(&mut self, key: &str, op: &Retry) -> Result<(), String> {
        for _ in 0..10 {
            if self.attempt(key, op).await {
                return Ok(());
            }
            heal(self.inner);
        }
        Err(format!("seed {}: {key} {op:?} stuck", self.seed))
    }

    /// A call between a failed call (`op`) for `key` and its retry that does not end `key`'s
    /// stream: a fault, an empty chunk for `key` (after a failed completion, a new chunk too,
    /// sent until done), a chunk for another key (sent until done), a flush, or the end of
    /// another key's stream.
    async fn interleave(&mut self, key: &str, op: &Retry, keys: &[&str]) -> Result<(), String> {
        let others: Vec<&str> = keys.iter().copied().filter(|k| *k != key).collect();
        let other = others[self.rng.index(others.len())];
        match self.rng.below(6) {
            0 => self.fault(),
            1 if matches!(op, Retry::Complete(_)) && self.rng.below(2) == 0 => {
                let chunk = format!("{key}+{}~;", self.log.len());
                self.until_done(key, &Retry::Chunk(chunk)).await?;
            }
            1 => {
                let r = self.streams.on_stream_chunk(key, "").await;
                self.log.push(format!("chunk {key} \"\" -> {r:?}"));
            }
            2 => {
                let r = self.streams.flush_expired().await;
                self.log.push(format!("flush -> {r:?}"));
            }
            3 => {
                let r = self.streams.on_stream_abort(other).await;
                self.log.push(format!("abort {other} -> {r:?}"));
            }
            _ => {
                let chunk = format!("{other}-{}~;", self.log.len());
                self.until_done(other, &Retry::Chunk(chunk)).await?;
            }
        }
        Ok(())
    }

    /// One generated call for a random key; a failed call the caller will send again is
    /// returned, to be retried later.
    async fn call<'k>(
        &mut self,
        n: u64,
        keys: &[&'k str],
        through_retry_store: bool,
    ) -> Option<(&'k str, Retry)> {
        let seed = self.seed;
        let key = keys[self.rng.index(keys.len())];
        match self.rng.below(100) {
            0..=19 => self.fault(),
            20..=23 => tokio::time::advance(Duration::from_secs(self.rng.below(15))).await,
            24..=27 => {
                let r = self.streams.flush_expired().await;
                self.log.push(format!("flush -> {r:?}"));
            }
            28..=31 => {
                let r = self.streams.on_stream_complete(key, &template("s")).await;
                self.log
                    .push(format!("complete {key} -> {:?}", r.map(|r| r.outcome)));
            }
            // A caller-supplied (new) id: sent again under that id until it is stored. Not
            // through a RetryStore: there, a first write under a caller's id that lands with
            // its acknowledgement lost comes back `AlreadyStored` from the store's own retry,
            // which cannot be told from another message's id (docs/semantics.md, streaming).
            32..=35 if !through_retry_store => {
                let t = template("s").with_id(format!("caller-{seed}-{n}"));
                let op = Retry::Complete(Box::new(t));
                if !self.attempt(key, &op).await {
                    return Some((key, op));
                }
            }
            36..=39 => {
                let r = self.streams.on_stream_abort(key).await;
                self.log.push(format!(
                    "abort {key} -> {:?}",
                    r.map(|r| r.map(|r| r.outcome))
                ));
            }
            _ => {
                let chunk = if self.rng.below(8) == 0 {
                    String::new()
                } else {
                    // Unique, so that a chunk stored twice shows.
                    format!("{key}{n:x}{};", "~".repeat(self.rng.index(4)))
                };
                let op = Retry::Chunk(chunk);
                if !self.attempt(key, &op).await {
                    return Some((key, op));
                }
            }
        }
        None
    }
}

async fn run(
    seed: u64,
    policy: StoragePolicy,
    overflow: OverflowPolicy,
    through_retry_store: bool,
) -> Result<(), String> {
    let config = StreamConfig {
        timeout: Duration::from_secs(10),
        max_buffers: 3,
        max_buffer_bytes: 12,
        max_total_bytes: 30,
        storage_policy: policy,
        overflow,
        ..cfg()
    };
    let inner = FaultyStore::new();
    let store: Arc<dyn WriteOnlyStore> = if through_retry_store {
        let no_jitter = RetryConfig {
            jitter: false,
            ..RetryConfig::default()
        };
        Arc::new(RetryStore::new(Arc::clone(&inner), no_jitter).unwrap())
    } else {
        inner.clone()
    };
    let streams = StreamMessageStore::new(store, config).unwrap();
    let mut run = Run {
        seed,
        rng: Lcg(seed),
        inner: &inner,
        streams: &streams,
        accepted_bytes: 0,
        accepted_chunks: HashSet::new(),
        log: Vec::new(),
    };
    let keys = ["a", "b", "c", "d", "e"];
    // The failed call awaiting its retry, and how many calls came in between.
    let mut pending: Option<(&str, Retry, u32)> = None;
    for n in 0..300u64 {
        if let Some((key, op, waited)) = pending.take() {
            if waited < 6 && run.rng.below(3) != 0 {
                run.interleave(key, &op, &keys).await?;
                pending = Some((key, op, waited + 1));
            } else if waited >= 6 {
                heal(&inner);
                run.until_done(key, &op).await?;
            } else if !run.attempt(key, &op).await {
                pending = Some((key, op, waited + 1));
            }
            continue;
        }
        pending = run
            .call(n, &keys, through_retry_store)
            .await
            .map(|(key, op)| (key, op, 0));
    }
    if let Some((key, op, _)) = pending {
        heal(&inner);
        run.until_done(key, &op).await?;
    }
    heal(&inner);
    inner.fail_after_write_next(0);
    streams
        .close()
        .await
        .map_err(|e| format!("seed {seed}: close: {e}"))?;
    let problems = check(
        &inner,
        &streams,
        policy,
        run.accepted_bytes,
        &run.accepted_chunks,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "seed {seed}: {}\n{}",
            problems.join("; "),
            run.log.join("\n")
        ))
    }
}

/// What is wrong with the rows stored and the buffers left after `close()`.
fn check(
    inner: &FaultyStore,
    streams: &StreamMessageStore,
    policy: StoragePolicy,
    accepted_bytes: usize,
    accepted_chunks: &HashSet<String>,
) -> Vec<String> {
    let rows = inner.rows();
    let stored: usize = rows
        .iter()
        .filter(|r| status(r) != "chunk")
        .map(|r| r.content.len())
        .sum();
    let mut chunk_rows = HashSet::new();
    let mut duplicate_chunk_rows = Vec::new();
    for r in rows.iter().filter(|r| status(r) == "chunk") {
        if !chunk_rows.insert(r.content.clone()) {
            duplicate_chunk_rows.push(r.content.clone());
        }
    }
    let m = streams.metrics();
    let mut problems = Vec::new();
    if stored != accepted_bytes {
        problems.push(format!("stored {stored} bytes, accepted {accepted_bytes}"));
        let text: String = rows
            .iter()
            .filter(|r| status(r) != "chunk")
            .map(|r| r.content.as_str())
            .collect();
        let missing: Vec<_> = accepted_chunks
            .iter()
            .filter(|c| !text.contains(c.as_str()))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("accepted chunks not stored: {missing:?}"));
        }
    }
    if !duplicate_chunk_rows.is_empty() {
        problems.push(format!("chunk rows stored twice: {duplicate_chunk_rows:?}"));
    }
    if policy == StoragePolicy::AllChunks {
        // Every accepted chunk that went into a buffer has its chunk row (overflow rows are
        // the chunks' only rows).
        let missing: Vec<_> = accepted_chunks
            .iter()
            .filter(|c| !chunk_rows.contains(*c))
            .filter(|c| {
                !rows
                    .iter()
                    .any(|r| status(r) == "interrupted" && r.content == **c)
            })
            .collect();
        if !missing.is_empty() {
            problems.push(format!("accepted chunks without a chunk row: {missing:?}"));
        }
    }
    if (
        m.active_buffers,
        m.buffered_bytes,
        m.buffered_chunks,
        m.in_flight_writes,
    ) != (0, 0, 0, 0)
    {
        problems.push(format!("buffers not empty after close: {m:?}"));
    }
    problems
}

async fn run_seeds(policy: StoragePolicy, overflow: OverflowPolicy, through_retry_store: bool) {
    let mut failures = Vec::new();
    let seeds: u64 = std::env::var("HOTPLEX_STREAM_FUZZ_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(200);
    for seed in 0..seeds {
        if let Err(e) = run(seed, policy, overflow, through_retry_store).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{policy} {overflow} (RetryStore: {through_retry_store}): {} of {seeds} seeds failed; the \
         first:\n{}",
        failures.len(),
        failures[0]
    );
}

#[tokio::test(start_paused = true)]
async fn complete_only_direct_store_stores_every_accepted_chunk_once() {
    run_seeds(
        StoragePolicy::CompleteOnly,
        OverflowPolicy::DirectStore,
        false,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn complete_only_reject_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::CompleteOnly, OverflowPolicy::Reject, false).await;
}

#[tokio::test(start_paused = true)]
async fn all_chunks_direct_store_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::AllChunks, OverflowPolicy::DirectStore, false).await;
}

#[tokio::test(start_paused = true)]
async fn all_chunks_reject_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::AllChunks, OverflowPolicy::Reject, false).await;
}

#[tokio::test(start_paused = true)]
async fn through_a_retry_store_complete_only_stores_every_accepted_chunk_once() {
    run_seeds(
        StoragePolicy::CompleteOnly,
        OverflowPolicy::DirectStore,
        true,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn through_a_retry_store_all_chunks_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::AllChunks, OverflowPolicy::DirectStore, true).await;
}
