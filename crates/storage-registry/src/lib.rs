//! Registry and configuration of hotplex-storage: pick a backend by name, configure it from
//! YAML and `HOTPLEX_MESSAGE_STORE_*` variables, and [`open`] the assembled stack.
//!
//! - [`PluginRegistry`]: an immutable name → [`BackendFactory`] map built from the cargo
//!   features `memory`, `sqlite` (both default) and `postgres`, each factory brought by its
//!   backend crate; an unknown name is `UnsupportedType` listing the compiled-in names, never
//!   a fallback.
//! - [`StorageConfig`]: the Go plugin's `message_store:` block (plus `retention:`), from
//!   [`StorageConfig::from_yaml_str`] / [`from_yaml_file`](StorageConfig::from_yaml_file),
//!   then [`with_env`](StorageConfig::with_env). The registry defines only the generic keys;
//!   each backend's section is that backend's config struct. Every key: `docs/configuration.md`.
//! - [`open`]: backend → initialize → strategy → retry, plus the retention task when
//!   `retention.interval` is set; [`build`] assembles the same stack without initializing.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hotplex_storage_core::{ChatAppMessage, WriteOnlyStore};
//! use hotplex_storage_registry::{StorageConfig, open};
//! let cfg = StorageConfig::from_yaml_str("message_store:\n  type: memory\n")?
//!     .with_env(|_| None)?;
//! let store = open(&cfg).await?;
//! store.store_user_message(&ChatAppMessage::user("slack:U1:C1", "hello")).await?;
//! store.close().await?;
//! # Ok::<(), hotplex_storage_core::StorageError>(()) }).unwrap();
//! ```

mod config;
mod factories;
mod open;
mod registry;
mod retention_task;

pub use config::{ENV_PREFIX, ROOT, RetentionOptions, StorageConfig, StreamingOptions, env_name};
pub use hotplex_storage_core::config::{
    BackendConfig, BackendContext, BackendFactory, ConfigFactory, ConfigNode, ConfigValue,
    SearchOptions, expand_path, format_duration, parse_duration,
};
pub use open::{build, build_with, open, open_with, stack};
pub use registry::PluginRegistry;
pub use retention_task::RetainingStore;

/// The Go plugin's SQLite database, read-only, for `hotplex_storage_core::import_go_rows`
/// (feature `sqlite`): re-exported so that the CLI needs no backend dependency.
#[cfg(feature = "sqlite")]
pub use hotplex_storage_sqlite::{GoDatabase, GoDatabaseSummary};
