//! Search: every term a case-insensitive substring of the content (CJK, Japanese, emoji and
//! LIKE metacharacters included), filters, newest-first keyset paging, deleted and purged
//! messages never found, snippets, and the query limits.

use hotplex_storage_core::{
    ChatAppMessage, Cursor, MessageType, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, SEARCH_MAX_TERMS,
    SEARCH_MAX_TEXT_BYTES, SearchHit, SearchQuery, StorageError,
};

use super::support::{Store, at, delete_session, put_batch, put_each, put_new, strings, timed};

/// The hits of `query`, panicking with the error on failure.
async fn search(store: &Store, query: &SearchQuery) -> Vec<SearchHit> {
    match store.search(query).await {
        Ok(hits) => hits,
        Err(e) => panic!("search({query:?}) failed: {e}"),
    }
}

/// The ids of the hits of `query`.
async fn hit_ids(store: &Store, query: &SearchQuery) -> Vec<String> {
    search(store, query)
        .await
        .into_iter()
        .map(|h| h.message.id)
        .collect()
}

/// Ids of searching `text` across every session.
async fn find(store: &Store, text: &str) -> Vec<String> {
    hit_ids(store, &SearchQuery::new(text)).await
}

/// Stores `(id, content)` pairs in session `s`, the n-th at `at(n)`.
async fn seed(store: &Store, rows: &[(&str, &str)]) {
    let msgs: Vec<ChatAppMessage> = rows
        .iter()
        .zip(0_i64..)
        .map(|((id, content), secs)| timed("s", content, secs).with_id(*id))
        .collect();
    put_each(store, &msgs).await;
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// ASCII terms match as case-insensitive substrings, inside words too; newest first.
pub async fn search_ascii_case_insensitive_substrings(store: Store) {
    seed(
        &store,
        &[
            ("a", "What is WAL mode in SQLite?"),
            ("b", "wal is write-ahead logging"),
            ("c", "the WALrus sings"),
            ("d", "nothing to see"),
        ],
    )
    .await;
    assert_eq!(find(&store, "wal").await, strings(&["c", "b", "a"]));
    assert_eq!(find(&store, "WaL").await, strings(&["c", "b", "a"]));
    assert_eq!(find(&store, "sqlite?").await, strings(&["a"]));
    assert_eq!(find(&store, "-AHEAD").await, strings(&["b"]));
    assert_eq!(find(&store, "s").await, strings(&["d", "c", "b", "a"]));
    assert!(find(&store, "walls").await.is_empty());
}

/// Every whitespace-separated term must occur, in any order and anywhere.
pub async fn search_every_term_must_occur(store: Store) {
    seed(
        &store,
        &[
            ("a", "backup the database nightly"),
            ("b", "restore the database"),
            ("c", "nightly backup"),
        ],
    )
    .await;
    assert_eq!(find(&store, "database backup").await, strings(&["a"]));
    assert_eq!(
        find(&store, "  NIGHTLY\tbackup\n").await,
        strings(&["c", "a"])
    );
    assert_eq!(find(&store, "backup backup").await, strings(&["c", "a"]));
    assert!(find(&store, "restore nightly").await.is_empty());
}

/// Case folding beyond ASCII: Latin with diacritics, Greek final sigma, sharp s, Cyrillic.
pub async fn search_unicode_case_folding(store: Store) {
    seed(
        &store,
        &[
            ("de", "ÄRGER mit der STRAẞE"),
            ("el", "η σοφίας αρχή"),
            ("ru", "Привет, МИР"),
        ],
    )
    .await;
    assert_eq!(find(&store, "ärger").await, strings(&["de"]));
    assert_eq!(find(&store, "straße").await, strings(&["de"]));
    assert_eq!(find(&store, "ΣΟΦΊΑΣ").await, strings(&["el"]));
    assert_eq!(find(&store, "мир привет").await, strings(&["ru"]));
    assert!(
        find(&store, "arger").await.is_empty(),
        "diacritics are kept"
    );
}

/// Chinese terms of one, two and three or more characters, which have no spaces around them.
pub async fn search_chinese_terms_of_every_length(store: Store) {
    seed(
        &store,
        &[
            ("a", "我们今天讨论数据库的设计"),
            ("b", "你好，世界"),
            ("c", "数据很重要，但库存更重要"),
            ("d", "他说：你好吗？"),
        ],
    )
    .await;
    assert_eq!(find(&store, "库").await, strings(&["c", "a"]));
    assert_eq!(find(&store, "数据").await, strings(&["c", "a"]));
    assert_eq!(find(&store, "数据库").await, strings(&["a"]));
    assert_eq!(find(&store, "讨论数据库的设计").await, strings(&["a"]));
    assert_eq!(find(&store, "你好").await, strings(&["d", "b"]));
    assert_eq!(find(&store, "你好 世界").await, strings(&["b"]));
    assert_eq!(find(&store, "设计 数据").await, strings(&["a"]));
    assert!(find(&store, "数库").await.is_empty());
    assert!(find(&store, "好你").await.is_empty());
}

/// Japanese (kana and kanji mixed) and emoji, alone and with other terms.
pub async fn search_japanese_and_emoji(store: Store) {
    seed(
        &store,
        &[
            ("ja", "東京で寿司を食べた🍣とても美味しい"),
            ("kana", "すしをたべた"),
            ("emoji", "ship it 🚀🚀 now 👩‍💻"),
        ],
    )
    .await;
    assert_eq!(find(&store, "寿司").await, strings(&["ja"]));
    assert_eq!(find(&store, "美味しい 東京").await, strings(&["ja"]));
    assert_eq!(find(&store, "すし").await, strings(&["kana"]));
    assert_eq!(find(&store, "🍣").await, strings(&["ja"]));
    assert_eq!(find(&store, "🚀🚀").await, strings(&["emoji"]));
    assert_eq!(find(&store, "👩‍💻").await, strings(&["emoji"]));
    assert_eq!(find(&store, "SHIP 🚀").await, strings(&["emoji"]));
    assert!(find(&store, "🚀🍣").await.is_empty());
}

/// `%`, `_`, `\`, quotes and FTS/regex syntax in the query are literal text.
pub async fn search_metacharacters_are_literal(store: Store) {
    seed(
        &store,
        &[
            ("pct", "we are 100% sure"),
            ("und", "rename file_name.txt"),
            ("plain", "100 sure filename"),
            ("slash", r"C:\temp\new"),
            ("syntax", r#"a "quoted" OR NOT (x*) AND y^2 -- ;"#),
        ],
    )
    .await;
    assert_eq!(find(&store, "%").await, strings(&["pct"]));
    assert_eq!(find(&store, "0%").await, strings(&["pct"]));
    assert_eq!(find(&store, "_").await, strings(&["und"]));
    assert_eq!(find(&store, "file_name").await, strings(&["und"]));
    assert_eq!(find(&store, r"\").await, strings(&["slash"]));
    assert_eq!(find(&store, r"p\n").await, strings(&["slash"]));
    assert_eq!(find(&store, r#""quoted""#).await, strings(&["syntax"]));
    assert_eq!(find(&store, "(x*)").await, strings(&["syntax"]));
    assert_eq!(find(&store, "OR NOT").await, strings(&["syntax"]));
    assert_eq!(find(&store, "--").await, strings(&["syntax"]));
    assert!(find(&store, "1%0").await.is_empty());
    assert_eq!(find(&store, "*").await, strings(&["syntax"]));
}

/// Session, user, platform, message type and time filters narrow the hits; all combine.
pub async fn search_filters(store: Store) {
    let msgs: Vec<ChatAppMessage> = (0..12_i64)
        .map(|i| {
            let idx = usize::try_from(i).expect("small");
            timed(["s1", "s2"][idx % 2], &format!("deploy step {i}"), 10 * i)
                .with_id(format!("f{i:02}"))
                .with_platform(["slack", "feishu", "slack"][idx % 3])
                .with_user(["U1", "U2"][(idx / 2) % 2])
                .with_message_type(if i < 6 {
                    MessageType::USER_INPUT
                } else {
                    MessageType::FINAL_RESPONSE
                })
        })
        .collect();
    put_batch(&store, &msgs).await;
    let ids = |query: SearchQuery| {
        let store = store.clone();
        async move { sorted(hit_ids(&store, &query.with_limit(100)).await) }
    };
    let expect = |pred: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..12)
            .filter(|&i| pred(i))
            .map(|i| format!("f{i:02}"))
            .collect()
    };
    let q = || SearchQuery::new("DEPLOY");
    assert_eq!(ids(q()).await, expect(&|_| true));
    assert_eq!(ids(q().with_session("s1")).await, expect(&|i| i % 2 == 0));
    assert_eq!(
        ids(q().with_user("U2")).await,
        expect(&|i| (i / 2) % 2 == 1)
    );
    assert_eq!(
        ids(q().with_platform("feishu")).await,
        expect(&|i| i % 3 == 1)
    );
    assert_eq!(
        ids(q().with_message_types([MessageType::FINAL_RESPONSE])).await,
        expect(&|i| i >= 6)
    );
    assert_eq!(
        ids(q().with_time_range(Some(at(30)), Some(at(70)))).await,
        expect(&|i| (3..=7).contains(&i)),
        "time bounds are inclusive"
    );
    assert_eq!(
        ids(q()
            .with_session("s2")
            .with_platform("slack")
            .with_user("U1")
            .with_time_range(Some(at(0)), Some(at(90))))
        .await,
        expect(&|i| i % 2 == 1 && i % 3 != 1 && (i / 2) % 2 == 0 && i <= 9)
    );
    assert!(ids(q().with_session("nobody")).await.is_empty());
    assert_eq!(
        ids(SearchQuery::new("step 1").with_session("s2")).await,
        strings(&["f01", "f11"]),
        "terms and filters combine"
    );
}

/// Newest first by `(created_at, seq)`; paging with the last hit's cursor visits every hit
/// exactly once, also when many hits share a timestamp and non-hits are interleaved.
pub async fn search_cursor_paging_newest_first(store: Store) {
    let mut msgs = Vec::new();
    for i in 0..45_usize {
        let secs = i64::try_from(i / 4).expect("small");
        let content = if i % 3 == 2 {
            "other text"
        } else {
            "needle 针"
        };
        msgs.push(timed(["p", "q"][i % 2], content, secs).with_id(format!("c{i:02}")));
    }
    put_each(&store, &msgs).await;
    let mut expected: Vec<(i64, usize)> = (0..45_usize)
        .filter(|i| i % 3 != 2)
        .map(|i| (i64::try_from(i / 4).expect("small"), i))
        .collect();
    // Within one second the store order is insertion order (seq grows with it).
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<String> = expected.iter().map(|(_, i)| format!("c{i:02}")).collect();
    for text in ["needle", "针"] {
        let mut seen = Vec::new();
        let mut query = SearchQuery::new(text).with_limit(7);
        loop {
            let hits = search(&store, &query).await;
            assert!(hits.len() <= 7, "a page holds at most `limit` hits");
            let Some(last) = hits.last() else { break };
            query.cursor = Some(Cursor::of(&last.message).expect("a stored message has a cursor"));
            seen.extend(hits.into_iter().map(|h| h.message.id));
        }
        assert_eq!(
            seen, expected,
            "paging {text:?} newest first, each hit once"
        );
    }
}

/// Soft-deleted, purged and retention-purged messages are never found; a message stored
/// already deleted (an import) is not either.
pub async fn search_never_finds_deleted_or_purged(store: Store) {
    put_new(&store, &timed("del", "secret plan alpha", 10).with_id("d1")).await;
    put_new(&store, &timed("pur", "secret plan beta", 20).with_id("p1")).await;
    put_new(&store, &timed("old", "secret plan gamma", 5).with_id("o1")).await;
    put_new(
        &store,
        &timed("keep", "secret plan delta", 30).with_id("k1"),
    )
    .await;
    let mut imported = timed("imp", "secret plan epsilon", 40).with_id("i1");
    imported.deleted = true;
    imported.deleted_at = Some(at(41));
    put_new(&store, &imported).await;
    assert_eq!(
        find(&store, "secret").await,
        strings(&["k1", "p1", "d1", "o1"])
    );
    assert_eq!(delete_session(&store, "del").await, 1);
    store.purge_session("pur").await.expect("purge_session");
    store
        .purge_messages_before(at(6))
        .await
        .expect("purge_messages_before");
    assert_eq!(find(&store, "secret").await, strings(&["k1"]));
    assert!(find(&store, "epsilon").await.is_empty());
    assert!(find(&store, "alpha").await.is_empty());
    // Re-storing a deleted id does not resurrect it.
    let again = store
        .store_user_message(&timed("del", "secret plan alpha", 10).with_id("d1"))
        .await
        .expect("re-store");
    assert_eq!(again.id, "d1");
    assert!(find(&store, "alpha").await.is_empty());
}

/// The snippet holds the first match (of any term) with up to 40 characters either side and
/// `…` where the content was cut; the hit carries the whole message.
pub async fn search_snippet_around_first_match(store: Store) {
    let content = format!("{}Needle and HAY{}", "左".repeat(60), "右".repeat(60));
    put_new(&store, &timed("s", &content, 1).with_id("long")).await;
    put_new(&store, &timed("s", "short hay", 2).with_id("short")).await;
    let hits = search(&store, &SearchQuery::new("hay needle")).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message.id, "long");
    assert_eq!(
        hits[0].message.content, content,
        "the hit has the whole message"
    );
    assert_eq!(
        hits[0].snippet,
        format!("…{}Needle and HAY{}…", "左".repeat(40), "右".repeat(32))
    );
    let hits = search(&store, &SearchQuery::new("HAY").with_session("s")).await;
    assert_eq!(hits[0].snippet, "short hay");
}

/// `limit` 0 means the default; the maximum is accepted and one more is `InvalidQuery`, as
/// are empty, whitespace-only, NUL, over-long and too-many-term texts and bad filters.
pub async fn search_limits_and_invalid_queries(store: Store) {
    let msgs: Vec<ChatAppMessage> = (0..25_i64)
        .map(|i| timed("s", "limit test", i).with_id(format!("l{i:02}")))
        .collect();
    put_batch(&store, &msgs).await;
    assert_eq!(
        search(&store, &SearchQuery::new("limit")).await.len(),
        SEARCH_DEFAULT_LIMIT
    );
    assert_eq!(
        search(&store, &SearchQuery::new("limit").with_limit(3))
            .await
            .len(),
        3
    );
    assert_eq!(
        search(
            &store,
            &SearchQuery::new("limit").with_limit(SEARCH_MAX_LIMIT)
        )
        .await
        .len(),
        25
    );
    let long_ok = "x".repeat(SEARCH_MAX_TEXT_BYTES);
    assert!(search(&store, &SearchQuery::new(long_ok)).await.is_empty());
    let many_ok = vec!["test"; SEARCH_MAX_TERMS].join(" ");
    assert_eq!(search(&store, &SearchQuery::new(many_ok)).await.len(), 20);
    let backwards = SearchQuery::new("limit").with_time_range(Some(at(5)), Some(at(4)));
    for (what, query) in [
        ("empty", SearchQuery::new("")),
        ("whitespace", SearchQuery::new(" \t\n ")),
        ("NUL", SearchQuery::new("lim\0it")),
        (
            "too long",
            SearchQuery::new("x".repeat(SEARCH_MAX_TEXT_BYTES + 1)),
        ),
        (
            "too many terms",
            SearchQuery::new(vec!["t"; SEARCH_MAX_TERMS + 1].join(" ")),
        ),
        (
            "limit",
            SearchQuery::new("limit").with_limit(SEARCH_MAX_LIMIT + 1),
        ),
        ("time range", backwards),
        ("NUL session", SearchQuery::new("limit").with_session("s\0")),
        (
            "NUL platform",
            SearchQuery::new("limit").with_platform("\0"),
        ),
    ] {
        match store.search(&query).await {
            Err(StorageError::InvalidQuery { .. }) => {}
            other => panic!("search with {what} must be InvalidQuery, got {other:?}"),
        }
    }
}

/// Hostile strings (SQL, FTS operators, long CJK runs) are searched literally and a closed
/// store answers `Closed`.
pub async fn search_hostile_text_and_closed_store(store: Store) {
    let hostile = [
        "'; DROP TABLE messages; --",
        "\" OR 1=1 --",
        "NEAR(a b) col:value ^x",
        "%_%_%",
    ];
    for (i, text) in hostile.iter().enumerate() {
        put_new(
            &store,
            &timed("h", text, i64::try_from(i).expect("small")).with_id(format!("h{i}")),
        )
        .await;
    }
    for (i, text) in hostile.iter().enumerate() {
        assert_eq!(
            find(&store, text).await,
            vec![format!("h{i}")],
            "searching {text:?} finds exactly its own message"
        );
    }
    let cjk_run = "汉".repeat(2_000);
    put_new(&store, &timed("h", &cjk_run, 10).with_id("run")).await;
    assert_eq!(find(&store, &"汉".repeat(300)).await, strings(&["run"]));
    store.close().await.expect("close");
    match store.search(&SearchQuery::new("drop")).await {
        Err(StorageError::Closed) => {}
        other => panic!("search on a closed store must fail with Closed, got {other:?}"),
    }
}
