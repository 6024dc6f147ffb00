//! The CI steps (fmt, clippy, test, doc, deny) and the bench forwarder.
//!
//! Each step prints the commands it runs, keeps going as far as it sensibly can, and returns
//! a [`StepReport`] for the summary table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::binaries::LIB_ROOT;
use crate::cmd::Cmd;
use crate::pg::TestServer;
use crate::pg_cluster::DSN_ENV;
use crate::summary::{Status, StepReport};
use crate::tally::TestTally;

/// Directory name cargo-deny 0.20 uses for the default advisory-db URL under
/// `$CARGO_HOME/advisory-dbs/` (the same path `../shared/advisory-db/install.sh` fills).
const ADVISORY_DB_DIR: &str = "advisory-db-3157b0e258782691";

/// The advisory-db installer, relative to the workspace root.
const ADVISORY_DB_INSTALLER: &str = "../shared/advisory-db/install.sh";

/// An optional cargo subcommand that some steps need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `cargo nextest`.
    Nextest,
    /// `cargo deny`.
    Deny,
}

impl Tool {
    /// The cargo subcommand (`cargo <subcommand> --version` probes for it).
    pub(crate) fn subcommand(self) -> &'static str {
        match self {
            Tool::Nextest => "nextest",
            Tool::Deny => "deny",
        }
    }

    /// The command that installs the tool.
    pub(crate) fn install_command(self) -> &'static str {
        match self {
            Tool::Nextest => "cargo install cargo-nextest --locked",
            Tool::Deny => "cargo install cargo-deny --locked",
        }
    }
}

/// The status of a step whose tool is missing: a failure in CI, a skip elsewhere.
pub(crate) fn missing_tool_status(ci: bool) -> Status {
    if ci { Status::Failed } else { Status::Skipped }
}

/// The note shown in the summary for a missing tool.
pub(crate) fn missing_tool_note(tool: Tool, ci: bool) -> String {
    let suffix = if ci { " (required with CI=true)" } else { "" };
    format!(
        "cargo-{} not installed: {}{suffix}",
        tool.subcommand(),
        tool.install_command()
    )
}

/// Where cargo-deny keeps the default advisory database: `$CARGO_HOME/advisory-dbs/...`,
/// with `CARGO_HOME` defaulting to `$HOME/.cargo`. `None` when neither variable is set.
pub(crate) fn advisory_db_dir(cargo_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    let cargo_home = match (cargo_home, home) {
        (Some(ch), _) if !ch.as_os_str().is_empty() => ch.to_path_buf(),
        (_, Some(h)) if !h.as_os_str().is_empty() => h.join(".cargo"),
        _ => return None,
    };
    Some(cargo_home.join("advisory-dbs").join(ADVISORY_DB_DIR))
}

/// One chat-bench target: which backend it measures and where it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BenchTarget {
    /// The name `--only` selects (`memory`, `sqlite`, `postgres`, `stream`).
    pub(crate) backend: &'static str,
    /// The crate's directory below the workspace root.
    pub(crate) dir: &'static str,
    /// The package that owns the bench.
    pub(crate) package: &'static str,
    /// The `[[bench]]` name (`benches/<name>.rs`).
    pub(crate) bench: &'static str,
}

/// Every chat-bench target, in the order `cargo xtask bench` runs them.
pub(crate) const BENCH_TARGETS: &[BenchTarget] = &[
    BenchTarget {
        backend: "memory",
        dir: "crates/storage-memory",
        package: "hotplex-storage-memory",
        bench: "chat_bench",
    },
    BenchTarget {
        backend: "sqlite",
        dir: "crates/storage-sqlite",
        package: "hotplex-storage-sqlite",
        bench: "chat_bench",
    },
    BenchTarget {
        backend: "postgres",
        dir: "crates/storage-postgres",
        package: "hotplex-storage-postgres",
        bench: "chat_bench",
    },
    BenchTarget {
        backend: "stream",
        dir: "crates/storage-stream",
        package: "hotplex-storage-stream",
        bench: "w2",
    },
];

/// The targets to run: those whose bench source exists under `root`, narrowed to `only`
/// when given. An unknown `only` is an error naming the known backends.
pub(crate) fn select_benches(root: &Path, only: Option<&str>) -> Result<Vec<BenchTarget>, String> {
    if let Some(name) = only
        && !BENCH_TARGETS.iter().any(|t| t.backend == name)
    {
        let known: Vec<&str> = BENCH_TARGETS.iter().map(|t| t.backend).collect();
        return Err(format!(
            "unknown bench `{name}`; known: {}",
            known.join(", ")
        ));
    }
    Ok(BENCH_TARGETS
        .iter()
        .filter(|t| only.is_none_or(|name| t.backend == name))
        .filter(|t| {
            root.join(t.dir)
                .join("benches")
                .join(format!("{}.rs", t.bench))
                .is_file()
        })
        .copied()
        .collect())
}

/// Everything a step needs to know about where and how it runs.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The workspace root; every command runs there.
    pub(crate) root: PathBuf,
    /// `CI=true`: missing tools fail instead of being skipped.
    pub(crate) ci: bool,
}

impl Ctx {
    /// Runs `cmd` in the workspace root; true on success.
    fn run(&self, cmd: &Cmd) -> bool {
        cmd.run(&self.root) == 0
    }

    /// Runs a test command in the workspace root: true on success, and the tests it counted.
    fn run_tests(&self, cmd: &Cmd) -> (bool, TestTally) {
        let (code, output) = cmd.run_captured(&self.root);
        (code == 0, TestTally::from_output(&output))
    }

    /// Whether `cargo <tool> --version` works.
    fn has(&self, tool: Tool) -> bool {
        Cmd::cargo(&[tool.subcommand(), "--version"]).succeeds_quietly(&self.root)
    }

    /// Tells the user a tool is missing and how to install it.
    fn report_missing(&self, tool: Tool) {
        let what = if self.ci {
            "this is a failure because CI=true"
        } else {
            "skipping what needs it"
        };
        eprintln!(
            "\nxtask: cargo-{} is not installed ({what}); install it with: {}",
            tool.subcommand(),
            tool.install_command()
        );
    }
}

/// Times `body` and turns its `(status, note)` into a [`StepReport`].
fn timed(name: &'static str, body: impl FnOnce() -> (Status, String)) -> StepReport {
    timed_tests(name, || {
        let (status, note) = body();
        (status, note, None)
    })
}

/// [`timed`] for a step that runs tests and counts them.
fn timed_tests(
    name: &'static str,
    body: impl FnOnce() -> (Status, String, Option<TestTally>),
) -> StepReport {
    println!("\n=== xtask: {name} ===");
    let start = Instant::now();
    let (status, note, tests) = body();
    StepReport {
        name,
        status,
        seconds: start.elapsed().as_secs_f64(),
        note,
        tests,
    }
}

fn status_of(ok: bool) -> Status {
    if ok { Status::Ok } else { Status::Failed }
}

/// `cargo fmt --all --check`.
pub(crate) fn fmt(ctx: &Ctx) -> StepReport {
    timed("fmt", || {
        (
            status_of(ctx.run(&Cmd::cargo(&["fmt", "--all", "--check"]))),
            String::new(),
        )
    })
}

/// `cargo clippy --workspace --all-targets --all-features -- -D warnings`.
pub(crate) fn clippy(ctx: &Ctx) -> StepReport {
    timed("clippy", || {
        let cmd = Cmd::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]);
        (status_of(ctx.run(&cmd)), String::new())
    })
}

/// The whole test suite: cargo-nextest plus doctests (nextest skips them), or plain
/// `cargo test` when cargo-nextest is missing (a failure under `CI=true`, after still running
/// `cargo test` so the log shows the results).
///
/// PostgreSQL: the tests get `HOTPLEX_TEST_POSTGRES_DSN` of one throwaway cluster started for
/// the run and removed afterwards (also when tests fail), unless the variable is already set.
/// Missing binaries fail the step under `CI=true` and are a warning otherwise.
pub(crate) fn test(ctx: &Ctx) -> StepReport {
    timed_tests("test", || {
        let path_var = std::env::var_os("PATH");
        let prepared = TestServer::prepare(
            ctx.ci,
            std::env::var(DSN_ENV).ok().as_deref(),
            path_var.as_deref(),
            Path::new(LIB_ROOT),
        );
        let server = match prepared {
            Ok(server) => server,
            Err(err) => {
                eprintln!("\nxtask: {err}");
                return (Status::Failed, format!("postgres: {err}"), None);
            }
        };
        let (status, note, tally) = run_test_commands(ctx, &server);
        let pg_note = server.note();
        match server.finish() {
            Ok(()) => (status, format!("{note}; {pg_note}"), tally),
            Err(err) => {
                eprintln!("\nxtask: {err}");
                (
                    Status::Failed,
                    format!("{note}; postgres cleanup failed: {err}"),
                    tally,
                )
            }
        }
    })
}

/// The test commands of [`test()`], with the PostgreSQL DSN applied.
fn run_test_commands(ctx: &Ctx, server: &TestServer) -> (Status, String, Option<TestTally>) {
    if ctx.has(Tool::Nextest) {
        let (nextest, mut tally) = ctx.run_tests(&server.apply(Cmd::cargo(&[
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ])));
        let (doc, doc_tally) = ctx.run_tests(&server.apply(Cmd::cargo(&[
            "test",
            "--workspace",
            "--doc",
            "--all-features",
        ])));
        tally += doc_tally;
        let failed = match (nextest, doc) {
            (true, true) => "",
            (false, true) => "nextest failed; ",
            (true, false) => "doctests failed; ",
            (false, false) => "nextest and doctests failed; ",
        };
        let ok = nextest && doc && tally.ran_any();
        return (status_of(ok), format!("{failed}{tally}"), Some(tally));
    }
    ctx.report_missing(Tool::Nextest);
    let (ok, tally) =
        ctx.run_tests(&server.apply(Cmd::cargo(&["test", "--workspace", "--all-features"])));
    let status = if ctx.ci {
        Status::Failed
    } else {
        status_of(ok && tally.ran_any())
    };
    let note = if ctx.ci {
        format!("{}; {tally}", missing_tool_note(Tool::Nextest, true))
    } else {
        format!(
            "ran cargo test instead; {}; {tally}",
            missing_tool_note(Tool::Nextest, false)
        )
    };
    (status, note, Some(tally))
}

/// `cargo doc --workspace --no-deps --all-features` with `RUSTDOCFLAGS="-D warnings"`.
pub(crate) fn doc(ctx: &Ctx) -> StepReport {
    timed("doc", || {
        let cmd = Cmd::cargo(&["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings");
        (status_of(ctx.run(&cmd)), String::new())
    })
}

/// `cargo deny --offline check`, after installing the advisory-db snapshot when the database
/// is missing and fetching every crate (`--offline` needs them all on disk).
pub(crate) fn deny(ctx: &Ctx) -> StepReport {
    timed("deny", || {
        if !ctx.has(Tool::Deny) {
            ctx.report_missing(Tool::Deny);
            return (
                missing_tool_status(ctx.ci),
                missing_tool_note(Tool::Deny, ctx.ci),
            );
        }
        let mut notes = Vec::new();
        let db = advisory_db_dir(
            std::env::var_os("CARGO_HOME").as_deref().map(Path::new),
            std::env::var_os("HOME").as_deref().map(Path::new),
        );
        let db_present = db.as_ref().is_some_and(|d| d.join("crates").is_dir());
        if !db_present {
            let installer = ctx.root.join(ADVISORY_DB_INSTALLER);
            if installer.is_file() {
                if !ctx.run(&Cmd::new("bash", &[ADVISORY_DB_INSTALLER])) {
                    notes.push("advisory-db install failed");
                }
            } else {
                eprintln!(
                    "\nxtask: no advisory database and no installer at {}; \
                     cargo deny --offline will fail",
                    installer.display()
                );
                notes.push("advisory-db missing");
            }
        }
        let fetched = ctx.run(&Cmd::cargo(&["fetch", "--locked"]));
        if !fetched {
            notes.push("cargo fetch --locked failed");
        }
        let denied = ctx.run(&Cmd::cargo(&["deny", "--offline", "check"]));
        if !denied {
            notes.push("cargo deny found problems");
        }
        (status_of(fetched && denied), notes.join("; "))
    })
}

/// Runs the chat-bench targets (release profile), forwarding `args` to each; `only` picks
/// one backend. Returns the process exit code: the first failure's, else 0.
pub(crate) fn bench(ctx: &Ctx, only: Option<&str>, args: &[String]) -> i32 {
    let targets = match select_benches(&ctx.root, only) {
        Ok(targets) => targets,
        Err(err) => {
            eprintln!("xtask: {err}");
            return 2;
        }
    };
    if targets.is_empty() {
        eprintln!("xtask: no chat-bench target exists yet (expected crates/*/benches/*.rs)");
        return 1;
    }
    let mut code = 0;
    for target in targets {
        let status = Cmd::cargo(&["bench", "-p", target.package, "--bench", target.bench, "--"])
            .args(args.iter().cloned())
            .run(&ctx.root);
        if status != 0 && code == 0 {
            code = status;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::{
        Status, Tool, advisory_db_dir, missing_tool_note, missing_tool_status, select_benches,
    };
    use std::path::{Path, PathBuf};

    /// A fresh, empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir()
                .join(format!("xtask-test-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn missing_tools_fail_only_in_ci() {
        assert_eq!(missing_tool_status(true), Status::Failed);
        assert_eq!(missing_tool_status(false), Status::Skipped);
    }

    #[test]
    fn missing_tool_notes_carry_the_install_command() {
        assert_eq!(
            missing_tool_note(Tool::Deny, false),
            "cargo-deny not installed: cargo install cargo-deny --locked"
        );
        assert_eq!(
            missing_tool_note(Tool::Nextest, true),
            "cargo-nextest not installed: cargo install cargo-nextest --locked (required with CI=true)"
        );
    }

    #[test]
    fn advisory_db_dir_prefers_cargo_home() {
        let expected = Path::new("/opt/cargo/advisory-dbs/advisory-db-3157b0e258782691");
        assert_eq!(
            advisory_db_dir(Some(Path::new("/opt/cargo")), Some(Path::new("/root"))),
            Some(expected.to_path_buf())
        );
        assert_eq!(
            advisory_db_dir(None, Some(Path::new("/root"))),
            Some(PathBuf::from(
                "/root/.cargo/advisory-dbs/advisory-db-3157b0e258782691"
            ))
        );
        assert_eq!(
            advisory_db_dir(Some(Path::new("")), Some(Path::new("/home/u"))),
            Some(PathBuf::from(
                "/home/u/.cargo/advisory-dbs/advisory-db-3157b0e258782691"
            ))
        );
        assert_eq!(advisory_db_dir(None, None), None);
    }

    #[test]
    fn bench_selection_follows_existing_sources_and_only() {
        let dir = TempDir::new("bench");
        assert!(select_benches(&dir.0, None).unwrap().is_empty());
        std::fs::create_dir_all(dir.0.join("crates/storage-sqlite/benches")).unwrap();
        std::fs::write(
            dir.0.join("crates/storage-sqlite/benches/chat_bench.rs"),
            "",
        )
        .unwrap();
        std::fs::create_dir_all(dir.0.join("crates/storage-stream/benches")).unwrap();
        std::fs::write(dir.0.join("crates/storage-stream/benches/w2.rs"), "").unwrap();
        let all: Vec<_> = select_benches(&dir.0, None)
            .unwrap()
            .iter()
            .map(|t| t.backend)
            .collect();
        assert_eq!(all, ["sqlite", "stream"]);
        let only = select_benches(&dir.0, Some("stream")).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].bench, "w2");
        assert!(select_benches(&dir.0, Some("memory")).unwrap().is_empty());
        let err = select_benches(&dir.0, Some("mysql")).unwrap_err();
        assert!(err.contains("memory, sqlite, postgres, stream"), "{err}");
    }
}
