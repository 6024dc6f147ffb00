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

/// Stores every message but quietly drops its metadata.
struct DropsMetadata;

impl hotplex_storage_core::StorageStrategy for DropsMetadata {
    fn name(&self) -> &'static str {
        "drops-metadata"
    }
    fn should_store(&self, _msg: &hotplex_storage_core::ChatAppMessage) -> bool {
        true
    }
    fn before_store(
        &self,
        msg: &mut hotplex_storage_core::ChatAppMessage,
    ) -> hotplex_storage_core::Result<()> {
        msg.metadata.clear();
        Ok(())
    }
}

/// A subject that stores everything but loses the metadata must be caught: the harness can
/// fail, and on a difference in content rather than in receipts.
#[test]
#[should_panic(expected = "differential test failed")]
fn a_store_that_drops_metadata_is_caught() {
    use hotplex_storage_core::StrategyStore;
    differential::check(
        32,
        || async { Fixture::new(MemoryStore::new()) },
        || async { Fixture::new(StrategyStore::new(MemoryStore::new(), DropsMetadata)) },
    );
}
