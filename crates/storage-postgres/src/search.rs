//! `search` over the trigram index: one statement per page — the plan's filters, every term
//! as a `LIKE` on `content_folded` (the content through core's `fold`, indexed with
//! `gin_trgm_ops`), newest first — and every row through [`SearchPlan::hit`], the final
//! decision. Rows not folded yet (`content_folded IS NULL`, see `backfill`) are candidates too,
//! so the index never hides a row `hit` accepts; when `hit` rejects one, the next page
//! continues after the last row read. The statement is sent unprepared, so the server plans it
//! for the actual terms (a rare term reads the index; a common one walks `(created_at, seq)`).

use hotplex_storage_core::{
    Condition, Cursor, QueryPlan, Result, SearchHit, SearchPlan, SqlParam, SqlStatement,
};

use crate::connection::PgConn;
use crate::query::{DIALECT, query_planned_per_call};
use crate::row::{MESSAGE_COLUMNS, message_from_row};

/// `term` as a `LIKE … ESCAPE '\'` pattern matching it anywhere: `\`, `%` and `_` are taken
/// literally.
pub(crate) fn like_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The statement of one page of at most `limit` candidates under `filters`.
pub(crate) fn page_sql(plan: &SearchPlan, filters: &QueryPlan, limit: usize) -> SqlStatement {
    let mut sql = filters.render(&DIALECT, MESSAGE_COLUMNS, "messages", false);
    sql.text.push_str(" AND ((");
    for (i, term) in plan.terms.iter().enumerate() {
        if i > 0 {
            sql.text.push_str(" AND ");
        }
        sql.push(
            r"content_folded LIKE ? ESCAPE '\'",
            [SqlParam::Text(like_pattern(term))],
        );
    }
    sql.text.push_str(") OR content_folded IS NULL)");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    sql.push(
        " ORDER BY created_at DESC, seq DESC LIMIT ?",
        [SqlParam::Limit(Some(limit))],
    );
    sql
}

/// The hits of `plan`, newest first, at most `plan.limit`.
pub(crate) fn search(conn: &mut PgConn, plan: &SearchPlan) -> Result<Vec<SearchHit>> {
    let mut hits = Vec::new();
    let mut resume: Option<Cursor> = None;
    loop {
        let wanted = plan.limit - hits.len();
        let mut filters = plan.filters.clone();
        filters.conditions.extend(resume.map(Condition::Before));
        let rows = query_planned_per_call(conn, &page_sql(plan, &filters, wanted), "search")?;
        let exhausted = rows.len() < wanted;
        for row in &rows {
            let msg = message_from_row(row)?;
            resume = Some(Cursor::of(&msg)?);
            if let Some(hit) = plan.hit(msg) {
                hits.push(hit);
            }
        }
        if exhausted || hits.len() == plan.limit {
            return Ok(hits);
        }
        tracing::debug!(
            hits = hits.len(),
            "search: rows not folded yet were rejected; reading on"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotplex_storage_core::SearchQuery;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern("abc"), "%abc%");
        assert_eq!(like_pattern(r"100%_x\y"), r"%100\%\_x\\y%");
        assert_eq!(like_pattern("数据库"), "%数据库%");
    }

    #[test]
    fn every_term_is_a_bound_like_on_the_folded_column() {
        let plan = SearchQuery::new("WAL 数据")
            .with_session("s")
            .plan()
            .unwrap();
        let sql = page_sql(&plan, &plan.filters, 7);
        assert!(
            sql.text.contains(concat!(
                r"AND ((content_folded LIKE $2 ESCAPE '\' AND content_folded LIKE $3 ESCAPE '\')",
                " OR content_folded IS NULL) ORDER BY created_at DESC, seq DESC LIMIT $4"
            )),
            "{}",
            sql.text
        );
        assert!(sql.text.contains("NOT deleted AND chat_session_id = $1"));
        assert_eq!(
            sql.params,
            [
                SqlParam::Text("s".into()),
                SqlParam::Text("%wal%".into()),
                SqlParam::Text("%数据%".into()),
                SqlParam::Limit(Some(7)),
            ]
        );
    }

    /// Filler words of the large-table test, Latin and Chinese.
    const WORDS: [&str; 7] = [
        "backup",
        "database",
        "partition",
        "数据库",
        "备份",
        "索引",
        "日志",
    ];

    /// `EXPLAIN` of the first page of `plan`, planned as the store plans it (the values bound).
    fn explain(conn: &mut PgConn, plan: &SearchPlan) -> String {
        let mut sql = page_sql(plan, &plan.filters, plan.limit);
        sql.text.insert_str(0, "EXPLAIN ");
        query_planned_per_call(conn, &sql, "explain")
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A 20,000-message table where `zqxjv` and `罕见的` each occur once: searching either
    /// reads the trigram index (level 2: each partition's) and finds the one row.
    fn rare_terms_read_the_trigram_index(level: u8) {
        use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, WriteOnlyStore};

        let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
            return;
        };
        let db = server.create_database().expect("a test database");
        let config = crate::PostgresConfig::from_dsn(&db.dsn())
            .unwrap()
            .with_level(level);
        let store = crate::PostgresStore::new(config.clone()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(store.initialize()).unwrap();
        for chunk in 0..20 {
            let batch: Vec<ChatAppMessage> = (0..1_000)
                .map(|i| {
                    let n = chunk * 1_000 + i;
                    let content = match n {
                        7_777 => "the ZQXJV marker".to_owned(),
                        12_345 => "这是一个罕见的词语".to_owned(),
                        _ => format!(
                            "message {n} about {} and {}",
                            WORDS[n % WORDS.len()],
                            WORDS[(n / 7) % WORDS.len()]
                        ),
                    };
                    ChatAppMessage::user(format!("s{}", n % 50), content).with_id(format!("m{n}"))
                })
                .collect();
            runtime.block_on(store.store_batch(&batch)).unwrap();
        }
        let pool = crate::connection::build_pool(&config);
        let mut conn = crate::connection::checkout(&pool, false).unwrap();
        conn.client.batch_execute("ANALYZE messages").unwrap();
        for (term, id) in [("zqxjv", "m7777"), ("罕见的", "m12345")] {
            let plan = SearchQuery::new(term).plan().unwrap();
            let explained = explain(&mut conn, &plan);
            let index = if level == 1 {
                "messages_content_trgm_idx"
            } else {
                "content_folded_idx"
            };
            assert!(
                explained.contains("Bitmap Index Scan on") && explained.contains(index),
                "{term}: the plan does not read {index}:\n{explained}"
            );
            let hits = search(&mut conn, &plan).unwrap();
            let ids: Vec<&str> = hits.iter().map(|h| h.message.id.as_str()).collect();
            assert_eq!(ids, [id], "{term}");
        }
        drop(conn);
        drop(pool);
        drop(store);
        drop(db);
    }

    #[test]
    fn rare_terms_read_the_trigram_index_at_level1() {
        rare_terms_read_the_trigram_index(1);
    }

    #[test]
    fn rare_terms_read_the_trigram_index_at_level2() {
        rare_terms_read_the_trigram_index(2);
    }
}
