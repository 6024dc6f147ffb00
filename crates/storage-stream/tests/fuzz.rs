//! Randomised sequences of calls with injected faults (failed writes, lost acknowledgements,
//! permanent failures, expiry), on paused time with fixed seeds: deterministic.
//!
//! The caller behaves as the documentation asks: a chunk that failed is sent again until it is
//! accepted, and a completion under its own id that failed is retried under that id. Then every
//! accepted chunk must be stored exactly once — no loss, no duplicate — under every storage
//! and overflow policy, and the buffers must be empty after `close()`.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use hotplex_storage_core::StorageError;
use hotplex_storage_stream::{OverflowPolicy, StoragePolicy, StreamConfig, StreamMessageStore};
use support::{FaultyStore, cfg, setup, status, template};

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

async fn run(seed: u64, policy: StoragePolicy, overflow: OverflowPolicy) -> Result<(), String> {
    let config = StreamConfig {
        timeout: Duration::from_secs(10),
        max_buffers: 3,
        max_buffer_bytes: 12,
        max_total_bytes: 30,
        storage_policy: policy,
        overflow,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    let mut rng = Lcg(seed);
    let keys = ["a", "b", "c", "d", "e"];
    let mut accepted_bytes = 0usize;
    let mut accepted_chunks = HashSet::new();
    let mut log = Vec::new();
    for n in 0..300u64 {
        let key = keys[rng.index(keys.len())];
        match rng.below(100) {
            0..=4 => inner.fail_next(1),
            5..=11 => inner.fail_after_write_next(1),
            12..=13 => inner.set_permanent_failure(true),
            14..=18 => inner.set_permanent_failure(false),
            19..=23 => tokio::time::advance(Duration::from_secs(rng.below(15))).await,
            24..=27 => {
                let r = streams.flush_expired().await;
                log.push(format!("flush -> {r:?}"));
            }
            28..=31 => {
                let r = streams.on_stream_complete(key, &template("s")).await;
                log.push(format!("complete {key} -> {:?}", r.map(|r| r.outcome)));
            }
            32..=35 => {
                // A caller-supplied (new) id: retried under that id until it is stored.
                let t = template("s").with_id(format!("caller-{seed}-{n}"));
                for attempt in 0..10 {
                    let r = streams.on_stream_complete(key, &t).await;
                    log.push(format!("complete {key} {} -> {r:?}", t.id));
                    match r {
                        Err(e) if !refused(&e) && attempt < 9 => heal(&inner),
                        _ => break,
                    }
                }
            }
            36..=39 => {
                let r = streams.on_stream_abort(key).await;
                log.push(format!(
                    "abort {key} -> {:?}",
                    r.map(|r| r.map(|r| r.outcome))
                ));
            }
            _ => {
                let chunk = if rng.below(8) == 0 {
                    String::new()
                } else {
                    // Unique, so that a chunk stored twice shows.
                    format!("{key}{n:x}{};", "~".repeat(rng.index(4)))
                };
                // Sent again until accepted (or refused without a write).
                for attempt in 0..10 {
                    let r = streams.on_stream_chunk(key, &chunk).await;
                    log.push(format!("chunk {key} {chunk:?} -> {r:?}"));
                    match r {
                        Ok(()) => {
                            accepted_bytes += chunk.len();
                            if !chunk.is_empty() {
                                accepted_chunks.insert(chunk.clone());
                            }
                            break;
                        }
                        Err(e) if refused(&e) => break,
                        Err(_) if attempt == 9 => return Err(format!("seed {seed}: stuck")),
                        Err(_) => heal(&inner),
                    }
                }
            }
        }
    }
    heal(&inner);
    inner.fail_after_write_next(0);
    streams
        .close()
        .await
        .map_err(|e| format!("seed {seed}: close: {e}"))?;
    let problems = check(&inner, &streams, policy, accepted_bytes, &accepted_chunks);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "seed {seed}: {}\n{}",
            problems.join("; "),
            log.join("\n")
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

async fn run_seeds(policy: StoragePolicy, overflow: OverflowPolicy) {
    let mut failures = Vec::new();
    for seed in 0..200 {
        if let Err(e) = run(seed, policy, overflow).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{policy} {overflow}: {} of 200 seeds failed; the first:\n{}",
        failures.len(),
        failures[0]
    );
}

#[tokio::test(start_paused = true)]
async fn complete_only_direct_store_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::CompleteOnly, OverflowPolicy::DirectStore).await;
}

#[tokio::test(start_paused = true)]
async fn complete_only_reject_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::CompleteOnly, OverflowPolicy::Reject).await;
}

#[tokio::test(start_paused = true)]
async fn all_chunks_direct_store_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::AllChunks, OverflowPolicy::DirectStore).await;
}

#[tokio::test(start_paused = true)]
async fn all_chunks_reject_stores_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::AllChunks, OverflowPolicy::Reject).await;
}
