//! The four store traits every backend and decorator implements.
//!
//! They are object safe (`Arc<dyn ChatAppMessageStore>`) and implemented for `Arc<T>` and
//! `Box<T>` of any implementor, so decorators can take a store by value or shared.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    BackupReport, ChatAppMessage, HealthCheckResult, MessageQuery, MigrationStatus, Result,
    SearchHit, SearchQuery, SessionMeta, StorageMetrics, StoreReceipt,
};

/// Reading messages.
#[async_trait]
pub trait ReadOnlyStore: Send + Sync {
    /// The live message with this id; `NotFound` if it is absent or soft-deleted.
    async fn get(&self, message_id: &str) -> Result<ChatAppMessage>;

    /// Messages matching `query`, ordered by `(created_at, seq)` in its direction.
    async fn list(&self, query: &MessageQuery) -> Result<Vec<ChatAppMessage>>;

    /// How many messages match `query`'s filters; `limit`, `offset` and cursors are ignored.
    async fn count(&self, query: &MessageQuery) -> Result<u64>;

    /// Live messages whose content contains every term of `query.text` (case-insensitive),
    /// newest first, with a snippet around the first match. The rules are
    /// [`SearchPlan::hit`](crate::SearchPlan::hit)'s; see `docs/semantics.md` "Search".
    async fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>>;
}

/// Writing messages.
///
/// Each write validates the message, fills `id` (UUIDv7) and timestamps when missing, stores
/// it and updates its [`SessionMeta`] in one transaction. Re-storing an existing id changes
/// nothing and returns [`StoreOutcome::AlreadyStored`](crate::StoreOutcome::AlreadyStored).
#[async_trait]
pub trait WriteOnlyStore: Send + Sync {
    /// Stores a message typed by the user (same semantics as `store_bot_response`).
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt>;

    /// Stores a bot response (same semantics as `store_user_message`).
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt>;

    /// Stores all messages in one transaction: if any is invalid, none is written. Receipts
    /// are in input order.
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>>;
}

/// Per-session operations.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The session's meta; `SessionNotFound` when it has no live messages.
    async fn get_session_meta(&self, chat_session_id: &str) -> Result<SessionMeta>;

    /// Ids of the sessions whose meta has this platform and user, most recent
    /// `last_message_at` first (ties by session id ascending).
    async fn list_user_sessions(&self, platform: &str, user_id: &str) -> Result<Vec<String>>;

    /// Soft-deletes every live message of the session and drops its meta; returns how many
    /// messages were marked (0 for an unknown session).
    async fn delete_session(&self, chat_session_id: &str) -> Result<u64>;

    /// Hard-deletes every message of the session, deleted or not, and its meta (erasure);
    /// returns how many rows were removed.
    async fn purge_session(&self, chat_session_id: &str) -> Result<u64>;

    /// Hard-deletes soft-deleted messages whose `deleted_at` is before `cutoff` (retention);
    /// returns how many rows were removed.
    async fn purge_deleted_before(&self, cutoff: DateTime<Utc>) -> Result<u64>;

    /// Hard-deletes every message created before `cutoff`, live or soft-deleted (retention),
    /// and keeps each touched session meta exact in the same transaction: count and last
    /// message recomputed, the meta dropped when no live message is left. Returns how many
    /// rows were removed. See `docs/operations.md` "Retention".
    async fn purge_messages_before(&self, cutoff: DateTime<Utc>) -> Result<u64>;
}

/// A complete store: reads, writes, sessions and lifecycle.
#[async_trait]
pub trait ChatAppMessageStore: ReadOnlyStore + WriteOnlyStore + SessionStore {
    /// Creates or migrates the schema; idempotent. Constructors do no I/O; this does.
    async fn initialize(&self) -> Result<()>;

    /// Flushes and releases resources; idempotent. Every later call fails with `Closed`.
    async fn close(&self) -> Result<()>;

    /// The backend name: `memory`, `sqlite`, `postgres`, ….
    fn name(&self) -> &str;

    /// The backend crate's version.
    fn version(&self) -> &str;

    /// Runs the backend's health checks.
    async fn health_check(&self) -> HealthCheckResult;

    /// Counters describing the store's contents.
    async fn metrics(&self) -> Result<StorageMetrics>;

    /// The schema's migration state, read without migrating. The default (backends without
    /// a schema, like memory) reports version 0 of 0 with nothing pending.
    async fn migration_status(&self) -> Result<MigrationStatus> {
        Ok(MigrationStatus::default())
    }

    /// Writes a backup of every message, soft-deleted ones included, to `path`: a new file
    /// (mode 0600) that replaces an existing file or symlink atomically. The default writes
    /// JSON Lines ([`backup_jsonl`](crate::backup_jsonl)); SQLite overrides it with its online
    /// backup API. See `docs/operations.md` "Backup".
    async fn backup_to(&self, path: &Path) -> Result<BackupReport> {
        crate::backup_jsonl(self, path).await
    }
}

crate::delegate_store!([<T: ReadOnlyStore + ?Sized>] ReadOnlyStore for Arc<T> => deref);
crate::delegate_store!([<T: WriteOnlyStore + ?Sized>] WriteOnlyStore for Arc<T> => deref);
crate::delegate_store!([<T: SessionStore + ?Sized>] SessionStore for Arc<T> => deref);
crate::delegate_store!([<T: ChatAppMessageStore + ?Sized>] ChatAppMessageStore for Arc<T> => deref);
crate::delegate_store!([<T: ReadOnlyStore + ?Sized>] ReadOnlyStore for Box<T> => deref);
crate::delegate_store!([<T: WriteOnlyStore + ?Sized>] WriteOnlyStore for Box<T> => deref);
crate::delegate_store!([<T: SessionStore + ?Sized>] SessionStore for Box<T> => deref);
crate::delegate_store!([<T: ChatAppMessageStore + ?Sized>] ChatAppMessageStore for Box<T> => deref);
