//! [`PluginConfig`]: what a [`MessageStorePlugin`](crate::MessageStorePlugin) adds over the
//! store stack it is given — the stream buffer, on or off.

use hotplex_storage_core::Result;
use hotplex_storage_stream::StreamConfig;

/// Whether bot responses go through the stream buffer. The strategy and retries are layers of
/// the store stack the plugin is given (`hotplex_storage_registry::open`, or a
/// [`StoreStack`](hotplex_storage_core::StoreStack) of your own), never applied again here.
/// The default is the Go plugin's: streaming off.
///
/// ```
/// use hotplex_storage_chat::PluginConfig;
/// use hotplex_storage_stream::StreamConfig;
/// let cfg = PluginConfig::new().with_streaming(StreamConfig::default());
/// assert!(cfg.validate().is_ok());
/// assert!(PluginConfig::new().streaming.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PluginConfig {
    /// `Some` turns streaming on: bot responses and streams go through a
    /// [`StreamMessageStore`](hotplex_storage_stream::StreamMessageStore) with this
    /// configuration. Default `None` (off, as in the Go plugin).
    pub streaming: Option<StreamConfig>,
}

impl PluginConfig {
    /// The defaults: streaming off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns streaming on with `config`.
    #[must_use]
    pub fn with_streaming(mut self, config: StreamConfig) -> Self {
        self.streaming = Some(config);
        self
    }

    /// Turns streaming off.
    #[must_use]
    pub fn without_streaming(mut self) -> Self {
        self.streaming = None;
        self
    }

    /// Checks the stream configuration; the error names the key (`streaming.timeout`, …).
    pub fn validate(&self) -> Result<()> {
        match &self.streaming {
            Some(streaming) => streaming.validate(),
            None => Ok(()),
        }
    }
}
