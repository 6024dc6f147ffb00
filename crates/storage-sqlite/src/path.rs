//! Database paths: `~` expansion, parent directories, and private files: the database and its
//! `-wal`/`-shm`/`-journal` files are mode 0600 (created so, or tightened when looser), and a
//! symbolic link at any of those paths is refused. Guarantees: `docs/reliability.md`.

use std::ffi::OsStr;
use std::fs::{DirBuilder, OpenOptions};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use hotplex_storage_core::{Result, StorageError};

/// Mode of every file this crate creates: read and write for the owner only.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory this crate creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Expands a leading `~` of `path` with `home`: `~` becomes `home`, `~/x` becomes `home/x`.
///
/// Nothing else is expanded (no `$VAR`). `~user` is refused rather than guessed, and so is a
/// `~` path when `home` is `None`. The home directory is a parameter so that callers (and
/// tests) decide where it comes from; [`home_dir`] reads `$HOME`.
///
/// ```
/// use std::path::Path;
/// use hotplex_storage_sqlite::expand_home;
/// let home = Path::new("/home/ada");
/// assert_eq!(expand_home(Path::new("~/chat.db"), Some(home)).unwrap(), Path::new("/home/ada/chat.db"));
/// assert_eq!(expand_home(Path::new("/srv/chat.db"), None).unwrap(), Path::new("/srv/chat.db"));
/// assert!(expand_home(Path::new("~bob/chat.db"), Some(home)).is_err());
/// ```
pub fn expand_home(path: &Path, home: Option<&Path>) -> Result<PathBuf> {
    let mut components = path.components();
    let Some(Component::Normal(first)) = components.next() else {
        return Ok(path.to_path_buf());
    };
    if !first.to_string_lossy().starts_with('~') {
        return Ok(path.to_path_buf());
    }
    if first != OsStr::new("~") {
        return Err(StorageError::invalid_config(
            "sqlite.path",
            format!(
                "{}: `~user` paths are not supported; use `~/…` or an absolute path",
                path.display()
            ),
        ));
    }
    let home = home.filter(|h| !h.as_os_str().is_empty()).ok_or_else(|| {
        StorageError::invalid_config(
            "sqlite.path",
            format!("{}: cannot expand `~`: HOME is not set", path.display()),
        )
    })?;
    Ok(home.join(components.as_path()))
}

/// The current user's home directory from the `HOME` environment variable, if set and
/// non-empty.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The absolute file path a configured `path` names: `~` expanded with `home`, then made
/// absolute against the current directory (so that SQLite never reads it as a `file:` URI).
pub(crate) fn resolve(path: &Path, home: Option<&Path>) -> Result<PathBuf> {
    let expanded = expand_home(path, home)?;
    std::path::absolute(&expanded)
        .map_err(|e| StorageError::io(format!("resolve path {}", expanded.display()), e))
}

/// Creates the missing parent directories of `path` with mode 0700 (on Unix).
fn create_parents(path: &Path) -> Result<()> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder
        .create(parent)
        .map_err(|e| StorageError::io(format!("create directory {}", parent.display()), e))
}

/// Open options that create files with mode 0600 (on Unix).
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    options.mode(FILE_MODE);
    options
}

/// Suffixes of the files SQLite keeps beside a database file.
const COMPANION_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the missing parent directories of `path` (mode 0700) and the file itself
/// (mode 0600) if it does not exist yet. An existing database file, and its existing
/// `-wal`/`-shm`/`-journal` files, that group or others may access are tightened to owner-only
/// (SQLite creates the companions with the database file's mode, so they stay private). A
/// symbolic link at any of those paths is refused: SQLite would write through it.
pub(crate) fn prepare_database_file(path: &Path) -> Result<()> {
    create_parents(path)?;
    refuse_symlink(path)?;
    let file = private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StorageError::io(format!("create database file {}", path.display()), e))?;
    tighten(&file, path)?;
    for suffix in COMPANION_SUFFIXES {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        refuse_symlink(&companion)?;
        match OpenOptions::new().read(true).open(&companion) {
            Ok(file) => tighten(&file, &companion)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StorageError::io(format!("open {}", companion.display()), e));
            }
        }
    }
    Ok(())
}

/// Refuses `path` when it is a symbolic link.
fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StorageError::invalid_config(
            "sqlite.path",
            format!(
                "{} is a symbolic link; the database and its -wal/-shm files are never opened \
                 through a link: configure the real path",
                path.display()
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(format!("inspect {}", path.display()), e)),
    }
}

/// Removes the group and other permission bits of the open `file` (at `path`), if any.
#[cfg(unix)]
fn tighten(file: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e| StorageError::io(format!("make {} private (mode 0600)", path.display()), e);
    let mode = file.metadata().map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(io)?;
        tracing::warn!(
            path = %path.display(),
            from = format_args!("{:o}", mode & 0o777),
            to = format_args!("{:o}", mode & 0o700),
            "database file was accessible to group or others; tightened to owner-only"
        );
    }
    Ok(())
}

/// Nothing to tighten where files have no Unix mode.
#[cfg(not(unix))]
fn tighten(_file: &std::fs::File, _path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tilde_forms() {
        let home = Path::new("/home/ada");
        assert_eq!(expand_home(Path::new("~"), Some(home)).unwrap(), home);
        assert_eq!(
            expand_home(Path::new("~/.hotplex/messages.db"), Some(home)).unwrap(),
            Path::new("/home/ada/.hotplex/messages.db")
        );
        assert_eq!(
            expand_home(Path::new("data/~/x.db"), Some(home)).unwrap(),
            Path::new("data/~/x.db")
        );
        assert_eq!(
            expand_home(Path::new("$HOME/x.db"), Some(home)).unwrap(),
            Path::new("$HOME/x.db")
        );
        let err = expand_home(Path::new("~/x.db"), None).unwrap_err();
        assert!(err.to_string().contains("HOME is not set"), "{err}");
        let err = expand_home(Path::new("~/x.db"), Some(Path::new(""))).unwrap_err();
        assert!(err.is_config_error());
        let err = expand_home(Path::new("~root/x.db"), Some(home)).unwrap_err();
        assert!(err.is_config_error());
    }

    #[test]
    fn resolve_is_absolute() {
        let p = resolve(Path::new("file:x.db?mode=memory"), None).unwrap();
        assert!(p.is_absolute());
        assert!(!p.to_string_lossy().starts_with("file:"));
    }

    #[test]
    fn files_and_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a/b/chat.db");
        prepare_database_file(&db).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        // Idempotent; an existing looser file, and its companions, are tightened.
        let wal = dir.path().join("a/b/chat.db-wal");
        std::fs::write(&wal, b"").unwrap();
        for p in [&db, &wal] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare_database_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        // A stricter owner-only mode is kept.
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o400)).unwrap();
        prepare_database_file(&db).unwrap();
        assert_eq!(mode(&wal), 0o400);
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.db");
        std::fs::write(&victim, b"").unwrap();
        let link = dir.path().join("chat.db");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = prepare_database_file(&link).unwrap_err();
        assert!(err.is_config_error(), "{err:?}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // A dangling link too (SQLite would create its target).
        let dangling = dir.path().join("dangling.db");
        std::os::unix::fs::symlink(dir.path().join("nowhere.db"), &dangling).unwrap();
        assert!(
            prepare_database_file(&dangling)
                .unwrap_err()
                .is_config_error()
        );
        assert!(!dir.path().join("nowhere.db").exists());
        // A link at the -wal path.
        let db = dir.path().join("real.db");
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::os::unix::fs::symlink(&victim, PathBuf::from(wal)).unwrap();
        assert!(prepare_database_file(&db).unwrap_err().is_config_error());
        assert_eq!(std::fs::read(&victim).unwrap(), b"");
    }
}
