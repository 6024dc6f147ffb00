//! [`factory`]: the SQLite backend as the registry builds it from the `sqlite:` section
//! (feature `serde`). [`SqliteConfig`] is the one definition of the section's keys.

use std::sync::Arc;

use hotplex_storage_core::config::{BackendConfig, ConfigFactory};
use hotplex_storage_core::{ChatAppMessageStore, Result};

use crate::{SqliteConfig, SqliteStore};

impl BackendConfig for SqliteConfig {
    fn validate(&self) -> Result<()> {
        SqliteConfig::validate(self)
    }
}

/// The factory of `type: sqlite`: its section is a [`SqliteConfig`]; `path` is a file path
/// (the registry expands `~` and `${VAR}` in it).
///
/// ```
/// use hotplex_storage_core::config::BackendFactory;
/// let factory = hotplex_storage_sqlite::factory();
/// assert_eq!(factory.name(), "sqlite");
/// assert!(factory.keys().contains(&"pool_size"));
/// ```
pub fn factory() -> ConfigFactory<SqliteConfig> {
    ConfigFactory::new("sqlite", create).with_path_keys(&["path"])
}

fn create(config: SqliteConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
    Ok(Arc::new(SqliteStore::new(config)?))
}
