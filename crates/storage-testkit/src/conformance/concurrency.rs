//! Concurrent callers: no lost or duplicated write, metas in step, idempotence under races,
//! batches visible all at once.

use std::collections::HashSet;
use std::sync::Arc;

use hotplex_storage_core::{ChatAppMessage, MessageQuery, StoreOutcome};
use tokio::sync::Barrier;

use super::support::{Store, count, list, meta, put_new, user_sessions};

/// Waits for every task, re-raising a task's panic with its message.
async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(value) => out.push(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("task failed: {e}"),
        }
    }
    out
}

/// 32 tasks × 50 writes into one session: count and meta are 1,600, every seq is distinct,
/// and each task's own messages have increasing seqs.
pub async fn concurrent_writers_one_session(store: Store) {
    const TASKS: usize = 32;
    const PER_TASK: usize = 50;
    let barrier = Arc::new(Barrier::new(TASKS));
    let handles = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut ids = Vec::with_capacity(PER_TASK);
                for i in 0..PER_TASK {
                    let msg = ChatAppMessage::user("shared", format!("task {task} msg {i}"))
                        .with_platform("slack")
                        .with_user("U1")
                        .with_metadata_entry("task", task);
                    ids.push(put_new(&store, &msg).await);
                }
                ids
            })
        })
        .collect();
    let per_task = join_all(handles).await;
    let total = (TASKS * PER_TASK) as u64;
    assert_eq!(
        count(&store, &MessageQuery::for_session("shared")).await,
        total
    );
    let m = meta(&store, "shared").await;
    assert_eq!(
        m.message_count, 1_600,
        "meta.message_count after concurrent writes"
    );
    let rows = list(
        &store,
        &MessageQuery::for_session("shared").with_ascending(true),
    )
    .await;
    assert_eq!(rows.len(), 1_600);
    let seqs: HashSet<i64> = rows.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.len(), 1_600, "every seq is distinct");
    let ids: HashSet<&String> = rows.iter().map(|m| &m.id).collect();
    assert_eq!(ids.len(), 1_600, "every id is distinct");
    let seq_of: std::collections::HashMap<&str, i64> =
        rows.iter().map(|m| (m.id.as_str(), m.seq)).collect();
    for (task, ids) in per_task.iter().enumerate() {
        let seqs: Vec<i64> = ids.iter().map(|id| seq_of[id.as_str()]).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "task {task}: its sequential writes must get increasing seqs"
        );
    }
    let newest = rows
        .iter()
        .max_by_key(|m| (m.created_at, m.seq))
        .expect("rows");
    assert_eq!(
        m.last_message_id, newest.id,
        "last message is the newest by (created_at, seq)"
    );
}

/// 16 tasks each writing 40 messages into their own session: every meta counts 40 and each
/// user lists exactly their session.
pub async fn concurrent_writers_many_sessions(store: Store) {
    const TASKS: usize = 16;
    const PER_TASK: usize = 40;
    let handles = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let msg = ChatAppMessage::user(format!("session-{task}"), format!("m{i}"))
                        .with_platform("slack")
                        .with_user(format!("U{task}"));
                    let receipt = if i % 2 == 0 {
                        store.store_user_message(&msg).await
                    } else {
                        store.store_bot_response(&msg).await
                    };
                    let receipt = receipt.unwrap_or_else(|e| panic!("task {task}: {e}"));
                    assert_eq!(receipt.outcome, StoreOutcome::Stored);
                }
            })
        })
        .collect();
    join_all(handles).await;
    assert_eq!(
        count(&store, &MessageQuery::default()).await,
        (TASKS * PER_TASK) as u64
    );
    for task in 0..TASKS {
        let session = format!("session-{task}");
        assert_eq!(meta(&store, &session).await.message_count, 40, "{session}");
        assert_eq!(
            user_sessions(&store, "slack", &format!("U{task}")).await,
            vec![session.clone()]
        );
        assert_eq!(
            count(&store, &MessageQuery::for_session(&session)).await,
            40
        );
    }
}

/// 16 tasks storing the same id at once: exactly one `Stored`, fifteen `AlreadyStored`, one
/// row, a meta counting one.
pub async fn concurrent_restore_same_id(store: Store) {
    const TASKS: usize = 16;
    let barrier = Arc::new(Barrier::new(TASKS));
    let handles = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let msg = ChatAppMessage::user("s", format!("attempt {task}")).with_id("the-one");
                barrier.wait().await;
                let receipt = if task % 3 == 0 {
                    store
                        .store_batch(std::slice::from_ref(&msg))
                        .await
                        .map(|mut r| r.remove(0))
                } else {
                    store.store_user_message(&msg).await
                };
                let receipt = receipt.unwrap_or_else(|e| panic!("task {task}: {e}"));
                assert_eq!(receipt.id, "the-one");
                receipt.outcome
            })
        })
        .collect();
    let outcomes = join_all(handles).await;
    let stored = outcomes
        .iter()
        .filter(|o| **o == StoreOutcome::Stored)
        .count();
    let already = outcomes
        .iter()
        .filter(|o| **o == StoreOutcome::AlreadyStored)
        .count();
    assert_eq!(
        (stored, already),
        (1, 15),
        "exactly one write wins: {outcomes:?}"
    );
    assert_eq!(
        count(&store, &MessageQuery::default().with_include_deleted(true)).await,
        1
    );
    assert_eq!(meta(&store, "s").await.message_count, 1);
}

/// Readers running beside batch writers never see part of a batch: the listed count is
/// always a multiple of the batch size.
pub async fn concurrent_batches_visible_atomically(store: Store) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 10;
    const SIZE: usize = 10;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let batch: Vec<_> = (0..SIZE)
                        .map(|i| ChatAppMessage::user("s", format!("w{w} b{b} m{i}")))
                        .collect();
                    store
                        .store_batch(&batch)
                        .await
                        .unwrap_or_else(|e| panic!("writer {w}: {e}"));
                }
            })
        })
        .collect();
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
            let mut observations = 0;
            loop {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the reader never saw all {} rows",
                    WRITERS * BATCHES * SIZE
                );
                let n = list(&store, &MessageQuery::for_session("s")).await.len();
                assert_eq!(n % SIZE, 0, "a reader saw {n} rows: part of a batch");
                let c = count(&store, &MessageQuery::for_session("s")).await;
                assert_eq!(c % SIZE as u64, 0, "count saw {c} rows: part of a batch");
                observations += 1;
                if n == WRITERS * BATCHES * SIZE {
                    return observations;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    join_all(writers).await;
    let observations = join_all(vec![reader]).await;
    assert!(observations[0] >= 1);
    assert_eq!(meta(&store, "s").await.message_count, 400);
}
