//! [`PostgresStore`]: the store traits over a pool of blocking `postgres` connections, every
//! driver call on `spawn_blocking`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, Check, CheckStatus, HealthCheckResult, MessageQuery,
    MigrationStatus, ReadOnlyStore, Result, SearchHit, SearchQuery, SessionMeta, SessionStore,
    StorageError, StorageMetrics, StoreReceipt, WriteOnlyStore, prepare_batch, prepare_message,
    time,
};

use crate::config::PostgresConfig;
use crate::connection::{self, PgConn, Pool};
use crate::error::{from_join, from_pool};
use crate::migrations;
use crate::ops::{self, OpsSql};
use crate::partitions::Partitions;
use crate::query;
use crate::search;
use crate::writer;

/// Months created ahead of the current one at `initialize` (level 2).
pub const PARTITIONS_AHEAD: u32 = 3;

/// Where the store is in its life.
enum State {
    /// Constructed; `initialize` not yet called.
    New,
    /// Initialised: the pool.
    Open(Pool),
    /// Closed for good.
    Closed,
}

/// What every call shares, cloned into blocking tasks.
struct Shared {
    config: PostgresConfig,
    store_sql: String,
    ops_sql: OpsSql,
    partitions: Partitions,
}

/// The PostgreSQL backend (DESIGN §3, `docs/schema.md`). Construct with
/// [`PostgresStore::new`] (validates, no I/O), then [`initialize`](ChatAppMessageStore::initialize)
/// (connects, migrates, creates partitions).
pub struct PostgresStore {
    shared: Arc<Shared>,
    state: Mutex<State>,
    lifecycle: tokio::sync::Mutex<()>,
    started: Instant,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    /// Closes the pooled connections on a thread of their own: dropping a blocking client on
    /// an async worker would panic.
    fn drop(&mut self) {
        let state = std::mem::replace(&mut *self.lock_state(), State::Closed);
        if let State::Open(pool) = state {
            std::thread::spawn(move || drop(pool));
        }
    }
}

impl PostgresStore {
    /// A store for `config`, validated; nothing is connected until `initialize`.
    pub fn new(config: PostgresConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            shared: Arc::new(Shared {
                store_sql: writer::store_sql(config.level()),
                ops_sql: OpsSql::new(config.level()),
                partitions: Partitions::new(config.schema()),
                config,
            }),
            state: Mutex::new(State::New),
            lifecycle: tokio::sync::Mutex::new(()),
            started: Instant::now(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PostgresConfig {
        &self.shared.config
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle on the pool. Only [`run`](Self::run) takes one, and moves it to the blocking
    /// pool: the last handle of a pool must never be dropped on an async worker (closing a
    /// `postgres::Client` blocks on its own runtime).
    fn pool(&self) -> Result<Pool> {
        match &*self.lock_state() {
            State::Open(pool) => Ok(pool.clone()),
            State::Closed => Err(StorageError::Closed),
            State::New => Err(Self::not_initialized()),
        }
    }

    fn not_initialized() -> StorageError {
        StorageError::Connection {
            message: "the postgres store is not initialized: call initialize() first".into(),
            transient: false,
            source: None,
        }
    }

    /// `Ok` when the store is open.
    fn ensure_open(&self) -> Result<()> {
        match &*self.lock_state() {
            State::Open(_) => Ok(()),
            State::Closed => Err(StorageError::Closed),
            State::New => Err(Self::not_initialized()),
        }
    }

    /// Runs `work` with a pooled connection on the blocking pool.
    ///
    /// When `work` fails because the connection was lost and nothing can have been committed
    /// (the server answered with a connection error, e.g. 57P01 after a restart or
    /// `pg_terminate_backend` of an idle connection), it runs once more on another connection:
    /// every operation is idempotent when it did not land. The second connection is verified
    /// with an empty query first.
    async fn run<R, F>(&self, operation: &'static str, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: Fn(&mut PgConn, &Shared) -> Result<R> + Send + 'static,
    {
        let pool = self.pool()?;
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let timeout = shared.config.connect_timeout();
            let mut conn = connection::checkout(&pool, false)
                .map_err(|e| from_pool(operation, &e, timeout))?;
            match work(&mut conn, &shared) {
                Err(e) if e.is_connection_error() && !e.may_have_landed() => {
                    tracing::debug!(operation, error = %e, "postgres connection lost; once more on another");
                    conn.mark_broken();
                    drop(conn);
                    // Other idle connections may be dead too (a restart): verify this one.
                    let mut conn = connection::checkout(&pool, true)
                        .map_err(|e| from_pool(operation, &e, timeout))?;
                    work(&mut conn, &shared)
                }
                result => result,
            }
        })
        .await
        .map_err(|e| from_join(operation, &e))?
    }

    /// Ensures partitions (level 2) and stores prepared rows in one statement.
    async fn store_rows(&self, rows: Vec<ChatAppMessage>) -> Result<Vec<StoreReceipt>> {
        self.run("store", move |conn, shared| {
            if shared.config.level() == 2 {
                shared
                    .partitions
                    .ensure(&mut conn.client, rows.iter().filter_map(|r| r.created_at))?;
            }
            writer::store(conn, &shared.store_sql, &rows, time::now_micros())
        })
        .await
    }

    async fn store_one(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.ensure_open()?;
        let row = prepare_message(msg, self.shared.config.limits(), Utc::now())?;
        let mut receipts = self.store_rows(vec![row]).await?;
        receipts
            .pop()
            .ok_or_else(|| StorageError::query("store", "no receipt returned"))
    }

    /// Connects once without the pool, migrates and prepares partitions.
    fn open_blocking(shared: &Shared) -> Result<()> {
        let mut client = connection::connect_dedicated(&shared.config)?;
        let report = migrations::migrate(&mut client, &shared.config)?;
        tracing::debug!(applied = ?report.applied, schema = shared.config.schema(), "postgres schema ready");
        if shared.config.level() == 2 {
            shared
                .partitions
                .ensure_ahead(&mut client, Utc::now(), PARTITIONS_AHEAD)?;
        }
        Ok(())
    }

    async fn check<F, Fut>(name: &str, checks: &mut BTreeMap<String, Check>, probe: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(CheckStatus, String)>>,
    {
        let started = Instant::now();
        let (status, message) = probe()
            .await
            .unwrap_or_else(|e| (CheckStatus::Fail, e.to_string()));
        checks.insert(
            name.to_owned(),
            Check {
                status,
                message,
                latency: started.elapsed(),
            },
        );
    }
}

/// A strict `< cutoff` over whole-microsecond timestamps: the driver truncates to
/// microseconds, so a cutoff with a sub-microsecond part is rounded up instead.
fn exact_cutoff(cutoff: DateTime<Utc>) -> Result<DateTime<Utc>> {
    time::from_micros(time::to_micros_ceil(cutoff))
}

#[async_trait]
impl ReadOnlyStore for PostgresStore {
    async fn get(&self, message_id: &str) -> Result<ChatAppMessage> {
        let id = message_id.to_owned();
        self.run("get", move |conn, _| query::get(conn, &id)).await
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
        self.ensure_open()?;
        query.validate()?;
        let query = query.clone();
        self.run("list", move |conn, _| query::list(conn, &query))
            .await
    }

    async fn count(&self, query: &MessageQuery) -> Result<u64> {
        self.ensure_open()?;
        query.validate()?;
        let query = query.clone();
        self.run("count", move |conn, _| query::count(conn, &query))
            .await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        self.ensure_open()?;
        let plan = query.plan()?;
        self.run("search", move |conn, _| search::search(conn, &plan))
            .await
    }
}

#[async_trait]
impl WriteOnlyStore for PostgresStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg).await
    }

    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg).await
    }

    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.ensure_open()?;
        let rows = prepare_batch(msgs, self.shared.config.limits(), Utc::now())?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.store_rows(rows).await
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn get_session_meta(&self, chat_session_id: &str) -> Result<SessionMeta> {
        let id = chat_session_id.to_owned();
        self.run("get_session_meta", move |conn, _| {
            query::session_meta(conn, &id)
        })
        .await
    }

    async fn list_user_sessions(&self, platform: &str, user_id: &str) -> Result<Vec<String>> {
        let (platform, user) = (platform.to_owned(), user_id.to_owned());
        self.run("list_user_sessions", move |conn, _| {
            query::user_sessions(conn, &platform, &user)
        })
        .await
    }

    async fn delete_session(&self, chat_session_id: &str) -> Result<u64> {
        let id = chat_session_id.to_owned();
        self.run("delete_session", move |conn, _| {
            ops::delete_session(conn, &id, time::now_micros())
        })
        .await
    }

    async fn purge_session(&self, chat_session_id: &str) -> Result<u64> {
        let id = chat_session_id.to_owned();
        self.run("purge_session", move |conn, shared| {
            ops::purge_session(conn, &shared.ops_sql, &id)
        })
        .await
    }

    async fn purge_deleted_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let cutoff = exact_cutoff(cutoff)?;
        self.run("purge_deleted_before", move |conn, shared| {
            ops::purge_deleted_before(conn, &shared.ops_sql, cutoff)
        })
        .await
    }

    async fn purge_messages_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let cutoff = exact_cutoff(cutoff)?;
        self.run("purge_messages_before", move |conn, shared| {
            ops::purge_messages_before(conn, &shared.ops_sql, cutoff, time::now_micros())
        })
        .await
    }
}

#[async_trait]
impl ChatAppMessageStore for PostgresStore {
    async fn initialize(&self) -> Result<()> {
        let _lifecycle = self.lifecycle.lock().await;
        match &*self.lock_state() {
            State::Open(_) => return Ok(()),
            State::Closed => return Err(StorageError::Closed),
            State::New => {}
        }
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || Self::open_blocking(&shared))
            .await
            .map_err(|e| from_join("initialize", &e))??;
        *self.lock_state() = State::Open(connection::build_pool(&self.shared.config));
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        let _lifecycle = self.lifecycle.lock().await;
        let previous = std::mem::replace(&mut *self.lock_state(), State::Closed);
        if let State::Open(pool) = previous {
            self.shared.partitions.forget();
            // Dropping the last handle closes the idle connections (blocking, so not on this
            // worker); checked-out ones close when their calls finish.
            tokio::task::spawn_blocking(move || drop(pool))
                .await
                .map_err(|e| from_join("close", &e))?;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn version(&self) -> &'static str {
        crate::VERSION
    }

    async fn health_check(&self) -> HealthCheckResult {
        let started = Instant::now();
        let mut checks = BTreeMap::new();
        if let Err(e) = self.ensure_open() {
            let check = Check {
                status: CheckStatus::Fail,
                message: e.to_string(),
                latency: Duration::ZERO,
            };
            checks.insert("store".to_owned(), check);
            return HealthCheckResult::from_checks(checks, started.elapsed());
        }
        Self::check("query", &mut checks, || async {
            self.run("health_check", |conn, _| {
                conn.query_one("SELECT 1 FROM schema_migrations LIMIT 1", &[])
                    .map_err(|e| crate::error::from_pg("health_check", e))?;
                Ok((CheckStatus::Pass, "the server answered".to_owned()))
            })
            .await
        })
        .await;
        Self::check("schema", &mut checks, || async {
            let status = self.migration_status().await?;
            Ok(if status.is_up_to_date() {
                (
                    CheckStatus::Pass,
                    format!("schema version {}", status.current_version),
                )
            } else {
                (
                    CheckStatus::Fail,
                    format!("{} migrations pending", status.pending.len()),
                )
            })
        })
        .await;
        HealthCheckResult::from_checks(checks, started.elapsed())
    }

    async fn metrics(&self) -> Result<StorageMetrics> {
        self.ensure_open()?;
        let level = self.shared.config.level();
        let counts = self
            .run("metrics", move |conn, _| query::counts(conn, level))
            .await?;
        let state = match &*self.lock_state() {
            State::Open(pool) => pool.state(),
            State::New | State::Closed => return Err(StorageError::Closed),
        };
        let mut extra = BTreeMap::new();
        extra.insert("level".into(), u64::from(level));
        extra.insert("pool_size".into(), u64::from(state.connections));
        extra.insert("pool_idle".into(), u64::from(state.idle_connections));
        extra.insert(
            "max_connections".into(),
            u64::from(self.shared.config.max_connections()),
        );
        if level == 2 {
            extra.insert("partitions".into(), counts.partitions);
            extra.insert("default_partition_rows".into(), counts.default_rows);
        }
        Ok(StorageMetrics {
            backend: "postgres".into(),
            total_messages: counts.live,
            deleted_messages: counts.deleted,
            total_sessions: counts.sessions,
            storage_size_bytes: counts.bytes,
            uptime: self.started.elapsed(),
            extra,
        })
    }

    /// Before `initialize()` this connects once, reads the history and changes nothing (a
    /// schema that does not exist yet has every migration pending).
    async fn migration_status(&self) -> Result<MigrationStatus> {
        if matches!(&*self.lock_state(), State::New) {
            let shared = Arc::clone(&self.shared);
            return tokio::task::spawn_blocking(move || {
                let mut client = connection::connect_dedicated(&shared.config)?;
                migrations::status(&mut client, &shared.config)
            })
            .await
            .map_err(|e| from_join("migration_status", &e))?;
        }
        self.run("migration_status", |conn, shared| {
            migrations::status(&mut conn.client, &shared.config)
        })
        .await
    }
}
