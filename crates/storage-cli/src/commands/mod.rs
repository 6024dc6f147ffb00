//! The commands: each opens the configured store, does one job and closes it.

mod bench;
mod demo;
mod inspect;
mod maintain;
mod serve;
mod transfer;

use std::process::ExitCode;
use std::sync::Arc;

use hotplex_storage_core::{ChatAppMessageStore, Result};
use hotplex_storage_registry::StorageConfig;

use crate::cli::{Cli, Command};
use crate::settings;

/// Runs the command of `cli`; the exit code is the command's verdict (errors are `Err`).
pub(crate) async fn run(cli: &Cli) -> Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    let cfg = settings::load(cli, &env)?;
    let json = cli.json;
    match &cli.command {
        Command::Demo => with_store(&cfg, |s| demo::run(s, &cfg, json)).await,
        Command::List(args) => with_store(&cfg, |s| inspect::list(s, args, json)).await,
        Command::Search(args) => with_store(&cfg, |s| inspect::search(s, args, json)).await,
        Command::Sessions(args) => with_store(&cfg, |s| inspect::sessions(s, args, json)).await,
        Command::Get { id } => with_store(&cfg, |s| inspect::get(s, id, json)).await,
        Command::Stats => with_store(&cfg, |s| inspect::stats(s, json)).await,
        Command::Health => inspect::health(&cfg, json).await,
        Command::Export(args) => with_store(&cfg, |s| transfer::export(s, args, json)).await,
        Command::Import { file } => transfer::import(&cfg, file, json).await,
        Command::Backup { path } => with_store(&cfg, |s| transfer::backup(s, path, json)).await,
        Command::Migrate { status } => maintain::migrate(&cfg, *status, json).await,
        Command::Purge(args) => with_store(&cfg, |s| maintain::purge(s, &cfg, args, json)).await,
        Command::Bench(args) => bench::run(&cfg, args, json).await,
        Command::Serve(args) => serve::run(&cfg, args, &env).await,
    }
}

/// Opens the store (without the background retention task), runs `job`, and closes the
/// store whatever the job's outcome; the job's error wins over a close error.
async fn with_store<F, Fut>(cfg: &StorageConfig, job: F) -> Result<ExitCode>
where
    F: FnOnce(Arc<dyn ChatAppMessageStore>) -> Fut,
    Fut: Future<Output = Result<ExitCode>>,
{
    let store = hotplex_storage_registry::open(&settings::without_retention_task(cfg)).await?;
    let result = job(Arc::clone(&store)).await;
    let closed = store.close().await;
    let code = result?;
    closed?;
    Ok(code)
}
