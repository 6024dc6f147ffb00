//! `search` on SQLite: the filtered messages newest first, narrowed by the trigram index.
//!
//! The index (`message_search`, migration 2) holds the [folded](hotplex_storage_core::fold)
//! content of every live message, so a term of three or more characters is an FTS5 phrase of
//! trigrams: an exact substring lookup. A search runs in one read transaction (one snapshot):
//!
//! 1. **Scan**: walk the filtered rows newest first in pages growing from [`FIRST_PAGE`] rows
//!    (×4 a page) to [`SCAN_PAGE`], reading only
//!    `seq`, `created_at` and `content` and matching in Rust; matching rows are then read in
//!    full. A common term fills the limit here at once. Without a term of three or more
//!    characters the scan goes on until the limit is reached or the rows run out (memory: one
//!    page).
//! 2. **Index** (when a term of three or more characters exists: after [`PROBE_PAGES`] pages, or
//!    after the first when the index holds the terms for fewer than [`SELECTIVE_MATCHES`]
//!    messages, a count that stops at that bound):
//!    from the position the scan reached, messages whose rowid the index returns for every such
//!    term, with the filters and the shorter terms (`instr` on `hotplex_fold(content)`) in SQL,
//!    newest first, `LIMIT` the hits still wanted. A rare term costs its index lookups only.
//!
//! Every candidate goes through [`SearchPlan::hit`], the final decision on every backend.
//! The design is tabled in `docs/schema.md` ("`message_search`"), its costs in
//! `docs/operations.md` ("Search index (SQLite)").

use hotplex_storage_core::{
    ChatAppMessage, Condition, Cursor, Result, SearchHit, SearchPlan, SqlParam, SqlStatement,
    StorageError, time,
};
use rusqlite::{Connection, params_from_iter};

use crate::error::from_sqlite;
use crate::query::{DIALECT, Sql};
use crate::row::message_from_row;

/// Rows examined by the first page of the scan (a common term fills the limit here).
pub(crate) const FIRST_PAGE: usize = 64;
/// Rows examined per page of the scan, at most.
pub(crate) const SCAN_PAGE: usize = 1_000;
/// Pages the scan examines before a search with an indexable term switches to the index.
pub(crate) const PROBE_PAGES: usize = 3;

/// How a search pages: [`SCAN_PAGE`] and [`PROBE_PAGES`] in the store; smaller in tests, so
/// that small tables reach the index phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paging {
    /// Rows examined by the first page of the scan; each next page is four times larger.
    pub(crate) first_page: usize,
    /// Rows examined per page of the scan, at most.
    pub(crate) scan_page: usize,
    /// Scan pages before the index phase (when a term is indexable).
    pub(crate) probe_pages: usize,
    /// Index matches below which the index phase starts after the first page (0: never).
    pub(crate) selective_matches: i64,
}

/// The paging of the store.
const PAGING: Paging = Paging {
    first_page: FIRST_PAGE,
    scan_page: SCAN_PAGE,
    probe_pages: PROBE_PAGES,
    selective_matches: SELECTIVE_MATCHES,
};

impl Paging {
    /// The size of scan page `n` (from 0): `first_page × 4ⁿ`, at most `scan_page`.
    fn page_size(self, n: usize) -> usize {
        let growth = u32::try_from(n.saturating_mul(2)).unwrap_or(u32::MAX);
        self.first_page
            .saturating_mul(1_usize.checked_shl(growth).unwrap_or(usize::MAX))
            .clamp(1, self.scan_page.max(1))
    }
}

/// The fewest characters of a term the trigram index can look up.
pub(crate) const MIN_INDEXED_CHARS: usize = 3;

/// The FTS5 table of migration 2, joined to `messages` on its rowid.
const INDEX_JOIN: &str =
    "message_search CROSS JOIN messages ON messages.seq = message_search.rowid";

/// Runs `plan` on `conn`; see the module documentation.
pub(crate) fn search(conn: &Connection, plan: &SearchPlan) -> Result<Vec<SearchHit>> {
    search_with(conn, plan, PAGING)
}

/// [`search`] with explicit paging.
fn search_with(conn: &Connection, plan: &SearchPlan, paging: Paging) -> Result<Vec<SearchHit>> {
    let error = |e| from_sqlite("search", e);
    // One snapshot for every statement below (dropped: rolled back, it only read).
    let snapshot = conn.unchecked_transaction().map_err(error)?;
    let mut hits = Vec::new();
    let mut position = None;
    let index_query = fts_query(plan);
    let mut pages = 0;
    let mut probe_pages = paging.probe_pages;
    while index_query.is_none() || pages < probe_pages {
        let size = paging.page_size(pages);
        let page = scan_page(&snapshot, plan, position, size)?;
        for msg in page.matched {
            if let Some(hit) = plan.hit(msg) {
                hits.push(hit);
                if hits.len() == plan.limit {
                    return Ok(hits);
                }
            }
        }
        match page.last {
            Some(last) if page.examined == size => position = Some(last),
            _ => return Ok(hits),
        }
        pages += 1;
        // After the first page: a term the index holds for few messages goes to the index
        // now instead of probing further (a rare term costs its lookups, not a long scan).
        if pages == 1
            && let Some(query) = &index_query
            && index_is_selective(&snapshot, query, paging.selective_matches)?
        {
            probe_pages = pages;
        }
    }
    let Some(index_query) = index_query else {
        return Ok(hits);
    };
    loop {
        let wanted = plan.limit - hits.len();
        let rows = index_page(&snapshot, plan, &index_query, position, wanted)?;
        let full = rows.len() == wanted;
        position = rows.last().map(Cursor::of).transpose()?;
        for msg in rows {
            if let Some(hit) = plan.hit(msg) {
                hits.push(hit);
                if hits.len() == plan.limit {
                    return Ok(hits);
                }
            }
        }
        if !full || position.is_none() {
            return Ok(hits);
        }
    }
}

/// Index matches below which a search leaves the scan for the index after its first page.
pub(crate) const SELECTIVE_MATCHES: i64 = 4_096;

/// Whether the index holds `index_query` for fewer than `bound` messages (all sessions;
/// counting stops at the bound, so a common term costs a bounded count).
fn index_is_selective(conn: &Connection, index_query: &str, bound: i64) -> Result<bool> {
    if bound <= 0 {
        return Ok(false);
    }
    let error = |e| from_sqlite("search", e);
    let matches: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM message_search \
             WHERE message_search MATCH ?1 LIMIT ?2)",
        )
        .and_then(|mut stmt| {
            stmt.query_row(rusqlite::params![index_query, bound], |row| row.get(0))
        })
        .map_err(error)?;
    Ok(matches < bound)
}

/// Most trigrams of one term the index is asked for (a longer term's are taken evenly
/// spaced, its first and last included).
pub(crate) const MAX_TRIGRAMS_PER_TERM: usize = 16;

/// The FTS5 query for the terms the index can look up: every distinct trigram of each (at most
/// [`MAX_TRIGRAMS_PER_TERM`]), each quoted (`"` doubled), all of them required. The index keeps
/// no positions (migration 4), so this finds the messages holding those trigrams anywhere: a
/// superset of the hits, which `SearchPlan::hit` narrows. `None` when every term is shorter
/// than [`MIN_INDEXED_CHARS`].
pub(crate) fn fts_query(plan: &SearchPlan) -> Option<String> {
    let mut trigrams: Vec<String> = Vec::new();
    for term in plan.terms_of_at_least(MIN_INDEXED_CHARS) {
        let starts: Vec<usize> = term.char_indices().map(|(i, _)| i).collect();
        let windows = starts.len() + 1 - MIN_INDEXED_CHARS;
        let picks = windows.min(MAX_TRIGRAMS_PER_TERM);
        for k in 0..picks {
            let first = if picks == 1 {
                0
            } else {
                k * (windows - 1) / (picks - 1)
            };
            let end = starts
                .get(first + MIN_INDEXED_CHARS)
                .copied()
                .unwrap_or(term.len());
            let trigram = format!("\"{}\"", term[starts[first]..end].replace('"', "\"\""));
            if !trigrams.contains(&trigram) {
                trigrams.push(trigram);
            }
        }
    }
    (!trigrams.is_empty()).then(|| trigrams.join(" AND "))
}

/// One page of the scan.
struct ScanPage {
    /// Rows examined (fewer than the page size: the filtered rows ran out).
    examined: usize,
    /// The position of the last row examined.
    last: Option<Cursor>,
    /// The examined rows whose content has every term, read in full, newest first.
    matched: Vec<ChatAppMessage>,
}

/// `SELECT {columns} FROM {table}` with the filters of `plan` (its cursor replaced by
/// `position`, which is always older), what `extra` adds to the `WHERE`, newest first,
/// `LIMIT limit`.
fn render(
    plan: &SearchPlan,
    (columns, table): (&str, &str),
    position: Option<Cursor>,
    extra: impl FnOnce(&mut SqlStatement),
    limit: usize,
) -> Result<Sql> {
    let mut filters = plan.filters.clone();
    if let Some(position) = position {
        filters
            .conditions
            .retain(|c| !matches!(c, Condition::Before(_)));
        filters.conditions.push(Condition::Before(position));
    }
    let mut statement = filters.render(&DIALECT, columns, table, false);
    extra(&mut statement);
    statement.push(
        " ORDER BY created_at DESC, seq DESC LIMIT ?",
        [SqlParam::Int(i64::try_from(limit).unwrap_or(i64::MAX))],
    );
    Sql::from_statement(statement)
}

/// Examines the next `size` filtered rows before `position`.
fn scan_page(
    conn: &Connection,
    plan: &SearchPlan,
    position: Option<Cursor>,
    size: usize,
) -> Result<ScanPage> {
    let error = |e| from_sqlite("search", e);
    let sql = render(
        plan,
        ("seq, created_at, content", "messages"),
        position,
        |_| {},
        size,
    )?;
    let mut stmt = conn.prepare_cached(&sql.text).map_err(error)?;
    let mut rows = stmt
        .query(params_from_iter(sql.params.iter()))
        .map_err(error)?;
    let mut examined = 0;
    let mut last = None;
    let mut matched = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        examined += 1;
        let seq: i64 = row.get(0).map_err(error)?;
        let created_at: i64 = row.get(1).map_err(error)?;
        last = Some((created_at, seq));
        let content = row
            .get_ref(2)
            .map_err(error)?
            .as_str()
            .map_err(|e| error(e.into()))?;
        if plan.snippet(content).is_some() {
            matched.push(seq);
        }
    }
    let last = last
        .map(|(micros, seq)| time::from_micros(micros).map(|at| Cursor::new(at, seq)))
        .transpose()?;
    Ok(ScanPage {
        examined,
        last,
        matched: read_rows(conn, &matched)?,
    })
}

/// The messages with these `seq`s, newest first.
fn read_rows(conn: &Connection, seqs: &[i64]) -> Result<Vec<ChatAppMessage>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let error = |e| from_sqlite("search", e);
    let list =
        serde_json::to_string(seqs).map_err(|e| StorageError::query("search", e.to_string()))?;
    let mut stmt = conn
        .prepare_cached(concat!(
            "SELECT ",
            crate::row::message_columns!(),
            " FROM messages WHERE seq IN (SELECT value FROM json_each(?1)) \
             ORDER BY created_at DESC, seq DESC"
        ))
        .map_err(error)?;
    stmt.query_map([list], message_from_row)
        .and_then(Iterator::collect)
        .map_err(error)
}

/// The statement of [`index_page`] (tests `EXPLAIN` it): the `seq`s only, so the time sort
/// of every index match carries two integers, not whole messages.
pub(crate) fn index_sql(
    plan: &SearchPlan,
    index_query: &str,
    position: Option<Cursor>,
    wanted: usize,
) -> Result<Sql> {
    let short_terms = plan
        .terms
        .iter()
        .filter(|t| t.chars().count() < MIN_INDEXED_CHARS);
    render(
        plan,
        ("messages.seq", INDEX_JOIN),
        position,
        |statement| {
            statement.push(
                " AND message_search MATCH ?",
                [SqlParam::Text(index_query.to_owned())],
            );
            for term in short_terms {
                statement.push(
                    " AND instr(hotplex_fold(content), ?) > 0",
                    [SqlParam::Text(term.clone())],
                );
            }
        },
        wanted,
    )
}

/// Up to `wanted` messages before `position` that the index returns for `index_query`, that
/// meet the filters and contain the shorter terms, newest first.
fn index_page(
    conn: &Connection,
    plan: &SearchPlan,
    index_query: &str,
    position: Option<Cursor>,
    wanted: usize,
) -> Result<Vec<ChatAppMessage>> {
    let error = |e| from_sqlite("search", e);
    let sql = index_sql(plan, index_query, position, wanted)?;
    let mut stmt = conn.prepare_cached(&sql.text).map_err(error)?;
    let seqs: Vec<i64> = stmt
        .query_map(params_from_iter(sql.params.iter()), |row| row.get(0))
        .and_then(Iterator::collect)
        .map_err(error)?;
    read_rows(conn, &seqs)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use hotplex_storage_core::{
        ChatAppMessage, SearchQuery, ValidationLimits, prepare_batch, time,
    };
    use proptest::prelude::*;

    use super::*;
    use crate::ops::{WriteOp, apply, index_queued};

    #[test]
    fn scan_pages_grow_fourfold_to_the_maximum() {
        let sizes: Vec<usize> = (0..5).map(|n| PAGING.page_size(n)).collect();
        assert_eq!(sizes, [64, 256, 1_000, 1_000, 1_000]);
        assert_eq!(PAGING.page_size(usize::MAX), SCAN_PAGE);
        let tiny = Paging {
            first_page: 0,
            scan_page: 0,
            probe_pages: 0,
            selective_matches: SELECTIVE_MATCHES,
        };
        assert_eq!(tiny.page_size(0), 1, "a page examines at least one row");
    }

    /// One-row pages and the index at once: every candidate comes from the index phase.
    const INDEX_AT_ONCE: Paging = Paging {
        first_page: 1,
        scan_page: 1,
        probe_pages: 0,
        selective_matches: SELECTIVE_MATCHES,
    };

    const PAGINGS: [Paging; 5] = [
        PAGING,
        Paging {
            first_page: 2,
            scan_page: 2,
            probe_pages: 1,
            selective_matches: SELECTIVE_MATCHES,
        },
        INDEX_AT_ONCE,
        Paging {
            first_page: 3,
            scan_page: 3,
            probe_pages: 100,
            selective_matches: 0,
        },
        Paging {
            first_page: 1,
            scan_page: 16,
            probe_pages: 3,
            selective_matches: SELECTIVE_MATCHES,
        },
    ];

    const WORDS: &[&str] = &[
        "Alpha",
        "ALPHABET",
        "beta",
        "数据库",
        "数据",
        "库存",
        "ß",
        "SS",
        "σας",
        "ΣΑΣ",
        "100%_x",
        "x",
        "🙂🙂🙂",
        "WAL",
        "w",
        "say \"quoted\"",
        "データベース",
        "K",
    ];
    const TERMS: &[&str] = &[
        "alpha",
        "alphabet",
        "数据",
        "数据库",
        "ss",
        "ß",
        "σας",
        "%_x",
        "🙂🙂",
        "wal",
        "a",
        "LPHA",
        "\"quo",
        "据库存",
        "k",
        "データ",
        "betaalpha",
        "zzz",
    ];

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn).unwrap();
        conn
    }

    /// A message of `session` made of `words` (joined by a space or nothing), at `second`.
    fn message(
        session: u8,
        words: &[usize],
        glue: bool,
        second: i64,
        deleted: bool,
    ) -> ChatAppMessage {
        let content: Vec<&str> = words.iter().map(|&w| WORDS[w % WORDS.len()]).collect();
        let mut msg = ChatAppMessage::user(
            format!("s{session}"),
            content.join(if glue { "" } else { " " }),
        )
        .with_created_at(Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap());
        if deleted {
            msg.deleted = true;
            msg.deleted_at = msg.created_at;
        }
        msg
    }

    fn store(conn: &Connection, msgs: &[ChatAppMessage]) {
        let rows = prepare_batch(msgs, &ValidationLimits::default(), Utc::now()).unwrap();
        write(conn, &[WriteOp::Store(rows)]);
    }

    /// `ops` in one transaction that ends as the writer's do: the queued rows into the index.
    fn write(conn: &Connection, ops: &[WriteOp]) {
        let tx = conn.unchecked_transaction().unwrap();
        for op in ops {
            apply(&tx, op).unwrap();
        }
        index_queued(&tx).unwrap();
        tx.commit().unwrap();
    }

    /// Every hit of `query`, all pages followed with the cursor, `limit` per page.
    fn all_pages(
        conn: &Connection,
        query: &SearchQuery,
        paging: Option<Paging>,
    ) -> Vec<(String, String)> {
        let mut query = query.clone();
        let mut out = Vec::new();
        loop {
            let plan = query.plan().unwrap();
            let hits = match paging {
                Some(paging) => search_with(conn, &plan, paging).unwrap(),
                None => oracle(conn, &plan),
            };
            let Some(last) = hits.last() else { return out };
            query.cursor = Some(Cursor::of(&last.message).unwrap());
            let full = hits.len() == plan.limit;
            out.extend(hits.into_iter().map(|h| (h.message.id, h.snippet)));
            if !full {
                return out;
            }
        }
    }

    /// The reference: every row, newest first, through `SearchPlan::hit`, no index.
    fn oracle(conn: &Connection, plan: &SearchPlan) -> Vec<SearchHit> {
        let mut stmt = conn
            .prepare(concat!(
                "SELECT ",
                crate::row::message_columns!(),
                " FROM messages ORDER BY created_at DESC, seq DESC"
            ))
            .unwrap();
        let rows: Vec<ChatAppMessage> = stmt
            .query_map([], message_from_row)
            .and_then(Iterator::collect)
            .unwrap();
        rows.into_iter()
            .filter_map(|m| plan.hit(m))
            .take(plan.limit)
            .collect()
    }

    /// The index holds exactly the live rows, each under its folded content.
    fn assert_index_consistent(conn: &Connection) {
        let indexed: Vec<i64> = conn
            .prepare("SELECT rowid FROM message_search ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .unwrap();
        let live: Vec<i64> = conn
            .prepare("SELECT seq FROM messages WHERE deleted = 0 ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .unwrap();
        assert_eq!(indexed, live);
        let queued: i64 = conn
            .query_row("SELECT count(*) FROM message_search_queue", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(queued, 0, "the queue is empty after every commit");
        conn.execute(
            "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 0)",
            [],
        )
        .unwrap();
    }

    #[derive(Debug, Clone)]
    enum Op {
        Store(Vec<(u8, Vec<usize>, bool, i64, bool)>),
        Delete(u8),
        Purge(u8),
        PurgeDeleted(bool),
        PurgeBefore(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let msg = (
            0..3_u8,
            prop::collection::vec(0..WORDS.len(), 1..4),
            any::<bool>(),
            0..40_i64,
            prop::bool::weighted(0.15),
        );
        prop_oneof![
            6 => prop::collection::vec(msg, 1..6).prop_map(Op::Store),
            1 => (0..3_u8).prop_map(Op::Delete),
            1 => (0..3_u8).prop_map(Op::Purge),
            1 => any::<bool>().prop_map(Op::PurgeDeleted),
            1 => (0..40_i64).prop_map(Op::PurgeBefore),
        ]
    }

    fn write_op(op: &Op) -> WriteOp {
        match op {
            Op::Store(msgs) => {
                let msgs: Vec<_> = msgs
                    .iter()
                    .map(|(s, w, g, t, d)| message(*s, w, *g, *t, *d))
                    .collect();
                WriteOp::Store(
                    prepare_batch(&msgs, &ValidationLimits::default(), Utc::now()).unwrap(),
                )
            }
            Op::Delete(s) => WriteOp::DeleteSession(format!("s{s}")),
            Op::Purge(s) => WriteOp::PurgeSession(format!("s{s}")),
            Op::PurgeDeleted(all) => WriteOp::PurgeDeletedBefore(if *all { i64::MAX } else { 0 }),
            Op::PurgeBefore(t) => WriteOp::PurgeMessagesBefore(time::to_micros(
                Utc.timestamp_opt(1_700_000_000 + t, 0).unwrap(),
            )),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// After every transaction of write paths (one to three in each, so a row may be
        /// stored and deleted before it reaches the index) the index holds exactly the live
        /// rows, and every paging of the search (scan only, index at once, mixed) returns what
        /// the unindexed reference does.
        #[test]
        fn index_driven_results_equal_the_scan(
            ops in prop::collection::vec(op(), 1..14),
            per_transaction in 1..4_usize,
            queries in prop::collection::vec(
                (prop::collection::vec(0..TERMS.len(), 1..3), prop::option::of(0..3_u8), 1..4_usize),
                4,
            ),
        ) {
            let conn = database();
            for transaction in ops.chunks(per_transaction) {
                write(&conn, &transaction.iter().map(write_op).collect::<Vec<_>>());
                assert_index_consistent(&conn);
            }
            for (terms, session, limit) in &queries {
                let text: Vec<&str> = terms.iter().map(|&t| TERMS[t]).collect();
                let mut query = SearchQuery::new(text.join(" ")).with_limit(*limit);
                if let Some(s) = session {
                    query = query.with_session(format!("s{s}"));
                }
                let expected = all_pages(&conn, &query, None);
                for paging in PAGINGS {
                    prop_assert_eq!(&all_pages(&conn, &query, Some(paging)), &expected, "{:?} {:?}", query, paging);
                }
            }
        }
    }

    #[test]
    fn a_three_character_term_is_looked_up_in_the_index() {
        let conn = database();
        store(&conn, &[message(0, &[0, 3], false, 1, false)]);
        let plan = SearchQuery::new("alpha 数据库 ph")
            .with_session("s0")
            .plan()
            .unwrap();
        let index_query = fts_query(&plan).unwrap();
        assert_eq!(
            index_query,
            "\"alp\" AND \"lph\" AND \"pha\" AND \"数据库\""
        );
        let sql = index_sql(&plan, &index_query, None, 20).unwrap();
        let details: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
            .unwrap()
            .query_map(params_from_iter(sql.params.iter()), |r| r.get(3))
            .and_then(Iterator::collect)
            .unwrap();
        let details = details.join("\n");
        assert!(
            details.contains("SCAN message_search VIRTUAL TABLE INDEX"),
            "{details}"
        );
        assert!(
            details.contains("SEARCH messages USING INTEGER PRIMARY KEY (rowid=?)"),
            "{details}"
        );
        let hits = search_with(&conn, &plan, INDEX_AT_ONCE).unwrap();
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn a_long_term_asks_for_sixteen_trigrams_first_and_last_included() {
        let term: String = ('a'..='z').collect();
        let plan = SearchQuery::new(term.as_str()).plan().unwrap();
        let query = fts_query(&plan).unwrap();
        let trigrams: Vec<&str> = query.split(" AND ").collect();
        assert_eq!(trigrams.len(), MAX_TRIGRAMS_PER_TERM);
        assert_eq!(trigrams.first(), Some(&"\"abc\""));
        assert_eq!(trigrams.last(), Some(&"\"xyz\""));
        // Repeated trigrams are asked for once.
        let plan = SearchQuery::new("aaaaaa").plan().unwrap();
        assert_eq!(fts_query(&plan).unwrap(), "\"aaa\"");
    }

    /// The index returns every message holding the term's trigrams anywhere; only those that
    /// hold the term itself are hits.
    #[test]
    fn a_message_with_the_trigrams_but_not_the_term_is_not_a_hit() {
        let conn = database();
        let msgs: Vec<ChatAppMessage> = [(1, "abc xbcd"), (2, "abcd"), (3, "bcd abc")]
            .iter()
            .map(|(second, text)| {
                ChatAppMessage::user("s0", *text)
                    .with_created_at(Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap())
            })
            .collect();
        store(&conn, &msgs);
        let plan = SearchQuery::new("abcd").plan().unwrap();
        let candidates: i64 = conn
            .query_row(
                "SELECT count(*) FROM message_search WHERE message_search MATCH ?1",
                [fts_query(&plan).unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(candidates, 3);
        let hits = search_with(&conn, &plan, INDEX_AT_ONCE).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].message.content, "abcd");
    }

    #[test]
    fn quotes_in_a_term_are_doubled_not_fts_syntax() {
        let conn = database();
        store(
            &conn,
            &[
                message(0, &[15], false, 1, false),
                message(0, &[0], false, 2, false),
            ],
        );
        for text in [
            "\"quoted\"",
            "y \"q",
            "\" OR alpha",
            "NEAR(alpha)",
            "alp*",
            "-alpha",
        ] {
            let plan = SearchQuery::new(text).plan().unwrap();
            let expected = oracle(&conn, &plan);
            let got = search_with(&conn, &plan, INDEX_AT_ONCE).unwrap();
            assert_eq!(got, expected, "{text}");
        }
        let plan = SearchQuery::new("\"quoted\"").plan().unwrap();
        assert_eq!(
            fts_query(&plan).unwrap(),
            "\"\"\"qu\" AND \"quo\" AND \"uot\" AND \"ote\" AND \"ted\" AND \"ed\"\"\""
        );
        assert_eq!(search_with(&conn, &plan, INDEX_AT_ONCE).unwrap().len(), 1);
    }
}
