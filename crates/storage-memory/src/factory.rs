//! [`factory`]: the memory backend as the registry builds it (feature `serde`). Its section,
//! [`MemoryConfig`], has no keys: any key under `memory:` is an error.

use std::sync::Arc;

use hotplex_storage_core::config::{BackendConfig, ConfigFactory};
use hotplex_storage_core::{ChatAppMessageStore, Result};

use crate::MemoryStore;

/// The `memory:` section: empty (an in-process store needs no settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryConfig {}

impl BackendConfig for MemoryConfig {
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// The factory of `type: memory`: an empty in-process store.
pub fn factory() -> ConfigFactory<MemoryConfig> {
    ConfigFactory::new(crate::NAME, create)
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "the signature every factory shares"
)]
fn create(_config: MemoryConfig) -> Result<Arc<dyn ChatAppMessageStore>> {
    Ok(Arc::new(MemoryStore::new()))
}
