//! The shared conformance suite, run unmodified against `SqliteStore` on a database file and
//! on `:memory:`.

/// A fresh database file in a temporary directory per test.
mod file {
    use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
    use hotplex_storage_testkit::Fixture;

    hotplex_storage_testkit::conformance_suite!(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::new(SqliteConfig::new(dir.path().join("chat.db"))).unwrap();
        Fixture::with_guard(store, dir)
    });
}

/// A private in-memory database per test.
mod in_memory {
    use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};

    hotplex_storage_testkit::conformance_suite!(async {
        SqliteStore::new(SqliteConfig::in_memory()).unwrap()
    });
}
