//! The built-in factories, one per compiled-in backend, and their config checks. PostgreSQL is
//! registered under `postgres` and `postgresql` (the Go registry's name).

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
        #[cfg(feature = "postgres")]
        (
            "postgres",
            Arc::new(postgres::create) as Arc<dyn PluginFactory>,
        ),
        #[cfg(feature = "postgres")]
        (
            "postgresql",
            Arc::new(postgres::create) as Arc<dyn PluginFactory>,
        ),
    ]
}

/// Checks the sections of the compiled-in backends with the backends' own `validate()`.
pub(crate) fn validate_sections(cfg: &StorageConfig) -> Result<()> {
    #[cfg(feature = "sqlite")]
    sqlite::config(&crate::PluginConfig::of(cfg))?.validate()?;
    // The postgres section is checked when it is the one in use: its DSN needs a server-side
    // role, which an unused (or placeholder) section need not name.
    #[cfg(feature = "postgres")]
    if matches!(
        cfg.store_type.trim().to_ascii_lowercase().as_str(),
        "postgres" | "postgresql"
    ) {
        postgres::validate(&crate::PluginConfig::of(cfg))?;
    }
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

#[cfg(feature = "postgres")]
mod postgres {
    //! `type: postgres` (or `postgresql`).

    use std::sync::Arc;

    use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};
    use hotplex_storage_postgres::{PostgresConfig, PostgresStore};

    use crate::PluginConfig;

    /// The `PostgresConfig` of the `postgres:` section (not yet validated); `None` without a DSN.
    fn config(config: &PluginConfig) -> Result<Option<PostgresConfig>> {
        let p = &config.postgres;
        let Some(dsn) = p.dsn.as_deref() else {
            return Ok(None);
        };
        let mut cfg = PostgresConfig::from_dsn(dsn)?
            .with_max_connections(p.max_connections)
            .with_level(p.level);
        if let Some(schema) = &p.schema {
            cfg = cfg.with_schema(schema);
        }
        Ok(Some(cfg))
    }

    /// Checks the section when it names a server (the DSN is required only to open one).
    pub(super) fn validate(config: &PluginConfig) -> Result<()> {
        match self::config(config)? {
            Some(cfg) => cfg.validate(),
            None => Ok(()),
        }
    }

    /// A validated, unconnected PostgreSQL store.
    pub(super) fn create(config: &PluginConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
        let cfg = self::config(config)?.ok_or_else(|| {
            StorageError::invalid_config(
                "message_store.postgres.dsn",
                "is required for type postgres (or set HOTPLEX_MESSAGE_STORE_POSTGRES_DSN)",
            )
        })?;
        Ok(Arc::new(PostgresStore::new(cfg)?))
    }
}
