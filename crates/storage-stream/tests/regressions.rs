//! Regression tests for bugs found in review: each fails on the code before its fix.
//!
//! 1. A template validated without the `stream_*` keys let chunks be accepted whose rows could
//!    never be stored.
//! 2. `AlreadyStored` of a foreign id and `Filtered` receipts counted as persisted.
//! 3. Finishing a stream right after a stored part wrote an empty row.
//! 4. `flush_interval: Duration::MAX` passed validation and panicked the flusher.
//! 5. Under `all_chunks`, a chunk row retried after a lost acknowledgement became a second row.
//! 6. A caller's completion id was treated as the stream's own after any failed completion
//!    (even a permanent one), and copied into interrupted rows: a foreign row's `AlreadyStored`
//!    dropped the stream.
//! 7. A chunk accepted after a write that may have landed rewrote that content under a new id.
//! 8. Under `all_chunks`, a new stream's first chunk in flight was not counted against
//!    `max_total_bytes`.
//! 9. A completion with nothing buffered accepted a foreign `AlreadyStored`; `flush_expired`
//!    counted `Filtered` rows as stored.
//! 10. After `close()`, invalid input was answered `InvalidMessage` instead of `Closed`.
//! 11. A completion template marked `deleted` stored the answer soft-deleted.
//! 12. Under `all_chunks`, empty chunks consumed `stream_seq` numbers.
//! 13. Under `all_chunks`, a permanent failure forgot a new stream whose first chunk row may
//!     have landed: the retry wrote the chunk under a new stream id.
//! 14. Under `all_chunks`, a chunk whose call was cancelled was appended anyway: the caller's
//!     retry stored it twice.
//! 15. A completion under a caller's id after the stream's own write may have landed stored
//!     the content a second time.
//! 16. An overflow row retried after a lost acknowledgement became a second row.
//! 17. (Issue 9) An overflow row whose ack was lost, then a freed buffer, then an empty chunk
//!     for the key: the empty chunk started a buffer and the retried chunk joined it — stored
//!     twice (three times under `all_chunks`).
//! 18. (Issue 9) Through a `RetryStore`, attempt 1 of a completion landed unacknowledged and
//!     attempt 2 failed permanently: the next complete, abort, expiry or close stored the
//!     content again under a new id.
//! 19. A chunk (or an abort) after a completion under a caller's id that landed unacknowledged
//!     stored the content a second time under a new id (then documented as a residual).
//!
//! 20. (Found by the extended fuzz harness during this change.) A caller's id that already
//!     named a part answered the completion of the rest with that part's `AlreadyStored`.
//! 21. (Found by the fuzz harness.) A failed completion did not keep its stream alive: an
//!     expiry or eviction could end the stream before the completion's prompt retry.
//!
//! The last section also pins down that a chunk row's id names its chunk.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hotplex_storage_core::{
    ChatAppMessage, DefaultStrategy, MessageType, Result, StorageError, StoreOutcome, StoreReceipt,
    StrategyStore, ValidationLimits, WriteOnlyStore,
};
use hotplex_storage_stream::{
    OverflowPolicy, RetryConfig, RetryStore, StoragePolicy, StreamConfig, StreamMessageStore, keys,
};
use support::{
    Capture, DAY, FaultyStore, RecordingStore, StrictStore, cfg, meta, setup, status, template,
};

/// A `direct_store` stream store with one buffer, taken by key `"other"`: the next new
/// stream overflows.
async fn one_buffer_taken() -> (Arc<FaultyStore>, StreamMessageStore) {
    let (inner, streams) = setup(StreamConfig {
        max_buffers: 1,
        overflow: OverflowPolicy::DirectStore,
        ..cfg()
    });
    streams
        .on_stream_chunk("other", "occupies the only buffer")
        .await
        .unwrap();
    (inner, streams)
}

/// Key `"k"` streams `chunk` and expires; its flush lands but answers a transient error.
async fn expiry_flush_with_a_lost_ack(chunk: &str) -> (Arc<FaultyStore>, StreamMessageStore) {
    let (inner, streams) = setup(StreamConfig {
        timeout: Duration::from_secs(1),
        ..cfg()
    });
    streams.on_stream_chunk("k", chunk).await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    inner.fail_after_write_next(1);
    assert!(streams.flush_expired().await.unwrap_err().is_transient());
    (inner, streams)
}

/// The default config with `storage_policy = all_chunks`.
fn all_chunks() -> StreamConfig {
    StreamConfig {
        storage_policy: StoragePolicy::AllChunks,
        ..cfg()
    }
}

/// Every chunk row stored, as `(content, stream_seq)`, in the order stored.
fn chunk_rows_by_seq(inner: &FaultyStore) -> Vec<(String, u64)> {
    inner
        .recorder
        .with_status("chunk")
        .iter()
        .map(|r| {
            let seq = meta(r, keys::STREAM_SEQ)
                .as_u64()
                .expect("stream_seq is a number");
            (r.content.clone(), seq)
        })
        .collect()
}

#[track_caller]
fn invalid_field(err: &StorageError) -> &str {
    match err {
        StorageError::InvalidMessage { field, .. } => field,
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
}

#[track_caller]
fn config_key(result: hotplex_storage_core::Result<StreamMessageStore>) -> String {
    match result {
        Err(StorageError::InvalidConfig { key, .. }) => key,
        Err(other) => panic!("expected InvalidConfig, got {other:?}"),
        Ok(_) => panic!("the config was accepted"),
    }
}

/// A template whose metadata serialises to exactly `bytes` bytes (`{"k":"xx…"}`).
fn template_with_metadata(session: &str, bytes: usize) -> ChatAppMessage {
    let t = ChatAppMessage::bot(session, "").with_metadata_entry("k", "x".repeat(bytes - 8));
    assert_eq!(serde_json::to_vec(&t.metadata).unwrap().len(), bytes);
    t
}

// ---- 1. templates are validated as the largest row a stream can write ----------------------

#[tokio::test]
async fn a_template_without_room_for_the_stream_keys_is_refused_before_any_chunk() {
    let (inner, streams) = setup(cfg());
    // Valid on its own (exactly the 64 KiB metadata limit), but no row built from it can be
    // stored: the stream keys would push its metadata over the limit.
    let t = template_with_metadata("sess", ValidationLimits::DEFAULT_MAX_METADATA_BYTES);
    hotplex_storage_core::validate_message(&t).unwrap();
    for chunk in ["hello ", "world"] {
        let err = streams
            .on_stream_chunk_with("key", chunk, &t)
            .await
            .unwrap_err();
        assert_eq!(invalid_field(&err), "metadata", "{err}");
    }
    let m = streams.metrics();
    assert_eq!(
        (m.chunks_accepted, m.active_buffers, m.buffered_bytes),
        (0, 0, 0)
    );
    // Nothing was accepted, so there is nothing to complete, abort or flush.
    let err = streams.on_stream_complete("key", &t).await.unwrap_err();
    assert_eq!(invalid_field(&err), "content");
    assert!(streams.on_stream_abort("key").await.unwrap().is_none());
    streams.close().await.unwrap();
    assert_eq!(inner.calls(), 0);
    assert_eq!(streams.metrics().write_failures, 0);
}

/// Every kind of row (chunk, part, overflow, complete, interrupted) of a stream whose template
/// was accepted is stored, for metadata sizes on both sides of the acceptance boundary and the
/// longest possible key (256 control characters, 6 bytes each as JSON).
#[tokio::test]
async fn every_accepted_template_yields_rows_the_store_accepts() {
    let key = "\u{1}".repeat(256);
    let other_key = "\u{2}".repeat(256);
    let config = StreamConfig {
        max_buffer_bytes: 10,
        max_total_bytes: 100,
        max_buffers: 1,
        overflow: OverflowPolicy::DirectStore,
        storage_policy: StoragePolicy::AllChunks,
        ..cfg()
    };
    let limit = ValidationLimits::DEFAULT_MAX_METADATA_BYTES;
    let (mut accepted, mut refused) = (0, 0);
    for bytes in (limit - 2400..=limit).step_by(100) {
        let (inner, streams) = setup(config.clone());
        let t = template_with_metadata("sess", bytes);
        match streams.on_stream_chunk_with(&key, "0123456789", &t).await {
            Err(err) => {
                assert_eq!(invalid_field(&err), "metadata", "{bytes}: {err}");
                assert_eq!(inner.calls(), 0);
                refused += 1;
                continue;
            }
            Ok(()) => accepted += 1,
        }
        streams.on_stream_chunk_with(&key, "x", &t).await.unwrap(); // a part, then a chunk row
        streams
            .on_stream_chunk_with(&other_key, "o", &t)
            .await
            .unwrap(); // full: an overflow row
        streams.on_stream_complete(&key, &t).await.unwrap();
        streams
            .on_stream_chunk_with(&other_key, "p", &t)
            .await
            .unwrap();
        streams.close().await.unwrap();
        let rows = inner.rows();
        let kinds: Vec<_> = rows.iter().map(status).collect();
        assert_eq!(
            kinds,
            [
                "chunk",
                "partial",
                "chunk",
                "interrupted",
                "complete",
                "chunk",
                "interrupted"
            ],
            "{bytes}"
        );
        assert_eq!(meta(&rows[3], keys::STREAM_REASON), "overflow");
        assert_eq!(meta(&rows[6], keys::STREAM_REASON), "closed");
        assert_eq!(streams.metrics().write_failures, 0, "{bytes}");
    }
    assert!(
        accepted > 0 && refused > 0,
        "the sizes must straddle the boundary"
    );
}

#[tokio::test]
async fn a_completion_template_without_room_is_refused_and_the_stream_kept() {
    let (inner, streams) = setup(cfg());
    let t = template("sess");
    streams
        .on_stream_chunk_with("k", "answer", &t)
        .await
        .unwrap();
    let big = template_with_metadata("sess", ValidationLimits::DEFAULT_MAX_METADATA_BYTES);
    let err = streams.on_stream_complete("k", &big).await.unwrap_err();
    assert_eq!(invalid_field(&err), "metadata", "{err}");
    assert_eq!(inner.calls(), 0, "refused before any write");
    let m = streams.metrics();
    assert_eq!((m.active_buffers, m.buffered_bytes), (1, 6));
    streams.on_stream_complete("k", &t).await.unwrap();
    assert_eq!(inner.recorder.contents(), ["answer"]);
}

#[tokio::test]
async fn max_buffer_bytes_must_fit_the_configured_content_limit() {
    let limits = ValidationLimits {
        max_content_bytes: 100,
        ..ValidationLimits::default()
    };
    let fits = StreamConfig {
        limits,
        max_buffer_bytes: 100,
        max_total_bytes: 1000,
        ..cfg()
    };
    fits.validate().unwrap();
    let over = StreamConfig {
        max_buffer_bytes: 101,
        ..fits.clone()
    };
    assert_eq!(
        config_key(StreamMessageStore::new(FaultyStore::new(), over)),
        "streaming.max_buffer_bytes"
    );
    // Limits too small for the rows of a stream without a template (a 256-byte key as
    // chat_session_id) are refused as well.
    let tiny = StreamConfig {
        limits: ValidationLimits {
            max_field_bytes: 255,
            ..limits
        },
        ..fits
    };
    assert_eq!(
        config_key(StreamMessageStore::new(FaultyStore::new(), tiny)),
        "streaming.limits"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_row_the_store_refuses_is_stored_as_a_minimal_row() {
    let (capture, _guard) = Capture::install();
    // The backend's metadata limit is smaller than the stream store's: a misconfiguration.
    let inner = StrictStore::new(ValidationLimits {
        max_metadata_bytes: 256,
        ..ValidationLimits::default()
    });
    let config = StreamConfig {
        timeout: Duration::from_secs(10),
        ..cfg()
    };
    let streams = StreamMessageStore::new(inner.clone(), config).unwrap();
    let t = template("sess").with_metadata_entry("notes", "n".repeat(1000));
    for key in ["aborted", "expired", "closed"] {
        streams
            .on_stream_chunk_with(key, "kept ", &t)
            .await
            .unwrap();
        streams.on_stream_chunk_with(key, key, &t).await.unwrap();
    }
    // A completion is not rewritten: its error is returned and the stream kept.
    let err = streams.on_stream_complete("aborted", &t).await.unwrap_err();
    assert_eq!(invalid_field(&err), "metadata");
    assert_eq!(streams.metrics().active_buffers, 3);

    let receipt = streams.on_stream_abort("aborted").await.unwrap().unwrap();
    assert!(receipt.is_persisted());
    tokio::time::advance(Duration::from_secs(5)).await;
    streams
        .on_stream_chunk_with("closed", "!", &t)
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(streams.flush_expired().await.unwrap(), 1);
    streams.close().await.unwrap();

    let rows = inner.rows();
    assert_eq!(rows[0].id, receipt.id);
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.content.as_str(),
                meta(r, keys::STREAM_REASON).as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("kept aborted", "aborted"),
            ("kept expired", "expired"),
            ("kept closed!", "closed")
        ]
    );
    for row in &rows {
        let mut names: Vec<_> = row.metadata.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["stream_id", "stream_reason", "stream_status"]);
        assert_eq!(status(row), "interrupted");
        assert_eq!(row.chat_session_id, "sess");
        assert_eq!(row.message_type, MessageType::FINAL_RESPONSE);
    }
    let m = streams.metrics();
    assert_eq!(
        (m.interrupted, m.active_buffers, m.buffered_bytes),
        (3, 0, 0)
    );
    assert_eq!(capture.matching("minimal interrupted row").len(), 3);
}

// ---- 2. AlreadyStored of a foreign id, Filtered -----------------------------------------------

#[tokio::test]
async fn a_completion_id_already_used_by_another_message_is_refused_and_the_stream_kept() {
    let (inner, streams) = setup(cfg());
    // A caller reusing one response template (with a fixed id) for two answers.
    let t = template("sess").with_id("resp-1");
    streams
        .on_stream_chunk_with("sess", "first answer", &t)
        .await
        .unwrap();
    let first = streams.on_stream_complete("sess", &t).await.unwrap();
    assert_eq!(first.outcome, StoreOutcome::Stored);
    streams
        .on_stream_chunk_with("sess", "second answer", &t)
        .await
        .unwrap();
    let err = streams.on_stream_complete("sess", &t).await.unwrap_err();
    assert_eq!(invalid_field(&err), "id", "{err}");
    assert!(err.to_string().contains("new id"), "{err}");
    let m = streams.metrics();
    assert_eq!(
        (m.active_buffers, m.buffered_bytes, m.completed),
        (1, 13, 1)
    );
    // Asking again with the same id is refused again; nothing was lost meanwhile.
    assert!(streams.on_stream_complete("sess", &t).await.is_err());
    let receipt = streams
        .on_stream_complete("sess", &template("sess"))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(inner.recorder.contents(), ["first answer", "second answer"]);
}

/// The intended case of a caller-supplied id: our own write under it landed but its
/// acknowledgement was lost (a transient error), so the retry's `AlreadyStored` is our row.
#[tokio::test]
async fn a_fixed_completion_id_retried_after_a_lost_ack_is_already_stored() {
    let (inner, streams) = setup(cfg());
    let t = template("sess").with_id("resp-1");
    streams
        .on_stream_chunk_with("k", "answer", &t)
        .await
        .unwrap();
    inner.fail_after_write_next(1);
    assert!(streams.on_stream_complete("k", &t).await.is_err());
    let receipt = streams.on_stream_complete("k", &t).await.unwrap();
    assert_eq!(
        (receipt.id.as_str(), receipt.outcome),
        ("resp-1", StoreOutcome::AlreadyStored)
    );
    assert_eq!(inner.recorder.contents(), ["answer"]);
    assert_eq!(streams.metrics().active_buffers, 0);
}

#[tokio::test]
async fn a_stream_declined_by_the_strategy_is_reported_as_filtered() {
    let (capture, _guard) = Capture::install();
    let inner = FaultyStore::new();
    let strategy: Arc<dyn WriteOnlyStore> =
        Arc::new(StrategyStore::new(inner.clone(), DefaultStrategy));
    let streams = StreamMessageStore::new(strategy, cfg()).unwrap();
    let answer = ChatAppMessage::of_type("sess", MessageType::ANSWER, "");
    streams
        .on_stream_chunk_with("done", "the whole answer", &answer)
        .await
        .unwrap();
    let receipt = streams.on_stream_complete("done", &answer).await.unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Filtered);
    assert!(!receipt.is_persisted());
    streams
        .on_stream_chunk_with("open", "interrupted", &answer)
        .await
        .unwrap();
    streams.close().await.unwrap();
    assert_eq!(inner.calls(), 0);
    let m = streams.metrics();
    assert_eq!(
        (m.filtered, m.completed, m.interrupted, m.flushed),
        (2, 0, 0, 0)
    );
    assert_eq!((m.active_buffers, m.buffered_bytes), (0, 0));
    let warned = capture.matching("declined by the storage strategy");
    assert_eq!(warned.len(), 2);
    assert_eq!(warned[0].level, tracing::Level::WARN);
    assert_eq!(warned[0].fields["stream_key"], "done");
    assert_eq!(warned[0].fields["message_type"], "answer");
    assert_eq!(warned[1].fields["stream_key"], "open");
}

// ---- 3. no empty row after a part ------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn finishing_right_after_a_stored_part_writes_no_empty_row() {
    let config = StreamConfig {
        max_buffer_bytes: 10,
        max_total_bytes: 1000,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    let t = template("sess");
    for key in ["complete", "abort", "close"] {
        streams
            .on_stream_chunk_with(key, "0123456789", &t)
            .await
            .unwrap();
        // This chunk needs a part write; its caller gives up while the write runs, so the
        // part is stored and the chunk is not accepted: the stream is left with no content.
        inner.block();
        let gave_up = tokio::time::timeout(
            Duration::from_millis(20),
            streams.on_stream_chunk_with(key, "abc", &t),
        )
        .await;
        assert!(gave_up.is_err());
        inner.release();
        while streams.metrics().in_flight_writes > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(streams.metrics().buffered_bytes, 0, "the part was stored");
    }
    let done = streams.on_stream_complete("complete", &t).await.unwrap();
    let aborted = streams.on_stream_abort("abort").await.unwrap().unwrap();
    streams.close().await.unwrap();

    let rows = inner.rows();
    assert_eq!(
        inner.recorder.contents(),
        ["0123456789", "0123456789", "0123456789"]
    );
    assert!(rows.iter().all(|r| status(r) == "partial"));
    // The receipts name the stream's last stored row: its content is already persisted.
    assert_eq!(
        (done.id.as_str(), done.outcome),
        (rows[0].id.as_str(), StoreOutcome::AlreadyStored)
    );
    assert_eq!(
        (aborted.id.as_str(), aborted.outcome),
        (rows[1].id.as_str(), StoreOutcome::AlreadyStored)
    );
    let m = streams.metrics();
    assert_eq!((m.partial, m.active_buffers, m.buffered_bytes), (3, 0, 0));
}

// ---- 4. bounded durations ----------------------------------------------------------------------

#[tokio::test]
async fn flush_interval_and_timeout_have_an_upper_bound() {
    let huge = StreamConfig {
        flush_interval: Duration::MAX,
        ..StreamConfig::default()
    };
    assert_eq!(
        config_key(StreamMessageStore::new(FaultyStore::new(), huge)),
        "streaming.flush_interval"
    );
    let huge = StreamConfig {
        timeout: Duration::MAX,
        ..StreamConfig::default()
    };
    assert_eq!(
        config_key(StreamMessageStore::new(FaultyStore::new(), huge)),
        "streaming.timeout"
    );
    let one_ms = Duration::from_millis(1);
    let over = StreamConfig {
        flush_interval: StreamConfig::MAX_FLUSH_INTERVAL + one_ms,
        ..StreamConfig::default()
    };
    assert_eq!(
        config_key(StreamMessageStore::new(FaultyStore::new(), over)),
        "streaming.flush_interval"
    );
    let over = StreamConfig {
        timeout: StreamConfig::MAX_TIMEOUT + one_ms,
        ..StreamConfig::default()
    };
    assert_eq!(
        config_key(StreamMessageStore::new(FaultyStore::new(), over)),
        "streaming.timeout"
    );
    // Exactly the maximum is accepted, and the flusher runs with it.
    let edge = StreamConfig {
        timeout: StreamConfig::MAX_TIMEOUT,
        flush_interval: StreamConfig::MAX_FLUSH_INTERVAL,
        ..StreamConfig::default()
    };
    assert_eq!(StreamConfig::MAX_FLUSH_INTERVAL, DAY);
    let (inner, streams) = setup(edge);
    tokio::task::yield_now().await;
    streams.on_stream_chunk("k", "x").await.unwrap();
    streams.close().await.unwrap();
    assert_eq!(inner.recorder.contents(), ["x"]);
}

// ---- 5. deterministic chunk-row ids -----------------------------------------------------------

#[tokio::test]
async fn a_chunk_row_retried_after_a_lost_ack_is_stored_once() {
    let (inner, streams) = setup(all_chunks());
    let t = template("s");
    // The first chunk of the stream and a later one: each write lands, its ack is lost.
    for chunk in ["a", "b"] {
        inner.fail_after_write_next(1);
        let err = streams
            .on_stream_chunk_with("k", chunk, &t)
            .await
            .unwrap_err();
        assert!(err.is_transient());
        streams.on_stream_chunk_with("k", chunk, &t).await.unwrap();
    }
    streams.on_stream_complete("k", &t).await.unwrap();
    assert_eq!(
        chunk_rows_by_seq(&inner),
        [("a".into(), 1), ("b".into(), 2)]
    );
    let complete = inner.recorder.with_status("complete");
    assert_eq!(complete[0].content, "ab");
    assert!(
        inner
            .recorder
            .with_status("chunk")
            .iter()
            .all(|r| meta(r, keys::STREAM_ID) == meta(&complete[0], keys::STREAM_ID))
    );
    let m = streams.metrics();
    assert_eq!((m.chunk_rows, m.chunks_accepted), (2, 2));
}

/// The empty stream kept after a failed first chunk row holds a buffer slot until it expires;
/// when the buffers are full, expiring it makes room without writing a row.
#[tokio::test(start_paused = true)]
async fn an_expired_stream_without_content_makes_room_without_a_row() {
    let config = StreamConfig {
        storage_policy: StoragePolicy::AllChunks,
        max_buffers: 1,
        overflow: OverflowPolicy::Reject,
        timeout: Duration::from_secs(10),
        ..cfg()
    };
    let (inner, streams) = setup(config);
    inner.fail_next(1);
    assert!(streams.on_stream_chunk("gone", "a").await.is_err());
    assert_eq!(streams.metrics().active_buffers, 1);
    tokio::time::advance(Duration::from_secs(11)).await;
    streams.on_stream_chunk("next", "b").await.unwrap();
    let m = streams.metrics();
    assert_eq!((m.active_buffers, m.rejected, m.interrupted), (1, 0, 0));
    assert_eq!(inner.recorder.contents(), ["b"]);
}

// ---- 6. a caller's id is not the stream's own --------------------------------------------------

/// Content of the rows of `key`'s stream, concatenated in the order they were stored.
fn stream_content(inner: &FaultyStore) -> String {
    inner
        .rows()
        .iter()
        .filter(|r| status(r) != "chunk")
        .map(|r| r.content.as_str())
        .collect()
}

#[tokio::test]
async fn a_foreign_caller_id_is_refused_after_a_permanent_failure_and_the_stream_kept() {
    let (inner, streams) = setup(cfg());
    inner
        .store_bot_response(&ChatAppMessage::bot("other", "answer one").with_id("fixed-id"))
        .await
        .unwrap();
    streams.on_stream_chunk("k", "answer two").await.unwrap();
    let t = template("s1").with_id("fixed-id");
    inner.set_permanent_failure(true);
    let err = streams.on_stream_complete("k", &t).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    inner.set_permanent_failure(false);
    // Nothing of the failed write can have landed: the id is still someone else's.
    let err = streams.on_stream_complete("k", &t).await.unwrap_err();
    assert_eq!(invalid_field(&err), "id", "{err}");
    assert_eq!(streams.metrics().active_buffers, 1);
    // The interrupted row never borrows the caller's id.
    let receipt = streams.on_stream_abort("k").await.unwrap().unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_ne!(receipt.id, "fixed-id");
    assert_eq!(inner.recorder.contents(), ["answer one", "answer two"]);
}

#[tokio::test]
async fn rows_after_a_failed_completion_under_a_caller_id_get_the_streams_own_ids() {
    let (inner, streams) = setup(cfg());
    inner
        .store_bot_response(&ChatAppMessage::bot("other", "someone else's").with_id("taken"))
        .await
        .unwrap();
    let t = template("s1").with_id("taken");
    for (key, end) in [("abort", 0), ("close", 1)] {
        streams.on_stream_chunk(key, key).await.unwrap();
        inner.fail_next(1);
        assert!(
            streams
                .on_stream_complete(key, &t)
                .await
                .unwrap_err()
                .is_transient()
        );
        if end == 0 {
            let receipt = streams.on_stream_abort(key).await.unwrap().unwrap();
            assert_eq!(receipt.outcome, StoreOutcome::Stored);
            assert_ne!(receipt.id, "taken");
        }
    }
    streams.close().await.unwrap();
    assert_eq!(
        inner.recorder.contents(),
        ["someone else's", "abort", "close"]
    );
    let m = streams.metrics();
    assert_eq!((m.interrupted, m.completed, m.active_buffers), (2, 0, 0));
}

// ---- 7. a write that may have landed is not forgotten by the next chunk ------------------------

#[tokio::test(start_paused = true)]
async fn a_chunk_after_a_lost_ack_of_an_expiry_flush_stores_the_content_once() {
    let (inner, streams) = expiry_flush_with_a_lost_ack("first half ").await;
    streams.on_stream_chunk("k", "second half").await.unwrap();
    let receipt = streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(stream_content(&inner), "first half second half");
    let rows = inner.rows();
    assert!(
        rows.iter()
            .all(|r| meta(r, keys::STREAM_ID) == meta(&rows[0], keys::STREAM_ID))
    );
    assert_eq!(meta(&rows[1], keys::STREAM_PART), 2);
    assert_eq!(streams.metrics().buffered_bytes, 0);
}

#[tokio::test]
async fn a_chunk_after_a_lost_ack_of_a_part_stores_the_content_once() {
    let config = StreamConfig {
        max_buffer_bytes: 10,
        max_total_bytes: 100,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("k", "aaaaaaaa").await.unwrap();
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_chunk("k", "bbbbb")
            .await
            .unwrap_err()
            .is_transient()
    );
    streams.on_stream_chunk("k", "c").await.unwrap();
    streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    assert_eq!(stream_content(&inner), "aaaaaaaac");
    let parts: Vec<_> = inner
        .rows()
        .iter()
        .map(|r| meta(r, keys::STREAM_PART).as_u64())
        .collect();
    assert_eq!(parts, [Some(1), Some(2)]);
}

#[tokio::test]
async fn a_chunk_after_a_lost_ack_of_a_completion_stores_the_content_once() {
    let (inner, streams) = setup(cfg());
    streams.on_stream_chunk("k", "one ").await.unwrap();
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_complete("k", &template("s"))
            .await
            .unwrap_err()
            .is_transient()
    );
    streams.on_stream_chunk("k", "two").await.unwrap();
    streams.close().await.unwrap();
    assert_eq!(stream_content(&inner), "one two");
}

// ---- 8. max_total_bytes counts chunk rows in flight ----------------------------------------------

#[tokio::test(start_paused = true)]
async fn all_chunks_first_chunks_in_flight_count_against_max_total_bytes() {
    let config = StreamConfig {
        storage_policy: StoragePolicy::AllChunks,
        max_buffer_bytes: 100,
        max_total_bytes: 100,
        overflow: OverflowPolicy::Reject,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    let streams = Arc::new(streams);
    let chunk = "x".repeat(100);
    inner.block();
    let first = {
        let (streams, chunk) = (Arc::clone(&streams), chunk.clone());
        tokio::spawn(async move { streams.on_stream_chunk("k1", &chunk).await })
    };
    inner.wait_entered(1).await;
    assert_eq!(streams.metrics().buffered_bytes, 100);
    let second = tokio::time::timeout(
        Duration::from_secs(1),
        streams.on_stream_chunk("k2", &chunk),
    )
    .await
    .expect("a second new stream must be refused, not written");
    assert!(
        matches!(second, Err(StorageError::CapacityExceeded { .. })),
        "{second:?}"
    );
    inner.release();
    first.await.unwrap().unwrap();
    assert_eq!(streams.metrics().buffered_bytes, 100);
    // A failed chunk row releases its reservation.
    inner.fail_next(1);
    assert!(streams.on_stream_chunk("k1", "y").await.is_err());
    assert_eq!(streams.metrics().buffered_bytes, 100);
    streams
        .on_stream_complete("k1", &template("s"))
        .await
        .unwrap();
    assert_eq!(streams.metrics().buffered_bytes, 0);
    streams.on_stream_chunk("k2", &chunk).await.unwrap();
}

// ---- 9. nothing buffered; flush_expired and Filtered --------------------------------------------

#[tokio::test]
async fn a_direct_completion_under_another_messages_id_is_refused() {
    let (inner, streams) = setup(cfg());
    inner
        .store_bot_response(&ChatAppMessage::bot("other", "theirs").with_id("taken"))
        .await
        .unwrap();
    let whole = template("s")
        .with_content("the whole answer")
        .with_id("taken");
    let err = streams.on_stream_complete("k", &whole).await.unwrap_err();
    assert_eq!(invalid_field(&err), "id", "{err}");
    assert_eq!(streams.metrics().completed, 0);
    let fresh = template("s").with_content("the whole answer");
    let receipt = streams.on_stream_complete("k", &fresh).await.unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(inner.recorder.contents(), ["theirs", "the whole answer"]);
    assert_eq!(streams.metrics().completed, 1);
}

#[tokio::test(start_paused = true)]
async fn flush_expired_does_not_count_filtered_rows_as_stored() {
    let inner = FaultyStore::new();
    let strategy: Arc<dyn WriteOnlyStore> =
        Arc::new(StrategyStore::new(inner.clone(), DefaultStrategy));
    let config = StreamConfig {
        timeout: Duration::from_secs(1),
        ..cfg()
    };
    let streams = StreamMessageStore::new(strategy, config).unwrap();
    let answer = ChatAppMessage::of_type("sess", MessageType::ANSWER, "");
    streams
        .on_stream_chunk_with("declined", "x", &answer)
        .await
        .unwrap();
    streams
        .on_stream_chunk_with("kept", "y", &template("s"))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(streams.flush_expired().await.unwrap(), 1);
    let m = streams.metrics();
    assert_eq!((m.filtered, m.expired, m.active_buffers), (1, 1, 0));
    assert_eq!(inner.recorder.contents(), ["y"]);
}

/// Writes every row; after [`hang_after_next_write`](Self::hang_after_next_write), the next
/// call writes its row and then never answers: a write that landed while its caller gave up.
struct LandThenHang {
    recorder: Arc<RecordingStore>,
    hang: AtomicBool,
}

impl LandThenHang {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            recorder: RecordingStore::new(),
            hang: AtomicBool::new(false),
        })
    }

    fn hang_after_next_write(&self) {
        self.hang.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl WriteOnlyStore for LandThenHang {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_bot_response(msg).await
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        let receipt = self.recorder.store_bot_response(msg).await?;
        if self.hang.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(receipt)
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.recorder.store_batch(msgs).await
    }
}

// ---- 10. a closed store answers Closed before it looks at the input -----------------------------

#[tokio::test]
async fn after_close_invalid_input_is_answered_closed() {
    let (inner, streams) = setup(cfg());
    streams.close().await.unwrap();
    let too_long = "k".repeat(300);
    let bad_template = template_with_metadata("s", ValidationLimits::DEFAULT_MAX_METADATA_BYTES);
    let errors = [
        streams.on_stream_chunk("", "x").await.unwrap_err(),
        streams.on_stream_chunk("k", "a\0b").await.unwrap_err(),
        streams
            .on_stream_chunk_with("k", "x", &bad_template)
            .await
            .unwrap_err(),
        streams.on_stream_abort(&too_long).await.unwrap_err(),
        streams
            .on_stream_complete(&too_long, &template("s"))
            .await
            .unwrap_err(),
        streams
            .on_stream_complete("k", &bad_template)
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        assert!(matches!(e, StorageError::Closed), "{e:?}");
    }
    assert_eq!(inner.calls(), 0);
}

// ---- 11. a completion template's deleted flag is not stored -------------------------------------

/// A stream's rows are always live: `deleted`, `deleted_at`, `updated_at` and `seq` of a
/// completion template are cleared, as they are for a captured template.
#[tokio::test]
async fn a_completion_template_marked_deleted_stores_a_live_answer() {
    let (inner, streams) = setup(cfg());
    let mut t = template("s");
    t.deleted = true;
    t.deleted_at = Some(chrono::Utc::now());
    t.seq = 42;
    streams.on_stream_chunk("k", "answer").await.unwrap();
    let buffered = streams.on_stream_complete("k", &t).await.unwrap();
    // With nothing buffered, the template (with content) is stored as the answer.
    let whole = streams
        .on_stream_complete("k", &t.clone().with_content("whole answer"))
        .await
        .unwrap();
    assert_eq!(buffered.outcome, StoreOutcome::Stored);
    assert_eq!(whole.outcome, StoreOutcome::Stored);
    let rows = inner.rows();
    assert_eq!(inner.recorder.contents(), ["answer", "whole answer"]);
    for row in &rows {
        assert!(!row.deleted, "the answer was stored as a deleted message");
        assert!(row.deleted_at.is_none());
    }
}

// ---- 12. stream_seq numbers the non-empty chunks ------------------------------------------------

#[tokio::test]
async fn all_chunks_stream_seq_skips_empty_chunks() {
    let (inner, streams) = setup(all_chunks());
    for c in ["a", "", "b", "", "", "c"] {
        streams.on_stream_chunk("k", c).await.unwrap();
    }
    streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    assert_eq!(
        chunk_rows_by_seq(&inner),
        [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]
    );
    assert_eq!(inner.recorder.with_status("complete")[0].content, "abc");
}

// ---- 13. a first chunk row that may have landed is not forgotten by a later failure -------------

/// `all_chunks`: the first chunk's row lands but its ack is lost; the retry fails permanently.
/// The stream (and its `stream_id`) must survive, or the next retry writes a second chunk row.
#[tokio::test]
async fn all_chunks_first_chunk_landed_then_a_permanent_failure_is_stored_once() {
    let (inner, streams) = setup(all_chunks());
    inner.fail_after_write_next(1);
    let err = streams.on_stream_chunk("k", "X").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    inner.set_permanent_failure(true);
    let err = streams.on_stream_chunk("k", "X").await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    inner.set_permanent_failure(false);
    streams.on_stream_chunk("k", "X").await.unwrap();
    streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    let chunk_rows = inner.recorder.with_status("chunk");
    assert_eq!(chunk_rows.len(), 1, "chunk X stored twice: {chunk_rows:?}");
    let complete = inner.recorder.with_status("complete");
    assert_eq!(complete[0].content, "X");
    assert_eq!(
        meta(&chunk_rows[0], keys::STREAM_ID),
        meta(&complete[0], keys::STREAM_ID)
    );
    let m = streams.metrics();
    assert_eq!(
        (m.chunk_rows, m.chunks_accepted, m.active_buffers),
        (1, 1, 0)
    );
}

// ---- 14. a chunk whose call was cancelled is not appended behind the caller's back --------------

/// `all_chunks`: the caller's future is dropped (a timeout) while its chunk row is being
/// written. The chunk was not accepted, so it must not join the stream; the caller's retry
/// gets the same row id and the chunk is stored once.
#[tokio::test(start_paused = true)]
async fn all_chunks_a_cancelled_chunk_retried_is_stored_once() {
    let (inner, streams) = setup(all_chunks());
    streams.on_stream_chunk("k", "a").await.unwrap();
    inner.block();
    let timed_out =
        tokio::time::timeout(Duration::from_millis(50), streams.on_stream_chunk("k", "b")).await;
    assert!(timed_out.is_err(), "the call should still be waiting");
    inner.release();
    // Let an abandoned write settle, if one still runs.
    while streams.metrics().in_flight_writes > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The caller retries the chunk it never got an answer for.
    streams.on_stream_chunk("k", "b").await.unwrap();
    streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    let complete = inner.recorder.with_status("complete");
    assert_eq!(
        complete[0].content, "ab",
        "merged message duplicated a chunk"
    );
    assert_eq!(
        chunk_rows_by_seq(&inner),
        [("a".into(), 1), ("b".into(), 2)]
    );
    let m = streams.metrics();
    assert_eq!(
        (m.chunks_accepted, m.chunk_rows, m.in_flight_writes),
        (2, 2, 0)
    );
}

/// The cancelled chunk row had landed (the store wrote it, then the caller gave up waiting):
/// the retry is answered `AlreadyStored` and the chunk joins the stream once.
#[tokio::test(start_paused = true)]
async fn all_chunks_a_cancelled_chunk_that_landed_is_stored_once() {
    let inner = LandThenHang::new();
    let streams = StreamMessageStore::new(inner.clone(), all_chunks()).unwrap();
    streams.on_stream_chunk("k", "a").await.unwrap();
    inner.hang_after_next_write();
    let timed_out =
        tokio::time::timeout(Duration::from_millis(50), streams.on_stream_chunk("k", "b")).await;
    assert!(timed_out.is_err(), "the call should still be waiting");
    assert_eq!(inner.recorder.len(), 2, "the chunk row landed");
    assert_eq!(streams.metrics().in_flight_writes, 0);
    streams.on_stream_chunk("k", "b").await.unwrap();
    streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    assert_eq!(inner.recorder.with_status("complete")[0].content, "ab");
    assert_eq!(inner.recorder.with_status("chunk").len(), 2);
}

/// A chunk row written in the caller's task still counts as a write in flight: `close()` waits
/// for it, and then stores the chunk it accepted.
#[tokio::test(start_paused = true)]
async fn all_chunks_close_waits_for_a_chunk_row_in_flight() {
    let (inner, streams) = setup(all_chunks());
    let streams = Arc::new(streams);
    inner.block();
    let chunk = {
        let streams = Arc::clone(&streams);
        tokio::spawn(async move { streams.on_stream_chunk("k", "a").await })
    };
    inner.wait_entered(1).await;
    assert_eq!(streams.metrics().in_flight_writes, 1);
    let close = {
        let streams = Arc::clone(&streams);
        tokio::spawn(async move { streams.close().await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!close.is_finished(), "close() must wait for the chunk row");
    inner.release();
    chunk.await.unwrap().unwrap();
    close.await.unwrap().unwrap();
    assert_eq!(inner.recorder.contents(), ["a", "a"]);
    assert_eq!(status(&inner.rows()[1]), "interrupted");
}

// ---- 15. a completion under a caller's id after the stream's own write may have landed ----------

/// The stream's own completion lands but its acknowledgement is lost; the caller completes
/// again with a template carrying its own (new) id. The content may already be stored under
/// the stream's id: the completion is written under that id (`AlreadyStored`), not the
/// caller's, so it is stored once.
#[tokio::test]
async fn a_completion_under_a_caller_id_after_a_lost_ack_stores_the_content_once() {
    let (inner, streams) = setup(cfg());
    streams.on_stream_chunk("k", "hello").await.unwrap();
    inner.fail_after_write_next(1);
    let err = streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let receipt = streams
        .on_stream_complete("k", &template("s").with_id("caller-1"))
        .await
        .unwrap();
    assert_eq!(inner.recorder.contents(), ["hello"], "content stored twice");
    assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
    assert_eq!(receipt.id, inner.rows()[0].id);
    assert_ne!(receipt.id, "caller-1");
    let m = streams.metrics();
    assert_eq!((m.completed, m.active_buffers, m.buffered_bytes), (1, 0, 0));
}

/// The same after an expiry flush whose acknowledgement was lost: the landed row keeps the
/// metadata it landed with (`interrupted`, `expired`).
#[tokio::test(start_paused = true)]
async fn a_completion_under_a_caller_id_after_a_lost_expiry_ack_stores_the_content_once() {
    let (inner, streams) = expiry_flush_with_a_lost_ack("hello").await;
    let receipt = streams
        .on_stream_complete("k", &template("s").with_id("caller-1"))
        .await
        .unwrap();
    assert_eq!(inner.recorder.contents(), ["hello"], "content stored twice");
    assert_eq!(
        (receipt.id.as_str(), receipt.outcome),
        (inner.rows()[0].id.as_str(), StoreOutcome::AlreadyStored)
    );
    assert_eq!(status(&inner.rows()[0]), "interrupted");
}

/// When the earlier write did not land, the completion is stored under the stream's id as a
/// regular `complete` row with the caller's session fields.
#[tokio::test]
async fn a_completion_under_a_caller_id_after_a_failed_write_uses_the_pending_id() {
    let (inner, streams) = setup(cfg());
    streams.on_stream_chunk("k", "hello").await.unwrap();
    inner.fail_next(1);
    assert!(
        streams
            .on_stream_complete("k", &template("s"))
            .await
            .unwrap_err()
            .is_transient()
    );
    let receipt = streams
        .on_stream_complete("k", &template("sess").with_id("caller-1"))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_ne!(receipt.id, "caller-1");
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].id.as_str(),
            rows[0].chat_session_id.as_str(),
            status(&rows[0])
        ),
        (receipt.id.as_str(), "sess", "complete")
    );
}

// ---- 16. an overflow row retried after a lost acknowledgement ----------------------------------

/// `direct_store`: the overflow row of a chunk lands but its acknowledgement is lost; the caller
/// sends the chunk again. The retry reuses the row's id: one row.
#[tokio::test]
async fn an_overflow_row_retried_after_a_lost_ack_is_stored_once() {
    let (inner, streams) = one_buffer_taken().await;
    inner.fail_after_write_next(1);
    let err = streams
        .on_stream_chunk("b", "overflowing chunk")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    streams
        .on_stream_chunk("b", "overflowing chunk")
        .await
        .unwrap();
    assert_eq!(inner.rows().len(), 1, "overflow chunk stored twice");
    assert_eq!(meta(&inner.rows()[0], keys::STREAM_REASON), "overflow");
    // Settled: the same chunk sent again later is a new chunk, with a row of its own.
    streams
        .on_stream_chunk("b", "overflowing chunk")
        .await
        .unwrap();
    assert_eq!(
        inner.recorder.contents(),
        ["overflowing chunk", "overflowing chunk"]
    );
    let m = streams.metrics();
    assert_eq!((m.overflowed, m.chunks_accepted), (2, 3));
}

/// The retry comes after a permanent failure and after a buffer was freed: it still rewrites
/// the overflow row under its id rather than buffering the chunk (a second copy).
#[tokio::test]
async fn an_overflow_row_that_may_have_landed_is_rewritten_even_when_a_buffer_is_free() {
    let config = StreamConfig {
        max_buffers: 1,
        ..cfg()
    };
    let (inner, streams) = setup(config);
    streams.on_stream_chunk("a", "first").await.unwrap();
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_chunk("b", "spill")
            .await
            .unwrap_err()
            .is_transient()
    );
    inner.set_permanent_failure(true);
    assert!(
        !streams
            .on_stream_chunk("b", "spill")
            .await
            .unwrap_err()
            .is_transient()
    );
    inner.set_permanent_failure(false);
    streams
        .on_stream_complete("a", &template("s"))
        .await
        .unwrap();
    streams.on_stream_chunk("b", "spill").await.unwrap();
    assert_eq!(streams.metrics().active_buffers, 0);
    assert_eq!(inner.recorder.contents(), ["spill", "first"]);
    // A different chunk for the key then starts a buffer as usual.
    streams.on_stream_chunk("b", "next").await.unwrap();
    streams.close().await.unwrap();
    assert_eq!(inner.recorder.contents(), ["spill", "first", "next"]);
}

/// An overflow write whose call was cancelled may have landed too: its retry reuses the id.
#[tokio::test(start_paused = true)]
async fn a_cancelled_overflow_write_that_landed_is_stored_once() {
    let config = StreamConfig {
        max_buffers: 1,
        ..cfg()
    };
    let inner = LandThenHang::new();
    let streams = StreamMessageStore::new(inner.clone(), config).unwrap();
    streams.on_stream_chunk("a", "first").await.unwrap();
    inner.hang_after_next_write();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(50),
        streams.on_stream_chunk("b", "spill"),
    )
    .await;
    assert!(timed_out.is_err(), "the call should still be waiting");
    assert_eq!(
        inner.recorder.contents(),
        ["spill"],
        "the overflow row landed"
    );
    streams.on_stream_chunk("b", "spill").await.unwrap();
    assert_eq!(
        inner.recorder.contents(),
        ["spill"],
        "overflow chunk stored twice"
    );
    assert_eq!(streams.metrics().in_flight_writes, 0);
}

// ---- overflow records: what counts as the retry of an overflow row -----------------------------

/// The same text sent under the same key with other session fields is a new answer, not the
/// retry of an overflow row that may have landed: it gets its own row.
#[tokio::test]
async fn an_equal_chunk_with_another_template_is_a_new_overflow_row_not_a_retry() {
    let (inner, streams) = one_buffer_taken().await;
    let answer_1 = template("session-1").with_thread("T-answer-1");
    let answer_2 = template("session-1").with_thread("T-answer-2");
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_chunk_with("session-1", "OK", &answer_1)
            .await
            .unwrap_err()
            .is_transient()
    );
    streams
        .on_stream_chunk_with("session-1", "OK", &answer_2)
        .await
        .unwrap();
    let mut threads: Vec<String> = inner
        .rows()
        .into_iter()
        .filter(|r| r.chat_session_id == "session-1" && r.content == "OK")
        .map(|r| r.chat_thread_id)
        .collect();
    threads.sort();
    assert_eq!(threads, ["T-answer-1", "T-answer-2"]);
}

/// An empty chunk between an overflow write that may have landed and its retry does not make
/// the retry a second row.
#[tokio::test]
async fn an_empty_chunk_keeps_the_overflow_record_for_the_retry() {
    let (inner, streams) = one_buffer_taken().await;
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_chunk("b", "x")
            .await
            .unwrap_err()
            .is_transient()
    );
    streams.on_stream_chunk("b", "").await.unwrap();
    streams.on_stream_chunk("b", "x").await.unwrap();
    assert_eq!(inner.rows().iter().filter(|r| r.content == "x").count(), 1);
}

// ---- 17. an empty chunk after a freed buffer does not split an overflow row from its retry ----

#[tokio::test]
async fn an_overflow_retry_after_a_freed_buffer_and_an_empty_chunk_is_stored_once() {
    for policy in [StoragePolicy::CompleteOnly, StoragePolicy::AllChunks] {
        let (inner, streams) = setup(StreamConfig {
            max_buffers: 1,
            overflow: OverflowPolicy::DirectStore,
            storage_policy: policy,
            ..cfg()
        });
        streams.on_stream_chunk("other", "taken").await.unwrap();
        inner.fail_after_write_next(1);
        let err = streams.on_stream_chunk("b", "x").await.unwrap_err();
        assert!(err.may_have_landed(), "{policy}: {err:?}");
        streams
            .on_stream_complete("other", &template("s"))
            .await
            .unwrap();
        assert_eq!(
            streams.metrics().active_buffers,
            0,
            "{policy}: a buffer is free"
        );
        streams.on_stream_chunk("b", "").await.unwrap();
        streams.on_stream_chunk("b", "x").await.unwrap();
        streams.close().await.unwrap();
        let copies = inner.rows().iter().filter(|r| r.content == "x").count();
        assert_eq!(copies, 1, "{policy}: chunk x stored {copies} times");
        let m = streams.metrics();
        assert_eq!(
            (m.overflowed, m.active_buffers, m.buffered_bytes),
            (1, 0, 0),
            "{policy}"
        );
    }
}

// ---- 18. a completion that landed, then failed permanently, through a RetryStore -------------

/// How the stream of test 18 ends after its failed completion.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Complete,
    Abort,
    Expiry,
    Close,
}

#[tokio::test(start_paused = true)]
async fn a_completion_that_landed_then_failed_permanently_is_stored_once_however_it_ends() {
    for ending in [
        Ending::Complete,
        Ending::Abort,
        Ending::Expiry,
        Ending::Close,
    ] {
        let inner = FaultyStore::new();
        let retrying = RetryStore::new(inner.clone(), RetryConfig::default()).unwrap();
        let config = StreamConfig {
            timeout: Duration::from_secs(1),
            ..cfg()
        };
        let streams = StreamMessageStore::new(Arc::new(retrying), config).unwrap();
        let t = template("s");
        streams
            .on_stream_chunk_with("k", "hello ", &t)
            .await
            .unwrap();
        streams
            .on_stream_chunk_with("k", "world", &t)
            .await
            .unwrap();
        // Attempt 1 commits, its ack is lost; attempt 2 fails permanently.
        inner.fail_after_write_next(1);
        inner.then_fail_permanently();
        let err = streams.on_stream_complete("k", &t).await.unwrap_err();
        assert!(err.may_have_landed() && !err.is_transient(), "{err:?}");
        assert_eq!(
            inner.recorder.contents(),
            ["hello world"],
            "attempt 1 landed"
        );
        inner.set_permanent_failure(false);
        match ending {
            Ending::Complete => {
                let receipt = streams.on_stream_complete("k", &t).await.unwrap();
                assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
                assert_eq!(receipt.id, inner.rows()[0].id);
            }
            Ending::Abort => {
                let receipt = streams.on_stream_abort("k").await.unwrap().unwrap();
                assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
            }
            Ending::Expiry => {
                tokio::time::advance(Duration::from_secs(2)).await;
                assert_eq!(streams.flush_expired().await.unwrap(), 1);
            }
            Ending::Close => {}
        }
        streams.close().await.unwrap();
        assert_eq!(
            inner.recorder.contents(),
            ["hello world"],
            "{ending:?}: content stored twice"
        );
        let m = streams.metrics();
        assert_eq!((m.active_buffers, m.buffered_bytes), (0, 0), "{ending:?}");
    }
}

// ---- ids by construction: what a changed chunk or a pinned caller id does ----------------------

/// `all_chunks`: chunk row 2 (`b`) lands but its ack is lost; the caller then sends `c` instead.
/// A chunk row's id names its chunk, so `c` gets a row of its own rather than being answered by
/// `b`'s row; `b`, never accepted, is not in the merged row.
#[tokio::test]
async fn all_chunks_another_chunk_after_a_lost_ack_gets_its_own_row() {
    let (inner, streams) = setup(all_chunks());
    streams.on_stream_chunk("k", "a").await.unwrap();
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_chunk("k", "b")
            .await
            .unwrap_err()
            .may_have_landed()
    );
    streams.on_stream_chunk("k", "c").await.unwrap();
    streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    assert_eq!(inner.recorder.with_status("complete")[0].content, "ac");
    let rows = chunk_rows_by_seq(&inner);
    assert_eq!(rows, [("a".into(), 1), ("b".into(), 2), ("c".into(), 2)]);
}

/// A completion under the caller's (new) id lands, its ack is lost; a chunk follows before the
/// retry. The content is pinned to the caller's id: it is written again under it as part 1
/// (`AlreadyStored`), the chunk starts part 2, and nothing is stored twice — also when the
/// stream is then aborted rather than completed.
#[tokio::test]
async fn a_chunk_after_a_lost_ack_under_a_caller_id_stores_the_content_once() {
    for complete in [true, false] {
        let (inner, streams) = setup(cfg());
        let t = template("s").with_id("caller-1");
        streams
            .on_stream_chunk_with("k", "hello ", &t)
            .await
            .unwrap();
        inner.fail_after_write_next(1);
        assert!(
            streams
                .on_stream_complete("k", &t)
                .await
                .unwrap_err()
                .may_have_landed()
        );
        streams
            .on_stream_chunk_with("k", "world", &t)
            .await
            .unwrap();
        if complete {
            streams
                .on_stream_complete("k", &template("s"))
                .await
                .unwrap();
        } else {
            streams.on_stream_abort("k").await.unwrap();
        }
        assert_eq!(
            inner.recorder.contents(),
            ["hello ", "world"],
            "complete: {complete}"
        );
        assert_eq!(inner.rows()[0].id, "caller-1");
        assert_eq!(meta(&inner.rows()[1], keys::STREAM_PART), 2);
        assert_eq!(streams.metrics().active_buffers, 0);
    }
}

/// Found by the fuzz harness: the caller's id names part 1 (its completion landed unacknowledged,
/// a chunk followed); the completion of the rest under the same id then fails in doubt and is
/// retried. The rest must not be answered by part 1's `AlreadyStored`: it takes the stream's id.
#[tokio::test]
async fn a_completion_under_a_caller_id_that_names_a_part_stores_the_rest_once() {
    let (inner, streams) = setup(cfg());
    let t = template("s").with_id("caller-1");
    streams.on_stream_chunk_with("k", "one ", &t).await.unwrap();
    inner.fail_after_write_next(1);
    assert!(streams.on_stream_complete("k", &t).await.is_err());
    streams.on_stream_chunk_with("k", "two", &t).await.unwrap();
    inner.fail_after_write_next(1);
    assert!(
        streams
            .on_stream_complete("k", &t)
            .await
            .unwrap_err()
            .may_have_landed()
    );
    let receipt = streams.on_stream_complete("k", &t).await.unwrap();
    assert_eq!(
        inner.recorder.contents(),
        ["one ", "two"],
        "content lost or stored twice"
    );
    assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
    assert_eq!(receipt.id, inner.rows()[1].id);
    assert_ne!(receipt.id, "caller-1");
    assert_eq!(streams.metrics().active_buffers, 0);
}

// ---- 21. every call for a key keeps its stream alive ---------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_failed_completion_keeps_its_stream_from_expiring_before_the_retry() {
    let (inner, streams) = setup(StreamConfig {
        timeout: Duration::from_secs(10),
        ..cfg()
    });
    streams.on_stream_chunk("k", "answer").await.unwrap();
    tokio::time::advance(Duration::from_secs(8)).await;
    inner.fail_next(1);
    assert!(
        streams
            .on_stream_complete("k", &template("s"))
            .await
            .is_err()
    );
    tokio::time::advance(Duration::from_secs(8)).await;
    // 16 s after the chunk, 8 s after the completion call: not expired.
    assert_eq!(streams.flush_expired().await.unwrap(), 0);
    let receipt = streams
        .on_stream_complete("k", &template("s"))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(status(&inner.rows()[0]), "complete");
    assert_eq!(inner.recorder.contents(), ["answer"]);
}
