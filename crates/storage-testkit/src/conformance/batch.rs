//! `store_batch`: one transaction, receipts in input order, duplicates and re-stores.

use hotplex_storage_core::{ChatAppMessage, MessageQuery, StorageError, StoreOutcome};

use super::support::{
    Snapshot, Store, assert_no_meta, count, get, imported_deleted, list_ids, meta, put_batch,
    put_new, timed, total_rows,
};

/// One invalid message in the middle fails the whole batch with `InvalidMessage` naming its
/// index; nothing is stored and no meta is created or changed.
pub async fn batch_is_atomic(store: Store) {
    put_new(&store, &timed("existing", "c", 1)).await;
    let before = Snapshot::take(&store, "existing").await;
    let batch = vec![
        timed("new", "ok 0", 1),
        timed("existing", "ok 1", 2),
        timed("", "bad 2", 3),
        timed("new", "ok 3", 4),
        timed("existing", "ok 4", 5),
    ];
    let err = store.store_batch(&batch).await.expect_err("invalid batch");
    match &err {
        StorageError::InvalidMessage { field, reason } => {
            assert!(field.contains("chat_session_id"), "field {field:?}");
            assert!(reason.contains('2'), "the reason names index 2: {reason:?}");
        }
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
    assert_eq!(
        Snapshot::take(&store, "existing").await,
        before,
        "nothing changed"
    );
    assert_no_meta(&store, "new", "after a failed batch").await;
    assert_eq!(total_rows(&store).await, 1);
}

/// Receipts come in input order, keep caller ids and carry generated ones; messages of one
/// instant are listed in input order; metas count every message.
pub async fn batch_receipts_in_order(store: Store) {
    let batch = vec![
        timed("a", "0", 5).with_id("given-0"),
        timed("b", "1", 5),
        timed("a", "2", 5),
        timed("b", "3", 5).with_id("given-3"),
        timed("a", "4", 5),
        timed("a", "5", 5).with_id("given-5"),
    ];
    let receipts = put_batch(&store, &batch).await;
    assert!(receipts.iter().all(|r| r.outcome == StoreOutcome::Stored));
    assert_eq!(receipts[0].id, "given-0");
    assert_eq!(receipts[3].id, "given-3");
    assert_eq!(receipts[5].id, "given-5");
    for (receipt, msg) in receipts.iter().zip(&batch) {
        assert_eq!(
            get(&store, &receipt.id).await.content,
            msg.content,
            "receipt order"
        );
    }
    let a: Vec<String> = [0, 2, 4, 5]
        .iter()
        .map(|&i| receipts[i].id.clone())
        .collect();
    let q = MessageQuery::for_session("a").with_ascending(true);
    assert_eq!(list_ids(&store, &q).await, a, "ties listed in input order");
    let m = meta(&store, "a").await;
    assert_eq!(m.message_count, 4);
    assert_eq!(m.last_message_id, "given-5");
    assert_eq!(meta(&store, "b").await.message_count, 2);
    assert_eq!(meta(&store, "b").await.last_message_id, "given-3");
}

/// A repeated id inside one batch is `AlreadyStored` after the first; the first wins.
pub async fn batch_duplicate_id_inside(store: Store) {
    let batch = vec![
        timed("s", "first", 1).with_id("x"),
        timed("s", "other", 2).with_id("y"),
        timed("s", "second", 3).with_id("x"),
    ];
    let receipts = put_batch(&store, &batch).await;
    let outcomes: Vec<_> = receipts.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            StoreOutcome::Stored,
            StoreOutcome::Stored,
            StoreOutcome::AlreadyStored
        ]
    );
    assert_eq!(receipts[2].id, "x");
    assert_eq!(get(&store, "x").await.content, "first");
    assert_eq!(count(&store, &MessageQuery::for_session("s")).await, 2);
    let m = meta(&store, "s").await;
    assert_eq!(m.message_count, 2);
    assert_eq!(
        m.last_message_id, "y",
        "the duplicate's later time does not count"
    );
}

/// A batch containing an already stored id stores the others and reports `AlreadyStored`
/// for it, leaving it unchanged.
pub async fn batch_with_already_stored_id(store: Store) {
    put_new(&store, &timed("s", "original", 1).with_id("old")).await;
    let original = get(&store, "old").await;
    let batch = vec![
        timed("s", "b", 2).with_id("n1"),
        timed("s", "changed", 9).with_id("old"),
        timed("s", "c", 3).with_id("n2"),
    ];
    let receipts = put_batch(&store, &batch).await;
    let outcomes: Vec<_> = receipts.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            StoreOutcome::Stored,
            StoreOutcome::AlreadyStored,
            StoreOutcome::Stored
        ]
    );
    assert_eq!(get(&store, "old").await, original);
    let m = meta(&store, "s").await;
    assert_eq!(m.message_count, 3);
    assert_eq!(m.last_message_id, "n2");
}

/// An empty batch returns no receipts and changes nothing.
pub async fn batch_empty(store: Store) {
    put_new(&store, &timed("s", "c", 1)).await;
    let before = Snapshot::take(&store, "s").await;
    assert!(put_batch(&store, &[]).await.is_empty());
    assert_eq!(Snapshot::take(&store, "s").await, before);
}

/// A batch maintains metas exactly like single writes: counts over several sessions, the
/// newest message, first non-empty user; deleted imports in a batch are not counted.
pub async fn batch_updates_session_meta(store: Store) {
    let batch = vec![
        ChatAppMessage::bot("s1", "hello").with_created_at(super::support::at(1)),
        timed("s1", "q", 3).with_platform("slack").with_user("U1"),
        timed("s2", "q", 2).with_platform("slack").with_user("U1"),
        imported_deleted("s1", "gone", 10),
        timed("s1", "late but older", 2),
        imported_deleted("s3", "gone-too", 10),
    ];
    let receipts = put_batch(&store, &batch).await;
    let m = meta(&store, "s1").await;
    assert_eq!(m.message_count, 3);
    assert_eq!(m.last_message_id, receipts[1].id);
    assert_eq!(m.chat_user_id, "U1");
    assert_eq!(m.chat_platform, "slack");
    assert_eq!(meta(&store, "s2").await.message_count, 1);
    assert_no_meta(&store, "s3", "a batch of only deleted messages").await;
    assert_eq!(
        super::support::user_sessions(&store, "slack", "U1").await,
        vec!["s1".to_owned(), "s2".to_owned()]
    );
}
