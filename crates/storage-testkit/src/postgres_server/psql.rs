//! Running SQL through the `psql` client program, so the testkit needs no PostgreSQL driver.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::conninfo::ConnInfo;

/// Seconds `psql` waits for a connection unless the DSN sets `connect_timeout` itself.
const CONNECT_TIMEOUT_SECS: &str = "10";

/// Quotes a PostgreSQL identifier: `"` around it, inner `"` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A `psql` program and the connection it uses.
#[derive(Debug, Clone)]
pub(crate) struct Psql {
    program: PathBuf,
    conninfo: ConnInfo,
}

impl Psql {
    /// `psql` at `program`, connecting with `conninfo`.
    pub(crate) fn new(program: PathBuf, conninfo: ConnInfo) -> Self {
        Self { program, conninfo }
    }

    /// The `psql` program.
    pub(crate) fn program(&self) -> &Path {
        &self.program
    }

    /// The connection parameters (the password included).
    pub(crate) fn conninfo(&self) -> &ConnInfo {
        &self.conninfo
    }

    /// The same program connected to `conninfo` instead.
    pub(crate) fn at(&self, conninfo: ConnInfo) -> Self {
        Self::new(self.program.clone(), conninfo)
    }

    /// Runs `sql` (stopping at the first error) and returns its unaligned, tuples-only
    /// output, trimmed. The password travels in `PGPASSWORD`, never on the command line
    /// (where `ps` would show it), and never appears in an error.
    pub(crate) fn run(&self, sql: &str) -> Result<String, String> {
        let mut conninfo = self.conninfo.without("password");
        if conninfo.get("connect_timeout").is_none() {
            conninfo = conninfo.with("connect_timeout", CONNECT_TIMEOUT_SECS);
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(conninfo.render())
            .args(["-c", sql])
            .stdin(Stdio::null());
        if let Some(password) = self.conninfo.get("password") {
            cmd.env("PGPASSWORD", password);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        Err(format!(
            "psql ({}) failed ({}) running `{sql}`: {}",
            self.conninfo.masked(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn identifiers_are_quoted_and_inner_quotes_doubled() {
        assert_eq!(
            quote_ident("hotplex_test_1_2_ab"),
            "\"hotplex_test_1_2_ab\""
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
