//! [`PluginConfig`]: the strategy, streaming and retry settings of a
//! [`MessageStorePlugin`](crate::MessageStorePlugin).

use std::fmt;
use std::sync::Arc;

use hotplex_storage_core::{DefaultStrategy, Result, StorageStrategy, strategy_by_name};
use hotplex_storage_stream::{RetryConfig, StreamConfig};

/// How a [`MessageStorePlugin`](crate::MessageStorePlugin) stores: which strategy filters
/// messages, whether bot responses go through the stream buffer, and how failed writes are
/// retried. The defaults are the Go plugin's: strategy `default`, streaming off, retries on
/// (3 attempts from 100 ms).
///
/// ```
/// use hotplex_storage_chat::PluginConfig;
/// use hotplex_storage_stream::StreamConfig;
/// let cfg = PluginConfig::new().with_streaming(StreamConfig::default());
/// assert!(cfg.validate().is_ok());
/// let named = PluginConfig::from_parts(Some("minimal"), None, None)?;
/// assert_eq!(named.strategy_name(), Some("minimal"));
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct PluginConfig {
    /// The strategy applied to every write of the plugin; `None` applies none (the store's own
    /// decides, e.g. a stack from `hotplex_storage_registry::open`, which already applies the
    /// configured one). Default [`DefaultStrategy`].
    pub strategy: Option<Arc<dyn StorageStrategy>>,
    /// `Some` turns streaming on: bot responses and streams go through a
    /// [`StreamMessageStore`](hotplex_storage_stream::StreamMessageStore) with this
    /// configuration. Default `None` (off, as in the Go plugin).
    pub streaming: Option<StreamConfig>,
    /// `Some` retries transient write failures through a
    /// [`RetryStore`](hotplex_storage_stream::RetryStore); `None` never retries (use it when
    /// the store already retries). Default `Some(RetryConfig::default())`.
    pub retry: Option<RetryConfig>,
}

impl PluginConfig {
    /// The defaults: strategy `default`, streaming off, retries on.
    pub fn new() -> Self {
        Self {
            strategy: Some(Arc::new(DefaultStrategy)),
            streaming: None,
            retry: Some(RetryConfig::default()),
        }
    }

    /// A configuration from its parts as the registry's `StorageConfig` holds them: a
    /// strategy name (`default`, `verbose`, `minimal`; `None` for no plugin-level strategy),
    /// the stream configuration when streaming is enabled, and the retry configuration when
    /// the plugin retries. Validated; an unknown strategy is `UnsupportedType` listing the
    /// names.
    pub fn from_parts(
        strategy_name: Option<&str>,
        streaming: Option<StreamConfig>,
        retry: Option<RetryConfig>,
    ) -> Result<Self> {
        let strategy = strategy_name.map(strategy_by_name).transpose()?;
        let cfg = Self {
            strategy,
            streaming,
            retry,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Uses `strategy` for every write.
    #[must_use]
    pub fn with_strategy(mut self, strategy: impl StorageStrategy + 'static) -> Self {
        self.strategy = Some(Arc::new(strategy));
        self
    }

    /// Uses a shared strategy (e.g. from [`strategy_by_name`]).
    #[must_use]
    pub fn with_shared_strategy(mut self, strategy: Arc<dyn StorageStrategy>) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Applies no plugin-level strategy.
    #[must_use]
    pub fn without_strategy(mut self) -> Self {
        self.strategy = None;
        self
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

    /// Retries with `config`.
    #[must_use]
    pub fn with_retry(mut self, config: RetryConfig) -> Self {
        self.retry = Some(config);
        self
    }

    /// Never retries.
    #[must_use]
    pub fn without_retry(mut self) -> Self {
        self.retry = None;
        self
    }

    /// The strategy's name, `None` without one.
    pub fn strategy_name(&self) -> Option<&str> {
        self.strategy.as_deref().map(StorageStrategy::name)
    }

    /// Checks the stream and retry configurations; the error names the key
    /// (`streaming.timeout`, `retry.max_attempts`, …).
    pub fn validate(&self) -> Result<()> {
        if let Some(streaming) = &self.streaming {
            streaming.validate()?;
        }
        if let Some(retry) = &self.retry {
            retry.validate()?;
        }
        Ok(())
    }
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfig")
            .field("strategy", &self.strategy_name())
            .field("streaming", &self.streaming)
            .field("retry", &self.retry)
            .finish()
    }
}
