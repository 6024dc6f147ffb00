//! Streams under faults: 100 concurrent streams through `StreamMessageStore` over an inner
//! store failing at random (transient failures that write nothing, lost acknowledgements after
//! the write landed, "transient then permanent" failures), with `close()` called while the
//! streams are mid-way. Every chunk accepted with `Ok` must be stored exactly once, in order
//! (in a completed, partial or interrupted row; under `all_chunks` also in exactly one chunk
//! row), nothing else may be stored in those rows, and the buffers must be empty after
//! `close()`.
//!
//! Paused time on a single-threaded runtime and seeded generators: deterministic. Both storage
//! policies, directly over the faulty store and through a `RetryStore`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotplex_storage_core::{ChatAppMessage, StorageError, WriteOnlyStore};
use hotplex_storage_stream::{
    RetryConfig, RetryStore, StoragePolicy, StreamConfig, StreamMessageStore,
};
use support::{FaultyStore, InjectedFaults, RandomFaults, cfg, meta, status, template};

/// Concurrent streams.
const STREAMS: usize = 100;
/// Seeds per combination.
const SEEDS: u64 = 8;

/// A small deterministic generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// What the callers saw.
#[derive(Debug, Default)]
struct Seen {
    /// Chunks accepted with `Ok`, per key, in the order sent.
    accepted: BTreeMap<String, Vec<String>>,
    /// Chunks that failed and could not be sent again (the store closed meanwhile).
    abandoned: Vec<String>,
    /// Errors other than `Closed` returned to callers.
    errors: u64,
}

/// Errors after which the caller stops: nothing was written and a retry cannot help.
fn refused(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::CapacityExceeded { .. } | StorageError::InvalidMessage { .. }
    )
}

/// One stream: chunks `<k.j>` sent until accepted (or the store closed), then a completion, an
/// abort, or nothing (left to `close()`).
async fn stream(k: usize, rng_seed: u64, streams: Arc<StreamMessageStore>, seen: Arc<Mutex<Seen>>) {
    let mut rng = Lcg(rng_seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let key = format!("k{k}");
    let chunks = 2 + rng.below(12);
    tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
    for j in 0..chunks {
        let chunk = format!(
            "<{k}.{j}>{}",
            "~".repeat(usize::try_from(rng.below(6)).unwrap())
        );
        let mut tries = 0;
        loop {
            tries += 1;
            match streams.on_stream_chunk(&key, &chunk).await {
                Ok(()) => {
                    seen.lock()
                        .unwrap()
                        .accepted
                        .entry(key.clone())
                        .or_default()
                        .push(chunk.clone());
                    break;
                }
                Err(StorageError::Closed) => {
                    if tries > 1 {
                        seen.lock().unwrap().abandoned.push(chunk);
                    }
                    return;
                }
                Err(e) => {
                    assert!(!refused(&e), "{key} {chunk}: refused: {e:?}");
                    assert!(tries < 200, "{key} {chunk}: never accepted: {e}");
                    seen.lock().unwrap().errors += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
    }
    match rng.below(5) {
        0..=2 => loop {
            match streams.on_stream_complete(&key, &template("s")).await {
                Ok(_) | Err(StorageError::Closed) => return,
                Err(e) => {
                    assert!(!refused(&e), "{key} complete: refused: {e:?}");
                    seen.lock().unwrap().errors += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        },
        3 => loop {
            match streams.on_stream_abort(&key).await {
                Ok(_) | Err(StorageError::Closed) => return,
                Err(e) => {
                    seen.lock().unwrap().errors += 1;
                    assert!(!refused(&e), "{key} abort: refused: {e:?}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        },
        _ => {}
    }
}

/// The chunk tokens (`<k.j>~…`) in `text`, in order.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('<').map_or(rest.len(), |e| start + 1 + e);
        out.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    out
}

/// What is wrong with the stored `rows` given what the callers saw.
fn check_rows(rows: &[ChatAppMessage], seen: &Seen, policy: StoragePolicy) -> Vec<String> {
    let mut problems = Vec::new();
    // Content rows (completed, partial, interrupted) per key, in part order.
    let mut by_key: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    let mut chunk_rows: HashMap<String, usize> = HashMap::new();
    for r in rows {
        let text_tokens = tokens(&r.content);
        let Some(first) = text_tokens.first() else {
            problems.push(format!("a row without chunks: {:?}", r.content));
            continue;
        };
        let key = format!("k{}", &first[1..first.find('.').unwrap_or(1)]);
        if status(r) == "chunk" {
            *chunk_rows.entry(r.content.clone()).or_default() += 1;
        } else {
            let part = meta(r, "stream_part").as_u64().unwrap_or(0);
            by_key
                .entry(key)
                .or_default()
                .push((part, r.content.clone()));
        }
    }
    let empty = Vec::new();
    let mut keys: Vec<String> = seen.accepted.keys().chain(by_key.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let accepted = seen.accepted.get(&key).unwrap_or(&empty);
        let mut parts = by_key.remove(&key).unwrap_or_default();
        parts.sort();
        let stored: Vec<String> = parts.iter().flat_map(|(_, c)| tokens(c)).collect();
        if &stored != accepted {
            problems.push(format!(
                "{key}: accepted {accepted:?}, stored {stored:?} (parts {parts:?})"
            ));
        }
        if policy == StoragePolicy::AllChunks {
            for c in accepted {
                let n = chunk_rows.get(c).copied().unwrap_or(0);
                if n != 1 {
                    problems.push(format!("{key}: accepted chunk {c} has {n} chunk rows"));
                }
            }
        }
    }
    for (c, n) in &chunk_rows {
        let known = seen.accepted.values().flatten().any(|a| a == c) || seen.abandoned.contains(c);
        if *n > 1 || !known {
            problems.push(format!("chunk row {c} stored {n} times (known: {known})"));
        }
    }
    problems
}

/// One run: the problems found (empty when every guarantee held), and a summary line.
async fn run(
    seed: u64,
    policy: StoragePolicy,
    through_retry_store: bool,
) -> (Vec<String>, String, InjectedFaults) {
    let config = StreamConfig {
        max_buffer_bytes: 40,
        storage_policy: policy,
        ..cfg()
    };
    let inner = FaultyStore::new();
    inner.set_delay(Duration::from_millis(1));
    inner.set_random_faults(Some(RandomFaults {
        state: seed,
        transient_pct: 10,
        lost_ack_pct: 10,
        then_permanent_pct: 3,
        permanent_calls: 3,
    }));
    let store: Arc<dyn WriteOnlyStore> = if through_retry_store {
        let retry = RetryConfig {
            jitter: false,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            ..RetryConfig::default()
        };
        Arc::new(RetryStore::new(Arc::clone(&inner), retry).unwrap())
    } else {
        inner.clone()
    };
    let streams = Arc::new(StreamMessageStore::new(store, config).unwrap());
    let observed = Arc::new(Mutex::new(Seen::default()));
    let tasks: Vec<_> = (0..STREAMS)
        .map(|k| tokio::spawn(stream(k, seed, Arc::clone(&streams), Arc::clone(&observed))))
        .collect();
    // close() while the streams are mid-way, repeated until it succeeds under the faults.
    let close_at = Duration::from_millis(15 + Lcg(seed).below(20));
    let closer = {
        let streams = Arc::clone(&streams);
        tokio::spawn(async move {
            tokio::time::sleep(close_at).await;
            let mut failed = 0;
            while let Err(e) = streams.close().await {
                assert!(!refused(&e), "close: {e:?}");
                failed += 1;
                assert!(failed < 1_000, "close never succeeded: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            failed
        })
    };
    for t in tasks {
        t.await.expect("stream task");
    }
    let close_failures = closer.await.expect("closer");
    inner.set_random_faults(None);
    let mut problems = Vec::new();
    if let Err(e) = streams.close().await {
        problems.push(format!("close again: {e}"));
    }
    let m = streams.metrics();
    if (
        m.active_buffers,
        m.buffered_bytes,
        m.buffered_chunks,
        m.in_flight_writes,
    ) != (0, 0, 0, 0)
    {
        problems.push(format!("buffers not empty after close: {m:?}"));
    }

    let seen_by_callers = observed.lock().unwrap();
    let rows = inner.rows();
    problems.extend(check_rows(&rows, &seen_by_callers, policy));
    let accepted: usize = seen_by_callers.accepted.values().map(Vec::len).sum();
    let closed_mid_way = rows
        .iter()
        .filter(|r| status(r) == "interrupted" && meta(r, "stream_reason") == "closed")
        .count();
    if closed_mid_way == 0 {
        problems.push("close() found no stream mid-way".to_owned());
    }
    let injected = inner.injected();
    let summary = format!(
        "{policy} retry={through_retry_store} seed {seed}: {accepted} chunks accepted, {} \
         abandoned at close, {closed_mid_way} rows interrupted by close(), {} rows, {} caller errors, close failed {close_failures} times; \
         injected {injected:?}",
        seen_by_callers.abandoned.len(),
        rows.len(),
        seen_by_callers.errors,
    );
    (problems, summary, injected)
}

async fn run_seeds(policy: StoragePolicy, through_retry_store: bool) {
    let mut failures = Vec::new();
    let mut faults = 0;
    for seed in 1..=SEEDS {
        let (problems, summary, injected) = run(seed, policy, through_retry_store).await;
        eprintln!("{summary}");
        faults += injected.transient + injected.lost_ack + injected.then_permanent;
        if !problems.is_empty() {
            failures.push(format!("{summary}\n  {}", problems.join("\n  ")));
        }
    }
    assert!(faults > 0, "no faults were injected");
    assert!(
        failures.is_empty(),
        "{} of {SEEDS} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(start_paused = true)]
async fn complete_only_streams_under_faults_store_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::CompleteOnly, false).await;
}

#[tokio::test(start_paused = true)]
async fn all_chunks_streams_under_faults_store_every_accepted_chunk_once() {
    run_seeds(StoragePolicy::AllChunks, false).await;
}

#[tokio::test(start_paused = true)]
async fn complete_only_streams_under_faults_through_a_retry_store() {
    run_seeds(StoragePolicy::CompleteOnly, true).await;
}

#[tokio::test(start_paused = true)]
async fn all_chunks_streams_under_faults_through_a_retry_store() {
    run_seeds(StoragePolicy::AllChunks, true).await;
}

#[test]
fn tokens_split_concatenated_chunks() {
    assert_eq!(
        tokens("<1.0>~~<1.1><12.3>~"),
        ["<1.0>~~", "<1.1>", "<12.3>~"]
    );
    assert!(tokens("").is_empty());
}
