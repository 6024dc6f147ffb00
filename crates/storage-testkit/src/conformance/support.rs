//! Helpers shared by the conformance cases: fixed timestamps, checked calls with clear panic
//! messages, and snapshots of what a rejected write must leave unchanged.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, SessionMeta, StorageError, StoreOutcome,
    StoreReceipt,
};

/// The store type every case receives.
pub(crate) type Store = Arc<dyn ChatAppMessageStore>;

/// 2024-01-01T00:00:00Z in seconds since the epoch: the origin of every fixed timestamp.
const ORIGIN_SECS: i64 = 1_704_067_200;

/// `ORIGIN + secs` (whole seconds, so microsecond-exact on every backend).
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ORIGIN_SECS + secs, 0)
        .single()
        .expect("fixed timestamps are in range")
}

/// `ORIGIN + secs + nanos`.
pub(crate) fn at_nanos(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(ORIGIN_SECS + secs, nanos)
        .single()
        .expect("fixed timestamps are in range")
}

/// A user message in `session` created at `at(secs)`.
pub(crate) fn timed(session: &str, content: &str, secs: i64) -> ChatAppMessage {
    ChatAppMessage::user(session, content).with_created_at(at(secs))
}

/// A message that arrives already soft-deleted (an import), deleted at `at(deleted_secs)`.
pub(crate) fn imported_deleted(session: &str, id: &str, deleted_secs: i64) -> ChatAppMessage {
    let mut msg = timed(session, "imported deleted", deleted_secs - 1).with_id(id);
    msg.deleted = true;
    msg.deleted_at = Some(at(deleted_secs));
    msg
}

/// Stores `msg` with `store_user_message`, panicking with the error on failure.
pub(crate) async fn put(store: &Store, msg: &ChatAppMessage) -> StoreReceipt {
    match store.store_user_message(msg).await {
        Ok(receipt) => receipt,
        Err(e) => panic!(
            "store_user_message(session {:?}, id {:?}) failed: {e}",
            msg.chat_session_id, msg.id
        ),
    }
}

/// Stores `msg` and asserts that it was written, returning its id.
pub(crate) async fn put_new(store: &Store, msg: &ChatAppMessage) -> String {
    let receipt = put(store, msg).await;
    assert_eq!(
        receipt.outcome,
        StoreOutcome::Stored,
        "a new message (session {:?}, id {:?}) must be Stored",
        msg.chat_session_id,
        msg.id
    );
    assert!(!receipt.id.is_empty(), "a Stored receipt carries the id");
    receipt.id
}

/// Stores every message one by one; returns their ids in input order.
pub(crate) async fn put_each(store: &Store, msgs: &[ChatAppMessage]) -> Vec<String> {
    let mut ids = Vec::with_capacity(msgs.len());
    for msg in msgs {
        ids.push(put_new(store, msg).await);
    }
    ids
}

/// `store_batch`, panicking with the error on failure.
pub(crate) async fn put_batch(store: &Store, msgs: &[ChatAppMessage]) -> Vec<StoreReceipt> {
    match store.store_batch(msgs).await {
        Ok(receipts) => {
            assert_eq!(
                receipts.len(),
                msgs.len(),
                "store_batch returns one receipt per message"
            );
            receipts
        }
        Err(e) => panic!("store_batch of {} messages failed: {e}", msgs.len()),
    }
}

/// `get`, panicking on failure.
pub(crate) async fn get(store: &Store, id: &str) -> ChatAppMessage {
    match store.get(id).await {
        Ok(msg) => msg,
        Err(e) => panic!("get({id:?}) failed: {e}"),
    }
}

/// `list`, panicking on failure.
pub(crate) async fn list(store: &Store, query: &MessageQuery) -> Vec<ChatAppMessage> {
    match store.list(query).await {
        Ok(msgs) => msgs,
        Err(e) => panic!("list({query:?}) failed: {e}"),
    }
}

/// `count`, panicking on failure.
pub(crate) async fn count(store: &Store, query: &MessageQuery) -> u64 {
    match store.count(query).await {
        Ok(n) => n,
        Err(e) => panic!("count({query:?}) failed: {e}"),
    }
}

/// The ids of `list(query)`, in order.
pub(crate) async fn list_ids(store: &Store, query: &MessageQuery) -> Vec<String> {
    ids(&list(store, query).await)
}

/// Every row in the store, deleted or not, oldest first.
pub(crate) async fn all_rows(store: &Store) -> Vec<ChatAppMessage> {
    list(
        store,
        &MessageQuery::default()
            .with_include_deleted(true)
            .with_ascending(true),
    )
    .await
}

/// How many rows the store holds, deleted ones included.
pub(crate) async fn total_rows(store: &Store) -> u64 {
    count(store, &MessageQuery::default().with_include_deleted(true)).await
}

/// `get_session_meta`, panicking on failure.
pub(crate) async fn meta(store: &Store, session: &str) -> SessionMeta {
    match store.get_session_meta(session).await {
        Ok(meta) => meta,
        Err(e) => panic!("get_session_meta({session:?}) failed: {e}"),
    }
}

/// The meta of `session`, or `None` when the store reports `SessionNotFound`.
pub(crate) async fn meta_opt(store: &Store, session: &str) -> Option<SessionMeta> {
    match store.get_session_meta(session).await {
        Ok(meta) => Some(meta),
        Err(StorageError::SessionNotFound { chat_session_id }) => {
            assert_eq!(
                chat_session_id, session,
                "SessionNotFound names the session"
            );
            None
        }
        Err(e) => panic!("get_session_meta({session:?}) failed with {e}, not SessionNotFound"),
    }
}

/// Asserts that `session` has no meta.
pub(crate) async fn assert_no_meta(store: &Store, session: &str, context: &str) {
    if let Some(meta) = meta_opt(store, session).await {
        panic!("{context}: session {session:?} must have no meta, found {meta:?}");
    }
}

/// `list_user_sessions`, panicking on failure.
pub(crate) async fn user_sessions(store: &Store, platform: &str, user: &str) -> Vec<String> {
    match store.list_user_sessions(platform, user).await {
        Ok(ids) => ids,
        Err(e) => panic!("list_user_sessions({platform:?}, {user:?}) failed: {e}"),
    }
}

/// `delete_session`, panicking on failure.
pub(crate) async fn delete_session(store: &Store, session: &str) -> u64 {
    match store.delete_session(session).await {
        Ok(n) => n,
        Err(e) => panic!("delete_session({session:?}) failed: {e}"),
    }
}

/// The ids of `msgs`, in order.
pub(crate) fn ids(msgs: &[ChatAppMessage]) -> Vec<String> {
    msgs.iter().map(|m| m.id.clone()).collect()
}

/// Owned copies of string slices.
pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The `field` of an `InvalidMessage`, panicking on anything else.
pub(crate) fn invalid_field<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    context: &str,
) -> String {
    match result {
        Err(StorageError::InvalidMessage { field, .. }) => field,
        other => panic!("{context}: expected InvalidMessage, got {other:?}"),
    }
}

/// Asserts that `result` failed with `InvalidQuery`.
pub(crate) fn assert_invalid_query<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    context: &str,
) {
    match result {
        Err(StorageError::InvalidQuery { .. }) => {}
        other => panic!("{context}: expected InvalidQuery, got {other:?}"),
    }
}

/// What a rejected write must leave unchanged: every row and the meta of one session.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    rows: Vec<ChatAppMessage>,
    meta: Option<SessionMeta>,
}

impl Snapshot {
    /// Takes a snapshot of the whole store and of `session`'s meta.
    pub(crate) async fn take(store: &Store, session: &str) -> Self {
        Self {
            rows: all_rows(store).await,
            meta: if session.is_empty() {
                None
            } else {
                meta_opt(store, session).await
            },
        }
    }
}

/// Asserts that `msg` is rejected with `InvalidMessage` naming `field` — alone, through both
/// store methods, and inside a batch after a valid message — and that nothing changed.
pub(crate) async fn assert_rejected(store: &Store, msg: &ChatAppMessage, field: &str) {
    // A live session next to the rejected write, so "meta unchanged" is a real check.
    let probe = timed(&msg.chat_session_id, "probe", 1);
    let session = if hotplex_storage_core::validate_message(&probe).is_ok() {
        msg.chat_session_id.clone()
    } else {
        "rejected-neighbour".to_owned()
    };
    if meta_opt(store, &session).await.is_none() {
        put_new(store, &timed(&session, "valid neighbour", 1)).await;
    }
    let before = Snapshot::take(store, &session).await;
    let got = invalid_field(
        store.store_user_message(msg).await,
        &format!("store_user_message of a message with a bad {field}"),
    );
    assert!(
        got.contains(field),
        "the InvalidMessage must name {field:?}, it names {got:?}"
    );
    let got = invalid_field(
        store.store_bot_response(msg).await,
        &format!("store_bot_response of a message with a bad {field}"),
    );
    assert!(
        got.contains(field),
        "the InvalidMessage must name {field:?}, it names {got:?}"
    );
    let batch = [
        timed(&session, "valid message before the bad one", 2),
        msg.clone(),
    ];
    let got = invalid_field(
        store.store_batch(&batch).await,
        &format!("store_batch containing a message with a bad {field}"),
    );
    assert!(
        got.contains(field),
        "the batch InvalidMessage must name {field:?}, it names {got:?}"
    );
    let after = Snapshot::take(store, &session).await;
    assert_eq!(
        before, after,
        "a rejected write (bad {field}) must leave every row and the session meta unchanged"
    );
}

/// Asserts that `msg` is accepted and reads back with the same `field` value.
pub(crate) async fn assert_accepted(store: &Store, msg: &ChatAppMessage, what: &str) {
    match store.store_user_message(msg).await {
        Ok(receipt) => {
            assert_eq!(
                receipt.outcome,
                StoreOutcome::Stored,
                "{what} must be Stored"
            );
            let back = get(store, &receipt.id).await;
            let mut expected = msg.clone();
            expected.id.clone_from(&receipt.id);
            expected.created_at = back.created_at;
            expected.updated_at = back.updated_at;
            expected.seq = back.seq;
            assert!(back == expected, "{what} must read back unchanged");
        }
        Err(e) => panic!("{what} must be accepted, got {e}"),
    }
}
