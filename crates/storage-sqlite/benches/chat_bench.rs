//! chat-bench (`BENCHMARK.md`) on [`SqliteStore`]: W1 seq and c16, W1b (batches of 500), W3
//! on the W1 database, and — in the same process, on the same data, table shape and indexes —
//! their floors written by hand on rusqlite (see the `floor` module): W1 with one transaction
//! per message (alternating with the store's `seq` slice by slice) and with all messages in one
//! transaction (before and after W1b), and each W3 read (alternating with the store's), so
//! that every store result carries its `floor_ratio`. With `--w4`, W4 instead: W3's `list` and
//! `count` at 10k, 100k and 1M messages.
//!
//! ```text
//! cargo bench -p hotplex-storage-sqlite --bench chat_bench -- [--sessions N] [--turns N]
//!     [--ops N] [--synchronous full|normal] [--dir DIR] [--json FILE]
//! cargo bench -p hotplex-storage-sqlite --bench chat_bench -- --w4 [--w4-max N] [--turns N]
//!     [--ops N] [--synchronous full|normal] [--dir DIR] [--json FILE]
//! ```
//!
//! Defaults are `BENCHMARK.md`'s (1,000 sessions × 20 turns, 5,000 reads per W3 operation)
//! with the store's default durability (`synchronous = FULL`), in a temporary directory (or
//! under `--dir`).
//!
//! W4 grows one database through the sizes (`--w4-max N` caps the largest, e.g. for a quick
//! run): sessions of `T` turns (20 by default, so 250, 2,500 and 25,000 sessions) are appended
//! with `store_batch` in batches of 500 by a store opened with `synchronous = NORMAL` (a fill,
//! not a measurement; its time is reported), which is then closed; a store with the measured
//! settings reopens the file and runs `bench::run_w4`. The run ends with the latency ratio of
//! the largest size to the smallest (`BENCHMARK.md`: 1M / 10k).
//!
//! Run as a test (`cargo test --benches`, no `--bench` argument) it does a small smoke run,
//! W4 included at 400 and 2,000 messages.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, StorageError, StoreOutcome,
    WriteOnlyStore,
};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use hotplex_storage_testkit::bench::{self, BenchResult, Mode, ReadOp, Workload};

#[path = "chat_bench/floor.rs"]
mod floor;

use floor::W3Floor;

/// W4's database sizes in messages (`BENCHMARK.md`).
const W4_SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// W4's sizes in the smoke run.
const W4_SMOKE_SIZES: [usize; 2] = [400, 2_000];
/// Messages per `store_batch` call while W4 fills its database.
const W4_FILL_BATCH: usize = 500;

/// Command-line options: the shared chat-bench flags plus `--synchronous`, `--dir`, `--w4`
/// and `--w4-max`.
struct Args {
    common: bench::BenchArgs,
    synchronous: Synchronous,
    dir: Option<PathBuf>,
    /// Run W4 (only).
    w4: bool,
    /// The largest W4 size, if capped.
    w4_max: Option<usize>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let args: Vec<String> = args.collect();
        // `--w4` takes no value, so it is not one of `BenchArgs`' extra flags (which take
        // one each); `BenchArgs` ignores it.
        let w4 = args.iter().any(|a| a == "--w4");
        let common = bench::BenchArgs::parse(args, &["--synchronous", "--dir", "--w4-max"])?;
        let synchronous = match common.value("--synchronous") {
            Some(value) => value.parse().map_err(|e: StorageError| e.to_string())?,
            None => Synchronous::Full,
        };
        let dir = common.value("--dir").map(PathBuf::from);
        let w4_max = match common.value("--w4-max") {
            Some(value) => match value.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                Ok(_) => return Err("--w4-max must be positive".into()),
                Err(e) => return Err(format!("--w4-max {value:?}: {e}")),
            },
            None => None,
        };
        Ok(Self {
            common,
            synchronous,
            dir,
            w4,
            w4_max,
        })
    }

    /// The W4 sizes to measure, smallest first: `BENCHMARK.md`'s (or the smoke run's),
    /// those above `--w4-max` replaced by `--w4-max` itself.
    fn w4_sizes(&self) -> Vec<usize> {
        let all: &[usize] = if self.smoke {
            &W4_SMOKE_SIZES
        } else {
            &W4_SIZES
        };
        let max = self.w4_max.unwrap_or(usize::MAX);
        let mut sizes: Vec<usize> = all.iter().copied().filter(|&n| n < max).collect();
        if all.iter().any(|&n| n >= max) {
            sizes.push(max);
        }
        sizes
    }
}

impl std::ops::Deref for Args {
    type Target = bench::BenchArgs;

    fn deref(&self) -> &bench::BenchArgs {
        &self.common
    }
}

fn config(args: &Args, path: PathBuf) -> SqliteConfig {
    SqliteConfig::new(path).with_synchronous(args.synchronous)
}

async fn fresh_store(args: &Args, path: PathBuf) -> Result<Arc<SqliteStore>, StorageError> {
    let store = Arc::new(SqliteStore::new(config(args, path))?);
    store.initialize().await?;
    Ok(store)
}

/// `commits` and `write_requests` of a store, as extras of its result.
async fn with_commits(
    result: BenchResult,
    store: &SqliteStore,
) -> Result<BenchResult, StorageError> {
    let extra = store.metrics().await?.extra;
    let commits = extra.get("commits").copied().unwrap_or(0);
    let requests = extra.get("write_requests").copied().unwrap_or(0);
    Ok(result
        .with_extra("commits", commits)
        .with_extra("write_requests", requests))
}

/// W1 `seq` alternates between the store and its per-message floor in slices of this many
/// sessions (400 messages at 20 turns), the side going first changing every slice.
const W1_SLICE: usize = 10;

/// W1 `seq` on the store (the testkit's `store_each` per session, as `run_w1` does) and its
/// floor (one transaction per message, by hand), alternating in slices of [`W1_SLICE`]
/// sessions so that both see the same disk: the store's result and the floor's.
async fn alternate_w1(
    store: &dyn ChatAppMessageStore,
    by_hand: &rusqlite::Connection,
    w: &Workload,
) -> Result<(BenchResult, BenchResult), StorageError> {
    let sessions: Vec<Vec<ChatAppMessage>> =
        (0..w.sessions).map(|s| w.session_messages(s)).collect();
    let (mut on_store, mut on_floor) = (Duration::ZERO, Duration::ZERO);
    let mut store_first = true;
    for slice in sessions.chunks(W1_SLICE) {
        for side in [store_first, !store_first] {
            let started = Instant::now();
            for msgs in slice {
                if side {
                    bench::store_each(store, msgs).await?;
                } else {
                    floor::store_each_txn(by_hand, msgs).map_err(|e| floor_error(&e))?;
                }
            }
            if side {
                on_store += started.elapsed();
            } else {
                on_floor += started.elapsed();
            }
        }
        store_first = !store_first;
    }
    let n = u64::try_from(w.message_count()).unwrap_or(u64::MAX);
    Ok((
        BenchResult::new("W1", store.name(), n, on_store).with_mode(Mode::Seq.label()),
        BenchResult::new("W1", floor::BACKEND, n, on_floor)
            .with_mode(floor::TXN_PER_MSG)
            .with_extra("floor", floor::TAG),
    ))
}

/// W3 reads alternate between the store and its floor in slices of this many calls, the
/// side going first changing every slice, so that both see the same load on a shared machine.
const W3_SLICE: usize = 50;

/// `ops` calls of `op` on the store and `ops` reads of the floor, alternating in slices of
/// [`W3_SLICE`], both on the same draws: the store's result and the floor's.
async fn alternate_reads(
    store: &dyn ChatAppMessageStore,
    by_hand: &W3Floor,
    w: &Workload,
    op: ReadOp,
    ops: usize,
) -> Result<(BenchResult, BenchResult), StorageError> {
    let mut store_draws = bench::ReadDraws::new(op, w, bench::DEFAULT_SEED)?;
    let mut floor_draws = by_hand
        .reads(w, op, bench::DEFAULT_SEED)
        .map_err(|e| floor_error(&e))?;
    let (mut on_store, mut on_floor) = (Vec::with_capacity(ops), Vec::with_capacity(ops));
    let mut done = 0;
    let mut store_first = true;
    while done < ops {
        let n = W3_SLICE.min(ops - done);
        for side in [store_first, !store_first] {
            for _ in 0..n {
                if side {
                    on_store.push(store_draws.next(store).await?);
                } else {
                    on_floor.push(floor_draws.next().map_err(|e| floor_error(&e))?);
                }
            }
        }
        store_first = !store_first;
        done += n;
    }
    let p50_ratio = floor::median_ratio(&on_store, &on_floor);
    Ok((
        bench::reads_result("W3", store.name(), op, &mut on_store)
            .with_extra("floor_p50_ratio", p50_ratio),
        bench::reads_result("W3", floor::BACKEND, op, &mut on_floor)
            .with_extra("floor", floor::TAG),
    ))
}

/// A floor's failure as the bench's error.
fn floor_error(e: &rusqlite::Error) -> StorageError {
    StorageError::data("chat-bench rusqlite floor", e.to_string())
}

/// The store's workloads, each beside its floor, every store result tagged with
/// `floor_ratio` (store ops/s ÷ floor ops/s): W1 `seq` (alternating with it in slices of
/// [`W1_SLICE`] sessions) and `c16` against one transaction per message, W1b against one
/// transaction for all (run before and after it), each W3 read against the same read by hand
/// (alternating with it in slices of [`W3_SLICE`] calls, on the same database and the same
/// draws). Returns the results and the W1 database's size in bytes.
async fn run_store(args: &Args, dir: &Path) -> Result<(Vec<BenchResult>, u64), StorageError> {
    let w = &args.workload;
    let floor_error_of = |e: rusqlite::Error| floor_error(&e);

    let w1 = fresh_store(args, dir.join("w1-seq.db")).await?;
    let by_hand = floor::open_w1(&dir.join("raw-txn-per-msg.db"), args.synchronous)
        .map_err(floor_error_of)?;
    let (seq, per_msg) = alternate_w1(w1.as_ref(), &by_hand, w).await?;
    drop(by_hand);
    let seq = with_commits(seq, &w1).await?;

    let c16 = fresh_store(args, dir.join("w1-c16.db")).await?;
    let result = bench::run_w1(c16.clone(), w, Mode::Concurrent(16)).await?;
    let c16_result = with_commits(result, &c16).await?;
    c16.close().await?;

    // The one-transaction floor runs right before and right after W1b (fsync rates on a
    // shared disk drift a lot within a minute).
    let one_txn = |file: &str| {
        floor::run_w1_one_txn(w, args.synchronous, &dir.join(file)).map_err(floor_error_of)
    };
    let one_txn_before = one_txn("raw-one-txn-1.db")?;
    let w1b = fresh_store(args, dir.join("w1b.db")).await?;
    let result = bench::run_w1b(w1b.clone(), w, 500).await?;
    let w1b_result = with_commits(result, &w1b).await?;
    w1b.close().await?;
    let one_txn_after = one_txn("raw-one-txn-2.db")?;
    let one_txn = floor::combine_w1(&one_txn_before, &one_txn_after);

    let tagged = |r: BenchResult, floor: &BenchResult| {
        let ratio = floor::ratio(&r, floor);
        r.with_extra("floor_ratio", ratio)
    };
    let mut results = vec![
        tagged(seq, &per_msg),
        tagged(c16_result, &per_msg),
        tagged(w1b_result, &one_txn),
        per_msg,
        one_txn,
    ];

    let by_hand =
        W3Floor::open(&dir.join("w1-seq.db"), args.synchronous).map_err(|e| floor_error(&e))?;
    for op in ReadOp::ALL {
        let (store, floor) = alternate_reads(w1.as_ref(), &by_hand, w, op, args.ops).await?;
        results.push(tagged(store, &floor));
        results.push(floor);
    }
    drop(by_hand);

    let metrics = w1.metrics().await?;
    let expected = u64::try_from(w.message_count()).unwrap_or(u64::MAX);
    if metrics.total_messages != expected {
        return Err(StorageError::data(
            "chat-bench",
            format!(
                "the W1 database holds {} messages, expected {expected}",
                metrics.total_messages
            ),
        ));
    }
    w1.close().await?;
    Ok((results, metrics.storage_size_bytes))
}

/// What W4 measured at one database size.
struct W4Point {
    /// Messages in the database.
    messages: usize,
    /// Sessions in the database.
    sessions: usize,
    /// Appending the messages since the previous size.
    fill: BenchResult,
    /// `list50` and `count`, in that order.
    reads: Vec<BenchResult>,
    /// Main file + WAL after the reads.
    db_bytes: u64,
}

impl W4Point {
    fn read(&self, op: bench::ReadOp) -> Option<&BenchResult> {
        self.reads
            .iter()
            .find(|r| r.op.as_deref() == Some(op.label()))
    }
}

/// Appends messages `from..` of `workload` to the database at `path` with `store_batch`
/// (batches of [`W4_FILL_BATCH`]) through a store opened with `synchronous = NORMAL`, then
/// closes it (which checkpoints the WAL). The time includes generating the messages and the
/// close.
async fn w4_fill(
    path: &Path,
    workload: &Workload,
    from: usize,
) -> Result<BenchResult, StorageError> {
    let store = SqliteStore::new(SqliteConfig::new(path).with_synchronous(Synchronous::Normal))?;
    store.initialize().await?;
    let end = workload.message_count();
    let started = Instant::now();
    let mut next = from;
    while next < end {
        let upto = (next + W4_FILL_BATCH).min(end);
        let batch: Vec<ChatAppMessage> = (next..upto).map(|i| workload.message(i)).collect();
        for receipt in store.store_batch(&batch).await? {
            if receipt.outcome != StoreOutcome::Stored {
                return Err(StorageError::data(
                    "chat-bench W4",
                    format!(
                        "message {} was {:?} while filling",
                        receipt.id, receipt.outcome
                    ),
                ));
            }
        }
        next = upto;
    }
    store.close().await?;
    let added = u64::try_from(end - from).unwrap_or(u64::MAX);
    Ok(BenchResult::new("W4", "sqlite", added, started.elapsed())
        .with_mode(format!("fill-batch{W4_FILL_BATCH}"))
        .with_extra("messages", end))
}

/// W4 scale: grows one database through [`Args::w4_sizes`] and runs `bench::run_w4` (W3's
/// `list50` and `count`) at each size on a store with the measured settings.
async fn run_w4_scale(args: &Args, dir: &Path) -> Result<Vec<W4Point>, StorageError> {
    let turns = args.workload.turns;
    if turns == 0 {
        return Err(StorageError::data(
            "chat-bench W4",
            "--turns must be positive",
        ));
    }
    let per_session = args.workload.messages_per_session();
    let path = dir.join("w4.db");
    let mut points = Vec::new();
    let mut filled = 0;
    for size in args.w4_sizes() {
        let workload = Workload::new(size.div_ceil(per_session), turns);
        let fill = w4_fill(&path, &workload, filled).await?;
        filled = workload.message_count();
        let store = fresh_store(args, path.clone()).await?;
        let held = store.count(&MessageQuery::default()).await?;
        if usize::try_from(held).ok() != Some(filled) {
            return Err(StorageError::data(
                "chat-bench W4",
                format!("the database holds {held} messages, expected {filled}"),
            ));
        }
        let reads = bench::run_w4(store.clone(), &workload, args.ops, bench::DEFAULT_SEED).await?;
        let db_bytes = store.metrics().await?.storage_size_bytes;
        store.close().await?;
        let point = W4Point {
            messages: filled,
            sessions: workload.sessions,
            fill,
            reads,
            db_bytes,
        };
        println!(
            "W4 at {} messages: fill {:.1}s, list50 p50 {} µs, count p50 {} µs",
            point.messages,
            point.fill.secs,
            point
                .read(bench::ReadOp::List50)
                .and_then(|r| r.p50_us)
                .unwrap_or(0),
            point
                .read(bench::ReadOp::Count)
                .and_then(|r| r.p50_us)
                .unwrap_or(0),
        );
        points.push(point);
    }
    Ok(points)
}

/// `big / small`, or `None` when undefined.
fn ratio(big: Option<u64>, small: Option<u64>) -> Option<f64> {
    let as_f64 = |v: u64| f64::from(u32::try_from(v).unwrap_or(u32::MAX));
    match (big, small) {
        (Some(big), Some(small)) if small > 0 => Some(as_f64(big) / as_f64(small)),
        _ => None,
    }
}

/// The latency ratios of the largest size to the smallest: `(op, p50 ratio, p99 ratio)`.
fn w4_ratios(points: &[W4Point]) -> Vec<(&'static str, Option<f64>, Option<f64>)> {
    let (Some(small), Some(big)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    [bench::ReadOp::List50, bench::ReadOp::Count]
        .into_iter()
        .map(|op| {
            let (s, b) = (small.read(op), big.read(op));
            (
                op.label(),
                ratio(b.and_then(|r| r.p50_us), s.and_then(|r| r.p50_us)),
                ratio(b.and_then(|r| r.p99_us), s.and_then(|r| r.p99_us)),
            )
        })
        .collect()
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

/// Prints W4's summary table and ratio lines.
fn print_w4(points: &[W4Point]) {
    let pair = |r: Option<&BenchResult>| {
        r.map_or_else(
            || "–".to_owned(),
            |r| format!("{} / {}", r.p50_us.unwrap_or(0), r.p99_us.unwrap_or(0)),
        )
    };
    println!("W4 scale (p50 / p99 µs):");
    println!();
    println!("| messages | sessions | list50 | count | database bytes | fill secs |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for p in points {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} |",
            p.messages,
            p.sessions,
            pair(p.read(bench::ReadOp::List50)),
            pair(p.read(bench::ReadOp::Count)),
            p.db_bytes,
            p.fill.secs
        );
    }
    println!();
    if let (Some(small), Some(big)) = (points.first(), points.last()) {
        for (op, p50, p99) in w4_ratios(points) {
            println!(
                "bench=W4 backend=sqlite op={op} ratio={}/{} p50_ratio={} p99_ratio={}",
                big.messages,
                small.messages,
                fmt_ratio(p50),
                fmt_ratio(p99)
            );
        }
    }
}

/// W4 as JSON: one object per size, then the ratios.
fn w4_json(points: &[W4Point]) -> serde_json::Value {
    let sizes: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            serde_json::json!({
                "messages": p.messages,
                "sessions": p.sessions,
                "database_bytes": p.db_bytes,
                "fill": p.fill.to_json(),
                "reads": bench::to_json(&p.reads),
            })
        })
        .collect();
    let ratios: Vec<serde_json::Value> = w4_ratios(points)
        .into_iter()
        .map(|(op, p50, p99)| serde_json::json!({"op": op, "p50_ratio": p50, "p99_ratio": p99}))
        .collect();
    serde_json::json!({"sizes": sizes, "ratios": ratios})
}

/// The W1/W1b/W3 workloads on the store and their rusqlite floors; returns the results and
/// the W1 database's size. Exits the process on failure.
fn run_w1_to_w3(
    args: &Args,
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
) -> (Vec<BenchResult>, u64) {
    match runtime.block_on(run_store(args, dir)) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("chat_bench: {e}");
            std::process::exit(1);
        }
    }
}

fn print_header(args: &Args, dir: &Path) {
    let smoke = if args.smoke {
        " (smoke run; `cargo bench` for the full workload)"
    } else {
        ""
    };
    if !args.w4 {
        println!(
            "chat-bench on sqlite: {} sessions × {} turns = {} messages, {} reads per W3 op{smoke}",
            args.workload.sessions,
            args.workload.turns,
            args.workload.message_count(),
            args.ops,
        );
    }
    if args.w4 || args.smoke {
        let sizes: Vec<String> = args.w4_sizes().iter().map(ToString::to_string).collect();
        println!(
            "chat-bench W4 on sqlite: {} messages, sessions of {} turns, {} reads per op, \
             filled with store_batch({W4_FILL_BATCH}) at synchronous=normal{smoke}",
            sizes.join(" / "),
            args.workload.turns,
            args.ops,
        );
    }
    let defaults = SqliteConfig::new(dir.join("x.db"));
    println!(
        "settings: sqlite {} journal_mode=wal synchronous={} pool_size={} busy_timeout={:?} \
         dir={}",
        rusqlite::version(),
        args.synchronous,
        defaults.pool_size,
        defaults.busy_timeout,
        dir.display()
    );
}

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("chat_bench: {e}");
            std::process::exit(2);
        }
    };
    let temp = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().expect("a temporary directory")),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .expect("a directory");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("chat_bench: {}: {e}", dir.display());
        std::process::exit(1);
    }
    print_header(&args, &dir);
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // `--w4` runs W4 alone; the smoke run does everything.
    let (results, db_bytes) = if args.w4 {
        (Vec::new(), None)
    } else {
        let (results, bytes) = run_w1_to_w3(&args, &dir, &runtime);
        (results, Some(bytes))
    };
    let w4 = if args.w4 || args.smoke {
        match runtime.block_on(run_w4_scale(&args, &dir)) {
            Ok(points) => points,
            Err(e) => {
                eprintln!("chat_bench: W4: {e}");
                std::process::exit(1);
            }
        }
    } else {
        Vec::new()
    };
    let mut all = results.clone();
    for p in &w4 {
        all.push(p.fill.clone());
        all.extend(p.reads.iter().cloned());
    }
    for r in &all {
        println!("{}", r.line());
    }
    println!();
    print!("{}", bench::table(&all));
    println!();
    if !w4.is_empty() {
        print_w4(&w4);
        println!();
    }
    println!("{}", bench::machine_summary());
    if let Some(db_bytes) = db_bytes {
        println!("w1_database_bytes={db_bytes} (main file + WAL after the W3 reads)");
    }
    if let Some(rss) = bench::peak_rss_bytes() {
        println!("peak_rss_bytes={rss}");
    }
    println!("total {:.2}s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let defaults = SqliteConfig::new(dir.join("x.db"));
        let mut report = serde_json::json!({
            "machine": bench::Machine::current().to_json(),
            "backend": "sqlite",
            "settings": {
                "sqlite_version": rusqlite::version(),
                "journal_mode": "wal",
                "synchronous": args.synchronous.to_string(),
                "pool_size": defaults.pool_size,
            },
            "workload": {"sessions": args.workload.sessions, "turns": args.workload.turns},
            "results": bench::to_json(&results),
            "peak_rss_bytes": bench::peak_rss_bytes(),
        });
        if let Some(map) = report.as_object_mut() {
            if let Some(db_bytes) = db_bytes {
                map.insert("w1_database_bytes".into(), db_bytes.into());
            }
            if !w4.is_empty() {
                map.insert("w4".into(), w4_json(&w4));
            }
        }
        let text = serde_json::to_string_pretty(&report).expect("JSON of plain values");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("chat_bench: writing {path}: {e}");
            std::process::exit(1);
        }
        println!("results written to {path}");
    }
}
