//! Versioned, forward-only migrations recorded with checksums in `schema_migrations` of the
//! configured schema.
//!
//! [`migrate`] runs on one dedicated connection holding a session advisory lock whose key is
//! derived from this project and the schema name (two schemas never block each other; an
//! embedding application's migrator, with its own key, never collides). Under the lock it
//! creates the schema and the history table if needed, refuses a database that is newer than
//! this build, edited, of the other level, or has a failed migration on record, then applies
//! each pending migration and its history row in one transaction. The bookkeeping rules are
//! core's ([`pending_migrations`]).

use hotplex_storage_core::migration::{
    AppliedMigration, Migration, checksum, migration_status, pending_migrations,
};
use hotplex_storage_core::{MigrationStatus, Result, StorageError};
use postgres::Client;

use crate::config::PostgresConfig;
use crate::error::{from_pg, is_transient_pg};

/// Level 1 (one table): every migration, in version order.
pub(crate) const LEVEL1_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial_schema_level1",
    sql: include_str!("migrations/0001_level1_schema.sql"),
}];

/// Level 2 (monthly partitions): every migration, in version order.
pub(crate) const LEVEL2_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial_schema_level2",
    sql: include_str!("migrations/0001_level2_schema.sql"),
}];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// The crate named in refusals.
const BACKEND: &str = "hotplex-storage-postgres";

/// The migrations of `level`.
pub(crate) fn migrations_for(level: u8) -> &'static [Migration] {
    if level == 2 {
        LEVEL2_MIGRATIONS
    } else {
        LEVEL1_MIGRATIONS
    }
}

/// A 64-bit advisory-lock key for `purpose` in `schema`: FNV-1a of
/// `hotplex-storage/<purpose>/<schema>` (core's [`checksum`]), as PostgreSQL's signed bigint.
pub(crate) fn lock_key(purpose: &str, schema: &str) -> i64 {
    let hex = checksum(&format!("hotplex-storage/{purpose}/{schema}"));
    let bits = u64::from_str_radix(&hex, 16).unwrap_or_default();
    i64::from_ne_bytes(bits.to_ne_bytes())
}

const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version     bigint      NOT NULL PRIMARY KEY,
    description text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    success     boolean     NOT NULL
)";

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MigrationReport {
    /// Versions applied by this call, in order.
    pub(crate) applied: Vec<i64>,
}

/// History rows (failed ones included) of the schema `client` is pinned to.
fn history(
    client: &mut Client,
) -> std::result::Result<Vec<(AppliedMigration, bool)>, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    Ok(client
        .query(
            "SELECT version, description, checksum, success FROM schema_migrations \
             ORDER BY version",
            &[],
        )?
        .into_iter()
        .map(|row| {
            (
                AppliedMigration {
                    version: row.get(0),
                    name: row.get(1),
                    checksum: row.get(2),
                },
                row.get(3),
            )
        })
        .collect())
}

/// Refuses a history with a failed migration or one of the other level.
fn check_history(
    history: &[(AppliedMigration, bool)],
    migrations: &[Migration],
    level: u8,
) -> Result<Vec<AppliedMigration>> {
    if let Some((failed, _)) = history.iter().find(|(_, success)| !success) {
        return Err(StorageError::migration(format!(
            "migration {} ({}) failed earlier and is recorded as failed; repair the schema by \
             hand, then delete its schema_migrations row (docs/operations.md)",
            failed.version, failed.name
        )));
    }
    if let (Some((first, _)), Some(expected)) = (history.first(), migrations.first())
        && first.version == expected.version
        && first.name != expected.name
    {
        return Err(StorageError::migration(format!(
            "the schema was created by {} but this store is configured for level {level} \
             ({}); a level cannot be changed in place",
            first.name, expected.name
        )));
    }
    Ok(history.iter().map(|(applied, _)| applied.clone()).collect())
}

/// The schema state (read only) for `config`.
pub(crate) fn status(client: &mut Client, config: &PostgresConfig) -> Result<MigrationStatus> {
    let migrations = migrations_for(config.level());
    let rows = history(client).map_err(|e| from_pg("migration_status", e))?;
    let applied = check_history(&rows, migrations, config.level())?;
    migration_status(BACKEND, migrations, applied)
}

/// Brings the schema to this build's version; see the module documentation.
pub(crate) fn migrate(client: &mut Client, config: &PostgresConfig) -> Result<MigrationReport> {
    migrate_with(client, config, migrations_for(config.level()))
}

/// [`migrate`] with an explicit list of migrations (tests use other lists).
pub(crate) fn migrate_with(
    client: &mut Client,
    config: &PostgresConfig,
    migrations: &[Migration],
) -> Result<MigrationReport> {
    let key = lock_key("migrate", config.schema());
    client
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .map_err(|e| from_pg("migrate: take the advisory lock", e))?;
    let result = migrate_locked(client, config, migrations);
    // Unlock explicitly; closing the dedicated connection would release it as well.
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
    let report = result?;
    unlocked.map_err(|e| from_pg("migrate: release the advisory lock", e))?;
    Ok(report)
}

fn migrate_locked(
    client: &mut Client,
    config: &PostgresConfig,
    migrations: &[Migration],
) -> Result<MigrationReport> {
    let sql = |e| from_pg("migrate", e);
    // The schema name is validated as a plain identifier and quoted: DDL takes no parameters.
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}; {CREATE_HISTORY}",
            config.quoted_schema()
        ))
        .map_err(sql)?;
    let rows = history(client).map_err(sql)?;
    let applied = check_history(&rows, migrations, config.level())?;
    let pending = pending_migrations(BACKEND, migrations, &applied)?;
    let mut report = MigrationReport {
        applied: Vec::new(),
    };
    for migration in pending {
        if let Err(error) = apply(client, migration) {
            if !is_transient_pg(&error) {
                record_failure(client, migration);
            }
            return Err(StorageError::migration(format!(
                "migration {} ({}) failed and was rolled back: {error}",
                migration.version, migration.name
            )));
        }
        tracing::info!(
            version = migration.version,
            name = migration.name,
            schema = config.schema(),
            "applied postgres schema migration"
        );
        report.applied.push(migration.version);
    }
    Ok(report)
}

/// Runs one migration and its history row in one transaction.
fn apply(client: &mut Client, migration: &Migration) -> std::result::Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    tx.batch_execute(migration.sql)?;
    tx.execute(
        "INSERT INTO schema_migrations (version, description, checksum, success) \
         VALUES ($1, $2, $3, true)",
        &[&migration.version, &migration.name, &migration.checksum()],
    )?;
    tx.commit()
}

/// Records that `migration` failed (its own transaction was rolled back), so later starts
/// refuse the schema until an operator repairs it. Best effort: the original error is what
/// the caller reports.
fn record_failure(client: &mut Client, migration: &Migration) {
    let recorded = client.execute(
        "INSERT INTO schema_migrations (version, description, checksum, success) \
         VALUES ($1, $2, $3, false) ON CONFLICT (version) DO NOTHING",
        &[&migration.version, &migration.name, &migration.checksum()],
    );
    if let Err(error) = recorded {
        tracing::warn!(version = migration.version, %error, "could not record a failed migration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::connect_dedicated;

    #[test]
    fn lock_keys_differ_by_schema_and_purpose() {
        assert_ne!(lock_key("migrate", "a"), lock_key("migrate", "b"));
        assert_ne!(lock_key("migrate", "a"), lock_key("partitions", "a"));
        assert_eq!(lock_key("migrate", "a"), lock_key("migrate", "a"));
    }

    #[test]
    fn both_levels_start_at_version_one_and_end_at_schema_version() {
        for level in [1, 2] {
            let migrations = migrations_for(level);
            assert_eq!(migrations.first().map(|m| m.version), Some(1));
            assert_eq!(migrations.last().map(|m| m.version), Some(SCHEMA_VERSION));
        }
    }

    #[test]
    fn a_failed_migration_rolls_back_is_recorded_and_refused_later() {
        let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
            return;
        };
        let db = server.create_database().expect("a test database");
        let config = PostgresConfig::from_dsn(&db.dsn())
            .unwrap()
            .with_schema("mig");
        config.validate().unwrap();
        let mut client = connect_dedicated(&config).unwrap();
        let broken = [
            LEVEL1_MIGRATIONS[0],
            Migration {
                version: 2,
                name: "broken",
                sql: "CREATE TABLE half_done (x int); THIS IS NOT SQL;",
            },
        ];
        let err = migrate_with(&mut client, &config, &broken).unwrap_err();
        assert!(matches!(err, StorageError::Migration { .. }), "{err:?}");
        assert!(
            err.to_string().contains("migration 2 (broken) failed"),
            "{err}"
        );
        let half: bool = client
            .query_one("SELECT to_regclass('half_done') IS NOT NULL", &[])
            .unwrap()
            .get(0);
        assert!(!half, "the failed migration's DDL was rolled back");
        let rows = history(&mut client).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].1 && !rows[1].1, "v1 applied, v2 recorded as failed");
        let again = migrate_with(&mut client, &config, &broken).unwrap_err();
        assert!(again.to_string().contains("failed earlier"), "{again}");
        let status = status(&mut client, &config).unwrap_err();
        assert!(status.to_string().contains("failed earlier"), "{status}");
        drop(client);
        drop(db);
    }
}
