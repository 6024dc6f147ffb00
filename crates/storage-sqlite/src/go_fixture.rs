//! Test support: [`GoPluginWriter`] writes a SQLite database the way the Go plugin's
//! `plugins/storage` SQLite backend did (its exact DDL and statements, values bound as text
//! like modernc.org/sqlite binds them), so that tests of the import can build the file a user
//! of the Go plugin has.

use std::path::Path;

use hotplex_storage_core::{Result, StorageError};
use rusqlite::{Connection, params};

use crate::error::from_sqlite;

/// The Go plugin's DDL, statement by statement, exactly as its `createTables` runs it.
pub const GO_PLUGIN_DDL: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS messages (
			id TEXT PRIMARY KEY, chat_session_id TEXT NOT NULL, chat_platform TEXT NOT NULL,
			chat_user_id TEXT NOT NULL, chat_bot_user_id TEXT, chat_channel_id TEXT,
			chat_thread_id TEXT, engine_session_id TEXT NOT NULL, engine_namespace TEXT DEFAULT 'hotplex',
			provider_session_id TEXT NOT NULL, provider_type TEXT NOT NULL, message_type TEXT,
			from_user_id TEXT, from_user_name TEXT, to_user_id TEXT, content TEXT NOT NULL,
			metadata TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
			updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, deleted INTEGER DEFAULT 0, deleted_at DATETIME
		)",
    "CREATE INDEX IF NOT EXISTS idx_messages_chat_session ON messages(chat_session_id, created_at DESC)",
    "CREATE TABLE IF NOT EXISTS session_metadata (
			chat_session_id TEXT PRIMARY KEY, chat_platform TEXT, chat_user_id TEXT,
			last_message_id TEXT, last_message_at DATETIME, message_count INTEGER DEFAULT 0,
			updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
		)",
];

/// One message as the Go plugin binds it: every column text (Go zero values are `""`),
/// `metadata` the text of `json.Marshal` (`"null"` for a nil map), timestamps the text of
/// `time.Time.String()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoPluginRow {
    /// `id`.
    pub id: String,
    /// `chat_session_id`.
    pub chat_session_id: String,
    /// `chat_platform`.
    pub chat_platform: String,
    /// `chat_user_id`.
    pub chat_user_id: String,
    /// `chat_bot_user_id`.
    pub chat_bot_user_id: String,
    /// `chat_channel_id`.
    pub chat_channel_id: String,
    /// `chat_thread_id`.
    pub chat_thread_id: String,
    /// `engine_session_id` (Go writes `uuid.String()`).
    pub engine_session_id: String,
    /// `engine_namespace`.
    pub engine_namespace: String,
    /// `provider_session_id`.
    pub provider_session_id: String,
    /// `provider_type`.
    pub provider_type: String,
    /// `message_type`.
    pub message_type: String,
    /// `from_user_id`.
    pub from_user_id: String,
    /// `from_user_name`.
    pub from_user_name: String,
    /// `to_user_id`.
    pub to_user_id: String,
    /// `content`.
    pub content: String,
    /// `metadata`.
    pub metadata: String,
    /// `created_at`.
    pub created_at: String,
    /// `updated_at` (Go sets it to `created_at`).
    pub updated_at: String,
}

/// A database written with the Go plugin's SQL (see the module docs).
///
/// ```
/// use hotplex_storage_sqlite::{GoPluginRow, GoPluginWriter};
/// let dir = tempfile::tempdir()?;
/// let go = GoPluginWriter::create(dir.path().join("chatapp_messages.db"))?;
/// let at = "2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901";
/// go.store(&GoPluginRow {
///     id: "m1".into(), chat_session_id: "s1".into(), message_type: "user_input".into(),
///     content: "hi".into(), metadata: "null".into(),
///     created_at: at.into(), updated_at: at.into(), ..GoPluginRow::default()
/// })?;
/// assert_eq!(go.delete_session("s1", at)?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GoPluginWriter {
    conn: Connection,
}

impl GoPluginWriter {
    /// Creates (or opens) the database at `path` as the Go plugin's `Initialize` does: WAL,
    /// `busy_timeout=5000`, `synchronous=NORMAL`, then [`GO_PLUGIN_DDL`].
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let op = "create Go plugin database";
        let conn = Connection::open(path.as_ref()).map_err(|e| from_sqlite(op, e))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(|e| from_sqlite(op, e))?;
        conn.execute_batch("PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;")
            .map_err(|e| from_sqlite(op, e))?;
        for ddl in GO_PLUGIN_DDL {
            conn.execute(ddl, []).map_err(|e| from_sqlite(op, e))?;
        }
        Ok(Self { conn })
    }

    /// The Go plugin's `storeMessage`: `INSERT OR REPLACE` of 19 columns (so re-storing an
    /// id replaces the row, undeleting it), then its `session_metadata` upsert.
    pub fn store(&self, row: &GoPluginRow) -> Result<()> {
        let op = "store in Go plugin database";
        self.conn
            .execute(
                "INSERT OR REPLACE INTO messages (
		id, chat_session_id, chat_platform, chat_user_id, chat_bot_user_id, chat_channel_id, chat_thread_id,
		engine_session_id, engine_namespace, provider_session_id, provider_type,
		message_type, from_user_id, from_user_name, to_user_id, content, metadata, created_at, updated_at
	) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    row.id,
                    row.chat_session_id,
                    row.chat_platform,
                    row.chat_user_id,
                    row.chat_bot_user_id,
                    row.chat_channel_id,
                    row.chat_thread_id,
                    row.engine_session_id,
                    row.engine_namespace,
                    row.provider_session_id,
                    row.provider_type,
                    row.message_type,
                    row.from_user_id,
                    row.from_user_name,
                    row.to_user_id,
                    row.content,
                    row.metadata,
                    row.created_at,
                    row.updated_at,
                ],
            )
            .map_err(|e| from_sqlite(op, e))?;
        self.conn
            .execute(
                "INSERT INTO session_metadata (chat_session_id, chat_platform, chat_user_id, last_message_id, last_message_at, message_count, updated_at)
		VALUES (?, ?, ?, ?, ?, 1, ?)
		ON CONFLICT(chat_session_id) DO UPDATE SET
			last_message_id = excluded.last_message_id,
			last_message_at = excluded.last_message_at,
			message_count = message_count + 1,
			updated_at = excluded.updated_at",
                params![
                    row.chat_session_id,
                    row.chat_platform,
                    row.chat_user_id,
                    row.id,
                    row.created_at,
                    row.updated_at,
                ],
            )
            .map_err(|e| from_sqlite(op, e))?;
        Ok(())
    }

    /// The Go plugin's `DeleteSession`: every row of the session soft-deleted at `deleted_at`
    /// (its `session_metadata` row is left as it is); returns the rows changed.
    pub fn delete_session(&self, chat_session_id: &str, deleted_at: &str) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE messages SET deleted = 1, deleted_at = ? WHERE chat_session_id = ?",
                params![deleted_at, chat_session_id],
            )
            .map_err(|e| from_sqlite("delete session in Go plugin database", e))
    }

    /// Closes the database (checkpointing its WAL like the Go plugin's `Close`).
    pub fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, e)| {
            StorageError::query("close Go plugin database", e.to_string()).with_source(e)
        })
    }
}
