//! Project automation for hotplex-storage, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: `cargo fmt --check`, clippy with `-D warnings`, the whole test suite,
//!   the examples a user runs first, rustdoc with `-D warnings` and `cargo deny --offline
//!   check`, then a summary table; exits
//!   non-zero if any step failed. Every step runs even after an earlier one failed.
//! - `cargo xtask test`: only the test step. `cargo xtask deny`: only the deny step.
//! - `cargo xtask bench [--only BACKEND] [args]`: the chat-bench targets of the backend crates.
//! - `cargo xtask pg start|stop|env`: a PostgreSQL cluster under `target/pg` for manual work.
//! - `cargo xtask migrate (--sqlite PATH | --postgres DSN [--level N]) [--status]`: schema
//!   migrations through the `hotplex-storage` CLI.
//! - `cargo xtask fuzz [--minutes N]` and `cargo xtask soak`: the long versions of the
//!   reliability tests (see `long_run`).
//!
//! The test step starts one throwaway PostgreSQL cluster for the whole run (unless
//! `HOTPLEX_TEST_POSTGRES_DSN` is set) and exports its DSN to the tests.
//!
//! Missing optional tools (cargo-nextest, cargo-deny, PostgreSQL) are reported with their
//! install command and skipped, except with `CI=true`, where they fail their step. Only `std`
//! is used so that xtask builds in seconds.

#[path = "../../crates/storage-testkit/src/postgres_server/binaries.rs"]
#[allow(
    dead_code,
    reason = "the testkit's program lookup, shared through #[path]; xtask needs no psql lookup"
)]
mod binaries;
mod cli;
mod cmd;
#[path = "../../crates/storage-testkit/src/postgres_server/conninfo.rs"]
#[allow(
    dead_code,
    reason = "the testkit's connection-string module, shared through #[path]; xtask needs part"
)]
mod conninfo;
mod long_run;
mod pg;
#[path = "../../crates/storage-testkit/src/postgres_server/cluster.rs"]
#[allow(
    dead_code,
    reason = "the testkit's cluster recipe, shared through #[path]; xtask needs part"
)]
mod pg_cluster;
mod steps;
mod summary;
mod tally;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cli::Command;
use steps::Ctx;
use summary::StepReport;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("xtask: {err}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx {
        root: workspace_root(),
        ci: pg_cluster::is_ci(std::env::var("CI").ok().as_deref()),
    };
    match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Ci => finish(&[
            steps::fmt(&ctx),
            steps::clippy(&ctx),
            steps::test(&ctx),
            steps::examples(&ctx),
            steps::doc(&ctx),
            steps::deny(&ctx),
        ]),
        Command::Test => finish(&[steps::test(&ctx)]),
        Command::Deny => finish(&[steps::deny(&ctx)]),
        Command::Pg(action) => exit_code(pg::command(&ctx, action)),
        Command::Migrate(args) => exit_code(pg::migrate(&ctx, &args)),
        Command::Fuzz { minutes } => exit_code(long_run::fuzz(&ctx.root, minutes)),
        Command::Soak { only } => exit_code(long_run::soak(&ctx.root, &only)),
        Command::Bench { only, args } => exit_code(steps::bench(&ctx, only.as_deref(), &args)),
    }
}

/// A command's exit status as ours (1 when it does not fit).
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Prints the summary table and turns the reports into the exit code.
fn finish(reports: &[StepReport]) -> ExitCode {
    println!("\n=== xtask summary ===\n{}", summary::render(reports));
    if summary::any_failed(reports) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
