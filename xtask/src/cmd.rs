//! External commands: building them, printing them shell-style, and running them from the
//! workspace root.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::Path;
use std::process::{self, Stdio};

/// A command line to run: program, arguments and extra environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cmd {
    /// The program as shown to the user (`cargo`, `bash`).
    pub(crate) program: String,
    /// Arguments, passed verbatim (no shell is involved).
    pub(crate) args: Vec<String>,
    /// Variables set for this command only, shown as `KEY=value` prefixes.
    pub(crate) envs: Vec<(String, String)>,
    /// What [`display`](Self::display) shows instead of the real line, when that holds a
    /// secret (a DSN with a password).
    pub(crate) shown_as: Option<String>,
}

impl Cmd {
    /// A command running `program` with `args`.
    pub(crate) fn new(program: &str, args: &[&str]) -> Self {
        Cmd {
            program: program.to_owned(),
            args: args.iter().map(|&a| a.to_owned()).collect(),
            envs: Vec::new(),
            shown_as: None,
        }
    }

    /// `cargo` with `args`.
    pub(crate) fn cargo(args: &[&str]) -> Self {
        Self::new("cargo", args)
    }

    /// Adds arguments at the end.
    pub(crate) fn args<I, S>(mut self, more: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(more.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for this command.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Shows `text` instead of the real command line (which holds a secret).
    pub(crate) fn shown_as(mut self, text: String) -> Self {
        self.shown_as = Some(text);
        self
    }

    /// The command as a copy-pasteable shell line, e.g. `RUSTDOCFLAGS="-D warnings" cargo doc`
    /// (or the [`shown_as`](Self::shown_as) text).
    pub(crate) fn display(&self) -> String {
        if let Some(text) = &self.shown_as {
            return text.clone();
        }
        let mut parts: Vec<String> = self
            .envs
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }

    /// The executable to start. For `cargo` this is `$CARGO` (the cargo that runs xtask,
    /// so the same toolchain is used throughout), else `cargo` from `PATH`.
    fn executable(&self) -> OsString {
        if self.program == "cargo" {
            std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
        } else {
            self.program.clone().into()
        }
    }

    fn command(&self, dir: &Path) -> process::Command {
        let mut c = process::Command::new(self.executable());
        c.args(&self.args).current_dir(dir);
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Prints the command, runs it in `dir` with inherited stdio and returns its exit code
    /// (1 when it was killed by a signal). A command that cannot be started is reported and
    /// counts as exit code 127, like a shell would.
    pub(crate) fn run(&self, dir: &Path) -> i32 {
        println!("\n$ {}", self.display());
        let _ = std::io::stdout().flush();
        match self.command(dir).status() {
            Ok(status) => status.code().unwrap_or(1),
            Err(err) => {
                eprintln!("xtask: cannot start `{}`: {err}", self.program);
                127
            }
        }
    }

    /// Like [`run`](Self::run), but also returns everything the command printed (stdout and
    /// stderr), which is echoed live as it arrives.
    pub(crate) fn run_captured(&self, dir: &Path) -> (i32, String) {
        println!("\n$ {}", self.display());
        let _ = std::io::stdout().flush();
        let mut child = match self
            .command(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => {
                eprintln!("xtask: cannot start `{}`: {err}", self.program);
                return (127, String::new());
            }
        };
        let stdout = child.stdout.take().map(|out| echo(out, false));
        let stderr = child.stderr.take().map(|err| echo(err, true));
        let code = child.wait().map_or(1, |s| s.code().unwrap_or(1));
        let mut text = String::new();
        for handle in [stdout, stderr].into_iter().flatten() {
            text.push_str(&handle.join().unwrap_or_default());
        }
        (code, text)
    }

    /// Runs the command quietly (no echo, output discarded) and tells whether it succeeded.
    /// Used to probe for installed tools (`cargo deny --version`).
    pub(crate) fn succeeds_quietly(&self, dir: &Path) -> bool {
        self.command(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// Copies `source` line by line to our stdout (or stderr) on a thread; the thread returns
/// what it copied.
fn echo(
    source: impl std::io::Read + Send + 'static,
    to_stderr: bool,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = String::new();
        let mut reader = std::io::BufReader::new(source);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if to_stderr {
                let _ = std::io::stderr().write_all(&line);
            } else {
                let _ = std::io::stdout().write_all(&line);
            }
            seen.push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
        seen
    })
}

/// Quotes `word` for a POSIX shell when it contains anything beyond a safe character set.
pub(crate) fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_=+./:,@%^".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_owned();
    }
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('"');
    for c in word.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::{Cmd, shell_quote};

    #[test]
    fn plain_words_are_not_quoted() {
        assert_eq!(shell_quote("--all-features"), "--all-features");
        assert_eq!(
            shell_quote("../shared/advisory-db/install.sh"),
            "../shared/advisory-db/install.sh"
        );
    }

    #[test]
    fn words_with_spaces_or_metacharacters_are_double_quoted() {
        assert_eq!(shell_quote("-D warnings"), "\"-D warnings\"");
        assert_eq!(shell_quote(""), "\"\"");
        assert_eq!(shell_quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(shell_quote("$HOME"), "\"\\$HOME\"");
        assert_eq!(shell_quote("it's"), "\"it's\"");
    }

    #[test]
    fn display_shows_env_prefix_program_and_arguments() {
        let cmd = Cmd::cargo(&["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(
            cmd.display(),
            "RUSTDOCFLAGS=\"-D warnings\" cargo doc --workspace --no-deps --all-features"
        );
    }

    #[test]
    fn shown_as_replaces_the_displayed_line() {
        let cmd = Cmd::cargo(&["run", "--", "password=secret"])
            .shown_as("cargo run -- password=***".into());
        assert_eq!(cmd.display(), "cargo run -- password=***");
        assert_eq!(cmd.args[2], "password=secret");
    }

    #[test]
    fn args_appends_in_order() {
        let cmd = Cmd::cargo(&["run", "--"]).args(["--n", "10 000"]);
        assert_eq!(cmd.args, ["run", "--", "--n", "10 000"]);
        assert_eq!(cmd.display(), "cargo run -- --n \"10 000\"");
    }
}
