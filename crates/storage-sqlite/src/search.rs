//! `search` on SQLite: the filtered messages newest first, narrowed by the trigram index.
//!
//! The index (`message_search`, migration 2) holds the [folded](hotplex_storage_core::fold)
//! content of every live message, so a term of three or more characters is an FTS5 phrase of
//! trigrams: an exact substring lookup. A search runs in one read transaction (one snapshot):
//!
//! 1. **Scan**: walk the filtered rows newest first, [`SCAN_PAGE`] rows a page, reading only
//!    `seq`, `created_at` and `content` and matching in Rust; matching rows are then read in
//!    full. A common term fills the limit here at once. Without a term of three or more
//!    characters the scan goes on until the limit is reached or the rows run out (memory: one
//!    page).
//! 2. **Index** (after [`PROBE_PAGES`] pages, when a term of three or more characters exists):
//!    from the position the scan reached, messages whose rowid the index returns for every such
//!    term, with the filters and the shorter terms (`instr` on `hotplex_fold(content)`) in SQL,
//!    newest first, `LIMIT` the hits still wanted. A rare term costs its index lookups only.
//!
//! Every candidate goes through [`SearchPlan::hit`], the final decision on every backend.
//! The trade-offs and figures are in `docs/schema.md` ("Search index").

use hotplex_storage_core::{
    ChatAppMessage, Condition, Cursor, Result, SearchHit, SearchPlan, SqlParam, SqlStatement,
    StorageError, time,
};
use rusqlite::{Connection, params_from_iter};

use crate::error::from_sqlite;
use crate::query::{DIALECT, Sql};
use crate::row::{MESSAGE_COLUMNS, message_from_row};

/// Rows examined per page of the scan.
pub(crate) const SCAN_PAGE: usize = 1_000;
/// Pages the scan examines before a search with an indexable term switches to the index.
pub(crate) const PROBE_PAGES: usize = 2;
/// The fewest characters of a term the trigram index can look up.
pub(crate) const MIN_INDEXED_CHARS: usize = 3;

/// The FTS5 table of migration 2, joined to `messages` on its rowid.
const INDEX_JOIN: &str = "message_search CROSS JOIN messages ON messages.seq = message_search.rowid";

/// Runs `plan` on `conn`; see the module documentation.
pub(crate) fn search(conn: &Connection, plan: &SearchPlan) -> Result<Vec<SearchHit>> {
    let error = |e| from_sqlite("search", e);
    // One snapshot for every statement below (dropped: rolled back, it only read).
    let snapshot = conn.unchecked_transaction().map_err(error)?;
    let mut hits = Vec::new();
    let mut position = None;
    let index_query = fts_query(plan);
    let mut pages = 0;
    while index_query.is_none() || pages < PROBE_PAGES {
        let page = scan_page(&snapshot, plan, position)?;
        for msg in page.matched {
            if let Some(hit) = plan.hit(msg) {
                hits.push(hit);
                if hits.len() == plan.limit {
                    return Ok(hits);
                }
            }
        }
        match page.last {
            Some(last) if page.examined == SCAN_PAGE => position = Some(last),
            _ => return Ok(hits),
        }
        pages += 1;
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

/// The FTS5 query for the terms the index can look up: each a quoted phrase (`"` doubled),
/// all of them required; `None` when every term is shorter than [`MIN_INDEXED_CHARS`].
pub(crate) fn fts_query(plan: &SearchPlan) -> Option<String> {
    let phrases: Vec<String> = plan
        .terms_of_at_least(MIN_INDEXED_CHARS)
        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" AND "))
}

/// One page of the scan.
struct ScanPage {
    /// Rows examined (fewer than [`SCAN_PAGE`]: the filtered rows ran out).
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

/// Examines the next [`SCAN_PAGE`] filtered rows before `position`.
fn scan_page(conn: &Connection, plan: &SearchPlan, position: Option<Cursor>) -> Result<ScanPage> {
    let error = |e| from_sqlite("search", e);
    let sql = render(
        plan,
        ("seq, created_at, content", "messages"),
        position,
        |_| {},
        SCAN_PAGE,
    )?;
    let mut stmt = conn.prepare_cached(&sql.text).map_err(error)?;
    let mut rows = stmt.query(params_from_iter(sql.params.iter())).map_err(error)?;
    let mut examined = 0;
    let mut last = None;
    let mut matched = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        examined += 1;
        let seq: i64 = row.get(0).map_err(error)?;
        let created_at: i64 = row.get(1).map_err(error)?;
        last = Some((created_at, seq));
        let content = row.get_ref(2).map_err(error)?.as_str().map_err(|e| error(e.into()))?;
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
    let list = serde_json::to_string(seqs)
        .map_err(|e| StorageError::query("search", e.to_string()))?;
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

/// The statement of [`index_page`] (tests `EXPLAIN` it).
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
        (MESSAGE_COLUMNS, INDEX_JOIN),
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
    stmt.query_map(params_from_iter(sql.params.iter()), message_from_row)
        .and_then(Iterator::collect)
        .map_err(error)
}
