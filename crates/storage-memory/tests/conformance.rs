//! The shared conformance suite, run against [`MemoryStore`].

use hotplex_storage_memory::MemoryStore;

hotplex_storage_testkit::conformance_suite!(async {
    hotplex_storage_testkit::Fixture::new(MemoryStore::new())
});

/// The suite also runs from a nested module, against a store handed over as-is (converted
/// into a fixture by the macro), as a backend testing several configurations would do.
mod as_plain_store {
    hotplex_storage_testkit::conformance_suite!(async { super::MemoryStore::default() });
}
