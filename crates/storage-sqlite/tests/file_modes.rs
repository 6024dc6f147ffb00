//! The database file and the `-wal` and `-shm` files SQLite creates beside it are mode 0600
//! while the store is open; a looser existing database is tightened on `initialize`, and a
//! symbolic link as the database path (or its `-wal`) is refused with a configuration error,
//! leaving the link's target untouched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, WriteOnlyStore};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[tokio::test]
async fn database_wal_and_shm_are_private_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("private/chat.db");
    let store = SqliteStore::new(SqliteConfig::new(&db)).unwrap();
    store.initialize().await.unwrap();
    store
        .store_user_message(&ChatAppMessage::user("s1", "hello").with_id("m1"))
        .await
        .unwrap();
    for path in [db.clone(), companion(&db, "-wal"), companion(&db, "-shm")] {
        assert!(
            path.exists(),
            "{} exists while the store is open",
            path.display()
        );
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_looser_existing_database_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let store = SqliteStore::new(SqliteConfig::new(&db)).unwrap();
    store.initialize().await.unwrap();
    store.close().await.unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let store = SqliteStore::new(SqliteConfig::new(&db)).unwrap();
    store.initialize().await.unwrap();
    assert_eq!(mode(&db), 0o600);
    store
        .store_user_message(&ChatAppMessage::user("s1", "hello").with_id("m1"))
        .await
        .unwrap();
    assert_eq!(mode(&companion(&db, "-wal")), 0o600);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_symlinked_database_or_wal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let store = SqliteStore::new(SqliteConfig::new(&link)).unwrap();
    let err = store.initialize().await.unwrap_err();
    assert!(err.is_config_error(), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");

    let db = dir.path().join("real.db");
    std::os::unix::fs::symlink(&victim, companion(&db, "-wal")).unwrap();
    let store = SqliteStore::new(SqliteConfig::new(&db)).unwrap();
    let err = store.initialize().await.unwrap_err();
    assert!(err.is_config_error(), "{err:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
}
