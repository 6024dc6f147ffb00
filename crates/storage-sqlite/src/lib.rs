//! SQLite backend of hotplex-storage: [`SqliteStore`], configured by [`SqliteConfig`].
//!
//! - rusqlite with bundled SQLite; every connection in WAL mode with `busy_timeout`,
//!   `foreign_keys = ON` and the configured [`Synchronous`] mode (default `FULL`: an
//!   acknowledged message survives power loss).
//! - **Group commit**: one writer thread owns the write connection. Concurrent writes queue
//!   up, are committed together in one `BEGIN IMMEDIATE` transaction (a savepoint each, so one
//!   failing request never undoes the others), and each caller is acknowledged only after that
//!   commit. Throughput grows with concurrency instead of being capped by the fsync rate.
//! - Reads run on an r2d2 pool of `query_only` connections on `spawn_blocking` (for
//!   `:memory:`, on the writer's one connection). Nothing stalls the async executor.
//! - Versioned migrations recorded with checksums in `schema_migrations`; a database written
//!   by a newer build is refused ([`SCHEMA_VERSION`]). The schema is in `docs/schema.md`.
//! - `max_size_mb` enforced with `max_page_count`: the write that would exceed it fails with
//!   `StorageError::StorageFull` and the database stays intact. The WAL is scaled to it too
//!   (`wal_autocheckpoint`, `journal_size_limit`; see `docs/configuration.md`).
//! - `search`: an FTS5 `trigram` index over the folded content of live messages, kept in the
//!   transaction of every write (triggers queue rows, the writer indexes the queue once per
//!   commit); common terms are found by a short scan of the
//!   newest rows, rare ones through the index (`docs/schema.md`, "`message_search`").
//! - `backup_to` (of [`ChatAppMessageStore`](hotplex_storage_core::ChatAppMessageStore)): SQLite's
//!   online backup API, consistent while writers write.
//! - [`GoDatabase`]: the Go plugin's SQLite database, read-only and paged by rowid, for
//!   `hotplex_storage_core::import_go_rows`; [`GoPluginWriter`] writes one the way the Go
//!   plugin did (test support).
//! - Files are created with mode 0600, directories with 0700; `~` expands to `$HOME`
//!   ([`expand_home`]).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore,
//!     StoreOutcome, WriteOnlyStore};
//! use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
//!
//! let store = SqliteStore::new(SqliteConfig::in_memory())?;
//! store.initialize().await?;
//! let question = ChatAppMessage::user("slack:U1:C1", "Is this durable?").with_id("m1");
//! assert_eq!(store.store_user_message(&question).await?.outcome, StoreOutcome::Stored);
//! // A retry after a lost acknowledgement never duplicates.
//! assert_eq!(store.store_user_message(&question).await?.outcome, StoreOutcome::AlreadyStored);
//! assert_eq!(store.count(&MessageQuery::for_session("slack:U1:C1")).await?, 1);
//! store.close().await?;
//! # Ok::<(), hotplex_storage_core::StorageError>(()) }).unwrap();
//! ```

mod backup;
mod config;
mod connection;
mod error;
#[cfg(feature = "serde")]
mod factory;
mod functions;
mod go_fixture;
mod go_source;
mod migrations;
mod ops;
mod path;
mod query;
mod reader;
mod row;
mod search;
mod store;
mod writer;

pub use config::{MEMORY_PATH, SqliteConfig, Synchronous};
#[cfg(feature = "serde")]
pub use factory::factory;
pub use go_fixture::{GO_PLUGIN_DDL, GoPluginRow, GoPluginWriter};
pub use go_source::{GoDatabase, GoDatabaseSummary};
pub use migrations::SCHEMA_VERSION;
pub use path::{expand_home, home_dir};
pub use store::SqliteStore;

/// The `tracing` target of the events that report a migration's progress (fields `version`,
/// `done`, `total`: messages indexed so far and in all); the CLI `migrate` shows them as a bar.
pub const MIGRATION_PROGRESS_TARGET: &str = "hotplex_storage::migration_progress";

/// This crate's version, reported by [`SqliteStore`]'s `version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
