//! [`StoreLayer`] and [`StoreStack`]: the decorators of a store (strategy, retry, …) as layers,
//! and the one builder that applies them to a backend, each exactly once, in a stated order.

use std::fmt;
use std::sync::Arc;

use crate::{ChatAppMessageStore, Result, StorageStrategy, StrategyStore};

/// A decorator that can wrap any store: [`StrategyLayer`] here, `RetryLayer` in
/// `hotplex-storage-stream`, or a user's own (metrics, tracing, …).
pub trait StoreLayer: Send + Sync {
    /// A short name for logs and [`StoreStack::names`] (`strategy:default`, `retry`).
    fn name(&self) -> String;

    /// `inner` wrapped by this layer. Does no I/O.
    ///
    /// # Errors
    /// The layer's own configuration error, if it could not be checked earlier.
    fn layer(&self, inner: Arc<dyn ChatAppMessageStore>) -> Result<Arc<dyn ChatAppMessageStore>>;
}

/// An ordered list of [`StoreLayer`]s: [`build`](Self::build) wraps a backend with the first
/// layer, that with the second, and so on, so the last layer added is the outermost (the
/// first to see a call).
///
/// ```
/// use std::sync::Arc;
/// use hotplex_storage_core::{DefaultStrategy, StoreStack, StrategyLayer};
/// let stack = StoreStack::new().layer(StrategyLayer::new(Arc::new(DefaultStrategy)));
/// assert_eq!(stack.names(), ["strategy:default"]);
/// let store = stack.build(Arc::new(hotplex_storage_memory::MemoryStore::new()))?;
/// assert_eq!(store.name(), "memory");
/// # Ok::<(), hotplex_storage_core::StorageError>(())
/// ```
#[derive(Clone, Default)]
pub struct StoreStack {
    layers: Vec<Arc<dyn StoreLayer>>,
}

impl StoreStack {
    /// No layers: [`build`](Self::build) returns the backend itself.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `layer` outside the layers added before it.
    #[must_use]
    pub fn layer(self, layer: impl StoreLayer + 'static) -> Self {
        self.shared_layer(Arc::new(layer))
    }

    /// Adds a shared layer outside the layers added before it.
    #[must_use]
    pub fn shared_layer(mut self, layer: Arc<dyn StoreLayer>) -> Self {
        self.layers.push(layer);
        self
    }

    /// The layers' names, innermost first.
    pub fn names(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name()).collect()
    }

    /// `backend` wrapped by every layer once, innermost first. Does no I/O.
    ///
    /// # Errors
    /// The first layer's error; nothing is kept of a stack that failed.
    pub fn build(
        &self,
        backend: Arc<dyn ChatAppMessageStore>,
    ) -> Result<Arc<dyn ChatAppMessageStore>> {
        self.layers
            .iter()
            .try_fold(backend, |store, layer| layer.layer(store))
    }
}

impl fmt::Debug for StoreStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// The layer of a [`StrategyStore`]: applies a [`StorageStrategy`] to every write.
#[derive(Clone)]
pub struct StrategyLayer {
    strategy: Arc<dyn StorageStrategy>,
}

impl StrategyLayer {
    /// A layer applying `strategy` (e.g. from [`strategy_by_name`](crate::strategy_by_name)).
    pub fn new(strategy: Arc<dyn StorageStrategy>) -> Self {
        Self { strategy }
    }
}

impl StoreLayer for StrategyLayer {
    fn name(&self) -> String {
        format!("strategy:{}", self.strategy.name())
    }

    fn layer(&self, inner: Arc<dyn ChatAppMessageStore>) -> Result<Arc<dyn ChatAppMessageStore>> {
        Ok(Arc::new(StrategyStore::with_shared(
            inner,
            Arc::clone(&self.strategy),
        )))
    }
}
