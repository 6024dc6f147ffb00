//! The shared conformance suite, run unmodified against `PostgresStore` at level 1 (one table)
//! and level 2 (monthly partitions), each case on a fresh database of the testkit's server.

mod common;

/// Level 1: one `messages` table.
mod level1 {
    use hotplex_storage_testkit::Fixture;

    hotplex_storage_testkit::conformance_suite!(async {
        let db = super::common::database_or_panic();
        Fixture::with_guard(super::common::store(&db, 1), db)
    });
}

/// Level 2: monthly partitions plus `message_ids`.
mod level2 {
    use hotplex_storage_testkit::Fixture;

    hotplex_storage_testkit::conformance_suite!(async {
        let db = super::common::database_or_panic();
        Fixture::with_guard(super::common::store(&db, 2), db)
    });
}
