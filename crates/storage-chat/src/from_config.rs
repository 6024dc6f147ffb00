//! [`MessageStorePlugin::from_config`]: a plugin over the store a [`StorageConfig`] describes.

use hotplex_storage_core::Result;
use hotplex_storage_registry::StorageConfig;

use crate::{MessageStorePlugin, PluginConfig};

impl MessageStorePlugin {
    /// Opens the store `config` describes (`hotplex_storage_registry::open`: backend,
    /// initialize, strategy, retry, retention) and wraps it in a plugin that streams bot
    /// responses when `streaming.enabled`. The plugin adds no strategy or retry of its own:
    /// the opened stack already applies the configured ones (two retry layers would multiply
    /// the attempts).
    pub async fn from_config(config: &StorageConfig) -> Result<Self> {
        let store = hotplex_storage_registry::open(config).await?;
        Self::new(
            store,
            PluginConfig::from_parts(None, config.stream_config(), None)?,
        )
    }
}
