//! [`BackendFactory`]: how a backend turns its configuration section into a store, so that the
//! registry holds only the generic settings and each backend's config struct is the one
//! definition of its keys ([`BackendConfig`] + [`ConfigFactory`]).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::fields::field_names;
use super::node::ConfigNode;
use crate::{ChatAppMessageStore, Result};

/// The `search:` settings every backend is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct SearchOptions {
    /// Whether the backend keeps a search index (default true); without one, `search` scans.
    pub index: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { index: true }
    }
}

impl SearchOptions {
    /// The defaults (an index).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`index`](Self::index).
    #[must_use]
    pub fn with_index(mut self, index: bool) -> Self {
        self.index = index;
        self
    }
}

/// What a factory is told besides its own section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BackendContext {
    /// The `search:` settings.
    pub search: SearchOptions,
    /// Whether this backend is the configured `type` (a section of another backend is only
    /// checked, with [`BackendConfig::validate_unused`]).
    pub in_use: bool,
}

impl BackendContext {
    /// A context for the backend in use with `search`.
    pub fn new(search: SearchOptions) -> Self {
        Self {
            search,
            in_use: true,
        }
    }

    /// Sets [`in_use`](Self::in_use).
    #[must_use]
    pub fn with_in_use(mut self, in_use: bool) -> Self {
        self.in_use = in_use;
        self
    }
}

/// A backend as the registry sees it: a name (also the key of its configuration section), the
/// keys of that section, and a constructor. Implement it with [`ConfigFactory`] over the
/// backend's config struct.
pub trait BackendFactory: Send + Sync {
    /// The backend's name (`sqlite`), which is also the key of its section.
    fn name(&self) -> &'static str;

    /// Other names `type` accepts for it (`postgresql`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The keys its section accepts.
    fn keys(&self) -> &'static [&'static str];

    /// The section with every key at its default (what a configuration starts from).
    fn defaults(&self) -> Result<ConfigNode>;

    /// The keys whose values are file paths: the registry expands `~` in them.
    fn path_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks `section` without I/O. Errors name `<name>.<key>`.
    fn check(&self, section: &ConfigNode, context: &BackendContext) -> Result<()>;

    /// A validated, uninitialized store for `section` (constructors do no I/O).
    fn create(
        &self,
        section: &ConfigNode,
        context: &BackendContext,
    ) -> Result<Arc<dyn ChatAppMessageStore>>;
}

/// A backend's config struct as a configuration section: serde reads it (with
/// `deny_unknown_fields` and defaults from `Default`), then it checks itself.
pub trait BackendConfig: DeserializeOwned + Serialize + Default + Send + 'static {
    /// Checks every setting (no I/O); errors name `<section>.<key>`.
    fn validate(&self) -> Result<()>;

    /// Checks the section of a backend that is configured but not in use (the default: like
    /// [`validate`](Self::validate)); a backend may skip what only a connection needs.
    fn validate_unused(&self) -> Result<()> {
        self.validate()
    }

    /// Takes the generic settings it needs (`search.index`) from `context`.
    fn apply_context(&mut self, context: &BackendContext) {
        let _ = context;
    }
}

/// The constructor a [`ConfigFactory`] calls.
pub type CreateFn<C> = fn(C) -> Result<Arc<dyn ChatAppMessageStore>>;

/// A [`BackendFactory`] over a [`BackendConfig`]: the section's keys are the config struct's
/// fields ([`field_names`]), so they are defined once.
///
/// ```
/// use std::sync::Arc;
/// use hotplex_storage_core::config::{BackendConfig, BackendContext, BackendFactory, ConfigFactory, ConfigNode, Origin};
/// use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};
///
/// #[derive(serde::Deserialize, serde::Serialize, Default)]
/// #[serde(deny_unknown_fields, default)]
/// struct NullConfig { fail: bool }
/// impl BackendConfig for NullConfig {
///     fn validate(&self) -> Result<()> { Ok(()) }
/// }
/// fn create(_: NullConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
///     Err(StorageError::connection("not a real backend"))
/// }
/// let factory = ConfigFactory::new("null", create);
/// assert_eq!(factory.keys(), ["fail"]);
/// let mut section = ConfigNode::map(Origin::File);
/// section.set("fial", ConfigNode::text("x", Origin::File));
/// let err = factory.check(&section, &BackendContext::default()).unwrap_err();
/// assert!(err.to_string().contains("null.fial"), "{err}");
/// ```
pub struct ConfigFactory<C> {
    name: &'static str,
    aliases: &'static [&'static str],
    path_keys: &'static [&'static str],
    create: CreateFn<C>,
    config: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for ConfigFactory<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFactory")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .finish_non_exhaustive()
    }
}

impl<C: BackendConfig> ConfigFactory<C> {
    /// A factory named `name` whose section is read as `C` and built with `create`.
    pub fn new(name: &'static str, create: CreateFn<C>) -> Self {
        Self {
            name,
            aliases: &[],
            path_keys: &[],
            create,
            config: PhantomData,
        }
    }

    /// Sets the other names `type` accepts.
    #[must_use]
    pub fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Sets the keys holding file paths.
    #[must_use]
    pub fn with_path_keys(mut self, path_keys: &'static [&'static str]) -> Self {
        self.path_keys = path_keys;
        self
    }

    /// The section read as `C`, with the context applied; errors name `<name>.<key>`.
    pub fn read(&self, section: &ConfigNode, context: &BackendContext) -> Result<C> {
        let mut config: C = section
            .deserialize()
            .map_err(|e| e.into_storage_error(self.name))?;
        config.apply_context(context);
        Ok(config)
    }
}

impl<C: BackendConfig> BackendFactory for ConfigFactory<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    fn keys(&self) -> &'static [&'static str] {
        field_names::<C>()
    }

    fn path_keys(&self) -> &'static [&'static str] {
        self.path_keys
    }

    fn defaults(&self) -> Result<ConfigNode> {
        ConfigNode::from_serialize(self.name, &C::default())
    }

    fn check(&self, section: &ConfigNode, context: &BackendContext) -> Result<()> {
        let config = self.read(section, context)?;
        if context.in_use {
            config.validate()
        } else {
            config.validate_unused()
        }
    }

    fn create(
        &self,
        section: &ConfigNode,
        context: &BackendContext,
    ) -> Result<Arc<dyn ChatAppMessageStore>> {
        let config = self.read(section, context)?;
        config.validate()?;
        (self.create)(config)
    }
}
