//! In-process chat message store for hotplex-storage: the reference model of its semantics.
//!
//! [`MemoryStore`] implements every store trait of `hotplex-storage-core` with the exact
//! semantics the SQL backends share (`docs/semantics.md`): validation through
//! [`prepare_message`](hotplex_storage_core::prepare_message), UUIDv7 ids, microsecond
//! timestamps, a strictly increasing `seq`, idempotent re-stores, atomic batches, keyset
//! cursors, soft delete and purges, and session metas kept in step with every write. It is
//! what differential tests compare the SQL backends against, and a fine store for tests and
//! ephemeral bots. Nothing is persisted.
//!
//! ```
//! use hotplex_storage_core::{
//!     ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, SessionStore,
//!     StoreOutcome, WriteOnlyStore,
//! };
//! use hotplex_storage_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> hotplex_storage_core::Result<()> {
//! let store = MemoryStore::new();
//! store.initialize().await?;
//!
//! let question = ChatAppMessage::user("slack:U1:C1", "What is WAL?")
//!     .with_platform("slack")
//!     .with_user("U1");
//! let receipt = store.store_user_message(&question).await?;
//! assert_eq!(receipt.outcome, StoreOutcome::Stored);
//! store
//!     .store_bot_response(&ChatAppMessage::bot("slack:U1:C1", "Write-ahead logging."))
//!     .await?;
//!
//! // A retry of the same id changes nothing.
//! let retry = question.with_id(receipt.id.clone());
//! assert_eq!(store.store_user_message(&retry).await?.outcome, StoreOutcome::AlreadyStored);
//!
//! let newest = store.list(&MessageQuery::for_session("slack:U1:C1").with_limit(50)).await?;
//! assert_eq!(newest[0].content, "Write-ahead logging.");
//! assert_eq!(store.get_session_meta("slack:U1:C1").await?.message_count, 2);
//! assert_eq!(store.list_user_sessions("slack", "U1").await?, ["slack:U1:C1"]);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "serde")]
mod factory;
mod state;
mod store;

#[cfg(feature = "serde")]
pub use factory::{MemoryConfig, factory};
pub use store::{MemoryStore, NAME};

/// This crate's version, reported by [`MemoryStore`]'s `version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
