//! Command-line parsing for `cargo xtask`: turns the arguments into a [`Command`].

/// What `cargo xtask` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Every check CI runs: fmt, clippy, tests, docs, cargo-deny.
    Ci,
    /// Only the test suite (nextest plus doctests, or `cargo test`).
    Test,
    /// Only `cargo deny --offline check` (with its advisory-db preparation).
    Deny,
    /// The chat-bench workload: `only` picks one backend's bench; the other arguments are
    /// forwarded to every bench run.
    Bench {
        /// `--only <backend>`, if given.
        only: Option<String>,
        /// Arguments for the bench binaries.
        args: Vec<String>,
    },
    /// `cargo xtask pg start|stop|env`: a PostgreSQL cluster under `target/pg` for manual work.
    Pg(PgAction),
    /// `cargo xtask migrate`: runs `hotplex-storage migrate` against one SQL database.
    Migrate(MigrateArgs),
    /// `cargo xtask fuzz [--minutes N]`: every fuzz harness, repeatedly, N minutes each.
    Fuzz {
        /// Minutes per harness (default 10).
        minutes: u64,
    },
    /// `cargo xtask soak [--only DIR/TEST]...`: the long versions of the reliability tests,
    /// all of them or only the named ones (`storage-stream/fuzz`).
    Soak {
        /// The targets to run, as `<crate dir>/<test>`; empty runs every target.
        only: Vec<String>,
    },
    /// Print the usage text.
    Help,
}

/// What `cargo xtask pg` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgAction {
    /// Start the cluster (initialising it on first use) and print its DSN.
    Start,
    /// Stop the cluster and remove its directory.
    Stop,
    /// Print `export HOTPLEX_TEST_POSTGRES_DSN=...` for the running cluster.
    Env,
}

/// The database `cargo xtask migrate` works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MigrateTarget {
    /// `--sqlite PATH`.
    Sqlite(String),
    /// `--postgres DSN`, with `--level N` when given.
    Postgres {
        /// The DSN (key=value or URL).
        dsn: String,
        /// `--level`: 1 (one table) or 2 (monthly partitions).
        level: Option<u8>,
    },
}

/// The arguments of `cargo xtask migrate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MigrateArgs {
    /// Which database.
    pub(crate) target: MigrateTarget,
    /// `--status`: report applied and pending migrations instead of applying them.
    pub(crate) status: bool,
}

/// The usage text printed by `cargo xtask help` and after an argument error.
pub(crate) const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  ci            fmt check, clippy, tests, examples, docs and cargo-deny; prints a summary table
  test          the test suite only (cargo-nextest + doctests, or cargo test)
  deny          cargo deny --offline check only (installs the advisory-db snapshot if missing)
  bench [--only memory|sqlite|stream] [args]
                cargo bench -p <crate> --bench <chat_bench|w2> -- [args] for each backend;
                args: --sessions N --turns N --ops N --json FILE
  pg start|stop|env
                a PostgreSQL cluster in target/pg on a private socket: `start` initialises
                and starts it and prints its DSN, `env` prints
                export HOTPLEX_TEST_POSTGRES_DSN=..., `stop` stops and removes it
  migrate (--sqlite PATH | --postgres DSN [--level 1|2]) [--status]
                apply (or, with --status, list) schema migrations through
                cargo run -p hotplex-storage-cli -- ... migrate
  fuzz [--minutes N]
                each fuzz harness (import parsing, config parsing) run repeatedly with
                fresh random cases for N minutes (default 10)
  soak [--only DIR/TEST]...
                the long reliability runs: 200 SIGKILLs per SQLite synchronous mode, the
                stream fault fuzz with 5,000 seeds, PostgreSQL fault tests, a long import fuzz;
                --only runs just the named targets (e.g. storage-stream/fuzz)
  help          this text

environment:
  CI=true       a missing tool (cargo-nextest, cargo-deny) or missing PostgreSQL binaries fail
                their step instead of skipping
  HOTPLEX_TEST_POSTGRES_DSN
                the test step uses this admin DSN instead of starting a throwaway cluster";

/// Parses the arguments that follow `cargo xtask` (the program name already removed).
///
/// No arguments means [`Command::Help`]. For `bench`, one leading `--` is dropped so that
/// `cargo xtask bench -- --flag` and `cargo xtask bench --flag` forward the same thing.
pub(crate) fn parse<I, S>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let Some(first) = args.next() else {
        return Ok(Command::Help);
    };
    let rest: Vec<String> = args.collect();
    let no_extra = |cmd: Command| -> Result<Command, String> {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(format!(
                "`{first}` takes no arguments, got: {}",
                rest.join(" ")
            ))
        }
    };
    match first.as_str() {
        "ci" => no_extra(Command::Ci),
        "test" => no_extra(Command::Test),
        "deny" => no_extra(Command::Deny),
        "help" | "-h" | "--help" => Ok(Command::Help),
        "bench" => {
            let mut forwarded = rest;
            let mut only = None;
            if forwarded.first().is_some_and(|a| a == "--only") {
                if forwarded.len() < 2 {
                    return Err("`--only` needs a backend name".to_owned());
                }
                only = Some(forwarded.remove(1));
                forwarded.remove(0);
            }
            if forwarded.first().is_some_and(|a| a == "--") {
                forwarded.remove(0);
            }
            Ok(Command::Bench {
                only,
                args: forwarded,
            })
        }
        "pg" => match rest.as_slice() {
            [action] => match action.as_str() {
                "start" => Ok(Command::Pg(PgAction::Start)),
                "stop" => Ok(Command::Pg(PgAction::Stop)),
                "env" => Ok(Command::Pg(PgAction::Env)),
                other => Err(format!(
                    "unknown `pg` action `{other}`; use start, stop or env"
                )),
            },
            _ => Err("`pg` takes one action: start, stop or env".to_owned()),
        },
        "migrate" => parse_migrate(&rest).map(Command::Migrate),
        "soak" => {
            let mut only = Vec::new();
            let mut args = rest.iter();
            while let Some(arg) = args.next() {
                match (arg.as_str(), args.next()) {
                    ("--only", Some(target)) if target.contains('/') => only.push(target.clone()),
                    _ => {
                        return Err(
                            "`soak` takes `--only DIR/TEST` (repeatable) or nothing".to_owned()
                        );
                    }
                }
            }
            Ok(Command::Soak { only })
        }
        "fuzz" => match rest.as_slice() {
            [] => Ok(Command::Fuzz { minutes: 10 }),
            [flag, n] if flag == "--minutes" => n
                .parse()
                .ok()
                .filter(|&m| m > 0)
                .map(|minutes| Command::Fuzz { minutes })
                .ok_or_else(|| format!("`--minutes` is a positive number, got `{n}`")),
            _ => Err("`fuzz` takes `--minutes N` or nothing".to_owned()),
        },
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Parses the arguments of `migrate`: exactly one of `--sqlite PATH` / `--postgres DSN`,
/// `--level 1|2` only with `--postgres`, and `--status`. Values may also follow `=`.
fn parse_migrate(args: &[String]) -> Result<MigrateArgs, String> {
    let mut sqlite = None;
    let mut postgres = None;
    let mut level = None;
    let mut status = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "--status" if inline.is_none() => {
                if status {
                    return Err("`--status` given twice".to_owned());
                }
                status = true;
                continue;
            }
            "--sqlite" => &mut sqlite,
            "--postgres" => &mut postgres,
            "--level" => &mut level,
            _ => return Err(format!("`migrate`: unexpected argument `{arg}`")),
        };
        if slot.is_some() {
            return Err(format!("`{flag}` given twice"));
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .filter(|v| !v.starts_with("--"))
                .cloned()
                .ok_or_else(|| format!("`{flag}` needs a value"))?,
        };
        if value.is_empty() {
            return Err(format!("`{flag}` needs a non-empty value"));
        }
        *slot = Some(value);
    }
    let level = level
        .map(|l| match l.as_str() {
            "1" => Ok(1),
            "2" => Ok(2),
            _ => Err(format!("`--level` is 1 or 2, got `{l}`")),
        })
        .transpose()?;
    let target = match (sqlite, postgres) {
        (Some(path), None) => {
            if level.is_some() {
                return Err("`--level` applies to `--postgres` only".to_owned());
            }
            MigrateTarget::Sqlite(path)
        }
        (None, Some(dsn)) => MigrateTarget::Postgres { dsn, level },
        (Some(_), Some(_)) => {
            return Err("`migrate` takes one of `--sqlite` and `--postgres`, not both".to_owned());
        }
        (None, None) => {
            return Err("`migrate` needs `--sqlite PATH` or `--postgres DSN`".to_owned());
        }
    };
    Ok(MigrateArgs { target, status })
}

#[cfg(test)]
mod tests {
    use super::{Command, MigrateArgs, MigrateTarget, PgAction, parse};

    #[test]
    fn no_arguments_means_help() {
        assert_eq!(parse(Vec::<String>::new()), Ok(Command::Help));
    }

    #[test]
    fn simple_commands_parse() {
        assert_eq!(parse(["ci"]), Ok(Command::Ci));
        assert_eq!(parse(["test"]), Ok(Command::Test));
        assert_eq!(parse(["deny"]), Ok(Command::Deny));
        assert_eq!(parse(["help"]), Ok(Command::Help));
        assert_eq!(parse(["--help"]), Ok(Command::Help));
        assert_eq!(parse(["-h"]), Ok(Command::Help));
    }

    #[test]
    fn simple_commands_reject_extra_arguments() {
        let err = parse(["ci", "--fast"]).unwrap_err();
        assert!(err.contains("`ci` takes no arguments"), "{err}");
        assert!(err.contains("--fast"), "{err}");
        assert!(parse(["deny", "x"]).is_err());
        assert!(parse(["test", "foo"]).is_err());
    }

    #[test]
    fn fuzz_and_soak_parse() {
        assert_eq!(parse(["soak"]), Ok(Command::Soak { only: vec![] }));
        assert_eq!(
            parse([
                "soak",
                "--only",
                "storage-stream/fuzz",
                "--only",
                "storage-core/import_fuzz"
            ]),
            Ok(Command::Soak {
                only: vec![
                    "storage-stream/fuzz".into(),
                    "storage-core/import_fuzz".into()
                ]
            })
        );
        assert!(parse(["soak", "x"]).is_err());
        assert!(parse(["soak", "--only"]).is_err());
        assert!(parse(["soak", "--only", "fuzz"]).is_err());
        assert_eq!(parse(["fuzz"]), Ok(Command::Fuzz { minutes: 10 }));
        assert_eq!(
            parse(["fuzz", "--minutes", "3"]),
            Ok(Command::Fuzz { minutes: 3 })
        );
        assert!(parse(["fuzz", "--minutes", "0"]).is_err());
        assert!(parse(["fuzz", "--minutes"]).is_err());
        assert!(parse(["fuzz", "--hours", "1"]).is_err());
    }

    #[test]
    fn unknown_command_is_an_error_naming_it() {
        let err = parse(["lint"]).unwrap_err();
        assert_eq!(err, "unknown command `lint`");
    }

    fn bench(only: Option<&str>, args: &[&str]) -> Command {
        Command::Bench {
            only: only.map(str::to_owned),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn bench_forwards_arguments_verbatim() {
        assert_eq!(parse(["bench"]), Ok(bench(None, &[])));
        assert_eq!(
            parse(["bench", "--sessions", "200", "--json=x.json"]),
            Ok(bench(None, &["--sessions", "200", "--json=x.json"]))
        );
    }

    #[test]
    fn bench_only_selects_a_backend() {
        assert_eq!(
            parse(["bench", "--only", "sqlite", "--turns", "5"]),
            Ok(bench(Some("sqlite"), &["--turns", "5"]))
        );
        assert!(parse(["bench", "--only"]).unwrap_err().contains("--only"));
    }

    #[test]
    fn bench_drops_one_leading_double_dash_only() {
        assert_eq!(
            parse(["bench", "--", "--quick"]),
            Ok(bench(None, &["--quick"]))
        );
        assert_eq!(parse(["bench", "--", "--"]), Ok(bench(None, &["--"])));
        assert_eq!(parse(["bench", "x", "--"]), Ok(bench(None, &["x", "--"])));
    }

    #[test]
    fn pg_actions_parse() {
        assert_eq!(parse(["pg", "start"]), Ok(Command::Pg(PgAction::Start)));
        assert_eq!(parse(["pg", "stop"]), Ok(Command::Pg(PgAction::Stop)));
        assert_eq!(parse(["pg", "env"]), Ok(Command::Pg(PgAction::Env)));
        assert!(parse(["pg"]).unwrap_err().contains("start, stop or env"));
        assert!(parse(["pg", "start", "now"]).is_err());
        assert!(parse(["pg", "restart"]).unwrap_err().contains("`restart`"));
    }

    fn migrate(args: &[&str]) -> Result<MigrateArgs, String> {
        let mut all = vec!["migrate"];
        all.extend_from_slice(args);
        match parse(all)? {
            Command::Migrate(m) => Ok(m),
            other => panic!("not a migrate command: {other:?}"),
        }
    }

    #[test]
    fn migrate_sqlite_and_postgres_parse() {
        assert_eq!(
            migrate(&["--sqlite", "/tmp/x.db"]),
            Ok(MigrateArgs {
                target: MigrateTarget::Sqlite("/tmp/x.db".to_owned()),
                status: false
            })
        );
        assert_eq!(
            migrate(&["--status", "--postgres=host=/tmp dbname=x", "--level", "2"]),
            Ok(MigrateArgs {
                target: MigrateTarget::Postgres {
                    dsn: "host=/tmp dbname=x".to_owned(),
                    level: Some(2)
                },
                status: true
            })
        );
        assert_eq!(
            migrate(&["--postgres", "postgres://u@h/db", "--level=1"]),
            Ok(MigrateArgs {
                target: MigrateTarget::Postgres {
                    dsn: "postgres://u@h/db".to_owned(),
                    level: Some(1)
                },
                status: false
            })
        );
        assert_eq!(
            migrate(&["--postgres", "h"]).map(|m| m.target),
            Ok(MigrateTarget::Postgres {
                dsn: "h".to_owned(),
                level: None
            })
        );
    }

    #[test]
    fn migrate_needs_exactly_one_database() {
        assert!(
            migrate(&[])
                .unwrap_err()
                .contains("needs `--sqlite PATH` or")
        );
        assert!(migrate(&["--status"]).is_err());
        let err = migrate(&["--sqlite", "a", "--postgres", "b"]).unwrap_err();
        assert!(err.contains("not both"), "{err}");
        assert!(
            migrate(&["--sqlite", "a", "--sqlite", "b"])
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn migrate_level_is_1_or_2_and_postgres_only() {
        for bad in ["0", "3", "x", "-1", "01"] {
            let err = migrate(&["--postgres", "h", "--level", bad]).unwrap_err();
            assert!(err.contains("1 or 2"), "{bad}: {err}");
        }
        let err = migrate(&["--sqlite", "a", "--level", "2"]).unwrap_err();
        assert!(err.contains("`--postgres` only"), "{err}");
        assert!(migrate(&["--postgres", "h", "--level", "1", "--level", "2"]).is_err());
    }

    #[test]
    fn migrate_rejects_missing_values_and_unknown_arguments() {
        assert!(
            migrate(&["--sqlite"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            migrate(&["--sqlite", "--status"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(migrate(&["--sqlite="]).unwrap_err().contains("non-empty"));
        assert!(migrate(&["--postgres", "h", "--level"]).is_err());
        assert!(migrate(&["--status=yes", "--sqlite", "a"]).is_err());
        assert!(
            migrate(&["--status", "--status", "--sqlite", "a"])
                .unwrap_err()
                .contains("twice")
        );
        let err = migrate(&["--sqlite", "a", "extra"]).unwrap_err();
        assert!(err.contains("`extra`"), "{err}");
    }
}
