//! PostgreSQL backend of hotplex-storage.
//!
//! [`PostgresStore`] implements the store traits on a real PostgreSQL server through the
//! blocking `postgres` driver (every call on `spawn_blocking`) and an r2d2 pool whose
//! connections are checked before use:
//!
//! - **Level 1**: one `messages` table. **Level 2**: `messages` range-partitioned by month on
//!   `created_at`, with `message_ids` keeping ids unique across partitions, months created
//!   ahead and on demand, and a DEFAULT partition as the last resort.
//! - A message (or a whole batch) and its session metas are written by one statement: one
//!   transaction, one round trip.
//! - Versioned, forward-only migrations with checksums, serialised by a session advisory lock
//!   ([`SCHEMA_VERSION`]).
//! - `search` reads a `pg_trgm` GIN index over `content_folded` (the content through core's
//!   `fold`, written with every message); migration 2 creates it, or names the privilege and
//!   the statement a DBA runs when the role may not create the extension.
//! - Everything lives in the configured schema (default `public`), so two applications share a
//!   database without seeing each other.
//!
//! Settings are in `docs/configuration.md`, tables, partitions and the search index in
//! `docs/schema.md`, upkeep in `docs/operations.md`.
//!
//! ```no_run
//! use hotplex_storage_core::ChatAppMessageStore;
//! use hotplex_storage_postgres::{PostgresConfig, PostgresStore};
//! # async fn demo() -> hotplex_storage_core::Result<()> {
//! let store = PostgresStore::new(PostgresConfig::from_dsn("postgres://app@db/chat")?.with_level(2))?;
//! store.initialize().await?;
//! # Ok(()) }
//! ```

mod backfill;
mod config;
mod connection;
mod error;
mod extension;
#[cfg(feature = "serde")]
mod factory;
mod migrations;
mod ops;
mod partitions;
mod query;
mod row;
mod search;
mod store;
mod writer;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_SCHEMA, MAX_CONNECT_TIMEOUT,
    MAX_MAX_CONNECTIONS, PostgresConfig,
};
#[cfg(feature = "serde")]
pub use factory::{PostgresSection, factory};
pub use migrations::SCHEMA_VERSION;
pub use store::{PARTITIONS_AHEAD, PostgresStore};

/// This crate's version, reported by `ChatAppMessageStore::version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
