//! `bench`: the testkit's chat-bench (W1 seq and c16, W1b, W3) on fresh stores of the
//! configured type, printed like the bench targets of `cargo xtask bench`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use hotplex_storage_core::{ChatAppMessageStore, Result, StorageError};
use hotplex_storage_registry::StorageConfig;
use hotplex_storage_testkit::bench::{self, BenchResult, Mode, Workload};

use crate::cli::BenchArgs;
use crate::output::{print_json, progress};
use crate::settings;

/// Runs the workloads and prints the result lines, the table and the machine.
pub(crate) async fn run(cfg: &StorageConfig, args: &BenchArgs, json: bool) -> Result<ExitCode> {
    let workload = Workload::new(args.sessions, args.turns);
    if workload.message_count() == 0 || args.ops == 0 {
        return Err(StorageError::invalid_config(
            "bench",
            "--sessions, --turns and --ops must be at least 1",
        ));
    }
    let scratch = Scratch::new()?;
    let started = Instant::now();
    if !json {
        println!(
            "chat-bench on {}: {} sessions × {} turns = {} messages, {} reads per W3 op",
            cfg.store_type,
            workload.sessions,
            workload.turns,
            workload.message_count(),
            args.ops
        );
    }
    let bar = progress("workloads done");
    let mut results: Vec<BenchResult> = Vec::new();
    let w1 = fresh(cfg, &scratch, "w1-seq").await?;
    results.push(bench::run_w1(w1.clone(), &workload, Mode::Seq).await?);
    bar.inc(1);
    let c16 = fresh(cfg, &scratch, "w1-c16").await?;
    results.push(bench::run_w1(c16.clone(), &workload, Mode::Concurrent(16)).await?);
    c16.close().await?;
    bar.inc(1);
    let w1b = fresh(cfg, &scratch, "w1b").await?;
    results.push(bench::run_w1b(w1b.clone(), &workload, 500).await?);
    w1b.close().await?;
    bar.inc(1);
    results.extend(bench::run_w3(w1.clone(), &workload, args.ops, bench::DEFAULT_SEED).await?);
    let metrics = w1.metrics().await?;
    w1.close().await?;
    bar.finish_and_clear();
    let expected = u64::try_from(workload.message_count()).unwrap_or(u64::MAX);
    if metrics.total_messages != expected {
        return Err(StorageError::data(
            "chat-bench",
            format!(
                "the W1 store holds {} messages, expected {expected}",
                metrics.total_messages
            ),
        ));
    }
    let report = serde_json::json!({
        "machine": bench::Machine::current().to_json(),
        "workload": {"sessions": workload.sessions, "turns": workload.turns},
        "backend": cfg.store_type,
        "results": bench::to_json(&results),
        "peak_rss_bytes": bench::peak_rss_bytes(),
    });
    if let Some(path) = &args.json_out {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| StorageError::data("bench JSON", e.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| StorageError::io(format!("write {}", path.display()), e))?;
    }
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in &results {
        println!("{}", r.line());
    }
    println!();
    print!("{}", bench::table(&results));
    println!();
    println!("{}", bench::machine_summary());
    if let Some(rss) = bench::peak_rss_bytes() {
        println!("peak_rss_bytes={rss}");
    }
    println!("W1 store size ≈ {} bytes", metrics.storage_size_bytes);
    println!("total {:.2}s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json_out {
        println!("results written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A fresh, initialized store for one workload: SQLite in the scratch directory, other
/// backends as configured.
async fn fresh(
    cfg: &StorageConfig,
    scratch: &Scratch,
    name: &str,
) -> Result<Arc<dyn ChatAppMessageStore>> {
    let mut cfg = settings::without_retention_task(cfg);
    if cfg.store_type == "sqlite" {
        cfg = cfg.with_sqlite_path(scratch.0.join(format!("{name}.db")).to_string_lossy());
    }
    hotplex_storage_registry::open(&cfg).await
}

/// A private temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("hotplex-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| StorageError::io(format!("create {}", dir.display()), e))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
