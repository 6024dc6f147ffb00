//! [`PluginRegistry`]: backend name → [`BackendFactory`], immutable once built. Each backend
//! brings its factory (and with it the keys of its configuration section); the registry only
//! finds it by name.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use hotplex_storage_core::config::{BackendContext, BackendFactory, ConfigNode};
use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};

use crate::StorageConfig;

/// Backend name → factory. [`PluginRegistry::new`] holds the backends compiled in (cargo
/// features `memory`, `sqlite`, `postgres`); [`global`](Self::global) is a shared, immutable
/// instance of it. Names are matched case-insensitively; an unknown name is
/// `UnsupportedType` listing the registered ones, never a fallback. A backend's name is also
/// the key of its section in the configuration (`message_store.<name>:`).
///
/// ```
/// use std::sync::Arc;
/// use hotplex_storage_core::config::{BackendConfig, ConfigFactory};
/// use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};
/// use hotplex_storage_registry::PluginRegistry;
///
/// #[derive(serde::Deserialize, serde::Serialize, Default)]
/// #[serde(deny_unknown_fields, default)]
/// struct NullConfig { endpoint: String }
/// impl BackendConfig for NullConfig {
///     fn validate(&self) -> Result<()> { Ok(()) }
/// }
/// fn create(_: NullConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
///     Err(StorageError::connection("not a real backend"))
/// }
/// let mut registry = PluginRegistry::empty();
/// registry.register(Arc::new(ConfigFactory::new("blackhole", create)))?;
/// assert_eq!(registry.names(), ["blackhole"]);
/// // The backend's section is part of the configuration this registry reads.
/// let cfg = registry.config_from_yaml_str("message_store:\n  type: blackhole\n  blackhole:\n    endpoint: x\n")?;
/// assert!(registry.config_from_yaml_str("message_store:\n  blackhole:\n    endpont: x\n").is_err());
/// let err = hotplex_storage_registry::build_with(&registry, &cfg.with_type("nope")).err().unwrap();
/// assert!(err.to_string().contains("available: blackhole"));
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
#[derive(Clone, Default)]
pub struct PluginRegistry {
    /// Every name and alias → its factory.
    factories: BTreeMap<String, Arc<dyn BackendFactory>>,
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
        for factory in crate::factories::builtin() {
            if let Err(e) = registry.register(factory) {
                unreachable!("the built-in backends have distinct names: {e}");
            }
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

    /// Adds a backend under its name and aliases (lower-cased). An empty name, a name or alias
    /// already taken, or a name that is a generic configuration key (`retry`, …) is
    /// `InvalidConfig`, and nothing is added.
    pub fn register(&mut self, factory: Arc<dyn BackendFactory>) -> Result<()> {
        let names: Vec<String> = std::iter::once(factory.name())
            .chain(factory.aliases().iter().copied())
            .map(normalize)
            .collect();
        for name in &names {
            if name.is_empty() {
                return Err(StorageError::invalid_config(
                    "type",
                    "a backend name must not be empty",
                ));
            }
            if self.factories.contains_key(name) || crate::config::is_generic_key(name) {
                return Err(StorageError::invalid_config(
                    "type",
                    format!("a backend named {name:?} is already registered"),
                ));
            }
        }
        let count = names.len();
        for (name, factory) in names.into_iter().zip(std::iter::repeat_n(factory, count)) {
            self.factories.insert(name, factory);
        }
        Ok(())
    }

    /// The factory registered under `name` (or an alias), matched case-insensitively.
    pub fn factory(&self, name: &str) -> Result<&Arc<dyn BackendFactory>> {
        self.factories
            .get(&normalize(name))
            .ok_or_else(|| StorageError::unsupported_type(name, self.names()))
    }

    /// A new, uninitialized store of backend `name` configured by `section`.
    pub fn create(
        &self,
        name: &str,
        section: &ConfigNode,
        context: &BackendContext,
    ) -> Result<Arc<dyn ChatAppMessageStore>> {
        self.factory(name)?.create(section, context)
    }

    /// Whether `name` (or an alias) is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(&normalize(name))
    }

    /// Every registered name and alias, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// One factory per backend (aliases left out), by name.
    pub fn backends(&self) -> impl Iterator<Item = &Arc<dyn BackendFactory>> {
        self.factories
            .iter()
            .filter(|(name, factory)| **name == normalize(factory.name()))
            .map(|(_, factory)| factory)
    }

    /// The default configuration of this registry's backends (SQLite at
    /// `~/.hotplex/messages.db` when it is compiled in, as [`StorageConfig::new`]).
    pub fn config(&self) -> StorageConfig {
        StorageConfig::for_registry(self)
    }

    /// [`StorageConfig::from_yaml_str`] with this registry's sections.
    pub fn config_from_yaml_str(&self, text: &str) -> Result<StorageConfig> {
        StorageConfig::from_yaml_str_for(self, text)
    }
}

fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use hotplex_storage_core::config::{BackendConfig, ConfigFactory};

    use super::*;

    #[derive(serde::Deserialize, serde::Serialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Empty {}

    impl BackendConfig for Empty {
        fn validate(&self) -> Result<()> {
            Ok(())
        }
    }

    fn fail(_: Empty) -> Result<Arc<dyn ChatAppMessageStore>> {
        Err(StorageError::connection("no"))
    }

    #[test]
    fn builtin_names_and_unknown_types() {
        let registry = PluginRegistry::new();
        let names = registry.names();
        #[cfg(feature = "memory")]
        assert!(names.contains(&"memory"));
        #[cfg(feature = "sqlite")]
        assert!(names.contains(&"sqlite"));
        #[cfg(feature = "postgres")]
        assert!(names.contains(&"postgres") && names.contains(&"postgresql"));
        let section = ConfigNode::default();
        for name in ["redis", "", "mysql"] {
            let err = registry
                .create(name, &section, &BackendContext::default())
                .err()
                .expect("an unknown name is refused");
            assert!(
                matches!(err, StorageError::UnsupportedType { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[cfg(feature = "memory")]
    #[test]
    fn names_match_case_insensitively() {
        let store = PluginRegistry::new()
            .create(
                " Memory ",
                &ConfigNode::default(),
                &BackendContext::default(),
            )
            .unwrap();
        assert_eq!(store.name(), "memory");
    }

    #[test]
    fn registering_checks_names() {
        let mut registry = PluginRegistry::empty();
        registry
            .register(Arc::new(
                ConfigFactory::new("custom", fail).with_aliases(&["alt"]),
            ))
            .unwrap();
        assert_eq!(registry.names(), ["alt", "custom"]);
        assert_eq!(registry.backends().count(), 1);
        for taken in ["Custom", "alt", "retry", ""] {
            let err = registry
                .register(Arc::new(ConfigFactory::new(taken, fail)))
                .unwrap_err();
            assert!(err.is_config_error(), "{taken}: {err}");
        }
        let err = registry
            .register(Arc::new(
                ConfigFactory::new("other", fail).with_aliases(&["custom"]),
            ))
            .unwrap_err();
        assert!(err.is_config_error());
        assert!(
            registry.factory("other").is_err(),
            "nothing half-registered"
        );
        assert!(
            registry
                .create("custom", &ConfigNode::default(), &BackendContext::default())
                .is_err()
        );
    }
}
