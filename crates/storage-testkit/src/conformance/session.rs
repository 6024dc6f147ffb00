//! Sessions: the meta invariant, `list_user_sessions`, `get` visibility, soft delete and the
//! two purges.

use chrono::{Duration, Utc};
use hotplex_storage_core::{ChatAppMessage, MessageQuery, StorageError, StoreOutcome, time};

use super::support::{
    Store, assert_no_meta, at, count, delete_session, get, imported_deleted, list, meta, meta_opt,
    put, put_each, put_new, strings, timed, total_rows, user_sessions,
};

/// Tolerance for comparing a store's "now" with the test's clock (a database server may run
/// on another host).
fn slack() -> Duration {
    Duration::seconds(60)
}

/// After a few writes the meta holds the count, the newest message, the first non-empty
/// platform and user, and `created_at <= updated_at`, both close to now.
pub async fn session_meta_after_stores(store: Store) {
    let start = time::now_micros();
    let ids = put_each(
        &store,
        &[
            timed("s", "q1", 10).with_platform("slack").with_user("U1"),
            ChatAppMessage::bot("s", "a1")
                .with_created_at(at(20))
                .with_platform("slack")
                .with_user("U1"),
            timed("s", "q2", 30).with_platform("slack").with_user("U1"),
        ],
    )
    .await;
    let m = meta(&store, "s").await;
    assert_eq!(m.chat_session_id, "s");
    assert_eq!(m.chat_platform, "slack");
    assert_eq!(m.chat_user_id, "U1");
    assert_eq!(m.message_count, 3);
    assert_eq!(m.last_message_id, ids[2]);
    assert_eq!(m.last_message_at, at(30));
    assert!(
        m.created_at <= m.updated_at,
        "created_at <= updated_at: {m:?}"
    );
    assert!(
        m.created_at >= start - slack(),
        "meta created_at is the store's now: {m:?}"
    );
    assert!(
        m.updated_at <= Utc::now() + slack(),
        "meta updated_at is the store's now"
    );
    let first = m.clone();
    put_new(&store, &timed("s", "q3", 40).with_user("U1")).await;
    let m = meta(&store, "s").await;
    assert_eq!(m.message_count, 4);
    assert_eq!(m.created_at, first.created_at, "created_at never moves");
    assert!(
        m.updated_at >= first.updated_at,
        "updated_at never goes back"
    );
}

/// `last_message_*` follow the newest message by `(created_at, seq)`: an older message does
/// not move them; a message at the same instant does (higher seq).
pub async fn session_meta_last_follows_newest(store: Store) {
    let newest = put_new(&store, &timed("s", "newest", 30)).await;
    put_new(&store, &timed("s", "older", 10)).await;
    let m = meta(&store, "s").await;
    assert_eq!(m.message_count, 2);
    assert_eq!(
        m.last_message_id, newest,
        "an older message is not the last"
    );
    assert_eq!(m.last_message_at, at(30));
    let tie = put_new(&store, &timed("s", "same instant", 30)).await;
    let m = meta(&store, "s").await;
    assert_eq!(m.last_message_id, tie, "a tie goes to the higher seq");
    assert_eq!(m.message_count, 3);
}

/// An empty platform or user in the first message is filled from the first later message
/// that has one, and never overwritten afterwards.
pub async fn session_meta_fills_empty_platform_and_user(store: Store) {
    put_new(
        &store,
        &ChatAppMessage::bot("s", "greeting").with_created_at(at(1)),
    )
    .await;
    let m = meta(&store, "s").await;
    assert_eq!(
        (m.chat_platform.as_str(), m.chat_user_id.as_str()),
        ("", "")
    );
    put_new(&store, &timed("s", "hi", 2).with_user("U9")).await;
    put_new(
        &store,
        &timed("s", "hi", 3).with_platform("feishu").with_user("U10"),
    )
    .await;
    put_new(
        &store,
        &timed("s", "hi", 4).with_platform("slack").with_user("U11"),
    )
    .await;
    let m = meta(&store, "s").await;
    assert_eq!(m.chat_user_id, "U9", "the first non-empty user");
    assert_eq!(m.chat_platform, "feishu", "the first non-empty platform");
    assert_eq!(m.message_count, 4);
}

/// An unknown session has no meta: `SessionNotFound`, which `is_not_found()`.
pub async fn session_meta_unknown_is_not_found(store: Store) {
    put_new(&store, &timed("known", "c", 1)).await;
    let err = store
        .get_session_meta("unknown")
        .await
        .expect_err("unknown session");
    assert!(
        matches!(&err, StorageError::SessionNotFound { chat_session_id } if chat_session_id == "unknown"),
        "expected SessionNotFound(unknown), got {err:?}"
    );
    assert!(err.is_not_found());
    assert!(!err.is_transient());
}

/// After `delete_session` the session has no meta.
pub async fn session_meta_gone_after_delete_session(store: Store) {
    put_each(&store, &[timed("s", "a", 1), timed("s", "b", 2)]).await;
    put_new(&store, &timed("t", "other", 3)).await;
    assert_eq!(delete_session(&store, "s").await, 2);
    assert_no_meta(&store, "s", "after delete_session").await;
    assert_eq!(
        meta(&store, "t").await.message_count,
        1,
        "other sessions keep theirs"
    );
}

/// Storing into a deleted session starts a fresh meta that counts only live messages and
/// takes its user from the new messages.
pub async fn session_meta_fresh_after_restore_into_deleted_session(store: Store) {
    put_each(
        &store,
        &[
            timed("s", "a", 100).with_platform("slack").with_user("U1"),
            timed("s", "b", 200).with_platform("slack").with_user("U1"),
            timed("s", "c", 300).with_platform("slack").with_user("U1"),
        ],
    )
    .await;
    let old = meta(&store, "s").await;
    assert_eq!(delete_session(&store, "s").await, 3);
    let new_id = put_new(
        &store,
        &timed("s", "again", 50)
            .with_platform("slack")
            .with_user("U2"),
    )
    .await;
    let m = meta(&store, "s").await;
    assert_eq!(m.message_count, 1, "only live messages count");
    assert_eq!(
        m.last_message_id, new_id,
        "deleted messages are not the last"
    );
    assert_eq!(m.last_message_at, at(50));
    assert_eq!(m.chat_user_id, "U2", "the fresh meta takes the new user");
    assert!(
        m.created_at >= old.created_at,
        "a fresh meta: {m:?} vs {old:?}"
    );
    assert_eq!(user_sessions(&store, "slack", "U2").await, strings(&["s"]));
    assert!(user_sessions(&store, "slack", "U1").await.is_empty());
    assert_eq!(count(&store, &MessageQuery::for_session("s")).await, 1);
}

/// A message stored already deleted (an import) creates no meta, is invisible to `get` and
/// `count`, keeps its `deleted_at`, and leaves an existing meta unchanged.
pub async fn stored_deleted_message_creates_no_meta(store: Store) {
    let r = put(&store, &imported_deleted("imported", "d1", 50)).await;
    assert_eq!(r.outcome, StoreOutcome::Stored);
    assert_no_meta(&store, "imported", "after storing a deleted message").await;
    assert!(matches!(
        store.get("d1").await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(
        count(&store, &MessageQuery::for_session("imported")).await,
        0
    );
    let rows = list(
        &store,
        &MessageQuery::for_session("imported").with_include_deleted(true),
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].deleted);
    assert_eq!(rows[0].deleted_at, Some(at(50)), "deleted_at is kept");

    let mut no_time = ChatAppMessage::user("imported", "no deleted_at").with_id("d2");
    no_time.deleted = true;
    put_new(&store, &no_time).await;
    let row = list(
        &store,
        &MessageQuery::for_session("imported").with_include_deleted(true),
    )
    .await
    .into_iter()
    .find(|m| m.id == "d2")
    .expect("d2 is stored");
    assert!(row.deleted_at.is_some(), "a missing deleted_at is filled");

    put_new(&store, &timed("live", "x", 10).with_user("U1")).await;
    let before = meta(&store, "live").await;
    put_new(&store, &imported_deleted("live", "d3", 500)).await;
    assert_eq!(
        meta(&store, "live").await,
        before,
        "a deleted import leaves the meta alone"
    );
}

/// `list_user_sessions` orders by `last_message_at` descending, ties by session id ascending,
/// and follows later messages.
pub async fn list_user_sessions_most_recent_first(store: Store) {
    let m = |session: &str, secs| {
        timed(session, "c", secs)
            .with_platform("slack")
            .with_user("U1")
    };
    put_each(
        &store,
        &[m("s4", 30), m("s1", 10), m("s3", 20), m("s2", 30)],
    )
    .await;
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["s2", "s4", "s3", "s1"])
    );
    put_new(&store, &m("s1", 40)).await;
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["s1", "s2", "s4", "s3"])
    );
    put_new(&store, &m("s3", 5)).await;
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["s1", "s2", "s4", "s3"]),
        "an older message does not promote a session"
    );
}

/// `list_user_sessions` matches platform and user exactly: other users, other platforms and
/// unknown users are isolated.
pub async fn list_user_sessions_isolation(store: Store) {
    put_each(
        &store,
        &[
            timed("slack-u1", "c", 1)
                .with_platform("slack")
                .with_user("U1"),
            timed("feishu-u1", "c", 2)
                .with_platform("feishu")
                .with_user("U1"),
            timed("slack-u2", "c", 3)
                .with_platform("slack")
                .with_user("U2"),
            timed("slack-u10", "c", 4)
                .with_platform("slack")
                .with_user("U10"),
        ],
    )
    .await;
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["slack-u1"])
    );
    assert_eq!(
        user_sessions(&store, "feishu", "U1").await,
        strings(&["feishu-u1"])
    );
    assert_eq!(
        user_sessions(&store, "slack", "U2").await,
        strings(&["slack-u2"])
    );
    assert!(user_sessions(&store, "slack", "U3").await.is_empty());
    assert!(user_sessions(&store, "teams", "U1").await.is_empty());
    assert!(
        user_sessions(&store, "SLACK", "U1").await.is_empty(),
        "exact match"
    );
}

/// Deleted sessions are not listed; a re-stored one is listed again.
pub async fn list_user_sessions_excludes_deleted(store: Store) {
    let m = |session: &str, secs| {
        timed(session, "c", secs)
            .with_platform("slack")
            .with_user("U1")
    };
    put_each(&store, &[m("a", 1), m("b", 2), m("c", 3)]).await;
    delete_session(&store, "b").await;
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["c", "a"])
    );
    put_new(&store, &m("b", 0)).await;
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["c", "a", "b"])
    );
}

/// A session whose first message had no user (the bot spoke first) lists under the user of a
/// later message.
pub async fn list_user_sessions_late_user(store: Store) {
    put_new(
        &store,
        &ChatAppMessage::bot("s", "welcome").with_created_at(at(1)),
    )
    .await;
    assert!(user_sessions(&store, "slack", "U7").await.is_empty());
    put_new(
        &store,
        &timed("s", "hello", 2)
            .with_platform("slack")
            .with_user("U7"),
    )
    .await;
    assert_eq!(user_sessions(&store, "slack", "U7").await, strings(&["s"]));
    assert!(
        user_sessions(&store, "", "").await.is_empty(),
        "no longer under the empty user"
    );
}

/// `get` of an id that never existed is `NotFound` naming the id.
pub async fn get_absent_is_not_found(store: Store) {
    put_new(&store, &timed("s", "c", 1).with_id("present")).await;
    let err = store.get("absent").await.expect_err("absent id");
    assert!(
        matches!(&err, StorageError::NotFound { id } if id == "absent"),
        "expected NotFound(absent), got {err:?}"
    );
    assert!(err.is_not_found());
    assert!(store.get("").await.expect_err("empty id").is_not_found());
    assert_eq!(get(&store, "present").await.content, "c");
}

/// `get` of a soft-deleted message is `NotFound`.
pub async fn get_deleted_is_not_found(store: Store) {
    put_new(&store, &timed("s", "c", 1).with_id("m1")).await;
    delete_session(&store, "s").await;
    let err = store.get("m1").await.expect_err("deleted id");
    assert!(matches!(err, StorageError::NotFound { .. }), "got {err:?}");
}

/// `delete_session` returns how many live messages it marked: all of them once, then 0; an
/// unknown session returns 0; other sessions are untouched.
pub async fn delete_session_counts(store: Store) {
    let msgs: Vec<_> = (0..5).map(|i| timed("s", "c", i)).collect();
    put_each(&store, &msgs).await;
    put_each(&store, &[timed("t", "c", 1), timed("t", "c", 2)]).await;
    put_new(&store, &imported_deleted("s", "already-deleted", 3)).await;
    assert_eq!(
        delete_session(&store, "s").await,
        5,
        "only live messages are marked"
    );
    assert_eq!(
        delete_session(&store, "s").await,
        0,
        "a second delete marks nothing"
    );
    assert_eq!(delete_session(&store, "unknown").await, 0);
    assert_eq!(count(&store, &MessageQuery::for_session("t")).await, 2);
    assert_eq!(meta(&store, "t").await.message_count, 2);
    assert_eq!(total_rows(&store).await, 8, "soft delete removes no row");
}

/// `delete_session` sets `deleted_at` to now on each live message, leaves `updated_at` and
/// every other field alone, and keeps an earlier `deleted_at`.
pub async fn delete_session_marks_rows(store: Store) {
    let start = time::now_micros();
    let live = put_each(&store, &[timed("s", "a", 1), timed("s", "b", 2)]).await;
    put_new(&store, &imported_deleted("s", "old", 5)).await;
    let before: Vec<ChatAppMessage> = list(
        &store,
        &MessageQuery::for_session("s")
            .with_include_deleted(true)
            .with_ascending(true),
    )
    .await;
    delete_session(&store, "s").await;
    let after = list(
        &store,
        &MessageQuery::for_session("s")
            .with_include_deleted(true)
            .with_ascending(true),
    )
    .await;
    assert_eq!(after.len(), 3);
    for (b, a) in before.iter().zip(&after) {
        assert!(a.deleted, "{} is deleted", a.id);
        let deleted_at = a.deleted_at.expect("deleted_at set");
        if live.contains(&a.id) {
            assert!(deleted_at >= start - slack() && deleted_at <= Utc::now() + slack());
            assert_eq!(
                deleted_at.timestamp_subsec_nanos() % 1_000,
                0,
                "µs precision"
            );
        } else {
            assert_eq!(
                deleted_at,
                at(5),
                "an earlier deletion keeps its deleted_at"
            );
        }
        let unchanged = ChatAppMessage {
            deleted: true,
            deleted_at: a.deleted_at,
            ..b.clone()
        };
        assert_eq!(a, &unchanged, "only deleted/deleted_at change");
    }
}

/// `purge_session` hard-deletes every row of the session, live and deleted, and its meta;
/// returns the number removed; other sessions stay; the session and its ids can be reused.
pub async fn purge_session_removes_everything(store: Store) {
    put_each(
        &store,
        &[timed("s", "a", 1).with_id("p1"), timed("s", "b", 2)],
    )
    .await;
    put_new(&store, &imported_deleted("s", "p-deleted", 3)).await;
    put_each(&store, &[timed("t", "a", 1), timed("t", "b", 2)]).await;
    let t_meta = meta(&store, "t").await;
    assert_eq!(store.purge_session("s").await.expect("purge"), 3);
    assert_eq!(
        count(
            &store,
            &MessageQuery::for_session("s").with_include_deleted(true)
        )
        .await,
        0
    );
    assert_no_meta(&store, "s", "after purge_session").await;
    assert!(store.get("p1").await.expect_err("purged").is_not_found());
    assert_eq!(
        meta(&store, "t").await,
        t_meta,
        "other sessions are untouched"
    );
    assert_eq!(total_rows(&store).await, 2);
    assert_eq!(store.purge_session("s").await.expect("purge"), 0);
    assert_eq!(store.purge_session("unknown").await.expect("purge"), 0);
    let r = put(&store, &timed("s", "new life", 9).with_id("p1")).await;
    assert_eq!(
        r.outcome,
        StoreOutcome::Stored,
        "a purged id no longer exists"
    );
    assert_eq!(meta(&store, "s").await.message_count, 1);
}

/// `purge_deleted_before(cutoff)` removes soft-deleted rows with `deleted_at` strictly before
/// the cutoff, nothing else.
pub async fn purge_deleted_before_strict_cutoff(store: Store) {
    for (id, secs) in [("d10", 10), ("d20", 20), ("d30", 30)] {
        put_new(&store, &imported_deleted("s", id, secs)).await;
    }
    assert_eq!(
        store.purge_deleted_before(at(10)).await.expect("purge"),
        0,
        "10 is not < 10"
    );
    assert_eq!(
        store.purge_deleted_before(at(20)).await.expect("purge"),
        1,
        "only d10"
    );
    assert_eq!(
        store.purge_deleted_before(at(20)).await.expect("purge"),
        0,
        "idempotent"
    );
    let left: Vec<String> = list(
        &store,
        &MessageQuery::default()
            .with_include_deleted(true)
            .with_ascending(true),
    )
    .await
    .into_iter()
    .map(|m| m.id)
    .collect();
    assert_eq!(left, strings(&["d20", "d30"]));
    assert_eq!(
        store
            .purge_deleted_before(at(20) + Duration::nanoseconds(500))
            .await
            .expect("purge"),
        1,
        "d20 is before a cutoff 500 ns later, even below a microsecond"
    );
    assert_eq!(
        store
            .purge_deleted_before(at(30) + Duration::microseconds(1))
            .await
            .expect("purge"),
        1
    );
    assert_eq!(total_rows(&store).await, 0);
}

/// `purge_deleted_before` never removes live messages, however old, and leaves metas alone;
/// rows deleted by `delete_session` are purged once the cutoff passes their `deleted_at`.
pub async fn purge_deleted_before_leaves_live(store: Store) {
    let old = chrono::DateTime::from_timestamp(1_000_000_000, 0).expect("2001");
    put_new(
        &store,
        &ChatAppMessage::user("live", "ancient").with_created_at(old),
    )
    .await;
    put_each(&store, &[timed("gone", "a", 1), timed("gone", "b", 2)]).await;
    let live_meta = meta(&store, "live").await;
    assert_eq!(delete_session(&store, "gone").await, 2);
    assert_eq!(
        store.purge_deleted_before(at(0)).await.expect("purge"),
        0,
        "rows deleted now are not before a past cutoff"
    );
    let future = Utc::now() + Duration::days(1);
    assert_eq!(store.purge_deleted_before(future).await.expect("purge"), 2);
    assert_eq!(total_rows(&store).await, 1);
    assert_eq!(
        get(&store, &live_meta.last_message_id).await.content,
        "ancient"
    );
    assert_eq!(meta(&store, "live").await, live_meta);
    assert!(meta_opt(&store, "gone").await.is_none());
}
