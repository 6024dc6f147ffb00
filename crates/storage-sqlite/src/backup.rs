//! Online backup with SQLite's backup API: a consistent copy while writers keep writing.
//!
//! The source connection first opens a read transaction, then copies the pages in steps of
//! [`PAGES_PER_STEP`] inside it. In WAL mode a reader never blocks the writer, and holding
//! the one read snapshot keeps the copy consistent without the backup restarting each time
//! a writer commits (which, with plain stepping, can starve a backup under constant load).
//! The copy therefore holds exactly the transactions committed before the backup began.

use std::path::Path;
use std::time::{Duration, Instant};

use hotplex_storage_core::{Result, StorageError};
use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::connection::open_flags;
use crate::error::from_sqlite;
use crate::path::create_new_private_file;

/// Pages copied per step.
pub(crate) const PAGES_PER_STEP: i32 = 256;
/// Pause after a step that found the source busy.
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// Copies the database of `source` into a new file at `target` (created with mode 0600;
/// it must not exist). On failure the partial copy is removed.
pub(crate) fn backup_to_file(
    source: &Connection,
    target: &Path,
    busy_timeout: Duration,
) -> Result<()> {
    create_new_private_file(target)?;
    let result = copy(source, target, busy_timeout);
    if result.is_err()
        && let Err(e) = std::fs::remove_file(target)
    {
        tracing::warn!(path = %target.display(), error = %e, "could not remove a failed backup");
    }
    result
}

fn copy(source: &Connection, target: &Path, busy_timeout: Duration) -> Result<()> {
    let error = |e| from_sqlite("backup", e);
    let mut dest = Connection::open_with_flags(target, open_flags()).map_err(error)?;
    // Pin one read snapshot of the source for the whole copy.
    source.execute_batch("BEGIN DEFERRED").map_err(error)?;
    let result = source
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(error)
        .and_then(|()| step_all(source, &mut dest, busy_timeout));
    if let Err(e) = source.execute_batch("COMMIT") {
        tracing::debug!(error = %e, "ending the backup's read transaction failed");
    }
    result?;
    dest.close().map_err(|(_, e)| error(e))
}

fn step_all(source: &Connection, dest: &mut Connection, busy_timeout: Duration) -> Result<()> {
    let backup = Backup::new(source, dest).map_err(|e| from_sqlite("backup", e))?;
    let mut busy_since: Option<Instant> = None;
    loop {
        match backup
            .step(PAGES_PER_STEP)
            .map_err(|e| from_sqlite("backup", e))?
        {
            StepResult::Done => return Ok(()),
            StepResult::Busy | StepResult::Locked => {
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() > busy_timeout {
                    return Err(StorageError::transient_query(
                        "backup",
                        "the source database stayed busy longer than busy_timeout",
                    ));
                }
                std::thread::sleep(BUSY_PAUSE);
            }
            _ => busy_since = None,
        }
    }
}
