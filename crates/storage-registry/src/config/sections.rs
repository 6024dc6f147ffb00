//! The generic sections of [`StorageConfig`](super::StorageConfig) that are not one type of
//! another crate: `streaming:` ([`StreamConfig`] plus `enabled`) and `retention:`
//! ([`RetentionPolicy`] plus `interval`), and [`GenericSection`], how each generic section is
//! read from and written to a [`ConfigNode`] (its keys come from the serde definitions).

use std::time::Duration;

use hotplex_storage_core::config::{
    ConfigError, ConfigNode, ConfigValue, SearchOptions, field_names, format_duration,
    serde_opt_duration,
};
use hotplex_storage_core::{Result, RetentionPolicy, StorageError};
use hotplex_storage_stream::{RetryConfig, StreamConfig};

/// The `streaming:` section: whether the application buffers token streams, and how.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamingOptions {
    /// Whether streams are buffered (see [`StorageConfig::stream_config`](crate::StorageConfig::stream_config)). Default true.
    pub enabled: bool,
    /// The buffer settings.
    pub config: StreamConfig,
}

impl Default for StreamingOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            config: StreamConfig::default(),
        }
    }
}

impl StreamingOptions {
    /// Streaming enabled with `config`.
    pub fn new(config: StreamConfig) -> Self {
        Self {
            enabled: true,
            config,
        }
    }

    /// Sets [`enabled`](Self::enabled).
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// The `retention:` section: a [`RetentionPolicy`] and how often `open` applies it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionOptions {
    /// What to purge.
    pub policy: RetentionPolicy,
    /// How often the store opened by [`open`](crate::open) applies `policy` in the
    /// background; `None` (the default) never.
    pub interval: Option<Duration>,
}

impl RetentionOptions {
    /// Options applying `policy` only when asked (no background task).
    pub fn new(policy: RetentionPolicy) -> Self {
        Self {
            policy,
            interval: None,
        }
    }

    /// Sets [`interval`](Self::interval): `open` then applies the policy every `interval`.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The shortest accepted `interval`: 1 s.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
    /// The longest accepted `interval`: 30 days.
    pub const MAX_INTERVAL: Duration = Duration::from_hours(24 * 30);

    /// Checks the policy and the interval.
    pub fn validate(&self) -> Result<()> {
        self.policy.validate()?;
        if let Some(interval) = self.interval {
            if !(Self::MIN_INTERVAL..=Self::MAX_INTERVAL).contains(&interval) {
                return Err(StorageError::invalid_config(
                    "retention.interval",
                    format!("{interval:?} is not between 1s and 30d"),
                ));
            }
            if self.policy.is_empty() {
                return Err(StorageError::invalid_config(
                    "retention.interval",
                    "is set but neither max_age nor deleted_grace is: nothing would be purged",
                ));
            }
        }
        Ok(())
    }
}

/// A generic section: its key under `message_store`, its keys, and its node form.
pub(crate) trait GenericSection: Sized {
    /// The section's key (`retry`).
    const KEY: &'static str;

    /// The keys of the section.
    fn keys() -> Vec<&'static str>;

    /// The section as a node (to put file or environment values over it).
    fn to_node(&self) -> Result<ConfigNode>;

    /// The section read from a node.
    fn from_node(node: &ConfigNode) -> std::result::Result<Self, ConfigError>;
}

/// A section that is exactly one serde type.
macro_rules! serde_section {
    ($ty:ty, $key:literal) => {
        impl GenericSection for $ty {
            const KEY: &'static str = $key;

            fn keys() -> Vec<&'static str> {
                field_names::<$ty>().to_vec()
            }

            fn to_node(&self) -> Result<ConfigNode> {
                ConfigNode::from_serialize($key, self)
            }

            fn from_node(node: &ConfigNode) -> std::result::Result<Self, ConfigError> {
                node.deserialize()
            }
        }
    };
}

serde_section!(RetryConfig, "retry");
serde_section!(SearchOptions, "search");

/// The part of a mapping other than `key`, and `key`'s value.
fn split(node: &ConfigNode, key: &str) -> (ConfigNode, Option<ConfigNode>) {
    let mut rest = node.clone();
    let taken = rest.remove(key);
    (rest, taken)
}

/// A mapping read as `T` (an error for anything else, before `key` is taken out).
fn mapping<T: serde::de::DeserializeOwned>(
    node: &ConfigNode,
    key: &str,
) -> std::result::Result<(T, Option<ConfigNode>), ConfigError> {
    if node.entries().is_none() {
        // Let serde report the wrong type.
        node.deserialize::<T>()?;
    }
    let (rest, taken) = split(node, key);
    Ok((rest.deserialize()?, taken))
}

/// `value` of `key` read as `T`, with `key` in the error path.
fn entry<T: serde::de::DeserializeOwned>(
    key: &str,
    value: &ConfigNode,
) -> std::result::Result<T, ConfigError> {
    let mut one = ConfigNode::map(value.origin.clone());
    one.set(key, value.clone());
    let mut map: std::collections::BTreeMap<String, T> = one.deserialize()?;
    map.remove(key)
        .ok_or_else(|| <ConfigError as serde::de::Error>::custom("missing"))
}

impl GenericSection for StreamingOptions {
    const KEY: &'static str = "streaming";

    fn keys() -> Vec<&'static str> {
        let mut keys = vec!["enabled"];
        keys.extend(field_names::<StreamConfig>());
        keys
    }

    fn to_node(&self) -> Result<ConfigNode> {
        let mut node = ConfigNode::from_serialize(Self::KEY, &self.config)?;
        node.set(
            "enabled",
            ConfigNode::new(ConfigValue::Bool(self.enabled), node.origin.clone()),
        );
        Ok(node)
    }

    fn from_node(node: &ConfigNode) -> std::result::Result<Self, ConfigError> {
        let (config, enabled) = mapping::<StreamConfig>(node, "enabled")?;
        let enabled = match enabled {
            Some(value) => entry::<bool>("enabled", &value)?,
            None => true,
        };
        Ok(Self { enabled, config })
    }
}

impl GenericSection for RetentionOptions {
    const KEY: &'static str = "retention";

    fn keys() -> Vec<&'static str> {
        let mut keys = field_names::<RetentionPolicy>().to_vec();
        keys.push("interval");
        keys
    }

    fn to_node(&self) -> Result<ConfigNode> {
        let mut node = ConfigNode::from_serialize(Self::KEY, &self.policy)?;
        if let Some(interval) = self.interval {
            node.set(
                "interval",
                ConfigNode::text(format_duration(interval), node.origin.clone()),
            );
        }
        Ok(node)
    }

    fn from_node(node: &ConfigNode) -> std::result::Result<Self, ConfigError> {
        #[derive(serde::Deserialize)]
        struct Interval(#[serde(with = "serde_opt_duration")] Option<Duration>);
        let (policy, interval) = mapping::<RetentionPolicy>(node, "interval")?;
        let interval = match interval {
            Some(value) => entry::<Interval>("interval", &value)?.0,
            None => None,
        };
        Ok(Self { policy, interval })
    }
}
