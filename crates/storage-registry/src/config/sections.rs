//! The sections of [`StorageConfig`](super::StorageConfig): `sqlite:`, `postgres:`,
//! `streaming:` and `retention:`, each with its defaults and `new`/`with_*` builders.

use std::path::PathBuf;
use std::time::Duration;

use hotplex_storage_core::{Result, RetentionPolicy, StorageError};
use hotplex_storage_stream::StreamConfig;

/// The `sqlite:` section. Applied to `SqliteConfig` by the sqlite factory.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Database file as written (`~` and `${VAR}` expand in [`StorageConfig::with_env`](crate::StorageConfig::with_env)).
    /// Default `~/.hotplex/messages.db`.
    pub path: String,
    /// Size limit in MiB; 0 = unlimited. Default 0.
    pub max_size_mb: u64,
    /// `full` or `normal`. Default `full`.
    pub synchronous: String,
    /// Reader connections. Default 4.
    pub pool_size: u32,
    /// Lock wait. Default 5 s.
    pub busy_timeout: Duration,
    /// The directory `~` expands to, from `HOME` of the lookup given to `with_env`.
    pub home_dir: Option<PathBuf>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            path: "~/.hotplex/messages.db".to_owned(),
            max_size_mb: 0,
            synchronous: "full".to_owned(),
            pool_size: 4,
            busy_timeout: Duration::from_secs(5),
            home_dir: None,
        }
    }
}

impl SqliteOptions {
    /// The defaults with the database file at `path`.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    /// Sets [`max_size_mb`](Self::max_size_mb).
    #[must_use]
    pub fn with_max_size_mb(mut self, max_size_mb: u64) -> Self {
        self.max_size_mb = max_size_mb;
        self
    }

    /// Sets [`synchronous`](Self::synchronous) (`full` or `normal`).
    #[must_use]
    pub fn with_synchronous(mut self, synchronous: impl Into<String>) -> Self {
        self.synchronous = synchronous.into();
        self
    }

    /// Sets [`pool_size`](Self::pool_size).
    #[must_use]
    pub fn with_pool_size(mut self, pool_size: u32) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// Sets [`busy_timeout`](Self::busy_timeout).
    #[must_use]
    pub fn with_busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }
}

/// The `postgres:` section. Applied to `PostgresConfig` by the postgres factory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Connection string (URL or key=value). Required when `type` is postgres.
    pub dsn: Option<String>,
    /// Pool size. Default 10.
    pub max_connections: u32,
    /// 1 = one table, 2 = monthly partitions. Default 1.
    pub level: u8,
    /// Schema of the tables; `None` = the backend's default.
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            dsn: None,
            max_connections: 10,
            level: 1,
            schema: None,
        }
    }
}

impl PostgresOptions {
    /// The defaults with connection string `dsn`.
    pub fn new(dsn: impl Into<String>) -> Self {
        Self {
            dsn: Some(dsn.into()),
            ..Self::default()
        }
    }

    /// Sets [`max_connections`](Self::max_connections).
    #[must_use]
    pub fn with_max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Sets [`level`](Self::level).
    #[must_use]
    pub fn with_level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }

    /// Sets [`schema`](Self::schema).
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}

/// The `streaming:` section: whether the application buffers token streams, and how.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamingOptions {
    /// Whether streams are buffered (see [`StorageConfig::stream_config`](crate::StorageConfig::stream_config)). Default true.
    pub enabled: bool,
    /// The buffer settings.
    pub config: StreamConfig,
}

impl Default for StreamingOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            config: StreamConfig::default(),
        }
    }
}

impl StreamingOptions {
    /// Streaming enabled with `config`.
    pub fn new(config: StreamConfig) -> Self {
        Self {
            enabled: true,
            config,
        }
    }

    /// Sets [`enabled`](Self::enabled).
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// The `retention:` section: a [`RetentionPolicy`] and how often `open` applies it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionOptions {
    /// What to purge.
    pub policy: RetentionPolicy,
    /// How often the store opened by [`open`](crate::open) applies `policy` in the
    /// background; `None` (the default) never.
    pub interval: Option<Duration>,
}

impl RetentionOptions {
    /// Options applying `policy` only when asked (no background task).
    pub fn new(policy: RetentionPolicy) -> Self {
        Self {
            policy,
            interval: None,
        }
    }

    /// Sets [`interval`](Self::interval): `open` then applies the policy every `interval`.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The shortest accepted `interval`: 1 s.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
    /// The longest accepted `interval`: 30 days.
    pub const MAX_INTERVAL: Duration = Duration::from_hours(24 * 30);

    /// Checks the policy and the interval.
    pub fn validate(&self) -> Result<()> {
        self.policy.validate()?;
        if let Some(interval) = self.interval {
            if !(Self::MIN_INTERVAL..=Self::MAX_INTERVAL).contains(&interval) {
                return Err(StorageError::invalid_config(
                    "retention.interval",
                    format!("{interval:?} is not between 1s and 30d"),
                ));
            }
            if self.policy.is_empty() {
                return Err(StorageError::invalid_config(
                    "retention.interval",
                    "is set but neither max_age nor deleted_grace is: nothing would be purged",
                ));
            }
        }
        Ok(())
    }
}
