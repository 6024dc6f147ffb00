//! W5 search: the terms and scopes searched, the hand-written floor a backend supplies, and the
//! runner that alternates the store's searches with the floor's and checks both found the same.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hotplex_storage_core::{ChatAppMessageStore, Result, SearchQuery, StorageError};

use super::{
    BenchArgs, BenchResult, DEFAULT_SEED, GREETING, NEEDLE, RARE_WORD, SplitMix64, Workload,
    fmt_ratio, messages_containing,
};

/// W5 asks every search for this many hits.
pub const W5_LIMIT: usize = 20;

/// Store and floor alternate in slices of this many searches (the side going first changes
/// every slice), so both see the same load.
pub const W5_SLICE: usize = 10;

/// A term W5 searches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchTerm {
    /// `storage`: in nearly every message, so a scan newest-first stops after ~20 rows.
    Common,
    /// [`RARE_WORD`] (`vacuum`): about one message in 1,000, so a scan reads ~20,000 rows
    /// for 20 hits (all of them below 20,000 messages).
    Rare,
    /// [`GREETING`] (`你好`): two CJK characters, shorter than a trigram; about one message
    /// in 50.
    Greeting,
    /// [`NEEDLE`] (`zephyr`): in five old messages at every size, so a scan reads every row.
    Needle,
}

impl SearchTerm {
    /// Every term, in reporting order.
    pub const ALL: [Self; 4] = [Self::Common, Self::Rare, Self::Greeting, Self::Needle];

    /// The search text.
    pub fn text(self) -> &'static str {
        match self {
            Self::Common => "storage",
            Self::Rare => RARE_WORD,
            Self::Greeting => GREETING,
            Self::Needle => NEEDLE,
        }
    }

    /// The label in results: `common`, `rare`, `cjk2`, `needle`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Rare => "rare",
            Self::Greeting => "cjk2",
            Self::Needle => "needle",
        }
    }
}

/// Where W5 searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchScope {
    /// One session, drawn with the seed per search.
    Session,
    /// Every session.
    All,
}

/// One W5 operation: a term in a scope, `limit` [`W5_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SearchOp {
    /// What is searched for.
    pub term: SearchTerm,
    /// Where.
    pub scope: SearchScope,
}

impl SearchOp {
    /// Every W5 operation, in reporting order: each term in one session, then across all.
    pub const ALL: [Self; 8] = [
        Self::new(SearchTerm::Common, SearchScope::Session),
        Self::new(SearchTerm::Common, SearchScope::All),
        Self::new(SearchTerm::Rare, SearchScope::Session),
        Self::new(SearchTerm::Rare, SearchScope::All),
        Self::new(SearchTerm::Greeting, SearchScope::Session),
        Self::new(SearchTerm::Greeting, SearchScope::All),
        Self::new(SearchTerm::Needle, SearchScope::Session),
        Self::new(SearchTerm::Needle, SearchScope::All),
    ];

    /// `term` in `scope`.
    pub const fn new(term: SearchTerm, scope: SearchScope) -> Self {
        Self { term, scope }
    }

    /// The label in results: `search_rare_all`, `search_cjk2_session`, ….
    pub fn label(self) -> String {
        let scope = match self.scope {
            SearchScope::Session => "session",
            SearchScope::All => "all",
        };
        format!("search_{}_{scope}", self.term.label())
    }

    /// The generator that draws this operation's sessions from `seed` (one stream per
    /// operation), so that the floor searches exactly the sessions the store searched.
    pub fn rng(self, seed: u64) -> SplitMix64 {
        let position = Self::ALL.iter().position(|op| *op == self).unwrap_or(0);
        SplitMix64::new(seed ^ 0x005E_A2C4 ^ ((position as u64 + 1) << 48))
    }
}

/// The same search written by hand on a backend's bare driver: the newest [`W5_LIMIT`] live
/// messages whose content is `LIKE '%term%'`, of one session or of all, no text index.
pub trait SearchFloor {
    /// The backend name printed on the floor's results (`rusqlite`, `postgres-driver`).
    fn backend(&self) -> &str;

    /// The ids of the newest `limit` live messages containing `term`, in `session` or across
    /// every session, newest first by `(created_at, seq)`; rows are decoded as a hand-written
    /// reader would keep them.
    ///
    /// # Errors
    /// The driver's error, as text.
    fn search(
        &mut self,
        term: &str,
        session: Option<&str>,
        limit: usize,
    ) -> std::result::Result<Vec<String>, String>;
}

/// A floor's bound values for `term` and `limit`: the pattern `%term%` and the limit as
/// `i64`. Floors take plain terms only (no `%`, `_` or `\`), which `LIKE` matches literally.
///
/// # Errors
/// A term with a `LIKE` metacharacter, or a limit beyond `i64`.
pub fn like_floor_args(term: &str, limit: usize) -> std::result::Result<(String, i64), String> {
    if term.contains(['%', '_', '\\']) {
        return Err(format!("the LIKE floor takes plain terms, not {term:?}"));
    }
    let limit = i64::try_from(limit).map_err(|e| e.to_string())?;
    Ok((format!("%{term}%"), limit))
}

/// Prints W5's header and [`w5_table`] for `sizes`; nothing when no size has searches.
pub fn print_w5_table(sizes: &[(usize, &[BenchResult])]) {
    if sizes.iter().all(|(_, searches)| searches.is_empty()) {
        return;
    }
    println!("W5 search, limit {W5_LIMIT} (p50 / p99 µs):");
    println!();
    print!("{}", w5_table(sizes));
    println!();
}

/// How many of a workload's messages contain each [`SearchTerm`] (counted from the generator,
/// with `search`'s folding), grown with the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TermCounts {
    /// Messages counted (`0..messages`).
    pub messages: usize,
    /// Matching messages per term, in [`SearchTerm::ALL`] order.
    pub matching: [usize; 4],
}

impl TermCounts {
    /// Counts messages `self.messages..upto` too (nothing when `upto` is not larger).
    pub fn grow_to(&mut self, upto: usize) {
        if upto <= self.messages {
            return;
        }
        for (k, term) in SearchTerm::ALL.iter().enumerate() {
            self.matching[k] += messages_containing(term.text(), self.messages..upto);
        }
        self.messages = upto;
    }

    /// Messages containing `term`.
    pub fn of(&self, term: SearchTerm) -> usize {
        let k = SearchTerm::ALL.iter().position(|t| *t == term).unwrap_or(0);
        self.matching[k]
    }

    /// `{"storage": 9950, "vacuum": 10, …}`: the messages containing each term.
    pub fn to_json(&self) -> serde_json::Value {
        SearchTerm::ALL
            .iter()
            .map(|t| (t.text().to_owned(), self.of(*t).into()))
            .collect::<serde_json::Map<String, serde_json::Value>>()
            .into()
    }

    /// `W5 terms at 10000 messages: storage in 9950, vacuum in 10, 你好 in 200`.
    pub fn summary(&self) -> String {
        let each: Vec<String> = SearchTerm::ALL
            .iter()
            .map(|t| format!("{} in {}", t.text(), self.of(*t)))
            .collect();
        format!(
            "W5 terms at {} messages: {}",
            self.messages,
            each.join(", ")
        )
    }
}

/// How many searches W5 runs per operation and side, and for how long at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct W5Options {
    /// Searches per operation on each side (1,000 in `BENCHMARK.md`).
    pub ops: usize,
    /// A side stops early once its searches of one operation took this long in total (a scan
    /// at 1M messages can take seconds per search), after one search at least; its result
    /// then says `capped_after_s`.
    pub budget: Duration,
    /// The seed sessions are drawn with.
    pub seed: u64,
}

impl W5Options {
    /// Searches per kind and side in `BENCHMARK.md`.
    pub const OPS: usize = 1_000;
    /// Searches per kind and side in the smoke run.
    pub const SMOKE_OPS: usize = 20;
    /// The default budget per kind and side.
    pub const BUDGET: Duration = Duration::from_mins(1);

    /// The options of a bench command line: `--w5-ops N` (default [`OPS`](Self::OPS), or
    /// [`SMOKE_OPS`](Self::SMOKE_OPS) in the smoke run) and `--w5-budget SECS` (default
    /// [`BUDGET`](Self::BUDGET)), both flags registered as extra flags of `args`; the seed is
    /// [`DEFAULT_SEED`].
    ///
    /// ```
    /// use hotplex_storage_testkit::bench::{BenchArgs, W5Options};
    /// let flags = ["--w5-ops", "--w5-budget"];
    /// let args = BenchArgs::parse(["--bench", "--w5-budget", "5"].map(String::from), &flags);
    /// let opts = W5Options::from_args(&args.unwrap()).unwrap();
    /// assert_eq!((opts.ops, opts.budget.as_secs()), (1_000, 5));
    /// ```
    ///
    /// # Errors
    /// A message naming the flag whose value is not a positive number.
    pub fn from_args(args: &BenchArgs) -> std::result::Result<Self, String> {
        let default_ops = if args.smoke {
            Self::SMOKE_OPS
        } else {
            Self::OPS
        };
        Ok(Self {
            ops: args.positive("--w5-ops")?.unwrap_or(default_ops),
            budget: args
                .positive("--w5-budget")?
                .map_or(Self::BUDGET, |secs| Duration::from_secs(secs as u64)),
            seed: DEFAULT_SEED,
        })
    }
}

/// One side's progress through an operation.
struct Side {
    latencies: Vec<Duration>,
    spent: Duration,
    hits: usize,
    rng: SplitMix64,
}

impl Side {
    fn new(op: SearchOp, seed: u64, ops: usize) -> Self {
        Self {
            latencies: Vec::with_capacity(ops),
            spent: Duration::ZERO,
            hits: 0,
            rng: op.rng(seed),
        }
    }

    fn wants(&self, opts: &W5Options) -> bool {
        let done = self.latencies.len();
        done < opts.ops && (done == 0 || self.spent < opts.budget)
    }

    /// The session of the next search (`None` across all sessions).
    fn draw(&mut self, op: SearchOp, workload: &Workload) -> Option<String> {
        match op.scope {
            SearchScope::Session => Some(Workload::session_id(self.rng.below(workload.sessions))),
            SearchScope::All => None,
        }
    }

    fn record(&mut self, elapsed: Duration, hits: usize) {
        self.latencies.push(elapsed);
        self.spent += elapsed;
        self.hits += hits;
    }

    /// The result of this side; `hits_per_op` and, when the budget stopped it, `capped_after_s`.
    fn result(mut self, backend: &str, op: SearchOp, opts: &W5Options) -> BenchResult {
        let done = self.latencies.len();
        // Display only: mean hits per search, one decimal.
        #[allow(clippy::cast_precision_loss)]
        let hits_per_op = if done == 0 {
            0.0
        } else {
            self.hits as f64 / done as f64
        };
        let mut result = BenchResult::new(
            "W5",
            backend,
            u64::try_from(done).unwrap_or(u64::MAX),
            self.spent,
        )
        .with_op(op.label())
        .with_latencies(&mut self.latencies)
        .with_extra("term", op.term.text())
        .with_extra("hits_per_op", format!("{hits_per_op:.1}"));
        if done < opts.ops {
            result = result.with_extra(
                "capped_after_s",
                format!("{:.0}", opts.budget.as_secs_f64()),
            );
        }
        result
    }
}

/// W5 on a store holding `workload` (the first `counts.messages` of it): every [`SearchOp`],
/// `opts.ops` searches each with limit [`W5_LIMIT`], alternating in slices of [`W5_SLICE`]
/// with the same searches on `floor`, on the same sessions. Returns per operation the store's
/// result (with `floor_ratio` = store ops/s ÷ floor ops/s and `floor_p50_ratio` = floor median
/// ÷ store median) then the floor's (`floor=like-scan`); both carry `messages` and `matching`
/// (messages containing the term in the whole database).
///
/// # Errors
/// The store's error; `Data` when the floor fails, or when store and floor return different
/// messages for the same search (they must do the same work).
pub async fn run_w5(
    store: &dyn ChatAppMessageStore,
    floor: &mut dyn SearchFloor,
    workload: &Workload,
    counts: &TermCounts,
    opts: &W5Options,
) -> Result<Vec<BenchResult>> {
    if workload.sessions == 0 || opts.ops == 0 {
        return Err(StorageError::data(
            "chat-bench W5",
            "the workload has no sessions or no operations were asked for",
        ));
    }
    let mut results = Vec::with_capacity(SearchOp::ALL.len() * 2);
    for op in SearchOp::ALL {
        let (mut on_store, mut on_floor) = (
            Side::new(op, opts.seed, opts.ops),
            Side::new(op, opts.seed, opts.ops),
        );
        let mut store_first = true;
        while on_store.wants(opts) || on_floor.wants(opts) {
            let mut found: [Vec<Vec<String>>; 2] = [Vec::new(), Vec::new()];
            for side_is_store in [store_first, !store_first] {
                let side = if side_is_store {
                    &mut on_store
                } else {
                    &mut on_floor
                };
                for _ in 0..W5_SLICE {
                    if !side.wants(opts) {
                        break;
                    }
                    let session = side.draw(op, workload);
                    let (elapsed, ids) = if side_is_store {
                        store_search(store, op.term.text(), session.as_deref()).await?
                    } else {
                        floor_search(floor, op.term.text(), session.as_deref())?
                    };
                    side.record(elapsed, ids.len());
                    found[usize::from(side_is_store)].push(ids);
                }
            }
            same_hits(op, on_store.latencies.len(), &found[1], &found[0])?;
            store_first = !store_first;
        }
        let floor_p50_ratio = median_ratio(&on_store.latencies, &on_floor.latencies);
        let store_result = on_store.result(store.name(), op, opts);
        let floor_result = on_floor.result(floor.backend(), op, opts);
        let floor_ratio =
            (floor_result.ops_per_s > 0.0).then(|| store_result.ops_per_s / floor_result.ops_per_s);
        let tag = |r: BenchResult| {
            r.with_extra("messages", counts.messages)
                .with_extra("matching", counts.of(op.term))
        };
        results.push(
            tag(store_result)
                .with_extra("floor_ratio", fmt_ratio(floor_ratio))
                .with_extra("floor_p50_ratio", fmt_ratio(floor_p50_ratio)),
        );
        results.push(tag(floor_result).with_extra("floor", "like-scan"));
    }
    Ok(results)
}

/// One timed store search: up to and including dropping everything but the hit ids.
async fn store_search(
    store: &dyn ChatAppMessageStore,
    term: &str,
    session: Option<&str>,
) -> Result<(Duration, Vec<String>)> {
    let mut query = SearchQuery::new(term).with_limit(W5_LIMIT);
    if let Some(session) = session {
        query = query.with_session(session);
    }
    let started = Instant::now();
    let ids: Vec<String> = store
        .search(&query)
        .await?
        .into_iter()
        .map(|hit| hit.message.id)
        .collect();
    Ok((started.elapsed(), ids))
}

/// One timed floor search.
fn floor_search(
    floor: &mut dyn SearchFloor,
    term: &str,
    session: Option<&str>,
) -> Result<(Duration, Vec<String>)> {
    let started = Instant::now();
    let ids = floor
        .search(term, session, W5_LIMIT)
        .map_err(|e| StorageError::data(format!("chat-bench W5 {} floor", floor.backend()), e))?;
    Ok((started.elapsed(), ids))
}

/// Fails unless the searches both sides ran in this slice found the same messages, in the
/// same order. `done` is the store's searches so far (to name the search that differs).
fn same_hits(
    op: SearchOp,
    done: usize,
    store: &[Vec<String>],
    floor: &[Vec<String>],
) -> Result<()> {
    let first = done - store.len();
    for (k, (s, f)) in store.iter().zip(floor).enumerate() {
        if s != f {
            return Err(StorageError::data(
                "chat-bench W5",
                format!(
                    "{} search #{}: the store found {} messages, the floor {} (or in another \
                     order); both must do the same work",
                    op.label(),
                    first + k,
                    s.len(),
                    f.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Floor median ÷ store median at nanosecond precision (`0.5`: the store's median search takes
/// twice the floor's); `None` when either side has no latency or the store's median is zero.
pub fn median_ratio(store: &[Duration], floor: &[Duration]) -> Option<f64> {
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    match (median(store), median(floor)) {
        (Some(s), Some(f)) if !s.is_zero() => Some(f.as_secs_f64() / s.as_secs_f64()),
        _ => None,
    }
}

/// W5's results at each database size as a markdown table, one row per search: `sizes` holds
/// each size's messages and [`run_w5`]'s results (store, then floor, per search).
pub fn w5_table(sizes: &[(usize, &[BenchResult])]) -> String {
    let mut out = String::from(
        "| messages | search | term in messages | store ops | store p50 / p99 | floor ops | \
         floor p50 / p99 | hits per search | floor_ratio |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let extra = |r: &BenchResult, key: &str| {
        r.extra
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| "–".to_owned(), |(_, v)| v.clone())
    };
    let lat = |r: &BenchResult| {
        let us = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |v| v.to_string());
        format!("{} / {}", us(r.p50_us), us(r.p99_us))
    };
    for (messages, results) in sizes {
        for pair in results.chunks(2) {
            let [on_store, on_floor] = pair else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {messages} | {} `{}` | {} | {} | {} | {} | {} | {} | {} |",
                on_store.op.as_deref().unwrap_or("–"),
                extra(on_store, "term"),
                extra(on_store, "matching"),
                on_store.ops,
                lat(on_store),
                on_floor.ops,
                lat(on_floor),
                extra(on_store, "hits_per_op"),
                extra(on_store, "floor_ratio"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bench::run_w1b;
    use hotplex_storage_core::{ChatAppMessage, MessageQuery, ReadOnlyStore};
    use hotplex_storage_memory::MemoryStore;

    /// A floor that scans the store's messages (listed once, newest first) in memory;
    /// `drop_last` makes it lose the last hit of every search, as a broken floor would.
    struct ScanFloor {
        newest_first: Vec<ChatAppMessage>,
        drop_last: bool,
        calls: usize,
    }

    impl SearchFloor for ScanFloor {
        fn backend(&self) -> &'static str {
            "scan"
        }

        fn search(
            &mut self,
            term: &str,
            session: Option<&str>,
            limit: usize,
        ) -> std::result::Result<Vec<String>, String> {
            self.calls += 1;
            let mut ids: Vec<String> = self
                .newest_first
                .iter()
                .filter(|m| session.is_none_or(|s| m.chat_session_id == s))
                .filter(|m| m.content.contains(term))
                .take(limit)
                .map(|m| m.id.clone())
                .collect();
            if self.drop_last {
                ids.pop();
            }
            Ok(ids)
        }
    }

    async fn loaded(workload: &Workload) -> (Arc<MemoryStore>, ScanFloor) {
        let store = Arc::new(MemoryStore::new());
        run_w1b(store.clone(), workload, 500).await.unwrap();
        let newest_first = store.list(&MessageQuery::default()).await.unwrap();
        let floor = ScanFloor {
            newest_first,
            drop_last: false,
            calls: 0,
        };
        (store, floor)
    }

    #[test]
    fn ops_have_distinct_labels_and_streams() {
        let labels: std::collections::HashSet<String> =
            SearchOp::ALL.iter().map(|op| op.label()).collect();
        assert_eq!(labels.len(), 8);
        assert!(labels.contains("search_cjk2_all"));
        let firsts: std::collections::HashSet<u64> = SearchOp::ALL
            .iter()
            .map(|op| op.rng(1).next_u64())
            .collect();
        assert_eq!(firsts.len(), 8);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn store_and_floor_run_the_same_searches_and_must_agree() {
        let workload = Workload::new(30, 10);
        let (store, mut floor) = loaded(&workload).await;
        let mut counts = TermCounts::default();
        counts.grow_to(workload.message_count());
        assert_eq!(counts.messages, 600);
        assert!(counts.of(SearchTerm::Common) > 500);
        assert!(counts.of(SearchTerm::Greeting) > 0);
        let opts = W5Options {
            ops: 25,
            budget: Duration::from_mins(1),
            seed: 7,
        };
        let results = run_w5(store.as_ref(), &mut floor, &workload, &counts, &opts)
            .await
            .unwrap();
        assert_eq!(results.len(), 16);
        assert_eq!(floor.calls, 8 * 25);
        for pair in results.chunks(2) {
            let (on_store, on_floor) = (&pair[0], &pair[1]);
            assert_eq!((on_store.ops, on_floor.ops), (25, 25));
            assert_eq!(on_store.op, on_floor.op);
            assert_eq!(
                (on_store.backend.as_str(), on_floor.backend.as_str()),
                ("memory", "scan")
            );
            let extra = |r: &BenchResult, k: &str| {
                r.extra
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(
                extra(on_store, "hits_per_op"),
                extra(on_floor, "hits_per_op")
            );
            assert!(extra(on_store, "floor_ratio").is_some());
            assert_eq!(extra(on_floor, "floor").as_deref(), Some("like-scan"));
            assert_eq!(extra(on_store, "messages").as_deref(), Some("600"));
            assert!(extra(on_store, "capped_after_s").is_none());
        }
        let table = w5_table(&[(600, results.as_slice())]);
        assert_eq!(table.lines().count(), 2 + 8, "{table}");
        assert!(
            table.contains("| 600 | search_cjk2_all `你好` |"),
            "{table}"
        );
        let common_all = &results[2];
        assert_eq!(common_all.op.as_deref(), Some("search_common_all"));
        assert!(
            common_all.line().contains("hits_per_op=20.0"),
            "{}",
            common_all.line()
        );

        floor.drop_last = true;
        let error = run_w5(store.as_ref(), &mut floor, &workload, &counts, &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, StorageError::Data { .. }) && error.to_string().contains("search #0"),
            "{error}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_side_stops_at_its_budget_and_says_so() {
        let workload = Workload::new(5, 4);
        let (store, mut floor) = loaded(&workload).await;
        let mut counts = TermCounts::default();
        counts.grow_to(workload.message_count());
        let opts = W5Options {
            ops: 1_000,
            budget: Duration::ZERO,
            seed: 7,
        };
        let results = run_w5(store.as_ref(), &mut floor, &workload, &counts, &opts)
            .await
            .unwrap();
        // A zero budget admits one search per side and operation, then stops.
        for r in &results {
            assert_eq!(r.ops, 1, "{}", r.line());
            assert!(r.line().contains("capped_after_s=0"), "{}", r.line());
        }
        let none = W5Options { ops: 0, ..opts };
        assert!(
            run_w5(store.as_ref(), &mut floor, &workload, &counts, &none)
                .await
                .is_err()
        );
    }
}
