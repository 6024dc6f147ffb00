//! `hotplex-storage`: the command line of hotplex-storage. Usage: `docs/operations.md`.
//!
//! Errors are printed as one line on stderr with a non-zero exit code (1; `health` uses 1 for
//! degraded and 2 for unhealthy; usage errors 2), never as a panic.

mod cli;
mod commands;
mod migration_progress;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(&cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// `error` and its sources on one line.
fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text.replace('\n', " ")
}

/// Logs on stderr: `RUST_LOG` when set, else warn, or info/debug/trace with -v/-vv/-vvv; and
/// the `migrate` progress bar.
fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    // Migration progress reaches the `migrate` bar whatever the log level.
    let progress =
        migration_progress::ProgressLayer.with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() == migration_progress::TARGET
        }));
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(progress)
        .try_init();
}
