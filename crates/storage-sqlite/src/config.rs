//! [`SqliteConfig`] and [`Synchronous`]: what a [`SqliteStore`](crate::SqliteStore) opens and how.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hotplex_storage_core::{Result, StorageError, ValidationLimits};

/// The path that selects a private in-memory database.
pub const MEMORY_PATH: &str = ":memory:";

/// SQLite's `synchronous` setting: how hard a commit pushes data to the disk.
///
/// In WAL mode, `Full` syncs the WAL on every commit, so an acknowledged message survives a
/// power loss; `Normal` syncs only at checkpoints: still consistent after a crash, but the
/// last commits may be lost on power failure. Group commit makes `Full` cheap enough to be the
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Synchronous {
    /// `PRAGMA synchronous = NORMAL`.
    Normal,
    /// `PRAGMA synchronous = FULL` (the default).
    #[default]
    Full,
}

impl Synchronous {
    /// The pragma value: `NORMAL` or `FULL`.
    pub fn as_pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }

    /// The value `PRAGMA synchronous` reports for this setting (1 or 2).
    pub fn as_code(self) -> i64 {
        match self {
            Self::Normal => 1,
            Self::Full => 2,
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "normal",
            Self::Full => "full",
        })
    }
}

impl FromStr for Synchronous {
    type Err = StorageError;

    /// Parses `normal` or `full`, in any case.
    fn from_str(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            _ => Err(StorageError::invalid_config(
                "sqlite.synchronous",
                format!("{value:?} is not one of: normal, full"),
            )),
        }
    }
}

/// Configuration of a [`SqliteStore`](crate::SqliteStore).
///
/// Build it with [`SqliteConfig::new`] (a file) or [`SqliteConfig::in_memory`] and the
/// `with_*` setters; [`SqliteStore::new`](crate::SqliteStore::new) validates it. Every field
/// is described, with its default, in `docs/configuration.md`.
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_sqlite::{SqliteConfig, Synchronous};
/// let config = SqliteConfig::new("~/.hotplex/messages.db")
///     .with_max_size_mb(512)
///     .with_synchronous(Synchronous::Full)
///     .with_pool_size(4)
///     .with_busy_timeout(Duration::from_secs(5));
/// assert_eq!(config.max_size_bytes(), Some(512 * 1024 * 1024));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize, serde::Serialize),
    serde(deny_unknown_fields, default)
)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// Database file. `~` and `~/…` expand to `$HOME`; missing parent directories are
    /// created (mode 0700); a new file is created with mode 0600. `:memory:` selects a private
    /// in-memory database. Default `~/.hotplex/messages.db`.
    pub path: PathBuf,
    /// Size limit of the database in MiB (1 MiB = 1,048,576 bytes); `0` means unlimited.
    /// A write that would grow the database past it fails with `StorageFull`. Default `0`.
    pub max_size_mb: u64,
    /// Durability of a commit. Default [`Synchronous::Full`].
    #[cfg_attr(
        feature = "serde",
        serde(with = "hotplex_storage_core::config::serde_from_str")
    )]
    pub synchronous: Synchronous,
    /// Number of pooled reader connections (1 to 64). Default 4.
    pub pool_size: u32,
    /// How long a statement waits for a lock held by another connection before failing with
    /// a transient error; also how long a read waits for a free pooled connection.
    /// Default 5 s; at most `i32::MAX` milliseconds.
    #[cfg_attr(
        feature = "serde",
        serde(with = "hotplex_storage_core::config::serde_duration")
    )]
    pub busy_timeout: Duration,
    /// Message validation limits. Default [`ValidationLimits::default`]. Not a configuration key.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub limits: ValidationLimits,
    /// The directory `~` expands to; `None` (the default) reads the `HOME` environment
    /// variable when the store initializes. Not a configuration key.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub home_dir: Option<PathBuf>,
}

impl SqliteConfig {
    /// The default database file, before `~` expansion.
    pub const DEFAULT_PATH: &'static str = "~/.hotplex/messages.db";
    /// Default [`pool_size`](Self::pool_size).
    pub const DEFAULT_POOL_SIZE: u32 = 4;
    /// Largest accepted [`pool_size`](Self::pool_size).
    pub const MAX_POOL_SIZE: u32 = 64;
    /// Default [`busy_timeout`](Self::busy_timeout).
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
    /// Largest accepted [`max_size_mb`](Self::max_size_mb): 16 TiB, near SQLite's own limit.
    pub const MAX_SIZE_MB_LIMIT: u64 = 16 * 1024 * 1024;

    /// A configuration for the database file at `path`, with every other field at its
    /// default.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_size_mb: 0,
            synchronous: Synchronous::default(),
            pool_size: Self::DEFAULT_POOL_SIZE,
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
            limits: ValidationLimits::default(),
            home_dir: None,
        }
    }

    /// A configuration for a private in-memory database (`:memory:`): gone when the store is
    /// closed or dropped.
    pub fn in_memory() -> Self {
        Self::new(MEMORY_PATH)
    }

    /// Sets [`path`](Self::path).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets [`max_size_mb`](Self::max_size_mb) (`0` = unlimited).
    #[must_use]
    pub fn with_max_size_mb(mut self, max_size_mb: u64) -> Self {
        self.max_size_mb = max_size_mb;
        self
    }

    /// Sets [`synchronous`](Self::synchronous).
    #[must_use]
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
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

    /// Sets [`limits`](Self::limits).
    #[must_use]
    pub fn with_limits(mut self, limits: ValidationLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`home_dir`](Self::home_dir): the directory `~` expands to, instead of `$HOME`.
    #[must_use]
    pub fn with_home_dir(mut self, home_dir: impl Into<PathBuf>) -> Self {
        self.home_dir = Some(home_dir.into());
        self
    }

    /// The absolute path of the database file: `~` expanded (with
    /// [`home_dir`](Self::home_dir) or `$HOME`) and made absolute against the current
    /// directory. `None` for `:memory:`.
    pub fn resolved_path(&self) -> Result<Option<PathBuf>> {
        if self.is_in_memory() {
            return Ok(None);
        }
        let home = self.home_dir.clone().or_else(crate::path::home_dir);
        crate::path::resolve(&self.path, home.as_deref()).map(Some)
    }

    /// True when [`path`](Self::path) is `:memory:`.
    pub fn is_in_memory(&self) -> bool {
        self.path == Path::new(MEMORY_PATH)
    }

    /// The size limit in bytes, or `None` when unlimited.
    pub fn max_size_bytes(&self) -> Option<u64> {
        (self.max_size_mb > 0).then(|| self.max_size_mb.saturating_mul(1024 * 1024))
    }

    /// Checks every field without touching the file system; errors name the key
    /// (`sqlite.pool_size`, …).
    pub fn validate(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(StorageError::invalid_config("sqlite.path", "is empty"));
        }
        if self.pool_size == 0 || self.pool_size > Self::MAX_POOL_SIZE {
            return Err(StorageError::invalid_config(
                "sqlite.pool_size",
                format!(
                    "is {}, must be between 1 and {}",
                    self.pool_size,
                    Self::MAX_POOL_SIZE
                ),
            ));
        }
        if self.max_size_mb > Self::MAX_SIZE_MB_LIMIT {
            return Err(StorageError::invalid_config(
                "sqlite.max_size_mb",
                format!(
                    "is {}, must be at most {} (0 = unlimited)",
                    self.max_size_mb,
                    Self::MAX_SIZE_MB_LIMIT
                ),
            ));
        }
        if busy_timeout_millis(self.busy_timeout).is_none() {
            return Err(StorageError::invalid_config(
                "sqlite.busy_timeout",
                format!(
                    "is {:?}, must be at most {} ms",
                    self.busy_timeout,
                    i32::MAX
                ),
            ));
        }
        if self.limits.max_content_bytes == 0 {
            return Err(StorageError::invalid_config(
                "sqlite.limits.max_content_bytes",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl Default for SqliteConfig {
    /// `~/.hotplex/messages.db` with every other field at its default.
    fn default() -> Self {
        Self::new(Self::DEFAULT_PATH)
    }
}

/// `busy_timeout` in whole milliseconds, if it fits SQLite's `int`.
pub(crate) fn busy_timeout_millis(timeout: Duration) -> Option<i32> {
    i32::try_from(timeout.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(result: Result<()>) -> String {
        match result {
            Err(StorageError::InvalidConfig { key, .. }) => key,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = SqliteConfig::default();
        assert_eq!(c.path, Path::new("~/.hotplex/messages.db"));
        assert_eq!(c.max_size_mb, 0);
        assert_eq!(c.max_size_bytes(), None);
        assert_eq!(c.synchronous, Synchronous::Full);
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.busy_timeout, Duration::from_secs(5));
        assert!(c.validate().is_ok());
        assert!(SqliteConfig::in_memory().is_in_memory());
        assert!(!c.is_in_memory());
    }

    #[test]
    fn validation_names_the_key() {
        let c = SqliteConfig::in_memory();
        assert_eq!(
            key_of(c.clone().with_pool_size(0).validate()),
            "sqlite.pool_size"
        );
        assert_eq!(
            key_of(c.clone().with_pool_size(65).validate()),
            "sqlite.pool_size"
        );
        assert_eq!(key_of(c.clone().with_path("").validate()), "sqlite.path");
        assert_eq!(
            key_of(c.clone().with_max_size_mb(u64::MAX).validate()),
            "sqlite.max_size_mb"
        );
        assert_eq!(
            key_of(
                c.clone()
                    .with_busy_timeout(Duration::from_secs(u64::MAX))
                    .validate()
            ),
            "sqlite.busy_timeout"
        );
        let limits = ValidationLimits {
            max_content_bytes: 0,
            ..ValidationLimits::default()
        };
        assert_eq!(
            key_of(c.with_limits(limits).validate()),
            "sqlite.limits.max_content_bytes"
        );
    }

    #[test]
    fn synchronous_parses_and_prints() {
        assert_eq!("FULL".parse::<Synchronous>().unwrap(), Synchronous::Full);
        assert_eq!(
            "normal".parse::<Synchronous>().unwrap(),
            Synchronous::Normal
        );
        assert!("off".parse::<Synchronous>().unwrap_err().is_config_error());
        assert_eq!(Synchronous::Normal.to_string(), "normal");
        assert_eq!(Synchronous::Full.as_pragma(), "FULL");
    }
}
