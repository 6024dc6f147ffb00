//! chat-bench (`BENCHMARK.md`) on [`MemoryStore`]: W1 seq and c16, W1b, then W3 on the W1
//! store.
//!
//! ```text
//! cargo bench -p hotplex-storage-memory --bench chat_bench -- [--sessions N] [--turns N]
//!     [--ops N] [--json FILE]
//! ```
//!
//! Defaults are `BENCHMARK.md`'s (1,000 sessions × 20 turns, 5,000 reads per W3 operation).
//!
//! Beside W3's `list50` it measures its floor for a store that returns owned messages: cloning
//! (and dropping) the very messages `list50` returns, already located, with no lock, lookup or
//! filter (`backend=clone floor=owned-copy`), so that the share of `list50` spent copying
//! strings is visible.
//! Run as a test (`cargo test --benches`, no `--bench` argument) it does a small smoke run.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, MessageQuery, StorageError};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_testkit::bench::{self, BenchResult, Mode, ReadOp, Workload};

/// Command-line options: the chat-bench flags every backend shares.
type Args = bench::BenchArgs;

async fn fresh_store() -> Result<Arc<dyn ChatAppMessageStore>, StorageError> {
    let store: Arc<dyn ChatAppMessageStore> = Arc::new(MemoryStore::new());
    store.initialize().await?;
    Ok(store)
}

/// The `list50` floor of an owned-result store: for the sessions `list50` draws, the cost of
/// cloning and dropping the messages it returns (fetched untimed), nothing else.
async fn clone_floor(
    store: &dyn ChatAppMessageStore,
    w: &Workload,
    ops: usize,
) -> Result<BenchResult, StorageError> {
    let mut rng = ReadOp::List50.rng(bench::DEFAULT_SEED);
    let mut newest: HashMap<usize, Vec<ChatAppMessage>> = HashMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(ops);
    for _ in 0..ops {
        let s = rng.below(w.sessions.max(1));
        if let Entry::Vacant(slot) = newest.entry(s) {
            let q = MessageQuery::for_session(Workload::session_id(s)).with_limit(50);
            slot.insert(store.list(&q).await?);
        }
        let msgs = &newest[&s];
        let t = Instant::now();
        let copy = std::hint::black_box(msgs.clone());
        drop(copy);
        latencies.push(t.elapsed());
    }
    Ok(
        bench::reads_result("W3", "clone", ReadOp::List50, &mut latencies)
            .with_extra("floor", "owned-copy"),
    )
}

async fn run(args: &Args) -> Result<Vec<BenchResult>, StorageError> {
    let w = &args.workload;
    let mut results = Vec::new();
    let w1 = fresh_store().await?;
    results.push(bench::run_w1(w1.clone(), w, Mode::Seq).await?);
    results.push(bench::run_w1(fresh_store().await?, w, Mode::Concurrent(16)).await?);
    results.push(bench::run_w1b(fresh_store().await?, w, 500).await?);
    results.extend(bench::run_w3(w1.clone(), w, args.ops, bench::DEFAULT_SEED).await?);
    results.push(clone_floor(w1.as_ref(), w, args.ops).await?);
    let metrics = w1.metrics().await?;
    if metrics.total_messages != w.message_count() as u64 {
        return Err(StorageError::data(
            "chat-bench",
            format!(
                "the W1 store holds {} messages, expected {}",
                metrics.total_messages,
                w.message_count()
            ),
        ));
    }
    println!(
        "backend: memory (in-process, no durability, no settings); W1 store size ≈ {} bytes \
         in {} sessions",
        metrics.storage_size_bytes, metrics.total_sessions
    );
    Ok(results)
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1), &[]) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("chat_bench: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    println!(
        "chat-bench on memory: {} sessions × {} turns = {} messages, {} reads per W3 op{}",
        args.workload.sessions,
        args.workload.turns,
        args.workload.message_count(),
        args.ops,
        if args.smoke {
            " (smoke run; `cargo bench` for the full workload)"
        } else {
            ""
        }
    );
    let results = match runtime.block_on(run(&args)) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("chat_bench: {e}");
            std::process::exit(1);
        }
    };
    for r in &results {
        println!("{}", r.line());
    }
    println!();
    print!("{}", bench::table(&results));
    println!();
    println!("{}", bench::machine_summary());
    if let Some(rss) = bench::peak_rss_bytes() {
        println!("peak_rss_bytes={rss}");
    }
    println!("total {:.2}s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "machine": bench::Machine::current().to_json(),
            "workload": {"sessions": args.workload.sessions, "turns": args.workload.turns},
            "results": bench::to_json(&results),
            "peak_rss_bytes": bench::peak_rss_bytes(),
        });
        let text = serde_json::to_string_pretty(&report).expect("JSON of plain values");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("chat_bench: writing {path}: {e}");
            std::process::exit(1);
        }
        println!("results written to {path}");
    }
}
