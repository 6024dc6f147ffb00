//! Versioned, forward-only schema migrations recorded with checksums in `schema_migrations`.
//!
//! Every migration is an embedded SQL file with a version and a name. [`migrate`] runs, in one
//! `BEGIN IMMEDIATE` transaction (so two processes opening one file never race): it creates
//! `schema_migrations` if needed, refuses a database whose schema is newer than this build or
//! whose applied migrations differ from this build's (checksum mismatch), then applies the
//! missing migrations in order and records each.
//!
//! A migration may have a data step run right after its SQL, in the same transaction:
//! migration 2 (`search_index`) fills the search index from the existing messages in batches of
//! [`BACKFILL_BATCH`] rows, reporting [`MigrationProgress`] after each.

use chrono::Utc;
use hotplex_storage_core::migration::{
    AppliedMigration, Migration, migration_status, pending_migrations,
};
use hotplex_storage_core::{MigrationStatus, Result, time};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::error::from_sqlite;

/// Every migration of this build, in version order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial_schema",
        sql: include_str!("migrations/0001_initial_schema.sql"),
    },
    Migration {
        version: 2,
        name: "search_index",
        sql: include_str!("migrations/0002_search_index.sql"),
    },
    Migration {
        version: 3,
        name: "search_queue",
        sql: include_str!("migrations/0003_search_queue.sql"),
    },
    Migration {
        version: 4,
        name: "search_index_compact",
        sql: include_str!("migrations/0004_search_index_compact.sql"),
    },
];

/// The schema version this build creates and understands (the last migration's version).
pub const SCHEMA_VERSION: i64 = 4;

/// Messages indexed per batch by the search index backfill.
pub(crate) const BACKFILL_BATCH: i64 = 10_000;

/// How far a migration's data step (the search index backfill) got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MigrationProgress {
    /// The migration running.
    pub(crate) version: i64,
    /// Rows processed so far.
    pub(crate) done: u64,
    /// Rows to process in all.
    pub(crate) total: u64,
}

/// The crate named in refusals.
const BACKEND: &str = "hotplex-storage-sqlite";

const CREATE_MIGRATIONS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    checksum   TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT;";

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MigrationReport {
    /// Versions applied by this call, in order.
    pub(crate) applied: Vec<i64>,
    /// The schema version after this call.
    pub(crate) version: i64,
}

/// Brings the database on `conn` to this build's schema; see the module documentation.
#[cfg(test)]
pub(crate) fn migrate(conn: &mut Connection) -> Result<MigrationReport> {
    migrate_with(conn, MIGRATIONS, &mut |_| {})
}

/// [`migrate`], calling `progress` as data steps advance.
pub(crate) fn migrate_with_progress(
    conn: &mut Connection,
    progress: &mut dyn FnMut(MigrationProgress),
) -> Result<MigrationReport> {
    migrate_with(conn, MIGRATIONS, progress)
}

/// Fills `message_search` with the folded content of every live message, oldest first, in
/// batches of `batch` rows; `progress` hears after each batch.
fn backfill_search_index(
    conn: &Connection,
    version: i64,
    batch: i64,
    progress: &mut dyn FnMut(MigrationProgress),
) -> rusqlite::Result<()> {
    let total: i64 =
        conn.query_row("SELECT count(*) FROM messages WHERE deleted = 0", [], |r| {
            r.get(0)
        })?;
    let mut report = MigrationProgress {
        version,
        done: 0,
        total: u64::try_from(total).unwrap_or(0),
    };
    progress(report);
    let mut last_seq = i64::MIN;
    let mut batch_end = conn.prepare(
        "SELECT max(seq) FROM (SELECT seq FROM messages WHERE deleted = 0 AND seq > ?1 \
         ORDER BY seq LIMIT ?2)",
    )?;
    let mut insert = conn.prepare(
        "INSERT INTO message_search (rowid, body) SELECT seq, hotplex_fold(content) \
         FROM messages WHERE deleted = 0 AND seq > ?1 AND seq <= ?2",
    )?;
    while let Some(end) =
        batch_end.query_row(params![last_seq, batch], |r| r.get::<_, Option<i64>>(0))?
    {
        let added = insert.execute(params![last_seq, end])?;
        report.done += u64::try_from(added).unwrap_or(0);
        progress(report);
        last_seq = end;
    }
    Ok(())
}

/// Runs the data step of `migration`, if it has one (inside the migration's transaction).
fn data_step(
    conn: &Connection,
    migration: &Migration,
    progress: &mut dyn FnMut(MigrationProgress),
) -> rusqlite::Result<()> {
    match (migration.version, migration.name) {
        (2, "search_index") | (4, "search_index_compact") => {
            backfill_search_index(conn, migration.version, BACKFILL_BATCH, progress)
        }
        _ => Ok(()),
    }
}

/// The history rows of the database on `conn`, oldest first (none before the first migrate).
fn applied(conn: &Connection) -> rusqlite::Result<Vec<AppliedMigration>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt =
        conn.prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")?;
    stmt.query_map([], |row| {
        Ok(AppliedMigration {
            version: row.get(0)?,
            name: row.get(1)?,
            checksum: row.get(2)?,
        })
    })
    .and_then(Iterator::collect)
}

/// The schema state of the database on `conn` (read only).
pub(crate) fn status(conn: &Connection) -> Result<MigrationStatus> {
    let history = applied(conn).map_err(|e| from_sqlite("migration_status", e))?;
    migration_status(BACKEND, MIGRATIONS, history)
}

/// [`migrate`] with an explicit list of migrations (tests use other lists).
pub(crate) fn migrate_with(
    conn: &mut Connection,
    migrations: &[Migration],
    progress: &mut dyn FnMut(MigrationProgress),
) -> Result<MigrationReport> {
    crate::functions::register(conn).map_err(|e| from_sqlite("migrate", e))?;
    let sql_error = |e| from_sqlite("migrate", e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    tx.execute_batch(CREATE_MIGRATIONS_TABLE)
        .map_err(sql_error)?;
    let history = applied(&tx).map_err(sql_error)?;
    let pending = pending_migrations(BACKEND, migrations, &history)?;
    let mut report = MigrationReport {
        applied: Vec::new(),
        version: history.iter().map(|a| a.version).max().unwrap_or(0),
    };
    for migration in pending {
        tx.execute_batch(migration.sql)
            .and_then(|()| data_step(&tx, migration, progress))
            .map_err(|e| {
                from_sqlite(
                    &format!(
                        "migrate to version {} ({})",
                        migration.version, migration.name
                    ),
                    e,
                )
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                migration.version,
                migration.name,
                migration.checksum(),
                time::to_micros(Utc::now())
            ],
        )
        .map_err(sql_error)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied sqlite schema migration"
        );
        report.applied.push(migration.version);
        report.version = migration.version;
    }
    tx.commit().map_err(sql_error)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotplex_storage_core::StorageError;

    #[test]
    fn versions_are_ordered_and_latest_is_schema_version() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(MIGRATIONS.first().map(|m| m.version), Some(1));
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    #[test]
    fn migrate_is_idempotent_and_incremental() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first = migrate(&mut conn).unwrap();
        assert_eq!(first.applied, vec![1, 2, 3, 4]);
        assert_eq!(first.version, SCHEMA_VERSION);
        let again = migrate(&mut conn).unwrap();
        assert!(again.applied.is_empty());
        assert_eq!(again.version, SCHEMA_VERSION);

        let next = [
            MIGRATIONS[0],
            MIGRATIONS[1],
            MIGRATIONS[2],
            MIGRATIONS[3],
            Migration {
                version: 5,
                name: "extra",
                sql: "CREATE TABLE extra (x INTEGER) STRICT;",
            },
        ];
        let report = migrate_with(&mut conn, &next, &mut |_| {}).unwrap();
        assert_eq!(report.applied, vec![5]);
        // The old build now refuses the newer database, naming both versions.
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, StorageError::Migration { .. }));
        assert!(
            err.to_string()
                .contains("database schema version 5 is newer than this build (4)"),
            "{err}"
        );
    }

    #[test]
    fn status_reports_history_and_pending_without_writing() {
        let mut conn = Connection::open_in_memory().unwrap();
        let fresh = status(&conn).unwrap();
        assert_eq!(fresh.current_version, 0);
        assert_eq!(fresh.latest_version, SCHEMA_VERSION);
        assert_eq!(
            fresh.pending,
            vec![
                (1, "initial_schema".to_owned()),
                (2, "search_index".to_owned()),
                (3, "search_queue".to_owned()),
                (4, "search_index_compact".to_owned())
            ]
        );
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "status must not create anything");
        migrate(&mut conn).unwrap();
        let done = status(&conn).unwrap();
        assert!(done.is_up_to_date());
        assert_eq!(done.current_version, SCHEMA_VERSION);
        assert_eq!(done.applied[0].checksum, MIGRATIONS[0].checksum());
    }

    #[test]
    fn edited_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let edited = [
            Migration {
                sql: "CREATE TABLE other (x INTEGER);",
                ..MIGRATIONS[0]
            },
            MIGRATIONS[1],
            MIGRATIONS[2],
            MIGRATIONS[3],
        ];
        let err = migrate_with(&mut conn, &edited, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert!(!err.is_transient());
    }

    /// A schema-1 database of 25 messages, every 5th stored deleted (an import).
    fn schema_one_with_messages() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_with(&mut conn, &MIGRATIONS[..1], &mut |_| {}).unwrap();
        for i in 0..25_i64 {
            conn.execute(
                "INSERT INTO messages (id, chat_session_id, message_type, content, created_at, \
                 updated_at, deleted, deleted_at) VALUES (?1, 's', 'user_input', ?2, ?3, ?3, ?4, ?5)",
                params![
                    format!("m{i}"),
                    format!("Message {i} ÄÖÜ"),
                    i,
                    i64::from(i % 5 == 0),
                    (i % 5 == 0).then_some(i)
                ],
            )
            .unwrap();
        }
        conn
    }

    fn indexed(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT rowid FROM message_search ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .unwrap()
    }

    #[test]
    fn migration_two_indexes_the_live_messages_and_reports_progress() {
        let mut conn = schema_one_with_messages();
        let mut seen = Vec::new();
        let report = migrate_with(&mut conn, &MIGRATIONS[..2], &mut |p| seen.push(p)).unwrap();
        assert_eq!(report.applied, vec![2]);
        let progress = |done| MigrationProgress {
            version: 2,
            done,
            total: 20,
        };
        assert_eq!(seen, vec![progress(0), progress(20)]);
        let live: Vec<i64> = (1..=25).filter(|seq| (seq - 1) % 5 != 0).collect();
        assert_eq!(indexed(&conn), live);
        // Folded text is indexed: the upper-case umlauts are found in lower case.
        let hits: i64 = conn
            .query_row(
                "SELECT count(*) FROM message_search WHERE message_search MATCH '\"message 1\" AND \"äöü\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        // "message 1": 1 and 10 ..= 19; 10 and 15 were stored deleted.
        assert_eq!(hits, 9);
    }

    #[test]
    fn migration_three_keeps_the_index_and_queues_what_it_lacks() {
        let mut conn = schema_one_with_messages();
        migrate_with(&mut conn, &MIGRATIONS[..2], &mut |_| {}).unwrap();
        let before = indexed(&conn);
        let report = migrate_with(&mut conn, &MIGRATIONS[..3], &mut |_| {}).unwrap();
        assert_eq!(report.applied, vec![3]);
        assert_eq!(indexed(&conn), before, "the index is kept, not rebuilt");
        let queued = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM message_search_queue", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO messages (id, chat_session_id, message_type, content, created_at, \
             updated_at) VALUES ('new', 's', 'user_input', 'Queued', 99, 99)",
            [],
        )
        .unwrap();
        assert_eq!(queued(&tx), 1);
        assert_eq!(
            indexed(&tx),
            before,
            "not in the index before the transaction ends"
        );
        crate::ops::index_queued(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(queued(&conn), 0);
        assert_eq!(indexed(&conn).last(), Some(&26));
        // A queued row soft-deleted before its transaction ends never reaches the index.
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO messages (id, chat_session_id, message_type, content, created_at, \
             updated_at) VALUES ('gone', 's', 'user_input', 'Gone', 100, 100)",
            [],
        )
        .unwrap();
        tx.execute(
            "UPDATE messages SET deleted = 1, deleted_at = 1 WHERE id = 'gone'",
            [],
        )
        .unwrap();
        assert_eq!(queued(&tx), 0);
        crate::ops::index_queued(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(indexed(&conn).last(), Some(&26));
    }

    #[test]
    fn migration_four_rebuilds_the_index_without_positions() {
        let mut conn = schema_one_with_messages();
        migrate_with(&mut conn, &MIGRATIONS[..3], &mut |_| {}).unwrap();
        let before = indexed(&conn);
        let mut seen = Vec::new();
        let report = migrate_with(&mut conn, MIGRATIONS, &mut |p| seen.push(p)).unwrap();
        assert_eq!(report.applied, vec![4]);
        assert_eq!(seen.first().map(|p| (p.version, p.total)), Some((4, 20)));
        assert_eq!(seen.last().map(|p| p.done), Some(20));
        assert_eq!(indexed(&conn), before, "the same live rows");
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'message_search'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(sql.contains("detail = none"), "{sql}");
        // Trigrams anywhere: "äöü" folded, in every live message.
        let hits: i64 = conn
            .query_row(
                "SELECT count(*) FROM message_search WHERE message_search MATCH '\"äöü\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hits, 20);
    }

    #[test]
    fn the_backfill_runs_in_batches() {
        let mut conn = schema_one_with_messages();
        migrate_with(&mut conn, MIGRATIONS, &mut |_| {}).unwrap();
        conn.execute_batch("INSERT INTO message_search (message_search) VALUES ('delete-all')")
            .unwrap();
        assert!(indexed(&conn).is_empty());
        let mut done = Vec::new();
        backfill_search_index(&conn, 2, 6, &mut |p| {
            assert_eq!((p.version, p.total), (2, 20));
            done.push(p.done);
        })
        .unwrap();
        assert_eq!(done, vec![0, 6, 12, 18, 20]);
        assert_eq!(indexed(&conn).len(), 20);
    }

    #[test]
    fn failed_migration_rolls_back_entirely() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [
            MIGRATIONS[0],
            Migration {
                version: 2,
                name: "broken",
                sql: "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;",
            },
        ];
        assert!(migrate_with(&mut conn, &broken, &mut |_| {}).is_err());
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('messages', 'half')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
}
