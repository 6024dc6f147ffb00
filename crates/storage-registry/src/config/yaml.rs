//! The YAML form of the configuration: serde DTOs with `deny_unknown_fields`. This is the
//! only module that knows `serde_yaml`; swapping it (for `serde_norway`, say) is one line here.

use serde::Deserialize;

use hotplex_storage_core::{Result, StorageError};

use super::keys::{ConfigValue, Key};
use super::{ROOT, StorageConfig};

/// A configuration file: `message_store:` and the application's own sections (ignored).
#[derive(Deserialize)]
struct Document {
    message_store: Option<StoreDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreDto {
    enabled: Option<bool>,
    #[serde(rename = "type")]
    store_type: Option<String>,
    sqlite: Option<SqliteDto>,
    postgres: Option<PostgresDto>,
    strategy: Option<String>,
    streaming: Option<StreamingDto>,
    retry: Option<RetryDto>,
    retention: Option<RetentionDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteDto {
    path: Option<String>,
    max_size_mb: Option<u64>,
    synchronous: Option<String>,
    pool_size: Option<u64>,
    busy_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresDto {
    dsn: Option<String>,
    max_connections: Option<u64>,
    level: Option<u64>,
    schema: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamingDto {
    enabled: Option<bool>,
    timeout: Option<String>,
    max_buffers: Option<u64>,
    max_buffer_bytes: Option<u64>,
    max_total_bytes: Option<u64>,
    storage_policy: Option<String>,
    overflow: Option<String>,
    flush_interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryDto {
    max_attempts: Option<u64>,
    initial_delay: Option<String>,
    max_delay: Option<String>,
    multiplier: Option<f64>,
    jitter: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionDto {
    max_age: Option<String>,
    deleted_grace: Option<String>,
    interval: Option<String>,
}

/// Parses `text` and applies every key it sets to `cfg` (through [`Key::apply`]).
pub(super) fn apply(cfg: &mut StorageConfig, text: &str) -> Result<()> {
    // First as plain YAML, to tell a missing block from an empty one; then typed, from the
    // text, so that serde_yaml reports the path of a bad key.
    let plain: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml_error(&e))?;
    let has_block = plain.as_mapping().is_some_and(|m| m.contains_key(ROOT));
    if !has_block {
        return Err(StorageError::invalid_config(
            ROOT,
            "missing: the file has no `message_store:` mapping",
        ));
    }
    let document: Document = serde_yaml::from_str(text).map_err(|e| yaml_error(&e))?;
    let Some(dto) = document.message_store else {
        return Ok(());
    };
    let mut set: Vec<(Key, ConfigValue)> = Vec::new();
    let text = |v: Option<String>| v.map(ConfigValue::Text);
    let int = |v: Option<u64>| v.map(ConfigValue::Int);
    let mut push = |key: Key, value: Option<ConfigValue>| {
        if let Some(value) = value {
            set.push((key, value));
        }
    };
    push(Key::Enabled, dto.enabled.map(ConfigValue::Bool));
    push(Key::Type, text(dto.store_type));
    push(Key::Strategy, text(dto.strategy));
    if let Some(s) = dto.sqlite {
        push(Key::SqlitePath, text(s.path));
        push(Key::SqliteMaxSizeMb, int(s.max_size_mb));
        push(Key::SqliteSynchronous, text(s.synchronous));
        push(Key::SqlitePoolSize, int(s.pool_size));
        push(Key::SqliteBusyTimeout, text(s.busy_timeout));
    }
    if let Some(p) = dto.postgres {
        push(Key::PostgresDsn, text(p.dsn));
        push(Key::PostgresMaxConnections, int(p.max_connections));
        push(Key::PostgresLevel, int(p.level));
        push(Key::PostgresSchema, text(p.schema));
    }
    if let Some(s) = dto.streaming {
        push(Key::StreamingEnabled, s.enabled.map(ConfigValue::Bool));
        push(Key::StreamingTimeout, text(s.timeout));
        push(Key::StreamingMaxBuffers, int(s.max_buffers));
        push(Key::StreamingMaxBufferBytes, int(s.max_buffer_bytes));
        push(Key::StreamingMaxTotalBytes, int(s.max_total_bytes));
        push(Key::StreamingStoragePolicy, text(s.storage_policy));
        push(Key::StreamingOverflow, text(s.overflow));
        push(Key::StreamingFlushInterval, text(s.flush_interval));
    }
    if let Some(r) = dto.retry {
        push(Key::RetryMaxAttempts, int(r.max_attempts));
        push(Key::RetryInitialDelay, text(r.initial_delay));
        push(Key::RetryMaxDelay, text(r.max_delay));
        push(Key::RetryMultiplier, r.multiplier.map(ConfigValue::Float));
        push(Key::RetryJitter, r.jitter.map(ConfigValue::Bool));
    }
    if let Some(r) = dto.retention {
        push(Key::RetentionMaxAge, text(r.max_age));
        push(Key::RetentionDeletedGrace, text(r.deleted_grace));
        push(Key::RetentionInterval, text(r.interval));
    }
    for (key, value) in set {
        key.apply(cfg, value)?;
    }
    Ok(())
}

/// `InvalidConfig` for a `serde_yaml` error: the key is the path `serde_yaml` reports, plus the
/// offending field of an "unknown field" error.
fn yaml_error(error: &serde_yaml::Error) -> StorageError {
    let message = error.to_string();
    // serde_yaml writes "path.to.map: message" when it knows the path.
    let (path, reason) = match message.split_once(": ") {
        Some((path, reason)) if is_path(path) => (Some(path), reason.to_owned()),
        _ => (None, message.clone()),
    };
    let unknown = reason
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let mut key: Vec<&str> = Vec::new();
    key.extend(path);
    key.extend(unknown);
    let key = if key.is_empty() {
        ROOT.to_owned()
    } else {
        key.join(".")
    };
    let reason = if unknown.is_some() {
        format!("unknown key ({reason})")
    } else {
        reason
    };
    StorageError::invalid_config(key, reason)
}

/// Whether `s` looks like the path `serde_yaml` puts before its message (`sqlite.path`,
/// `retry`, `a[0]`), rather than the start of a sentence.
fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}
