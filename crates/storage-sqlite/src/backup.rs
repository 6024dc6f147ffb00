//! Online backup with SQLite's backup API: a consistent copy while writers keep writing.
//!
//! The source connection first opens a read transaction, then copies the pages in steps of
//! [`PAGES_PER_STEP`] inside it. In WAL mode a reader never blocks the writer, and holding
//! the one read snapshot keeps the copy consistent without the backup restarting each time
//! a writer commits (which, with plain stepping, can starve a backup under constant load).
//! The copy therefore holds exactly the transactions committed before the backup began.
//!
//! The copy is written to a new 0600 file beside the target and renamed over it when complete
//! ([`PrivateTempFile`]), so an existing file or symlink at the target is replaced atomically
//! and a failed backup leaves the target as it was.

use std::path::Path;
use std::time::{Duration, Instant};

use hotplex_storage_core::{BackupFormat, BackupReport, PrivateTempFile, Result, StorageError};
use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::connection::open_flags;
use crate::error::from_sqlite;

/// Pages copied per step.
pub(crate) const PAGES_PER_STEP: i32 = 256;
/// Pause after a step that found the source busy.
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// Copies the database of `source` into `target` (missing parent directories are created
/// with mode 0700; the file gets mode 0600 and replaces whatever was at `target`).
pub(crate) fn backup_to_file(
    source: &Connection,
    target: &Path,
    busy_timeout: Duration,
) -> Result<BackupReport> {
    let temp = PrivateTempFile::beside(target)?;
    let messages = copy(source, temp.path(), busy_timeout)?;
    let bytes = temp.commit()?;
    Ok(BackupReport::new(
        target,
        BackupFormat::SqliteDatabase,
        messages,
        bytes,
    ))
}

/// Copies the pages and returns how many messages (deleted included) the copy holds.
fn copy(source: &Connection, target: &Path, busy_timeout: Duration) -> Result<u64> {
    let error = |e| from_sqlite("backup", e);
    let mut dest = Connection::open_with_flags(target, open_flags()).map_err(error)?;
    // Pin one read snapshot of the source for the whole copy.
    source.execute_batch("BEGIN DEFERRED").map_err(error)?;
    let result = source
        .query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
        .map_err(error)
        .and_then(|n| step_all(source, &mut dest, busy_timeout).map(|()| n));
    if let Err(e) = source.execute_batch("COMMIT") {
        tracing::debug!(error = %e, "ending the backup's read transaction failed");
    }
    let messages = result?;
    dest.close().map_err(|(_, e)| error(e))?;
    Ok(u64::try_from(messages).unwrap_or(0))
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
