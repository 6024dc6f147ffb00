//! Level 2's monthly partitions of `messages`: which month a row belongs to, and creating a
//! month before the first insert that needs it.
//!
//! A month is created under a transaction-scoped advisory lock (one key per schema), so
//! concurrent stores and processes create it once. When rows of that month already sit in the
//! DEFAULT partition (created while the month was missing), the plain `CREATE … PARTITION OF`
//! would fail; the rows are moved instead, in the same transaction: detach DEFAULT, create the
//! month, copy the rows into it, delete them from DEFAULT, attach DEFAULT again. Months outside
//! years 1–9999 are never created: their rows stay in DEFAULT.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use hotplex_storage_core::Result;
use postgres::Client;

use crate::error::from_pg;
use crate::migrations::lock_key;
use crate::row::MESSAGE_COLUMNS;

/// One calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month containing `t`.
    pub(crate) fn of(t: DateTime<Utc>) -> Self {
        Self {
            year: t.year(),
            month: t.month(),
        }
    }

    /// The first instant of this month, or `None` when it is not representable.
    fn start(self) -> Option<DateTime<Utc>> {
        let date = NaiveDate::from_ymd_opt(self.year, self.month, 1)?;
        Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
    }

    /// The month after this one.
    pub(crate) fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// True when the store creates a partition for this month (years 1–9999, so the bounds
    /// are plain ISO dates).
    fn is_partitioned(self) -> bool {
        (1..=9999).contains(&self.year) && !(self.year == 9999 && self.month == 12)
    }

    /// The partition's table name, e.g. `messages_p2026_11`.
    pub(crate) fn table(self) -> String {
        format!("messages_p{:04}_{:02}", self.year, self.month)
    }

    /// `[start, end)` of the month.
    fn bounds(self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.start()?;
        Some((start, start.checked_add_months(Months::new(1))?))
    }
}

/// The months this process knows to exist, and the creation of missing ones.
#[derive(Debug)]
pub(crate) struct Partitions {
    schema: String,
    known: Mutex<HashSet<Month>>,
}

impl Partitions {
    /// No months known yet, for `schema`.
    pub(crate) fn new(schema: &str) -> Self {
        Self {
            schema: schema.to_owned(),
            known: Mutex::new(HashSet::new()),
        }
    }

    /// Forgets every known month (after `close`, or when an operator dropped one).
    pub(crate) fn forget(&self) {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Ensures the month of every timestamp in `times` has a partition.
    pub(crate) fn ensure(
        &self,
        client: &mut Client,
        times: impl IntoIterator<Item = DateTime<Utc>>,
    ) -> Result<()> {
        let wanted: BTreeSet<Month> = times.into_iter().map(Month::of).collect();
        for month in wanted {
            if !month.is_partitioned() || self.is_known(month) {
                continue;
            }
            self.create(client, month)?;
            self.known
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(month);
        }
        Ok(())
    }

    /// Ensures the current month and the `ahead` following ones exist.
    pub(crate) fn ensure_ahead(
        &self,
        client: &mut Client,
        now: DateTime<Utc>,
        ahead: u32,
    ) -> Result<()> {
        let mut month = Month::of(now);
        let mut times = Vec::new();
        for _ in 0..=ahead {
            if let Some(start) = month.start() {
                times.push(start);
            }
            month = month.next();
        }
        self.ensure(client, times)
    }

    fn is_known(&self, month: Month) -> bool {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&month)
    }

    /// Creates `month` unless it exists, moving its rows out of DEFAULT first.
    fn create(&self, client: &mut Client, month: Month) -> Result<()> {
        let op = "create partition";
        let sql = |e| from_pg(op, e);
        let Some((start, end)) = month.bounds() else {
            return Ok(());
        };
        let table = month.table();
        let mut tx = client.transaction().map_err(sql)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&lock_key("partitions", &self.schema)],
        )
        .map_err(sql)?;
        let exists: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .map_err(sql)?
            .get(0);
        if exists {
            return tx.commit().map_err(sql);
        }
        let stranded: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM messages_default \
                 WHERE created_at >= $1 AND created_at < $2)",
                &[&start, &end],
            )
            .map_err(sql)?
            .get(0);
        // Bounds are computed dates (never user text); DDL takes no parameters.
        let bounds = format!(
            "FOR VALUES FROM ('{}') TO ('{}')",
            start.format("%Y-%m-%d %H:%M:%S+00"),
            end.format("%Y-%m-%d %H:%M:%S+00")
        );
        if stranded {
            tx.batch_execute(&format!(
                "ALTER TABLE messages DETACH PARTITION messages_default; \
                 CREATE TABLE {table} PARTITION OF messages {bounds};"
            ))
            .map_err(sql)?;
            let moved = tx
                .execute(
                    &format!(
                        "INSERT INTO {table} ({MESSAGE_COLUMNS}, content_folded) \
                         SELECT {MESSAGE_COLUMNS}, content_folded \
                         FROM messages_default WHERE created_at >= $1 AND created_at < $2"
                    ),
                    &[&start, &end],
                )
                .map_err(sql)?;
            tx.execute(
                "DELETE FROM messages_default WHERE created_at >= $1 AND created_at < $2",
                &[&start, &end],
            )
            .map_err(sql)?;
            tx.batch_execute("ALTER TABLE messages ATTACH PARTITION messages_default DEFAULT")
                .map_err(sql)?;
            tracing::info!(partition = %table, moved, "moved rows out of the DEFAULT partition");
        } else {
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table} PARTITION OF messages {bounds}"
            ))
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        tracing::debug!(partition = %table, "partition ready");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_name_bound_and_roll_over() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let m = Month::of(t);
        assert_eq!(m.table(), "messages_p2026_12");
        let (start, end) = m.bounds().unwrap();
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(m.next().table(), "messages_p2027_01");
        assert!(m.is_partitioned());
        assert!(!Month::of(Utc.with_ymd_and_hms(-5, 3, 1, 0, 0, 0).unwrap()).is_partitioned());
        assert!(
            !Month {
                year: 9999,
                month: 12
            }
            .is_partitioned()
        );
        assert!(
            Month {
                year: 9999,
                month: 11
            }
            .is_partitioned()
        );
    }
}
