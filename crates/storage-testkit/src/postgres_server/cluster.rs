//! A PostgreSQL cluster of our own, run from the installed server binaries: finding them,
//! `initdb`, starting on a private unix socket, stopping, and a watchdog that removes a
//! throwaway cluster when its owning process exits.
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

use super::conninfo::ConnInfo;

/// Where Debian and Ubuntu install the server binaries: `<LIB_ROOT>/<version>/bin`.
pub(crate) const LIB_ROOT: &str = "/usr/lib/postgresql";

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

/// The directories searched for PostgreSQL programs, in order: `PATH`, then
/// `<lib_root>/<version>/bin` from the highest version down.
fn search_dirs(path_var: Option<&OsStr>, lib_root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(lib_root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let version: Option<Vec<u32>> =
                        name.split('.').map(|n| n.parse().ok()).collect();
                    Some((version?, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    dirs
}

/// Whether `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `name` in the search directories (`PATH`, then `lib_root`).
pub(crate) fn find_tool(name: &str, path_var: Option<&OsStr>, lib_root: &Path) -> Option<PathBuf> {
    search_dirs(path_var, lib_root)
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// The PostgreSQL server programs: one directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the server programs: the first `initdb` on `PATH` or under `lib_root`, followed
    /// through symlinks to its real directory, which must also hold `pg_ctl` and `postgres`.
    pub(crate) fn find(path_var: Option<&OsStr>, lib_root: &Path) -> Option<Self> {
        search_dirs(path_var, lib_root)
            .into_iter()
            .map(|dir| dir.join("initdb"))
            .filter(|p| is_executable(p))
            .filter_map(|p| {
                std::fs::canonicalize(p)
                    .ok()?
                    .parent()
                    .map(Path::to_path_buf)
            })
            .find(|dir| is_executable(&dir.join("pg_ctl")) && is_executable(&dir.join("postgres")))
            .map(|dir| Self { dir })
    }

    /// The directory holding the programs.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
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

/// Creates `dir` (mode 0700) owned by `user` when given.
fn private_dir(dir: &Path, user: Option<OsUser>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
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
    pub(crate) fn start(binaries: &Binaries, root: &Path) -> Result<Self, String> {
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
        private_dir(&socket, user)?;
        let data = root.join("data");
        run_as(
            user,
            root,
            &binaries.program("initdb"),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
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
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(settings.as_bytes()))
            .map_err(|e| format!("cannot write postgresql.conf: {e}"))?;
        let mut cluster = Self {
            root: root.to_path_buf(),
            binaries: binaries.clone(),
            user,
            port: 0,
            pid: 0,
        };
        cluster.launch()?;
        Ok(cluster)
    }

    /// The cluster already running in `root` (from an earlier [`start`](Self::start) by another
    /// process), or `None` when nothing runs there.
    pub(crate) fn attach(binaries: &Binaries, root: &Path) -> Result<Option<Self>, String> {
        let Ok(pidfile) = std::fs::read_to_string(root.join("data").join("postmaster.pid")) else {
            return Ok(None);
        };
        let user = server_user()?;
        let probe = Self {
            root: root.to_path_buf(),
            binaries: binaries.clone(),
            user,
            port: 0,
            pid: 0,
        };
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
        let mut cluster = Self {
            root: root.to_path_buf(),
            binaries: binaries.clone(),
            user: server_user()?,
            port: 0,
            pid: 0,
        };
        cluster.launch()?;
        Ok(cluster)
    }

    /// `pg_ctl start` on a random port, retried on a new port when it is taken.
    fn launch(&mut self) -> Result<(), String> {
        let log = self.root.join("server.log");
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = u16::try_from(20_000 + random_u64() % 40_000).unwrap_or(54_321);
            let port_option = format!("-p {port}");
            let started = run_as(
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
            );
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
    use super::{Binaries, find_tool, is_ci, random_u64, search_dirs};
    use std::os::unix::fs::PermissionsExt as _;
    use std::path::{Path, PathBuf};

    /// A fresh directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("hotplex-cluster-test-{:x}", random_u64()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn exe(&self, rel: &str) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

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
    fn lib_versions_are_searched_after_path_highest_first() {
        let s = Scratch::new();
        for v in ["9.6", "13", "15", "notaversion"] {
            std::fs::create_dir_all(s.0.join("lib").join(v)).unwrap();
        }
        let dirs = search_dirs(Some(s.0.join("on-path").as_os_str()), &s.0.join("lib"));
        let expected: Vec<PathBuf> = vec![
            s.0.join("on-path"),
            s.0.join("lib/15/bin"),
            s.0.join("lib/13/bin"),
            s.0.join("lib/9.6/bin"),
        ];
        assert_eq!(dirs, expected);
        assert!(search_dirs(None, Path::new("/nonexistent")).is_empty());
    }

    #[test]
    fn binaries_need_initdb_pg_ctl_and_postgres_in_one_directory() {
        let s = Scratch::new();
        let lib = s.0.join("lib");
        assert_eq!(Binaries::find(None, &lib), None);
        s.exe("lib/16/bin/initdb");
        s.exe("lib/16/bin/pg_ctl");
        assert_eq!(Binaries::find(None, &lib), None, "postgres is missing");
        s.exe("lib/14/bin/initdb");
        s.exe("lib/14/bin/pg_ctl");
        s.exe("lib/14/bin/postgres");
        let found = Binaries::find(None, &lib).unwrap();
        assert_eq!(
            found.dir(),
            std::fs::canonicalize(lib.join("14/bin")).unwrap()
        );
        s.exe("lib/16/bin/postgres");
        let found = Binaries::find(None, &lib).unwrap();
        assert_eq!(
            found.dir(),
            std::fs::canonicalize(lib.join("16/bin")).unwrap()
        );
    }

    #[test]
    fn a_symlinked_initdb_on_path_resolves_to_its_real_directory() {
        let s = Scratch::new();
        let real = s.exe("real/bin/initdb");
        s.exe("real/bin/pg_ctl");
        s.exe("real/bin/postgres");
        std::fs::create_dir_all(s.0.join("path")).unwrap();
        std::os::unix::fs::symlink(&real, s.0.join("path/initdb")).unwrap();
        let found = Binaries::find(Some(s.0.join("path").as_os_str()), &s.0.join("none")).unwrap();
        assert_eq!(
            found.dir(),
            std::fs::canonicalize(s.0.join("real/bin")).unwrap()
        );
    }

    #[test]
    fn find_tool_skips_non_executable_files() {
        let s = Scratch::new();
        std::fs::create_dir_all(s.0.join("a")).unwrap();
        std::fs::write(s.0.join("a/psql"), "").unwrap();
        let b = s.exe("b/psql");
        let path = std::env::join_paths([s.0.join("a"), s.0.join("b")]).unwrap();
        assert_eq!(find_tool("psql", Some(&path), &s.0.join("lib")), Some(b));
        assert_eq!(find_tool("pg_isready", Some(&path), &s.0.join("lib")), None);
    }

    #[test]
    fn random_numbers_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}
