//! [`PgServer`]: a real PostgreSQL server for tests, and [`PgDatabase`]: a fresh database on it
//! that is dropped with its guard.
//!
//! The server is `HOTPLEX_TEST_POSTGRES_DSN` when set (an admin DSN that may `CREATE
//! DATABASE`), else a throwaway cluster started once per process from the installed server
//! binaries and removed when the process exits. It is driven through the PostgreSQL programs
//! (`initdb`, `pg_ctl`, `psql`), so the testkit depends on no driver. The lookup rules, the
//! cluster settings and `CI=true` are described in docs/operations.md, "Running PostgreSQL for
//! tests".

mod binaries;
#[allow(
    dead_code,
    reason = "shared with xtask through #[path]; attaching to a long-lived cluster is xtask's"
)]
mod cluster;
mod conninfo;
mod psql;

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use binaries::{Binaries, LIB_ROOT, find_tool};
use cluster::{Cluster, DSN_ENV, is_ci, random_u64};
use conninfo::ConnInfo;
use psql::{Psql, quote_ident};

/// Attempts at `CREATE DATABASE`, which fails while another session uses the template.
const CREATE_ATTEMPTS: u32 = 5;

/// A PostgreSQL server that tests may create databases on.
///
/// Get the per-process one with [`shared`](Self::shared) (or
/// [`shared_or_skip`](Self::shared_or_skip)), then one database per test with
/// [`create_database`](Self::create_database):
///
/// ```no_run
/// use hotplex_storage_testkit::PgServer;
///
/// let Some(server) = PgServer::shared_or_skip() else { return };
/// let db = server.create_database().expect("create a test database");
/// let dsn = db.dsn(); // key=value DSN for the new database; dropped with `db`
/// # let _ = dsn;
/// ```
#[derive(Debug)]
pub struct PgServer {
    admin: Psql,
    cluster: Option<Cluster>,
}

impl PgServer {
    /// The server for this test process: `HOTPLEX_TEST_POSTGRES_DSN` when set (an admin DSN
    /// that may `CREATE DATABASE`), else a throwaway cluster started once per process.
    ///
    /// `Ok(None)` only when the PostgreSQL binaries are missing and `CI` is not true (the
    /// caller skips, printing why); `Err` when they are missing under `CI=true`, or when
    /// starting or connecting failed. The outcome is computed once and returned to every
    /// caller.
    pub fn shared() -> Result<Option<&'static PgServer>, String> {
        static SHARED: OnceLock<Result<Option<PgServer>, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start(&|key| std::env::var(key).ok(), Path::new(LIB_ROOT)))
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    /// [`shared`](Self::shared) for a test body: `None` (after printing why to stderr) when
    /// the test should skip.
    ///
    /// # Panics
    /// When [`shared`](Self::shared) returns an error, so that the test fails with it.
    pub fn shared_or_skip() -> Option<&'static PgServer> {
        match Self::shared() {
            Ok(Some(server)) => Some(server),
            Ok(None) => {
                eprintln!(
                    "skipping: no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under \
                     {LIB_ROOT}/*/bin and {DSN_ENV} is unset; install postgresql or set \
                     {DSN_ENV} (with CI=true this is a failure)"
                );
                None
            }
            Err(err) => panic!("PostgreSQL test server unavailable: {err}"),
        }
    }

    /// Starts (or connects to) a server of its own, reading the environment through `env`
    /// (`HOTPLEX_TEST_POSTGRES_DSN`, `CI`, `PATH`) and looking for server binaries under
    /// `lib_root/<version>/bin` after `PATH`. [`shared`](Self::shared) is this with the
    /// process environment and `/usr/lib/postgresql`; tests inject both to check the lookup.
    ///
    /// A throwaway cluster started here stops when the returned server is dropped, or, at the
    /// latest, shortly after this process exits (a watchdog process removes it).
    pub fn start(
        env: &dyn Fn(&str) -> Option<String>,
        lib_root: &Path,
    ) -> Result<Option<PgServer>, String> {
        let path_var = env("PATH");
        let path_var = path_var.as_deref().map(OsStr::new);
        if let Some(dsn) = env(DSN_ENV).filter(|d| !d.trim().is_empty()) {
            return Self::external(&dsn, path_var, lib_root).map(Some);
        }
        let Some(binaries) = Binaries::find(path_var, lib_root) else {
            if is_ci(env("CI").as_deref()) {
                return Err(format!(
                    "PostgreSQL is required with CI=true, but no server binaries (initdb, \
                     pg_ctl, postgres) were found on PATH or under {}/*/bin: install them \
                     (apt-get install postgresql) or set {DSN_ENV}",
                    lib_root.display()
                ));
            }
            return Ok(None);
        };
        Self::throwaway(&binaries, path_var, lib_root).map(Some)
    }

    /// The server behind the admin DSN `dsn`, checked with `SELECT 1`.
    fn external(dsn: &str, path_var: Option<&OsStr>, lib_root: &Path) -> Result<Self, String> {
        let admin = ConnInfo::parse(dsn).map_err(|e| format!("{DSN_ENV}: {e}"))?;
        let program = find_tool("psql", path_var, lib_root).ok_or_else(|| {
            format!(
                "{DSN_ENV} is set, but no psql program was found on PATH or under {}/*/bin; \
                 install the PostgreSQL client",
                lib_root.display()
            )
        })?;
        let server = Self {
            admin: Psql::new(program, admin),
            cluster: None,
        };
        server
            .admin
            .run("SELECT 1")
            .map_err(|e| format!("{DSN_ENV} does not connect: {e}"))?;
        Ok(server)
    }

    /// A throwaway cluster from `binaries`, watched on behalf of this process.
    fn throwaway(
        binaries: &Binaries,
        path_var: Option<&OsStr>,
        lib_root: &Path,
    ) -> Result<Self, String> {
        let program = Some(binaries.dir().join("psql"))
            .filter(|p| p.is_file())
            .or_else(|| find_tool("psql", path_var, lib_root))
            .ok_or_else(|| {
                format!(
                    "PostgreSQL server binaries are in {}, but no psql program was found",
                    binaries.dir().display()
                )
            })?;
        let root = cluster::throwaway_root();
        let cluster =
            Cluster::start(binaries, &root, Some(std::process::id())).inspect_err(|_| {
                let _ = std::fs::remove_dir_all(&root);
            })?;
        Ok(Self {
            admin: Psql::new(program, cluster.admin_conninfo()),
            cluster: Some(cluster),
        })
    }

    /// A key=value DSN for database `dbname` on this server (the admin DSN's user, password
    /// and other settings, `dbname` replaced).
    pub fn dsn(&self, dbname: &str) -> String {
        self.admin.conninfo().with("dbname", dbname).render()
    }

    /// Creates a fresh database named `hotplex_test_<pid>_<counter>_<random>` (owned by the
    /// admin user), dropped again when the returned guard drops.
    pub fn create_database(&self) -> Result<PgDatabase, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "hotplex_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            random_u64() & 0xffff_ffff
        );
        let sql = format!("CREATE DATABASE {}", quote_ident(&name));
        let mut attempt = 1;
        loop {
            match self.admin.run(&sql) {
                Ok(_) => break,
                Err(err)
                    if attempt < CREATE_ATTEMPTS
                        && err.contains("being accessed by other users") =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100 * u64::from(attempt)));
                }
                Err(err) => return Err(format!("cannot create test database {name}: {err}")),
            }
        }
        Ok(PgDatabase {
            dsn: self.dsn(&name),
            name,
            admin: self.admin.clone(),
        })
    }

    /// Runs `sql` with `psql` in database `dbname` as the admin user and returns the
    /// unaligned, tuples-only output (trimmed).
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String, String> {
        self.admin
            .at(self.admin.conninfo().with("dbname", dbname))
            .run(sql)
    }

    /// Runs `sql` with `psql` on the connection `dsn` (key=value or URL).
    pub fn psql_at(&self, dsn: &str, sql: &str) -> Result<String, String> {
        self.admin.at(ConnInfo::parse(dsn)?).run(sql)
    }

    /// The `psql` program this server is driven with.
    pub fn psql_program(&self) -> &Path {
        self.admin.program()
    }

    /// The throwaway cluster's directory; `None` for an external server.
    pub fn cluster_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().map(Cluster::root)
    }

    /// The throwaway cluster's postmaster process id; `None` for an external server.
    pub fn postmaster_pid(&self) -> Option<u32> {
        self.cluster.as_ref().map(Cluster::pid)
    }

    /// Crashes a throwaway cluster (`pg_ctl stop -m immediate`, keeping its data) for crash
    /// tests; start it again with [`start_again`](Self::start_again). Only on a server of the
    /// test's own ([`start`](Self::start)): others use the [`shared`](Self::shared) one
    /// concurrently. `Err` for an external server.
    pub fn stop_immediately(&self) -> Result<(), String> {
        self.cluster
            .as_ref()
            .ok_or_else(|| "an external server cannot be stopped by a test".to_owned())?
            .stop_immediately()
    }

    /// Starts a throwaway cluster stopped by [`stop_immediately`](Self::stop_immediately) again
    /// on the same data directory, socket and port. `Err` for an external server.
    pub fn start_again(&mut self) -> Result<(), String> {
        self.cluster
            .as_mut()
            .ok_or_else(|| "an external server cannot be started by a test".to_owned())?
            .start_again()
    }
}

impl Drop for PgServer {
    /// Stops and removes a throwaway cluster (the shared one is never dropped; its watchdog
    /// removes it). Never panics.
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster
            && let Err(err) = cluster.stop()
        {
            eprintln!("warning: stopping the throwaway PostgreSQL cluster: {err}");
        }
    }
}

/// A database created by [`PgServer::create_database`], dropped (`WITH (FORCE)`, which closes
/// its remaining connections; PostgreSQL 13 or later) when this guard drops. Keep it alive as
/// long as the store using it, e.g. as a [`Fixture`](crate::Fixture) guard.
pub struct PgDatabase {
    name: String,
    dsn: String,
    admin: Psql,
}

impl PgDatabase {
    /// A key=value DSN for this database.
    pub fn dsn(&self) -> String {
        self.dsn.clone()
    }

    /// The database name (`hotplex_test_<pid>_<counter>_<random>`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for PgDatabase {
    /// Shows the name only: the DSN may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for PgDatabase {
    /// Drops the database; a failure is printed to stderr, never a panic.
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        if let Err(err) = self.admin.run(&sql) {
            eprintln!("warning: dropping test database {}: {err}", self.name);
        }
    }
}
