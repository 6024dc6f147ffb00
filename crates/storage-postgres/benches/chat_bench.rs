//! chat-bench (`BENCHMARK.md`) on [`PostgresStore`]: W1 seq and c16, W1b (batches of 500) and
//! W3 on the W1 database, and — in the same run, on the same server, schema and indexes — the
//! floor on the bare `postgres` driver: W1 with one transaction per message (insert + session
//! meta upsert, prepared statements, no pool, no async) and W3's five reads decoded into plain
//! tuples. Each floor workload runs right next to the store's (shared machines drift), and
//! the cost of one `spawn_blocking` hop is measured too. Ratios to the floor close the output.
//! With `--w5`, W5 instead (module `search`): one database grown to 10k, 100k and 1M messages
//! (`--w4-max N` caps it), and at each size `search` beside an unindexed `LIKE '%term%'` on
//! the bare driver, `--w5-ops` (1,000) searches of each kind and side, at most `--w5-budget`
//! seconds (60) of each.
//!
//! ```text
//! cargo bench -p hotplex-storage-postgres --bench chat_bench -- [--sessions N] [--turns N]
//!     [--ops N] [--level 1|2] [--max-connections N] [--json FILE]
//! cargo bench -p hotplex-storage-postgres --bench chat_bench -- --w5 [--w4-max N]
//!     [--w5-ops N] [--w5-budget SECS] [--turns N] [--level 1|2] [--json FILE]
//! ```
//!
//! The server is the testkit's (`HOTPLEX_TEST_POSTGRES_DSN`, else a throwaway cluster); every
//! workload gets a fresh database. Run as a test (`cargo test --benches`) it does a small smoke
//! run, W5 included at 400 and 2,000 messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, StorageError};
use hotplex_storage_postgres::{PostgresConfig, PostgresStore};
use hotplex_storage_testkit::bench::{self, BenchResult, Mode, ReadOp, SplitMix64, Workload};
use hotplex_storage_testkit::{PgDatabase, PgServer};
use postgres::{Client, NoTls, Statement};

#[path = "chat_bench/search.rs"]
mod search;

/// The level-1 schema the store creates (both migrations), so the floor writes the same table
/// and indexes, the search index included.
const SCHEMA: &str = concat!(
    include_str!("../src/migrations/0001_level1_schema.sql"),
    include_str!("../src/migrations/0002_search_index.sql")
);

/// Command-line options: the shared flags plus `--level`, `--max-connections`, `--w5`,
/// `--w4-max`, `--w5-ops` and `--w5-budget`.
struct Args {
    common: bench::BenchArgs,
    level: u8,
    max_connections: u32,
    /// Run W5 (only).
    w5: bool,
    /// The largest W5 size, if capped.
    w4_max: Option<usize>,
    /// W5's searches per kind, budget and seed.
    w5_options: bench::W5Options,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let args: Vec<String> = args.collect();
        // `--w5` takes no value, so it is not one of `BenchArgs`' extra flags.
        let w5 = args.iter().any(|a| a == "--w5");
        let common = bench::BenchArgs::parse(
            args,
            &[
                "--level",
                "--max-connections",
                "--w4-max",
                "--w5-ops",
                "--w5-budget",
            ],
        )?;
        let level = match common.value("--level") {
            Some(v) => v.parse().map_err(|e| format!("--level {v:?}: {e}"))?,
            None => 1,
        };
        let max_connections = match common.value("--max-connections") {
            Some(v) => v
                .parse()
                .map_err(|e| format!("--max-connections {v:?}: {e}"))?,
            None => 16,
        };
        let w4_max = common.positive("--w4-max")?;
        let w5_options = bench::W5Options::from_args(&common)?;
        Ok(Self {
            common,
            level,
            max_connections,
            w5,
            w4_max,
            w5_options,
        })
    }
}

fn fail(context: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("chat_bench: {context}: {e}");
    std::process::exit(1);
}

fn database(server: &PgServer) -> PgDatabase {
    server
        .create_database()
        .unwrap_or_else(|e| fail("create a database", e))
}

async fn fresh_store(args: &Args, db: &PgDatabase) -> Result<Arc<PostgresStore>, StorageError> {
    let config = PostgresConfig::from_dsn(&db.dsn())?
        .with_level(args.level)
        .with_max_connections(args.max_connections);
    let store = Arc::new(PostgresStore::new(config)?);
    store.initialize().await?;
    Ok(store)
}

const FLOOR: &str = "postgres-driver";

const INSERT: &str = "INSERT INTO messages (id, chat_session_id, chat_platform, chat_user_id, \
    chat_bot_user_id, chat_channel_id, chat_thread_id, engine_session_id, engine_namespace, \
    provider_session_id, provider_type, message_type, from_user_id, from_user_name, to_user_id, \
    content, metadata, created_at, updated_at, content_folded) VALUES ($1, $2, $3, $4, $5, $6, \
    $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19) \
    ON CONFLICT (id) DO NOTHING RETURNING seq";

const UPSERT_META: &str = "INSERT INTO session_meta AS m (chat_session_id, chat_platform, \
    chat_user_id, last_message_id, last_message_at, last_message_seq, message_count, \
    created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $5, $5) \
    ON CONFLICT (chat_session_id) DO UPDATE SET \
    chat_platform = CASE WHEN m.chat_platform = '' THEN excluded.chat_platform ELSE m.chat_platform END, \
    chat_user_id = CASE WHEN m.chat_user_id = '' THEN excluded.chat_user_id ELSE m.chat_user_id END, \
    last_message_id = excluded.last_message_id, last_message_at = excluded.last_message_at, \
    last_message_seq = excluded.last_message_seq, message_count = m.message_count + 1, \
    updated_at = excluded.updated_at";

/// W1 `seq` by hand: one transaction per message (insert, then the meta upsert), prepared.
fn floor_w1(client: &mut Client, workload: &Workload) -> Result<BenchResult, postgres::Error> {
    let insert = client.prepare(INSERT)?;
    let upsert = client.prepare(UPSERT_META)?;
    let msgs: Vec<ChatAppMessage> = workload.messages().collect();
    let started = Instant::now();
    for msg in &msgs {
        let id = uuid::Uuid::now_v7().to_string();
        let now = hotplex_storage_core::time::now_micros();
        let metadata = serde_json::to_string(&msg.metadata).unwrap_or_else(|_| "{}".into());
        let folded = hotplex_storage_core::fold(&msg.content);
        let mut tx = client.transaction()?;
        let seq: Option<i64> = tx
            .query_opt(
                &insert,
                &[
                    &id,
                    &msg.chat_session_id,
                    &msg.chat_platform,
                    &msg.chat_user_id,
                    &msg.chat_bot_user_id,
                    &msg.chat_channel_id,
                    &msg.chat_thread_id,
                    &msg.engine_session_id,
                    &msg.engine_namespace,
                    &msg.provider_session_id,
                    &msg.provider_type,
                    &msg.message_type.as_str(),
                    &msg.from_user_id,
                    &msg.from_user_name,
                    &msg.to_user_id,
                    &msg.content,
                    &metadata,
                    &now,
                    &folded,
                ],
            )?
            .map(|row| row.get(0));
        if let Some(seq) = seq {
            tx.execute(
                &upsert,
                &[
                    &msg.chat_session_id,
                    &msg.chat_platform,
                    &msg.chat_user_id,
                    &id,
                    &now,
                    &seq,
                ],
            )?;
        }
        tx.commit()?;
    }
    Ok(BenchResult::new(
        "W1",
        FLOOR,
        u64::try_from(msgs.len()).unwrap_or(u64::MAX),
        started.elapsed(),
    )
    .with_mode("seq-txn-per-msg"))
}

/// A message decoded into a plain tuple (what a hand-written reader would keep).
type Tuple = (
    i64,
    String,
    String,
    String,
    String,
    String,
    chrono::DateTime<Utc>,
);

/// The floor's prepared W3 statements.
struct FloorReads {
    list50: Statement,
    count: Statement,
    meta: Statement,
    user_sessions: Statement,
    get: Statement,
    ids_of_session: Statement,
}

impl FloorReads {
    fn prepare(client: &mut Client) -> Result<Self, postgres::Error> {
        const MESSAGE: &str = "SELECT seq, id, chat_session_id, message_type, content, \
                               metadata, created_at FROM messages";
        Ok(Self {
            list50: client.prepare(&format!(
                "{MESSAGE} WHERE chat_session_id = $1 AND NOT deleted \
                 ORDER BY created_at DESC, seq DESC LIMIT 50"
            ))?,
            count: client.prepare(
                "SELECT count(*) FROM messages WHERE chat_session_id = $1 AND NOT deleted",
            )?,
            meta: client.prepare(
                "SELECT chat_session_id, chat_platform, chat_user_id, last_message_id, \
                 last_message_at, message_count FROM session_meta WHERE chat_session_id = $1",
            )?,
            user_sessions: client.prepare(
                "SELECT chat_session_id FROM session_meta WHERE chat_platform = $1 AND \
                 chat_user_id = $2 ORDER BY last_message_at DESC, chat_session_id",
            )?,
            get: client.prepare(&format!("{MESSAGE} WHERE id = $1 AND NOT deleted"))?,
            ids_of_session: client
                .prepare("SELECT id FROM messages WHERE chat_session_id = $1 AND NOT deleted")?,
        })
    }
}

fn tuple(row: &postgres::Row) -> Tuple {
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
    )
}

/// One timed read of `kind` on session `s` (a `get` first lists the session's ids, untimed).
fn timed_read(
    client: &mut Client,
    st: &FloorReads,
    kind: ReadOp,
    s: usize,
    rng: &mut SplitMix64,
    ids_of: &mut HashMap<usize, Vec<String>>,
) -> Result<Duration, postgres::Error> {
    let session = Workload::session_id(s);
    let t = Instant::now();
    match kind {
        ReadOp::List50 => {
            let rows: Vec<Tuple> = client
                .query(&st.list50, &[&session])?
                .iter()
                .map(tuple)
                .collect();
            std::hint::black_box(rows);
        }
        ReadOp::Count => {
            let n: i64 = client.query_one(&st.count, &[&session])?.get(0);
            std::hint::black_box(n);
        }
        ReadOp::SessionMeta => {
            let row = client.query_one(&st.meta, &[&session])?;
            let m: (String, String, String, String, chrono::DateTime<Utc>, i64) = (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
            );
            std::hint::black_box(m);
        }
        ReadOp::UserSessions => {
            let user = Workload::user_id(s);
            let ids: Vec<String> = client
                .query(&st.user_sessions, &[&bench::PLATFORM, &user])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            std::hint::black_box(ids);
        }
        ReadOp::Get => {
            if let std::collections::hash_map::Entry::Vacant(slot) = ids_of.entry(s) {
                let ids = client
                    .query(&st.ids_of_session, &[&session])?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                slot.insert(ids);
            }
            let ids = &ids_of[&s];
            let id = &ids[rng.below(ids.len())];
            let t = Instant::now();
            let row = client.query_one(&st.get, &[id])?;
            std::hint::black_box(tuple(&row));
            return Ok(t.elapsed());
        }
    }
    Ok(t.elapsed())
}

/// One W3 operation by hand on the floor's W1 database: the same session draws as
/// `bench::run_reads` with `seed`, prepared statements, rows decoded into plain tuples.
fn floor_read(
    client: &mut Client,
    statements: &FloorReads,
    workload: &Workload,
    kind: ReadOp,
    ops: usize,
    seed: u64,
    ids_of: &mut HashMap<usize, Vec<String>>,
) -> Result<BenchResult, postgres::Error> {
    let mut rng = SplitMix64::new(seed ^ (1 << 56));
    let mut latencies = Vec::with_capacity(ops);
    let mut total = Duration::ZERO;
    for _ in 0..ops {
        let s = rng.below(workload.sessions);
        let elapsed = timed_read(client, statements, kind, s, &mut rng, ids_of)?;
        total += elapsed;
        latencies.push(elapsed);
    }
    Ok(
        BenchResult::new("W3", FLOOR, u64::try_from(ops).unwrap_or(u64::MAX), total)
            .with_op(kind.label())
            .with_latencies(&mut latencies),
    )
}

/// Every workload, the store's and the floor's adjacent in time (the machine's load drifts):
/// W1 seq (floor first), c16, W1b, then each W3 operation on the store and on the floor.
fn run_all(
    args: &Args,
    server: &PgServer,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<BenchResult>, String> {
    let w = &args.common.workload;
    let ops = args.common.ops;
    let store_err = |e: StorageError| e.to_string();
    let mut results = Vec::new();
    let floor_db = database(server);
    let mut client = Client::connect(&floor_db.dsn(), NoTls).map_err(|e| e.to_string())?;
    client.batch_execute(SCHEMA).map_err(|e| e.to_string())?;
    results.push(floor_w1(&mut client, w).map_err(|e| format!("floor W1: {e}"))?);

    let seq_db = database(server);
    let seq = runtime
        .block_on(fresh_store(args, &seq_db))
        .map_err(store_err)?;
    results.push(
        runtime
            .block_on(bench::run_w1(seq.clone(), w, Mode::Seq))
            .map_err(store_err)?,
    );
    let c16_db = database(server);
    let c16 = runtime
        .block_on(fresh_store(args, &c16_db))
        .map_err(store_err)?;
    let result = runtime.block_on(bench::run_w1(c16.clone(), w, Mode::Concurrent(16)));
    results.push(result.map_err(store_err)?);
    runtime.block_on(c16.close()).map_err(store_err)?;
    let w1b_db = database(server);
    let w1b = runtime
        .block_on(fresh_store(args, &w1b_db))
        .map_err(store_err)?;
    results.push(
        runtime
            .block_on(bench::run_w1b(w1b.clone(), w, 500))
            .map_err(store_err)?,
    );
    runtime.block_on(w1b.close()).map_err(store_err)?;

    let statements = FloorReads::prepare(&mut client).map_err(|e| e.to_string())?;
    let mut ids_of = HashMap::new();
    for (k, kind) in ReadOp::ALL.iter().enumerate() {
        // `run_reads` seeds its k-th kind with `seed ^ ((k + 1) << 56)`; one kind at a time is
        // its kind 0, so shift the seed to keep BENCHMARK.md's draws for every kind.
        let seed = bench::DEFAULT_SEED ^ ((k as u64 + 1) << 56) ^ (1 << 56);
        let reads = runtime.block_on(bench::run_reads(seq.clone(), w, "W3", &[*kind], ops, seed));
        results.extend(reads.map_err(store_err)?);
        results.push(
            floor_read(&mut client, &statements, w, *kind, ops, seed, &mut ids_of)
                .map_err(|e| format!("floor W3: {e}"))?,
        );
    }
    results.push(runtime.block_on(bench::run_spawn_blocking_hop(ops)));
    let metrics = runtime.block_on(seq.metrics()).map_err(store_err)?;
    if metrics.total_messages != u64::try_from(w.message_count()).unwrap_or(u64::MAX) {
        return Err(format!(
            "the W1 database holds {} messages, expected {}",
            metrics.total_messages,
            w.message_count()
        ));
    }
    runtime.block_on(seq.close()).map_err(store_err)?;
    Ok(results)
}

fn find<'r>(results: &'r [BenchResult], backend: &str, key: &str) -> Option<&'r BenchResult> {
    results.iter().find(|r| {
        r.backend == backend && (r.mode.as_deref() == Some(key) || r.op.as_deref() == Some(key))
    })
}

/// Ratios of the store to the floor: `(label, ratio, target)`.
fn ratios(results: &[BenchResult]) -> Vec<(String, f64, Option<f64>)> {
    let floor_w1 = find(results, FLOOR, "seq-txn-per-msg");
    let mut out = Vec::new();
    for (mode, target) in [("seq", None), ("c16", Some(3.0)), ("batch500", None)] {
        if let (Some(store), Some(floor)) = (find(results, "postgres", mode), floor_w1)
            && floor.ops_per_s > 0.0
        {
            out.push((
                format!("W1 {mode} / floor seq-txn-per-msg"),
                store.ops_per_s / floor.ops_per_s,
                target,
            ));
        }
    }
    for op in ReadOp::ALL {
        let label = op.label();
        if let (Some(store), Some(floor)) = (
            find(results, "postgres", label),
            find(results, FLOOR, label),
        ) && floor.ops_per_s > 0.0
        {
            let target = (op == ReadOp::List50).then_some(0.7);
            out.push((
                format!("W3 {label} / floor {label}"),
                store.ops_per_s / floor.ops_per_s,
                target,
            ));
        }
    }
    out
}

/// What is measured: the workload, the W5 sizes and the settings.
fn print_header(args: &Args, server: &PgServer) {
    let w = &args.common.workload;
    let smoke = if args.common.smoke {
        " (smoke run; `cargo bench` for the full workload)"
    } else {
        ""
    };
    if !args.w5 {
        println!(
            "chat-bench on postgres: {} sessions × {} turns = {} messages, {} reads per W3 op{smoke}",
            w.sessions,
            w.turns,
            w.message_count(),
            args.common.ops
        );
    }
    if args.w5 || args.common.smoke {
        let sizes: Vec<String> = bench::scale_sizes(args.common.smoke, args.w4_max)
            .iter()
            .map(ToString::to_string)
            .collect();
        println!(
            "chat-bench W5 on postgres: {} messages, sessions of {} turns, filled with \
             store_batch({}); {} searches per kind and side (limit {}), at most {}s per kind \
             and side{smoke}",
            sizes.join(" / "),
            w.turns,
            bench::FILL_BATCH,
            args.w5_options.ops,
            bench::W5_LIMIT,
            args.w5_options.budget.as_secs()
        );
    }
    println!(
        "settings: level={} max_connections={} server={}",
        args.level,
        args.max_connections,
        server
            .psql("postgres", "SHOW server_version")
            .map_or_else(|e| e, |v| v.trim().to_owned())
    );
}

fn main() {
    let args = Args::parse(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("chat_bench: {e}");
        std::process::exit(2);
    });
    let server = match PgServer::shared() {
        Ok(Some(server)) => server,
        Ok(None) => {
            println!("skipped: no PostgreSQL server (install it or set HOTPLEX_TEST_POSTGRES_DSN)");
            return;
        }
        Err(e) => fail("PostgreSQL server", e),
    };
    print_header(&args, server);
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("tokio runtime", e));
    // `--w5` runs W5 alone; the smoke run does everything.
    let results = if args.w5 {
        Vec::new()
    } else {
        run_all(&args, server, &runtime).unwrap_or_else(|e| fail("chat-bench", e))
    };
    let w5 = if args.w5 || args.common.smoke {
        search::run_w5_scale(&args, server, &runtime).unwrap_or_else(|e| fail("W5", e))
    } else {
        Vec::new()
    };
    drop(runtime);
    let mut all = results.clone();
    for p in &w5 {
        all.push(p.fill.clone());
        all.extend(p.searches.iter().cloned());
    }
    for r in &all {
        println!("{}", r.line());
    }
    println!();
    print!("{}", bench::table(&all));
    println!();
    if !w5.is_empty() {
        search::print(&w5);
        println!();
    }
    let ratios = ratios(&results);
    for (label, ratio, target) in &ratios {
        let target = target.map_or_else(String::new, |t| {
            format!(
                " target>={t} {}",
                if *ratio >= t { "met" } else { "MISSED" }
            )
        });
        println!("ratio {label} = {ratio:.2}{target}");
    }
    println!("{}", bench::machine_summary());
    println!("total {:.2}s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.common.json {
        let mut report = serde_json::json!({
            "machine": bench::Machine::current().to_json(),
            "backend": "postgres",
            "settings": {"level": args.level, "max_connections": args.max_connections},
            "workload": {"sessions": args.common.workload.sessions, "turns": args.common.workload.turns},
            "results": bench::to_json(&results),
            "ratios": ratios.iter().map(|(l, r, t)| serde_json::json!({"ratio": l, "value": r, "target": t})).collect::<Vec<_>>(),
        });
        if let Some(map) = report.as_object_mut()
            && !w5.is_empty()
        {
            map.insert("w5".into(), search::to_json(&w5));
        }
        let text = serde_json::to_string_pretty(&report).expect("JSON of plain values");
        if let Err(e) = std::fs::write(path, text + "\n") {
            fail(&format!("writing {path}"), e);
        }
        println!("results written to {path}");
    }
}
