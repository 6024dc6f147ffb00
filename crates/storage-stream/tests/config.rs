//! `StreamConfig`, `StoragePolicy` and `OverflowPolicy`: defaults, validation at every edge,
//! parsing and printing.

use std::time::Duration;

use hotplex_storage_core::{StorageError, ValidationLimits};
use hotplex_storage_stream::{OverflowPolicy, StoragePolicy, StreamConfig};

fn key_of(cfg: &StreamConfig) -> String {
    match cfg.validate() {
        Err(StorageError::InvalidConfig { key, .. }) => key,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn defaults_are_valid_and_documented() {
    let cfg = StreamConfig::default();
    cfg.validate().unwrap();
    assert_eq!(cfg.timeout, Duration::from_mins(5));
    assert_eq!(cfg.max_buffers, 1000);
    assert_eq!(cfg.max_buffer_bytes, 1 << 20);
    assert_eq!(cfg.max_total_bytes, 256 << 20);
    assert_eq!(cfg.storage_policy, StoragePolicy::CompleteOnly);
    assert_eq!(cfg.overflow, OverflowPolicy::DirectStore);
    assert_eq!(cfg.flush_interval, Duration::from_secs(30));
    assert_eq!(cfg.limits, ValidationLimits::default());
}

#[test]
fn every_bad_value_names_its_key() {
    let base = StreamConfig::default();
    let zero_timeout = StreamConfig {
        timeout: Duration::ZERO,
        ..base.clone()
    };
    assert_eq!(key_of(&zero_timeout), "streaming.timeout");
    let zero_buffers = StreamConfig {
        max_buffers: 0,
        ..base.clone()
    };
    assert_eq!(key_of(&zero_buffers), "streaming.max_buffers");
    let zero_bytes = StreamConfig {
        max_buffer_bytes: 0,
        ..base.clone()
    };
    assert_eq!(key_of(&zero_bytes), "streaming.max_buffer_bytes");
    let huge_bytes = StreamConfig {
        max_buffer_bytes: StreamConfig::MAX_BUFFER_BYTES_LIMIT + 1,
        ..base.clone()
    };
    assert_eq!(key_of(&huge_bytes), "streaming.max_buffer_bytes");
    let small_total = StreamConfig {
        max_buffer_bytes: 100,
        max_total_bytes: 99,
        ..base.clone()
    };
    assert_eq!(key_of(&small_total), "streaming.max_total_bytes");
    let zero_interval = StreamConfig {
        flush_interval: Duration::ZERO,
        ..base.clone()
    };
    assert_eq!(key_of(&zero_interval), "streaming.flush_interval");
    let one_ms = Duration::from_millis(1);
    let long_timeout = StreamConfig {
        timeout: StreamConfig::MAX_TIMEOUT + one_ms,
        ..base.clone()
    };
    assert_eq!(key_of(&long_timeout), "streaming.timeout");
    let long_interval = StreamConfig {
        flush_interval: StreamConfig::MAX_FLUSH_INTERVAL + one_ms,
        ..base.clone()
    };
    assert_eq!(key_of(&long_interval), "streaming.flush_interval");
    let max_interval = StreamConfig {
        flush_interval: Duration::MAX,
        ..base.clone()
    };
    assert_eq!(key_of(&max_interval), "streaming.flush_interval");
    let over_content_limit = StreamConfig {
        max_buffer_bytes: 1001,
        limits: ValidationLimits {
            max_content_bytes: 1000,
            ..ValidationLimits::default()
        },
        ..base.clone()
    };
    assert_eq!(key_of(&over_content_limit), "streaming.max_buffer_bytes");
    for limits in [
        ValidationLimits {
            max_field_bytes: 255,
            ..ValidationLimits::default()
        },
        ValidationLimits {
            max_metadata_bytes: 1000,
            ..ValidationLimits::default()
        },
    ] {
        let small = StreamConfig {
            limits,
            ..base.clone()
        };
        assert_eq!(key_of(&small), "streaming.limits");
    }
}

#[test]
fn limits_at_their_edges_are_accepted() {
    let edge = StreamConfig {
        timeout: Duration::from_nanos(1),
        max_buffers: 1,
        max_buffer_bytes: StreamConfig::MAX_BUFFER_BYTES_LIMIT,
        max_total_bytes: StreamConfig::MAX_BUFFER_BYTES_LIMIT,
        flush_interval: Duration::from_nanos(1),
        ..StreamConfig::default()
    };
    edge.validate().unwrap();
    let longest = StreamConfig {
        timeout: StreamConfig::MAX_TIMEOUT,
        flush_interval: StreamConfig::MAX_FLUSH_INTERVAL,
        ..StreamConfig::default()
    };
    longest.validate().unwrap();
    assert_eq!(StreamConfig::MAX_TIMEOUT, Duration::from_hours(24));
    // The content limit bounds max_buffer_bytes, whatever it is.
    let larger = StreamConfig {
        max_buffer_bytes: 8 << 20,
        limits: ValidationLimits {
            max_content_bytes: 8 << 20,
            ..ValidationLimits::default()
        },
        ..StreamConfig::default()
    };
    larger.validate().unwrap();
    // The smallest field limit a 256-byte key (as chat_session_id) fits in.
    let tight = StreamConfig {
        limits: ValidationLimits {
            max_field_bytes: 256,
            ..ValidationLimits::default()
        },
        ..StreamConfig::default()
    };
    tight.validate().unwrap();
    let tiny = StreamConfig {
        max_buffer_bytes: 1,
        max_total_bytes: 1,
        ..StreamConfig::default()
    };
    tiny.validate().unwrap();
}

#[test]
fn policies_parse_and_print() {
    assert_eq!(
        "complete_only".parse::<StoragePolicy>().unwrap(),
        StoragePolicy::CompleteOnly
    );
    assert_eq!(
        "All-Chunks".parse::<StoragePolicy>().unwrap(),
        StoragePolicy::AllChunks
    );
    assert!("everything".parse::<StoragePolicy>().is_err());
    assert_eq!(
        "direct_store".parse::<OverflowPolicy>().unwrap(),
        OverflowPolicy::DirectStore
    );
    assert_eq!(
        "REJECT".parse::<OverflowPolicy>().unwrap(),
        OverflowPolicy::Reject
    );
    let err = "drop".parse::<OverflowPolicy>().unwrap_err();
    assert!(err.is_config_error());
    assert_eq!(StoragePolicy::AllChunks.to_string(), "all_chunks");
    assert_eq!(OverflowPolicy::DirectStore.to_string(), "direct_store");
    assert_eq!(
        serde_json::to_string(&StoragePolicy::CompleteOnly).unwrap(),
        "\"complete_only\""
    );
}
