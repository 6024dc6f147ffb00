//! PostgreSQL for xtask: one throwaway cluster per test run, `cargo xtask pg start|stop|env`
//! for manual work, and `cargo xtask migrate`. The cluster recipe itself is the testkit's
//! (`crate::pg_cluster`, included from the testkit source), so there is one of it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::binaries::{Binaries, LIB_ROOT};
use crate::cli::{MigrateArgs, MigrateTarget, PgAction};
use crate::cmd::{Cmd, shell_quote};
use crate::conninfo::ConnInfo;
use crate::pg_cluster::{Cluster, DSN_ENV, throwaway_root};
use crate::steps::Ctx;

/// The directory of the manual cluster, relative to the workspace root.
const MANUAL_DIR: &str = "target/pg";

/// The CLI package `cargo xtask migrate` delegates to, and its directory.
const CLI_PACKAGE: &str = "hotplex-storage-cli";
const CLI_DIR: &str = "crates/storage-cli";

/// The server binaries on `PATH` or under `/usr/lib/postgresql/*/bin`.
fn binaries() -> Option<Binaries> {
    let path: Option<OsString> = std::env::var_os("PATH");
    Binaries::find(path.as_deref(), Path::new(LIB_ROOT))
}

/// The message for missing server binaries.
fn missing_binaries() -> String {
    format!(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under \
         {LIB_ROOT}/*/bin; install them (Debian: apt-get install postgresql) or set {DSN_ENV}"
    )
}

/// The PostgreSQL server the test step gives the tests.
#[derive(Debug)]
pub(crate) enum TestServer {
    /// `HOTPLEX_TEST_POSTGRES_DSN` was already set; the tests inherit it.
    External,
    /// A throwaway cluster started for this run; its admin DSN is exported to the tests.
    Started {
        /// The cluster, stopped by [`TestServer::finish`].
        cluster: Cluster,
        /// Its admin DSN.
        dsn: String,
    },
    /// No binaries and not in CI: the PostgreSQL tests skip themselves.
    Missing,
}

impl TestServer {
    /// Prepares PostgreSQL for a test run: the caller's DSN, else a throwaway cluster
    /// (watched, so it goes away even if xtask is killed). `Err` when starting failed, or when
    /// the binaries are missing with `CI=true`.
    /// The binaries are looked up on `path_var`, then under `lib_root`.
    pub(crate) fn prepare(
        ci: bool,
        dsn_var: Option<&str>,
        path_var: Option<&OsStr>,
        lib_root: &Path,
    ) -> Result<Self, String> {
        if dsn_var.is_some_and(|d| !d.trim().is_empty()) {
            println!("xtask: PostgreSQL tests use {DSN_ENV} from the environment");
            return Ok(Self::External);
        }
        let Some(binaries) = Binaries::find(path_var, lib_root) else {
            if ci {
                return Err(format!(
                    "PostgreSQL is required with CI=true: {}",
                    missing_binaries()
                ));
            }
            eprintln!(
                "\nxtask: warning: {}; the PostgreSQL tests will skip themselves",
                missing_binaries()
            );
            return Ok(Self::Missing);
        };
        let root = throwaway_root();
        println!(
            "xtask: starting a throwaway PostgreSQL cluster from {} in {}",
            binaries.dir().display(),
            root.display()
        );
        let cluster =
            Cluster::start(&binaries, &root, Some(std::process::id())).inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&root);
            })?;
        let dsn = cluster.admin_conninfo().render();
        println!(
            "xtask: PostgreSQL ready (pid {}): {DSN_ENV}={dsn}",
            cluster.pid()
        );
        Ok(Self::Started { cluster, dsn })
    }

    /// Adds `HOTPLEX_TEST_POSTGRES_DSN` to a test command when we started the cluster.
    pub(crate) fn apply(&self, cmd: Cmd) -> Cmd {
        match self {
            Self::Started { dsn, .. } => cmd.env(DSN_ENV, dsn),
            Self::External | Self::Missing => cmd,
        }
    }

    /// A short note for the summary table.
    pub(crate) fn note(&self) -> &'static str {
        match self {
            Self::External => "postgres: external DSN",
            Self::Started { .. } => "postgres: throwaway cluster",
            Self::Missing => "postgres: binaries missing, pg tests skipped",
        }
    }

    /// Stops and removes a cluster we started; an error is returned for the step's note.
    pub(crate) fn finish(self) -> Result<(), String> {
        match self {
            Self::Started { cluster, .. } => {
                println!("\nxtask: stopping the throwaway PostgreSQL cluster");
                cluster.stop()
            }
            Self::External | Self::Missing => Ok(()),
        }
    }
}

/// `cargo xtask pg start|stop|env`; returns the exit code.
pub(crate) fn command(ctx: &Ctx, action: PgAction) -> i32 {
    let root = ctx.root.join(MANUAL_DIR);
    let Some(binaries) = binaries() else {
        eprintln!("xtask: {}", missing_binaries());
        return 1;
    };
    let result = match action {
        PgAction::Start => start(&binaries, &root),
        PgAction::Stop => stop(&binaries, &root),
        PgAction::Env => env(&binaries, &root),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("xtask: {err}");
            1
        }
    }
}

/// The `export` line `cargo xtask pg env` prints.
fn export_line(dsn: &str) -> String {
    format!("export {DSN_ENV}={}", shell_quote(dsn))
}

fn start(binaries: &Binaries, root: &Path) -> Result<(), String> {
    let (cluster, how) = if let Some(running) = Cluster::attach(binaries, root)? {
        (running, "already running")
    } else if root.join("data").join("PG_VERSION").is_file() {
        (
            Cluster::restart_stopped(binaries, root)?,
            "started (existing data kept)",
        )
    } else {
        if root.exists() {
            // A directory without a cluster: a failed earlier start.
            std::fs::remove_dir_all(root)
                .map_err(|e| format!("cannot remove {}: {e}", root.display()))?;
        }
        (
            Cluster::start(binaries, root, None)?,
            "initialised and started",
        )
    };
    let dsn = cluster.admin_conninfo().render();
    println!(
        "PostgreSQL in {} {how} (pid {}, no TCP, socket in {}/socket)\n\
         DSN: {dsn}\n\
         for the tests: {}   (or: eval \"$(cargo xtask pg env)\")\n\
         stop and remove it: cargo xtask pg stop",
        root.display(),
        cluster.pid(),
        root.display(),
        export_line(&dsn)
    );
    Ok(())
}

fn stop(binaries: &Binaries, root: &Path) -> Result<(), String> {
    if let Some(running) = Cluster::attach(binaries, root)? {
        running.stop()?;
        println!("PostgreSQL in {} stopped and removed", root.display());
    } else if root.exists() {
        std::fs::remove_dir_all(root)
            .map_err(|e| format!("cannot remove {}: {e}", root.display()))?;
        println!(
            "PostgreSQL in {} was not running; its directory is removed",
            root.display()
        );
    } else {
        println!(
            "PostgreSQL in {} is not running; nothing to do",
            root.display()
        );
    }
    Ok(())
}

fn env(binaries: &Binaries, root: &Path) -> Result<(), String> {
    let running = Cluster::attach(binaries, root)?.ok_or_else(|| {
        format!(
            "no PostgreSQL running in {}; start it with: cargo xtask pg start",
            root.display()
        )
    })?;
    println!("{}", export_line(&running.admin_conninfo().render()));
    Ok(())
}

/// The `hotplex-storage` arguments for `args`: connection flags, then `migrate [--status]`.
pub(crate) fn migrate_cli_args(args: &MigrateArgs) -> Vec<String> {
    let mut out: Vec<String> = match &args.target {
        MigrateTarget::Sqlite(path) => vec![
            "--type".into(),
            "sqlite".into(),
            "--sqlite-path".into(),
            path.clone(),
        ],
        MigrateTarget::Postgres { dsn, level } => {
            let mut v = vec![
                "--type".into(),
                "postgres".into(),
                "--postgres-dsn".into(),
                dsn.clone(),
            ];
            if let Some(level) = level {
                v.extend(["--postgres-level".into(), level.to_string()]);
            }
            v
        }
    };
    out.push("migrate".into());
    if args.status {
        out.push("--status".into());
    }
    out
}

/// The `cargo run` command for `args`, displayed with the DSN's password masked.
pub(crate) fn migrate_command(args: &MigrateArgs) -> Cmd {
    let cli_args = migrate_cli_args(args);
    let cmd = Cmd::cargo(&["run", "--quiet", "--release", "-p", CLI_PACKAGE, "--"]).args(cli_args);
    match &args.target {
        MigrateTarget::Sqlite(_) => cmd,
        MigrateTarget::Postgres { dsn, .. } => {
            let masked =
                ConnInfo::parse(dsn).map_or_else(|_| "<DSN hidden>".to_owned(), |c| c.masked());
            let shown: Vec<String> = cmd
                .args
                .iter()
                .map(|a| {
                    if a == dsn {
                        shell_quote(&masked)
                    } else {
                        shell_quote(a)
                    }
                })
                .collect();
            let line = format!("cargo {}", shown.join(" "));
            cmd.shown_as(line)
        }
    }
}

/// `cargo xtask migrate`: delegates to `hotplex-storage migrate`; returns the exit code.
pub(crate) fn migrate(ctx: &Ctx, args: &MigrateArgs) -> i32 {
    let cli: PathBuf = ctx.root.join(CLI_DIR).join("Cargo.toml");
    if !cli.is_file() {
        eprintln!(
            "xtask: {CLI_PACKAGE} ({CLI_DIR}) is not in this workspace yet; `migrate` needs it"
        );
        return 1;
    }
    migrate_command(args).run(&ctx.root)
}

#[cfg(test)]
mod tests {
    use super::{TestServer, export_line, migrate_cli_args, migrate_command};
    use crate::binaries::LIB_ROOT;
    use crate::cli::{MigrateArgs, MigrateTarget};
    use crate::cmd::Cmd;
    use crate::pg_cluster::DSN_ENV;
    use std::ffi::OsStr;
    use std::path::Path;

    const NOWHERE: &str = "/nonexistent/hotplex-xtask-test";

    #[test]
    fn missing_binaries_fail_only_in_ci() {
        let err = TestServer::prepare(true, None, Some(OsStr::new(NOWHERE)), Path::new(NOWHERE))
            .unwrap_err();
        assert!(err.contains("CI=true"), "{err}");
        assert!(err.contains("apt-get install postgresql"), "{err}");
        let server =
            TestServer::prepare(false, None, Some(OsStr::new(NOWHERE)), Path::new(NOWHERE))
                .unwrap();
        assert!(matches!(server, TestServer::Missing));
        let cmd = server.apply(Cmd::cargo(&["test"]));
        assert!(cmd.envs.is_empty());
        server.finish().unwrap();
    }

    #[test]
    fn a_dsn_from_the_environment_is_used_as_is() {
        for ci in [true, false] {
            let server = TestServer::prepare(
                ci,
                Some("host=/x"),
                Some(OsStr::new(NOWHERE)),
                Path::new(NOWHERE),
            )
            .unwrap();
            assert!(matches!(server, TestServer::External));
            assert!(server.apply(Cmd::cargo(&["test"])).envs.is_empty());
        }
        let blank = TestServer::prepare(
            false,
            Some(" "),
            Some(OsStr::new(NOWHERE)),
            Path::new(NOWHERE),
        )
        .unwrap();
        assert!(matches!(blank, TestServer::Missing));
    }

    #[test]
    fn a_started_cluster_is_exported_and_removed_by_finish() {
        let path = std::env::var_os("PATH");
        let server =
            TestServer::prepare(false, None, path.as_deref(), Path::new(LIB_ROOT)).unwrap();
        let TestServer::Started { cluster, dsn } = &server else {
            eprintln!("skipping: no PostgreSQL binaries");
            return;
        };
        let root = cluster.root().to_path_buf();
        assert!(root.join("data/postmaster.pid").is_file());
        assert!(
            dsn.contains(&format!("host={}", root.join("socket").display())),
            "{dsn}"
        );
        let cmd = server.apply(Cmd::cargo(&["test"]));
        assert_eq!(cmd.envs, [(DSN_ENV.to_owned(), dsn.clone())]);
        server.finish().unwrap();
        assert!(!root.exists(), "{} left behind", root.display());
    }

    #[test]
    fn migrate_delegates_with_the_cli_flags() {
        let sqlite = MigrateArgs {
            target: MigrateTarget::Sqlite("/data/chat.db".into()),
            status: true,
        };
        assert_eq!(
            migrate_cli_args(&sqlite),
            [
                "--type",
                "sqlite",
                "--sqlite-path",
                "/data/chat.db",
                "migrate",
                "--status"
            ]
        );
        let pg = MigrateArgs {
            target: MigrateTarget::Postgres {
                dsn: "host=h".into(),
                level: Some(2),
            },
            status: false,
        };
        assert_eq!(
            migrate_cli_args(&pg),
            [
                "--type",
                "postgres",
                "--postgres-dsn",
                "host=h",
                "--postgres-level",
                "2",
                "migrate"
            ]
        );
        let cmd = migrate_command(&pg);
        assert_eq!(
            cmd.args[..6],
            [
                "run",
                "--quiet",
                "--release",
                "-p",
                "hotplex-storage-cli",
                "--"
            ]
        );
    }

    #[test]
    fn migrate_never_displays_the_password() {
        for dsn in [
            "host=h password=hunter2 dbname=d",
            "postgres://u:hunter2@h/d",
        ] {
            let cmd = migrate_command(&MigrateArgs {
                target: MigrateTarget::Postgres {
                    dsn: dsn.into(),
                    level: None,
                },
                status: false,
            });
            let shown = cmd.display();
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("password=***"), "{shown}");
            assert!(cmd.args.iter().any(|a| a == dsn), "the real DSN is passed");
        }
        let broken = migrate_command(&MigrateArgs {
            target: MigrateTarget::Postgres {
                dsn: "password='hunter2".into(),
                level: None,
            },
            status: false,
        });
        assert!(broken.display().contains("<DSN hidden>"));
    }

    #[test]
    fn export_line_quotes_the_dsn() {
        assert_eq!(
            export_line("host=/tmp/s port=5 user=postgres"),
            "export HOTPLEX_TEST_POSTGRES_DSN=\"host=/tmp/s port=5 user=postgres\""
        );
    }
}
