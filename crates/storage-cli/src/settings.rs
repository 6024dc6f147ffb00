//! The store configuration of one run: `--config`, then the environment, then the flags.

use hotplex_storage_core::Result;
use hotplex_storage_registry::StorageConfig;

use crate::cli::Cli;

/// The configuration `cli` selects, with `lookup` as the environment. The background
/// retention task is off: the CLI applies retention only with `purge --retention`.
pub(crate) fn load(cli: &Cli, lookup: &dyn Fn(&str) -> Option<String>) -> Result<StorageConfig> {
    let cfg = match &cli.config {
        Some(path) => StorageConfig::from_yaml_file(path)?,
        None => StorageConfig::new(),
    };
    let mut cfg = cfg.with_env(lookup)?;
    if let Some(t) = &cli.store_type {
        cfg = cfg.with_type(t.trim().to_ascii_lowercase());
    }
    if let Some(path) = &cli.sqlite_path {
        cfg = cfg.with_sqlite_path(path.clone());
    }
    if let Some(dsn) = &cli.postgres_dsn {
        cfg = cfg.with_postgres_dsn(dsn.clone());
    }
    if let Some(level) = cli.postgres_level {
        cfg = cfg.with_postgres_level(level);
    }
    // Again after the flags: `--type sqlite` or `--sqlite-path` may need the expansion now.
    cfg.expand_paths(lookup)?;
    cfg.validate()?;
    Ok(cfg)
}

/// `cfg` without the background retention task (its policy is kept for `purge --retention`).
pub(crate) fn without_retention_task(cfg: &StorageConfig) -> StorageConfig {
    let mut cfg = cfg.clone();
    cfg.retention.interval = None;
    cfg
}
