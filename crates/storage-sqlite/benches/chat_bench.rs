//! chat-bench (`BENCHMARK.md`) on [`SqliteStore`]: W1 seq and c16, W1b (batches of 500), W3
//! on the W1 database, and — in the same process, on the same data, table shape and indexes —
//! their floors written by hand on rusqlite (see the `floor` module): W1 with one transaction
//! per message (alternating with the store's `seq` slice by slice) and with all messages in one
//! transaction (before and after W1b), and each W3 read (alternating with the store's), so
//! that every store result carries its `floor_ratio`. With `--w4`, W4 instead: W3's `list` and
//! `count` at 10k, 100k and 1M messages. With `--w5`, W5 on the same databases: `search`
//! (limit 20) for a common and a rare word and for `你好`, in one session and across all,
//! alternating with its floor, an unindexed `LIKE '%term%'` on rusqlite (`search_floor`).
//!
//! ```text
//! cargo bench -p hotplex-storage-sqlite --bench chat_bench -- [--sessions N] [--turns N]
//!     [--ops N] [--synchronous full|normal] [--dir DIR] [--json FILE]
//! cargo bench -p hotplex-storage-sqlite --bench chat_bench -- --w4 [--w4-max N] [--turns N]
//!     [--ops N] [--synchronous full|normal] [--dir DIR] [--json FILE]
//! cargo bench -p hotplex-storage-sqlite --bench chat_bench -- --w5 [--w4] [--w4-max N]
//!     [--w5-ops N] [--w5-budget SECS] [--turns N] [--synchronous full|normal] [--dir DIR]
//!     [--json FILE]
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
//! W5 (`--w5`, alone or with `--w4`) runs at each size of the same database, after W4's reads:
//! `--w5-ops` searches (1,000) of each kind on the store and on the floor, alternating in
//! slices of 10; a side that has spent `--w5-budget` seconds (60) on one kind stops early and
//! says so (`capped_after_s`). Every search's hits must be the same messages on both sides.
//!
//! Run as a test (`cargo test --benches`, no `--bench` argument) it does a small smoke run,
//! W4 and W5 included at 400 and 2,000 messages.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, StorageError,
};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use hotplex_storage_testkit::bench::{self, BenchResult, Mode, ReadOp, Workload};

#[path = "chat_bench/floor.rs"]
mod floor;
#[path = "chat_bench/search_floor.rs"]
mod search_floor;

use floor::W3Floor;

/// Command-line options: the shared chat-bench flags plus `--synchronous`, `--dir`, `--w4`,
/// `--w4-max`, `--w5`, `--w5-ops` and `--w5-budget`.
struct Args {
    common: bench::BenchArgs,
    synchronous: Synchronous,
    dir: Option<PathBuf>,
    /// Run W4 (without W1–W3).
    w4: bool,
    /// Run W5 (without W1–W3) on W4's databases.
    w5: bool,
    /// The largest W4 size, if capped.
    w4_max: Option<usize>,
    /// W5's searches per kind, budget and seed.
    w5_options: bench::W5Options,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let args: Vec<String> = args.collect();
        // `--w4` takes no value, so it is not one of `BenchArgs`' extra flags (which take
        // one each); `BenchArgs` ignores it.
        let w4 = args.iter().any(|a| a == "--w4");
        let w5 = args.iter().any(|a| a == "--w5");
        let common = bench::BenchArgs::parse(
            args,
            &[
                "--synchronous",
                "--dir",
                "--w4-max",
                "--w5-ops",
                "--w5-budget",
            ],
        )?;
        let synchronous = match common.value("--synchronous") {
            Some(value) => value.parse().map_err(|e: StorageError| e.to_string())?,
            None => Synchronous::Full,
        };
        let dir = common.value("--dir").map(PathBuf::from);
        let w4_max = common.positive("--w4-max")?;
        let w5_options = bench::W5Options::from_args(&common)?;
        Ok(Self {
            common,
            synchronous,
            dir,
            w4,
            w5,
            w4_max,
            w5_options,
        })
    }

    /// The W4/W5 sizes to measure, smallest first: `BENCHMARK.md`'s (or the smoke run's),
    /// those above `--w4-max` replaced by `--w4-max` itself.
    fn w4_sizes(&self) -> Vec<usize> {
        bench::scale_sizes(self.smoke, self.w4_max)
    }

    /// Whether W4's reads run at each size (`--w4`, or the smoke run).
    fn runs_w4(&self) -> bool {
        self.w4 || self.smoke
    }

    /// Whether W5 runs at each size (`--w5`, or the smoke run).
    fn runs_w5(&self) -> bool {
        self.w5 || self.smoke
    }

    /// Whether W1–W3 run (neither `--w4` nor `--w5`).
    fn runs_w1_to_w3(&self) -> bool {
        !self.w4 && !self.w5
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
    // What every pooled read pays before its SQL runs (see docs/benchmarks.md).
    results.push(bench::run_spawn_blocking_hop(args.ops).await);

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
    /// `list50` and `count`, in that order (empty without W4).
    reads: Vec<BenchResult>,
    /// W5: each search on the store, then on its floor (empty without W5).
    searches: Vec<BenchResult>,
    /// Messages containing each W5 term.
    terms: bench::TermCounts,
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

/// Appends messages `from..` of `workload` to the database at `path` with `bench::fill`
/// through a store opened with `synchronous = NORMAL`, then closes it (which checkpoints the
/// WAL). The time includes generating the messages and the close.
async fn w4_fill(
    path: &Path,
    workload: &Workload,
    from: usize,
) -> Result<BenchResult, StorageError> {
    let store = SqliteStore::new(SqliteConfig::new(path).with_synchronous(Synchronous::Normal))?;
    store.initialize().await?;
    let started = Instant::now();
    let fill = bench::fill(&store, workload, from).await?;
    store.close().await?;
    let mut with_close = BenchResult::new("W4", &fill.backend, fill.ops, started.elapsed());
    with_close.mode = fill.mode;
    with_close.extra = fill.extra;
    Ok(with_close)
}

/// W5 at one size: every search on `store` beside the `LIKE` floor on a read-only rusqlite
/// connection to the same file.
async fn w5_at(
    args: &Args,
    store: &SqliteStore,
    path: &Path,
    workload: &Workload,
    terms: &bench::TermCounts,
) -> Result<Vec<BenchResult>, StorageError> {
    let by_hand = W3Floor::open(path, args.synchronous).map_err(|e| floor_error(&e))?;
    for plan in search_floor::LikeFloor::plans(by_hand.conn()).map_err(|e| floor_error(&e))? {
        println!("W5 floor plan at {} messages, {plan}", terms.messages);
    }
    let mut like = search_floor::LikeFloor::prepare(by_hand.conn()).map_err(|e| floor_error(&e))?;
    bench::run_w5(store, &mut like, workload, terms, &args.w5_options).await
}

/// W4 scale: grows one database through [`Args::w4_sizes`] and runs `bench::run_w4` (W3's
/// `list50` and `count`) and W5 ([`w5_at`]) at each size on a store with the measured
/// settings, as [`Args::runs_w4`] and [`Args::runs_w5`] say.
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
    let mut terms = bench::TermCounts::default();
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
        let reads = if args.runs_w4() {
            bench::run_w4(store.clone(), &workload, args.ops, bench::DEFAULT_SEED).await?
        } else {
            Vec::new()
        };
        terms.grow_to(filled);
        let searches = if args.runs_w5() {
            println!("{}", terms.summary());
            w5_at(args, &store, &path, &workload, &terms).await?
        } else {
            Vec::new()
        };
        let db_bytes = store.metrics().await?.storage_size_bytes;
        store.close().await?;
        let point = W4Point {
            messages: filled,
            sessions: workload.sessions,
            fill,
            reads,
            searches,
            terms: terms.clone(),
            db_bytes,
        };
        let p50 = |r: Option<&BenchResult>| {
            r.and_then(|r| r.p50_us)
                .map_or_else(|| "–".to_owned(), |us| format!("{us} µs"))
        };
        println!(
            "at {} messages: fill {:.1}s, W4 list50 p50 {}, count p50 {}, W5 {} searches",
            point.messages,
            point.fill.secs,
            p50(point.read(bench::ReadOp::List50)),
            p50(point.read(bench::ReadOp::Count)),
            point.searches.iter().map(|r| r.ops).sum::<u64>(),
        );
        points.push(point);
    }
    Ok(points)
}

impl W4Point {
    /// W4's reads and W5's searches at this size.
    fn measured(&self) -> Vec<BenchResult> {
        self.reads.iter().chain(&self.searches).cloned().collect()
    }
}

/// The latency ratios of the largest size to the smallest, W4's reads and W5's searches (the
/// store's and the floor's).
fn scale_ratios(points: &[W4Point]) -> Vec<bench::ScaleRatio> {
    match (points.first(), points.last()) {
        (Some(small), Some(big)) if points.len() > 1 => bench::scale_ratios(
            small.messages,
            &small.measured(),
            big.messages,
            &big.measured(),
        ),
        _ => Vec::new(),
    }
}

/// Prints W4's and W5's summary tables and the ratio lines.
fn print_w4(points: &[W4Point]) {
    let pair = |r: Option<&BenchResult>| {
        r.map_or_else(
            || "–".to_owned(),
            |r| format!("{} / {}", r.p50_us.unwrap_or(0), r.p99_us.unwrap_or(0)),
        )
    };
    let with_reads = points.iter().any(|p| !p.reads.is_empty());
    println!(
        "W4 scale{}:",
        if with_reads {
            " (p50 / p99 µs)"
        } else {
            ", reads skipped"
        }
    );
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
    let sizes: Vec<(usize, &[BenchResult])> = points
        .iter()
        .map(|p| (p.messages, p.searches.as_slice()))
        .collect();
    bench::print_w5_table(&sizes);
    for ratio in scale_ratios(points) {
        println!("{}", ratio.line());
    }
}

/// W4 and W5 as JSON: one object per size, then the ratios.
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
                "searches": bench::to_json(&p.searches),
                "messages_containing": p.terms.to_json(),
            })
        })
        .collect();
    let ratios: Vec<serde_json::Value> = scale_ratios(points)
        .iter()
        .map(bench::ScaleRatio::to_json)
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
    if args.runs_w1_to_w3() {
        println!(
            "chat-bench on sqlite: {} sessions × {} turns = {} messages, {} reads per W3 op{smoke}",
            args.workload.sessions,
            args.workload.turns,
            args.workload.message_count(),
            args.ops,
        );
    }
    if args.runs_w4() || args.runs_w5() {
        let sizes: Vec<String> = args.w4_sizes().iter().map(ToString::to_string).collect();
        let reads = if args.runs_w4() {
            format!("W4: {} reads per op", args.ops)
        } else {
            "W4 reads skipped".to_owned()
        };
        let searches = if args.runs_w5() {
            format!(
                "W5: {} searches per kind and side (limit {}), at most {}s per kind and side",
                args.w5_options.ops,
                bench::W5_LIMIT,
                args.w5_options.budget.as_secs()
            )
        } else {
            "W5 skipped".to_owned()
        };
        println!(
            "chat-bench scale on sqlite: {} messages, sessions of {} turns, filled with \
             store_batch({}) at synchronous=normal; {reads}; {searches}{smoke}",
            sizes.join(" / "),
            args.workload.turns,
            bench::FILL_BATCH,
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
    // `--w4` / `--w5` run the scale workloads alone; the smoke run does everything.
    let (results, db_bytes) = if args.runs_w1_to_w3() {
        let (results, bytes) = run_w1_to_w3(&args, &dir, &runtime);
        (results, Some(bytes))
    } else {
        (Vec::new(), None)
    };
    let w4 = if args.runs_w4() || args.runs_w5() {
        match runtime.block_on(run_w4_scale(&args, &dir)) {
            Ok(points) => points,
            Err(e) => {
                eprintln!("chat_bench: W4/W5: {e}");
                std::process::exit(1);
            }
        }
    } else {
        Vec::new()
    };
    let mut all = results.clone();
    for p in &w4 {
        all.push(p.fill.clone());
        all.extend(p.measured());
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
