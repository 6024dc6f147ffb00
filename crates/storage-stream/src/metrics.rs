//! [`StreamMetrics`]: a snapshot of a stream store's buffers and counters.

use serde::{Deserialize, Serialize};

/// A consistent snapshot of a [`StreamMessageStore`](crate::StreamMessageStore), taken under its
/// lock by [`metrics`](crate::StreamMessageStore::metrics). Counters count since the store was
/// created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMetrics {
    /// Streams buffered now, including those whose write is in flight.
    pub active_buffers: u64,
    /// Bytes held in buffers now, including content whose write is in flight.
    pub buffered_bytes: u64,
    /// Chunks held in buffers now, including those whose write is in flight.
    pub buffered_chunks: u64,
    /// Writes of the store in flight now.
    pub in_flight_writes: u64,
    /// Messages written from buffers: completed, interrupted and partial.
    pub flushed: u64,
    /// Streams stored as complete by `on_stream_complete`.
    pub completed: u64,
    /// Streams stored as interrupted (expired, aborted or closed).
    pub interrupted: u64,
    /// Of `interrupted`: streams that expired (by the flusher, `flush_expired`, or to make room).
    pub expired: u64,
    /// Parts of over-long streams stored before their end (`stream_status = "partial"`).
    pub partial: u64,
    /// Chunk rows stored under `all_chunks` (`stream_status = "chunk"`).
    pub chunk_rows: u64,
    /// Chunks stored directly because the buffers were full (`stream_status = "interrupted"`,
    /// `stream_reason = "overflow"`).
    pub overflowed: u64,
    /// Chunks refused because the buffers were full (overflow policy `reject`) or the chunk was
    /// larger than `max_buffer_bytes`.
    pub rejected: u64,
    /// Store writes that failed (their content was kept, or the call that needed them failed).
    pub write_failures: u64,
    /// Chunks accepted with `Ok`.
    pub chunks_accepted: u64,
    /// Rows the inner store answered [`Filtered`](hotplex_storage_core::StoreOutcome::Filtered):
    /// a [`StrategyStore`](hotplex_storage_core::StrategyStore) declined their message type.
    /// Their content is not stored — by the configured strategy's decision — and they are not
    /// counted in `flushed`, `completed`, `interrupted`, `partial`, `chunk_rows` or
    /// `overflowed`. Each is logged as a warning with the stream key and the message type.
    pub filtered: u64,
    /// True once `close()` has been called.
    pub closed: bool,
}
