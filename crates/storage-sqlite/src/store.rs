//! [`SqliteStore`]: the store traits over the writer thread and the reader pool.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    BackupReport, ChatAppMessage, ChatAppMessageStore, Check, CheckStatus, HealthCheckResult,
    MessageQuery, MigrationStatus, ReadOnlyStore, Result, SearchHit, SearchQuery, SessionMeta,
    SessionStore, StorageError, StorageMetrics, StoreReceipt, WriteOnlyStore, prepare_batch,
    prepare_message, time,
};
use rusqlite::Connection;

use crate::backup::backup_to_file;
use crate::config::SqliteConfig;
use crate::connection::{self, ConnectionSettings, Role};
use crate::error::{from_join, from_sqlite};
use crate::migrations;
use crate::ops::{WriteOp, WriteOutput};
use crate::query;
use crate::reader::{self, Reader};
use crate::writer::{Writer, WriterHandle, WriterStats};

/// Share of `max_size_mb` above which the `size` health check warns (stores stop near 90 %,
/// the rest is kept for deletes and purges: see `connection::PageBudget`).
const SIZE_WARN_RATIO: f64 = 0.8;

/// The SQLite backend: WAL, one writer thread with group commit, pooled readers.
///
/// [`SqliteStore::new`] validates the configuration and does no I/O;
/// [`initialize`](ChatAppMessageStore::initialize) opens or creates the file, runs the
/// migrations, starts the writer thread and builds the reader pool;
/// [`close`](ChatAppMessageStore::close) finishes queued writes and stops the thread.
/// Writes run on the writer thread; reads on `spawn_blocking`. So the store needs a Tokio
/// runtime (any flavour) and never stalls it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore,
///     SessionStore, WriteOnlyStore};
/// use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::new(SqliteConfig::new(dir.path().join("chat.db")))?;
/// store.initialize().await?;
/// let msg = ChatAppMessage::user("slack:U1:C1", "What is WAL?").with_platform("slack").with_user("U1");
/// let receipt = store.store_user_message(&msg).await?;
/// let newest = store.list(&MessageQuery::for_session("slack:U1:C1").with_limit(50)).await?;
/// assert_eq!(newest[0].id, receipt.id);
/// assert_eq!(store.get_session_meta("slack:U1:C1").await?.message_count, 1);
/// let backup = store.backup_to(&dir.path().join("copy.db")).await?;
/// assert_eq!(backup.messages, 1);
/// store.close().await?;
/// # Ok::<(), hotplex_storage_core::StorageError>(()) }).unwrap();
/// ```
pub struct SqliteStore {
    config: SqliteConfig,
    stats: Arc<WriterStats>,
    started: Instant,
    state: Mutex<State>,
    lifecycle: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("config", &self.config)
            .field("state", &self.lock_state().label())
            .finish_non_exhaustive()
    }
}

/// Lifecycle of a store.
enum State {
    New,
    Open(Open),
    Closed,
}

impl State {
    fn label(&self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Open(_) => "open",
            Self::Closed => "closed",
        }
    }
}

/// What an initialized store holds.
struct Open {
    writer: Writer,
    reader: Reader,
    /// The database file; `None` for `:memory:`.
    path: Option<PathBuf>,
    /// The size limit in force, in bytes.
    max_bytes: Option<u64>,
}

/// Cloned out of [`Open`] for one call, so that no lock is held while it runs.
#[derive(Clone)]
struct Handles {
    writer: WriterHandle,
    reader: Reader,
    path: Option<PathBuf>,
    max_bytes: Option<u64>,
}

/// What opening the database produced, on the blocking pool.
struct Opened {
    conn: Connection,
    pool: Option<reader::ReadPool>,
    path: Option<PathBuf>,
    max_bytes: Option<u64>,
    budget: Option<crate::connection::PageBudget>,
}

impl SqliteStore {
    /// A store for `config`, validated; no I/O happens until
    /// [`initialize`](ChatAppMessageStore::initialize).
    pub fn new(config: SqliteConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            stats: Arc::new(WriterStats::default()),
            started: Instant::now(),
            state: Mutex::new(State::New),
            lifecycle: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration this store was created with.
    pub fn config(&self) -> &SqliteConfig {
        &self.config
    }

    /// The absolute path of the database file once initialized; `None` for `:memory:` or
    /// before [`initialize`](ChatAppMessageStore::initialize).
    pub fn path(&self) -> Option<PathBuf> {
        match &*self.lock_state() {
            State::Open(open) => open.path.clone(),
            _ => None,
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handles(&self) -> Result<Handles> {
        match &*self.lock_state() {
            State::Open(open) => Ok(Handles {
                writer: open.writer.handle(),
                reader: open.reader.clone(),
                path: open.path.clone(),
                max_bytes: open.max_bytes,
            }),
            State::Closed => Err(StorageError::Closed),
            State::New => Err(not_initialized()),
        }
    }

    /// The reader of an open store (cheaper than [`handles`](Self::handles) for a read).
    fn reader(&self) -> Result<Reader> {
        match &*self.lock_state() {
            State::Open(open) => Ok(open.reader.clone()),
            State::Closed => Err(StorageError::Closed),
            State::New => Err(not_initialized()),
        }
    }

    async fn write(&self, op: WriteOp) -> Result<WriteOutput> {
        self.handles()?.writer.write(op).await
    }

    /// Queues `rows` on `writer` (taken from [`handles`](Self::handles) before the rows were
    /// validated, so that a closed store answers `Closed` whatever the input).
    async fn store_rows(
        writer: &WriterHandle,
        rows: Vec<ChatAppMessage>,
    ) -> Result<Vec<StoreReceipt>> {
        match writer.write(WriteOp::Store(rows)).await? {
            WriteOutput::Receipts(receipts) => Ok(receipts),
            WriteOutput::Rows(_) => Err(StorageError::query("store", "unexpected writer reply")),
        }
    }

    async fn rows_affected(&self, op: WriteOp) -> Result<u64> {
        let name = op.name();
        match self.write(op).await? {
            WriteOutput::Rows(n) => Ok(n),
            WriteOutput::Receipts(_) => Err(StorageError::query(name, "unexpected writer reply")),
        }
    }

    async fn store_one(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        let handles = self.handles()?;
        let row = prepare_message(msg, &self.config.limits, Utc::now())?;
        Self::store_rows(&handles.writer, vec![row])
            .await?
            .pop()
            .ok_or_else(|| StorageError::query("store", "the writer returned no receipt"))
    }

    /// The migration status of the configured file, opened read-only if it exists; runs on the
    /// blocking pool.
    fn status_without_opening(config: &SqliteConfig) -> Result<MigrationStatus> {
        let conn = match config.resolved_path()? {
            Some(path) if path.exists() => Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| from_sqlite("migration_status", e))?,
            _ => Connection::open_in_memory().map_err(|e| from_sqlite("migration_status", e))?,
        };
        migrations::status(&conn)
    }

    /// Opens (creating if needed) and migrates the database: runs on the blocking pool.
    fn open_blocking(config: &SqliteConfig) -> Result<Opened> {
        let settings = ConnectionSettings::of(config);
        let open_error = |e| from_sqlite("open", e);
        let (mut conn, path) = match config.resolved_path()? {
            None => (
                connection::open_in_memory(settings).map_err(open_error)?,
                None,
            ),
            Some(path) => {
                crate::path::prepare_database_file(&path)?;
                let conn = connection::open(&path, settings, Role::Writer).map_err(open_error)?;
                (conn, Some(path))
            }
        };
        let report = migrations::migrate_with_progress(&mut conn, &mut report_progress)?;
        tracing::debug!(version = report.version, applied = ?report.applied, "sqlite schema ready");
        let (max_bytes, budget) = match config.max_size_bytes() {
            None => (None, None),
            Some(bytes) => {
                let limit = connection::limit_size(&conn, bytes).map_err(open_error)?;
                tracing::debug!(
                    max_page_count = limit.max_pages,
                    wal_autocheckpoint = limit.wal_autocheckpoint,
                    journal_size_limit = limit.journal_size_limit,
                    "sqlite size limit set"
                );
                (Some(limit.max_bytes()), Some(limit.budget()))
            }
        };
        let pool = match &path {
            None => None,
            Some(path) => Some(reader::build_pool(path, settings, config.pool_size)?),
        };
        Ok(Opened {
            conn,
            pool,
            path,
            max_bytes,
            budget,
        })
    }

    async fn check<F, Fut>(name: &str, checks: &mut BTreeMap<String, Check>, run: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(CheckStatus, String)>>,
    {
        let started = Instant::now();
        let (status, message) = run()
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

#[async_trait]
impl ReadOnlyStore for SqliteStore {
    async fn get(&self, message_id: &str) -> Result<ChatAppMessage> {
        let id = message_id.to_owned();
        self.reader()?
            .read("get", move |conn| query::get(conn, &id))
            .await
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<ChatAppMessage>> {
        let reader = self.reader()?;
        query.validate()?;
        let query = query.clone();
        reader
            .read("list", move |conn| query::list(conn, &query))
            .await
    }

    async fn count(&self, query: &MessageQuery) -> Result<u64> {
        let reader = self.reader()?;
        query.validate()?;
        let query = query.clone();
        reader
            .read("count", move |conn| query::count(conn, &query))
            .await
    }

    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let reader = self.reader()?;
        let plan = query.plan()?;
        reader
            .read("search", move |conn| crate::search::search(conn, &plan))
            .await
    }
}

#[async_trait]
impl WriteOnlyStore for SqliteStore {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg).await
    }

    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.store_one(msg).await
    }

    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        let handles = self.handles()?;
        let rows = prepare_batch(msgs, &self.config.limits, Utc::now())?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        Self::store_rows(&handles.writer, rows).await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn get_session_meta(&self, chat_session_id: &str) -> Result<SessionMeta> {
        let id = chat_session_id.to_owned();
        self.reader()?
            .read("get_session_meta", move |conn| {
                query::session_meta(conn, &id)
            })
            .await
    }

    async fn list_user_sessions(&self, platform: &str, user_id: &str) -> Result<Vec<String>> {
        let (platform, user) = (platform.to_owned(), user_id.to_owned());
        self.reader()?
            .read("list_user_sessions", move |conn| {
                query::user_sessions(conn, &platform, &user)
            })
            .await
    }

    async fn delete_session(&self, chat_session_id: &str) -> Result<u64> {
        self.rows_affected(WriteOp::DeleteSession(chat_session_id.to_owned()))
            .await
    }

    async fn purge_session(&self, chat_session_id: &str) -> Result<u64> {
        self.rows_affected(WriteOp::PurgeSession(chat_session_id.to_owned()))
            .await
    }

    async fn purge_deleted_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        self.rows_affected(WriteOp::PurgeDeletedBefore(time::to_micros_ceil(cutoff)))
            .await
    }

    async fn purge_messages_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let cutoff = time::to_micros_ceil(cutoff);
        let mut removed = 0;
        loop {
            let chunk = self
                .rows_affected(WriteOp::PurgeMessagesBefore(cutoff))
                .await?;
            removed += chunk;
            if chunk < crate::ops::PURGE_CHUNK as u64 {
                return Ok(removed);
            }
        }
    }
}

#[async_trait]
impl ChatAppMessageStore for SqliteStore {
    async fn initialize(&self) -> Result<()> {
        let _lifecycle = self.lifecycle.lock().await;
        match &*self.lock_state() {
            State::Open(_) => return Ok(()),
            State::Closed => return Err(StorageError::Closed),
            State::New => {}
        }
        let config = self.config.clone();
        let opened = tokio::task::spawn_blocking(move || Self::open_blocking(&config))
            .await
            .map_err(|e| from_join("initialize", &e))??;
        let writer = Writer::spawn(opened.conn, Arc::clone(&self.stats), opened.budget)?;
        let reader = match opened.pool {
            Some(pool) => Reader::Pool(pool),
            None => Reader::Writer(writer.handle()),
        };
        tracing::info!(
            path = %opened.path.as_deref().map_or_else(|| ":memory:".into(), |p| p.display().to_string()),
            synchronous = %self.config.synchronous,
            pool_size = self.config.pool_size,
            max_size_mb = self.config.max_size_mb,
            "sqlite store opened"
        );
        *self.lock_state() = State::Open(Open {
            writer,
            reader,
            path: opened.path,
            max_bytes: opened.max_bytes,
        });
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        let _lifecycle = self.lifecycle.lock().await;
        let previous = std::mem::replace(&mut *self.lock_state(), State::Closed);
        match previous {
            State::Open(open) => {
                drop(open.reader);
                open.writer.shutdown().await
            }
            State::New | State::Closed => Ok(()),
        }
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn version(&self) -> &'static str {
        crate::VERSION
    }

    async fn health_check(&self) -> HealthCheckResult {
        let started = Instant::now();
        let mut checks = BTreeMap::new();
        let handles = match self.handles() {
            Ok(handles) => handles,
            Err(e) => {
                let check = Check {
                    status: CheckStatus::Fail,
                    message: e.to_string(),
                    latency: Duration::ZERO,
                };
                checks.insert("store".to_owned(), check);
                return HealthCheckResult::from_checks(checks, started.elapsed());
            }
        };
        Self::check("query", &mut checks, || async {
            handles
                .reader
                .read("health_check", |conn| {
                    conn.query_row("SELECT 1 FROM schema_migrations LIMIT 1", [], |_| Ok(()))
                        .map_err(|e| from_sqlite("health_check", e))
                })
                .await
                .map(|()| (CheckStatus::Pass, "a reader answered".to_owned()))
        })
        .await;
        Self::check("writer", &mut checks, || async {
            if handles.writer.is_closed() {
                return Ok((CheckStatus::Fail, "the writer thread stopped".to_owned()));
            }
            handles
                .writer
                .run(|_| Ok(()))
                .await
                .map(|()| (CheckStatus::Pass, "the writer thread answered".to_owned()))
        })
        .await;
        let max_bytes = handles.max_bytes;
        Self::check("size", &mut checks, || async {
            let used = handles
                .reader
                .read("health_check", |conn| {
                    connection::database_bytes(conn).map_err(|e| from_sqlite("health_check", e))
                })
                .await?;
            Ok(size_status(used, max_bytes))
        })
        .await;
        HealthCheckResult::from_checks(checks, started.elapsed())
    }

    /// A consistent copy of the database made with SQLite's online backup API while writers
    /// keep writing; it holds every message acknowledged before this call began. `~` in
    /// `path` expands as for [`SqliteConfig::path`]. The copy opens as a store of its own.
    async fn backup_to(&self, target: &Path) -> Result<BackupReport> {
        let handles = self.handles()?;
        let home = self.config.home_dir.clone().or_else(crate::path::home_dir);
        let target = target.to_path_buf();
        let settings = ConnectionSettings::of(&self.config);
        let busy_timeout = self.config.busy_timeout;
        match handles.path {
            Some(source) => tokio::task::spawn_blocking(move || {
                let target = crate::path::resolve(&target, home.as_deref())?;
                let conn = connection::open(&source, settings, Role::Reader)
                    .map_err(|e| from_sqlite("backup", e))?;
                backup_to_file(&conn, &target, busy_timeout)
            })
            .await
            .map_err(|e| from_join("backup", &e))?,
            None => {
                handles
                    .writer
                    .run(move |conn| {
                        let target = crate::path::resolve(&target, home.as_deref())?;
                        backup_to_file(conn, &target, busy_timeout)
                    })
                    .await
            }
        }
    }

    async fn metrics(&self) -> Result<StorageMetrics> {
        let handles = self.handles()?;
        let wal = handles.path.as_ref().map(|p| {
            let mut name = p.clone().into_os_string();
            name.push("-wal");
            PathBuf::from(name)
        });
        let (counts, wal_bytes) = handles
            .reader
            .read("metrics", move |conn| {
                let counts = query::counts(conn)?;
                let wal_bytes = wal
                    .and_then(|w| std::fs::metadata(w).ok())
                    .map_or(0, |m| m.len());
                Ok((counts, wal_bytes))
            })
            .await?;
        let database_bytes = counts.page_count.saturating_mul(counts.page_size);
        let mut extra = self.stats.snapshot();
        extra.insert("page_count".into(), counts.page_count);
        extra.insert("page_size".into(), counts.page_size);
        extra.insert("freelist_count".into(), counts.freelist_count);
        extra.insert("database_bytes".into(), database_bytes);
        extra.insert("wal_bytes".into(), wal_bytes);
        // Reader connections; an in-memory database has none (reads use the writer's).
        let pool_size = match handles.reader {
            Reader::Pool(_) => u64::from(self.config.pool_size),
            Reader::Writer(_) => 0,
        };
        extra.insert("pool_size".into(), pool_size);
        if let Some(max) = handles.max_bytes {
            extra.insert("max_size_bytes".into(), max);
        }
        Ok(StorageMetrics {
            backend: "sqlite".into(),
            total_messages: counts.live,
            deleted_messages: counts.deleted,
            total_sessions: counts.sessions,
            storage_size_bytes: database_bytes.saturating_add(wal_bytes),
            uptime: self.started.elapsed(),
            extra,
        })
    }

    /// Before `initialize()` this reads the file as it is, read-only, creating nothing (a
    /// missing file or `:memory:` has every migration pending).
    async fn migration_status(&self) -> Result<MigrationStatus> {
        if matches!(&*self.lock_state(), State::New) {
            let config = self.config.clone();
            return tokio::task::spawn_blocking(move || Self::status_without_opening(&config))
                .await
                .map_err(|e| from_join("migration_status", &e))?;
        }
        let handles = self.handles()?;
        handles
            .reader
            .read("migration_status", migrations::status)
            .await
    }
}

/// The error of a call on a store that was never initialized.
/// Reports a migration's data step as a `tracing` event (target
/// [`MIGRATION_PROGRESS_TARGET`](crate::MIGRATION_PROGRESS_TARGET), fields `version`, `done`,
/// `total`), which the CLI shows as a progress bar.
fn report_progress(progress: migrations::MigrationProgress) {
    tracing::info!(
        target: crate::MIGRATION_PROGRESS_TARGET,
        version = progress.version,
        done = progress.done,
        total = progress.total,
        "building the sqlite search index"
    );
}

fn not_initialized() -> StorageError {
    StorageError::Connection {
        message: "the sqlite store is not initialized: call initialize() first".into(),
        transient: false,
        source: None,
    }
}

/// The `size` check: how full the database is against its limit.
fn size_status(used: u64, max_bytes: Option<u64>) -> (CheckStatus, String) {
    let Some(max) = max_bytes.filter(|&m| m > 0) else {
        return (CheckStatus::Pass, format!("{used} bytes, no size limit"));
    };
    #[allow(clippy::cast_precision_loss)] // a ratio for display and a threshold
    let ratio = used as f64 / max as f64;
    let message = format!("{used} of {max} bytes ({:.1}%)", ratio * 100.0);
    if ratio >= SIZE_WARN_RATIO {
        (CheckStatus::Warn, message)
    } else {
        (CheckStatus::Pass, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_warns_from_eighty_percent() {
        assert_eq!(size_status(10, None).0, CheckStatus::Pass);
        assert_eq!(size_status(79, Some(100)).0, CheckStatus::Pass);
        assert_eq!(size_status(80, Some(100)).0, CheckStatus::Warn);
        assert_eq!(size_status(120, Some(100)).0, CheckStatus::Warn);
    }
}
