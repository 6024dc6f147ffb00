//! `StreamMessageStore`: every invariant of DESIGN.md §4, each against a fault-injecting store.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_core::{ChatAppMessage, StorageError, StoreOutcome};
use hotplex_storage_stream::{
    OverflowPolicy, RetryConfig, RetryStore, StoragePolicy, StreamConfig, StreamMessageStore,
};
use support::{Capture, FaultyStore, cfg, meta, setup, status, template};

#[track_caller]
fn capacity_limit(err: &StorageError) -> u64 {
    match err {
        StorageError::CapacityExceeded { limit, .. } => *limit,
        other => panic!("expected CapacityExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn merged_content_equals_the_chunks_in_order() {
    let (inner, streams) = setup(cfg());
    let t = template("slack:U1:C1");
    let chunks = ["Hel", "lo", "", ", 世界", "!", " é"];
    for c in chunks {
        streams.on_stream_chunk_with("r1", c, &t).await.unwrap();
    }
    let receipt = streams.on_stream_complete("r1", &t).await.unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id, receipt.id);
    assert_eq!(row.content, chunks.concat());
    assert_eq!(status(row), "complete");
    assert_eq!(meta(row, "stream_chunks"), 6);
    assert_eq!(meta(row, "stream_key"), "r1");
    assert_eq!(meta(row, "model"), "test");
    assert_eq!(row.chat_session_id, "slack:U1:C1");
    assert_eq!(row.chat_platform, "slack");
    assert_eq!(row.provider_type, "claude-code");
    let m = streams.metrics();
    assert_eq!(
        (m.active_buffers, m.buffered_bytes, m.buffered_chunks),
        (0, 0, 0)
    );
    assert_eq!((m.completed, m.flushed, m.chunks_accepted), (1, 1, 6));
}

#[tokio::test]
async fn session_fields_come_from_the_caller_then_the_captured_template_then_the_key() {
    let (inner, streams) = setup(cfg());
    // Captured at the start; the completion template has no session id.
    streams
        .on_stream_chunk_with("k1", "a", &template("sess-A"))
        .await
        .unwrap();
    streams
        .on_stream_complete("k1", &ChatAppMessage::bot("", "").with_platform("feishu"))
        .await
        .unwrap();
    // No template at all: the key is the session (the Go fallback).
    streams.on_stream_chunk("k2", "b").await.unwrap();
    streams
        .on_stream_complete("k2", &ChatAppMessage::default())
        .await
        .unwrap();
    // A template arriving with a later chunk is captured too.
    streams.on_stream_chunk("k3", "c").await.unwrap();
    streams
        .on_stream_chunk_with("k3", "d", &template("sess-C"))
        .await
        .unwrap();
    streams.on_stream_abort("k3").await.unwrap();
    let rows = inner.rows();
    assert_eq!(rows[0].chat_session_id, "sess-A");
    assert_eq!(rows[0].chat_platform, "feishu");
    assert_eq!(rows[1].chat_session_id, "k2");
    assert_eq!(rows[1].message_type.as_str(), "final_response");
    assert_eq!(rows[2].chat_session_id, "sess-C");
    assert_eq!(rows[2].chat_user_id, "U1");
    assert_eq!(rows[2].content, "cd");
}

#[tokio::test]
async fn completing_nothing_never_stores_an_empty_row() {
    let (inner, streams) = setup(cfg());
    let err = streams
        .on_stream_complete("none", &template("s"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::InvalidMessage { field, .. } if field == "content"),
        "{err:?}"
    );
    // Only empty chunks: nothing to store either, and the buffer is gone.
    streams.on_stream_chunk("empty", "").await.unwrap();
    streams.on_stream_chunk("empty", "").await.unwrap();
    assert_eq!(streams.metrics().active_buffers, 1);
    assert!(
        streams
            .on_stream_complete("empty", &template("s"))
            .await
            .unwrap_err()
            .is_invalid_input()
    );
    assert_eq!(streams.metrics().active_buffers, 0);
    assert_eq!(streams.metrics().buffered_chunks, 0);
    assert!(inner.rows().is_empty());
    // A template with content and no stream: the caller sent the whole answer.
    let whole = template("s").with_content("the whole answer");
    let receipt = streams.on_stream_complete("none", &whole).await.unwrap();
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, receipt.id);
    assert_eq!(rows[0].content, "the whole answer");
}

#[tokio::test]
async fn chunks_after_a_completion_start_a_new_stream() {
    let (inner, streams) = setup(cfg());
    let t = template("s");
    streams.on_stream_chunk_with("s", "one", &t).await.unwrap();
    streams.on_stream_complete("s", &t).await.unwrap();
    streams.on_stream_chunk_with("s", "two", &t).await.unwrap();
    streams.on_stream_complete("s", &t).await.unwrap();
    let rows = inner.rows();
    assert_eq!(inner.recorder.contents(), ["one", "two"]);
    assert_ne!(meta(&rows[0], "stream_id"), meta(&rows[1], "stream_id"));
}

#[tokio::test]
async fn an_aborted_stream_is_stored_as_interrupted() {
    let (inner, streams) = setup(cfg());
    let t = template("sess");
    streams.on_stream_chunk_with("k", "par", &t).await.unwrap();
    streams.on_stream_chunk_with("k", "tial", &t).await.unwrap();
    let receipt = streams.on_stream_abort("k").await.unwrap().unwrap();
    assert!(streams.on_stream_abort("k").await.unwrap().is_none());
    assert!(streams.on_stream_abort("unknown").await.unwrap().is_none());
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, receipt.id);
    assert_eq!(rows[0].content, "partial");
    assert_eq!(status(&rows[0]), "interrupted");
    assert_eq!(meta(&rows[0], "stream_reason"), "aborted");
    assert_eq!(rows[0].chat_session_id, "sess");
    assert_eq!(streams.metrics().interrupted, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stream_expires_one_tick_after_its_timeout() {
    let config = StreamConfig {
        timeout: Duration::from_secs(10),
        ..cfg()
    };
    let (inner, streams) = setup(config);
    let t = template("sess");
    streams.on_stream_chunk_with("k", "a", &t).await.unwrap();
    tokio::time::advance(Duration::from_secs(8)).await;
    // A chunk refreshes the stream.
    streams.on_stream_chunk_with("k", "b", &t).await.unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        streams.flush_expired().await.unwrap(),
        0,
        "exactly the timeout"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        streams.flush_expired().await.unwrap(),
        1,
        "one past the timeout"
    );
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].content, "ab");
    assert_eq!(status(&rows[0]), "interrupted");
    assert_eq!(meta(&rows[0], "stream_reason"), "expired");
    assert_eq!(rows[0].chat_session_id, "sess");
    let m = streams.metrics();
    assert_eq!((m.expired, m.interrupted, m.active_buffers), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_background_flusher_stores_expired_streams_and_stops_on_close() {
    let config = StreamConfig {
        timeout: Duration::from_secs(1),
        flush_interval: Duration::from_secs(5),
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("k", "lost in Go").await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(inner.rows().is_empty(), "the flusher has not run yet");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].content, "lost in Go");
    assert_eq!(meta(&rows[0], "stream_reason"), "expired");
    streams.close().await.unwrap();
    let calls = inner.calls();
    tokio::time::sleep(Duration::from_mins(1)).await;
    assert_eq!(inner.calls(), calls);
}

#[tokio::test]
async fn close_stores_every_buffer_as_interrupted_and_refuses_later_calls() {
    let (inner, streams) = setup(cfg());
    let t = template("s");
    streams
        .on_stream_chunk_with("done", "complete", &t)
        .await
        .unwrap();
    streams.on_stream_complete("done", &t).await.unwrap();
    streams
        .on_stream_chunk_with("open1", "x", &t)
        .await
        .unwrap();
    streams.on_stream_chunk("open2", "y").await.unwrap();
    streams.close().await.unwrap();
    let interrupted = inner.recorder.with_status("interrupted");
    assert_eq!(interrupted.len(), 2);
    assert!(
        interrupted
            .iter()
            .all(|m| meta(m, "stream_reason") == "closed")
    );
    let mut contents: Vec<_> = interrupted.iter().map(|m| m.content.as_str()).collect();
    contents.sort_unstable();
    assert_eq!(contents, ["x", "y"]);
    assert_eq!(inner.rows().len(), 3);
    let m = streams.metrics();
    assert!(m.closed);
    assert_eq!(m.active_buffers, 0);
    assert!(streams.is_closed());

    assert!(
        streams
            .on_stream_chunk("k", "z")
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(
        streams
            .on_stream_complete("k", &t)
            .await
            .unwrap_err()
            .is_closed()
    );
    assert!(streams.on_stream_abort("k").await.unwrap_err().is_closed());
    assert!(streams.flush_expired().await.unwrap_err().is_closed());
    streams.close().await.unwrap();
    assert_eq!(inner.rows().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_writes_in_flight() {
    let (inner, streams) = setup(cfg());
    let streams = Arc::new(streams);
    inner.set_delay(Duration::from_secs(5));
    let t = template("s");
    streams
        .on_stream_chunk_with("a", "answer", &t)
        .await
        .unwrap();
    streams.on_stream_chunk_with("b", "open", &t).await.unwrap();
    let completing = {
        let streams = Arc::clone(&streams);
        let t = t.clone();
        tokio::spawn(async move { streams.on_stream_complete("a", &t).await })
    };
    inner.wait_entered(1).await;
    streams.close().await.unwrap();
    // Both writes are done when close returns.
    assert_eq!(inner.recorder.with_status("complete").len(), 1);
    assert_eq!(inner.recorder.with_status("interrupted").len(), 1);
    assert_eq!(streams.metrics().in_flight_writes, 0);
    completing.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_failed_completion_keeps_the_buffer_and_returns_the_error() {
    let (inner, streams) = setup(cfg());
    let t = template("s");
    streams.on_stream_chunk_with("k", "abc", &t).await.unwrap();
    inner.fail_next(1);
    let err = streams.on_stream_complete("k", &t).await.unwrap_err();
    assert!(err.is_transient());
    let m = streams.metrics();
    assert_eq!(
        (m.active_buffers, m.buffered_bytes, m.write_failures),
        (1, 3, 1)
    );
    assert!(inner.rows().is_empty());
    // Chunks after the failure follow the kept ones. The failed write may have landed, so the
    // kept content is first written as a part under its id (once, whichever way it went).
    streams.on_stream_chunk_with("k", "def", &t).await.unwrap();
    assert_eq!(inner.recorder.contents(), ["abc"]);
    assert_eq!(status(&inner.rows()[0]), "partial");
    inner.set_permanent_failure(true);
    assert!(
        !streams
            .on_stream_complete("k", &t)
            .await
            .unwrap_err()
            .is_transient()
    );
    inner.set_permanent_failure(false);
    streams.on_stream_complete("k", &t).await.unwrap();
    assert_eq!(inner.recorder.contents(), ["abc", "def"]);
    assert_eq!(meta(&inner.rows()[1], "stream_part"), 2);
    assert_eq!(streams.metrics().active_buffers, 0);
}

#[tokio::test]
async fn a_completion_retried_after_a_lost_acknowledgement_is_stored_once() {
    let (inner, streams) = setup(cfg());
    let t = template("s");
    streams
        .on_stream_chunk_with("k", "answer", &t)
        .await
        .unwrap();
    inner.fail_after_write_next(1);
    assert!(streams.on_stream_complete("k", &t).await.is_err());
    assert_eq!(inner.rows().len(), 1, "the write landed, its ack was lost");
    let receipt = streams.on_stream_complete("k", &t).await.unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
    assert_eq!(inner.rows().len(), 1);
    assert_eq!(inner.rows()[0].id, receipt.id);
}

#[tokio::test(start_paused = true)]
async fn through_a_retry_store_a_lost_acknowledgement_becomes_one_row() {
    let inner = FaultyStore::new();
    let retrying = RetryStore::new(inner.clone(), RetryConfig::default()).unwrap();
    let streams = StreamMessageStore::new(Arc::new(retrying), cfg()).unwrap();
    let t = template("s");
    streams.on_stream_chunk_with("k", "once", &t).await.unwrap();
    inner.fail_after_write_next(1);
    let receipt = streams.on_stream_complete("k", &t).await.unwrap();
    assert!(receipt.is_persisted());
    assert_eq!(inner.calls(), 2);
    assert_eq!(inner.recorder.contents(), ["once"]);
}

#[tokio::test(start_paused = true)]
async fn no_store_call_happens_under_the_buffer_lock() {
    let (inner, streams) = setup(cfg());
    let streams = Arc::new(streams);
    let t = template("s");
    streams
        .on_stream_chunk_with("a", "first", &t)
        .await
        .unwrap();
    inner.block();
    let completing = {
        let streams = Arc::clone(&streams);
        let t = t.clone();
        tokio::spawn(async move { streams.on_stream_complete("a", &t).await })
    };
    inner.wait_entered(1).await;

    // The inner store is blocked inside a write: other keys and metrics go on.
    let quick = Duration::from_secs(1);
    tokio::time::timeout(quick, streams.on_stream_chunk_with("b", "x", &t))
        .await
        .expect("a chunk for another key waited for the blocked write")
        .unwrap();
    tokio::time::timeout(quick, streams.on_stream_chunk("c", "y"))
        .await
        .unwrap()
        .unwrap();
    let m = streams.metrics();
    assert_eq!((m.in_flight_writes, m.active_buffers), (1, 3));

    // A chunk for the key being written waits for the outcome, and is not merged into it.
    let late = {
        let streams = Arc::clone(&streams);
        tokio::spawn(async move { streams.on_stream_chunk("a", "second").await })
    };
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!late.is_finished());
    inner.release();
    completing.await.unwrap().unwrap();
    late.await.unwrap().unwrap();
    streams.on_stream_complete("a", &t).await.unwrap();
    assert_eq!(inner.recorder.contents(), ["first", "second"]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_completion_still_stores_its_stream() {
    let (inner, streams) = setup(cfg());
    let t = template("s");
    streams.on_stream_chunk_with("k", "kept", &t).await.unwrap();
    inner.block();
    let outcome = tokio::time::timeout(
        Duration::from_millis(10),
        streams.on_stream_complete("k", &t),
    )
    .await;
    assert!(outcome.is_err(), "the completion should still be blocked");
    inner.release();
    streams.close().await.unwrap();
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].content, "kept");
    assert_eq!(status(&rows[0]), "complete");
}

#[tokio::test]
async fn max_buffers_is_checked_when_a_stream_starts_reject_policy() {
    let (capture, _guard) = Capture::install();
    let config = StreamConfig {
        max_buffers: 2,
        overflow: OverflowPolicy::Reject,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("a", "1").await.unwrap();
    streams.on_stream_chunk("b", "1").await.unwrap(); // exactly max_buffers
    let err = streams.on_stream_chunk("c", "1").await.unwrap_err();
    assert_eq!(capacity_limit(&err), 2);
    // Running streams are never diverted.
    for _ in 0..100 {
        streams.on_stream_chunk("a", "+").await.unwrap();
    }
    let m = streams.metrics();
    assert_eq!((m.active_buffers, m.rejected), (2, 1));
    let warned = capture.matching("capacity exceeded");
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].level, tracing::Level::WARN);
    assert_eq!(warned[0].fields["limit"], "max_buffers");
    assert_eq!(warned[0].fields["policy"], "reject");
    assert_eq!(warned[0].fields["stream_key"], "c");
    // A finished stream frees its slot.
    streams
        .on_stream_complete("b", &ChatAppMessage::default())
        .await
        .unwrap();
    streams.on_stream_chunk("c", "1").await.unwrap();
    assert_eq!(inner.rows().len(), 1);
}

#[tokio::test]
async fn overflow_direct_store_writes_the_chunk_with_its_template() {
    let (capture, _guard) = Capture::install();
    let config = StreamConfig {
        max_buffers: 1,
        overflow: OverflowPolicy::DirectStore,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("a", "buffered").await.unwrap();
    streams
        .on_stream_chunk_with("b", "direct", &template("sess-b"))
        .await
        .unwrap();
    streams.on_stream_chunk("b", "").await.unwrap(); // nothing to store, no empty row
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].content, "direct");
    assert_eq!(status(&rows[0]), "interrupted");
    assert_eq!(meta(&rows[0], "stream_reason"), "overflow");
    assert_eq!(meta(&rows[0], "stream_limit"), "max_buffers");
    assert_eq!(rows[0].chat_session_id, "sess-b");
    assert_eq!(rows[0].chat_platform, "slack");
    let m = streams.metrics();
    assert_eq!((m.active_buffers, m.overflowed), (1, 1));
    let warned = capture.matching("overflow row");
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].fields["policy"], "direct_store");
    // A failed direct write is an error: the chunk was not accepted.
    inner.fail_next(1);
    assert!(streams.on_stream_chunk("c", "lost?").await.is_err());
    assert_eq!(inner.rows().len(), 1);
}

#[tokio::test]
async fn max_total_bytes_is_checked_when_a_stream_starts() {
    let config = StreamConfig {
        max_buffer_bytes: 10,
        max_total_bytes: 10,
        overflow: OverflowPolicy::Reject,
        ..cfg()
    };
    let (_inner, streams) = setup(config);
    streams.on_stream_chunk("a", "123456").await.unwrap();
    streams.on_stream_chunk("b", "1234").await.unwrap(); // exactly max_total_bytes
    let err = streams.on_stream_chunk("c", "1").await.unwrap_err();
    assert_eq!(capacity_limit(&err), 10);
    // A running stream may still grow.
    streams.on_stream_chunk("a", "78").await.unwrap();
    assert_eq!(streams.metrics().buffered_bytes, 12);
    // Over the limit now: even an empty first chunk is refused.
    assert!(streams.on_stream_chunk("d", "").await.is_err());
}

#[tokio::test(start_paused = true)]
async fn when_full_the_oldest_expired_stream_is_stored_to_make_room() {
    let (capture, _guard) = Capture::install();
    let config = StreamConfig {
        max_buffers: 2,
        timeout: Duration::from_secs(10),
        overflow: OverflowPolicy::Reject,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams
        .on_stream_chunk_with("old", "stale", &template("sess-old"))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    streams.on_stream_chunk("young", "fresh").await.unwrap();
    tokio::time::advance(Duration::from_secs(6)).await;
    streams.on_stream_chunk("new", "x").await.unwrap();
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].content, "stale");
    assert_eq!(rows[0].chat_session_id, "sess-old");
    assert_eq!(meta(&rows[0], "stream_reason"), "expired");
    assert_eq!(capture.matching("make room").len(), 1);
    let m = streams.metrics();
    assert_eq!((m.active_buffers, m.expired), (2, 1));
    // Full again and nothing expired: the overflow policy applies.
    assert_eq!(
        capacity_limit(&streams.on_stream_chunk("more", "x").await.unwrap_err()),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_eviction_keeps_the_expired_stream() {
    let config = StreamConfig {
        max_buffers: 1,
        timeout: Duration::from_secs(1),
        overflow: OverflowPolicy::Reject,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("old", "keep me").await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    inner.set_permanent_failure(true);
    let err = streams.on_stream_chunk("new", "x").await.unwrap_err();
    assert_eq!(capacity_limit(&err), 1);
    assert_eq!(streams.metrics().buffered_bytes, 7);
    inner.set_permanent_failure(false);
    streams.close().await.unwrap();
    assert_eq!(inner.recorder.contents(), ["keep me"]);
}

#[tokio::test]
async fn max_buffer_bytes_splits_a_long_stream_into_parts_without_losing_a_byte() {
    let config = StreamConfig {
        max_buffer_bytes: 10,
        max_total_bytes: 100,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    let t = template("s");
    streams
        .on_stream_chunk_with("k", "12345", &t)
        .await
        .unwrap();
    streams
        .on_stream_chunk_with("k", "67890", &t)
        .await
        .unwrap(); // exactly the limit
    assert!(inner.rows().is_empty());
    streams.on_stream_chunk_with("k", "x", &t).await.unwrap(); // one over: part 1 is stored
    let err = streams
        .on_stream_chunk_with("k", "12345678901", &t)
        .await
        .unwrap_err();
    assert_eq!(capacity_limit(&err), 10);
    streams
        .on_stream_chunk_with("k", "abcdefghij", &t)
        .await
        .unwrap();
    streams.on_stream_complete("k", &t).await.unwrap();
    let rows = inner.rows();
    assert_eq!(inner.recorder.contents(), ["1234567890", "x", "abcdefghij"]);
    assert_eq!(
        rows.iter().map(status).collect::<Vec<_>>(),
        ["partial", "partial", "complete"]
    );
    let parts: Vec<_> = rows
        .iter()
        .map(|r| meta(r, "stream_part").clone())
        .collect();
    assert_eq!(parts, [1, 2, 3]);
    assert_eq!(meta(&rows[0], "stream_chunks"), 2);
    assert!(
        rows.iter()
            .all(|r| meta(r, "stream_id") == meta(&rows[0], "stream_id"))
    );
    assert!(rows.iter().all(|r| r.chat_platform == "slack"));
    let m = streams.metrics();
    assert_eq!(
        (m.partial, m.completed, m.flushed, m.rejected),
        (2, 1, 3, 1)
    );
}

#[tokio::test]
async fn a_failed_part_write_refuses_the_chunk_and_keeps_the_buffer() {
    let config = StreamConfig {
        max_buffer_bytes: 10,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("k", "1234567890").await.unwrap();
    inner.fail_next(1);
    assert!(streams.on_stream_chunk("k", "x").await.is_err());
    assert!(inner.rows().is_empty());
    assert_eq!(streams.metrics().buffered_bytes, 10);
    streams.on_stream_chunk("k", "y").await.unwrap();
    streams.on_stream_abort("k").await.unwrap();
    assert_eq!(inner.recorder.contents(), ["1234567890", "y"]);
}

#[tokio::test]
async fn all_chunks_stores_each_chunk_as_it_arrives_and_the_merge_at_the_end() {
    let config = StreamConfig {
        storage_policy: StoragePolicy::AllChunks,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    let t = template("s");
    // A first chunk refused for good leaves no stream behind.
    inner.set_permanent_failure(true);
    assert!(streams.on_stream_chunk_with("k", "z", &t).await.is_err());
    assert_eq!(streams.metrics().active_buffers, 0);
    inner.set_permanent_failure(false);
    // After a transient failure its row may have landed: the empty stream is kept, so that a
    // retry reuses its stream id and position (see tests/regressions.rs). Nothing is accepted.
    inner.fail_next(1);
    assert!(streams.on_stream_chunk_with("k", "z", &t).await.is_err());
    let m = streams.metrics();
    assert_eq!(
        (m.active_buffers, m.buffered_bytes, m.chunks_accepted),
        (1, 0, 0)
    );

    streams.on_stream_chunk_with("k", "a", &t).await.unwrap();
    assert_eq!(inner.rows().len(), 1, "stored before Ok");
    inner.fail_next(1);
    assert!(streams.on_stream_chunk_with("k", "b", &t).await.is_err());
    streams.on_stream_chunk_with("k", "c", &t).await.unwrap();
    streams.on_stream_chunk_with("k", "", &t).await.unwrap(); // no empty row
    streams.on_stream_complete("k", &t).await.unwrap();
    let chunks = inner.recorder.with_status("chunk");
    assert_eq!(
        chunks
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
    let seqs: Vec<_> = chunks
        .iter()
        .map(|m| meta(m, "stream_seq").clone())
        .collect();
    assert_eq!(seqs, [1, 2]);
    assert!(chunks.iter().all(|m| m.chat_platform == "slack"));
    let complete = inner.recorder.with_status("complete");
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].content, "ac");
    assert_eq!(
        meta(&complete[0], "stream_id"),
        meta(&chunks[0], "stream_id")
    );
    assert_eq!(streams.metrics().chunk_rows, 2);
}

#[tokio::test]
async fn bad_input_is_refused_without_side_effects() {
    let (inner, streams) = setup(cfg());
    let field = |e: StorageError| match e {
        StorageError::InvalidMessage { field, .. } => field,
        other => panic!("expected InvalidMessage, got {other:?}"),
    };
    assert_eq!(
        field(streams.on_stream_chunk("", "x").await.unwrap_err()),
        "stream_key"
    );
    assert_eq!(
        field(streams.on_stream_chunk("k\0", "x").await.unwrap_err()),
        "stream_key"
    );
    assert_eq!(
        field(
            streams
                .on_stream_chunk(&"k".repeat(257), "x")
                .await
                .unwrap_err()
        ),
        "stream_key"
    );
    assert_eq!(
        field(streams.on_stream_chunk("k", "a\0b").await.unwrap_err()),
        "content"
    );
    let bad = template("s").with_user("u".repeat(300));
    assert_eq!(
        field(
            streams
                .on_stream_chunk_with("k", "x", &bad)
                .await
                .unwrap_err()
        ),
        "chat_user_id"
    );
    assert_eq!(
        field(
            streams
                .on_stream_complete("", &template("s"))
                .await
                .unwrap_err()
        ),
        "stream_key"
    );
    assert_eq!(streams.metrics().active_buffers, 0);
    assert_eq!(inner.calls(), 0);
    let invalid = StreamConfig {
        max_buffers: 0,
        ..cfg()
    };
    let Err(err) = StreamMessageStore::new(inner, invalid) else {
        panic!("an invalid config was accepted");
    };
    assert!(err.is_config_error());
}

#[tokio::test]
async fn metrics_serialise_with_snake_case_fields() {
    let (_inner, streams) = setup(cfg());
    streams.on_stream_chunk("k", "abc").await.unwrap();
    let json = serde_json::to_value(streams.metrics()).unwrap();
    assert_eq!(json["active_buffers"], 1);
    assert_eq!(json["buffered_bytes"], 3);
    assert_eq!(json["buffered_chunks"], 1);
    assert_eq!(json["flushed"], 0);
    assert_eq!(json["closed"], false);
}

#[test]
fn works_when_created_outside_a_runtime() {
    let inner = FaultyStore::new();
    let streams = StreamMessageStore::new(inner.clone(), cfg()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        streams.on_stream_chunk("k", "late start").await.unwrap();
        streams.close().await.unwrap();
    });
    assert_eq!(inner.recorder.contents(), ["late start"]);
}

#[tokio::test(start_paused = true)]
async fn works_over_the_memory_store_as_design_wires_it() {
    use hotplex_storage_core::{ChatAppMessageStore, MessageQuery, ReadOnlyStore, SessionStore};
    let store: Arc<dyn ChatAppMessageStore> = Arc::new(hotplex_storage_memory::MemoryStore::new());
    store.initialize().await.unwrap();
    let retrying = RetryStore::new(store.clone(), RetryConfig::default()).unwrap();
    let direct = StreamMessageStore::new(store.clone(), cfg()).unwrap(); // DESIGN.md's entry point
    let streams = StreamMessageStore::new(Arc::new(retrying), cfg()).unwrap();
    let t = template("slack:U1:C1");
    for c in ["Write", "-ahead ", "log"] {
        streams.on_stream_chunk_with("r1", c, &t).await.unwrap();
    }
    streams.on_stream_complete("r1", &t).await.unwrap();
    direct
        .on_stream_chunk_with("r2", "cut off", &t)
        .await
        .unwrap();
    direct.close().await.unwrap();
    streams.close().await.unwrap();
    let rows = store
        .list(&MessageQuery::for_session("slack:U1:C1").with_limit(10))
        .await
        .unwrap();
    let mut contents: Vec<_> = rows.iter().map(|m| m.content.as_str()).collect();
    contents.sort_unstable();
    assert_eq!(contents, ["Write-ahead log", "cut off"]);
    assert_eq!(
        store
            .get_session_meta("slack:U1:C1")
            .await
            .unwrap()
            .message_count,
        2
    );
}
