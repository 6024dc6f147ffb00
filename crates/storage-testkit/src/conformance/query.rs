//! Reading: every `MessageQuery` filter alone and combined, limit, offset, order, soft-deleted
//! visibility, `count`, and invalid queries.

use hotplex_storage_core::{ChatAppMessage, Cursor, MessageQuery, MessageType, StorageError};
use uuid::Uuid;

use super::support::{
    Store, assert_invalid_query, at, at_nanos, count, delete_session, get, list, list_ids,
    put_each, put_new, strings, timed,
};

const E1: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
const E2: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);
const TYPES: [MessageType; 4] = [
    MessageType::USER_INPUT,
    MessageType::FINAL_RESPONSE,
    MessageType::THINKING,
    MessageType::TOOL_USE,
];

/// Twelve messages `q00`..`q11` at `at(10 * i)`, stored in a shuffled order, whose
/// attributes vary independently so that each filter selects a different subset.
async fn seed(store: &Store) -> Vec<ChatAppMessage> {
    let data: Vec<ChatAppMessage> = (0..12_usize)
        .map(|i| {
            let secs = i64::try_from(10 * i).expect("small");
            timed(["s-a", "s-b"][i % 2], &format!("message {i}"), secs)
                .with_id(format!("q{i:02}"))
                .with_platform("slack")
                .with_user(["U1", "U2", "U3"][i % 3])
                .with_engine_session([E1, E2, Uuid::nil()][(i / 2) % 3])
                .with_provider(if i < 6 { "claude" } else { "gpt" }, format!("p{}", i % 4))
                .with_message_type(TYPES[(i / 3) % 4].clone())
        })
        .collect();
    let order = [5, 0, 11, 3, 8, 1, 10, 6, 2, 9, 4, 7];
    let shuffled: Vec<ChatAppMessage> = order.iter().map(|&i| data[i].clone()).collect();
    put_each(store, &shuffled).await;
    data
}

/// Asserts that `query` lists exactly the seeded messages satisfying `expected`, newest
/// first (and oldest first with `ascending`), and that `count` agrees.
async fn check(
    store: &Store,
    data: &[ChatAppMessage],
    query: &MessageQuery,
    expected: impl Fn(&ChatAppMessage) -> bool,
    label: &str,
) {
    let mut want: Vec<String> = data
        .iter()
        .filter(|m| expected(m))
        .map(|m| m.id.clone())
        .collect();
    // Seeded ids sort like their timestamps.
    want.sort();
    let ascending = list_ids(store, &query.clone().with_ascending(true)).await;
    assert_eq!(ascending, want, "{label}: ascending list");
    want.reverse();
    let descending = list_ids(store, &query.clone().with_ascending(false)).await;
    assert_eq!(descending, want, "{label}: descending list");
    assert_eq!(
        count(store, query).await,
        want.len() as u64,
        "{label}: count"
    );
}

/// `chat_session_id` selects one session's messages.
pub async fn filter_by_session(store: Store) {
    let data = seed(&store).await;
    let q = MessageQuery::for_session("s-a");
    check(
        &store,
        &data,
        &q,
        |m| m.chat_session_id == "s-a",
        "session s-a",
    )
    .await;
    let q = MessageQuery::for_session("s-b");
    check(
        &store,
        &data,
        &q,
        |m| m.chat_session_id == "s-b",
        "session s-b",
    )
    .await;
    let q = MessageQuery::for_session("s-");
    check(&store, &data, &q, |_| false, "a prefix is not a match").await;
}

/// `chat_user_id` selects one user's messages.
pub async fn filter_by_user(store: Store) {
    let data = seed(&store).await;
    for user in ["U1", "U2", "U3", "U4"] {
        let q = MessageQuery {
            chat_user_id: Some(user.into()),
            ..MessageQuery::default()
        };
        check(&store, &data, &q, |m| m.chat_user_id == user, user).await;
    }
}

/// `engine_session_id` selects one engine session (nil included).
pub async fn filter_by_engine_session_id(store: Store) {
    let data = seed(&store).await;
    for engine in [E1, E2, Uuid::nil(), Uuid::from_u128(99)] {
        let q = MessageQuery {
            engine_session_id: Some(engine),
            ..MessageQuery::default()
        };
        check(
            &store,
            &data,
            &q,
            |m| m.engine_session_id == engine,
            &engine.to_string(),
        )
        .await;
    }
}

/// `provider_type` selects one provider.
pub async fn filter_by_provider_type(store: Store) {
    let data = seed(&store).await;
    for provider in ["claude", "gpt", "other"] {
        let q = MessageQuery {
            provider_type: Some(provider.into()),
            ..MessageQuery::default()
        };
        check(&store, &data, &q, |m| m.provider_type == provider, provider).await;
    }
}

/// `provider_session_id` selects one provider session.
pub async fn filter_by_provider_session_id(store: Store) {
    let data = seed(&store).await;
    for p in ["p0", "p1", "p3", "p9"] {
        let q = MessageQuery {
            provider_session_id: Some(p.into()),
            ..MessageQuery::default()
        };
        check(&store, &data, &q, |m| m.provider_session_id == p, p).await;
    }
}

/// `start_time` is inclusive: a message created exactly at it is included.
pub async fn filter_start_time_inclusive(store: Store) {
    let data = seed(&store).await;
    let q = MessageQuery {
        start_time: Some(at(50)),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.created_at >= Some(at(50)),
        "start 50",
    )
    .await;
    let q = MessageQuery {
        start_time: Some(at(45)),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.created_at >= Some(at(45)),
        "start 45",
    )
    .await;
}

/// `end_time` is inclusive: a message created exactly at it is included.
pub async fn filter_end_time_inclusive(store: Store) {
    let data = seed(&store).await;
    let q = MessageQuery {
        end_time: Some(at(50)),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.created_at <= Some(at(50)),
        "end 50",
    )
    .await;
    let q = MessageQuery {
        end_time: Some(at(-1)),
        ..MessageQuery::default()
    };
    check(&store, &data, &q, |_| false, "end before every message").await;
}

/// `start_time == end_time` selects the messages of exactly that instant; a range selects
/// both of its ends.
pub async fn filter_time_range(store: Store) {
    let data = seed(&store).await;
    let q = MessageQuery {
        start_time: Some(at(30)),
        end_time: Some(at(30)),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.created_at == Some(at(30)),
        "instant",
    )
    .await;
    let q = MessageQuery {
        start_time: Some(at(20)),
        end_time: Some(at(70)),
        ..MessageQuery::default()
    };
    let range = |m: &ChatAppMessage| m.created_at >= Some(at(20)) && m.created_at <= Some(at(70));
    check(&store, &data, &q, range, "range 20..=70").await;
}

/// Time bounds are compared exactly, below a microsecond too: a message at `t` is before a
/// `start_time` of `t + 500 ns` and within an `end_time` of `t + 500 ns`.
pub async fn filter_time_bounds_below_a_microsecond(store: Store) {
    let data = seed(&store).await;
    let bound = at_nanos(50, 500);
    let q = MessageQuery {
        start_time: Some(bound),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.created_at > Some(at(50)),
        "start 50 s + 500 ns",
    )
    .await;
    let q = MessageQuery {
        end_time: Some(bound),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.created_at <= Some(at(50)),
        "end 50 s + 500 ns",
    )
    .await;
}

/// One entry in `message_types` selects that type.
pub async fn filter_single_message_type(store: Store) {
    let data = seed(&store).await;
    for t in TYPES.iter().chain([&MessageType::ERROR]) {
        let q = MessageQuery::default().with_message_types([t.clone()]);
        check(&store, &data, &q, |m| &m.message_type == t, t.as_str()).await;
    }
}

/// Several entries in `message_types` select any of them.
pub async fn filter_multiple_message_types(store: Store) {
    let data = seed(&store).await;
    let wanted = [MessageType::USER_INPUT, MessageType::TOOL_USE];
    let q = MessageQuery::default().with_message_types(wanted.clone());
    check(
        &store,
        &data,
        &q,
        |m| wanted.contains(&m.message_type),
        "user_input|tool_use",
    )
    .await;
    let q = MessageQuery::default().with_message_types(TYPES);
    check(&store, &data, &q, |_| true, "every seeded type").await;
}

/// Filters combine with AND.
pub async fn filters_combined(store: Store) {
    let data = seed(&store).await;
    let q = MessageQuery {
        chat_session_id: Some("s-a".into()),
        provider_type: Some("claude".into()),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.chat_session_id == "s-a" && m.provider_type == "claude",
        "session+provider",
    )
    .await;
    let q = MessageQuery {
        chat_session_id: Some("s-b".into()),
        chat_user_id: Some("U2".into()),
        start_time: Some(at(10)),
        end_time: Some(at(100)),
        message_types: vec![
            MessageType::USER_INPUT,
            MessageType::THINKING,
            MessageType::TOOL_USE,
        ],
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| {
            m.chat_session_id == "s-b"
                && m.chat_user_id == "U2"
                && m.created_at >= Some(at(10))
                && m.created_at <= Some(at(100))
                && m.message_type != MessageType::FINAL_RESPONSE
        },
        "session+user+time+types",
    )
    .await;
    let q = MessageQuery {
        engine_session_id: Some(E1),
        provider_session_id: Some("p1".into()),
        chat_user_id: Some("U1".into()),
        ..MessageQuery::default()
    };
    check(
        &store,
        &data,
        &q,
        |m| m.engine_session_id == E1 && m.provider_session_id == "p1" && m.chat_user_id == "U1",
        "engine+provider session+user",
    )
    .await;
}

/// A query on an empty store lists nothing and counts 0.
pub async fn empty_store_lists_nothing(store: Store) {
    assert!(list(&store, &MessageQuery::default()).await.is_empty());
    assert_eq!(count(&store, &MessageQuery::default()).await, 0);
    assert!(
        list(&store, &MessageQuery::for_session("s"))
            .await
            .is_empty()
    );
}

/// `limit` returns the first `limit` results in the requested order; 0 means no limit.
pub async fn list_limit(store: Store) {
    seed(&store).await;
    let newest = list_ids(&store, &MessageQuery::default().with_limit(3)).await;
    assert_eq!(newest, strings(&["q11", "q10", "q09"]));
    let oldest = list_ids(
        &store,
        &MessageQuery::default().with_limit(2).with_ascending(true),
    )
    .await;
    assert_eq!(oldest, strings(&["q00", "q01"]));
    assert_eq!(
        list(&store, &MessageQuery::default().with_limit(0))
            .await
            .len(),
        12
    );
    assert_eq!(
        list(&store, &MessageQuery::default().with_limit(100))
            .await
            .len(),
        12
    );
}

/// `offset` skips results in the requested order; past the end it lists nothing.
pub async fn list_offset(store: Store) {
    seed(&store).await;
    let q = MessageQuery::for_session("s-a").with_offset(2);
    assert_eq!(
        list_ids(&store, &q).await,
        strings(&["q06", "q04", "q02", "q00"])
    );
    let q = MessageQuery::for_session("s-a")
        .with_offset(2)
        .with_ascending(true);
    assert_eq!(
        list_ids(&store, &q).await,
        strings(&["q04", "q06", "q08", "q10"])
    );
    let q = MessageQuery::default().with_offset(12);
    assert!(
        list(&store, &q).await.is_empty(),
        "offset == len lists nothing"
    );
    let q = MessageQuery::default().with_offset(1_000);
    assert!(
        list(&store, &q).await.is_empty(),
        "offset past the end lists nothing"
    );
}

/// `limit` and `offset` together select one page.
pub async fn list_limit_and_offset(store: Store) {
    seed(&store).await;
    let q = MessageQuery::default().with_offset(3).with_limit(4);
    assert_eq!(
        list_ids(&store, &q).await,
        strings(&["q08", "q07", "q06", "q05"])
    );
    let q = q.with_ascending(true);
    assert_eq!(
        list_ids(&store, &q).await,
        strings(&["q03", "q04", "q05", "q06"])
    );
    let q = MessageQuery::default().with_offset(10).with_limit(5);
    assert_eq!(
        list_ids(&store, &q).await,
        strings(&["q01", "q00"]),
        "a short last page"
    );
    let mut paged = Vec::new();
    for page in 0..4 {
        let q = MessageQuery::default().with_offset(page * 5).with_limit(5);
        paged.extend(list_ids(&store, &q).await);
    }
    assert_eq!(paged, list_ids(&store, &MessageQuery::default()).await);
}

/// Order is by `created_at`, not insertion: newest first by default, oldest first with
/// `ascending`; the two are exact reverses.
pub async fn order_by_created_at(store: Store) {
    let data = seed(&store).await;
    let mut want = super::support::ids(&data);
    let asc = list_ids(&store, &MessageQuery::default().with_ascending(true)).await;
    assert_eq!(asc, want, "ascending");
    want.reverse();
    let desc = list_ids(&store, &MessageQuery::default()).await;
    assert_eq!(desc, want, "descending is the default");
}

/// Messages sharing a `created_at` are ordered by `seq` (insertion order), ascending, and
/// exactly reversed descending.
pub async fn order_ties_broken_by_seq(store: Store) {
    // (label, secs) in insertion order; several share a timestamp.
    let plan = [
        ("a", 20),
        ("b", 10),
        ("c", 20),
        ("d", 10),
        ("e", 30),
        ("f", 20),
        ("g", 10),
    ];
    let msgs: Vec<_> = plan
        .iter()
        .map(|(label, secs)| timed("s", label, *secs).with_id(*label))
        .collect();
    put_each(&store, &msgs).await;
    // A stable sort by time keeps insertion order among ties.
    let mut want: Vec<(i64, &str)> = plan.iter().map(|(l, s)| (*s, *l)).collect();
    want.sort_by_key(|(s, _)| *s);
    let want: Vec<String> = want.iter().map(|(_, l)| (*l).to_owned()).collect();
    let asc = list_ids(&store, &MessageQuery::for_session("s").with_ascending(true)).await;
    assert_eq!(asc, want, "ascending with ties by seq");
    let mut rev = want.clone();
    rev.reverse();
    let desc = list_ids(&store, &MessageQuery::for_session("s")).await;
    assert_eq!(desc, rev, "descending is the exact reverse");
    for pair in list(&store, &MessageQuery::for_session("s").with_ascending(true))
        .await
        .windows(2)
    {
        assert!(
            Cursor::of(&pair[0]).unwrap() < Cursor::of(&pair[1]).unwrap(),
            "positions strictly increase"
        );
    }
}

/// Soft-deleted messages are hidden from `list` and `count` unless `include_deleted`; with it
/// they appear in place, flagged `deleted` with a `deleted_at`.
pub async fn include_deleted_in_list_and_count(store: Store) {
    let data = seed(&store).await;
    assert_eq!(delete_session(&store, "s-a").await, 6);
    let live = MessageQuery::default();
    check(
        &store,
        &data,
        &live,
        |m| m.chat_session_id == "s-b",
        "live only",
    )
    .await;
    let all = MessageQuery::default().with_include_deleted(true);
    check(&store, &data, &all, |_| true, "include_deleted").await;
    for msg in list(&store, &all).await {
        let in_a = msg.chat_session_id == "s-a";
        assert_eq!(msg.deleted, in_a, "{} deleted flag", msg.id);
        assert_eq!(msg.deleted_at.is_some(), in_a, "{} deleted_at", msg.id);
    }
    let q = MessageQuery::for_session("s-a").with_include_deleted(true);
    assert_eq!(count(&store, &q).await, 6);
    assert_eq!(count(&store, &MessageQuery::for_session("s-a")).await, 0);
    let q = MessageQuery::for_session("s-a").with_message_types([MessageType::USER_INPUT]);
    assert_eq!(
        count(&store, &q.clone().with_include_deleted(true)).await,
        2
    );
    assert_eq!(count(&store, &q).await, 0);
}

/// `count` applies the filters but ignores `limit`, `offset`, `ascending` and the cursors.
pub async fn count_ignores_paging(store: Store) {
    seed(&store).await;
    let anchor = get(&store, "q05").await;
    let q = MessageQuery::for_session("s-b")
        .with_limit(2)
        .with_offset(1)
        .with_ascending(true)
        .with_after(Cursor::of(&anchor).unwrap())
        .with_before(Cursor::of(&get(&store, "q09").await).unwrap());
    assert_eq!(
        count(&store, &q).await,
        6,
        "count ignores limit, offset and cursors"
    );
    assert_eq!(list(&store, &q).await.len(), 0, "while list honours them");
    let q = MessageQuery::default().with_limit(1).with_offset(100);
    assert_eq!(count(&store, &q).await, 12);
}

/// `start_time` after `end_time` is `InvalidQuery` for `list` and `count`.
pub async fn invalid_query_time_range(store: Store) {
    put_new(&store, &timed("s", "c", 10)).await;
    let q = MessageQuery {
        start_time: Some(at(20)),
        end_time: Some(at(10)),
        ..MessageQuery::default()
    };
    assert_invalid_query(store.list(&q).await, "list with start_time > end_time");
    assert_invalid_query(store.count(&q).await, "count with start_time > end_time");
    let q = MessageQuery {
        start_time: Some(at_nanos(10, 1_000)),
        end_time: Some(at(10)),
        ..MessageQuery::default()
    };
    assert_invalid_query(store.list(&q).await, "start_time 1 µs after end_time");
}

/// An `after` cursor not older than `before` (equal or newer) is `InvalidQuery`.
pub async fn invalid_query_cursor_window(store: Store) {
    let ids = put_each(&store, &[timed("s", "a", 10), timed("s", "b", 20)]).await;
    let older = Cursor::of(&get(&store, &ids[0]).await).unwrap();
    let newer = Cursor::of(&get(&store, &ids[1]).await).unwrap();
    let equal = MessageQuery::default().with_after(older).with_before(older);
    assert_invalid_query(store.list(&equal).await, "list with after == before");
    assert_invalid_query(store.count(&equal).await, "count with after == before");
    let inverted = MessageQuery::default().with_after(newer).with_before(older);
    assert_invalid_query(store.list(&inverted).await, "list with after > before");
    let fine = MessageQuery::default().with_after(older).with_before(newer);
    assert!(
        list(&store, &fine).await.is_empty(),
        "nothing lies strictly between"
    );
}

/// An empty message type or a NUL in a filter string is `InvalidQuery`, never a driver error.
pub async fn invalid_query_filter_values(store: Store) {
    put_new(&store, &timed("s", "c", 10)).await;
    let q = MessageQuery::default().with_message_types([MessageType::new("")]);
    assert_invalid_query(store.list(&q).await, "list with an empty message type");
    assert_invalid_query(store.count(&q).await, "count with an empty message type");
    let q = MessageQuery::for_session("s\0x");
    assert_invalid_query(store.list(&q).await, "list with NUL in the session filter");
    let q = MessageQuery {
        chat_user_id: Some("U\0".into()),
        ..MessageQuery::default()
    };
    assert_invalid_query(store.count(&q).await, "count with NUL in the user filter");
    let err = store
        .list(&MessageQuery::default().with_message_types([MessageType::new("a\0")]))
        .await
        .expect_err("NUL in a message type");
    assert!(matches!(err, StorageError::InvalidQuery { .. }), "{err:?}");
}
