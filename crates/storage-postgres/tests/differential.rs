//! Differential property tests: random operation sequences against the in-memory model and
//! `PostgresStore` at level 1 and level 2, comparing every result (see
//! `hotplex_storage_testkit::differential`). Each generated case gets a fresh database.

mod common;

use hotplex_storage_memory::MemoryStore;
use hotplex_storage_testkit::{Fixture, differential};

fn agrees_at(level: u8) {
    if hotplex_storage_testkit::PgServer::shared_or_skip().is_none() {
        return;
    }
    differential::check(
        24,
        || async { Fixture::new(MemoryStore::new()) },
        move || async move {
            let db = common::database_or_panic();
            Fixture::with_guard(common::store(&db, level), db)
        },
    );
}

#[test]
fn level1_agrees_with_the_model() {
    agrees_at(1);
}

#[test]
fn level2_agrees_with_the_model() {
    agrees_at(2);
}
