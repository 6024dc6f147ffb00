//! [`BenchArgs`]: the command line shared by the chat-bench targets of every backend.

use super::Workload;

/// The common chat-bench options: `--sessions N --turns N --ops N --json FILE`, plus
/// backend-specific flags that take one value each (`--synchronous full`, `--dir DIR`, …).
///
/// `cargo bench` passes `--bench` to a bench binary; `cargo test --benches` does not. Without
/// `--bench` and without an explicit `--sessions` / `--turns`, the run is a quick smoke run
/// (20 sessions × 5 turns, 200 reads) so that building and running every target stays cheap.
///
/// ```
/// use hotplex_storage_testkit::bench::BenchArgs;
/// let args = ["--bench", "--turns", "5", "--dir", "/tmp/x"].map(String::from);
/// let parsed = BenchArgs::parse(args, &["--dir"]).unwrap();
/// assert_eq!((parsed.workload.sessions, parsed.workload.turns), (1_000, 5));
/// assert_eq!(parsed.value("--dir"), Some("/tmp/x"));
/// assert!(!parsed.smoke);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchArgs {
    /// Sessions and turns to generate.
    pub workload: Workload,
    /// Operations per W3 read kind.
    pub ops: usize,
    /// Where to write the results as JSON, if anywhere.
    pub json: Option<String>,
    /// True for the small smoke run (see the type's documentation).
    pub smoke: bool,
    /// Backend-specific flags and their values, in command-line order.
    pub extra: Vec<(String, String)>,
}

impl BenchArgs {
    /// Parses `args` (without the program name). Flags named in `extra_flags` take one value
    /// and land in [`extra`](Self::extra); other unknown arguments (cargo's `--bench`, test
    /// filters) are ignored.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        extra_flags: &[&str],
    ) -> Result<Self, String> {
        let args: Vec<String> = args.into_iter().collect();
        let explicit = args.iter().any(|a| a == "--sessions" || a == "--turns");
        let smoke = !explicit && !args.iter().any(|a| a == "--bench");
        let mut parsed = Self {
            workload: if smoke {
                Workload::new(20, 5)
            } else {
                Workload::default()
            },
            ops: if smoke { 200 } else { 5_000 },
            json: None,
            smoke,
            extra: Vec::new(),
        };
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--sessions" => parsed.workload.sessions = number(&arg, it.next())?,
                "--turns" => parsed.workload.turns = number(&arg, it.next())?,
                "--ops" => parsed.ops = number(&arg, it.next())?,
                "--json" => parsed.json = Some(it.next().ok_or("--json needs a file")?),
                flag if extra_flags.contains(&flag) => {
                    let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                    parsed.extra.push((arg, value));
                }
                _ => {}
            }
        }
        Ok(parsed)
    }

    /// The last value given for a backend-specific flag.
    pub fn value(&self, flag: &str) -> Option<&str> {
        self.extra
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    /// The last value given for `flag` as a positive number, if given.
    ///
    /// # Errors
    /// A message naming the flag when its value is not a positive number.
    pub fn positive(&self, flag: &str) -> Result<Option<usize>, String> {
        match self.value(flag) {
            Some(value) => match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                Ok(_) => Err(format!("{flag} must be positive")),
                Err(e) => Err(format!("{flag} {value:?}: {e}")),
            },
            None => Ok(None),
        }
    }
}

/// The number after a flag.
fn number(flag: &str, value: Option<String>) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchArgs, String> {
        BenchArgs::parse(args.iter().map(|a| (*a).to_owned()), &["--dir"])
    }

    #[test]
    fn cargo_bench_runs_the_full_workload_and_tests_run_a_smoke() {
        let full = parse(&["--bench"]).unwrap();
        assert_eq!(full.workload, Workload::default());
        assert_eq!(full.ops, 5_000);
        assert!(!full.smoke);
        let smoke = parse(&[]).unwrap();
        assert!(smoke.smoke);
        assert_eq!(smoke.workload, Workload::new(20, 5));
        let explicit = parse(&["--sessions", "7"]).unwrap();
        assert!(!explicit.smoke);
        assert_eq!(explicit.workload.sessions, 7);
    }

    #[test]
    fn values_are_checked() {
        assert!(parse(&["--turns", "x"]).unwrap_err().contains("--turns"));
        assert!(parse(&["--json"]).unwrap_err().contains("--json"));
        assert!(parse(&["--dir"]).unwrap_err().contains("--dir"));
        let p = parse(&["--bench", "--json", "out.json", "--dir", "a", "--dir", "b"]).unwrap();
        assert_eq!(p.json.as_deref(), Some("out.json"));
        assert_eq!(p.value("--dir"), Some("b"));
        assert_eq!(p.value("--other"), None);
        let n = BenchArgs::parse(
            ["--n", "0", "--m", "x", "--k", "3"].map(String::from),
            &["--n", "--m", "--k"],
        )
        .unwrap();
        assert!(n.positive("--n").unwrap_err().contains("positive"));
        assert!(n.positive("--m").unwrap_err().contains("--m"));
        assert_eq!(n.positive("--k"), Ok(Some(3)));
        assert_eq!(n.positive("--j"), Ok(None));
    }
}
