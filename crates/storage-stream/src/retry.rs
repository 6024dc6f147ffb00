//! [`RetryStore`]: exponential backoff (the `backon` crate) around any store, retrying only
//! [`StorageError::is_transient`] failures, idempotently.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, ReadOnlyStore, Result, SessionStore, StorageError,
    StoreLayer, StoreReceipt, WriteOnlyStore, assign_identity, delegate_store, time,
};

/// How [`RetryStore`] repeats a failed call.
///
/// The defaults are the Go plugin's: 3 attempts, 100 ms, doubling, capped at 2 s — plus
/// jitter. Attempt `n + 1` starts `min(initial_delay × multiplier^(n-1), max_delay)` after
/// attempt `n` failed; with `jitter` a random 0–100 % is added to each delay, and the result is
/// still capped at `max_delay`. Nothing sleeps after the last attempt: three attempts without
/// jitter take 100 ms + 200 ms of waiting, not 700 ms.
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_stream::RetryConfig;
/// let cfg = RetryConfig { max_attempts: 5, jitter: false, ..RetryConfig::default() };
/// assert_eq!(cfg.initial_delay, Duration::from_millis(100));
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Total attempts, the first included (1 = never retry). Default 3; 1 to 100.
    pub max_attempts: u32,
    /// Delay before the second attempt. Default 100 ms; at most `max_delay`.
    #[serde(with = "hotplex_storage_core::config::serde_duration")]
    pub initial_delay: Duration,
    /// Upper bound of one delay. Default 2 s.
    #[serde(with = "hotplex_storage_core::config::serde_duration")]
    pub max_delay: Duration,
    /// Growth factor of the delay between attempts. Default 2.0; finite, from 1.0 to 100.
    pub multiplier: f64,
    /// Adds a random 0–100 % to each delay so that many callers do not retry in lockstep.
    /// Default true.
    pub jitter: bool,
}

impl RetryConfig {
    /// Default `max_attempts`: 3.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
    /// Default `initial_delay`: 100 ms.
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(100);
    /// Default `max_delay`: 2 s.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(2);
    /// Default `multiplier`: 2.0.
    pub const DEFAULT_MULTIPLIER: f64 = 2.0;
    /// The largest accepted `max_attempts`.
    pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
    /// The largest accepted `multiplier`.
    pub const MAX_MULTIPLIER: f64 = 100.0;

    /// Checks every value; the error names the offending key (`retry.max_attempts`, …).
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 || self.max_attempts > Self::MAX_ATTEMPTS_LIMIT {
            return Err(StorageError::invalid_config(
                "retry.max_attempts",
                format!(
                    "{} is not between 1 and {}",
                    self.max_attempts,
                    Self::MAX_ATTEMPTS_LIMIT
                ),
            ));
        }
        if !self.multiplier.is_finite()
            || self.multiplier < 1.0
            || self.multiplier > Self::MAX_MULTIPLIER
        {
            return Err(StorageError::invalid_config(
                "retry.multiplier",
                format!(
                    "{} is not between 1.0 and {}",
                    self.multiplier,
                    Self::MAX_MULTIPLIER
                ),
            ));
        }
        if self.initial_delay > self.max_delay {
            return Err(StorageError::invalid_config(
                "retry.initial_delay",
                format!(
                    "{:?} is greater than max_delay ({:?})",
                    self.initial_delay, self.max_delay
                ),
            ));
        }
        Ok(())
    }

    fn backoff(&self) -> ExponentialBuilder {
        // Validated: 1.0 ≤ multiplier ≤ 100, so the conversion to backon's f32 is exact enough.
        #[allow(clippy::cast_possible_truncation)]
        let factor = self.multiplier as f32;
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(factor)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            initial_delay: Self::DEFAULT_INITIAL_DELAY,
            max_delay: Self::DEFAULT_MAX_DELAY,
            multiplier: Self::DEFAULT_MULTIPLIER,
            jitter: true,
        }
    }
}

/// A decorator that repeats calls failing with a transient error
/// ([`StorageError::is_transient`]), with exponential backoff.
///
/// - Only transient errors are retried; any other error is returned unchanged at once.
/// - Before the first attempt of a write, every message gets its `id` (UUIDv7) and
///   `created_at` ([`assign_identity`]), on a copy: all attempts send the same identity, so an
///   attempt that follows a lost acknowledgement gets `AlreadyStored` and never writes a second
///   row. (`AlreadyStored` then means "stored by an earlier attempt of this call"; check
///   [`StoreReceipt::is_persisted`].)
/// - When the last attempt fails with a transient error the call ends with
///   [`StorageError::RetryExhausted`] carrying the number of attempts and the last error.
/// - When an attempt failed in a way that may have landed
///   ([`StorageError::may_have_landed`]) and a later one fails differently, the error
///   returned (and `RetryExhausted`'s `last`) is wrapped with [`StorageError::in_doubt`]:
///   the caller still learns that the write may be stored.
/// - No sleep follows the last attempt. Dropping the returned future stops the retries: no
///   further attempt starts.
/// - Each retry is logged with `tracing::warn!` (fields `op`, `attempt`, `max_attempts`,
///   `error`, `next_delay_ms`); exhaustion with `tracing::error!`.
///
/// Reads and session operations are retried the same way when the inner store offers them
/// (they are idempotent; a retried `delete_session` or purge whose first attempt committed
/// returns the count of its last attempt). `initialize` is retried; `close`, `health_check`
/// and `metrics` are passed through.
///
/// ```
/// use hotplex_storage_core::{ChatAppMessage, WriteOnlyStore, __doc_support::NullStore};
/// use hotplex_storage_stream::{RetryConfig, RetryStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hotplex_storage_core::Result<()> {
/// let store = RetryStore::new(NullStore, RetryConfig::default())?;
/// let receipt = store.store_user_message(&ChatAppMessage::user("s1", "hi")).await?;
/// assert!(receipt.is_persisted());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RetryStore<S> {
    inner: S,
    config: RetryConfig,
    backoff: ExponentialBuilder,
}

impl<S> RetryStore<S> {
    /// Wraps `inner`; fails with `InvalidConfig` when `config` is invalid.
    pub fn new(inner: S, config: RetryConfig) -> Result<Self> {
        config.validate()?;
        let backoff = config.backoff();
        Ok(Self {
            inner,
            config,
            backoff,
        })
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The configuration in force.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts are used up. An
    /// attempt that may have landed ([`StorageError::may_have_landed`]) makes the final error
    /// in doubt too ([`StorageError::in_doubt`]), whatever a later attempt reported.
    async fn run<T, F, Fut>(&self, op: &'static str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let attempts = AtomicU32::new(0);
        let in_doubt = AtomicBool::new(false);
        let max_attempts = self.config.max_attempts;
        let max_delay = self.config.max_delay;
        let outcome = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            attempt()
        })
        .retry(self.backoff)
        .when(StorageError::is_transient)
        // Jitter may push a delay past max_delay; the configured cap wins.
        .adjust(move |_, delay| delay.map(|d| d.min(max_delay)))
        .notify(|error, next_delay| {
            if error.may_have_landed() {
                in_doubt.store(true, Ordering::Relaxed);
            }
            tracing::warn!(
                op,
                attempt = attempts.load(Ordering::Relaxed),
                max_attempts,
                error = %error,
                next_delay_ms = u64::try_from(next_delay.as_millis()).unwrap_or(u64::MAX),
                "storage operation failed, will retry"
            );
        })
        .await;
        let last = match outcome {
            Ok(value) => return Ok(value),
            Err(last) if in_doubt.load(Ordering::Relaxed) => StorageError::in_doubt(last),
            Err(last) => last,
        };
        if !last.is_transient() {
            return Err(last);
        }
        let attempts = attempts.load(Ordering::Relaxed);
        tracing::error!(op, attempts, last_error = %last, "storage retry exhausted");
        Err(StorageError::RetryExhausted {
            attempts,
            last: Box::new(last),
        })
    }
}

fn with_identity(msg: &ChatAppMessage) -> ChatAppMessage {
    let mut msg = msg.clone();
    assign_identity(&mut msg, time::now_micros());
    msg
}

#[async_trait]
impl<S: WriteOnlyStore> WriteOnlyStore for RetryStore<S> {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        let msg = with_identity(msg);
        self.run("store_user_message", || self.inner.store_user_message(&msg))
            .await
    }

    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        let msg = with_identity(msg);
        self.run("store_bot_response", || self.inner.store_bot_response(&msg))
            .await
    }

    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        let now = time::now_micros();
        let msgs: Vec<ChatAppMessage> = msgs
            .iter()
            .map(|m| {
                let mut m = m.clone();
                assign_identity(&mut m, now);
                m
            })
            .collect();
        self.run("store_batch", || self.inner.store_batch(&msgs))
            .await
    }
}

delegate_store!([<S: ReadOnlyStore>] ReadOnlyStore for RetryStore<S> => field inner, wrap = run);
delegate_store!([<S: SessionStore>] SessionStore for RetryStore<S> => field inner, wrap = run);
delegate_store!(
    [<S: ChatAppMessageStore>] ChatAppMessageStore for RetryStore<S> => field inner,
    initialize = initialize_with_retry
);

/// The layer of a [`RetryStore`], for a
/// [`StoreStack`](hotplex_storage_core::StoreStack): its configuration is checked when the
/// layer is made.
#[derive(Debug, Clone)]
pub struct RetryLayer {
    config: RetryConfig,
}

impl RetryLayer {
    /// A layer retrying with `config`; `InvalidConfig` naming the key when it is invalid.
    pub fn new(config: RetryConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }
}

impl StoreLayer for RetryLayer {
    fn name(&self) -> String {
        "retry".to_owned()
    }

    fn layer(&self, inner: Arc<dyn ChatAppMessageStore>) -> Result<Arc<dyn ChatAppMessageStore>> {
        Ok(Arc::new(RetryStore::new(inner, self.config.clone())?))
    }
}

impl<S: ChatAppMessageStore> RetryStore<S> {
    async fn initialize_with_retry(&self) -> Result<()> {
        self.run("initialize", || self.inner.initialize()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(cfg: &RetryConfig) -> String {
        match cfg.validate() {
            Err(StorageError::InvalidConfig { key, .. }) => key,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_go_plugin() {
        let cfg = RetryConfig::default();
        assert_eq!(cfg.max_attempts, 3);
        assert_eq!(cfg.initial_delay, Duration::from_millis(100));
        assert_eq!(cfg.max_delay, Duration::from_secs(2));
        assert!((cfg.multiplier - 2.0).abs() < f64::EPSILON);
        assert!(cfg.jitter);
        cfg.validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        let base = RetryConfig::default();
        let zero = RetryConfig {
            max_attempts: 0,
            ..base.clone()
        };
        assert_eq!(key_of(&zero), "retry.max_attempts");
        let many = RetryConfig {
            max_attempts: RetryConfig::MAX_ATTEMPTS_LIMIT + 1,
            ..base.clone()
        };
        assert_eq!(key_of(&many), "retry.max_attempts");
        for multiplier in [0.5, f64::NAN, f64::INFINITY, 100.5] {
            let bad = RetryConfig {
                multiplier,
                ..base.clone()
            };
            assert_eq!(key_of(&bad), "retry.multiplier");
        }
        let inverted = RetryConfig {
            initial_delay: Duration::from_secs(3),
            ..base.clone()
        };
        assert_eq!(key_of(&inverted), "retry.initial_delay");
        assert!(RetryStore::new((), zero).is_err());
    }

    #[test]
    fn edges_are_accepted() {
        let edge = RetryConfig {
            max_attempts: 1,
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            multiplier: 1.0,
            jitter: false,
        };
        edge.validate().unwrap();
        let top = RetryConfig {
            max_attempts: RetryConfig::MAX_ATTEMPTS_LIMIT,
            multiplier: RetryConfig::MAX_MULTIPLIER,
            initial_delay: Duration::from_secs(2),
            ..RetryConfig::default()
        };
        top.validate().unwrap();
    }
}
