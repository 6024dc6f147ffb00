//! `migrate` and `purge`.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hotplex_storage_core::{
    ChatAppMessageStore, MigrationStatus, Result, RetentionPolicy, StorageError,
};
use hotplex_storage_registry::{StorageConfig, parse_duration};

use crate::cli::PurgeArgs;
use crate::output::{print_json, progress};
use crate::settings;

/// `migrate`: with `status_only`, reads the status without initializing (nothing is created
/// or changed); otherwise initializes (creates or upgrades the schema) and prints the status.
pub(crate) async fn migrate(
    cfg: &StorageConfig,
    status_only: bool,
    json: bool,
) -> Result<ExitCode> {
    let cfg = settings::without_retention_task(cfg);
    let store = if status_only {
        hotplex_storage_registry::build(&cfg)?
    } else {
        // A migration that fills an index (SQLite's search index) moves this bar.
        crate::migration_progress::start(progress("migrating"));
        let opened = hotplex_storage_registry::open(&cfg).await;
        crate::migration_progress::finish();
        opened?
    };
    let status = store.migration_status().await;
    let closed = store.close().await;
    let status = status?;
    closed?;
    print_status(store.name(), &status, json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(backend: &str, status: &MigrationStatus, json: bool) -> Result<()> {
    if json {
        return print_json(status);
    }
    println!(
        "{backend}: schema version {} of {}{}",
        status.current_version,
        status.latest_version,
        if status.is_up_to_date() {
            " (up to date)"
        } else {
            ""
        }
    );
    for m in &status.applied {
        println!("  applied  {:>3}  {}  {}", m.version, m.name, m.checksum);
    }
    for (version, name) in &status.pending {
        println!("  pending  {version:>3}  {name}");
    }
    Ok(())
}

/// `purge`: one of `--session`, `--deleted-before`, `--older-than`, `--retention`.
pub(crate) async fn purge(
    store: Arc<dyn ChatAppMessageStore>,
    cfg: &StorageConfig,
    args: &PurgeArgs,
    json: bool,
) -> Result<ExitCode> {
    let now = Utc::now();
    let (what, removed) = if let Some(session) = &args.session {
        ("session", store.purge_session(session).await?)
    } else if let Some(when) = &args.deleted_before {
        let cutoff = time_or_age("--deleted-before", when, now)?;
        ("deleted", store.purge_deleted_before(cutoff).await?)
    } else if let Some(age) = &args.older_than {
        let policy = RetentionPolicy::new().with_max_age(parse_duration("--older-than", age)?);
        let report = policy
            .apply(store.as_ref(), now)
            .await
            .map_err(|e| rename(e, "--older-than"))?;
        ("expired", report.expired_purged)
    } else {
        let policy = cfg.retention.policy;
        if policy.is_empty() {
            return Err(StorageError::invalid_config(
                "message_store.retention",
                "neither max_age nor deleted_grace is configured",
            ));
        }
        let report = policy.apply(store.as_ref(), now).await?;
        if json {
            print_json(&report)?;
        } else {
            println!(
                "purged {} messages ({} soft-deleted past the grace period, {} past max_age)",
                report.total(),
                report.deleted_purged,
                report.expired_purged
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    if json {
        print_json(&serde_json::json!({ "purged": removed, "kind": what }))?;
    } else {
        println!("purged {removed} messages");
    }
    Ok(ExitCode::SUCCESS)
}

/// An RFC 3339 time, or `now` minus a duration (`7d`).
fn time_or_age(flag: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = parse_duration(flag, text).map_err(|_| {
        StorageError::invalid_config(
            flag,
            format!("{text:?} is neither an RFC 3339 time nor a duration such as 7d"),
        )
    })?;
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .ok_or_else(|| StorageError::invalid_config(flag, format!("{text:?} is too long ago")))
}

/// A retention error named after the command-line flag instead of the config key.
fn rename(error: StorageError, flag: &str) -> StorageError {
    match error {
        StorageError::InvalidConfig { reason, .. } => StorageError::invalid_config(flag, reason),
        other => other,
    }
}
