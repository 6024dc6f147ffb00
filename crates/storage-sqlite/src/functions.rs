//! SQL functions this crate registers on every connection it opens.
//!
//! `hotplex_fold(text)` is [`hotplex_storage_core::fold`]: the search index triggers (migrations
//! 2 and 3) queue the folded content, and the short-term scan of `search` compares with it.
//! It is deterministic and innocuous, so SQLite may use it in triggers and indexes. A
//! connection without it (a plain `sqlite3` shell) can read the database but cannot insert,
//! soft-delete or update messages: the triggers fail instead of leaving the index behind.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// The name of the folding function in SQL.
pub(crate) const FOLD: &str = "hotplex_fold";

/// Registers [`FOLD`] on `conn` (again is harmless: it replaces the same function).
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        FOLD,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            // NULL folds to NULL; text folds; anything else is an error (content is TEXT).
            Ok(match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(hotplex_storage_core::fold(&ctx.get::<String>(0)?)),
            })
        },
    )
}
