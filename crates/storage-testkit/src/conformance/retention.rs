//! Retention and backups: `purge_messages_before` with exact session metas,
//! [`RetentionPolicy::apply`], and `backup_to` through `dyn ChatAppMessageStore`.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use chrono::Duration;
use hotplex_storage_core::{
    BackupFormat, ChatAppMessage, MessageQuery, RetentionPolicy, RetentionReport, StorageError,
};

use super::support::{
    Store, all_rows, assert_no_meta, at, count, imported_deleted, meta, put_new, strings, timed,
    total_rows, user_sessions,
};

/// `purge_messages_before(cutoff)` removes messages created strictly before `cutoff`, also
/// below a microsecond, returns how many, and is idempotent.
pub async fn purge_messages_before_strict_cutoff(store: Store) {
    for (id, secs) in [("m10", 10), ("m20", 20), ("m30", 30)] {
        put_new(&store, &timed("s", "c", secs).with_id(id)).await;
    }
    let purge = |cutoff| {
        let store = store.clone();
        async move {
            store
                .purge_messages_before(cutoff)
                .await
                .expect("purge_messages_before")
        }
    };
    assert_eq!(purge(at(10)).await, 0, "10 is not < 10");
    assert_eq!(purge(at(20)).await, 1, "only m10");
    assert_eq!(purge(at(20)).await, 0, "idempotent");
    assert_eq!(
        purge(at(20) + Duration::nanoseconds(500)).await,
        1,
        "m20 is before a cutoff 500 ns later, even below a microsecond"
    );
    let left: Vec<String> = all_rows(&store).await.into_iter().map(|m| m.id).collect();
    assert_eq!(left, strings(&["m30"]));
    assert_eq!(purge(at(31)).await, 1);
    assert_eq!(total_rows(&store).await, 0);
    assert_no_meta(&store, "s", "every message of the session was purged").await;
}

/// A session that keeps live messages keeps its meta with the count and the newest message
/// recomputed (ties by seq); one without live messages loses its meta and leaves
/// `list_user_sessions`; untouched sessions are unchanged.
pub async fn purge_messages_before_keeps_session_meta_exact(store: Store) {
    let owned = |session: &str, secs: i64, id: &str| {
        timed(session, "c", secs)
            .with_platform("slack")
            .with_user("U1")
            .with_id(id)
    };
    for msg in [
        owned("a", 10, "a10"),
        owned("a", 20, "a20"),
        owned("a", 30, "a30"),
        owned("a", 30, "a30b"),
        owned("b", 5, "b5"),
        owned("c", 40, "c40"),
    ] {
        put_new(&store, &msg).await;
    }
    let before_c = meta(&store, "c").await;
    assert_eq!(
        store
            .purge_messages_before(at(25))
            .await
            .expect("purge_messages_before"),
        3
    );
    let a = meta(&store, "a").await;
    assert_eq!(a.message_count, 2, "a keeps a30 and a30b");
    assert_eq!(
        a.last_message_id, "a30b",
        "the newest left, ties broken by seq"
    );
    assert_eq!(a.last_message_at, at(30));
    assert_eq!(
        (a.chat_platform.as_str(), a.chat_user_id.as_str()),
        ("slack", "U1")
    );
    assert!(a.updated_at >= a.created_at);
    assert_no_meta(&store, "b", "b lost its only message").await;
    assert_eq!(
        meta(&store, "c").await.message_count,
        before_c.message_count
    );
    assert_eq!(meta(&store, "c").await.last_message_id, "c40");
    assert_eq!(
        user_sessions(&store, "slack", "U1").await,
        strings(&["c", "a"]),
        "b is no longer listed; the others most recent first"
    );
    assert_eq!(count(&store, &MessageQuery::for_session("a")).await, 2);
}

/// Soft-deleted messages before the cutoff are purged too; a session left with only
/// soft-deleted messages has no meta; a later store starts a fresh meta.
pub async fn purge_messages_before_removes_deleted_rows_too(store: Store) {
    put_new(&store, &imported_deleted("d", "old-deleted", 6)).await;
    put_new(&store, &timed("d", "live", 10).with_id("live10")).await;
    put_new(&store, &imported_deleted("d", "new-deleted", 31)).await;
    assert_eq!(meta(&store, "d").await.message_count, 1);
    assert_eq!(
        store
            .purge_messages_before(at(20))
            .await
            .expect("purge_messages_before"),
        2,
        "old-deleted and live10"
    );
    let left: Vec<String> = all_rows(&store).await.into_iter().map(|m| m.id).collect();
    assert_eq!(left, strings(&["new-deleted"]));
    assert_no_meta(&store, "d", "only a soft-deleted message is left").await;
    put_new(&store, &timed("d", "back", 50).with_id("back")).await;
    let fresh = meta(&store, "d").await;
    assert_eq!(
        fresh.message_count, 1,
        "the fresh meta counts live messages only"
    );
    assert_eq!(fresh.last_message_id, "back");
}

/// `RetentionPolicy::apply` runs `deleted_grace` then `max_age` relative to `now`.
pub async fn retention_policy_applies_both_limits(store: Store) {
    put_new(&store, &timed("r", "old", 40).with_id("old")).await;
    put_new(&store, &timed("r", "young", 60).with_id("young")).await;
    put_new(&store, &imported_deleted("r", "deleted-long-ago", 80)).await;
    put_new(&store, &imported_deleted("r", "deleted-lately", 95)).await;
    let policy = RetentionPolicy::new()
        .with_max_age(StdDuration::from_secs(50))
        .with_deleted_grace(StdDuration::from_secs(10));
    let report = policy.apply(store.as_ref(), at(100)).await.expect("apply");
    assert_eq!(
        report,
        RetentionReport {
            deleted_purged: 1,
            expired_purged: 1,
        }
    );
    let left: Vec<String> = all_rows(&store).await.into_iter().map(|m| m.id).collect();
    assert_eq!(left, strings(&["young", "deleted-lately"]));
    assert_eq!(meta(&store, "r").await.message_count, 1);
    let nothing = RetentionPolicy::new()
        .apply(store.as_ref(), at(1_000))
        .await;
    assert_eq!(nothing.expect("empty policy"), RetentionReport::default());
    let invalid = RetentionPolicy::new()
        .with_max_age(StdDuration::ZERO)
        .apply(store.as_ref(), at(1_000))
        .await;
    assert!(
        invalid.is_err_and(|e| e.is_config_error()),
        "max_age 0 is refused"
    );
    assert_eq!(
        total_rows(&store).await,
        2,
        "a refused policy purges nothing"
    );
}

/// `backup_to` through `dyn` writes a 0600 file holding every message, soft-deleted ones
/// included, and replaces an existing file; a JSON Lines backup reads back as the rows.
pub async fn backup_to_writes_every_message(store: Store) {
    put_new(&store, &timed("s", "one", 1).with_id("one")).await;
    put_new(&store, &imported_deleted("s", "gone", 3)).await;
    put_new(&store, &ChatAppMessage::bot("t", "two").with_id("two")).await;
    let dir = scratch_dir();
    let path = dir.join("backup");
    std::fs::write(&path, "an older file is replaced").expect("write the older file");
    let report = store.backup_to(&path).await.expect("backup_to");
    assert_eq!(report.path, path);
    assert_eq!(report.messages, 3, "deleted messages are in the backup");
    let metadata = std::fs::metadata(&path).expect("the backup exists");
    assert_eq!(report.bytes, metadata.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "mode 0600");
    }
    if report.format == BackupFormat::Jsonl {
        let text = std::fs::read_to_string(&path).expect("read the backup");
        let rows: Vec<ChatAppMessage> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is a message"))
            .collect();
        assert_eq!(
            rows,
            all_rows(&store).await,
            "the backup holds the rows as stored"
        );
    } else {
        assert!(
            !std::fs::read(&path).expect("read").starts_with(b"an older"),
            "the older file was replaced"
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).expect("read dir").count(),
        1,
        "no temporary file is left"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// After `close`, the retention and backup calls fail with `Closed`.
pub async fn retention_and_backup_fail_when_closed(store: Store) {
    put_new(&store, &timed("s", "c", 1)).await;
    store.close().await.expect("close");
    let purge = store.purge_messages_before(at(2)).await;
    assert!(
        matches!(purge, Err(StorageError::Closed)),
        "purge_messages_before on a closed store: {purge:?}"
    );
    let dir = scratch_dir();
    let backup = store.backup_to(&dir.join("b")).await;
    assert!(
        matches!(backup, Err(StorageError::Closed)),
        "backup_to on a closed store: {backup:?}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).expect("read dir").count(),
        0,
        "a failed backup leaves no file"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// A fresh private directory under the system temp dir.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hotplex-testkit-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("create a scratch dir");
    dir
}
