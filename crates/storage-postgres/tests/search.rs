//! The PostgreSQL search index beyond the conformance cases: `pg_trgm` refused to a role that
//! may not create it (a clear error, nothing applied, fine once a DBA installed it), and the
//! index on every level-2 partition. Without PostgreSQL (outside CI) each test returns.

mod common;

use chrono::{Months, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, ReadOnlyStore, SearchQuery, StorageError, WriteOnlyStore,
};
use hotplex_storage_postgres::PostgresStore;
use hotplex_storage_testkit::PgServer;

/// A login role (no superuser, no CREATE on any database), dropped with the guard.
struct Role {
    server: &'static PgServer,
    name: String,
}

impl Role {
    fn create(server: &'static PgServer, name: String) -> Self {
        server
            .psql("postgres", &format!("CREATE ROLE {name} LOGIN"))
            .expect("create the role");
        Self { server, name }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Err(e) = self
            .server
            .psql("postgres", &format!("DROP ROLE IF EXISTS {}", self.name))
        {
            eprintln!("warning: dropping role {}: {e}", self.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_not_create_pg_trgm_gets_the_dba_statement_and_nothing_is_applied() {
    let Some(server) = PgServer::shared_or_skip() else {
        return;
    };
    let db = server.create_database().expect("a test database");
    // Dropped after the database, which holds the role's schema.
    let role = Role::create(server, format!("app_{}", db.name()));
    let admin = |sql: &str| server.psql(db.name(), sql).expect(sql);
    // The least-privilege setup: the role owns its schema, nothing else.
    admin(&format!("CREATE SCHEMA app AUTHORIZATION {}", role.name));
    let dsn = format!("{} user={}", db.dsn(), role.name);
    let config = hotplex_storage_postgres::PostgresConfig::from_dsn(&dsn)
        .unwrap()
        .with_schema("app");
    let store = PostgresStore::new(config).unwrap();

    let err = store.initialize().await.unwrap_err();
    assert!(matches!(err, StorageError::Migration { .. }), "{err:?}");
    assert!(!err.is_transient(), "{err:?}");
    let message = err.to_string();
    for expected in [
        "pg_trgm",
        "CREATE privilege on the database",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
        db.name(),
        role.name.as_str(),
        "Nothing was applied",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from: {message}"
        );
    }
    assert_eq!(admin("SELECT count(*) FROM app.schema_migrations"), "0");
    assert_eq!(admin("SELECT to_regclass('app.messages') IS NULL"), "t");
    assert_eq!(
        admin("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"),
        "0"
    );

    // The DBA runs the statement (into their default schema, public); the next start succeeds.
    admin("CREATE EXTENSION IF NOT EXISTS pg_trgm;");
    store.initialize().await.expect("initialize after the DBA");
    store
        .store_user_message(&ChatAppMessage::user("s", "Die Zeitung heißt GROSS").with_id("m1"))
        .await
        .unwrap();
    let hits = store.search(&SearchQuery::new("heiß gross")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        admin("SELECT max(version) FROM app.schema_migrations"),
        hotplex_storage_postgres::SCHEMA_VERSION.to_string()
    );
    store.close().await.unwrap();
    drop(store);
    drop(db);
    drop(role);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_level2_partition_has_the_trigram_index_and_is_searched() {
    let Some(db) = common::database() else { return };
    let store = common::store(&db, 2);
    store.initialize().await.unwrap();
    let far = Utc::now().checked_add_months(Months::new(30)).unwrap();
    let rows = [
        ChatAppMessage::user("s", "Partition NOW").with_id("now"),
        ChatAppMessage::user("s", "Partition FAR ahead")
            .with_id("far")
            .with_created_at(far),
    ];
    store.store_batch(&rows).await.unwrap();
    let server = PgServer::shared_or_skip().expect("the server of the database above");
    let admin = |sql: &str| server.psql(db.name(), sql).expect(sql);
    let partitions: usize =
        admin("SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass")
            .parse()
            .unwrap();
    assert!(
        partitions >= 6,
        "current + 3 ahead + the far month + DEFAULT: {partitions}"
    );
    let without = admin(
        "SELECT coalesce(string_agg(c.relname, ','), '') FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'messages'::regclass AND NOT EXISTS ( \
           SELECT 1 FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid \
           JOIN pg_opclass oc ON oc.oid = x.indclass[0] \
           WHERE x.indrelid = i.inhrelid AND oc.opcname = 'gin_trgm_ops')",
    );
    assert_eq!(without, "", "partitions without the trigram index");
    let ids: Vec<String> = store
        .search(&SearchQuery::new("partition"))
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.message.id)
        .collect();
    assert_eq!(ids, ["far", "now"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_of_several_schemas_create_pg_trgm_at_once() {
    let Some(db) = common::database() else { return };
    let stores: Vec<std::sync::Arc<PostgresStore>> = [("sa", 1), ("sb", 2), ("sc", 1), ("sd", 2)]
        .into_iter()
        .map(|(schema, level)| {
            let config = common::config(&db, level).with_schema(schema);
            std::sync::Arc::new(PostgresStore::new(config).unwrap())
        })
        .collect();
    let starts: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = std::sync::Arc::clone(store);
            tokio::spawn(async move { store.initialize().await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().expect("every schema initialises");
    }
    for (n, store) in stores.iter().enumerate() {
        let id = format!("m{n}");
        store
            .store_user_message(&ChatAppMessage::user("s", "Ein TRIGRAMM-Test").with_id(&id))
            .await
            .unwrap();
        let hits = store.search(&SearchQuery::new("trigramm")).await.unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| h.message.id.as_str()).collect();
        assert_eq!(ids, [id.as_str()], "each schema finds only its own rows");
    }
}
