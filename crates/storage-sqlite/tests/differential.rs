//! Differential property tests: random operation sequences against the in-memory model and
//! `SqliteStore`, comparing every result (see `hotplex_storage_testkit::differential`).

use hotplex_storage_memory::MemoryStore;
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use hotplex_storage_testkit::{Fixture, differential};

#[test]
fn in_memory_database_agrees_with_the_model() {
    differential::check(
        64,
        || async { Fixture::new(MemoryStore::new()) },
        || async { Fixture::new(SqliteStore::new(SqliteConfig::in_memory()).unwrap()) },
    );
}

#[test]
fn database_file_agrees_with_the_model() {
    differential::check(
        32,
        || async { Fixture::new(MemoryStore::new()) },
        || async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::new(SqliteConfig::new(dir.path().join("chat.db"))).unwrap();
            Fixture::with_guard(store, dir)
        },
    );
}
