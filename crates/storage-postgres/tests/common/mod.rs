//! Shared helpers of the PostgreSQL integration tests: a fresh database per test on the
//! testkit's server, and stores configured for it.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use hotplex_storage_postgres::{PostgresConfig, PostgresStore};
use hotplex_storage_testkit::{PgDatabase, PgServer};

/// A fresh database, or `None` (after printing "skipped: …") when PostgreSQL is unavailable
/// outside CI. Panics when it is unavailable under `CI=true` or creating the database fails.
pub(crate) fn database() -> Option<PgDatabase> {
    let server = PgServer::shared_or_skip()?;
    Some(server.create_database().expect("create a test database"))
}

/// A database for the conformance and differential factories, which cannot skip: panics when
/// PostgreSQL is unavailable.
pub(crate) fn database_or_panic() -> PgDatabase {
    database()
        .expect("skipped: PostgreSQL is unavailable (install it or set HOTPLEX_TEST_POSTGRES_DSN)")
}

/// The configuration of a store on `db` at `level`.
pub(crate) fn config(db: &PgDatabase, level: u8) -> PostgresConfig {
    PostgresConfig::from_dsn(&db.dsn())
        .expect("the fixture's DSN parses")
        .with_level(level)
        .with_max_connections(8)
}

/// A store (not initialised) on `db` at `level`.
pub(crate) fn store(db: &PgDatabase, level: u8) -> PostgresStore {
    PostgresStore::new(config(db, level)).expect("a valid config")
}
