//! Registry and configuration of hotplex-storage: pick a backend by name, configure it from
//! YAML and `HOTPLEX_MESSAGE_STORE_*` variables, and [`open`] the assembled stack.
//!
//! - [`PluginRegistry`]: an immutable name → [`PluginFactory`] map built from the cargo
//!   features `memory`, `sqlite` (both default) and `postgres`; an unknown name is
//!   `UnsupportedType` listing the compiled-in names, never a fallback.
//! - [`StorageConfig`]: the Go plugin's `message_store:` block (plus `retention:`), from
//!   [`StorageConfig::from_yaml_str`] / [`from_yaml_file`](StorageConfig::from_yaml_file),
//!   then [`with_env`](StorageConfig::with_env). Every key: `docs/configuration.md`.
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
mod duration;
mod expand;
mod factories;
mod open;
mod registry;
mod retention_task;

pub use config::keys::{ConfigValue, ENV_PREFIX, Key};
pub use config::{
    PostgresOptions, ROOT, RetentionOptions, SqliteOptions, StorageConfig, StreamingOptions,
};
pub use duration::{format_duration, parse_duration};
pub use expand::expand_path;
pub use open::{build, build_with, open, open_with};
pub use registry::{PluginConfig, PluginFactory, PluginRegistry};
pub use retention_task::RetainingStore;

/// The Go plugin's SQLite database, read-only, for `hotplex_storage_core::import_go_rows`
/// (feature `sqlite`): re-exported so that the CLI needs no backend dependency.
#[cfg(feature = "sqlite")]
pub use hotplex_storage_sqlite::{GoDatabase, GoDatabaseSummary};
