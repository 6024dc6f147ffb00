//! chat-bench (`BENCHMARK.md`) on [`SqliteStore`]: W1 seq and c16, W1b (batches of 500), W3
//! on the W1 database, and — in the same process, on the same data, table shape and indexes —
//! the W1 workload written directly against rusqlite: one transaction per message, and all
//! messages in one transaction.
//!
//! ```text
//! cargo bench -p hotplex-storage-sqlite --bench chat_bench -- [--sessions N] [--turns N]
//!     [--ops N] [--synchronous full|normal] [--dir DIR] [--json FILE]
//! ```
//!
//! Defaults are `BENCHMARK.md`'s (1,000 sessions × 20 turns, 5,000 reads per W3 operation)
//! with the store's default durability (`synchronous = FULL`), in a temporary directory (or
//! under `--dir`). Run as a test (`cargo test --benches`, no `--bench` argument) it does a
//! small smoke run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, StorageError, time};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use hotplex_storage_testkit::bench::{self, BenchResult, Mode};
use rusqlite::{Connection, OptionalExtension, params};

/// The schema the store creates (migration 1), so the baselines write the same table shape
/// and indexes.
const SCHEMA: &str = include_str!("../src/migrations/0001_initial_schema.sql");

/// Command-line options: the shared chat-bench flags plus `--synchronous` and `--dir`.
struct Args {
    common: bench::BenchArgs,
    synchronous: Synchronous,
    dir: Option<PathBuf>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let common = bench::BenchArgs::parse(args, &["--synchronous", "--dir"])?;
        let synchronous = match common.value("--synchronous") {
            Some(value) => value.parse().map_err(|e: StorageError| e.to_string())?,
            None => Synchronous::Full,
        };
        let dir = common.value("--dir").map(PathBuf::from);
        Ok(Self {
            common,
            synchronous,
            dir,
        })
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

/// The store's workloads; returns the results and the W1 database's size in bytes.
async fn run_store(args: &Args, dir: &Path) -> Result<(Vec<BenchResult>, u64), StorageError> {
    let w = &args.workload;
    let mut results = Vec::new();

    let w1 = fresh_store(args, dir.join("w1-seq.db")).await?;
    let seq = bench::run_w1(w1.clone(), w, Mode::Seq).await?;
    results.push(with_commits(seq, &w1).await?);

    let c16 = fresh_store(args, dir.join("w1-c16.db")).await?;
    let result = bench::run_w1(c16.clone(), w, Mode::Concurrent(16)).await?;
    results.push(with_commits(result, &c16).await?);
    c16.close().await?;

    let w1b = fresh_store(args, dir.join("w1b.db")).await?;
    let result = bench::run_w1b(w1b.clone(), w, 500).await?;
    results.push(with_commits(result, &w1b).await?);
    w1b.close().await?;

    results.extend(bench::run_w3(w1.clone(), w, args.ops, bench::DEFAULT_SEED).await?);
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

/// How the rusqlite baseline groups its writes.
#[derive(Clone, Copy)]
enum Baseline {
    /// `BEGIN IMMEDIATE` … `COMMIT` around every message.
    TxnPerMessage,
    /// One transaction for the whole run.
    OneTxn,
}

/// W1 `seq` written directly against rusqlite: same pragmas, schema and statements (message
/// insert plus session-meta upsert), no validation, no queue, no thread hop.
fn run_baseline(args: &Args, path: &Path, mode: Baseline) -> rusqlite::Result<BenchResult> {
    let conn = Connection::open(path)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", args.synchronous.as_pragma())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.execute_batch(SCHEMA)?;
    let msgs: Vec<ChatAppMessage> = args.workload.messages().collect();
    let started = Instant::now();
    if let Baseline::OneTxn = mode {
        conn.execute_batch("BEGIN IMMEDIATE")?;
    }
    for msg in &msgs {
        if let Baseline::TxnPerMessage = mode {
            conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        insert(&conn, msg)?;
        if let Baseline::TxnPerMessage = mode {
            conn.execute_batch("COMMIT")?;
        }
    }
    if let Baseline::OneTxn = mode {
        conn.execute_batch("COMMIT")?;
    }
    let elapsed = started.elapsed();
    let label = match mode {
        Baseline::TxnPerMessage => "seq-txn-per-msg",
        Baseline::OneTxn => "seq-one-txn",
    };
    Ok(BenchResult::new(
        "W1",
        "rusqlite",
        u64::try_from(msgs.len()).unwrap_or(u64::MAX),
        elapsed,
    )
    .with_mode(label))
}

/// What the store does per message, written by hand.
fn insert(conn: &Connection, msg: &ChatAppMessage) -> rusqlite::Result<()> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = time::to_micros(time::now_micros());
    let metadata = serde_json::to_string(&msg.metadata).unwrap_or_else(|_| "{}".into());
    let seq: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO messages (id, chat_session_id, chat_platform, chat_user_id, \
             chat_bot_user_id, chat_channel_id, chat_thread_id, engine_session_id, \
             engine_namespace, provider_session_id, provider_type, message_type, from_user_id, \
             from_user_name, to_user_id, content, metadata, created_at, updated_at, deleted, \
             deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
             ?15, ?16, ?17, ?18, ?18, 0, NULL) ON CONFLICT (id) DO NOTHING RETURNING seq",
        )?
        .query_row(
            params![
                id,
                msg.chat_session_id,
                msg.chat_platform,
                msg.chat_user_id,
                msg.chat_bot_user_id,
                msg.chat_channel_id,
                msg.chat_thread_id,
                msg.engine_session_id.hyphenated().to_string(),
                msg.engine_namespace,
                msg.provider_session_id,
                msg.provider_type,
                msg.message_type.as_str(),
                msg.from_user_id,
                msg.from_user_name,
                msg.to_user_id,
                msg.content,
                metadata,
                now,
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(seq) = seq {
        conn.prepare_cached(
            "INSERT INTO session_meta (chat_session_id, chat_platform, chat_user_id, \
             last_message_id, last_message_at, last_message_seq, message_count, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?5, ?5) \
             ON CONFLICT (chat_session_id) DO UPDATE SET \
             chat_platform = CASE WHEN chat_platform = '' THEN excluded.chat_platform \
             ELSE chat_platform END, \
             chat_user_id = CASE WHEN chat_user_id = '' THEN excluded.chat_user_id \
             ELSE chat_user_id END, \
             last_message_id = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
             > (last_message_at, last_message_seq) THEN excluded.last_message_id \
             ELSE last_message_id END, \
             last_message_seq = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
             > (last_message_at, last_message_seq) THEN excluded.last_message_seq \
             ELSE last_message_seq END, \
             last_message_at = max(last_message_at, excluded.last_message_at), \
             message_count = message_count + 1, updated_at = excluded.updated_at",
        )?
        .execute(params![
            msg.chat_session_id,
            msg.chat_platform,
            msg.chat_user_id,
            id,
            now,
            seq
        ])?;
    }
    Ok(())
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
    let defaults = SqliteConfig::new(dir.join("x.db"));
    println!(
        "chat-bench on sqlite: {} sessions × {} turns = {} messages, {} reads per W3 op{}",
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
    println!(
        "settings: sqlite {} journal_mode=wal synchronous={} pool_size={} busy_timeout={:?} \
         dir={}",
        rusqlite::version(),
        args.synchronous,
        defaults.pool_size,
        defaults.busy_timeout,
        dir.display()
    );
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut results, db_bytes) = match runtime.block_on(run_store(&args, &dir)) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("chat_bench: {e}");
            std::process::exit(1);
        }
    };
    for (mode, file) in [
        (Baseline::TxnPerMessage, "raw-txn-per-msg.db"),
        (Baseline::OneTxn, "raw-one-txn.db"),
    ] {
        match run_baseline(&args, &dir.join(file), mode) {
            Ok(result) => results.push(result),
            Err(e) => {
                eprintln!("chat_bench: rusqlite baseline: {e}");
                std::process::exit(1);
            }
        }
    }
    for r in &results {
        println!("{}", r.line());
    }
    println!();
    print!("{}", bench::table(&results));
    println!();
    println!("{}", bench::machine_summary());
    println!("w1_database_bytes={db_bytes} (main file + WAL after the W3 reads)");
    if let Some(rss) = bench::peak_rss_bytes() {
        println!("peak_rss_bytes={rss}");
    }
    println!("total {:.2}s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "machine": bench::Machine::current().to_json(),
            "backend": "sqlite",
            "settings": {
                "sqlite_version": rusqlite::version(),
                "journal_mode": "wal",
                "synchronous": args.synchronous.to_string(),
                "pool_size": defaults.pool_size,
            },
            "workload": {"sessions": args.workload.sessions, "turns": args.workload.turns},
            "w1_database_bytes": db_bytes,
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
