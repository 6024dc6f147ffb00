//! Eight tasks on a multi-threaded runtime stream, complete, abort and flush concurrently while
//! a ninth injects write failures (transient and permanent) and the flusher runs every
//! millisecond with a 200 µs timeout: every accepted chunk is stored exactly once, and the
//! buffers are empty after `close()`.
//!
//! The operations of each task come from a fixed seed; the interleaving does not, but the
//! assertions hold for every interleaving (the injected failures write nothing, so an accepted
//! chunk is never also left behind by a failed call).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hotplex_storage_stream::{OverflowPolicy, StoragePolicy, StreamConfig, StreamMessageStore};
use support::{FaultyStore, setup, status, template};

/// Fails writes now and then until `stop`: two transient failures every third tick, a
/// permanent failure for one tick in seven.
async fn inject_faults(inner: Arc<FaultyStore>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        if n.is_multiple_of(3) {
            inner.fail_next(2);
        }
        match n % 7 {
            0 => inner.set_permanent_failure(true),
            1 => inner.set_permanent_failure(false),
            _ => {}
        }
        tokio::time::sleep(Duration::from_micros(300)).await;
    }
    inner.set_permanent_failure(false);
    inner.fail_next(0);
}

/// 300 calls for `key`, chosen from `seed`; adds the bytes of every accepted chunk to
/// `accepted`.
async fn caller(
    streams: Arc<StreamMessageStore>,
    key: String,
    seed: u64,
    accepted: Arc<AtomicUsize>,
) {
    let mut x = seed;
    for i in 0..300u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let op = (x >> 33) % 20;
        match op {
            0 => {
                let _ = streams.on_stream_complete(&key, &template("s")).await;
            }
            1 => {
                let _ = streams.on_stream_abort(&key).await;
            }
            2 => {
                let _ = streams.flush_expired().await;
            }
            _ => {
                let chunk = "x".repeat(((x >> 40) % 7) as usize) + &i.to_string();
                if streams.on_stream_chunk(&key, &chunk).await.is_ok() {
                    accepted.fetch_add(chunk.len(), Ordering::SeqCst);
                }
            }
        }
        if op.is_multiple_of(5) {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_with_failures_store_every_accepted_chunk_once() {
    for round in 0..20u64 {
        let config = StreamConfig {
            timeout: Duration::from_micros(200),
            flush_interval: Duration::from_millis(1),
            max_buffers: 4,
            max_buffer_bytes: 16,
            max_total_bytes: 40,
            storage_policy: if round.is_multiple_of(2) {
                StoragePolicy::CompleteOnly
            } else {
                StoragePolicy::AllChunks
            },
            overflow: OverflowPolicy::DirectStore,
            ..StreamConfig::default()
        };
        let (inner, streams) = setup(config);
        let streams = Arc::new(streams);
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let faults = tokio::spawn(inject_faults(Arc::clone(&inner), Arc::clone(&stop)));
        let tasks: Vec<_> = (0..8u64)
            .map(|k| {
                tokio::spawn(caller(
                    Arc::clone(&streams),
                    format!("k{k}"),
                    round * 31 + k * 7 + 1,
                    Arc::clone(&accepted),
                ))
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        faults.await.unwrap();
        streams.close().await.unwrap();
        let stored: usize = inner
            .rows()
            .iter()
            .filter(|r| status(r) != "chunk")
            .map(|r| r.content.len())
            .sum();
        let m = streams.metrics();
        assert_eq!(
            stored,
            accepted.load(Ordering::SeqCst),
            "round {round}: {m:?}"
        );
        assert_eq!(
            (
                m.active_buffers,
                m.buffered_bytes,
                m.buffered_chunks,
                m.in_flight_writes
            ),
            (0, 0, 0, 0),
            "round {round}"
        );
    }
}
