//! [`StorageConfig`]: the `message_store:` block, from defaults, YAML and the environment.
//!
//! Precedence: environment beats YAML beats defaults. The registry defines only the generic
//! keys (`enabled`, `type`, `strategy`, `streaming`, `retry`, `retention`, `search`); each
//! backend's section is the backend's own config struct, read by its factory from the raw
//! section. YAML and the environment go through one path ([`StorageConfig::apply`]): a file
//! becomes a node tree ([`yaml`]), the variables another ([`env`]), and each is put over the
//! configuration. Every key is in `docs/configuration.md`.

mod env;
mod sections;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hotplex_storage_core::config::{
    BackendContext, BackendFactory, ConfigError, ConfigNode, ConfigValue, Origin, SearchOptions,
    expand_path, expand_vars,
};
use hotplex_storage_core::{Result, StorageError, strategy_by_name};
use hotplex_storage_stream::{RetryConfig, StreamConfig};

pub use env::{ENV_PREFIX, env_name};
use sections::GenericSection;
pub use sections::{RetentionOptions, StreamingOptions};

use crate::PluginRegistry;

/// The root of every key path in errors (`message_store.sqlite.max_size_mb`).
pub const ROOT: &str = "message_store";

/// The keys the registry itself defines; every other key of `message_store` is a backend's
/// section.
const GENERIC_KEYS: &[&str] = &[
    "enabled",
    "type",
    "strategy",
    StreamingOptions::KEY,
    RetryConfig::KEY,
    RetentionOptions::KEY,
    SearchOptions::KEY,
];

/// Whether `name` is one of the registry's own keys (a backend may not be named so).
pub(crate) fn is_generic_key(name: &str) -> bool {
    GENERIC_KEYS.contains(&name)
}

/// Prefixes a config error's key with [`ROOT`] so that it names the YAML path.
pub(crate) fn rooted(error: StorageError) -> StorageError {
    match error {
        StorageError::InvalidConfig { key, reason } if !key.starts_with(ROOT) => {
            StorageError::invalid_config(format!("{ROOT}.{key}"), reason)
        }
        other => other,
    }
}

/// A backend's section: its factory and its raw settings.
#[derive(Clone)]
struct Section {
    factory: Arc<dyn BackendFactory>,
    node: ConfigNode,
}

impl PartialEq for Section {
    fn eq(&self, other: &Self) -> bool {
        self.factory.name() == other.factory.name() && self.node == other.node
    }
}

impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Section").field(&self.node).finish()
    }
}

/// The storage configuration: the Go plugin's `message_store:` block plus `retention:` and
/// `search:`, and one section per backend of the registry it was made for.
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
    /// Storage strategy: `default`, `verbose` or `minimal`. Default `default`.
    pub strategy: String,
    /// The `streaming:` section.
    pub streaming: StreamingOptions,
    /// The `retry:` section.
    pub retry: RetryConfig,
    /// The `retention:` section.
    pub retention: RetentionOptions,
    /// The `search:` section, given to the backend.
    pub search: SearchOptions,
    /// Backend name → its section (every backend of the registry, empty when not configured).
    sections: BTreeMap<String, Section>,
    /// Sections of built-in backends this build does not include, kept as written (unchecked:
    /// their keys are only known to the backend).
    absent: BTreeMap<String, ConfigNode>,
}

impl Default for StorageConfig {
    /// [`StorageConfig::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl StorageConfig {
    /// The defaults, with the sections of the [global](PluginRegistry::global) registry: SQLite
    /// at `~/.hotplex/messages.db`, strategy `default`, retries on.
    pub fn new() -> Self {
        Self::for_registry(PluginRegistry::global())
    }

    /// The defaults with the sections of `registry`'s backends, each at the backend's
    /// defaults.
    pub(crate) fn for_registry(registry: &PluginRegistry) -> Self {
        Self {
            enabled: true,
            store_type: "sqlite".to_owned(),
            strategy: "default".to_owned(),
            streaming: StreamingOptions::default(),
            retry: RetryConfig::default(),
            retention: RetentionOptions::default(),
            search: SearchOptions::default(),
            sections: registry
                .backends()
                .map(|factory| {
                    let node = factory.defaults().unwrap_or_else(|e| {
                        tracing::warn!(backend = factory.name(), error = %e, "a backend's defaults cannot be written; its section starts empty");
                        ConfigNode::map(Origin::Code)
                    });
                    let section = Section {
                        factory: Arc::clone(factory),
                        node,
                    };
                    (factory.name().to_owned(), section)
                })
                .collect(),
            absent: BTreeMap::new(),
        }
    }

    /// Parses a YAML document whose top level has a `message_store:` mapping (other top-level
    /// keys belong to the application and are ignored), over the defaults, and validates it.
    /// Unknown keys, wrong types and impossible values are `InvalidConfig` naming the key
    /// path. The backend sections are those of the [global](PluginRegistry::global) registry
    /// (see [`PluginRegistry::config_from_yaml_str`] for another).
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        Self::from_yaml_str_for(PluginRegistry::global(), text)
    }

    pub(crate) fn from_yaml_str_for(registry: &PluginRegistry, text: &str) -> Result<Self> {
        let mut cfg = Self::for_registry(registry);
        if let Some(block) = yaml::message_store(text)? {
            cfg.apply(block)?;
        }
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
    /// YAML: `HOTPLEX_MESSAGE_STORE_SQLITE_POOL_SIZE` sets `sqlite.pool_size`), then expands
    /// `${VAR}` and `~` ([`expand_paths`](Self::expand_paths)) with the same lookup, and
    /// validates. Pass `|k| std::env::var(k).ok()` for the process environment.
    pub fn with_env<F>(mut self, lookup: F) -> Result<Self>
    where
        F: Fn(&str) -> Option<String>,
    {
        let variables = env::read(&self.keys(), &lookup);
        self.apply(variables.clone())?;
        self.expand_paths(&lookup)?;
        self.validate().map_err(|e| env::attribute(e, &variables))?;
        Ok(self)
    }

    /// Puts `block` (the `message_store` mapping, from a file or the environment) over this
    /// configuration. Errors name the key path and the variable of the offending value.
    fn apply(&mut self, block: ConfigNode) -> Result<()> {
        let ConfigValue::Map(entries) = block.value else {
            return Err(StorageError::invalid_config(ROOT, "expected a mapping"));
        };
        for (key, value) in entries {
            // An empty value keeps what is there (as `retry:` with nothing under it).
            if value.value == ConfigValue::Null {
                continue;
            }
            let read = |e: ConfigError| e.into_storage_error(&format!("{ROOT}.{key}"));
            match key.as_str() {
                "enabled" => self.enabled = value.deserialize().map_err(read)?,
                "type" => {
                    let name: String = value.deserialize().map_err(read)?;
                    self.store_type = name.trim().to_ascii_lowercase();
                }
                "strategy" => {
                    let name: String = value.deserialize().map_err(read)?;
                    self.strategy = name.trim().to_ascii_lowercase();
                }
                StreamingOptions::KEY => self.streaming = merged(&self.streaming, value)?,
                RetryConfig::KEY => self.retry = merged(&self.retry, value)?,
                RetentionOptions::KEY => self.retention = merged(&self.retention, value)?,
                SearchOptions::KEY => self.search = merged(&self.search, value)?,
                name => {
                    if value.entries().is_none() {
                        return Err(StorageError::invalid_config(
                            format!("{ROOT}.{name}"),
                            "invalid type: expected a mapping of settings",
                        ));
                    }
                    if let Some(section) = self.sections.get_mut(name) {
                        section.node.merge(value);
                    } else if crate::factories::OPTIONAL.contains(&name) {
                        tracing::debug!(
                            section = name,
                            "kept unchecked: this build does not include the backend"
                        );
                        self.absent.entry(name.to_owned()).or_default().merge(value);
                    } else {
                        return Err(self.unknown_key(name));
                    }
                }
            }
        }
        Ok(())
    }

    fn unknown_key(&self, name: &str) -> StorageError {
        let mut known: Vec<&str> = GENERIC_KEYS.to_vec();
        known.extend(self.sections.keys().map(String::as_str));
        StorageError::invalid_config(
            format!("{ROOT}.{name}"),
            format!("unknown key (expected one of: {})", known.join(", ")),
        )
    }

    /// Every key below `message_store`, as a relative path (`sqlite.pool_size`), in
    /// documentation order: the generic keys, then each backend's section.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = vec!["enabled".into(), "type".into()];
        for factory in self.sections.values().map(|s| &s.factory) {
            keys.extend(
                factory
                    .keys()
                    .iter()
                    .map(|k| format!("{}.{k}", factory.name())),
            );
        }
        keys.push("strategy".into());
        let generic: [(&str, Vec<&str>); 4] = [
            (StreamingOptions::KEY, StreamingOptions::keys()),
            (RetryConfig::KEY, RetryConfig::keys()),
            (RetentionOptions::KEY, RetentionOptions::keys()),
            (SearchOptions::KEY, SearchOptions::keys()),
        ];
        for (section, section_keys) in generic {
            keys.extend(section_keys.iter().map(|k| format!("{section}.{k}")));
        }
        keys
    }

    /// Expands `${VAR}` (with `lookup`) in every text value of the backend sections, and then a
    /// leading `~` (with `lookup("HOME")`) in the values of their path keys (`sqlite.path`).
    /// A value that cannot be expanded (an undefined variable, no `HOME`) is an error in the
    /// section of the backend in use and is left as written in the others (they are unused).
    /// Values are expanded once, so call this only after setting values that need it.
    pub fn expand_paths(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        let store_type = self.store_type.clone();
        for (name, section) in &mut self.sections {
            let factory = Arc::clone(&section.factory);
            let mut expanded = section.node.clone();
            let result =
                expand_section(&mut expanded, &format!("{ROOT}.{name}"), &*factory, lookup);
            match result {
                Ok(()) => section.node = expanded,
                Err(e) if in_use(&*factory, &store_type) => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, section = %name, "left unexpanded: the backend is not in use");
                }
            }
        }
        Ok(())
    }

    /// The raw section of backend `name` (`None` for a backend the registry lacks; the section
    /// of a built-in backend this build does not include is kept as written).
    pub fn section(&self, name: &str) -> Option<&ConfigNode> {
        self.sections
            .get(name)
            .map(|s| &s.node)
            .or_else(|| self.absent.get(name))
    }

    /// Backend `name`'s section read as its config struct `C` (for tools and tests, e.g.
    /// `cfg.backend_config::<SqliteConfig>("sqlite")`).
    pub fn backend_config<C: serde::de::DeserializeOwned>(&self, name: &str) -> Result<C> {
        let node = self.section(name).ok_or_else(|| self.unknown_key(name))?;
        node.deserialize()
            .map_err(|e| e.into_storage_error(&format!("{ROOT}.{name}")))
    }

    /// Replaces backend `name`'s section with `config` (its serde form), as set by code.
    pub fn with_backend_config<C: serde::Serialize>(
        mut self,
        name: &str,
        config: &C,
    ) -> Result<Self> {
        let key = format!("{ROOT}.{name}");
        let node = ConfigNode::from_serialize(&key, config)?;
        let section = self
            .sections
            .get_mut(name)
            .ok_or_else(|| StorageError::invalid_config(&key, "no such backend in this build"))?;
        section.node = node;
        Ok(self)
    }

    /// Sets `key` of backend `name`'s section to `value`, as set by code (a command-line flag).
    /// The value is checked when the configuration is validated.
    #[must_use]
    pub fn with_backend_value(mut self, name: &str, key: &str, value: ConfigValue) -> Self {
        if let Some(section) = self.sections.get_mut(name) {
            section.node.set(key, ConfigNode::new(value, Origin::Code));
        }
        self
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
    pub fn with_sqlite_path(self, path: impl Into<String>) -> Self {
        self.with_backend_value("sqlite", "path", ConfigValue::Text(path.into()))
    }

    /// `sqlite.path` as set (after expansion, if it ran), or `None` where it is not set or is
    /// not text.
    pub fn sqlite_path(&self) -> Option<&str> {
        match &self.section("sqlite")?.at("path")?.value {
            ConfigValue::Text(path) => Some(path),
            _ => None,
        }
    }

    /// Sets `postgres.dsn`.
    #[must_use]
    pub fn with_postgres_dsn(self, dsn: impl Into<String>) -> Self {
        self.with_backend_value("postgres", "dsn", ConfigValue::Text(dsn.into()))
    }

    /// Sets `postgres.level`.
    #[must_use]
    pub fn with_postgres_level(self, level: u8) -> Self {
        self.with_backend_value("postgres", "level", ConfigValue::Int(i128::from(level)))
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

    /// Sets the `search:` section.
    #[must_use]
    pub fn with_search(mut self, search: SearchOptions) -> Self {
        self.search = search;
        self
    }

    /// The stream buffer settings, or `None` when `streaming.enabled` is false.
    pub fn stream_config(&self) -> Option<StreamConfig> {
        self.streaming
            .enabled
            .then(|| self.streaming.config.clone())
    }

    /// What the backend in use is told besides its section.
    pub(crate) fn backend_context(&self, name: &str) -> BackendContext {
        let in_use = self
            .sections
            .get(name)
            .is_some_and(|s| in_use(&*s.factory, &self.store_type));
        BackendContext::new(self.search).with_in_use(in_use)
    }

    /// Checks every section; errors name the key path (`message_store.retry.max_attempts`).
    /// Each backend section is checked by its backend (the section of a backend not in use
    /// only for what needs no server); the backend type itself is checked by the registry at
    /// open.
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
        for (name, section) in &self.sections {
            section
                .factory
                .check(&section.node, &self.backend_context(name))?;
        }
        Ok(())
    }

    /// The raw section of the backend `factory` builds, empty when this configuration has
    /// none (it was made for another registry).
    pub(crate) fn section_for(&self, factory: &dyn BackendFactory) -> ConfigNode {
        self.sections
            .get(factory.name())
            .map(|s| s.node.clone())
            .unwrap_or_default()
    }
}

/// Whether `factory` is the backend `store_type` names.
fn in_use(factory: &dyn BackendFactory, store_type: &str) -> bool {
    let store_type = store_type.trim().to_ascii_lowercase();
    factory.name() == store_type || factory.aliases().contains(&store_type.as_str())
}

/// `section` with `value` put over it.
fn merged<S: GenericSection>(section: &S, value: ConfigNode) -> Result<S> {
    let key = format!("{ROOT}.{}", S::KEY);
    if value.entries().is_none() {
        // A wrong type replaces the section, so that serde names it.
        return S::from_node(&value).map_err(|e| e.into_storage_error(&key));
    }
    let mut node = section.to_node()?;
    node.merge(value);
    S::from_node(&node).map_err(|e| e.into_storage_error(&key))
}

/// Expands one backend section in place; errors name `base.<key>`.
fn expand_section(
    node: &mut ConfigNode,
    base: &str,
    factory: &dyn BackendFactory,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let Some(entries) = node
        .entries()
        .map(|e| e.keys().cloned().collect::<Vec<_>>())
    else {
        return Ok(());
    };
    for key in entries {
        let path = format!("{base}.{key}");
        let is_path = factory.path_keys().contains(&key.as_str());
        let Some(ConfigValue::Map(map)) = Some(&mut node.value) else {
            break;
        };
        let Some(child) = map.get_mut(&key) else {
            continue;
        };
        child.try_for_each_text(&mut |text, _origin| {
            *text = if is_path {
                expand_path(&path, text, lookup)?
                    .to_string_lossy()
                    .into_owned()
            } else {
                expand_vars(&path, text, lookup)?
            };
            Ok(())
        })?;
    }
    Ok(())
}
