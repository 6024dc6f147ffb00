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
    /// Print the usage text.
    Help,
}

/// The usage text printed by `cargo xtask help` and after an argument error.
pub(crate) const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  ci            fmt check, clippy, tests, docs and cargo-deny; prints a summary table
  test          the test suite only (cargo-nextest + doctests, or cargo test)
  deny          cargo deny --offline check only (installs the advisory-db snapshot if missing)
  bench [--only memory|sqlite|stream] [args]
                cargo bench -p <crate> --bench <chat_bench|w2> -- [args] for each backend;
                args: --sessions N --turns N --ops N --json FILE
  help          this text

environment:
  CI=true       a missing tool (cargo-nextest, cargo-deny) fails its step instead of skipping it";

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
        other => Err(format!("unknown command `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::{Command, parse};

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
}
