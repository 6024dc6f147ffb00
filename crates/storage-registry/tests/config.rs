//! `StorageConfig`: the Go README block, every parsing rule, precedence and errors.

use std::collections::HashMap;
use std::time::Duration;

use hotplex_storage_core::StorageError;
use hotplex_storage_registry::{ConfigValue, StorageConfig, env_name};
use hotplex_storage_stream::StoragePolicy;

/// The raw value at `path` (`sqlite.path`) of a backend section.
fn raw(cfg: &StorageConfig, path: &str) -> ConfigValue {
    let (section, key) = path.split_once('.').expect("section.key");
    cfg.section(section)
        .and_then(|s| s.at(key))
        .map_or_else(|| panic!("{path} is not set"), |n| n.value.clone())
}

fn text(value: &str) -> ConfigValue {
    ConfigValue::Text(value.to_owned())
}

/// The `message_store:` block of the Go plugin's README, exactly as published.
const GO_README_BLOCK: &str = "message_store:
  enabled: true
  type: sqlite          # sqlite | postgres | memory
  sqlite:
    path: ~/.hotplex/chatapp_messages.db
    max_size_mb: 512
  postgres:
    dsn: postgres://user:pass@localhost:5432/hotplex
    max_connections: 10
    level: 1
  strategy: default     # default | verbose | minimal
  streaming:
    enabled: true
    timeout: 5m
    max_buffers: 1000
    storage_policy: complete_only  # complete_only | all_chunks
  retry:
    max_attempts: 3
    initial_delay: 100ms
    max_delay: 2s
    multiplier: 2.0
";

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn config_error(result: Result<StorageConfig, StorageError>) -> (String, String) {
    match result {
        Err(StorageError::InvalidConfig { key, reason }) => (key, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[test]
fn the_go_readme_block_parses_as_written() {
    let cfg = StorageConfig::from_yaml_str(GO_README_BLOCK)
        .unwrap()
        .with_env(env(&[("HOME", "/home/ada")]))
        .unwrap();
    assert!(cfg.enabled);
    assert_eq!(cfg.store_type, "sqlite");
    assert_eq!(
        raw(&cfg, "sqlite.path"),
        text("/home/ada/.hotplex/chatapp_messages.db")
    );
    assert_eq!(raw(&cfg, "sqlite.max_size_mb"), ConfigValue::Int(512));
    assert_eq!(
        raw(&cfg, "postgres.dsn"),
        text("postgres://user:pass@localhost:5432/hotplex")
    );
    assert_eq!(raw(&cfg, "postgres.max_connections"), ConfigValue::Int(10));
    assert_eq!(raw(&cfg, "postgres.level"), ConfigValue::Int(1));
    assert_eq!(cfg.strategy, "default");
    assert!(cfg.streaming.enabled);
    assert_eq!(cfg.streaming.config.timeout, Duration::from_mins(5));
    assert_eq!(cfg.streaming.config.max_buffers, 1000);
    assert_eq!(
        cfg.streaming.config.storage_policy,
        StoragePolicy::CompleteOnly
    );
    assert_eq!(cfg.retry.max_attempts, 3);
    assert_eq!(cfg.retry.initial_delay, Duration::from_millis(100));
    assert_eq!(cfg.retry.max_delay, Duration::from_secs(2));
    assert!((cfg.retry.multiplier - 2.0).abs() < f64::EPSILON);
    assert!(cfg.stream_config().is_some());
}

#[test]
fn defaults_are_sqlite_in_the_home_directory() {
    let cfg = StorageConfig::new()
        .with_env(env(&[("HOME", "/home/ada")]))
        .unwrap();
    assert_eq!(cfg.store_type, "sqlite");
    // The default path of the sqlite section, with `~` expanded from the lookup's HOME.
    assert_eq!(
        raw(&cfg, "sqlite.path"),
        text("/home/ada/.hotplex/messages.db")
    );
    assert!(cfg.enabled);
    assert_eq!(cfg.retention.interval, None);
    let (key, reason) = config_error(StorageConfig::new().with_env(env(&[])));
    assert_eq!(key, "message_store.sqlite.path");
    assert!(reason.contains("HOME is not set"), "{reason}");
    // Not an error when the sqlite section is not used.
    let memory = StorageConfig::new()
        .with_type("memory")
        .with_env(env(&[]))
        .unwrap();
    assert_eq!(
        raw(&memory, "sqlite.path"),
        text("~/.hotplex/messages.db"),
        "left as written"
    );
    // The application's other sections are ignored; an empty block keeps the defaults.
    let cfg = StorageConfig::from_yaml_str("server:\n  port: 8080\nmessage_store:\n").unwrap();
    assert_eq!(cfg, StorageConfig::new());
}

#[test]
fn env_beats_yaml_beats_defaults() {
    let yaml = "message_store:\n  type: memory\n  retry:\n    max_attempts: 5\n    max_delay: 3s\n";
    let cfg = StorageConfig::from_yaml_str(yaml)
        .unwrap()
        .with_env(env(&[
            ("HOME", "/h"),
            ("HOTPLEX_MESSAGE_STORE_TYPE", "SQLite"),
            ("HOTPLEX_MESSAGE_STORE_RETRY_MAX_ATTEMPTS", "7"),
            ("HOTPLEX_MESSAGE_STORE_SQLITE_PATH", "${DATA}/m.db"),
            ("DATA", "/srv"),
            ("HOTPLEX_MESSAGE_STORE_STREAMING_ENABLED", "false"),
            ("HOTPLEX_MESSAGE_STORE_RETENTION_MAX_AGE", "90d"),
            ("HOTPLEX_MESSAGE_STORE_RETENTION_INTERVAL", "1h"),
        ]))
        .unwrap();
    assert_eq!(cfg.store_type, "sqlite", "env beats YAML, lower-cased");
    assert_eq!(cfg.retry.max_attempts, 7, "env beats YAML");
    assert_eq!(
        cfg.retry.max_delay,
        Duration::from_secs(3),
        "YAML beats the default"
    );
    assert_eq!(
        cfg.retry.initial_delay,
        Duration::from_millis(100),
        "default"
    );
    assert_eq!(raw(&cfg, "sqlite.path"), text("/srv/m.db"));
    assert!(cfg.stream_config().is_none());
    assert_eq!(
        cfg.retention.policy.max_age,
        Some(Duration::from_hours(2160))
    );
    assert_eq!(cfg.retention.interval, Some(Duration::from_hours(1)));
}

#[test]
fn every_key_has_a_variable_that_is_applied() {
    // One value per key that differs from its default and passes validation.
    let value = |key: &str| -> &str {
        match key {
            "enabled" | "streaming.enabled" | "retry.jitter" | "search.index" => "false",
            "type" => "memory",
            "sqlite.path" => "/tmp/x.db",
            "sqlite.synchronous" => "normal",
            "postgres.dsn" => "postgres://db/x",
            "postgres.schema" => "chat",
            "postgres.level" => "2",
            "strategy" => "verbose",
            "streaming.storage_policy" => "all_chunks",
            "streaming.overflow" => "reject",
            "streaming.max_buffer_bytes" => "2048",
            "streaming.max_total_bytes" => "2097152",
            "retry.multiplier" => "3.5",
            "retry.max_delay" => "3s",
            "retry.initial_delay" => "200ms",
            "retention.deleted_grace" => "7d",
            "retention.max_age" => "90d",
            "retention.interval" => "6h",
            "sqlite.busy_timeout"
            | "streaming.timeout"
            | "streaming.flush_interval"
            | "postgres.connect_timeout" => "7s",
            _ => "5",
        }
    };
    let keys = StorageConfig::new().keys();
    assert!(keys.contains(&"retry.max_attempts".to_owned()), "{keys:?}");
    for key in &keys {
        let mut pairs = vec![("HOME", "/h")];
        let name = env_name(key);
        pairs.push((name.as_str(), value(key)));
        if key == "retention.interval" {
            pairs.push(("HOTPLEX_MESSAGE_STORE_RETENTION_MAX_AGE", "1d"));
        }
        let cfg = StorageConfig::new()
            .with_env(env(&pairs))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_ne!(
            cfg,
            StorageConfig::new()
                .with_env(env(&[("HOME", "/h")]))
                .unwrap(),
            "{name} changed nothing"
        );
    }
}

#[test]
fn unknown_keys_name_their_path() {
    let (key, reason) = config_error(StorageConfig::from_yaml_str(
        "message_store:\n  sqlite:\n    path: /x.db\n    max_size: 5\n",
    ));
    assert_eq!(key, "message_store.sqlite.max_size");
    assert!(reason.contains("unknown"), "{reason}");
    let (key, _) = config_error(StorageConfig::from_yaml_str(
        "message_store:\n  tpye: memory\n",
    ));
    assert_eq!(key, "message_store.tpye");
    let (key, _) = config_error(StorageConfig::from_yaml_str(
        "message_store:\n  retention:\n    max_days: 3\n",
    ));
    assert_eq!(key, "message_store.retention.max_days");
}

#[test]
fn wrong_types_name_their_path() {
    let (key, reason) = config_error(StorageConfig::from_yaml_str(
        "message_store:\n  sqlite:\n    max_size_mb: big\n",
    ));
    assert_eq!(key, "message_store.sqlite.max_size_mb");
    assert!(reason.contains("invalid type"), "{reason}");
    let (key, _) = config_error(StorageConfig::from_yaml_str(
        "message_store:\n  streaming:\n    timeout: 300\n",
    ));
    assert_eq!(key, "message_store.streaming.timeout");
    let (key, _) = config_error(StorageConfig::from_yaml_str(
        "message_store:\n  retry: [1, 2]\n",
    ));
    assert_eq!(key, "message_store.retry");
    let (key, reason) = config_error(StorageConfig::new().with_env(env(&[
        ("HOME", "/h"),
        ("HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB", "-1"),
    ])));
    assert_eq!(key, "message_store.sqlite.max_size_mb");
    assert!(
        reason.contains("HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB"),
        "names the variable: {reason}"
    );
}

#[test]
fn bad_yaml_and_missing_block_are_config_errors() {
    let (key, reason) = config_error(StorageConfig::from_yaml_str("message_store: [unclosed\n"));
    assert_eq!(key, "message_store");
    assert!(!reason.is_empty());
    let (key, reason) = config_error(StorageConfig::from_yaml_str("other: 1\n"));
    assert_eq!(key, "message_store");
    assert!(reason.contains("missing"), "{reason}");
    let err = StorageConfig::from_yaml_file("/nonexistent/hotplex.yaml").unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
}

#[test]
fn impossible_values_at_their_edges() {
    let parse = |yaml: &str| StorageConfig::from_yaml_str(&format!("message_store:\n{yaml}"));
    // retry.max_attempts: 1..=100.
    assert!(parse("  retry:\n    max_attempts: 1\n").is_ok());
    assert!(parse("  retry:\n    max_attempts: 100\n").is_ok());
    for bad in ["0", "101"] {
        let (key, _) = config_error(parse(&format!("  retry:\n    max_attempts: {bad}\n")));
        assert_eq!(key, "message_store.retry.max_attempts", "{bad}");
    }
    // retry.initial_delay <= max_delay.
    assert!(parse("  retry:\n    initial_delay: 2s\n    max_delay: 2s\n").is_ok());
    let (key, _) = config_error(parse(
        "  retry:\n    initial_delay: 2001ms\n    max_delay: 2s\n",
    ));
    assert_eq!(key, "message_store.retry.initial_delay");
    // postgres.level: 1 or 2; max_connections >= 1 (checked by the backend, when compiled in).
    assert!(parse("  postgres:\n    level: 2\n").is_ok());
    if cfg!(feature = "postgres") {
        for bad in ["0", "3"] {
            let (key, _) = config_error(parse(&format!("  postgres:\n    level: {bad}\n")));
            assert_eq!(key, "message_store.postgres.level");
        }
        let (key, _) = config_error(parse("  postgres:\n    max_connections: 0\n"));
        assert_eq!(key, "message_store.postgres.max_connections");
    }
    // streaming.max_buffers >= 1; timeout > 0.
    assert!(parse("  streaming:\n    max_buffers: 1\n").is_ok());
    let (key, _) = config_error(parse("  streaming:\n    max_buffers: 0\n"));
    assert_eq!(key, "message_store.streaming.max_buffers");
    let (key, _) = config_error(parse("  streaming:\n    timeout: 0s\n"));
    assert_eq!(key, "message_store.streaming.timeout");
    // sqlite: the backend's own limits (pool 1..=64, max_size_mb <= 16 TiB).
    assert!(parse("  sqlite:\n    pool_size: 64\n").is_ok());
    let (key, _) = config_error(parse("  sqlite:\n    pool_size: 65\n"));
    assert_eq!(key, "message_store.sqlite.pool_size");
    assert!(parse("  sqlite:\n    max_size_mb: 16777216\n").is_ok());
    let (key, _) = config_error(parse("  sqlite:\n    max_size_mb: 16777217\n"));
    assert_eq!(key, "message_store.sqlite.max_size_mb");
    let (key, _) = config_error(parse("  sqlite:\n    synchronous: sometimes\n"));
    assert_eq!(key, "message_store.sqlite.synchronous");
    // strategy and type.
    let (key, reason) = config_error(parse("  strategy: debug\n"));
    assert_eq!(key, "message_store.strategy");
    assert!(reason.contains("default, minimal, verbose"), "{reason}");
    let (key, _) = config_error(parse("  type: ''\n"));
    assert_eq!(key, "message_store.type");
    // retention: max_age > 0, interval 1s..=30d and only with a limit.
    assert!(parse("  retention:\n    max_age: 1s\n    interval: 1s\n").is_ok());
    assert!(parse("  retention:\n    deleted_grace: 0s\n    interval: 30d\n").is_ok());
    let (key, _) = config_error(parse("  retention:\n    max_age: 0s\n"));
    assert_eq!(key, "message_store.retention.max_age");
    let (key, _) = config_error(parse(
        "  retention:\n    max_age: 1d\n    interval: 999ms\n",
    ));
    assert_eq!(key, "message_store.retention.interval");
    let (key, _) = config_error(parse("  retention:\n    max_age: 1d\n    interval: 31d\n"));
    assert_eq!(key, "message_store.retention.interval");
    let (key, reason) = config_error(parse("  retention:\n    interval: 1h\n"));
    assert_eq!(key, "message_store.retention.interval");
    assert!(reason.contains("nothing would be purged"), "{reason}");
}

#[test]
fn undefined_variables_in_paths_are_errors() {
    let cfg = StorageConfig::from_yaml_str("message_store:\n  sqlite:\n    path: ${NOPE}/m.db\n")
        .unwrap();
    let (key, reason) = config_error(cfg.with_env(env(&[("HOME", "/h")])));
    assert_eq!(key, "message_store.sqlite.path");
    assert!(reason.contains("NOPE is not defined"), "{reason}");
}

#[test]
fn docs_list_every_key_and_variable() {
    // The keys come from the sections' own definitions (the backends' config structs).
    let docs = include_str!("../../../docs/configuration.md");
    for key in StorageConfig::new().keys() {
        assert!(
            docs.contains(&format!("| `{key}` | `{}` |", env_name(&key))),
            "docs/configuration.md lacks the row of {key}"
        );
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn builders_set_what_yaml_sets() {
    use hotplex_storage_registry::StreamingOptions;
    use hotplex_storage_sqlite::{SqliteConfig, Synchronous};
    use hotplex_storage_stream::{RetryConfig, StreamConfig};
    let yaml = "message_store:
  type: sqlite
  sqlite:
    path: /srv/m.db
    max_size_mb: 64
    synchronous: normal
    pool_size: 2
    busy_timeout: 1s
  strategy: minimal
  streaming:
    enabled: false
  retry:
    max_attempts: 5
";
    let parsed = StorageConfig::from_yaml_str(yaml).unwrap();
    let built = StorageConfig::new()
        .with_type("SQLite")
        .with_backend_config(
            "sqlite",
            &SqliteConfig::new("/srv/m.db")
                .with_max_size_mb(64)
                .with_synchronous(Synchronous::Normal)
                .with_pool_size(2)
                .with_busy_timeout(Duration::from_secs(1)),
        )
        .unwrap()
        .with_strategy("minimal")
        .with_streaming(StreamingOptions::new(StreamConfig::default()).with_enabled(false))
        .with_retry(RetryConfig {
            max_attempts: 5,
            ..RetryConfig::default()
        });
    built.validate().unwrap();
    // The same settings, whichever way they were written.
    let sqlite = |cfg: &StorageConfig| cfg.backend_config::<SqliteConfig>("sqlite").unwrap();
    assert_eq!(sqlite(&parsed), sqlite(&built));
    assert_eq!(
        (
            &parsed.store_type,
            &parsed.strategy,
            &parsed.streaming,
            &parsed.retry
        ),
        (
            &built.store_type,
            &built.strategy,
            &built.streaming,
            &built.retry
        )
    );
}
