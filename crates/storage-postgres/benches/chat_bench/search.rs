//! W5 on PostgreSQL: one database grown through the W4 sizes by the store, and at each size
//! the store's searches beside the floor a user would write by hand on the bare `postgres`
//! driver, `content LIKE '%term%'` newest first with no text index.

use hotplex_storage_core::{ChatAppMessageStore, MessageQuery, ReadOnlyStore, StorageError};
use hotplex_storage_postgres::PostgresStore;
use hotplex_storage_testkit::PgServer;
use hotplex_storage_testkit::bench::{self, BenchResult, Workload};
use postgres::{Client, NoTls, Statement};

use crate::{Args, FLOOR, Tuple, database, fresh_store, tuple};

/// W5 floor SQL across every session.
const LIKE_ALL: &str = "WHERE NOT deleted AND content LIKE $1 \
    ORDER BY created_at DESC, seq DESC LIMIT $2";

/// W5 floor SQL in one session.
const LIKE_SESSION: &str = "WHERE chat_session_id = $3 AND NOT deleted AND content LIKE $1 \
    ORDER BY created_at DESC, seq DESC LIMIT $2";

/// The columns the floor decodes (as W3's floor does).
const COLUMNS: &str = "SELECT seq, id, chat_session_id, message_type, content, metadata, \
    created_at FROM messages";

/// The `LIKE` floor: a connection of its own and its two prepared statements.
struct LikeFloor {
    client: Client,
    all: Statement,
    session: Statement,
}

impl LikeFloor {
    fn connect(dsn: &str) -> Result<Self, postgres::Error> {
        let mut client = Client::connect(dsn, NoTls)?;
        let all = client.prepare(&format!("{COLUMNS} {LIKE_ALL}"))?;
        let session = client.prepare(&format!("{COLUMNS} {LIKE_SESSION}"))?;
        Ok(Self {
            client,
            all,
            session,
        })
    }

    /// Refreshes the planner's statistics after a fill, then PostgreSQL's plan of each
    /// statement (`EXPLAIN`, first line), so the output says how the scan runs.
    fn analyze_and_plans(&mut self) -> Result<Vec<String>, postgres::Error> {
        self.client.batch_execute("ANALYZE messages")?;
        let mut plans = Vec::new();
        for (scope, clause) in [("all", LIKE_ALL), ("session", LIKE_SESSION)] {
            let sql = format!("EXPLAIN SELECT seq FROM messages {clause}");
            let sql = sql
                .replace("$1", "'%vacuum%'")
                .replace("$2", "20")
                .replace("$3", "'s'");
            let steps: Vec<String> = self
                .client
                .query(&sql, &[])?
                .iter()
                .map(|r| r.get::<_, String>(0).trim().to_owned())
                .collect();
            plans.push(format!("{scope}: {}", steps.join("; ")));
        }
        Ok(plans)
    }
}

impl bench::SearchFloor for LikeFloor {
    fn backend(&self) -> &str {
        FLOOR
    }

    fn search(
        &mut self,
        term: &str,
        session: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, String> {
        let (pattern, limit) = bench::like_floor_args(term, limit)?;
        // `run_w5` calls the floor from the runtime's `block_on` thread; the blocking driver
        // runs its own runtime, which Tokio allows only outside the runtime's context.
        let rows = tokio::task::block_in_place(|| match session {
            Some(session) => self
                .client
                .query(&self.session, &[&pattern, &limit, &session]),
            None => self.client.query(&self.all, &[&pattern, &limit]),
        })
        .map_err(|e| e.to_string())?;
        let tuples: Vec<Tuple> = rows.iter().map(tuple).collect();
        Ok(tuples.into_iter().map(|t| t.1).collect())
    }
}

/// What W5 measured at one database size.
pub(crate) struct W5Point {
    /// Messages in the database.
    pub(crate) messages: usize,
    /// Appending the messages since the previous size.
    pub(crate) fill: BenchResult,
    /// Each search on the store, then on the floor.
    pub(crate) searches: Vec<BenchResult>,
    /// Messages containing each term.
    pub(crate) terms: bench::TermCounts,
}

/// W5: grows one database through the sizes with `bench::fill` on the store (level and pool
/// as measured), and at each size runs `bench::run_w5` beside the `LIKE` floor.
pub(crate) fn run_w5_scale(
    args: &Args,
    server: &PgServer,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<W5Point>, String> {
    let turns = args.common.workload.turns;
    if turns == 0 {
        return Err("--turns must be positive".to_owned());
    }
    let per_session = args.common.workload.messages_per_session();
    let store_err = |e: StorageError| e.to_string();
    let db = database(server);
    let store: std::sync::Arc<PostgresStore> = runtime
        .block_on(fresh_store(args, &db))
        .map_err(store_err)?;
    let mut floor = LikeFloor::connect(&db.dsn()).map_err(|e| format!("W5 floor: {e}"))?;
    let mut points = Vec::new();
    let mut terms = bench::TermCounts::default();
    for size in bench::scale_sizes(args.common.smoke, args.w4_max) {
        let workload = Workload::new(size.div_ceil(per_session), turns);
        let fill = runtime
            .block_on(bench::fill(store.as_ref(), &workload, terms.messages))
            .map_err(store_err)?;
        let filled = workload.message_count();
        let held = runtime
            .block_on(store.count(&MessageQuery::default()))
            .map_err(store_err)?;
        if usize::try_from(held).ok() != Some(filled) {
            return Err(format!(
                "the database holds {held} messages, expected {filled}"
            ));
        }
        terms.grow_to(filled);
        println!("{}", terms.summary());
        for plan in floor
            .analyze_and_plans()
            .map_err(|e| format!("W5 floor: {e}"))?
        {
            println!("W5 floor plan at {filled} messages, {plan}");
        }
        let searches = runtime
            .block_on(bench::run_w5(
                store.as_ref() as &dyn ChatAppMessageStore,
                &mut floor,
                &workload,
                &terms,
                &args.w5_options,
            ))
            .map_err(store_err)?;
        println!(
            "W5 at {filled} messages: fill {:.1}s, {} searches",
            fill.secs,
            searches.iter().map(|r| r.ops).sum::<u64>()
        );
        points.push(W5Point {
            messages: filled,
            fill,
            searches,
            terms: terms.clone(),
        });
    }
    runtime.block_on(store.close()).map_err(store_err)?;
    Ok(points)
}

/// The latency ratios of the largest size to the smallest, store and floor.
pub(crate) fn scale_ratios(points: &[W5Point]) -> Vec<bench::ScaleRatio> {
    match (points.first(), points.last()) {
        (Some(small), Some(big)) if points.len() > 1 => {
            bench::scale_ratios(small.messages, &small.searches, big.messages, &big.searches)
        }
        _ => Vec::new(),
    }
}

/// Prints W5's table and ratio lines.
pub(crate) fn print(points: &[W5Point]) {
    let sizes: Vec<(usize, &[BenchResult])> = points
        .iter()
        .map(|p| (p.messages, p.searches.as_slice()))
        .collect();
    bench::print_w5_table(&sizes);
    for ratio in scale_ratios(points) {
        println!("{}", ratio.line());
    }
}

/// W5 as JSON: one object per size, then the ratios.
pub(crate) fn to_json(points: &[W5Point]) -> serde_json::Value {
    let sizes: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            serde_json::json!({
                "messages": p.messages,
                "fill": p.fill.to_json(),
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
