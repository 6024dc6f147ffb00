//! Security of what the `hotplex-storage` binary writes and prints: export, backup and
//! database files are private (0600) also when the target exists with a looser mode or is a
//! symbolic link (which is replaced, never written through, or refused for the database); a
//! PostgreSQL password never appears in errors or logs, even at trace level.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hotplex-storage");

/// A password no output may contain.
const PASSWORD: &str = "Pw-9f2c1e77-secret";

/// Runs the binary with HOME set to `home` and a clean environment.
fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("HOME", home)
        .output()
        .expect("run hotplex-storage")
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// A HOME with a demo database, a world-readable file and a symlink to a victim file.
struct Setup {
    home: tempfile::TempDir,
    victim: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        ok(run(home.path(), &["demo"]));
        let victim = home.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        Self { home, victim }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// An existing file at `name`, mode 0644.
    fn loose_file(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }

    /// A symbolic link at `name` to the victim file.
    fn link(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::os::unix::fs::symlink(&self.victim, &path).unwrap();
        path
    }

    /// The target is a regular private file now and the victim is untouched.
    fn assert_replaced(&self, target: &Path) {
        let meta = std::fs::symlink_metadata(target).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{} is a regular file",
            target.display()
        );
        assert_eq!(mode(target), 0o600, "{}", target.display());
        assert_eq!(std::fs::read_to_string(&self.victim).unwrap(), "keep me");
        assert_eq!(mode(&self.victim), 0o644);
        let leftovers: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn export_files_are_private_and_replace_existing_files_and_symlinks() {
    let s = Setup::new();
    for target in [
        s.path("new.jsonl"),
        s.loose_file("old.jsonl"),
        s.link("link.jsonl"),
    ] {
        ok(run(
            s.home.path(),
            &["export", "--output", target.to_str().unwrap()],
        ));
        s.assert_replaced(&target);
        let lines = std::fs::read_to_string(&target).unwrap().lines().count();
        assert_eq!(lines, 6, "{}", target.display());
    }
}

#[test]
fn backups_are_private_and_replace_existing_files_and_symlinks() {
    let s = Setup::new();
    for target in [s.path("new.db"), s.loose_file("old.db"), s.link("link.db")] {
        ok(run(s.home.path(), &["backup", target.to_str().unwrap()]));
        s.assert_replaced(&target);
        assert!(
            std::fs::read(&target)
                .unwrap()
                .starts_with(b"SQLite format 3\0")
        );
    }
    // The JSON Lines backup of the other backends goes through the same path.
    for target in [s.loose_file("old.jsonl"), s.link("link.jsonl")] {
        ok(run(
            s.home.path(),
            &["--type", "memory", "backup", target.to_str().unwrap()],
        ));
        s.assert_replaced(&target);
    }
}

#[test]
fn the_database_is_tightened_to_0600_and_a_symlink_is_refused() {
    let s = Setup::new();
    let db = s.path(".hotplex/messages.db");
    assert_eq!(mode(&db), 0o600);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o664)).unwrap();
    ok(run(s.home.path(), &["stats"]));
    assert_eq!(mode(&db), 0o600, "a looser database file is tightened");

    let link = s.link("link.db");
    let out = run(
        s.home.path(),
        &["--sqlite-path", link.to_str().unwrap(), "stats"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&s.victim).unwrap(), "keep me");
}

/// Runs a command against PostgreSQL at trace level and checks it failed without showing
/// the password anywhere.
fn assert_no_password(home: &Path, dsn: &str, what: &str) {
    let mut args = vec!["-vvv", "--type", "postgres", "--postgres-dsn", dsn];
    args.extend(["stats", "--json"]);
    let out = Command::new(BIN)
        .args(&args)
        .env_clear()
        .env("HOME", home)
        .env("RUST_LOG", "trace")
        .output()
        .expect("run hotplex-storage");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: {stdout}");
    assert!(!stderr.is_empty(), "{what}: an error is shown");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(PASSWORD),
            "{what}: the password leaked:\n{text}"
        );
    }
}

#[test]
fn a_password_never_appears_in_errors_or_logs() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("no-socket-here");
    let cases = [
        (
            format!(
                "host={} port=5432 user=app password={PASSWORD} dbname=x connect_timeout=2",
                missing.display()
            ),
            "a missing socket directory (key=value DSN)",
        ),
        (
            format!("postgres://app:{PASSWORD}@127.0.0.1:1/x?connect_timeout=2"),
            "a closed port (URL DSN)",
        ),
        (
            format!("postgres://app:{PASSWORD}@127.0.0.1:notaport/x"),
            "a malformed URL DSN",
        ),
        (
            format!("host=127.0.0.1 password={PASSWORD} sslmode=bogus"),
            "a malformed key=value DSN",
        ),
        (format!("password='{PASSWORD}"), "an unterminated quote"),
    ];
    for (dsn, what) in &cases {
        assert_no_password(home.path(), dsn, what);
    }
    // A real server refusing the login.
    let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
        return;
    };
    let db = server.create_database().expect("a test database");
    let dsn = format!("{} user=no_such_role_hx password={PASSWORD}", db.dsn());
    assert_no_password(home.path(), &dsn, "an unknown role on the test server");
}
