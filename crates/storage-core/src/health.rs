//! [`HealthCheckResult`] and [`StorageMetrics`]: what a store reports about itself.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Overall health of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every check passed.
    Healthy,
    /// The store works but a check warned (e.g. near its size limit).
    Degraded,
    /// A check failed; the store cannot serve requests.
    Unhealthy,
}

/// Result of one named check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The check succeeded.
    Pass,
    /// The check succeeded with a warning.
    Warn,
    /// The check failed.
    Fail,
}

/// One named check of a health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Outcome.
    pub status: CheckStatus,
    /// Human-readable detail.
    pub message: String,
    /// How long the check took (serialised as integer nanoseconds, like the Go plugin).
    #[serde(with = "duration_nanos")]
    pub latency: Duration,
}

/// A store's health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckResult {
    /// Worst status of all checks.
    pub status: HealthStatus,
    /// Total time the report took (integer nanoseconds on the wire).
    #[serde(with = "duration_nanos")]
    pub latency: Duration,
    /// When the report was made.
    pub timestamp: DateTime<Utc>,
    /// Named checks (`query`, `size`, `writer`, …).
    pub checks: BTreeMap<String, Check>,
}

impl HealthCheckResult {
    /// A report built from named checks; the status is derived from the worst check.
    pub fn from_checks(checks: BTreeMap<String, Check>, latency: Duration) -> Self {
        let status = if checks.values().any(|c| c.status == CheckStatus::Fail) {
            HealthStatus::Unhealthy
        } else if checks.values().any(|c| c.status == CheckStatus::Warn) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Healthy
        };
        Self {
            status,
            latency,
            timestamp: Utc::now(),
            checks,
        }
    }

    /// True when the status is `Healthy`.
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }
}

/// Counters a store reports about its contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageMetrics {
    /// Backend name (`memory`, `sqlite`, …).
    pub backend: String,
    /// Live (non-deleted) messages.
    pub total_messages: u64,
    /// Soft-deleted messages not yet purged.
    pub deleted_messages: u64,
    /// Sessions with live messages (sessions that have a [`SessionMeta`](crate::SessionMeta)).
    pub total_sessions: u64,
    /// Bytes the store occupies (file size for SQLite, an estimate in memory).
    pub storage_size_bytes: u64,
    /// Time since the store was created (integer nanoseconds on the wire).
    #[serde(with = "duration_nanos")]
    pub uptime: Duration,
    /// Backend-specific counters (`commits`, `group_commit_batches`, …).
    pub extra: BTreeMap<String, u64>,
}

mod duration_nanos {
    //! Serde for [`Duration`] as integer nanoseconds (saturating at `u64::MAX`).

    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: CheckStatus) -> Check {
        Check {
            status,
            message: String::new(),
            latency: Duration::from_micros(3),
        }
    }

    #[test]
    fn status_is_the_worst_check() {
        let mut checks = BTreeMap::from([("query".to_owned(), check(CheckStatus::Pass))]);
        assert!(HealthCheckResult::from_checks(checks.clone(), Duration::ZERO).is_healthy());
        checks.insert("size".into(), check(CheckStatus::Warn));
        let r = HealthCheckResult::from_checks(checks.clone(), Duration::ZERO);
        assert_eq!(r.status, HealthStatus::Degraded);
        checks.insert("writer".into(), check(CheckStatus::Fail));
        let r = HealthCheckResult::from_checks(checks, Duration::from_millis(1));
        assert_eq!(r.status, HealthStatus::Unhealthy);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["latency"], 1_000_000);
        assert_eq!(json["status"], "unhealthy");
    }
}
