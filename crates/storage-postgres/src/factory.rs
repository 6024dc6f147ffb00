//! [`factory`]: the PostgreSQL backend as the registry builds it from the `postgres:` section
//! (feature `serde`), registered as `postgres` and `postgresql` (the Go registry's name).

use std::sync::Arc;
use std::time::Duration;

use hotplex_storage_core::config::{BackendConfig, ConfigFactory};
use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};

use crate::config::{DEFAULT_MAX_CONNECTIONS, DEFAULT_SCHEMA};
use crate::{PostgresConfig, PostgresStore};

/// The `postgres:` section: a DSN and the store's own settings, turned into a
/// [`PostgresConfig`] by [`to_config`](Self::to_config).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PostgresSection {
    /// Connection string (URL or key=value). Required when the backend is in use.
    pub dsn: Option<String>,
    /// Pool size. Default 10.
    pub max_connections: u32,
    /// How long connecting, and waiting for a pooled connection, may take. Default: the DSN's
    /// `connect_timeout`, else 5 s.
    #[serde(with = "hotplex_storage_core::config::serde_opt_duration")]
    pub connect_timeout: Option<Duration>,
    /// 1 = one table, 2 = monthly partitions. Default 1.
    pub level: u8,
    /// Schema of the tables. Default `public`.
    pub schema: String,
}

impl Default for PostgresSection {
    fn default() -> Self {
        Self {
            dsn: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: None,
            level: 1,
            schema: DEFAULT_SCHEMA.to_owned(),
        }
    }
}

impl PostgresSection {
    /// The store configuration: the DSN, then the section's settings over it.
    pub fn to_config(&self) -> Result<PostgresConfig> {
        let dsn = self.dsn.as_deref().ok_or_else(|| {
            StorageError::invalid_config(
                "postgres.dsn",
                "is required for type postgres (or set HOTPLEX_MESSAGE_STORE_POSTGRES_DSN)",
            )
        })?;
        Ok(self.apply(PostgresConfig::from_dsn(dsn)?))
    }

    fn apply(&self, config: PostgresConfig) -> PostgresConfig {
        let config = config
            .with_max_connections(self.max_connections)
            .with_level(self.level)
            .with_schema(&self.schema);
        match self.connect_timeout {
            Some(timeout) => config.with_connect_timeout(timeout),
            None => config,
        }
    }
}

impl BackendConfig for PostgresSection {
    /// In the section's order: the DSN's syntax, the section's own settings (so a bad
    /// `level` is named as such), then what the DSN must name (a user).
    fn validate(&self) -> Result<()> {
        let config = self.to_config()?;
        self.validate_unused()?;
        config.validate()
    }

    /// The settings that need no server: a section kept for later (or a placeholder DSN) need
    /// not name a reachable role.
    fn validate_unused(&self) -> Result<()> {
        self.apply(
            PostgresConfig::new()
                .with_host("unused")
                .with_user("unused"),
        )
        .validate()
    }
}

/// The factory of `type: postgres` (alias `postgresql`).
pub fn factory() -> ConfigFactory<PostgresSection> {
    ConfigFactory::new("postgres", create).with_aliases(&["postgresql"])
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the factory's constructor type hands every section over by value"
)]
fn create(section: PostgresSection) -> Result<Arc<dyn ChatAppMessageStore>> {
    Ok(Arc::new(PostgresStore::new(section.to_config()?)?))
}
