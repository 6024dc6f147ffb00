//! Versioned, forward-only migrations recorded with checksums in `schema_migrations` of the
//! configured schema.
//!
//! [`migrate`] runs on one dedicated connection holding a session advisory lock whose key is
//! derived from this project and the schema name (two schemas never block each other; an
//! embedding application's migrator, with its own key, never collides). Under the lock it
//! creates the schema and the history table if needed, refuses a database that is newer than
//! this build, edited, of the other level, or has a failed migration on record, checks that
//! the role may create the extensions the pending migrations need ([`extension`]), then
//! applies each pending migration and its history row in one transaction. After the lock is
//! released, rows without `content_folded` are filled ([`backfill`]). The bookkeeping rules
//! are core's ([`pending_migrations`]).

use hotplex_storage_core::migration::{
    AppliedMigration, Migration, checksum, migration_status, pending_migrations,
};
use hotplex_storage_core::{MigrationStatus, Result, StorageError};
use postgres::Client;
use postgres::error::SqlState;

use crate::backfill;
use crate::config::PostgresConfig;
use crate::error::{describe, from_pg, is_transient_pg};
use crate::extension;

/// Level 1 (one table): every migration, in version order.
pub(crate) const LEVEL1_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial_schema_level1",
        sql: include_str!("migrations/0001_level1_schema.sql"),
    },
    SEARCH_INDEX,
];

/// Level 2 (monthly partitions): every migration, in version order.
pub(crate) const LEVEL2_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial_schema_level2",
        sql: include_str!("migrations/0001_level2_schema.sql"),
    },
    SEARCH_INDEX,
];

/// Version 2, the same on both levels: `pg_trgm`, `content_folded` and its indexes.
const SEARCH_INDEX: Migration = Migration {
    version: 2,
    name: "search_index",
    sql: include_str!("migrations/0002_search_index.sql"),
};

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 2;

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
    /// Rows whose `content_folded` this call filled in.
    pub(crate) backfilled: u64,
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
    let mut report = result?;
    unlocked.map_err(|e| from_pg("migrate: release the advisory lock", e))?;
    if migrations.contains(&SEARCH_INDEX) {
        report.backfilled = backfill::run_once(client, config.schema())?;
    }
    Ok(report)
}

fn migrate_locked(
    client: &mut Client,
    config: &PostgresConfig,
    migrations: &[Migration],
) -> Result<MigrationReport> {
    let sql = |e| from_pg("migrate", e);
    // `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the database even when the schema exists:
    // a role that was given its schema by an administrator must not need it.
    let schema_exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&config.schema()],
        )
        .map_err(sql)?
        .get(0);
    if !schema_exists {
        // The schema name is validated as a plain identifier and quoted: DDL takes no
        // parameters.
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                config.quoted_schema()
            ))
            .map_err(sql)?;
    }
    client.batch_execute(CREATE_HISTORY).map_err(sql)?;
    let rows = history(client).map_err(sql)?;
    let applied = check_history(&rows, migrations, config.level())?;
    let pending = pending_migrations(BACKEND, migrations, &applied)?;
    if let (Some(first), Some(last)) = (pending.first(), pending.last()) {
        extension::check_pending(client, first.version - 1, last.version)?;
    }
    let mut report = MigrationReport {
        applied: Vec::new(),
        backfilled: 0,
    };
    for migration in pending {
        if let Err(error) = apply(client, migration) {
            // A missing privilege is repaired by a grant, not by repairing the schema (the
            // transaction rolled back): not recorded as failed, like a transient error.
            if !is_transient_pg(&error) && !is_privilege_error(&error) {
                record_failure(client, migration);
            }
            return Err(StorageError::migration(format!(
                "migration {} ({}) failed and was rolled back: {}",
                migration.version,
                migration.name,
                describe(&error)
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

/// True for SQLSTATE 42501 (`insufficient_privilege`).
fn is_privilege_error(error: &postgres::Error) -> bool {
    error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
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

    #[test]
    fn a_migration_refused_for_a_missing_privilege_is_not_recorded_as_failed() {
        let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
            return;
        };
        let db = server.create_database().expect("a test database");
        let config = PostgresConfig::from_dsn(&db.dsn())
            .unwrap()
            .with_schema("grants");
        config.validate().unwrap();
        let mut client = connect_dedicated(&config).unwrap();
        // The predefined role pg_read_all_data may not create tables: 42501 inside the
        // migration's transaction.
        let needs_grant = [
            LEVEL1_MIGRATIONS[0],
            Migration {
                version: 2,
                name: "needs_grant",
                sql: "SET LOCAL ROLE pg_read_all_data; CREATE TABLE needs_grant (x int);",
            },
        ];
        let err = migrate_with(&mut client, &config, &needs_grant).unwrap_err();
        assert!(matches!(err, StorageError::Migration { .. }), "{err:?}");
        assert!(err.to_string().contains("permission denied"), "{err}");
        let rows = history(&mut client).unwrap();
        assert_eq!(rows.len(), 1, "only v1 is on record: {rows:?}");
        // Once granted (here: the same migration without the role switch), it applies.
        let granted = [
            LEVEL1_MIGRATIONS[0],
            Migration {
                version: 2,
                name: "needs_grant",
                sql: "CREATE TABLE needs_grant (x int);",
            },
        ];
        assert_eq!(
            migrate_with(&mut client, &config, &granted)
                .unwrap()
                .applied,
            [2]
        );
        drop(client);
        drop(db);
    }

    /// Rows as a version-1 build wrote them (no `content_folded`): 2,500 fillers (three backfill
    /// batches), one with cased Latin and Greek, one in Chinese.
    const VERSION1_ROWS: &str = "\
        INSERT INTO messages (id, chat_session_id, engine_session_id, message_type, content, \
          created_at, updated_at) \
        SELECT 'old-' || g, 's', '00000000-0000-0000-0000-000000000000', 'user_input', \
          'filler message ' || g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 s', \
          timestamptz '2026-01-01 00:00:00+00' + g * interval '1 s' \
        FROM generate_series(1, 2500) g; \
        INSERT INTO messages (id, chat_session_id, engine_session_id, message_type, content, \
          created_at, updated_at) VALUES \
        ('cased', 's', '00000000-0000-0000-0000-000000000000', 'user_input', \
          'Die STRASSE heißt Straße; ΣΊΣΥΦΟΣ', '2026-02-01 00:00:00+00', '2026-02-01 00:00:00+00'), \
        ('cjk', 's', '00000000-0000-0000-0000-000000000000', 'user_input', \
          '我们讨论了数据库的备份', '2026-02-02 00:00:00+00', '2026-02-02 00:00:00+00')";

    /// Rows an older build writes after the upgrade: newest first, one that does not match
    /// `straße` and, older, one that does.
    const LATE_UNFOLDED_ROWS: &str = "\
        INSERT INTO messages (id, chat_session_id, engine_session_id, message_type, content, \
          created_at, updated_at) VALUES \
        ('late-miss', 's', '00000000-0000-0000-0000-000000000000', 'user_input', 'unrelated', \
          '2026-03-02 00:00:00+00', '2026-03-02 00:00:00+00'), \
        ('late-hit', 's', '00000000-0000-0000-0000-000000000000', 'user_input', 'LEGACY STRAßE', \
          '2026-03-01 00:00:00+00', '2026-03-01 00:00:00+00')";

    fn ids(hits: &[hotplex_storage_core::SearchHit]) -> Vec<&str> {
        hits.iter().map(|h| h.message.id.as_str()).collect()
    }

    fn upgrade_from_version_1(level: u8) {
        use hotplex_storage_core::{ChatAppMessageStore, ReadOnlyStore, SearchQuery};

        let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
            return;
        };
        let db = server.create_database().expect("a test database");
        let config = PostgresConfig::from_dsn(&db.dsn())
            .unwrap()
            .with_level(level);
        config.validate().unwrap();
        let mut client = connect_dedicated(&config).unwrap();
        let only_first = &migrations_for(level)[..1];
        assert_eq!(
            migrate_with(&mut client, &config, only_first)
                .unwrap()
                .applied,
            [1]
        );
        client.batch_execute(VERSION1_ROWS).unwrap();
        if level == 2 {
            client
                .batch_execute("INSERT INTO message_ids SELECT id FROM messages")
                .unwrap();
        }
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = crate::PostgresStore::new(config).unwrap();
        runtime.block_on(store.initialize()).unwrap();
        let unfolded: i64 = client
            .query_one(
                "SELECT count(*) FROM messages WHERE content_folded IS NULL",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(unfolded, 0, "every row was backfilled");
        let folded: String = client
            .query_one(
                "SELECT content_folded FROM messages WHERE id = 'cased'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            folded,
            hotplex_storage_core::fold("Die STRASSE heißt Straße; ΣΊΣΥΦΟΣ")
        );
        let versions: Vec<i64> = client
            .query("SELECT version FROM schema_migrations ORDER BY 1", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, [1, 2]);
        let search = |text: &str, limit: usize| {
            runtime
                .block_on(store.search(&SearchQuery::new(text).with_limit(limit)))
                .unwrap()
        };
        assert_eq!(ids(&search("strasse", 20)), ["cased"]);
        assert_eq!(ids(&search("Straße σίσυφος", 20)), ["cased"]);
        assert_eq!(ids(&search("数据库", 20)), ["cjk"]);
        assert_eq!(ids(&search("FILLER 2499", 20)), ["old-2499"]);
        assert_eq!(search("filler", 1000).len(), 1000);

        // An older build keeps writing rows without content_folded: still found, and a
        // rejected candidate does not cut the page short.
        client.batch_execute(LATE_UNFOLDED_ROWS).unwrap();
        assert_eq!(ids(&search("straße", 1)), ["late-hit"]);
        assert_eq!(ids(&search("straße", 20)), ["late-hit", "cased"]);
        // The next start fills them in.
        runtime.block_on(store.close()).unwrap();
        let report = migrate(&mut client, store.config()).unwrap();
        assert_eq!((report.applied.len(), report.backfilled), (0, 2));
        drop(client);
        drop(store);
        drop(db);
    }

    #[test]
    fn a_level1_version_1_database_with_rows_is_backfilled_and_searchable() {
        upgrade_from_version_1(1);
    }

    #[test]
    fn a_level2_version_1_database_with_rows_is_backfilled_and_searchable() {
        upgrade_from_version_1(2);
    }
}
