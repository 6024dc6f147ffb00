//! [`MessageStorePlugin::from_config`]: a plugin over the store a [`StorageConfig`] describes.

use hotplex_storage_core::Result;
use hotplex_storage_registry::StorageConfig;

use crate::{MessageStorePlugin, PluginConfig};

impl MessageStorePlugin {
    /// Opens the store `config` describes (`hotplex_storage_registry::open`: backend,
    /// initialize, the layers of `hotplex_storage_registry::stack`, retention) and wraps it in
    /// a plugin that streams bot responses when `streaming.enabled`.
    pub async fn from_config(config: &StorageConfig) -> Result<Self> {
        let store = hotplex_storage_registry::open(config).await?;
        let plugin = PluginConfig {
            streaming: config.stream_config(),
        };
        Self::new(store, plugin)
    }
}
