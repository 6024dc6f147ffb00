//! Keyset paging with `after` / `before` cursors: no skip, no repeat, even when many
//! messages share one timestamp.

use std::collections::HashSet;

use hotplex_storage_core::{ChatAppMessage, Cursor, MessageQuery, MessageType};

use super::support::{Store, get, ids, list, list_ids, put_batch, put_each, timed};

/// Stores `n` messages of session `s` that all share one `created_at`; returns their ids in
/// insertion (= seq) order.
async fn same_instant(store: &Store, n: usize) -> Vec<String> {
    let msgs: Vec<ChatAppMessage> = (0..n).map(|i| timed("s", &format!("m{i}"), 7)).collect();
    put_batch(store, &msgs)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect()
}

/// Pages through `query` with `page` results per call, moving the cursor with `next`.
async fn page_through(
    store: &Store,
    query: &MessageQuery,
    page: usize,
    next: impl Fn(MessageQuery, Cursor) -> MessageQuery,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut q = query.clone().with_limit(page);
    for _ in 0..10_000 {
        let batch = list(store, &q).await;
        assert!(batch.len() <= page, "a page holds at most `limit` messages");
        let Some(last) = batch.last() else { break };
        let cursor = Cursor::of(last).unwrap();
        // The cursor token is what clients keep between requests.
        let cursor: Cursor = cursor.to_string().parse().expect("cursor token parses");
        seen.extend(ids(&batch));
        q = next(q, cursor);
    }
    seen
}

fn assert_complete(seen: &[String], want: &[String], label: &str) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "{label}: a message was repeated");
    assert_eq!(seen.len(), want.len(), "{label}: a message was skipped");
    assert_eq!(seen, want, "{label}: pages concatenate to the full order");
}

/// Forward paging (ascending + `after`) over 1,000 messages sharing one timestamp visits each
/// exactly once, in seq order.
pub async fn cursor_forward_paging_shared_timestamp(store: Store) {
    let want = same_instant(&store, 1_000).await;
    let q = MessageQuery::for_session("s").with_ascending(true);
    let seen = page_through(&store, &q, 37, MessageQuery::with_after).await;
    assert_complete(&seen, &want, "forward");
}

/// Backward paging (descending + `before`) over 1,000 messages sharing one timestamp visits
/// each exactly once, newest (highest seq) first.
pub async fn cursor_backward_paging_shared_timestamp(store: Store) {
    let mut want = same_instant(&store, 1_000).await;
    want.reverse();
    let q = MessageQuery::for_session("s");
    let seen = page_through(&store, &q, 41, MessageQuery::with_before).await;
    assert_complete(&seen, &want, "backward");
}

/// Paging both ways over messages with mixed, partly shared timestamps stored out of order
/// matches the full ordered list.
pub async fn cursor_paging_mixed_timestamps(store: Store) {
    let msgs: Vec<ChatAppMessage> = (0..60_i64)
        .map(|i| timed("s", &format!("m{i}"), (i * 7) % 11))
        .collect();
    put_each(&store, &msgs).await;
    let asc = list_ids(&store, &MessageQuery::for_session("s").with_ascending(true)).await;
    let q = MessageQuery::for_session("s").with_ascending(true);
    let seen = page_through(&store, &q, 4, MessageQuery::with_after).await;
    assert_complete(&seen, &asc, "forward, mixed timestamps");
    let mut desc = asc.clone();
    desc.reverse();
    let q = MessageQuery::for_session("s");
    let seen = page_through(&store, &q, 3, MessageQuery::with_before).await;
    assert_complete(&seen, &desc, "backward, mixed timestamps");
}

/// `after` and `before` together select the open window between two positions, in either
/// order, with limit and offset applied inside the window.
pub async fn cursor_window_after_and_before(store: Store) {
    let msgs: Vec<ChatAppMessage> = (0..20)
        .map(|i| timed("s", &format!("m{i}"), i / 3))
        .collect();
    let all = put_each(&store, &msgs).await;
    let after = Cursor::of(&get(&store, &all[4]).await).unwrap();
    let before = Cursor::of(&get(&store, &all[15]).await).unwrap();
    let window = MessageQuery::for_session("s")
        .with_after(after)
        .with_before(before);
    let asc = list_ids(&store, &window.clone().with_ascending(true)).await;
    assert_eq!(asc, all[5..15].to_vec(), "ascending window");
    let desc = list_ids(&store, &window.clone()).await;
    let mut want = all[5..15].to_vec();
    want.reverse();
    assert_eq!(desc, want, "descending window");
    let page = list_ids(
        &store,
        &window.with_ascending(true).with_offset(2).with_limit(3),
    )
    .await;
    assert_eq!(
        page,
        all[7..10].to_vec(),
        "offset and limit inside the window"
    );
}

/// Cursors are positions on the time axis, independent of the direction: descending + `after`
/// lists the newest messages newer than the cursor; ascending + `before` the oldest older ones.
pub async fn cursor_direction_independent(store: Store) {
    let msgs: Vec<ChatAppMessage> = (0..10).map(|i| timed("s", &format!("m{i}"), i)).collect();
    let all = put_each(&store, &msgs).await;
    let mid = Cursor::of(&get(&store, &all[5]).await).unwrap();
    let newer_desc = list_ids(
        &store,
        &MessageQuery::for_session("s").with_after(mid).with_limit(2),
    )
    .await;
    assert_eq!(newer_desc, vec![all[9].clone(), all[8].clone()]);
    let q = MessageQuery::for_session("s")
        .with_before(mid)
        .with_ascending(true)
        .with_limit(2);
    assert_eq!(
        list_ids(&store, &q).await,
        vec![all[0].clone(), all[1].clone()]
    );
    let q = MessageQuery::for_session("s").with_before(mid);
    assert_eq!(
        list_ids(&store, &q).await.len(),
        5,
        "strictly older: m0..m4"
    );
    let q = MessageQuery::for_session("s").with_after(mid);
    assert_eq!(
        list_ids(&store, &q).await.len(),
        4,
        "strictly newer: m6..m9"
    );
}

/// Cursors combine with filters: paging a type-filtered session skips nothing and lists no
/// message of another type or session; a cursor from another session still bounds by position.
pub async fn cursor_with_filters(store: Store) {
    let mut msgs = Vec::new();
    for i in 0..40_i64 {
        let session = if i % 5 == 0 { "other" } else { "s" };
        let t = if i % 2 == 0 {
            MessageType::USER_INPUT
        } else {
            MessageType::FINAL_RESPONSE
        };
        msgs.push(timed(session, &format!("m{i}"), i / 4).with_message_type(t));
    }
    put_each(&store, &msgs).await;
    let q = MessageQuery::for_session("s")
        .with_message_types([MessageType::USER_INPUT])
        .with_ascending(true);
    let want = list_ids(&store, &q).await;
    assert_eq!(want.len(), 16, "even i not divisible by 5");
    let seen = page_through(&store, &q, 5, MessageQuery::with_after).await;
    assert_complete(&seen, &want, "filtered forward paging");
    let other = list(
        &store,
        &MessageQuery::for_session("other").with_ascending(true),
    )
    .await;
    let from_other = Cursor::of(&other[3]).unwrap();
    let newer = list(&store, &q.clone().with_after(from_other)).await;
    assert!(
        newer
            .iter()
            .all(|m| Cursor::of(m).unwrap() > from_other && m.chat_session_id == "s"),
        "a foreign cursor bounds by position only"
    );
    let expected_after = list(&store, &q)
        .await
        .into_iter()
        .filter(|m| Cursor::of(m).unwrap() > from_other)
        .count();
    assert_eq!(newer.len(), expected_after);
}
