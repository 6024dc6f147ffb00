//! Page loads of `hotplex-storage serve` on the W5 search database (`BENCHMARK.md`: the
//! chat-bench workload at 25,000 sessions × 20 turns = 1,000,000 messages of 40–1,600 bytes,
//! ASCII and CJK words, `vacuum` in 1 message of 1,000, `你好` in 1 of 50, `zephyr` in 5 old
//! ones). Target: every page under 100 ms.
//!
//! ```text
//! cargo bench -p hotplex-storage-cli --bench serve_pages -- [--messages N] [--requests N]
//!     [--db FILE]
//! ```
//!
//! The database (default `target/tmp/serve-bench/w5-<N>.db`) is filled once through the
//! registry's SQLite store (`synchronous = normal`, batches of 500: a fill, not a
//! measurement) and reused by later runs. The release binary then serves it on 127.0.0.1 with
//! the default settings, and each page is fetched `--requests` times (30) after one warm-up,
//! each on a new connection, timed from connect to the last byte; the lines give p50, p95 and
//! the maximum in milliseconds and the page's size. Without `--bench` (`cargo test
//! --benches`) it is a smoke run on 2,000 messages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hotplex_storage_core::MessageQuery;
use hotplex_storage_registry::{ConfigValue, StorageConfig};
use hotplex_storage_testkit::bench::{self, BenchArgs, Workload};

#[allow(
    dead_code,
    reason = "shared with the viewer tests; the bench uses only part of it"
)]
#[path = "../tests/viewer/process.rs"]
mod process;

use process::{Viewer, encode};

/// The page-load target.
const TARGET: Duration = Duration::from_millis(100);

/// Turns per session, as in W4/W5.
const TURNS: usize = 20;

fn main() {
    let args = match BenchArgs::parse(
        std::env::args().skip(1),
        &["--messages", "--requests", "--db"],
    ) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("serve_pages: {e}");
            std::process::exit(2);
        }
    };
    let positive = |flag| {
        args.positive(flag).unwrap_or_else(|e| {
            eprintln!("serve_pages: {e}");
            std::process::exit(2)
        })
    };
    let messages = positive("--messages").unwrap_or(if args.smoke { 2_000 } else { 1_000_000 });
    let requests = positive("--requests").unwrap_or(if args.smoke { 3 } else { 30 });
    let workload = Workload::new(messages.div_ceil(TURNS * 2), TURNS);
    let db = args.value("--db").map_or_else(
        || {
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("serve-bench")
                .join(format!("w5-{}.db", workload.message_count()))
        },
        PathBuf::from,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(prepare(&db, &workload));
    measure(&db, &workload, requests);
}

/// Fills `db` with `workload` (appending what an earlier run left out).
async fn prepare(db: &Path, workload: &Workload) {
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir).expect("the database directory");
    }
    let path = db.to_str().expect("a UTF-8 path").to_owned();
    let cfg = StorageConfig::new()
        .with_type("sqlite")
        .with_sqlite_path(path)
        .with_backend_value(
            "sqlite",
            "synchronous",
            ConfigValue::Text("normal".to_owned()),
        );
    let store = hotplex_storage_registry::open(&cfg)
        .await
        .expect("open the bench database");
    let have = store
        .count(&MessageQuery::default().with_include_deleted(true))
        .await
        .expect("count");
    let have = usize::try_from(have).expect("a count that fits");
    assert!(
        have <= workload.message_count(),
        "{} holds {have} messages, more than the {} asked for: give another --db",
        db.display(),
        workload.message_count()
    );
    if have < workload.message_count() {
        eprintln!(
            "serve_pages: filling {} from {have} to {} messages",
            db.display(),
            workload.message_count()
        );
        let fill = bench::fill(store.as_ref(), workload, have)
            .await
            .expect("fill the bench database");
        eprintln!("{}", fill.line());
    }
    store.close().await.expect("close");
}

/// Serves `db` and times every page.
fn measure(db: &Path, workload: &Workload, requests: usize) {
    let stderr = std::env::temp_dir().join(format!("serve-pages-{}.err", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotplex-storage"));
    command.args([
        "--sqlite-path",
        db.to_str().expect("a UTF-8 path"),
        "serve",
        "--addr",
        "127.0.0.1:0",
    ]);
    let viewer = Viewer::spawn(command, stderr.clone());
    let middle = workload.sessions / 2;
    let session = encode(&Workload::session_id(middle));
    let user = Workload::user_id(middle);
    let mut pages: Vec<(String, String)> = [
        ("home", "/".to_owned()),
        ("health", "/health".to_owned()),
        ("sessions", format!("/sessions?user={user}")),
        ("thread", format!("/thread?session={session}")),
        (
            "thread_newest",
            format!("/thread?session={session}&newest=1"),
        ),
        ("thread_500", format!("/thread?session={session}&limit=500")),
        ("search_common", "/search?q=storage".to_owned()),
        ("search_rare", "/search?q=vacuum".to_owned()),
        ("search_needle", "/search?q=zephyr".to_owned()),
        ("search_cjk3", format!("/search?q={}", encode("数据库"))),
        (
            "search_cjk2",
            format!("/search?q={}", encode(bench::GREETING)),
        ),
        (
            "search_two_terms",
            format!("/search?q={}", encode("vacuum 数据库")),
        ),
        ("search_absent", "/search?q=qwertyuiop".to_owned()),
        (
            "search_session",
            format!("/search?q=storage&session={session}"),
        ),
        ("search_100", "/search?q=vacuum&limit=100".to_owned()),
    ]
    .into_iter()
    .map(|(name, path)| (name.to_owned(), path))
    .collect();
    // The second page of the rare search, from the first page's link.
    let first = viewer.get("/search?q=vacuum", &[]);
    if let Some(next) = first.link("next") {
        pages.push(("search_rare_page2".to_owned(), next));
    }
    println!(
        "serve_pages: {} messages in {} sessions, {requests} requests per page; {}",
        workload.message_count(),
        workload.sessions,
        bench::machine_summary()
    );
    let mut missed = Vec::new();
    for (name, path) in &pages {
        let warm = viewer.get(path, &[]);
        assert_eq!(warm.status, 200, "{name} {path}: {}", warm.body);
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let started = Instant::now();
            let answer = viewer.get(path, &[]);
            times.push(started.elapsed());
            assert_eq!(answer.status, 200, "{name}");
        }
        times.sort();
        let p50 = times[times.len() / 2];
        let p95 = times[(times.len() * 95).div_ceil(100).saturating_sub(1)];
        let max = times[times.len() - 1];
        let verdict = if p95 < TARGET { "ok" } else { "MISSED" };
        if p95 >= TARGET {
            missed.push(name.clone());
        }
        println!(
            "page={name} p50_ms={:.1} p95_ms={:.1} max_ms={:.1} bytes={} target_100ms={verdict}",
            ms(p50),
            ms(p95),
            ms(max),
            warm.body.len()
        );
    }
    let (status, log) = viewer.stop("TERM");
    assert!(status.success(), "serve: {log}");
    let _ = std::fs::remove_file(&stderr);
    if missed.is_empty() {
        println!("serve_pages: every page's p95 is under 100 ms");
    } else {
        println!("serve_pages: p95 at or over 100 ms: {}", missed.join(", "));
    }
}

/// Milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
