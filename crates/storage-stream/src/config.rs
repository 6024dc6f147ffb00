//! [`StreamConfig`] and its policies: how many streams are buffered, how large they grow, and
//! what happens when a limit is reached.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hotplex_storage_core::{ChatAppMessage, Result, StorageError, ValidationLimits};
use serde::{Deserialize, Serialize};

/// Which rows a stream produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoragePolicy {
    /// One row per stream: the merged message, written when the stream completes (or is
    /// interrupted). Chunks live only in memory until then.
    #[default]
    CompleteOnly,
    /// Every chunk is also stored as its own row (`stream_status = "chunk"`, `stream_seq`) before
    /// `on_stream_chunk` returns `Ok`, so a crash loses nothing that was acknowledged; the merged
    /// message is still stored when the stream completes.
    AllChunks,
}

/// What happens to the first chunk of a new stream when the buffers are full
/// (`max_buffers` streams, or `max_total_bytes` bytes) and no expired buffer can be flushed
/// to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// The chunk is refused with [`StorageError::CapacityExceeded`]; nothing is accepted.
    Reject,
    /// The chunk is stored at once as its own row marked `stream_status = "interrupted"`,
    /// `stream_reason = "overflow"` (with the stream's template when one was given) and `Ok` is
    /// returned only after that write.
    #[default]
    DirectStore,
}

/// `as_str`, `Display` and `FromStr` of a policy from its configuration names; parsing is
/// case-insensitive and accepts `-` for `_`, and a wrong name is `InvalidConfig` on `$key`.
macro_rules! policy_names {
    ($ty:ident, $key:literal, $($variant:ident = $name:literal),+) => {
        impl $ty {
            #[doc = concat!("The configuration name:", $(" `", $name, "`"),+, ".")]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = StorageError;

            fn from_str(s: &str) -> Result<Self> {
                match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(StorageError::invalid_config(
                        $key,
                        format!("{s:?} is not one of {}", [$($name),+].join(", ")),
                    )),
                }
            }
        }
    };
}

policy_names!(
    StoragePolicy,
    "streaming.storage_policy",
    CompleteOnly = "complete_only",
    AllChunks = "all_chunks"
);
policy_names!(
    OverflowPolicy,
    "streaming.overflow",
    Reject = "reject",
    DirectStore = "direct_store"
);

/// Limits and policies of a [`StreamMessageStore`](crate::StreamMessageStore).
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_stream::{OverflowPolicy, StreamConfig};
/// let cfg = StreamConfig {
///     timeout: Duration::from_secs(120),
///     overflow: OverflowPolicy::Reject,
///     ..StreamConfig::default()
/// };
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// A stream whose last chunk is older than this is expired: the flusher stores it as
    /// interrupted (reason `expired`). Default 5 minutes. Must be > 0 and at most
    /// [`MAX_TIMEOUT`](Self::MAX_TIMEOUT) (1 day).
    #[serde(with = "hotplex_storage_core::config::serde_duration")]
    pub timeout: Duration,
    /// At most this many streams are buffered at once; checked when a stream starts.
    /// Default 1000. Must be ≥ 1.
    pub max_buffers: usize,
    /// Upper bound of one buffer and of one chunk, in bytes. When appending a chunk would make a
    /// buffer larger, the buffer so far is stored as a part (`stream_status = "partial"`) and
    /// the chunk starts the next part. A single chunk larger than this is refused. Default
    /// 1 MiB; must be between 1 and `limits.max_content_bytes` (4 MiB by default), so that
    /// every part and every merged message can be stored.
    pub max_buffer_bytes: usize,
    /// A new stream is admitted only while the bytes of all buffers plus its first chunk stay
    /// within this; checked when a stream starts. Default 256 MiB. Must be ≥ `max_buffer_bytes`.
    pub max_total_bytes: usize,
    /// Which rows a stream produces. Default [`StoragePolicy::CompleteOnly`].
    #[serde(with = "hotplex_storage_core::config::serde_from_str")]
    pub storage_policy: StoragePolicy,
    /// What to do with a new stream when the buffers are full. Default
    /// [`OverflowPolicy::DirectStore`].
    #[serde(with = "hotplex_storage_core::config::serde_from_str")]
    pub overflow: OverflowPolicy,
    /// How often the background flusher looks for expired streams. Default 30 s. Must be > 0
    /// and at most [`MAX_FLUSH_INTERVAL`](Self::MAX_FLUSH_INTERVAL) (1 day).
    #[serde(with = "hotplex_storage_core::config::serde_duration")]
    pub flush_interval: Duration,
    /// The validation limits every row of a stream is built to pass. A template is accepted
    /// only if the largest row a stream could build from it (every `stream_*` key present with
    /// its longest value, a 256-byte key, content of `max_buffer_bytes`) passes them, so a
    /// chunk accepted with `Ok` can always be stored. Default
    /// [`ValidationLimits::default()`], the limits of every backend. **Must not exceed the
    /// inner store's limits**: the stream store cannot see them.
    #[serde(skip)]
    pub limits: ValidationLimits,
}

impl StreamConfig {
    /// Default `timeout`: 5 minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(5);
    /// Default `max_buffers`: 1000.
    pub const DEFAULT_MAX_BUFFERS: usize = 1000;
    /// Default `max_buffer_bytes`: 1 MiB.
    pub const DEFAULT_MAX_BUFFER_BYTES: usize = 1024 * 1024;
    /// Default `max_total_bytes`: 256 MiB.
    pub const DEFAULT_MAX_TOTAL_BYTES: usize = 256 * 1024 * 1024;
    /// Default `flush_interval`: 30 s.
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(30);
    /// The largest accepted `max_buffer_bytes` under the default `limits`: the default content
    /// limit of a stored message. In general the bound is `limits.max_content_bytes`.
    pub const MAX_BUFFER_BYTES_LIMIT: usize = ValidationLimits::DEFAULT_MAX_CONTENT_BYTES;
    /// The largest accepted `timeout`: 1 day.
    pub const MAX_TIMEOUT: Duration = Duration::from_hours(24);
    /// The largest accepted `flush_interval`: 1 day.
    pub const MAX_FLUSH_INTERVAL: Duration = Duration::from_hours(24);

    /// Checks every value; the error names the offending key (`streaming.timeout`, …).
    pub fn validate(&self) -> Result<()> {
        check_duration("streaming.timeout", self.timeout, Self::MAX_TIMEOUT)?;
        if self.max_buffers == 0 {
            return Err(StorageError::invalid_config(
                "streaming.max_buffers",
                "must be at least 1",
            ));
        }
        if self.max_buffer_bytes == 0 {
            return Err(StorageError::invalid_config(
                "streaming.max_buffer_bytes",
                "must be at least 1",
            ));
        }
        if self.max_buffer_bytes > self.limits.max_content_bytes {
            return Err(StorageError::invalid_config(
                "streaming.max_buffer_bytes",
                format!(
                    "{} exceeds {} (limits.max_content_bytes, the content limit of one stored \
                     message)",
                    self.max_buffer_bytes, self.limits.max_content_bytes
                ),
            ));
        }
        if self.max_total_bytes < self.max_buffer_bytes {
            return Err(StorageError::invalid_config(
                "streaming.max_total_bytes",
                format!(
                    "{} is less than max_buffer_bytes ({})",
                    self.max_total_bytes, self.max_buffer_bytes
                ),
            ));
        }
        check_duration(
            "streaming.flush_interval",
            self.flush_interval,
            Self::MAX_FLUSH_INTERVAL,
        )?;
        // The rows of a stream started without a template: the key (up to 256 bytes) is their
        // chat_session_id. Templates are checked against the same limits when captured.
        let bare = ChatAppMessage::bot(crate::record::longest_key(), "");
        crate::record::check_largest_row(&bare, &self.limits).map_err(|e| {
            StorageError::invalid_config(
                "streaming.limits",
                format!("too small for the rows of a stream: {e}"),
            )
        })?;
        Ok(())
    }
}

fn check_duration(key: &str, value: Duration, max: Duration) -> Result<()> {
    if value.is_zero() {
        return Err(StorageError::invalid_config(
            key,
            "must be greater than zero",
        ));
    }
    if value > max {
        return Err(StorageError::invalid_config(
            key,
            format!("{value:?} exceeds the maximum of {max:?}"),
        ));
    }
    Ok(())
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            max_buffers: Self::DEFAULT_MAX_BUFFERS,
            max_buffer_bytes: Self::DEFAULT_MAX_BUFFER_BYTES,
            max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES,
            storage_policy: StoragePolicy::default(),
            overflow: OverflowPolicy::default(),
            flush_interval: Self::DEFAULT_FLUSH_INTERVAL,
            limits: ValidationLimits::default(),
        }
    }
}
