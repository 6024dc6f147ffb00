//! The connection pool: r2d2 over `r2d2_postgres`, every connection pinned to the configured
//! schema and carrying its own prepared-statement cache.
//!
//! Connections are checked at checkout ([`checkout`]), cheaply: a connection the client already
//! knows is closed is discarded, and one idle for longer than [`IDLE_CHECK_AFTER`] first answers
//! an empty query. So a connection the server, a restart or a cloud load balancer dropped while
//! idle (during a long LLM call, say) is replaced instead of failing the call, while a busy
//! store pays no extra round trip per call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hotplex_storage_core::Result;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

use crate::config::PostgresConfig;
use crate::error::from_pg;

/// A connection idle for longer than this is checked with an empty query before use.
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_secs(2);

/// A pooled connection: the client and the statements prepared on it.
pub(crate) struct PgConn {
    /// The driver's client.
    pub(crate) client: Client,
    statements: HashMap<String, Statement>,
    /// When the connection was last handed out.
    last_used: Instant,
    /// Set when a check failed: the pool discards the connection when it comes back.
    broken: bool,
}

impl PgConn {
    /// Marks the connection broken: the pool discards it when it comes back.
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// The prepared statement for `sql`, prepared on first use on this connection.
    pub(crate) fn statement(
        &mut self,
        sql: &str,
    ) -> std::result::Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs a write that commits on its own (autocommit): preparing it fails like a read
    /// (nothing ran); executing it fails through `from_pg_commit` (a lost connection is in
    /// doubt: the statement may have committed).
    pub(crate) fn write(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        operation: &str,
    ) -> hotplex_storage_core::Result<Vec<Row>> {
        let statement = self
            .statement(sql)
            .map_err(|e| crate::error::from_pg(operation, e))?;
        self.client
            .query(&statement, params)
            .map_err(|e| crate::error::from_pg_commit(operation, e))
    }

    /// Runs the cached statement for `sql` and returns its rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    /// Runs the cached statement for `sql`, which returns exactly one row.
    pub(crate) fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    /// Runs the cached statement for `sql`, which returns at most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params)
    }
}

/// Opens connections with `r2d2_postgres`, then pins each to the schema.
#[derive(Debug)]
pub(crate) struct Manager {
    inner: PostgresConnectionManager<NoTls>,
    /// The quoted schema, bound as a parameter of `set_config('search_path', …)`.
    search_path: String,
}

impl Manager {
    /// A manager for `config` (already validated).
    pub(crate) fn new(config: &PostgresConfig) -> Self {
        Self {
            inner: PostgresConnectionManager::new(config.driver_config(), NoTls),
            search_path: config.quoted_schema(),
        }
    }
}

/// Pins `client` to the schema: every unqualified table name then resolves in it.
pub(crate) fn set_search_path(
    client: &mut Client,
    search_path: &str,
) -> std::result::Result<(), postgres::Error> {
    client
        .query_one(
            "SELECT set_config('search_path', $1, false)",
            &[&search_path],
        )
        .map(drop)
}

impl ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        let mut client = self.inner.connect()?;
        set_search_path(&mut client, &self.search_path)?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            last_used: Instant::now(),
            broken: false,
        })
    }

    /// One empty round trip (r2d2 calls it only when `test_on_check_out` is set, which this
    /// pool replaces with [`checkout`]'s idle-aware check).
    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        self.inner.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.broken || self.inner.has_broken(&mut conn.client)
    }
}

/// The pool type.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// Builds the pool for `config`; connections open lazily, on first checkout.
pub(crate) fn build_pool(config: &PostgresConfig) -> Pool {
    r2d2::Pool::builder()
        .max_size(config.max_connections())
        .min_idle(Some(0))
        .connection_timeout(config.connect_timeout())
        .test_on_check_out(false)
        .build_unchecked(Manager::new(config))
}

/// Checks out a usable connection within the pool's timeout: closed connections are
/// discarded, and one idle for longer than [`IDLE_CHECK_AFTER`] (any one, with `verify`) must
/// answer an empty query first (else it is discarded and the next one is tried).
pub(crate) fn checkout(
    pool: &Pool,
    verify: bool,
) -> std::result::Result<r2d2::PooledConnection<Manager>, r2d2::Error> {
    // Every idle connection may be dead (a server restart): try them all, then a new one.
    for _ in 0..=pool.max_size() {
        let mut conn = pool.get()?;
        let idle = conn.last_used.elapsed();
        conn.last_used = Instant::now();
        if conn.client.is_closed()
            || ((verify || idle > IDLE_CHECK_AFTER) && conn.client.simple_query("").is_err())
        {
            tracing::debug!(?idle, "discarding a dead pooled postgres connection");
            conn.broken = true;
            continue;
        }
        return Ok(conn);
    }
    pool.get()
}

/// Opens one unpooled connection pinned to the schema (for migrations: a session advisory
/// lock lives exactly as long as this connection).
pub(crate) fn connect_dedicated(config: &PostgresConfig) -> Result<Client> {
    let mut client = config
        .driver_config()
        .connect(NoTls)
        .map_err(|e| from_pg("connect", e))?;
    set_search_path(&mut client, &config.quoted_schema()).map_err(|e| from_pg("connect", e))?;
    Ok(client)
}
