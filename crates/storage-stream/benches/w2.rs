//! chat-bench W2 (`BENCHMARK.md`): 100 concurrent streams × 1,000 chunks of 4–16 bytes through
//! `StreamMessageStore → RetryStore → backend`, then completion; on memory and on SQLite (a
//! file in a temporary directory, default settings: `synchronous = FULL`).
//!
//! ```text
//! cargo bench -p hotplex-storage-stream --bench w2 -- [--streams N] [--chunks N]
//!     [--backend memory|sqlite|all]
//! ```
//!
//! Reports chunks per second (`ops_per_s`), the rows the backend holds afterwards (counted
//! through the store; must equal the number of streams) and the process's peak resident memory
//! (`VmHWM`) after each backend — a process-wide high-water mark, so the second backend's figure
//! includes the first's. Run as a test (`cargo test --benches`, no `--bench` argument) it does a
//! small smoke run.

use std::sync::Arc;
use std::time::Instant;

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, StorageError, WriteOnlyStore,
};
use hotplex_storage_memory::MemoryStore;
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use hotplex_storage_stream::{RetryConfig, RetryStore, StreamConfig, StreamMessageStore};
use hotplex_storage_testkit::bench::{self, BenchResult, Workload};

struct Args {
    streams: usize,
    chunks: usize,
    backends: Vec<&'static str>,
    smoke: bool,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let args: Vec<String> = args.collect();
        let smoke = !args
            .iter()
            .any(|a| a == "--bench" || a == "--streams" || a == "--chunks");
        let mut parsed = Self {
            streams: if smoke { 10 } else { bench::W2_STREAMS },
            chunks: if smoke {
                100
            } else {
                bench::W2_CHUNKS_PER_STREAM
            },
            backends: vec!["memory", "sqlite"],
            smoke,
        };
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--streams" => parsed.streams = number(&arg, it.next())?,
                "--chunks" => parsed.chunks = number(&arg, it.next())?,
                "--backend" => {
                    parsed.backends = match it.next().as_deref() {
                        Some("memory") => vec!["memory"],
                        Some("sqlite") => vec!["sqlite"],
                        Some("all") => vec!["memory", "sqlite"],
                        other => return Err(format!("--backend {other:?}: memory|sqlite|all")),
                    }
                }
                // `--bench` and any filter cargo forwards.
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn number(flag: &str, value: Option<String>) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

/// Streams every chunk of every stream concurrently (one task per stream), completes each,
/// closes the stream store, and checks the backend holds one row per stream.
async fn run_w2(
    backend: &str,
    store: Arc<dyn ChatAppMessageStore>,
    chunks: &Arc<Vec<Vec<String>>>,
) -> Result<BenchResult, StorageError> {
    store.initialize().await?;
    let retrying: Arc<dyn WriteOnlyStore> =
        Arc::new(RetryStore::new(Arc::clone(&store), RetryConfig::default())?);
    let streams = Arc::new(StreamMessageStore::new(retrying, StreamConfig::default())?);
    let total: usize = chunks.iter().map(Vec::len).sum();

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(chunks.len());
    for s in 0..chunks.len() {
        let streams = Arc::clone(&streams);
        let chunks = Arc::clone(chunks);
        tasks.push(tokio::spawn(async move {
            let session = Workload::session_id(s);
            let template = ChatAppMessage::bot(session.as_str(), "")
                .with_platform(bench::PLATFORM)
                .with_user(Workload::user_id(s));
            let key = format!("w2-{s}");
            for chunk in &chunks[s] {
                streams.on_stream_chunk_with(&key, chunk, &template).await?;
            }
            streams.on_stream_complete(&key, &template).await
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| StorageError::data("W2", format!("stream task failed: {e}")))??;
    }
    streams.close().await?;
    let elapsed = started.elapsed();

    let rows = store.count(&MessageQuery::default()).await?;
    if rows != chunks.len() as u64 {
        return Err(StorageError::data(
            "W2",
            format!("{backend} holds {rows} rows, expected {}", chunks.len()),
        ));
    }
    let m = streams.metrics();
    if m.chunks_accepted != total as u64 || m.completed != rows {
        return Err(StorageError::data(
            "W2",
            format!("unexpected metrics {m:?}"),
        ));
    }
    store.close().await?;
    let peak_mb = bench::peak_rss_bytes().map_or_else(
        || "unknown".to_owned(),
        // Whole MiB then tenths: exact for any real process size.
        |b| format!("{}.{}", b >> 20, ((b & 0xF_FFFF) * 10) >> 20),
    );
    Ok(BenchResult::new("W2", backend, total as u64, elapsed)
        .with_extra("streams", chunks.len())
        .with_extra("rows", rows)
        .with_extra("peak_rss_mb", peak_mb))
}

async fn run(args: &Args) -> Result<Vec<BenchResult>, StorageError> {
    let chunks: Arc<Vec<Vec<String>>> = Arc::new(
        (0..args.streams)
            .map(|s| bench::stream_chunks(s, args.chunks))
            .collect(),
    );
    let mut results = Vec::new();
    for backend in &args.backends {
        let result = if *backend == "memory" {
            run_w2("memory", Arc::new(MemoryStore::new()), &chunks).await?
        } else {
            let dir = tempfile::tempdir()
                .map_err(|e| StorageError::io("create a temporary directory", e))?;
            let store = SqliteStore::new(SqliteConfig::new(dir.path().join("w2.db")))?;
            run_w2("sqlite", Arc::new(store), &chunks).await?
        };
        println!("{}", result.line());
        results.push(result);
    }
    Ok(results)
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("w2: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "chat-bench W2: {} concurrent streams × {} chunks of 4–16 bytes, then completion; \
         StreamMessageStore (default config) → RetryStore → backend; sqlite: temp file, \
         synchronous=FULL{}",
        args.streams,
        args.chunks,
        if args.smoke {
            " (smoke run; `cargo bench` for the full workload)"
        } else {
            ""
        }
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let results = match runtime.block_on(run(&args)) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("w2: {e}");
            std::process::exit(1);
        }
    };
    println!();
    print!("{}", bench::table(&results));
    println!();
    println!("{}", bench::machine_summary());
}
