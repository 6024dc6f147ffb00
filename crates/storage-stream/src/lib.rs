//! Streaming and retrying decorators of hotplex-storage.
//!
//! - [`StreamMessageStore`] buffers the chunks of LLM token streams per key and stores each
//!   stream as one message through any [`WriteOnlyStore`](hotplex_storage_core::WriteOnlyStore).
//! - [`RetryStore`] repeats writes (and reads) that failed with a transient error, with
//!   exponential backoff, without ever writing a row twice.
//!
//! The usual stack is `StreamMessageStore → RetryStore → backend`:
//!
//! ```
//! use std::sync::Arc;
//! use hotplex_storage_core::{ChatAppMessage, WriteOnlyStore, __doc_support::NullStore};
//! use hotplex_storage_stream::{RetryConfig, RetryStore, StreamConfig, StreamMessageStore};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> hotplex_storage_core::Result<()> {
//! let backend = NullStore; // e.g. hotplex_storage_sqlite::SqliteStore
//! let retrying: Arc<dyn WriteOnlyStore> =
//!     Arc::new(RetryStore::new(backend, RetryConfig::default())?);
//! let streams = StreamMessageStore::new(retrying, StreamConfig::default())?;
//!
//! // The session fields of the answer, known when it starts.
//! let template = ChatAppMessage::bot("slack:U1:C1", "").with_platform("slack").with_user("U1");
//! let key = "response-42"; // opaque: a session id or a per-response id
//! for token in ["Write-", "ahead ", "logging."] {
//!     streams.on_stream_chunk_with(key, token, &template).await?;
//! }
//! let receipt = streams.on_stream_complete(key, &template).await?; // one row: "Write-ahead logging."
//! assert!(receipt.is_persisted());
//! streams.close().await?; // stores unfinished streams as interrupted, waits for writes
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! The "Streaming" tables of `docs/semantics.md` state them all. In short: every chunk accepted
//! with `Ok` is stored exactly once, in order (unless the inner store's strategy answers
//! `Filtered`); every row has an id derived from its stream (`UUIDv5`), so a retry of any write
//! is `AlreadyStored`, never a second row; no store call runs under the buffer lock.
//! [`RetryStore`] retries transient errors only, with one identity for all attempts, and keeps
//! [`may_have_landed`](hotplex_storage_core::StorageError::may_have_landed) across attempts.

mod config;
mod machine;
mod metrics;
mod record;
mod retry;
mod runner;
mod stream_store;

pub use config::{OverflowPolicy, StoragePolicy, StreamConfig};
pub use metrics::StreamMetrics;
pub use record::{InterruptReason, StreamStatus, keys};
pub use retry::{RetryConfig, RetryLayer, RetryStore};
pub use stream_store::StreamMessageStore;
