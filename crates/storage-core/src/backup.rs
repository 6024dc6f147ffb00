//! Backups through `dyn ChatAppMessageStore`: the [`BackupReport`] every backend returns and
//! [`PrivateTempFile`], the one way a backup file is written (mode 0600, atomic replace).
//!
//! A backup is written to a new temporary file beside the target (created exclusively, mode
//! 0600), synced, then renamed over the target. An existing target, or a symlink at the target
//! path, is therefore replaced as a whole and never written through; a failed backup leaves
//! the target untouched and removes its temporary file. Guarantees: `docs/operations.md`.

use std::fs::{DirBuilder, File, OpenOptions};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Result, StorageError};

/// Mode of every backup file: read and write for the owner only.
pub const BACKUP_FILE_MODE: u32 = 0o600;
/// Mode of the missing parent directories a backup creates.
pub const BACKUP_DIR_MODE: u32 = 0o700;

/// What a backup file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackupFormat {
    /// JSON Lines, every message including soft-deleted ones (the default of
    /// [`ChatAppMessageStore::backup_to`](crate::ChatAppMessageStore::backup_to)); restore
    /// with [`import_jsonl`](crate::import_jsonl).
    Jsonl,
    /// A SQLite database file written with SQLite's online backup API; open it as a store.
    SqliteDatabase,
}

impl BackupFormat {
    /// The name shown to users: `jsonl` or `sqlite_database`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::SqliteDatabase => "sqlite_database",
        }
    }
}

/// What [`ChatAppMessageStore::backup_to`](crate::ChatAppMessageStore::backup_to) wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its format.
    pub format: BackupFormat,
    /// Messages in the backup, soft-deleted ones included.
    pub messages: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

impl BackupReport {
    /// A report of `messages` messages written to `path` in `format`, of `bytes` bytes.
    pub fn new(path: impl Into<PathBuf>, format: BackupFormat, messages: u64, bytes: u64) -> Self {
        Self {
            path: path.into(),
            format,
            messages,
            bytes,
        }
    }
}

/// A new file beside a target path, created exclusively with mode 0600, that replaces the
/// target only when [`commit`](Self::commit)ted. Dropped uncommitted, it is removed.
///
/// ```
/// use std::io::Write;
/// use hotplex_storage_core::PrivateTempFile;
/// let dir = std::env::temp_dir().join(format!("hx-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let target = dir.join("backup.jsonl");
/// let mut temp = PrivateTempFile::beside(&target).unwrap();
/// temp.file().write_all(b"{}\n").unwrap();
/// assert_eq!(temp.commit().unwrap(), 3);
/// assert_eq!(std::fs::read(&target).unwrap(), b"{}\n");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct PrivateTempFile {
    target: PathBuf,
    temp: PathBuf,
    file: File,
    committed: bool,
}

impl PrivateTempFile {
    /// Creates `.<name>.<random>.tmp` in the directory of `target`, creating missing parent
    /// directories with mode 0700.
    pub fn beside(target: &Path) -> Result<Self> {
        let name = target.file_name().ok_or_else(|| {
            StorageError::invalid_config(
                "backup.path",
                format!("{} does not name a file", target.display()),
            )
        })?;
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let mut dirs = DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        dirs.mode(BACKUP_DIR_MODE);
        dirs.create(dir)
            .map_err(|e| StorageError::io(format!("create directory {}", dir.display()), e))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        let temp = dir.join(temp_name);
        let mut options = OpenOptions::new();
        options.write(true).read(true).create_new(true);
        #[cfg(unix)]
        options.mode(BACKUP_FILE_MODE);
        let file = options.open(&temp).map_err(|e| {
            StorageError::io(format!("create a temporary file in {}", dir.display()), e)
        })?;
        Ok(Self {
            target: target.to_path_buf(),
            temp,
            file,
            committed: false,
        })
    }

    /// The temporary file's path (for writers that open it themselves, like SQLite's backup).
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The target this file will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the temporary file, renames it over the target and returns its size in bytes.
    pub fn commit(mut self) -> Result<u64> {
        let io = |what: &str, e| StorageError::io(format!("{what} {}", self.temp.display()), e);
        self.file
            .sync_all()
            .map_err(|e| io("sync backup file", e))?;
        let bytes = self
            .file
            .metadata()
            .map_err(|e| io("stat backup file", e))?
            .len();
        std::fs::rename(&self.temp, &self.target).map_err(|e| {
            StorageError::io(
                format!(
                    "rename backup file {} to {}",
                    self.temp.display(),
                    self.target.display()
                ),
                e,
            )
        })?;
        // The rename is durable once the directory is synced; failing that is not fatal.
        if let Some(dir) = self.target.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
        self.committed = true;
        Ok(bytes)
    }
}

impl Drop for PrivateTempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hotplex-core-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_an_existing_target_with_a_private_file() {
        let dir = temp_dir("replace");
        let target = dir.join("b.jsonl");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut temp = PrivateTempFile::beside(&target).unwrap();
        assert_eq!(mode(temp.path()), 0o600);
        temp.file().write_all(b"new").unwrap();
        assert_eq!(temp.commit().unwrap(), 3);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(mode(&target), 0o600);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_target_is_replaced_not_followed() {
        let dir = temp_dir("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = dir.join("link.jsonl");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        let mut temp = PrivateTempFile::beside(&target).unwrap();
        temp.file().write_all(b"backup").unwrap();
        temp.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "backup");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropped_uncommitted_leaves_nothing_and_the_target_untouched() {
        let dir = temp_dir("drop");
        let target = dir.join("b.jsonl");
        std::fs::write(&target, "old").unwrap();
        let mut temp = PrivateTempFile::beside(&target).unwrap();
        temp.file().write_all(b"half").unwrap();
        drop(temp);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "the temp file is gone"
        );
        // Missing parents are created, private.
        let nested = dir.join("a/b/c.jsonl");
        PrivateTempFile::beside(&nested).unwrap().commit().unwrap();
        assert_eq!(mode(&dir.join("a/b")), 0o700);
        assert_eq!(mode(&nested), 0o600);
        // A parent that is a file cannot be created.
        let err = PrivateTempFile::beside(&target.join("x")).unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
