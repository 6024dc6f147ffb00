//! A PostgreSQL cluster of our own, run from the installed server programs (found by
//! [`Binaries`]): `initdb`, starting on a private unix socket, stopping, and a watchdog that
//! removes a throwaway cluster when its owning process exits.
//!
//! Standard library only: xtask includes this file too (`#[path]`), so the testkit fixture,
//! `cargo xtask test` and `cargo xtask pg` share one recipe. docs/operations.md, "Running
//! PostgreSQL for tests", describes it.

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::hash::{BuildHasher as _, Hasher as _};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::binaries::Binaries;
use super::conninfo::ConnInfo;

/// The environment variable naming an external admin DSN that replaces the throwaway cluster.
pub(crate) const DSN_ENV: &str = "HOTPLEX_TEST_POSTGRES_DSN";

/// The superuser `initdb` creates, and the OS user the server runs as when we are root.
pub(crate) const SUPERUSER: &str = "postgres";

/// Connections the server accepts: enough for parallel tests, each with its own pool.
const MAX_CONNECTIONS: u32 = 200;

/// How long `pg_ctl` waits for the server to start or stop, in seconds.
const PG_CTL_WAIT_SECS: &str = "60";

/// Start attempts, each on a new random port, before giving up.
const START_ATTEMPTS: u32 = 5;

/// The longest unix socket path Linux accepts (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Whether the value of the `CI` environment variable means "running in CI".
pub(crate) fn is_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    })
}

/// A random number from std alone: a randomly keyed hasher over the time, pid and a counter.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A fresh directory name for a throwaway cluster under the system temp dir.
pub(crate) fn throwaway_root() -> PathBuf {
    std::env::temp_dir().join(format!(
        "hotplex-pg-{}-{:08x}",
        std::process::id(),
        random_u64() & 0xffff_ffff
    ))
}

/// The OS user the server runs as when we are root (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OsUser {
    uid: u32,
    gid: u32,
}

/// Runs `id ARGS` and parses its number.
fn id_number(args: &[&str]) -> Result<u32, String> {
    let out = Command::new("id")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `id`: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`id {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    text.trim()
        .parse()
        .map_err(|_| format!("`id {}` printed {:?}", args.join(" "), text.trim()))
}

/// `Some(postgres user)` when we are root, `None` when we run the server as ourselves.
fn server_user() -> Result<Option<OsUser>, String> {
    if id_number(&["-u"])? != 0 {
        return Ok(None);
    }
    let missing = |e: String| {
        format!(
            "running as root, and PostgreSQL refuses to run as root, but there is no usable \
             `{SUPERUSER}` OS user to run it as ({e}); create one: useradd --system {SUPERUSER}"
        )
    };
    Ok(Some(OsUser {
        uid: id_number(&["-u", SUPERUSER]).map_err(missing)?,
        gid: id_number(&["-g", SUPERUSER]).map_err(missing)?,
    }))
}

/// Creates `dir` (mode 0700, owned by `user` when given); it must not exist yet, so nobody
/// can have prepared it for us. Missing parents are created.
fn private_dir(dir: &Path, user: Option<OsUser>) -> Result<(), String> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::create_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
    if let Some(user) = user {
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
            .map_err(|e| format!("cannot chown {} to {SUPERUSER}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Runs `program ARGS` as `user` (through `runuser`) or as ourselves, in `dir`, in its own
/// process group (so that a Ctrl-C or a test runner killing our group leaves the cleanup to
/// the watchdog), returning its combined output or an error quoting it.
fn run_as(
    user: Option<OsUser>,
    dir: &Path,
    program: &Path,
    args: &[&OsStr],
) -> Result<String, String> {
    let mut cmd = if user.is_some() {
        let mut c = Command::new("runuser");
        c.args(["-u", SUPERUSER, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .process_group(0);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{} failed ({}):\n{}",
            program.display(),
            out.status,
            text.trim_end()
        ))
    }
}

/// The last `lines` lines of the file at `path` (empty when unreadable).
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Quotes a value for `postgresql.conf`.
fn conf_value(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A running PostgreSQL cluster in a directory of its own:
/// `<root>/data` (the cluster), `<root>/socket` (its only way in), `<root>/server.log`.
#[derive(Debug)]
pub(crate) struct Cluster {
    root: PathBuf,
    binaries: Binaries,
    user: Option<OsUser>,
    port: u16,
    pid: u32,
}

impl Cluster {
    /// Creates `root` (which must not exist yet), runs `initdb` and starts the server on a
    /// private socket (no TCP), tuned for tests (fsync off). Runs the server as the `postgres`
    /// OS user when we are root. Retries on a new random port when the port is taken.
    ///
    /// With `watchdog_owner`, a [watchdog](Self::watch) for that process is spawned as soon as
    /// `root` exists, before anything is started in it, so that no exit leaves it behind.
    pub(crate) fn start(
        binaries: &Binaries,
        root: &Path,
        watchdog_owner: Option<u32>,
    ) -> Result<Self, String> {
        if root.exists() {
            return Err(format!("{} already exists", root.display()));
        }
        let user = server_user()?;
        let socket = root.join("socket");
        let longest = socket.join(".s.PGSQL.65535");
        if longest.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "socket path {} is longer than {MAX_SOCKET_PATH} bytes; use a shorter directory \
                 (TMPDIR)",
                longest.display()
            ));
        }
        private_dir(root, user)?;
        let mut cluster = Self::stopped(binaries, root, user);
        if let Some(owner) = watchdog_owner {
            cluster.watch(owner)?;
        }
        cluster.check_reachable()?;
        private_dir(&socket, user)?;
        cluster.initdb()?;
        cluster.write_settings()?;
        cluster.launch()?;
        Ok(cluster)
    }

    /// The cluster in `root`, not (known to be) running.
    fn stopped(binaries: &Binaries, root: &Path, user: Option<OsUser>) -> Self {
        Self {
            root: root.to_path_buf(),
            binaries: binaries.clone(),
            user,
            port: 0,
            pid: 0,
        }
    }

    /// As root, checks that the `postgres` OS user can reach the cluster directory.
    fn check_reachable(&self) -> Result<(), String> {
        let test = ["-w".as_ref(), self.root.as_os_str()];
        if self.user.is_none() || run_as(self.user, &self.root, Path::new("test"), &test).is_ok() {
            return Ok(());
        }
        Err(format!(
            "running as root, the server runs as the `{SUPERUSER}` OS user, which cannot reach \
             {}: every parent directory must be searchable by it (or use a directory elsewhere, \
             e.g. TMPDIR)",
            self.root.display()
        ))
    }

    /// `initdb`: trust authentication, superuser `postgres`, UTF-8 with the `C.UTF-8` locale.
    fn initdb(&self) -> Result<(), String> {
        run_as(
            self.user,
            &self.root,
            &self.binaries.program("initdb"),
            &[
                "-D".as_ref(),
                self.data().as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )
        .map(drop)
    }

    /// Appends the test settings to `postgresql.conf`: no TCP, the private socket directory,
    /// durability off for speed, connections for parallel tests.
    fn write_settings(&self) -> Result<(), String> {
        let socket = self.root.join("socket");
        let settings = format!(
            "\n# hotplex-storage test cluster\n\
             listen_addresses = ''\n\
             unix_socket_directories = {}\n\
             max_connections = {MAX_CONNECTIONS}\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
            conf_value(&socket.to_string_lossy())
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(settings.as_bytes()))
            .map_err(|e| format!("cannot write postgresql.conf: {e}"))
    }

    /// The cluster already running in `root` (from an earlier [`start`](Self::start) by another
    /// process), or `None` when nothing runs there.
    pub(crate) fn attach(binaries: &Binaries, root: &Path) -> Result<Option<Self>, String> {
        let Ok(pidfile) = std::fs::read_to_string(root.join("data").join("postmaster.pid")) else {
            return Ok(None);
        };
        let probe = Self::stopped(binaries, root, server_user()?);
        if !probe.is_running() {
            return Ok(None);
        }
        let lines: Vec<&str> = pidfile.lines().collect();
        let field = |i: usize, what: &str| -> Result<&str, String> {
            lines
                .get(i)
                .map(|l| l.trim())
                .ok_or_else(|| format!("postmaster.pid in {} lacks the {what}", root.display()))
        };
        let pid = field(0, "pid")?
            .parse()
            .map_err(|_| "postmaster.pid: bad pid".to_owned())?;
        let port = field(3, "port")?
            .parse()
            .map_err(|_| "postmaster.pid: bad port".to_owned())?;
        Ok(Some(Self { port, pid, ..probe }))
    }

    /// Starts the server of an initialised, stopped cluster in `root` again (its data kept).
    pub(crate) fn restart_stopped(binaries: &Binaries, root: &Path) -> Result<Self, String> {
        let mut cluster = Self::stopped(binaries, root, server_user()?);
        cluster.launch()?;
        Ok(cluster)
    }

    /// `pg_ctl start` of the data directory on `port`, logging to `log`, waiting until ready.
    fn pg_ctl_start(&self, port: u16, log: &Path) -> Result<String, String> {
        let port_option = format!("-p {port}");
        run_as(
            self.user,
            &self.root,
            &self.binaries.program("pg_ctl"),
            &[
                "start".as_ref(),
                "-D".as_ref(),
                self.data().as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                PG_CTL_WAIT_SECS.as_ref(),
                "-o".as_ref(),
                port_option.as_ref(),
            ],
        )
    }

    /// `pg_ctl start` on a random port, retried on a new port when it is taken.
    fn launch(&mut self) -> Result<(), String> {
        let log = self.root.join("server.log");
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = u16::try_from(20_000 + random_u64() % 40_000).unwrap_or(54_321);
            let started = self.pg_ctl_start(port, &log);
            match started {
                Ok(_) => {
                    self.port = port;
                    self.pid = self.read_pid()?;
                    return Ok(());
                }
                Err(err) => {
                    let server_log = tail(&log, 30);
                    last_error = format!(
                        "PostgreSQL did not start in {}: {err}\nserver log ({}):\n{server_log}",
                        self.root.display(),
                        log.display()
                    );
                    let port_taken = ["could not bind", "already in use", "lock file"]
                        .iter()
                        .any(|needle| server_log.contains(needle));
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn read_pid(&self) -> Result<u32, String> {
        let pidfile = self.data().join("postmaster.pid");
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse().ok())
            .ok_or_else(|| format!("cannot read the server pid from {}", pidfile.display()))
    }

    /// Whether `pg_ctl status` reports the server running.
    pub(crate) fn is_running(&self) -> bool {
        run_as(
            self.user,
            &self.root,
            &self.binaries.program("pg_ctl"),
            &["status".as_ref(), "-D".as_ref(), self.data().as_os_str()],
        )
        .is_ok()
    }

    /// The admin connection: superuser, database `postgres`, over the private socket.
    pub(crate) fn admin_conninfo(&self) -> ConnInfo {
        ConnInfo::from_pairs([
            (
                "host",
                self.root.join("socket").to_string_lossy().into_owned(),
            ),
            ("port", self.port.to_string()),
            ("user", SUPERUSER.to_owned()),
            ("dbname", "postgres".to_owned()),
        ])
    }

    /// The cluster's directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The postmaster's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server (`pg_ctl stop -m fast`) and removes the directory.
    pub(crate) fn stop(&self) -> Result<(), String> {
        run_as(
            self.user,
            &self.root,
            &self.binaries.program("pg_ctl"),
            &[
                "stop".as_ref(),
                "-D".as_ref(),
                self.data().as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                PG_CTL_WAIT_SECS.as_ref(),
            ],
        )?;
        std::fs::remove_dir_all(&self.root)
            .map_err(|e| format!("cannot remove {}: {e}", self.root.display()))
    }

    /// Crashes the server as a power cut would look to clients (`pg_ctl stop -m immediate`:
    /// no checkpoint, recovery on the next start); the directory is kept.
    pub(crate) fn stop_immediately(&self) -> Result<(), String> {
        run_as(
            self.user,
            &self.root,
            &self.binaries.program("pg_ctl"),
            &[
                "stop".as_ref(),
                "-D".as_ref(),
                self.data().as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                PG_CTL_WAIT_SECS.as_ref(),
            ],
        )
        .map(drop)
    }

    /// Starts the stopped server again on the same data directory, socket and port, so that
    /// clients reconnect with their old connection settings.
    pub(crate) fn start_again(&mut self) -> Result<(), String> {
        let log = self.root.join("server.log");
        self.pg_ctl_start(self.port, &log).map_err(|err| {
            format!(
                "PostgreSQL did not start again in {}: {err}\nserver log:\n{}",
                self.root.display(),
                tail(&log, 30)
            )
        })?;
        self.pid = self.read_pid()?;
        Ok(())
    }

    /// Spawns a detached watchdog (`sh`, in its own process group) that waits until process
    /// `owner` is gone, then stops the server (`-m immediate`) and removes the directory. This
    /// is how a cluster held in a `static` (never dropped) or abandoned by a panic goes away.
    pub(crate) fn watch(&self, owner: u32) -> Result<(), String> {
        const SCRIPT: &str = "owner=$1; root=$2; shift 2; \
            while kill -0 \"$owner\" 2>/dev/null; do sleep 1; done; \
            \"$@\" >/dev/null 2>&1; rm -rf \"$root\"";
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SCRIPT)
            .arg("hotplex-pg-watchdog")
            .arg(owner.to_string())
            .arg(&self.root);
        if self.user.is_some() {
            cmd.args(["runuser", "-u", SUPERUSER, "--"]);
        }
        cmd.arg(self.binaries.program("pg_ctl"))
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map(drop)
            .map_err(|e| format!("cannot spawn the cluster watchdog: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::binaries::scratch::Scratch;
    use super::{Binaries, Cluster, START_ATTEMPTS, id_number, is_ci, random_u64};
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn ci_detection() {
        assert!(is_ci(Some("true")));
        assert!(is_ci(Some("TRUE")));
        assert!(is_ci(Some("1")));
        assert!(is_ci(Some(" yes ")));
        assert!(!is_ci(None));
        assert!(!is_ci(Some("")));
        assert!(!is_ci(Some("false")));
        assert!(!is_ci(Some("0")));
    }

    #[test]
    fn random_numbers_differ() {
        assert_ne!(random_u64(), random_u64());
    }

    /// Fake server programs: `initdb` creates the data directory, `pg_ctl` appends `log_line`
    /// to the server log (its `-l` argument) and fails.
    fn failing_binaries(s: &Scratch, log_line: &str) -> Binaries {
        s.script(
            "bin/initdb",
            "while [ $# -gt 0 ]; do [ \"$1\" = -D ] && mkdir -p \"$2\" && touch \"$2/postgresql.conf\"; shift; done",
        );
        s.script(
            "bin/pg_ctl",
            &format!(
                "while [ $# -gt 0 ]; do [ \"$1\" = -l ] && echo '{log_line}' >> \"$2\"; shift; done; \
                 echo 'pg_ctl: could not start server' >&2; exit 1"
            ),
        );
        s.exe("bin/postgres");
        // Readable and executable by the `postgres` user when the test runs as root.
        std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        Binaries::at(s.0.join("bin"))
    }

    #[test]
    fn a_failed_start_quotes_the_server_log_and_does_not_retry() {
        let s = Scratch::new();
        let binaries = failing_binaries(&s, "FATAL:  invalid value for parameter");
        let root = s.0.join("cluster");
        let err = Cluster::start(&binaries, &root, None).unwrap_err();
        assert!(err.contains("did not start"), "{err}");
        assert!(err.contains("could not start server"), "{err}");
        assert!(err.contains("server log"), "{err}");
        assert!(err.contains("FATAL:  invalid value for parameter"), "{err}");
        let log = std::fs::read_to_string(root.join("server.log")).unwrap();
        assert_eq!(log.lines().count(), 1, "one attempt only: {log}");
        assert!(
            Cluster::start(&binaries, &root, None)
                .unwrap_err()
                .contains("already exists")
        );
    }

    #[test]
    fn a_taken_port_is_retried_on_new_ports() {
        let s = Scratch::new();
        let binaries = failing_binaries(&s, "LOG:  could not bind Unix address: in use");
        let root = s.0.join("cluster");
        let err = Cluster::start(&binaries, &root, None).unwrap_err();
        assert!(err.contains("could not bind"), "{err}");
        let log = std::fs::read_to_string(root.join("server.log")).unwrap();
        assert_eq!(log.lines().count(), START_ATTEMPTS as usize, "{log}");
    }

    #[test]
    fn an_overlong_socket_path_is_refused_before_anything_is_created() {
        let s = Scratch::new();
        let binaries = failing_binaries(&s, "unused");
        let root = s.0.join("x".repeat(120));
        let err = Cluster::start(&binaries, &root, None).unwrap_err();
        assert!(err.contains("longer than 107 bytes"), "{err}");
        assert!(!root.exists());
    }

    #[test]
    fn as_root_a_directory_the_postgres_user_cannot_reach_is_refused() {
        if id_number(&["-u"]).unwrap() != 0 || id_number(&["-u", "postgres"]).is_err() {
            eprintln!("skipping: needs root and a postgres OS user");
            return;
        }
        let s = Scratch::new();
        let binaries = failing_binaries(&s, "unused");
        let private = s.0.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = Cluster::start(&binaries, &private.join("cluster"), None).unwrap_err();
        assert!(err.contains("cannot reach"), "{err}");
        assert!(err.contains("private/cluster"), "{err}");
    }
}
