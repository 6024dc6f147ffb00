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
//! # Guarantees of [`StreamMessageStore`]
//!
//! - **Every chunk accepted with `Ok` is persisted exactly once, in order**: in the completed
//!   message, or — if the stream expires, is aborted or the store is closed — in one message
//!   marked `metadata.stream_status = "interrupted"` with `stream_reason` `expired`,
//!   `aborted` or `closed`. Nothing is dropped silently: a refused chunk gets an error.
//! - **Accepted means storable.** A stream's template is validated against
//!   [`StreamConfig::limits`] as the largest row the stream could ever write — every
//!   `stream_*` key present at its longest value, a 256-byte key, content of
//!   `max_buffer_bytes` (which `validate()` keeps within `limits.max_content_bytes`). A
//!   template without that room refuses the chunk (`InvalidMessage`, nothing accepted).
//!   `limits` must not exceed the inner store's limits; if it does and the store refuses an
//!   interrupted row as invalid, a minimal row (session, content, `stream_status`,
//!   `stream_reason`, `stream_id`) is stored instead, so accepted content still lands.
//! - **The one exception is the inner store's strategy**: a
//!   [`StrategyStore`](hotplex_storage_core::StrategyStore) that declines the message type
//!   answers `Filtered`. That is its decision, not a loss: the stream leaves the buffer, the
//!   `Filtered` receipt is returned to the `on_stream_complete` caller, the row is counted in
//!   [`StreamMetrics::filtered`] (not in `flushed`) and logged as a warning with the key and
//!   the message type.
//! - **Capacity is checked only when a stream starts** (its first chunk): at most
//!   `max_buffers` streams, and a new stream only while the buffered bytes (content whose
//!   write is in flight included, chunk rows of `all_chunks` too) plus its first chunk stay
//!   within `max_total_bytes`. When full, the oldest expired stream is stored as
//!   interrupted to make room; otherwise the overflow policy applies — `reject`
//!   (`CapacityExceeded`, nothing accepted) or `direct_store` (the chunk is stored at once as
//!   its own row, `stream_status = "interrupted"`, `stream_reason = "overflow"`, `stream_limit` naming the limit). Either way a
//!   `tracing` warning with the key, the limit and the policy is logged. The chunks of a running
//!   stream are never diverted. An overflow row whose write may have landed (transient error,
//!   exhausted retries, cancelled call) is remembered for its key (its id and a keyed hash of
//!   the chunk): the caller's retry of the same chunk is written as that row again, under its
//!   id (`AlreadyStored` if it had landed) — even if a buffer has become free — never a second
//!   row. The record is dropped when the row is stored, when the key sends another chunk or
//!   ends its stream, after `timeout`, and (oldest first, with a warning) beyond `max_buffers`
//!   records.
//! - **A buffer is bounded by `max_buffer_bytes`**: when appending a chunk would exceed it,
//!   the buffer so far is stored as a part (`stream_status = "partial"`, `stream_part` =
//!   1, 2, …) and the chunk starts the next part; the stream's last row carries the next
//!   `stream_part`. All rows of a stream share `stream_id`; their contents, in `stream_part`
//!   order, are the chunks in order. A chunk larger than `max_buffer_bytes` is refused. No
//!   row is ever empty: a stream finished when nothing was accepted after its last part
//!   writes no last row, and completing or aborting it answers with the last part's id and
//!   outcome `AlreadyStored` (its content is already persisted).
//! - **No store call while the buffer map's lock is held.** The map is one
//!   `std::sync::Mutex<HashMap<String, Entry>>`; a write takes its content out under the lock
//!   and runs outside it, so other keys, `metrics()` and the flusher never wait for I/O.
//! - **Per key, writes are serialised**: while a key's content is being written, further calls
//!   for that key wait for the outcome. A failed write puts the content back exactly as it
//!   was, and the next write of that unchanged content reuses its id, so a write whose
//!   acknowledgement was lost is answered `AlreadyStored` instead of creating a second row.
//!   Only a failure that may have landed (transient error, exhausted retries, abandoned
//!   write) leaves such a *pending* id; a permanent error (e.g. `StorageFull`) does not.
//!   A chunk accepted while content is pending first writes that content again as a part
//!   under the pending id (`AlreadyStored` if the earlier write had landed; that row then keeps
//!   the metadata it landed with, e.g. `interrupted`/`expired`) and starts the next part, so
//!   the content is stored exactly once. A stream thus continued after a failed write is
//!   stored in parts even when it is short.
//!   `AlreadyStored` counts as stored only for the stream's own ids (generated by it, or the
//!   pending id); an id another message already has — a completion template reusing a fixed
//!   id, with or without chunks buffered — fails with `InvalidMessage` on field `id` and the
//!   stream is kept. After a successful completion, the next chunk for the key starts a new
//!   stream.
//! - **A caller's id stays the caller's.** An id from a completion template is never reused
//!   for a part or an interrupted row (those get the stream's own ids), and `AlreadyStored`
//!   under it is accepted only by a completion retried under that id after a failure that may
//!   have landed. *Residual ambiguity*: in that case `AlreadyStored` cannot tell our landed
//!   write from a foreign row that already had the id; it is accepted, as
//!   [`RetryStore`] accepts it. Ending such a stream any other way (abort, expiry, close,
//!   another id) or continuing it with more chunks writes its content under a new id, a
//!   duplicate if the failed write had landed.
//! - **The stream's own pending id wins over a caller's id.** When the stream's content may
//!   already be stored under an id the stream generated (its completion, expiry flush, abort
//!   or part failed after possibly landing), a completion is written under that id even if
//!   the template carries another: the receipt names the stream's id (`AlreadyStored` if the
//!   earlier write had landed — that row keeps the metadata it landed with, e.g.
//!   `interrupted`/`expired` — `Stored` otherwise) and a warning is logged. Writing it under
//!   the caller's id would store the content twice. Callers that supply ids should read the
//!   id from the receipt.
//! - **Cancellation-safe**: writes of buffered content run in their own Tokio tasks; dropping
//!   a call's future neither cancels its write nor loses its content. The one write that runs
//!   in the caller's task is an `all_chunks` chunk row, whose chunk is not accepted until the
//!   call returns `Ok`: dropping that call cancels the write and the chunk is not accepted
//!   (never appended behind the caller's back). The row may have landed, so the stream keeps
//!   its id and position: the caller's retry of the chunk is answered `AlreadyStored` and the
//!   chunk joins the stream once.
//! - **`close()` flushes everything and waits** for every write in flight (a chunk row running
//!   in a caller's task included — an `all_chunks` chunk row or a `direct_store` overflow
//!   row: a call future that is kept but neither polled nor dropped holds its key and
//!   `close()` until it is, so drop a timed-out call's future); later calls fail
//!   with `Closed`, before their input is validated. It does not close the inner store.
//! - `storage_policy = all_chunks` stores each non-empty chunk as its own row
//!   (`stream_status = "chunk"`, `stream_seq` = 1, 2, … numbering only non-empty chunks)
//!   before `Ok` is returned; the final
//!   message (the merge) is stored as well. A chunk row's id is derived from `stream_id`,
//!   `stream_seq` and the chunk, so retrying a chunk whose row write failed after landing is
//!   answered `AlreadyStored`, never a second row. (When such a failure hits a stream's first
//!   chunk and may have landed, the empty stream is kept for the retry — also when a later
//!   attempt fails permanently; it holds a buffer slot until it is continued or ends. A retry
//!   after the stream ended (expired, completed, aborted, closed) starts a new stream, whose
//!   chunk row is a second one.)
//!
//! Rows carry the session fields of the stream's template: the one given to
//! [`on_stream_complete`](StreamMessageStore::on_stream_complete), else the one captured by
//! [`on_stream_chunk_with`](StreamMessageStore::on_stream_chunk_with) when the stream
//! started; only a stream started without any template falls back to the key as
//! `chat_session_id` (the Go plugin's behaviour). Rows are always live messages: a template's
//! `deleted`, `deleted_at`, `updated_at` and `seq` are ignored. Metadata keys are in [`keys`].
//!
//! # Guarantees of [`RetryStore`]
//!
//! Retries only [`is_transient`](hotplex_storage_core::StorageError::is_transient) errors;
//! assigns `id` and `created_at` once before the first attempt so that every attempt is the
//! same write (a retry after a lost acknowledgement yields `AlreadyStored`, never a second
//! row); no sleep after the last attempt; dropping the future stops it; ends with
//! `RetryExhausted { attempts, last }`; logs each retry through `tracing`.

mod buffer;
mod config;
mod job;
mod metrics;
mod record;
mod retry;
mod stream_store;

pub use config::{OverflowPolicy, StoragePolicy, StreamConfig};
pub use metrics::StreamMetrics;
pub use record::{InterruptReason, StreamStatus, keys};
pub use retry::{RetryConfig, RetryStore};
pub use stream_store::StreamMessageStore;
