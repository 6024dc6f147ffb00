//! The built-in factories, one per compiled-in backend, and their config checks.
//!
//! Adding PostgreSQL is one module here: `#[cfg(feature = "postgres")] mod postgres` with a
//! `create(&PluginConfig)` that builds `PostgresConfig::from_dsn(dsn)?` with
//! `max_connections`, `level` and `schema` and returns `PostgresStore::new(cfg)?`, a
//! `validate(&StorageConfig)`, and the two names `postgres` and `postgresql` in [`builtin`].

use std::sync::Arc;

use hotplex_storage_core::Result;

use crate::{PluginFactory, StorageConfig};

/// The factories of the compiled-in backends, by name.
pub(crate) fn builtin() -> Vec<(&'static str, Arc<dyn PluginFactory>)> {
    vec![
        #[cfg(feature = "memory")]
        ("memory", Arc::new(memory::create) as Arc<dyn PluginFactory>),
        #[cfg(feature = "sqlite")]
        ("sqlite", Arc::new(sqlite::create) as Arc<dyn PluginFactory>),
    ]
}

/// Checks the sections of the compiled-in backends with the backends' own `validate()`.
pub(crate) fn validate_sections(cfg: &StorageConfig) -> Result<()> {
    #[cfg(feature = "sqlite")]
    sqlite::config(&crate::PluginConfig::of(cfg))?.validate()?;
    let _ = cfg;
    Ok(())
}

#[cfg(feature = "memory")]
mod memory {
    //! `type: memory`.

    use std::sync::Arc;

    use hotplex_storage_core::{ChatAppMessageStore, Result};
    use hotplex_storage_memory::MemoryStore;

    use crate::PluginConfig;

    /// An empty in-process store.
    #[allow(clippy::unnecessary_wraps)] // the signature every factory shares
    pub(super) fn create(_config: &PluginConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
        Ok(Arc::new(MemoryStore::new()))
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    //! `type: sqlite`.

    use std::sync::Arc;

    use hotplex_storage_core::{ChatAppMessageStore, Result};
    use hotplex_storage_sqlite::{SqliteConfig, SqliteStore, Synchronous};

    use crate::PluginConfig;

    /// The `SqliteConfig` of the `sqlite:` section (not yet validated).
    pub(super) fn config(config: &PluginConfig) -> Result<SqliteConfig> {
        let s = &config.sqlite;
        let synchronous: Synchronous = s.synchronous.parse()?;
        let mut cfg = SqliteConfig::new(&s.path)
            .with_max_size_mb(s.max_size_mb)
            .with_synchronous(synchronous)
            .with_pool_size(s.pool_size)
            .with_busy_timeout(s.busy_timeout);
        if let Some(home) = &s.home_dir {
            cfg = cfg.with_home_dir(home);
        }
        Ok(cfg)
    }

    /// A validated, uninitialized SQLite store.
    pub(super) fn create(config: &PluginConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
        Ok(Arc::new(SqliteStore::new(self::config(config)?)?))
    }
}
