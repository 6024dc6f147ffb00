//! Core of hotplex-storage: the types, traits, errors, validation and strategies shared by
//! every backend. This crate performs no I/O and depends on no database crate.
//!
//! - [`ChatAppMessage`], [`MessageType`], [`MessageQuery`] and [`Cursor`], [`SessionMeta`],
//!   [`StoreReceipt`]: the data model; [`SearchQuery`] and [`SearchHit`] for `search`.
//! - [`ReadOnlyStore`], [`WriteOnlyStore`], [`SessionStore`], [`ChatAppMessageStore`]: what a
//!   backend implements (object safe; also implemented for `Arc<T>` and `Box<T>`).
//! - [`StorageError`]: one error type with portable predicates such as
//!   [`StorageError::is_transient`].
//! - [`validate_message`] and [`prepare_message`]: the input rules, in one place.
//! - [`StorageStrategy`] and [`StrategyStore`]: which messages are kept.
//! - [`export_jsonl`] and [`import_jsonl`]: JSON Lines export and idempotent import;
//!   [`import_go_rows`] the same for the Go plugin's SQLite database (its timestamps:
//!   [`parse_go_time`]);
//!   [`ChatAppMessageStore::backup_to`] and [`RetentionPolicy`] for operations.
//!
//! ```
//! use hotplex_storage_core::{ChatAppMessage, MessageQuery, MessageType};
//! let msg = ChatAppMessage::user("slack:U1:C1", "What is WAL?").with_platform("slack");
//! let query = MessageQuery::for_session("slack:U1:C1").with_limit(50);
//! assert!(query.matches_filters(&msg));
//! assert_eq!(msg.message_type, MessageType::USER_INPUT);
//! ```

mod backup;
pub mod config;
mod delegate;
mod error;
mod export;
mod go_import;
mod go_time;
mod health;
mod import_input;
mod layer;
mod message;
mod message_type;
pub mod migration;
mod plan;
mod query;
mod receipt;
mod retention;
mod search;
mod session;
mod store;
mod strategy;
pub mod time;
pub mod utils;
mod validation;

#[doc(hidden)]
pub mod __private {
    //! What [`delegate_store!`](crate::delegate_store) expands to. Not part of the API.
    pub use async_trait::async_trait;
    pub use chrono::{DateTime, Utc};
}

#[doc(hidden)]
#[path = "doc_support.rs"]
pub mod __doc_support;

pub use backup::{BACKUP_DIR_MODE, BACKUP_FILE_MODE, BackupFormat, BackupReport, PrivateTempFile};
pub use error::{BoxError, Result, StorageError};
pub use export::{
    EXPORT_MAX_PAGE_BYTES, EXPORT_PAGE_BYTES, EXPORT_PAGE_SIZE, IMPORT_BATCH_BYTES,
    IMPORT_BATCH_SIZE, ImportReport, RejectedLine, backup_jsonl, export_jsonl,
    export_jsonl_with_progress, export_page_limit, import_jsonl, import_jsonl_with_progress,
};
pub use go_import::{
    GO_DELETED_AT_KEY, GO_ENGINE_SESSION_ID_KEY, GO_METADATA_RAW_KEY, GoImportReport, GoRow,
    GoRowIssue, GoRowMessage, GoRowSource, GoValue, SQLITE_HEADER, go_row_to_message,
    import_go_rows, is_sqlite_header,
};
pub use go_time::parse_go_time;
pub use health::{Check, CheckStatus, HealthCheckResult, HealthStatus, StorageMetrics};
pub use layer::{StoreLayer, StoreStack, StrategyLayer};
pub use message::{ChatAppMessage, Metadata};
pub use message_type::MessageType;
pub use migration::{AppliedMigration, Migration, MigrationStatus};
pub use plan::{Condition, QueryPlan, SqlDialect, SqlParam, SqlStatement, TextColumn};
pub use query::{Cursor, MessageQuery};
pub use receipt::{StoreOutcome, StoreReceipt};
pub use retention::{RetentionPolicy, RetentionReport};
pub use search::{
    SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, SEARCH_MAX_TERMS, SEARCH_MAX_TEXT_BYTES,
    SNIPPET_CONTEXT_CHARS, SearchHit, SearchPlan, SearchQuery, fold, fold_char, search_by_scan,
};
pub use session::SessionMeta;
pub use store::{ChatAppMessageStore, ReadOnlyStore, SessionStore, WriteOnlyStore};
pub use strategy::{
    DefaultStrategy, MinimalStrategy, STRATEGY_NAMES, StorageStrategy, StrategyStore,
    VerboseStrategy, strategy_by_name,
};
pub use utils::{
    build_session_id, format_timestamp, generate_provider_session_id, mask_sensitive_data,
    sanitize_content, sanitize_content_within, truncate_for_log,
};
pub use validation::{
    MAX_METADATA_DEPTH, ValidationLimits, assign_identity, prepare_batch, prepare_message,
    validate_message, validate_message_with,
};

/// This crate's version, for [`ChatAppMessageStore::version`] implementations.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
