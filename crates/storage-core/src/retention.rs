//! [`RetentionPolicy`]: how long messages are kept, applied through the store traits.
//!
//! `max_age` hard-deletes every message created more than that long ago (live or deleted,
//! with [`SessionStore::purge_messages_before`]); `deleted_grace` hard-deletes soft-deleted
//! messages deleted more than that long ago (with [`SessionStore::purge_deleted_before`]).
//! Session metas stay exact. Guarantees and operations: `docs/operations.md` "Retention".

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Result, SessionStore, StorageError};

/// How long messages are kept. Both limits are optional; a policy with neither does nothing.
///
/// ```
/// use std::time::Duration;
/// use hotplex_storage_core::RetentionPolicy;
/// let policy = RetentionPolicy::new()
///     .with_max_age(Duration::from_secs(90 * 86_400))
///     .with_deleted_grace(Duration::from_secs(7 * 86_400));
/// assert!(policy.validate().is_ok());
/// assert!(RetentionPolicy::new().with_max_age(Duration::ZERO).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Messages created longer ago than this are hard-deleted, live or not. `None`: kept.
    /// Must be > 0 and at most [`MAX_DURATION`](Self::MAX_DURATION).
    #[serde(with = "crate::config::serde_opt_duration")]
    pub max_age: Option<Duration>,
    /// Soft-deleted messages deleted longer ago than this are hard-deleted. `None`: kept.
    /// `0` purges every soft-deleted message. At most [`MAX_DURATION`](Self::MAX_DURATION).
    #[serde(with = "crate::config::serde_opt_duration")]
    pub deleted_grace: Option<Duration>,
}

/// What [`RetentionPolicy::apply`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Soft-deleted messages removed by `deleted_grace`.
    pub deleted_purged: u64,
    /// Messages removed by `max_age`.
    pub expired_purged: u64,
}

impl RetentionReport {
    /// Every message removed.
    pub fn total(&self) -> u64 {
        self.deleted_purged + self.expired_purged
    }
}

impl RetentionPolicy {
    /// The longest accepted duration: 100 years (36,500 days).
    pub const MAX_DURATION: Duration = Duration::from_hours(24 * 36_500);

    /// A policy that keeps everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_age`](Self::max_age).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Sets [`deleted_grace`](Self::deleted_grace).
    #[must_use]
    pub fn with_deleted_grace(mut self, deleted_grace: Duration) -> Self {
        self.deleted_grace = Some(deleted_grace);
        self
    }

    /// True when neither limit is set.
    pub fn is_empty(&self) -> bool {
        self.max_age.is_none() && self.deleted_grace.is_none()
    }

    /// Checks both limits; errors name `retention.max_age` or `retention.deleted_grace`.
    pub fn validate(&self) -> Result<()> {
        if let Some(age) = self.max_age {
            if age.is_zero() {
                return Err(StorageError::invalid_config(
                    "retention.max_age",
                    "must be greater than 0 (0 would delete every message)",
                ));
            }
            check_max("retention.max_age", age)?;
        }
        if let Some(grace) = self.deleted_grace {
            check_max("retention.deleted_grace", grace)?;
        }
        Ok(())
    }

    /// The `purge_messages_before` cutoff at `now`, if `max_age` is set.
    pub fn expiry_cutoff(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        self.max_age
            .map(|age| cutoff("retention.max_age", now, age))
            .transpose()
    }

    /// The `purge_deleted_before` cutoff at `now`, if `deleted_grace` is set.
    pub fn deleted_cutoff(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        self.deleted_grace
            .map(|grace| cutoff("retention.deleted_grace", now, grace))
            .transpose()
    }

    /// Applies the policy at `now`: first `deleted_grace`, then `max_age`. Validates first.
    pub async fn apply<S: SessionStore + ?Sized>(
        &self,
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport> {
        self.validate()?;
        let mut report = RetentionReport::default();
        if let Some(cutoff) = self.deleted_cutoff(now)? {
            report.deleted_purged = store.purge_deleted_before(cutoff).await?;
        }
        if let Some(cutoff) = self.expiry_cutoff(now)? {
            report.expired_purged = store.purge_messages_before(cutoff).await?;
        }
        Ok(report)
    }
}

fn check_max(key: &str, value: Duration) -> Result<()> {
    if value > RetentionPolicy::MAX_DURATION {
        return Err(StorageError::invalid_config(
            key,
            format!("{value:?} is longer than the limit of 36500 days"),
        ));
    }
    Ok(())
}

fn cutoff(key: &str, now: DateTime<Utc>, age: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .ok_or_else(|| {
            StorageError::invalid_config(key, format!("{age:?} before {now} is out of range"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_at_their_edges() {
        let max = RetentionPolicy::MAX_DURATION;
        assert!(RetentionPolicy::new().with_max_age(max).validate().is_ok());
        let err = RetentionPolicy::new()
            .with_max_age(max + Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("retention.max_age"), "{err}");
        assert!(
            RetentionPolicy::new()
                .with_max_age(Duration::from_micros(1))
                .validate()
                .is_ok()
        );
        let err = RetentionPolicy::new()
            .with_max_age(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert!(err.is_config_error());
        assert!(
            RetentionPolicy::new()
                .with_deleted_grace(Duration::ZERO)
                .validate()
                .is_ok()
        );
        let err = RetentionPolicy::new()
            .with_deleted_grace(max + Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("retention.deleted_grace"), "{err}");
    }

    #[test]
    fn cutoffs_are_now_minus_the_limits() {
        let now = Utc::now();
        let policy = RetentionPolicy::new()
            .with_max_age(Duration::from_mins(1))
            .with_deleted_grace(Duration::from_secs(5));
        assert_eq!(
            policy.expiry_cutoff(now).unwrap(),
            Some(now - chrono::Duration::seconds(60))
        );
        assert_eq!(
            policy.deleted_cutoff(now).unwrap(),
            Some(now - chrono::Duration::seconds(5))
        );
        assert_eq!(RetentionPolicy::new().expiry_cutoff(now).unwrap(), None);
        assert!(RetentionPolicy::new().is_empty());
        assert!(!policy.is_empty());
    }
}
