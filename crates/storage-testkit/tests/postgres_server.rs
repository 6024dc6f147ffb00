//! The throwaway-PostgreSQL fixture against a real server: databases, the DSN override, the
//! watchdog that removes an abandoned cluster, and the binary lookup under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hotplex_storage_testkit::PgServer;

/// Set (to "1") in the child process of [`abandoned_cluster_is_removed_by_the_watchdog`].
const CHILD_ENV: &str = "HOTPLEX_PG_WATCHDOG_CHILD";

const DSN_ENV: &str = "HOTPLEX_TEST_POSTGRES_DSN";

/// How long the watchdog (polling once a second) may take to clean up.
const CLEANUP_LIMIT: Duration = Duration::from_secs(30);

/// Polls `done` every 100 ms for up to `limit`; tells whether it held.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

fn process_exists(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// A fresh empty directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "hotplex-pgtest-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The process environment without `HOTPLEX_TEST_POSTGRES_DSN`: forces a throwaway cluster.
fn env_without_dsn(key: &str) -> Option<String> {
    if key == DSN_ENV {
        None
    } else {
        std::env::var(key).ok()
    }
}

fn database_exists(server: &PgServer, name: &str) -> bool {
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "generated names need no quoting in a literal: {name}"
    );
    let count = server
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        )
        .unwrap();
    count == "1"
}

#[test]
fn two_databases_are_usable_distinct_and_dropped() {
    let Some(server) = PgServer::shared_or_skip() else {
        return;
    };
    let a = server.create_database().unwrap();
    let b = server.create_database().unwrap();
    let prefix = format!("hotplex_test_{}_", std::process::id());
    assert!(a.name().starts_with(&prefix), "{}", a.name());
    assert!(b.name().starts_with(&prefix), "{}", b.name());
    assert_ne!(a.name(), b.name());
    for db in [&a, &b] {
        assert_eq!(server.psql_at(&db.dsn(), "SELECT 1").unwrap(), "1");
        assert_eq!(
            server
                .psql_at(&db.dsn(), "SELECT current_database()")
                .unwrap(),
            db.name()
        );
        assert!(database_exists(server, db.name()));
    }
    // A table in one database is invisible in the other.
    server
        .psql(a.name(), "CREATE TABLE only_in_a (x int)")
        .unwrap();
    let err = server
        .psql(b.name(), "SELECT * FROM only_in_a")
        .unwrap_err();
    assert!(err.contains("only_in_a"), "{err}");
    if server.cluster_dir().is_some() {
        // The throwaway cluster is UTF-8, so CJK text is stored and indexed faithfully.
        assert_eq!(
            server.psql(a.name(), "SHOW server_encoding").unwrap(),
            "UTF8"
        );
        assert_eq!(server.psql(a.name(), "SHOW fsync").unwrap(), "off");
        assert_eq!(server.psql(a.name(), "SHOW listen_addresses").unwrap(), "");
    }
    let (a_name, b_name) = (a.name().to_owned(), b.name().to_owned());
    drop(a);
    assert!(!database_exists(server, &a_name));
    assert!(database_exists(server, &b_name));
    drop(b);
    assert!(!database_exists(server, &b_name));
}

#[test]
fn drop_removes_a_database_that_still_has_connections() {
    let Some(server) = PgServer::shared_or_skip() else {
        return;
    };
    let db = server.create_database().unwrap();
    let name = db.name().to_owned();
    let mut session = Command::new(server.psql_program())
        .args(["-X", "-q", "-d", &db.dsn(), "-c", "SELECT pg_sleep(60)"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let connected = eventually(Duration::from_secs(10), || {
        server
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"),
            )
            .is_ok_and(|n| n == "1")
    });
    assert!(connected, "the sleeping session never connected");
    let started = Instant::now();
    drop(db);
    assert!(!database_exists(server, &name));
    assert!(started.elapsed() < Duration::from_secs(30));
    let status = session.wait().unwrap();
    assert!(!status.success(), "the session was terminated by the drop");
}

#[test]
fn the_dsn_override_is_used_instead_of_a_cluster() {
    let Some(shared) = PgServer::shared_or_skip() else {
        return;
    };
    let admin = shared.dsn("postgres");
    let env = |key: &str| {
        if key == DSN_ENV {
            Some(admin.clone())
        } else {
            std::env::var(key).ok()
        }
    };
    let server = PgServer::start(&env, Path::new("/usr/lib/postgresql"))
        .unwrap()
        .expect("a DSN is always a server");
    assert_eq!(server.cluster_dir(), None);
    assert_eq!(server.postmaster_pid(), None);
    assert_eq!(server.dsn("postgres"), admin);
    let db = server.create_database().unwrap();
    assert!(
        db.dsn().contains(&format!("dbname={}", db.name())),
        "{}",
        db.dsn()
    );
    assert_eq!(shared.psql_at(&db.dsn(), "SELECT 1").unwrap(), "1");
    let name = db.name().to_owned();
    drop(db);
    assert!(!database_exists(shared, &name));
}

#[test]
fn a_dsn_override_that_does_not_connect_is_an_error_without_its_password() {
    let Some(shared) = PgServer::shared_or_skip() else {
        return;
    };
    let env = |key: &str| match key {
        DSN_ENV => Some("host=/nonexistent-hotplex port=1 user=x password=sekrit-pw".to_owned()),
        _ => std::env::var(key).ok(),
    };
    let err = PgServer::start(&env, Path::new("/usr/lib/postgresql")).unwrap_err();
    assert!(err.contains(DSN_ENV), "{err}");
    assert!(err.contains("password=***"), "{err}");
    assert!(!err.contains("sekrit"), "{err}");
    let bad = |key: &str| match key {
        DSN_ENV => Some("host='unterminated password=sekrit".to_owned()),
        _ => None,
    };
    let err = PgServer::start(&bad, Path::new("/nonexistent")).unwrap_err();
    assert!(!err.contains("sekrit"), "{err}");
    assert!(shared.psql("postgres", "SELECT 1").is_ok());
}

#[test]
fn a_password_reaches_the_dsn_but_never_debug_output() {
    let Some(shared) = PgServer::shared_or_skip() else {
        return;
    };
    // The throwaway cluster trusts local connections, so any password is accepted; with an
    // external DSN the password must be the right one, so only the cluster runs this.
    if shared.cluster_dir().is_none() {
        return;
    }
    let admin = format!("{} password='sek ret'", shared.dsn("postgres"));
    let env = |key: &str| match key {
        DSN_ENV => Some(admin.clone()),
        _ => std::env::var(key).ok(),
    };
    let server = PgServer::start(&env, Path::new("/usr/lib/postgresql"))
        .unwrap()
        .unwrap();
    let db = server.create_database().unwrap();
    assert!(db.dsn().contains("password='sek ret'"), "{}", db.dsn());
    assert_eq!(server.psql_at(&db.dsn(), "SELECT 1").unwrap(), "1");
    for debug in [format!("{server:?}"), format!("{db:?}")] {
        assert!(!debug.contains("sek ret"), "{debug}");
    }
    assert!(format!("{server:?}").contains("password=***"));
}

#[test]
fn guards_can_live_in_a_fixture() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<hotplex_storage_testkit::PgDatabase>();
    send_sync_static::<PgServer>();
}

#[test]
fn missing_binaries_fail_under_ci_and_skip_otherwise() {
    let empty = Scratch::new("nobin");
    let path = empty.0.to_string_lossy().into_owned();
    let lib_root = empty.0.join("lib");
    for ci in ["true", "1"] {
        let env = |key: &str| match key {
            "CI" => Some(ci.to_owned()),
            "PATH" => Some(path.clone()),
            _ => None,
        };
        let err = PgServer::start(&env, &lib_root).unwrap_err();
        assert!(err.contains("CI=true"), "{err}");
        assert!(err.contains("initdb"), "{err}");
    }
    for ci in [None, Some("false")] {
        let env = |key: &str| match key {
            "CI" => ci.map(str::to_owned),
            "PATH" => Some(path.clone()),
            _ => None,
        };
        assert!(PgServer::start(&env, &lib_root).unwrap().is_none());
    }
}

#[test]
fn an_owned_server_stops_and_removes_its_cluster_on_drop() {
    if PgServer::shared_or_skip().is_none() {
        return;
    }
    let server = PgServer::start(&env_without_dsn, Path::new("/usr/lib/postgresql"))
        .unwrap()
        .expect("binaries were found for the shared server");
    let dir = server.cluster_dir().unwrap().to_path_buf();
    let pid = server.postmaster_pid().unwrap();
    assert!(dir.join("data").join("postmaster.pid").is_file());
    assert!(process_exists(pid));
    assert_eq!(server.psql("postgres", "SELECT 1").unwrap(), "1");
    drop(server);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        eventually(Duration::from_secs(10), || !process_exists(pid)),
        "postmaster {pid} still running"
    );
}

/// The child half of the watchdog tests: starts the shared cluster, reports it, then ends as
/// `HOTPLEX_PG_WATCHDOG_CHILD` says — `panic` (statics never drop, so only the watchdog can
/// clean up) or `hang` (until the parent kills it with SIGKILL).
#[test]
#[ignore = "run as a child process by the watchdog tests"]
fn watchdog_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    match PgServer::shared() {
        Ok(None) => println!("SKIP"),
        Err(err) => println!("ERROR {err}"),
        Ok(Some(server)) => {
            let dir = server.cluster_dir().expect("the child has no DSN override");
            let pid = server.postmaster_pid().unwrap();
            assert!(process_exists(pid));
            assert_eq!(server.psql("postgres", "SELECT 1").unwrap(), "1");
            println!("CLUSTER {pid} {}", dir.display());
            if mode == "hang" {
                std::thread::sleep(Duration::from_mins(2));
            }
            panic!("the child ends by panicking, leaving its cluster behind");
        }
    }
}

/// Starts [`watchdog_child`] in `mode` and returns it with its report line.
fn spawn_child(mode: &str) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "watchdog_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, mode)
        .env_remove(DSN_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find(|l| l.starts_with("CLUSTER ") || l == "SKIP" || l.starts_with("ERROR "))
        .unwrap_or_else(|| "(the child printed no report)".to_owned());
    (child, line)
}

/// Asserts that the cluster reported in `line` disappears (postmaster and directory) within
/// [`CLEANUP_LIMIT`]. False when the child skipped for lack of binaries.
fn assert_cleaned_up(line: &str) -> bool {
    if line == "SKIP" {
        eprintln!("skipping: no PostgreSQL binaries");
        return false;
    }
    let report = line
        .strip_prefix("CLUSTER ")
        .unwrap_or_else(|| panic!("child failed: {line}"));
    let (pid, dir) = report.split_once(' ').unwrap();
    let pid: u32 = pid.parse().unwrap();
    let dir = PathBuf::from(dir);
    assert!(
        eventually(CLEANUP_LIMIT, || !process_exists(pid) && !dir.exists()),
        "postmaster {pid} alive: {}, {} exists: {}",
        process_exists(pid),
        dir.display(),
        dir.exists()
    );
    true
}

#[test]
fn a_cluster_abandoned_by_a_panic_is_removed_by_the_watchdog() {
    let (mut child, line) = spawn_child("panic");
    let status = child.wait().unwrap();
    if assert_cleaned_up(&line) {
        assert!(!status.success(), "the child panicked after starting");
    }
}

#[test]
fn a_cluster_of_a_killed_process_is_removed_by_the_watchdog() {
    let (mut child, line) = spawn_child("hang");
    child.kill().unwrap(); // SIGKILL: no unwinding, no atexit
    child.wait().unwrap();
    assert_cleaned_up(&line);
}
