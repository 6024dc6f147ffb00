//! Regression tests for bugs found in review: each fails on the code before its fix.
//!
//! 4. `flush_interval: Duration::MAX` passed validation and panicked the flusher.

mod support;

use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_core::StorageError;
use hotplex_storage_stream::{StreamConfig, StreamMessageStore};
use support::FaultyStore;

const DAY: Duration = Duration::from_hours(24);

fn setup(config: StreamConfig) -> (Arc<FaultyStore>, StreamMessageStore) {
    let inner = FaultyStore::new();
    let streams = StreamMessageStore::new(inner.clone(), config).unwrap();
    (inner, streams)
}

#[track_caller]
fn config_key(result: hotplex_storage_core::Result<StreamMessageStore>) -> String {
    match result {
        Err(StorageError::InvalidConfig { key, .. }) => key,
        Err(other) => panic!("expected InvalidConfig, got {other:?}"),
        Ok(_) => panic!("the config was accepted"),
    }
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
