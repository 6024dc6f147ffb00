//! [`PluginRegistry`]: backend name → [`PluginFactory`], immutable once built.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};

use crate::{PostgresOptions, SqliteOptions, StorageConfig};

/// What a factory receives: the backend sections of a [`StorageConfig`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct PluginConfig {
    /// The `sqlite:` section.
    pub sqlite: SqliteOptions,
    /// The `postgres:` section.
    pub postgres: PostgresOptions,
}

impl PluginConfig {
    /// The backend sections of `cfg`.
    pub fn of(cfg: &StorageConfig) -> Self {
        Self {
            sqlite: cfg.sqlite.clone(),
            postgres: cfg.postgres.clone(),
        }
    }
}

/// Builds a store (validated, not initialized: constructors do no I/O).
pub trait PluginFactory: Send + Sync {
    /// A new, uninitialized store for `config`.
    fn create(&self, config: &PluginConfig) -> Result<Arc<dyn ChatAppMessageStore>>;
}

impl<F> PluginFactory for F
where
    F: Fn(&PluginConfig) -> Result<Arc<dyn ChatAppMessageStore>> + Send + Sync,
{
    fn create(&self, config: &PluginConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
        self(config)
    }
}

/// Backend name → factory. [`PluginRegistry::new`] holds the backends compiled in (cargo
/// features `memory`, `sqlite`, `postgres`); [`global`](Self::global) is a shared, immutable
/// instance of it. Names are matched case-insensitively; an unknown name is
/// `UnsupportedType` listing the registered ones, never a fallback.
///
/// ```
/// use std::sync::Arc;
/// use hotplex_storage_core::ChatAppMessageStore;
/// use hotplex_storage_registry::{PluginConfig, PluginRegistry};
/// let mut registry = PluginRegistry::empty();
/// registry.register("null", Arc::new(|_: &PluginConfig| -> hotplex_storage_core::Result<Arc<dyn ChatAppMessageStore>> {
///     Err(hotplex_storage_core::StorageError::connection("not a real backend"))
/// }))?;
/// assert_eq!(registry.names(), ["null"]);
/// let err = registry.create("nope", &PluginConfig::default()).err().unwrap();
/// assert!(err.to_string().contains("available: null"));
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
#[derive(Clone, Default)]
pub struct PluginRegistry {
    factories: BTreeMap<String, Arc<dyn PluginFactory>>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("names", &self.names())
            .finish()
    }
}

impl PluginRegistry {
    /// A registry of every backend compiled into this build.
    pub fn new() -> Self {
        let mut registry = Self::empty();
        for (name, factory) in crate::factories::builtin() {
            registry.factories.insert(name.to_owned(), factory);
        }
        registry
    }

    /// A registry with no backend (for tests and custom builds).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The shared registry of the compiled-in backends; it cannot be changed.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<PluginRegistry> = OnceLock::new();
        GLOBAL.get_or_init(Self::new)
    }

    /// Adds a backend. The name is lower-cased; an empty or taken name is `InvalidConfig`.
    pub fn register(&mut self, name: &str, factory: Arc<dyn PluginFactory>) -> Result<()> {
        let name = normalize(name);
        if name.is_empty() {
            return Err(StorageError::invalid_config(
                "type",
                "a backend name must not be empty",
            ));
        }
        if self.factories.contains_key(&name) {
            return Err(StorageError::invalid_config(
                "type",
                format!("a backend named {name:?} is already registered"),
            ));
        }
        self.factories.insert(name, factory);
        Ok(())
    }

    /// A new, uninitialized store of backend `name`.
    pub fn create(
        &self,
        name: &str,
        config: &PluginConfig,
    ) -> Result<Arc<dyn ChatAppMessageStore>> {
        let factory = self
            .factories
            .get(&normalize(name))
            .ok_or_else(|| StorageError::unsupported_type(name, self.names()))?;
        factory.create(config).map_err(crate::config::rooted)
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(&normalize(name))
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.factories.keys().cloned().collect()
    }
}

fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_names_and_unknown_types() {
        let registry = PluginRegistry::new();
        let compiled: Vec<&str> = [
            (cfg!(feature = "memory"), "memory"),
            (cfg!(feature = "postgres"), "postgres"),
            (cfg!(feature = "postgres"), "postgresql"),
            (cfg!(feature = "sqlite"), "sqlite"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        assert_eq!(registry.names(), compiled);
        assert_eq!(registry.contains("postgres"), cfg!(feature = "postgres"));
        let unknown: &[&str] = if cfg!(feature = "postgres") {
            &["mysql", ""]
        } else {
            &["postgres", "postgresql", "mysql", ""]
        };
        for &name in unknown {
            let err = registry
                .create(name, &PluginConfig::default())
                .err()
                .unwrap();
            match err {
                StorageError::UnsupportedType { available, .. } => {
                    assert_eq!(available, registry.names());
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        #[cfg(feature = "memory")]
        assert_eq!(
            registry
                .create(" Memory ", &PluginConfig::default())
                .unwrap()
                .name(),
            "memory"
        );
        assert_eq!(PluginRegistry::global().names(), registry.names());
    }

    #[test]
    fn register_refuses_duplicates_and_empty_names() {
        let mut registry = PluginRegistry::new();
        let factory: Arc<dyn PluginFactory> = Arc::new(|_: &PluginConfig| {
            Err::<Arc<dyn ChatAppMessageStore>, _>(StorageError::connection("x"))
        });
        registry.register("Custom", Arc::clone(&factory)).unwrap();
        assert!(registry.contains("custom"));
        assert!(registry.register("custom", Arc::clone(&factory)).is_err());
        assert!(registry.register(" ", factory).is_err());
        assert!(registry.create("custom", &PluginConfig::default()).is_err());
    }
}
