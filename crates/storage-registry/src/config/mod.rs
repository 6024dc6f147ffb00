//! [`StorageConfig`]: the `message_store:` block, from defaults, YAML and the environment.
//!
//! Precedence: environment beats YAML beats defaults. Every key, its `HOTPLEX_MESSAGE_STORE_*`
//! variable and its default are listed in [`keys`] and in `docs/configuration.md`. The serde
//! DTOs (and `serde_yaml`) live in the private `yaml` module only.

pub(crate) mod keys;
mod sections;
mod yaml;

use std::path::{Path, PathBuf};

use hotplex_storage_core::{Result, StorageError, strategy_by_name};
use hotplex_storage_stream::{RetryConfig, StreamConfig};

use crate::expand::expand_path;
use keys::Key;
pub use sections::{PostgresOptions, RetentionOptions, SqliteOptions, StreamingOptions};

/// The root of every key path in errors (`message_store.sqlite.max_size_mb`).
pub const ROOT: &str = "message_store";

/// Prefixes a config error's key with [`ROOT`] so that it names the YAML path.
pub(crate) fn rooted(error: StorageError) -> StorageError {
    match error {
        StorageError::InvalidConfig { key, reason } if !key.starts_with(ROOT) => {
            StorageError::invalid_config(format!("{ROOT}.{key}"), reason)
        }
        other => other,
    }
}

/// The storage configuration: the Go plugin's `message_store:` block plus `retention:`.
///
/// ```
/// use hotplex_storage_registry::StorageConfig;
/// let yaml = "message_store:\n  type: memory\n  retry:\n    max_attempts: 5\n";
/// let env = |k: &str| (k == "HOTPLEX_MESSAGE_STORE_RETRY_MAX_ATTEMPTS").then(|| "7".to_owned());
/// let cfg = StorageConfig::from_yaml_str(yaml)?.with_env(env)?;
/// assert_eq!(cfg.store_type, "memory");
/// assert_eq!(cfg.retry.max_attempts, 7); // env beats YAML
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StorageConfig {
    /// False disables message storage: [`open`](crate::open) then fails with
    /// `InvalidConfig` naming `message_store.enabled`. Default true.
    pub enabled: bool,
    /// Backend name (`memory`, `sqlite`, `postgres`/`postgresql`). Default `sqlite`.
    pub store_type: String,
    /// The `sqlite:` section.
    pub sqlite: SqliteOptions,
    /// The `postgres:` section.
    pub postgres: PostgresOptions,
    /// Storage strategy: `default`, `verbose` or `minimal`. Default `default`.
    pub strategy: String,
    /// The `streaming:` section.
    pub streaming: StreamingOptions,
    /// The `retry:` section.
    pub retry: RetryConfig,
    /// The `retention:` section.
    pub retention: RetentionOptions,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            store_type: "sqlite".to_owned(),
            sqlite: SqliteOptions::default(),
            postgres: PostgresOptions::default(),
            strategy: "default".to_owned(),
            streaming: StreamingOptions::default(),
            retry: RetryConfig::default(),
            retention: RetentionOptions::default(),
        }
    }
}

impl StorageConfig {
    /// The defaults: SQLite at `~/.hotplex/messages.db`, strategy `default`, retries on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a YAML document whose top level has a `message_store:` mapping (other top-level
    /// keys belong to the application and are ignored), over the defaults, and validates it.
    /// Unknown keys, wrong types and impossible values are `InvalidConfig` naming the key
    /// path.
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        let mut cfg = Self::default();
        yaml::apply(&mut cfg, text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`from_yaml_str`](Self::from_yaml_str) of a file.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| StorageError::io(format!("read config file {}", path.display()), e))?;
        Self::from_yaml_str(&text).map_err(|e| match e {
            StorageError::InvalidConfig { key, reason } => {
                StorageError::invalid_config(key, format!("{reason} (in {})", path.display()))
            }
            other => other,
        })
    }

    /// Applies every `HOTPLEX_MESSAGE_STORE_*` variable that `lookup` defines (they beat
    /// YAML), then expands `~` and `${VAR}` in `sqlite.path` with the same lookup, and
    /// validates. Pass `|k| std::env::var(k).ok()` for the process environment.
    pub fn with_env<F>(mut self, lookup: F) -> Result<Self>
    where
        F: Fn(&str) -> Option<String>,
    {
        for key in Key::ALL {
            if let Some(value) = lookup(&key.env_name()) {
                key.apply(&mut self, keys::ConfigValue::Text(value))
                    .map_err(|e| env_error(*key, e))?;
            }
        }
        self.expand_paths(&lookup)?;
        self.validate().map_err(|e| match e {
            // A rule across keys failed: name the variable if one set the key.
            StorageError::InvalidConfig { key, reason } => {
                let var = Key::ALL
                    .iter()
                    .find(|k| k.path() == key)
                    .map(|k| k.env_name())
                    .filter(|name| lookup(name).is_some());
                match var {
                    Some(var) => {
                        StorageError::invalid_config(key, format!("{reason} (from {var})"))
                    }
                    None => StorageError::invalid_config(key, reason),
                }
            }
            other => other,
        })?;
        Ok(self)
    }

    /// Expands `~` and `${VAR}` in `sqlite.path` with `lookup` (`HOME` for `~`). A path that
    /// cannot be expanded (no `HOME`, an undefined variable) is an error when `type` is
    /// `sqlite` and is left as written otherwise (the section is not used).
    pub fn expand_paths(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        let key = Key::SqlitePath.path();
        match expand_path(&key, &self.sqlite.path, lookup) {
            Ok(expanded) => self.sqlite.path = expanded.to_string_lossy().into_owned(),
            Err(e) if self.store_type == "sqlite" => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "sqlite.path left unexpanded: type is not sqlite");
            }
        }
        if self.sqlite.home_dir.is_none() {
            self.sqlite.home_dir = lookup("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        }
        Ok(())
    }

    /// Sets [`store_type`](Self::store_type) (trimmed, lower-cased).
    #[must_use]
    pub fn with_type(mut self, store_type: impl Into<String>) -> Self {
        self.store_type = store_type.into().trim().to_ascii_lowercase();
        self
    }

    /// Sets `sqlite.path` (expanded by [`with_env`](Self::with_env) or
    /// [`expand_paths`](Self::expand_paths)).
    #[must_use]
    pub fn with_sqlite_path(mut self, path: impl Into<String>) -> Self {
        self.sqlite.path = path.into();
        self
    }

    /// Sets `postgres.dsn`.
    #[must_use]
    pub fn with_postgres_dsn(mut self, dsn: impl Into<String>) -> Self {
        self.postgres.dsn = Some(dsn.into());
        self
    }

    /// Sets `postgres.level`.
    #[must_use]
    pub fn with_postgres_level(mut self, level: u8) -> Self {
        self.postgres.level = level;
        self
    }

    /// Sets [`enabled`](Self::enabled).
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets [`strategy`](Self::strategy).
    #[must_use]
    pub fn with_strategy(mut self, strategy: impl Into<String>) -> Self {
        self.strategy = strategy.into();
        self
    }

    /// Sets the `sqlite:` section.
    #[must_use]
    pub fn with_sqlite(mut self, sqlite: SqliteOptions) -> Self {
        self.sqlite = sqlite;
        self
    }

    /// Sets the `postgres:` section.
    #[must_use]
    pub fn with_postgres(mut self, postgres: PostgresOptions) -> Self {
        self.postgres = postgres;
        self
    }

    /// Sets the `streaming:` section.
    #[must_use]
    pub fn with_streaming(mut self, streaming: StreamingOptions) -> Self {
        self.streaming = streaming;
        self
    }

    /// Sets the `retry:` section.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the retention section.
    #[must_use]
    pub fn with_retention(mut self, retention: RetentionOptions) -> Self {
        self.retention = retention;
        self
    }

    /// The stream buffer settings, or `None` when `streaming.enabled` is false.
    pub fn stream_config(&self) -> Option<StreamConfig> {
        self.streaming
            .enabled
            .then(|| self.streaming.config.clone())
    }

    /// Checks every section; errors name the key path (`message_store.retry.max_attempts`).
    /// The section of each compiled-in backend is checked with that backend's own
    /// `validate()`; the backend type itself is checked by the registry at open.
    pub fn validate(&self) -> Result<()> {
        self.validate_sections().map_err(rooted)
    }

    fn validate_sections(&self) -> Result<()> {
        if self.store_type.trim().is_empty() {
            return Err(StorageError::invalid_config("type", "must not be empty"));
        }
        strategy_by_name(&self.strategy)
            .map_err(|e| StorageError::invalid_config("strategy", e.to_string()))?;
        self.streaming.config.validate()?;
        self.retry.validate()?;
        self.retention.validate()?;
        if !(1..=2).contains(&self.postgres.level) {
            return Err(StorageError::invalid_config(
                "postgres.level",
                format!(
                    "{} is not 1 (one table) or 2 (monthly partitions)",
                    self.postgres.level
                ),
            ));
        }
        if self.postgres.max_connections == 0 {
            return Err(StorageError::invalid_config(
                "postgres.max_connections",
                "must be at least 1",
            ));
        }
        crate::factories::validate_sections(self)
    }
}

/// An error of a value read from the environment, naming the variable and the key.
fn env_error(key: Key, error: StorageError) -> StorageError {
    match rooted(error) {
        StorageError::InvalidConfig { key: path, reason } => {
            StorageError::invalid_config(path, format!("{reason} (from {})", key.env_name()))
        }
        other => other,
    }
}
