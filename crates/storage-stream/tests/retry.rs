//! `RetryStore`: transient-only retries, exact backoff, idempotent attempts, cancellation.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_core::{ChatAppMessage, StorageError, StoreOutcome, WriteOnlyStore};
use hotplex_storage_stream::{RetryConfig, RetryStore};
use support::{Capture, FaultyStore};
use tokio::time::Instant;

fn no_jitter() -> RetryConfig {
    RetryConfig {
        jitter: false,
        ..RetryConfig::default()
    }
}

/// Tokio's timer has millisecond granularity: each sleep may end up to 1 ms late.
#[track_caller]
fn assert_waited(elapsed: Duration, expected_ms: u64, sleeps: u64) {
    let expected = Duration::from_millis(expected_ms);
    assert!(
        elapsed >= expected && elapsed <= expected + Duration::from_millis(sleeps),
        "waited {elapsed:?}, expected {expected:?}"
    );
}

fn retrying(inner: &Arc<FaultyStore>, config: RetryConfig) -> RetryStore<Arc<FaultyStore>> {
    RetryStore::new(Arc::clone(inner), config).unwrap()
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_until_success() {
    let inner = FaultyStore::new();
    inner.fail_next(2);
    let store = retrying(&inner, no_jitter());
    let start = Instant::now();
    let receipt = store
        .store_user_message(&ChatAppMessage::user("s", "hello"))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, StoreOutcome::Stored);
    assert_eq!(inner.calls(), 3);
    assert_eq!(inner.rows().len(), 1);
    assert_waited(start.elapsed(), 300, 2);
}

#[tokio::test(start_paused = true)]
async fn no_sleep_after_the_last_attempt_and_exhaustion_carries_the_last_error() {
    let inner = FaultyStore::new();
    inner.fail_next(usize::MAX);
    let store = retrying(&inner, no_jitter());
    let start = Instant::now();
    let err = store
        .store_bot_response(&ChatAppMessage::bot("s", "x"))
        .await
        .unwrap_err();
    // 100 ms before attempt 2, 200 ms before attempt 3, and nothing after it (Go slept 400 more).
    assert_waited(start.elapsed(), 300, 2);
    assert_eq!(inner.calls(), 3);
    match err {
        StorageError::RetryExhausted { attempts, last } => {
            assert_eq!(attempts, 3);
            assert!(last.is_transient());
            assert!(last.to_string().contains("injected transient failure"));
        }
        other => panic!("expected RetryExhausted, got {other:?}"),
    }
    assert!(inner.rows().is_empty());
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_returned_at_once() {
    let inner = FaultyStore::new();
    inner.set_permanent_failure(true);
    let store = retrying(&inner, no_jitter());
    let start = Instant::now();
    let err = store
        .store_user_message(&ChatAppMessage::user("s", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Query { .. }), "{err:?}");
    assert_eq!(inner.calls(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Invalid input is permanent too: the inner store's validation error comes back unchanged.
    inner.set_permanent_failure(false);
    let err = store
        .store_user_message(&ChatAppMessage::user("", "x"))
        .await
        .unwrap_err();
    assert!(err.is_invalid_input());
    assert_eq!(inner.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_write_that_succeeded_but_reported_a_transient_error_yields_exactly_one_row() {
    let inner = FaultyStore::new();
    inner.fail_after_write_next(1);
    let store = retrying(&inner, no_jitter());
    let receipt = store
        .store_user_message(&ChatAppMessage::user("s", "only once"))
        .await
        .unwrap();
    assert_eq!(inner.calls(), 2);
    assert_eq!(receipt.outcome, StoreOutcome::AlreadyStored);
    assert!(receipt.is_persisted());
    let rows = inner.rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, receipt.id);
    assert_eq!(rows[0].content, "only once");
}

#[tokio::test(start_paused = true)]
async fn batches_keep_their_identity_across_attempts() {
    let inner = FaultyStore::new();
    inner.fail_after_write_next(1);
    let store = retrying(&inner, no_jitter());
    let msgs = [
        ChatAppMessage::user("s", "q"),
        ChatAppMessage::bot("s", "a").with_id("fixed-id"),
    ];
    let receipts = store.store_batch(&msgs).await.unwrap();
    assert_eq!(receipts.len(), 2);
    assert!(
        receipts
            .iter()
            .all(|r| r.outcome == StoreOutcome::AlreadyStored)
    );
    assert_eq!(receipts[1].id, "fixed-id");
    assert_eq!(inner.rows().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn identity_is_assigned_once_and_caller_values_are_kept() {
    let inner = FaultyStore::new();
    inner.fail_next(1);
    let store = retrying(&inner, no_jitter());
    let created = chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05.123456Z")
        .unwrap()
        .to_utc();
    let msg = ChatAppMessage::user("s", "x")
        .with_id("mine")
        .with_created_at(created);
    let receipt = store.store_user_message(&msg).await.unwrap();
    assert_eq!(receipt.id, "mine");
    assert_eq!(inner.rows()[0].created_at, Some(created));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_stops_further_attempts() {
    let inner = FaultyStore::new();
    inner.fail_next(usize::MAX);
    let store = retrying(&inner, no_jitter());
    let msg = ChatAppMessage::user("s", "x");
    // Attempt 1 at 0 ms, attempt 2 at 100 ms, then sleeping until 300 ms: dropped at 150 ms.
    let outcome =
        tokio::time::timeout(Duration::from_millis(150), store.store_user_message(&msg)).await;
    assert!(outcome.is_err(), "the call should have timed out");
    assert_eq!(inner.calls(), 2);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(inner.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn delays_grow_by_the_multiplier_and_stop_at_max_delay() {
    let inner = FaultyStore::new();
    inner.fail_next(usize::MAX);
    let config = RetryConfig {
        max_attempts: 5,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
        multiplier: 2.0,
        jitter: false,
    };
    let store = retrying(&inner, config);
    let start = Instant::now();
    let err = store
        .store_user_message(&ChatAppMessage::user("s", "x"))
        .await
        .unwrap_err();
    assert_waited(start.elapsed(), 100 + 200 + 300 + 300, 4);
    assert!(matches!(
        err,
        StorageError::RetryExhausted { attempts: 5, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_the_delay_and_max_delay() {
    let inner = FaultyStore::new();
    inner.fail_next(usize::MAX);
    let capped = RetryConfig {
        max_attempts: 4,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(100),
        multiplier: 2.0,
        jitter: true,
    };
    let store = retrying(&inner, capped);
    let start = Instant::now();
    store
        .store_user_message(&ChatAppMessage::user("s", "x"))
        .await
        .unwrap_err();
    assert_waited(start.elapsed(), 300, 3);

    let store = retrying(&inner, RetryConfig::default());
    let start = Instant::now();
    store
        .store_user_message(&ChatAppMessage::user("s", "x"))
        .await
        .unwrap_err();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited <= Duration::from_millis(602),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_single_attempt_config_never_sleeps() {
    let inner = FaultyStore::new();
    inner.fail_next(usize::MAX);
    let store = retrying(
        &inner,
        RetryConfig {
            max_attempts: 1,
            ..no_jitter()
        },
    );
    let start = Instant::now();
    let err = store
        .store_user_message(&ChatAppMessage::user("s", "x"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StorageError::RetryExhausted { attempts: 1, .. }
    ));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_retry_is_logged_with_fields() {
    let (capture, _guard) = Capture::install();
    let inner = FaultyStore::new();
    inner.fail_next(usize::MAX);
    let store = retrying(&inner, no_jitter());
    store
        .store_user_message(&ChatAppMessage::user("s", "x"))
        .await
        .unwrap_err();
    let retries = capture.matching("will retry");
    assert_eq!(retries.len(), 2);
    assert_eq!(retries[0].level, tracing::Level::WARN);
    assert_eq!(retries[0].fields["op"], "store_user_message");
    assert_eq!(retries[0].fields["attempt"], "1");
    assert_eq!(retries[1].fields["attempt"], "2");
    assert_eq!(retries[1].fields["next_delay_ms"], "200");
    assert!(retries[0].fields["error"].contains("injected"));
    let exhausted = capture.matching("retry exhausted");
    assert_eq!(exhausted.len(), 1);
    assert_eq!(exhausted[0].fields["attempts"], "3");
}

#[test]
fn invalid_config_is_rejected_by_new() {
    let Err(err) = RetryStore::new(
        FaultyStore::new(),
        RetryConfig {
            multiplier: 0.5,
            ..RetryConfig::default()
        },
    ) else {
        panic!("an invalid config was accepted");
    };
    assert!(err.is_config_error());
}

/// Answers each call with the next scripted outcome: `Ok` stores the row, `Lost` stores it and
/// reports an in-doubt lost acknowledgement, `Refused` (transient) and `Broken` (permanent)
/// store nothing.
struct Scripted {
    script: std::sync::Mutex<std::collections::VecDeque<Step>>,
    inner: Arc<FaultyStore>,
}

#[derive(Clone, Copy)]
enum Step {
    Lost,
    Refused,
    Broken,
}

#[async_trait::async_trait]
impl WriteOnlyStore for Scripted {
    async fn store_user_message(
        &self,
        msg: &ChatAppMessage,
    ) -> hotplex_storage_core::Result<hotplex_storage_core::StoreReceipt> {
        self.store_bot_response(msg).await
    }
    async fn store_bot_response(
        &self,
        msg: &ChatAppMessage,
    ) -> hotplex_storage_core::Result<hotplex_storage_core::StoreReceipt> {
        let step = self.script.lock().unwrap().pop_front();
        match step {
            None => self.inner.store_bot_response(msg).await,
            Some(Step::Lost) => {
                self.inner.store_bot_response(msg).await?;
                Err(StorageError::in_doubt(StorageError::connection("ack lost")))
            }
            Some(Step::Refused) => Err(StorageError::connection("refused")),
            Some(Step::Broken) => Err(StorageError::query("store", "broken")),
        }
    }
    async fn store_batch(
        &self,
        msgs: &[ChatAppMessage],
    ) -> hotplex_storage_core::Result<Vec<hotplex_storage_core::StoreReceipt>> {
        self.inner.store_batch(msgs).await
    }
}

fn scripted(steps: &[Step]) -> (Arc<FaultyStore>, RetryStore<Scripted>) {
    let inner = FaultyStore::new();
    let script = std::sync::Mutex::new(steps.iter().copied().collect());
    let store = Scripted {
        script,
        inner: Arc::clone(&inner),
    };
    (inner, RetryStore::new(store, no_jitter()).unwrap())
}

/// Attempt 1 lands but its acknowledgement is lost; attempt 2 fails permanently. The error
/// says the write may have landed (it did), so a caller can repeat it under the same id.
#[tokio::test(start_paused = true)]
async fn an_attempt_that_may_have_landed_keeps_a_later_permanent_error_in_doubt() {
    let (inner, store) = scripted(&[Step::Lost, Step::Broken]);
    let err = store
        .store_bot_response(&ChatAppMessage::bot("s", "x"))
        .await
        .unwrap_err();
    assert!(err.may_have_landed(), "{err:?}");
    assert!(!err.is_transient(), "permanent: not retried");
    assert!(
        matches!(&err, StorageError::InDoubt { cause } if cause.to_string().contains("broken"))
    );
    assert_eq!(inner.rows().len(), 1, "attempt 1 landed");
    // Without an in-doubt attempt, the same permanent error is returned unchanged.
    let (_, store) = scripted(&[Step::Refused, Step::Broken]);
    let err = store
        .store_bot_response(&ChatAppMessage::bot("s", "x"))
        .await
        .unwrap_err();
    assert!(
        !err.may_have_landed() && matches!(err, StorageError::Query { .. }),
        "{err:?}"
    );
}

/// Attempt 1 lands unacknowledged, attempts 2 and 3 are refused (nothing written):
/// `RetryExhausted`'s last error is in doubt.
#[tokio::test(start_paused = true)]
async fn exhaustion_after_an_attempt_that_may_have_landed_is_in_doubt() {
    let (_, store) = scripted(&[Step::Lost, Step::Refused, Step::Refused]);
    let err = store
        .store_bot_response(&ChatAppMessage::bot("s", "x"))
        .await
        .unwrap_err();
    assert!(err.may_have_landed(), "{err:?}");
    match err {
        StorageError::RetryExhausted { attempts, last } => {
            assert_eq!(attempts, 3);
            assert!(last.may_have_landed() && last.is_transient(), "{last:?}");
            assert!(last.to_string().contains("refused"), "{last}");
        }
        other => panic!("expected RetryExhausted, got {other:?}"),
    }
    let (_, store) = scripted(&[Step::Refused, Step::Refused, Step::Refused]);
    let err = store
        .store_bot_response(&ChatAppMessage::bot("s", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::RetryExhausted { .. }) && !err.may_have_landed());
}
