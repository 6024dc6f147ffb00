//! Every configuration key: its path under `message_store:`, its environment variable, and
//! the one function that applies a value to a [`StorageConfig`]. YAML and the environment
//! both go through [`Key::apply`], so a value means the same from either source.

use std::str::FromStr;

use hotplex_storage_core::{Result, StorageError};
use hotplex_storage_stream::{OverflowPolicy, StoragePolicy};

use super::StorageConfig;
use crate::duration::parse_duration;

/// The prefix of every environment variable: `HOTPLEX_MESSAGE_STORE_` + the key path in
/// upper case with `.` as `_`.
pub const ENV_PREFIX: &str = "HOTPLEX_MESSAGE_STORE_";

/// A value for [`Key::apply`]: typed (from YAML) or text (from the environment).
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// Text: parsed according to the key (from the environment, or a YAML string).
    Text(String),
    /// A YAML boolean.
    Bool(bool),
    /// A YAML non-negative integer.
    Int(u64),
    /// A YAML number with a fraction.
    Float(f64),
}

macro_rules! keys {
    ($($variant:ident => $path:literal,)*) => {
        /// One configuration key.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Key {
            $(
                #[doc = concat!("`", $path, "`")]
                $variant,
            )*
        }

        impl Key {
            /// Every key, in documentation order.
            pub const ALL: &[Key] = &[$(Key::$variant),*];

            /// The key's path below `message_store` (`sqlite.max_size_mb`).
            pub fn relative_path(self) -> &'static str {
                match self {
                    $(Key::$variant => $path,)*
                }
            }
        }
    };
}

keys! {
    Enabled => "enabled",
    Type => "type",
    SqlitePath => "sqlite.path",
    SqliteMaxSizeMb => "sqlite.max_size_mb",
    SqliteSynchronous => "sqlite.synchronous",
    SqlitePoolSize => "sqlite.pool_size",
    SqliteBusyTimeout => "sqlite.busy_timeout",
    PostgresDsn => "postgres.dsn",
    PostgresMaxConnections => "postgres.max_connections",
    PostgresLevel => "postgres.level",
    PostgresSchema => "postgres.schema",
    Strategy => "strategy",
    StreamingEnabled => "streaming.enabled",
    StreamingTimeout => "streaming.timeout",
    StreamingMaxBuffers => "streaming.max_buffers",
    StreamingMaxBufferBytes => "streaming.max_buffer_bytes",
    StreamingMaxTotalBytes => "streaming.max_total_bytes",
    StreamingStoragePolicy => "streaming.storage_policy",
    StreamingOverflow => "streaming.overflow",
    StreamingFlushInterval => "streaming.flush_interval",
    RetryMaxAttempts => "retry.max_attempts",
    RetryInitialDelay => "retry.initial_delay",
    RetryMaxDelay => "retry.max_delay",
    RetryMultiplier => "retry.multiplier",
    RetryJitter => "retry.jitter",
    RetentionMaxAge => "retention.max_age",
    RetentionDeletedGrace => "retention.deleted_grace",
    RetentionInterval => "retention.interval",
}

impl Key {
    /// The full key path (`message_store.sqlite.max_size_mb`), as errors name it.
    pub fn path(self) -> String {
        format!("{}.{}", super::ROOT, self.relative_path())
    }

    /// The environment variable (`HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB`).
    pub fn env_name(self) -> String {
        format!(
            "{ENV_PREFIX}{}",
            self.relative_path().replace('.', "_").to_ascii_uppercase()
        )
    }

    /// The key whose path below `message_store` is `path`.
    pub fn from_relative_path(path: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.relative_path() == path)
    }

    /// Sets this key of `cfg` to `value`. A value of the wrong type or out of range is
    /// `InvalidConfig` naming the key path; cross-field rules are checked by
    /// [`StorageConfig::validate`].
    pub fn apply(self, cfg: &mut StorageConfig, value: ConfigValue) -> Result<()> {
        let key = self.path();
        match self {
            Self::Enabled => cfg.enabled = boolean(&key, value)?,
            Self::Type => cfg.store_type = text(&key, value)?.trim().to_ascii_lowercase(),
            Self::SqlitePath => cfg.sqlite.path = non_empty(&key, value)?,
            Self::SqliteMaxSizeMb => cfg.sqlite.max_size_mb = integer(&key, value)?,
            Self::SqliteSynchronous => {
                cfg.sqlite.synchronous = text(&key, value)?.to_ascii_lowercase();
            }
            Self::SqlitePoolSize => cfg.sqlite.pool_size = integer(&key, value)?,
            Self::SqliteBusyTimeout => cfg.sqlite.busy_timeout = duration(&key, value)?,
            Self::PostgresDsn => cfg.postgres.dsn = Some(non_empty(&key, value)?),
            Self::PostgresMaxConnections => cfg.postgres.max_connections = integer(&key, value)?,
            Self::PostgresLevel => cfg.postgres.level = integer(&key, value)?,
            Self::PostgresSchema => cfg.postgres.schema = Some(non_empty(&key, value)?),
            Self::Strategy => cfg.strategy = text(&key, value)?.trim().to_ascii_lowercase(),
            Self::StreamingEnabled => cfg.streaming.enabled = boolean(&key, value)?,
            Self::StreamingTimeout => cfg.streaming.config.timeout = duration(&key, value)?,
            Self::StreamingMaxBuffers => cfg.streaming.config.max_buffers = integer(&key, value)?,
            Self::StreamingMaxBufferBytes => {
                cfg.streaming.config.max_buffer_bytes = integer(&key, value)?;
            }
            Self::StreamingMaxTotalBytes => {
                cfg.streaming.config.max_total_bytes = integer(&key, value)?;
            }
            Self::StreamingStoragePolicy => {
                cfg.streaming.config.storage_policy =
                    StoragePolicy::from_str(&text(&key, value)?).map_err(|e| rekey(&key, e))?;
            }
            Self::StreamingOverflow => {
                cfg.streaming.config.overflow =
                    OverflowPolicy::from_str(&text(&key, value)?).map_err(|e| rekey(&key, e))?;
            }
            Self::StreamingFlushInterval => {
                cfg.streaming.config.flush_interval = duration(&key, value)?;
            }
            Self::RetryMaxAttempts => cfg.retry.max_attempts = integer(&key, value)?,
            Self::RetryInitialDelay => cfg.retry.initial_delay = duration(&key, value)?,
            Self::RetryMaxDelay => cfg.retry.max_delay = duration(&key, value)?,
            Self::RetryMultiplier => cfg.retry.multiplier = float(&key, value)?,
            Self::RetryJitter => cfg.retry.jitter = boolean(&key, value)?,
            Self::RetentionMaxAge => cfg.retention.policy.max_age = Some(duration(&key, value)?),
            Self::RetentionDeletedGrace => {
                cfg.retention.policy.deleted_grace = Some(duration(&key, value)?);
            }
            Self::RetentionInterval => cfg.retention.interval = Some(duration(&key, value)?),
        }
        Ok(())
    }
}

/// `error` with its key replaced by `key` (parsers of other crates name their own keys).
fn rekey(key: &str, error: StorageError) -> StorageError {
    match error {
        StorageError::InvalidConfig { reason, .. } => StorageError::invalid_config(key, reason),
        other => other,
    }
}

fn wrong_type(key: &str, expected: &str, value: &ConfigValue) -> StorageError {
    let got = match value {
        ConfigValue::Text(t) => format!("{t:?}"),
        ConfigValue::Bool(b) => b.to_string(),
        ConfigValue::Int(n) => n.to_string(),
        ConfigValue::Float(f) => f.to_string(),
    };
    StorageError::invalid_config(key, format!("expected {expected}, got {got}"))
}

fn text(key: &str, value: ConfigValue) -> Result<String> {
    match value {
        ConfigValue::Text(t) => Ok(t),
        other => Err(wrong_type(key, "a string", &other)),
    }
}

fn non_empty(key: &str, value: ConfigValue) -> Result<String> {
    let t = text(key, value)?;
    if t.trim().is_empty() {
        return Err(StorageError::invalid_config(key, "must not be empty"));
    }
    Ok(t)
}

fn boolean(key: &str, value: ConfigValue) -> Result<bool> {
    match value {
        ConfigValue::Bool(b) => Ok(b),
        ConfigValue::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(wrong_type(key, "true or false", &ConfigValue::Text(t))),
        },
        other => Err(wrong_type(key, "true or false", &other)),
    }
}

fn integer<T: TryFrom<u64>>(key: &str, value: ConfigValue) -> Result<T> {
    let n = match value {
        ConfigValue::Int(n) => n,
        ConfigValue::Text(ref t) => t
            .trim()
            .parse::<u64>()
            .map_err(|_| wrong_type(key, "a non-negative integer", &value))?,
        other => return Err(wrong_type(key, "a non-negative integer", &other)),
    };
    T::try_from(n).map_err(|_| {
        StorageError::invalid_config(key, format!("{n} is too large for this setting"))
    })
}

fn float(key: &str, value: ConfigValue) -> Result<f64> {
    #[allow(clippy::cast_precision_loss)] // small integers like `2` written for `2.0`
    match value {
        ConfigValue::Float(f) => Ok(f),
        ConfigValue::Int(n) => Ok(n as f64),
        ConfigValue::Text(ref t) => t
            .trim()
            .parse::<f64>()
            .map_err(|_| wrong_type(key, "a number", &value)),
        other @ ConfigValue::Bool(_) => Err(wrong_type(key, "a number", &other)),
    }
}

fn duration(key: &str, value: ConfigValue) -> Result<std::time::Duration> {
    match value {
        ConfigValue::Text(t) => parse_duration(key, &t),
        other => Err(wrong_type(key, "a duration such as 5m", &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_and_paths() {
        assert_eq!(
            Key::SqliteMaxSizeMb.env_name(),
            "HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB"
        );
        assert_eq!(Key::Type.env_name(), "HOTPLEX_MESSAGE_STORE_TYPE");
        assert_eq!(
            Key::SqlitePath.env_name(),
            "HOTPLEX_MESSAGE_STORE_SQLITE_PATH"
        );
        assert_eq!(
            Key::PostgresDsn.env_name(),
            "HOTPLEX_MESSAGE_STORE_POSTGRES_DSN"
        );
        assert_eq!(
            Key::RetentionMaxAge.path(),
            "message_store.retention.max_age"
        );
        for key in Key::ALL {
            assert_eq!(Key::from_relative_path(key.relative_path()), Some(*key));
        }
        let names: std::collections::HashSet<String> =
            Key::ALL.iter().map(|k| k.env_name()).collect();
        assert_eq!(names.len(), Key::ALL.len(), "variables are unique");
    }

    #[test]
    fn values_are_typed() {
        let mut cfg = StorageConfig::default();
        Key::SqlitePoolSize
            .apply(&mut cfg, ConfigValue::Int(8))
            .unwrap();
        assert_eq!(cfg.sqlite.pool_size, 8);
        Key::SqlitePoolSize
            .apply(&mut cfg, ConfigValue::Text(" 9 ".into()))
            .unwrap();
        assert_eq!(cfg.sqlite.pool_size, 9);
        let err = Key::SqlitePoolSize
            .apply(&mut cfg, ConfigValue::Int(u64::from(u32::MAX) + 1))
            .unwrap_err();
        assert!(
            err.to_string().contains("message_store.sqlite.pool_size"),
            "{err}"
        );
        Key::SqlitePoolSize
            .apply(&mut cfg, ConfigValue::Int(u64::from(u32::MAX)))
            .unwrap();
        let err = Key::PostgresLevel
            .apply(&mut cfg, ConfigValue::Int(256))
            .unwrap_err();
        assert!(err.is_config_error());
        let err = Key::Enabled
            .apply(&mut cfg, ConfigValue::Text("maybe".into()))
            .unwrap_err();
        assert!(err.to_string().contains("message_store.enabled"), "{err}");
        Key::Enabled
            .apply(&mut cfg, ConfigValue::Text("off".into()))
            .unwrap();
        assert!(!cfg.enabled);
        let err = Key::RetryMultiplier
            .apply(&mut cfg, ConfigValue::Bool(true))
            .unwrap_err();
        assert!(err.to_string().contains("expected a number"), "{err}");
        Key::RetryMultiplier
            .apply(&mut cfg, ConfigValue::Int(3))
            .unwrap();
        assert!((cfg.retry.multiplier - 3.0).abs() < f64::EPSILON);
        let err = Key::StreamingTimeout
            .apply(&mut cfg, ConfigValue::Int(300))
            .unwrap_err();
        assert!(
            err.to_string().contains("message_store.streaming.timeout"),
            "{err}"
        );
        let err = Key::StreamingStoragePolicy
            .apply(&mut cfg, ConfigValue::Text("some".into()))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("message_store.streaming.storage_policy"),
            "{err}"
        );
        let err = Key::SqlitePath
            .apply(&mut cfg, ConfigValue::Text("  ".into()))
            .unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
    }
}
