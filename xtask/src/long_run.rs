//! `cargo xtask fuzz` and `cargo xtask soak`: the long versions of the reliability tests that CI
//! runs short.
//!
//! Both run ordinary test binaries (release profile) with environment knobs that scale them:
//! `PROPTEST_CASES` for the proptest fuzz harnesses, `HOTPLEX_CRASH_ROUNDS` for the SIGKILL
//! test, `HOTPLEX_STREAM_FUZZ_SEEDS` for the stream fuzz. PostgreSQL targets need a server:
//! `HOTPLEX_TEST_POSTGRES_DSN`, or the installed binaries for a throwaway cluster. A target whose test file does not
//! exist in this checkout is reported and skipped; any failure stops the run with its exit code.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmd::Cmd;

/// One test binary run by `fuzz` or `soak`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    /// What it exercises, for the log.
    pub(crate) what: &'static str,
    /// The package.
    pub(crate) package: &'static str,
    /// The package directory under `crates/`.
    pub(crate) dir: &'static str,
    /// The integration test (`tests/<test>.rs`).
    pub(crate) test: &'static str,
    /// Environment for one run.
    pub(crate) env: &'static [(&'static str, &'static str)],
}

/// The fuzz harnesses, each run repeatedly (fresh random cases every run) for its time budget.
pub(crate) const FUZZ_TARGETS: &[Target] = &[
    Target {
        what: "import parsing (JSON Lines and Go exports)",
        package: "hotplex-storage-core",
        dir: "storage-core",
        test: "import_fuzz",
        env: &[("PROPTEST_CASES", "20000")],
    },
    Target {
        what: "configuration parsing (YAML and environment)",
        package: "hotplex-storage-registry",
        dir: "storage-registry",
        test: "config_fuzz",
        env: &[("PROPTEST_CASES", "20000")],
    },
];

/// The soak: each target once, scaled up.
pub(crate) const SOAK_TARGETS: &[Target] = &[
    Target {
        what: "SQLite: SIGKILL during 16-task writes, 200 kills per synchronous mode",
        package: "hotplex-storage-sqlite",
        dir: "storage-sqlite",
        test: "crash",
        env: &[("HOTPLEX_CRASH_ROUNDS", "200")],
    },
    Target {
        what: "streams: randomised calls with lost acks, transient and permanent failures",
        package: "hotplex-storage-stream",
        dir: "storage-stream",
        test: "fuzz",
        env: &[("HOTPLEX_STREAM_FUZZ_SEEDS", "5000")],
    },
    Target {
        what: "PostgreSQL: killed backends mid-load, idle connections dropped, pool exhaustion",
        package: "hotplex-storage-postgres",
        dir: "storage-postgres",
        test: "store",
        env: &[],
    },
    Target {
        what: "PostgreSQL: a server crash (stop -m immediate) mid-load, both levels",
        package: "hotplex-storage-postgres",
        dir: "storage-postgres",
        test: "crash",
        env: &[],
    },
    Target {
        what: "streams: 100 concurrent streams under random faults with close() mid-way",
        package: "hotplex-storage-stream",
        dir: "storage-stream",
        test: "faults",
        env: &[],
    },
    Target {
        what: "import parsing fuzz, one long run",
        package: "hotplex-storage-core",
        dir: "storage-core",
        test: "import_fuzz",
        env: &[("PROPTEST_CASES", "200000")],
    },
];

/// Whether `target`'s test file exists under `root`.
pub(crate) fn exists(root: &Path, target: &Target) -> bool {
    root.join("crates")
        .join(target.dir)
        .join("tests")
        .join(format!("{}.rs", target.test))
        .is_file()
}

/// The command that runs `target` once.
pub(crate) fn command(target: &Target) -> Cmd {
    let mut cmd = Cmd::cargo(&[
        "test",
        "--release",
        "-p",
        target.package,
        "--test",
        target.test,
        "--",
        "--nocapture",
    ]);
    for (key, value) in target.env {
        cmd = cmd.env(key, value);
    }
    cmd
}

/// `cargo xtask fuzz`: every fuzz target, repeatedly, for `minutes` each. Returns the exit code.
pub(crate) fn fuzz(root: &Path, minutes: u64) -> i32 {
    let budget = Duration::from_secs(minutes.saturating_mul(60));
    let mut summary = Vec::new();
    for target in FUZZ_TARGETS {
        if !exists(root, target) {
            println!(
                "xtask fuzz: skipped {} ({} has no tests/{}.rs)",
                target.what, target.package, target.test
            );
            continue;
        }
        let started = Instant::now();
        let mut runs = 0_u64;
        while runs == 0 || started.elapsed() < budget {
            let code = command(target).run(root);
            if code != 0 {
                eprintln!("xtask fuzz: {} failed in run {}", target.what, runs + 1);
                return code;
            }
            runs += 1;
        }
        summary.push(format!(
            "{}: {runs} runs in {:.0?}, no failure",
            target.what,
            started.elapsed()
        ));
    }
    println!("\n=== xtask fuzz summary ===");
    for line in &summary {
        println!("{line}");
    }
    0
}

/// `cargo xtask soak`: every soak target once, or those named in `only` (`<dir>/<test>`).
/// Returns the exit code (2 for a name that is no target).
pub(crate) fn soak(root: &Path, only: &[String]) -> i32 {
    let name = |t: &Target| format!("{}/{}", t.dir, t.test);
    if let Some(unknown) = only
        .iter()
        .find(|o| !SOAK_TARGETS.iter().any(|t| name(t) == **o))
    {
        let known: Vec<String> = SOAK_TARGETS.iter().map(name).collect();
        eprintln!(
            "xtask soak: no target `{unknown}`; targets: {}",
            known.join(", ")
        );
        return 2;
    }
    let mut summary = Vec::new();
    for target in SOAK_TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.contains(&name(t)))
    {
        if !exists(root, target) {
            println!(
                "xtask soak: skipped {} ({} has no tests/{}.rs)",
                target.what, target.package, target.test
            );
            continue;
        }
        let started = Instant::now();
        let code = command(target).run(root);
        if code != 0 {
            eprintln!("xtask soak: {} failed", target.what);
            return code;
        }
        summary.push(format!("{}: ok in {:.0?}", target.what, started.elapsed()));
    }
    println!("\n=== xtask soak summary ===");
    for line in &summary {
        println!("{line}");
    }
    0
}

#[cfg(test)]
mod tests {
    use super::{FUZZ_TARGETS, SOAK_TARGETS, command, exists};
    use std::path::Path;

    #[test]
    fn commands_run_the_release_test_with_the_knobs() {
        let cmd = command(&SOAK_TARGETS[0]);
        assert_eq!(
            cmd.display(),
            "HOTPLEX_CRASH_ROUNDS=200 cargo test --release -p hotplex-storage-sqlite --test crash -- --nocapture"
        );
    }

    #[test]
    fn the_core_targets_exist_in_this_checkout() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(exists(root, &FUZZ_TARGETS[0]));
        assert!(exists(root, &SOAK_TARGETS[0]));
        let missing = super::Target {
            test: "no_such_test",
            ..FUZZ_TARGETS[0]
        };
        assert!(!exists(root, &missing));
    }
}
