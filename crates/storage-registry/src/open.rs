//! [`open`], [`build`] and [`stack`]: a [`StorageConfig`] turned into the store stack
//! backend → strategy → retry ([`stack`], the one list of layers), initialized by [`open`]
//! (plus the retention task when configured).

use std::sync::Arc;

use hotplex_storage_core::{
    ChatAppMessageStore, Result, StorageError, StoreStack, StrategyLayer, strategy_by_name,
};
use hotplex_storage_stream::RetryLayer;

use crate::retention_task::RetainingStore;
use crate::{PluginRegistry, StorageConfig};

/// [`open_with`] the [global](PluginRegistry::global) registry.
pub async fn open(cfg: &StorageConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
    open_with(PluginRegistry::global(), cfg).await
}

/// Builds the stack ([`build_with`]), initializes it (creating or migrating the schema), and,
/// when `retention.interval` is set, starts a background task applying the retention policy
/// at once and then every interval; closing the returned store stops that task and waits for
/// it before closing the backend. Needs a Tokio runtime.
pub async fn open_with(
    registry: &PluginRegistry,
    cfg: &StorageConfig,
) -> Result<Arc<dyn ChatAppMessageStore>> {
    let store = build_with(registry, cfg)?;
    if let Err(e) = store.initialize().await {
        // Release whatever the backend holds; the initialize error is the one to report.
        let _ = store.close().await;
        return Err(e);
    }
    tracing::info!(
        backend = store.name(),
        strategy = %cfg.strategy,
        retention = cfg.retention.interval.is_some(),
        "message store opened"
    );
    Ok(match cfg.retention.interval {
        Some(interval) => Arc::new(RetainingStore::start(store, cfg.retention.policy, interval)),
        None => store,
    })
}

/// [`build_with`] the [global](PluginRegistry::global) registry.
pub fn build(cfg: &StorageConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
    build_with(PluginRegistry::global(), cfg)
}

/// Validates `cfg` and assembles backend → strategy → retry **without** initializing (no
/// I/O): for tools that inspect a database without migrating it, such as
/// `hotplex-storage migrate --status`. `enabled: false` is `InvalidConfig` naming
/// `message_store.enabled`.
pub fn build_with(
    registry: &PluginRegistry,
    cfg: &StorageConfig,
) -> Result<Arc<dyn ChatAppMessageStore>> {
    cfg.validate()?;
    if !cfg.enabled {
        return Err(StorageError::invalid_config(
            format!("{}.enabled", crate::ROOT),
            "message storage is disabled (enabled: false); set it to true to open a store",
        ));
    }
    let factory = registry.factory(&cfg.store_type)?;
    let backend = factory
        .create(
            &cfg.section_for(&**factory),
            &cfg.backend_context(factory.name()),
        )
        .map_err(crate::config::rooted)?;
    stack(cfg)?.build(backend)
}

/// The layers `cfg` puts over its backend, innermost first: the strategy
/// (`strategy:<name>`), then retries (`retry`). [`build_with`] applies them; this is the one
/// place that lists them. A [`MessageStorePlugin`](https://docs.rs/hotplex-storage-chat) over
/// the result adds only its stream buffer.
pub fn stack(cfg: &StorageConfig) -> Result<StoreStack> {
    let strategy = strategy_by_name(&cfg.strategy)?;
    let retry = RetryLayer::new(cfg.retry.clone()).map_err(crate::config::rooted)?;
    Ok(StoreStack::new()
        .layer(StrategyLayer::new(strategy))
        .layer(retry))
}
