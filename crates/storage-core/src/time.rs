//! Microsecond timestamps: the precision every backend stores and returns.

use chrono::{DateTime, TimeZone, Utc};

use crate::{Result, StorageError};

/// Drops sub-microsecond precision, so that a timestamp survives every backend unchanged.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    from_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The current time, truncated to microseconds.
pub fn now_micros() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

/// Microseconds since the Unix epoch: the integer form SQL backends store.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Microseconds since the Unix epoch, rounded up: the smallest stored (microsecond) timestamp
/// that is not before `t`. SQL backends compare with it where a bound is inclusive from below
/// (`start_time`) or exclusive from above (`purge_deleted_before`'s cutoff), so that a bound
/// with sub-microsecond precision means exactly what it does in memory.
pub fn to_micros_ceil(t: DateTime<Utc>) -> i64 {
    let floor = t.timestamp_micros();
    if t.timestamp_subsec_nanos().is_multiple_of(1_000) {
        floor
    } else {
        floor.saturating_add(1)
    }
}

/// The timestamp `micros` microseconds after the Unix epoch.
///
/// Fails with [`StorageError::Query`] for values outside chrono's range (a corrupt column).
pub fn from_micros(micros: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_micros(micros).single().ok_or_else(|| {
        StorageError::query("decode timestamp", format!("{micros} µs is out of range"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_and_truncation() {
        let t = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        let truncated = truncate_to_micros(t);
        assert_eq!(truncated.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(from_micros(to_micros(truncated)).unwrap(), truncated);
        assert!(from_micros(i64::MAX).is_err());
        assert_eq!(to_micros_ceil(t), to_micros(t) + 1);
        assert_eq!(to_micros_ceil(truncated), to_micros(truncated));
    }
}
