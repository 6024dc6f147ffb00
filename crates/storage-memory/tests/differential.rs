//! The differential harness against two independent memory stores: a sanity check that the
//! harness itself reports no difference where there is none (the SQL backends run it for real).

use hotplex_storage_memory::MemoryStore;
use hotplex_storage_testkit::{Fixture, differential};

#[test]
fn memory_agrees_with_itself() {
    differential::check(
        32,
        || async { Fixture::new(MemoryStore::new()) },
        || async { Fixture::new(MemoryStore::new()) },
    );
}

/// A subject that quietly drops metadata must be caught: the harness can fail.
#[test]
#[should_panic(expected = "differential test failed")]
fn a_store_that_drops_metadata_is_caught() {
    use hotplex_storage_core::{MinimalStrategy, StrategyStore};
    differential::check(
        32,
        || async { Fixture::new(MemoryStore::new()) },
        || async { Fixture::new(StrategyStore::new(MemoryStore::new(), MinimalStrategy)) },
    );
}
