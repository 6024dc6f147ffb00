//! The `hotplex-storage` binary driven as a subprocess, with HOME set to a temporary
//! directory and a clean environment.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hotplex-storage");

/// One test's HOME and the environment variables it adds.
struct Home {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp HOME"),
            env: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run hotplex-storage");
        Run(output)
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn hotplex-storage");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        Run(child.wait_with_output().expect("wait"))
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }
}

struct Run(Output);

impl Run {
    fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    fn ok(self) -> Self {
        assert_eq!(
            self.code(),
            0,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout()))
    }
    /// A failure: the given exit code and one clear line on stderr, no panic.
    fn fails_with(self, code: i32, needle: &str) -> Self {
        let err = self.stderr();
        assert_eq!(self.code(), code, "stderr: {err}");
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("panicked"), "{err}");
        self
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn jsonl_rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A Go plugin export: a JSON array with Go field names, one message soft-deleted.
const GO_EXPORT: &str = r#"[
  {"ID":"go-1","ChatSessionID":"slack_U9_C9","ChatPlatform":"slack","ChatUserID":"U9",
   "MessageType":"user_input","Content":"from Go","Metadata":{"k":"v"},
   "CreatedAt":"2026-03-23T18:14:31.123456789+08:00","UpdatedAt":"0001-01-01T00:00:00Z",
   "Deleted":false,"DeletedAt":null},
  {"ID":"go-2","ChatSessionID":"slack_U9_C9","ChatPlatform":"slack","ChatUserID":"U9",
   "MessageType":"final_response","Content":"answer from Go","Metadata":null,
   "CreatedAt":"2026-03-23T18:15:00Z","UpdatedAt":"2026-03-23T18:15:00Z",
   "Deleted":true,"DeletedAt":"2026-03-24T00:00:00Z"}
]"#;

#[test]
fn demo_on_a_fresh_home_writes_a_private_database() {
    let home = Home::new();
    let run = home.run(&["demo"]).ok();
    let out = run.stdout();
    assert!(out.contains("[interrupted]"), "{out}");
    assert!(out.contains("sessions of slack/U0ADA"), "{out}");
    let db = home.path().join(".hotplex/messages.db");
    assert_eq!(mode(&db), 0o600);
    let listed = home.run(&["list", "--json", "--limit", "0"]).ok().json();
    let messages = listed.as_array().expect("an array");
    assert_eq!(messages.len(), 6);
    let interrupted = messages
        .iter()
        .filter(|m| m["metadata"]["stream_status"] == "interrupted")
        .count();
    assert_eq!(
        interrupted, 1,
        "the unfinished stream is stored as interrupted"
    );
    let stats = home.run(&["stats", "--json"]).ok().json();
    assert_eq!(stats["total_messages"], 6);
    assert_eq!(stats["total_sessions"], 3);
    // A second run adds its own threads; --json describes them.
    let demo = home.run(&["demo", "--json"]).ok().json();
    let threads = demo["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 3);
    for thread in threads {
        let messages = thread["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 2, "a question and its answer: {thread}");
        assert_eq!(messages[0]["message_type"], "user_input");
        assert_eq!(messages[1]["message_type"], "final_response");
    }
    assert_eq!(
        demo["user_sessions"]["sessions"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(demo["stats"]["total_messages"], 12);
}

#[test]
fn export_then_import_into_a_fresh_database_gives_identical_rows() {
    let a = Home::new();
    a.run(&["demo"]).ok();
    let go = a.write("go.json", GO_EXPORT);
    a.run(&["import", go.to_str().unwrap()]).ok();
    let first = a.file("a.jsonl");
    a.run(&["export", "--output", first.to_str().unwrap()]).ok();
    assert_eq!(mode(&first), 0o600);
    let rows = jsonl_rows(&first);
    assert_eq!(
        rows.len(),
        8,
        "6 demo rows and 2 Go rows, the deleted one included"
    );

    let b = Home::new();
    let report = b
        .run(&["import", "--json", first.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(report["imported"], 8);
    assert_eq!(report["rejected"].as_array().map(Vec::len), Some(0));
    let again = b
        .run(&["import", "--json", first.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(again["imported"], 0, "a re-import adds nothing");
    assert_eq!(again["already_present"], 8);
    let second = b.file("b.jsonl");
    b.run(&["export", "--output", second.to_str().unwrap()])
        .ok();
    // `seq` is assigned by each store in insertion order (the import's order is the export's,
    // oldest first); every other field is preserved exactly.
    let without_seq = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter()
            .map(|mut r| {
                r.as_object_mut().expect("an object").remove("seq");
                r
            })
            .collect()
    };
    let imported = jsonl_rows(&second);
    let seqs: Vec<i64> = imported
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "stored in export order");
    assert_eq!(without_seq(imported), without_seq(rows), "identical rows");
}

#[test]
fn export_to_stdout_pipes_into_import_from_stdin() {
    let a = Home::new();
    a.run(&["demo"]).ok();
    let exported = a.run(&["export", "--session", "nope"]).ok();
    assert_eq!(exported.stdout(), "", "an unknown session exports nothing");
    let exported = a.run(&["export"]).ok();
    assert_eq!(exported.stdout().lines().count(), 6);
    assert!(
        exported.stderr().contains("exported 6 messages"),
        "{}",
        exported.stderr()
    );
    let b = Home::new();
    let report = b
        .run_with_stdin(&["import", "--json", "-"], &exported.stdout())
        .ok()
        .json();
    assert_eq!(report["imported"], 6);
}

#[test]
fn a_go_export_imports() {
    let home = Home::new();
    let go = home.write("go.json", GO_EXPORT);
    let report = home
        .run(&["import", "--json", go.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(report["imported"], 2);
    let msg = home.run(&["get", "--json", "go-1"]).ok().json();
    assert_eq!(msg["content"], "from Go");
    assert_eq!(msg["created_at"], "2026-03-23T10:14:31.123456Z");
    assert_eq!(msg["metadata"]["k"], "v");
    home.run(&["get", "go-2"])
        .fails_with(1, "message not found: go-2");
    let all = home
        .run(&["list", "--json", "--include-deleted"])
        .ok()
        .json();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}

/// A Go plugin database written with the Go plugin's DDL and statements: three sessions in
/// mixed zones with monotonic readings, a session deleted and one of its ids re-stored
/// (undeleted), metadata `""` and invalid JSON, and one unparsable `created_at`.
fn go_database(path: &Path) {
    use hotplex_storage_sqlite::{GoPluginRow, GoPluginWriter};
    let row = |id: &str, session: &str, user: &str, at: &str| GoPluginRow {
        id: id.into(),
        chat_session_id: session.into(),
        chat_platform: "slack".into(),
        chat_user_id: user.into(),
        chat_bot_user_id: "B1".into(),
        chat_channel_id: "C1".into(),
        chat_thread_id: "1711.1".into(),
        engine_session_id: "5c3e7d2a-4b1f-4c8e-9a6d-2f0b1e3c4d5a".into(),
        engine_namespace: "hotplex".into(),
        provider_session_id: "prov-1".into(),
        provider_type: "claude-code".into(),
        message_type: if user.is_empty() {
            "final_response"
        } else {
            "user_input"
        }
        .into(),
        from_user_id: "F1".into(),
        from_user_name: "Ann".into(),
        to_user_id: "T1".into(),
        content: format!("content {id}"),
        metadata: r#"{"k":"v"}"#.into(),
        created_at: at.into(),
        updated_at: at.into(),
    };
    let go = GoPluginWriter::create(path).unwrap();
    go.store(&row(
        "g1",
        "s-a",
        "U1",
        "2026-03-23 18:14:31.123456789 +0800 CST m=+12.345678901",
    ))
    .unwrap();
    go.store(&row("g2", "s-a", "", "2026-03-23 10:15:00 +0000 UTC"))
        .unwrap();
    let mut g3 = row(
        "g3",
        "s-b",
        "U2",
        "2026-03-23 15:46:00.5 +0530 +0530 m=+3.000000000",
    );
    g3.metadata = String::new();
    go.store(&g3).unwrap();
    let mut g4 = row(
        "g4",
        "s-b",
        "",
        "2026-03-22 20:00:00.000001 -0700 MST m=+4.000000000",
    );
    g4.metadata = "{broken".into();
    go.store(&g4).unwrap();
    go.store(&row(
        "g5",
        "s-c",
        "U3",
        "2026-03-20 09:00:00 +0900 JST m=+5.000000000",
    ))
    .unwrap();
    go.store(&row(
        "g6",
        "s-c",
        "",
        "2026-03-20 09:00:05 +0900 JST m=+6.000000000",
    ))
    .unwrap();
    go.delete_session("s-c", "2026-03-21 12:00:00.25 +0100 CET m=+7.000000000")
        .unwrap();
    go.store(&row(
        "g5",
        "s-c",
        "U3",
        "2026-03-22 09:00:00 +0900 JST m=+8.000000000",
    ))
    .unwrap();
    go.store(&row("g7", "s-a", "U1", "2026-03-23 18:14:31"))
        .unwrap();
    go.close().unwrap();
}

/// The report of the first import of [`go_database`].
fn assert_go_report(report: &Value) {
    assert_eq!(report["source"], "go-sqlite");
    assert_eq!(report["database"]["rows"], 7);
    assert_eq!(report["database"]["deleted_rows"], 1);
    assert_eq!(report["database"]["session_metas"], 3);
    assert_eq!(
        report["database"]["session_metas_disagreeing"], 1,
        "s-c: Go counted three stores for one live row"
    );
    assert_eq!(
        (report["rows"].as_u64(), report["imported"].as_u64()),
        (Some(7), Some(6))
    );
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["id"], "g7");
    assert_eq!(skipped[0]["rowid"], 8);
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("created_at \"2026-03-23 18:14:31\"")
    );
    let noted: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(noted, ["g3", "g4"]);
}

/// Every imported row of [`go_database`], field by field for one of them.
fn assert_go_rows_imported(all: &Value) {
    let by_id = |id: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap()
    };
    let g1 = by_id("g1");
    for (field, value) in [
        ("chat_session_id", "s-a"),
        ("chat_platform", "slack"),
        ("chat_user_id", "U1"),
        ("chat_bot_user_id", "B1"),
        ("chat_channel_id", "C1"),
        ("chat_thread_id", "1711.1"),
        ("engine_session_id", "5c3e7d2a-4b1f-4c8e-9a6d-2f0b1e3c4d5a"),
        ("engine_namespace", "hotplex"),
        ("provider_session_id", "prov-1"),
        ("provider_type", "claude-code"),
        ("message_type", "user_input"),
        ("from_user_id", "F1"),
        ("from_user_name", "Ann"),
        ("to_user_id", "T1"),
        ("content", "content g1"),
        ("created_at", "2026-03-23T10:14:31.123456Z"),
        ("updated_at", "2026-03-23T10:14:31.123456Z"),
    ] {
        assert_eq!(g1[field], value, "{field}");
    }
    assert_eq!(g1["metadata"], serde_json::json!({"k": "v"}));
    assert_eq!(g1["deleted"], false);
    let times: Vec<(&str, &str, bool)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap(),
                m["created_at"].as_str().unwrap(),
                m["deleted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        times,
        [
            ("g6", "2026-03-20T00:00:05Z", true),
            ("g5", "2026-03-22T00:00:00Z", false),
            ("g4", "2026-03-23T03:00:00.000001Z", false),
            ("g1", "2026-03-23T10:14:31.123456Z", false),
            ("g2", "2026-03-23T10:15:00Z", false),
            ("g3", "2026-03-23T10:16:00.500Z", false),
        ]
    );
    assert_eq!(by_id("g6")["deleted_at"], "2026-03-21T11:00:00.250Z");
    assert_eq!(by_id("g3")["metadata"], serde_json::json!({}));
    assert_eq!(
        by_id("g4")["metadata"],
        serde_json::json!({"go_metadata_raw": "{broken"})
    );
}

#[test]
fn a_go_database_imports_losslessly_and_a_second_run_imports_nothing() {
    let home = Home::new();
    let go_path = home.file("chatapp_messages.db");
    go_database(&go_path);
    let before = std::fs::read(&go_path).unwrap();
    let go = go_path.to_str().unwrap();

    let run = home.run(&["import", "--json", go]);
    assert_eq!(run.code(), 1, "a row was skipped: {}", run.stderr());
    let report = run.json();
    assert_go_report(&report);

    let all = home
        .run(&[
            "list",
            "--json",
            "--include-deleted",
            "--ascending",
            "--limit",
            "0",
        ])
        .ok()
        .json();
    assert_go_rows_imported(&all);
    // Metas from the imported messages: s-c has one live message (Go counted three).
    let sessions = home
        .run(&["sessions", "--json", "--user", "U3"])
        .ok()
        .json();
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    assert_eq!(sessions[0]["chat_session_id"], "s-c");
    assert_eq!(sessions[0]["message_count"], 1);
    assert_eq!(sessions[0]["last_message_id"], "g5");
    let stats = home.run(&["stats", "--json"]).ok().json();
    assert_eq!(stats["total_messages"], 5);
    assert_eq!(stats["total_sessions"], 3);

    let again = home.run(&["import", "--json", go]);
    assert_eq!(again.code(), 1);
    let again = again.json();
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_present"].as_u64()
        ),
        (Some(0), Some(6))
    );
    let text = home.run(&["import", go]);
    assert!(
        text.stdout()
            .contains("imported 0, already present 6, filtered 0, skipped 1"),
        "{}",
        text.stdout()
    );
    assert!(
        text.stderr()
            .contains("row 8 (id \"g7\"): skipped: created_at"),
        "{}",
        text.stderr()
    );
    assert!(
        text.stderr()
            .contains("row 4 (id \"g4\"): note: metadata is not valid JSON"),
        "{}",
        text.stderr()
    );
    assert_eq!(
        home.run(&[
            "list",
            "--json",
            "--include-deleted",
            "--ascending",
            "--limit",
            "0"
        ])
        .ok()
        .json(),
        all
    );
    assert_eq!(
        std::fs::read(&go_path).unwrap(),
        before,
        "the Go file is never modified"
    );
}

#[test]
fn a_go_database_imports_into_the_memory_store() {
    let home = Home::new();
    let go_path = home.file("chatapp_messages.db");
    go_database(&go_path);
    let run = home.run(&[
        "--type",
        "memory",
        "import",
        "--json",
        go_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1);
    let report = run.json();
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["already_present"].as_u64()
        ),
        (Some(6), Some(0))
    );
    assert!(!home.file(".hotplex/messages.db").exists());
}

#[test]
fn an_interrupted_go_import_continues_on_the_next_run() {
    use hotplex_storage_sqlite::{GoPluginRow, GoPluginWriter};
    let home = Home::new();
    let go_path = home.file("chatapp_messages.db");
    let go = GoPluginWriter::create(&go_path).unwrap();
    for n in 0..3_000 {
        go.store(&GoPluginRow {
            id: format!("m{n}"),
            chat_session_id: format!("s{}", n % 10),
            message_type: "user_input".into(),
            content: format!("{n} {}", "x".repeat(1_000)),
            metadata: "null".into(),
            created_at: format!("2026-03-23 10:{:02}:{:02} +0000 UTC", n / 60 % 60, n % 60),
            updated_at: "2026-03-23 10:00:00 +0000 UTC".into(),
            ..GoPluginRow::default()
        })
        .unwrap();
    }
    go.close().unwrap();
    let go = go_path.to_str().unwrap();
    let home = home.with_env("HOTPLEX_MESSAGE_STORE_SQLITE_MAX_SIZE_MB", "2");
    let full = home.run(&["import", go]);
    assert_eq!(full.code(), 1, "{}", full.stderr());
    assert!(full.stderr().contains("storage full"), "{}", full.stderr());
    assert!(
        full.stderr().contains("run it again to continue"),
        "{}",
        full.stderr()
    );
    let home = Home {
        env: Vec::new(),
        ..home
    };
    let stored = home.run(&["stats", "--json"]).ok().json()["total_messages"]
        .as_u64()
        .unwrap();
    assert!(stored > 0 && stored < 3_000, "{stored}");
    let rest = home.run(&["import", "--json", go]).ok().json();
    assert_eq!(rest["already_present"].as_u64(), Some(stored));
    assert_eq!(rest["imported"].as_u64(), Some(3_000 - stored));
}

#[test]
fn a_go_database_is_never_its_own_target_nor_read_from_stdin() {
    let home = Home::new();
    let go_path = home.file("chatapp_messages.db");
    go_database(&go_path);
    let before = std::fs::read(&go_path).unwrap();
    let go = go_path.to_str().unwrap();
    home.run(&["--sqlite-path", go, "import", go])
        .fails_with(1, "is the Go database being imported");
    assert_eq!(std::fs::read(&go_path).unwrap(), before);
    let bytes = String::from_utf8_lossy(&before[..64]).into_owned();
    home.run_with_stdin(&["import", "-"], &bytes)
        .fails_with(1, "standard input is a SQLite database");
    // Our own database is not a Go database.
    home.run(&["demo"]).ok();
    let ours = home.file(".hotplex/messages.db");
    home.run(&["--type", "memory", "import", ours.to_str().unwrap()])
        .fails_with(1, "is a hotplex-storage database, not the Go plugin's");
}

#[test]
fn purge_deleted_before_takes_a_time_or_an_age() {
    let home = Home::new();
    let go = home.write("go.json", GO_EXPORT);
    home.run(&["import", go.to_str().unwrap()]).ok();
    let none = home
        .run(&[
            "purge",
            "--deleted-before",
            "2026-03-23T00:00:00Z",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(none["purged"], 0, "go-2 was deleted on 2026-03-24");
    let one = home
        .run(&[
            "purge",
            "--deleted-before",
            "2026-03-25T00:00:00+02:00",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(one["purged"], 1);
    let again = home
        .run(&["purge", "--deleted-before", "1d", "--json"])
        .ok()
        .json();
    assert_eq!(again["purged"], 0);
    home.run(&["purge", "--deleted-before", "yesterday"])
        .fails_with(1, "--deleted-before");
    let usage = home.run(&["purge", "--older-than", "1d", "--retention"]);
    assert_eq!(usage.code(), 2, "two purge modes are a usage error");
    let all = home
        .run(&["list", "--json", "--include-deleted"])
        .ok()
        .json();
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "go-1 is live and kept"
    );
}

#[test]
fn logs_go_to_stderr_with_verbose_or_rust_log() {
    let home = Home::new();
    let quiet = home.run(&["--type", "memory", "stats"]).ok();
    assert!(
        !quiet.stderr().contains("message store opened"),
        "{}",
        quiet.stderr()
    );
    let verbose = home.run(&["-v", "--type", "memory", "stats"]).ok();
    assert!(
        verbose.stderr().contains("message store opened"),
        "{}",
        verbose.stderr()
    );
    assert!(!verbose.stdout().contains("message store opened"));
    let home = home.with_env("RUST_LOG", "info");
    let env = home.run(&["--type", "memory", "stats"]).ok();
    assert!(
        env.stderr().contains("message store opened"),
        "{}",
        env.stderr()
    );
}

#[test]
fn an_invalid_import_line_is_reported_with_its_number() {
    let home = Home::new();
    let good = r#"{"id":"ok-1","chat_session_id":"s","message_type":"user_input","content":"hi"}"#;
    let file = home.write("in.jsonl", &format!("{good}\nnot json\n"));
    let run = home.run(&["import", file.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stdout().contains("imported 1"), "{}", run.stdout());
    assert!(run.stderr().contains("line 2:"), "{}", run.stderr());
}

#[test]
fn configuration_errors_are_one_line() {
    let home = Home::new();
    home.run(&["--type", "mysql", "stats"]).fails_with(
        1,
        "unsupported storage type \"mysql\"; available: memory, postgres, postgresql, sqlite",
    );
    home.run(&["--type", "postgres", "stats"])
        .fails_with(1, "message_store.postgres.dsn");
    // A server that is not there: retried (warnings logged), then a connection error as the
    // last line.
    let run = home.run(&[
        "--type",
        "postgresql",
        "--postgres-dsn",
        "host=/nonexistent/socket/dir port=1 user=app dbname=chat",
        "--postgres-level",
        "2",
        "stats",
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let last = run
        .stderr()
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(
        last.starts_with("error: ") && last.contains("connection failed"),
        "{last}"
    );
    assert!(!run.stderr().contains("panicked"));
    home.run(&["--postgres-level", "3", "stats"])
        .fails_with(1, "message_store.postgres.level");
    let bad = home.write("bad.yaml", "message_store: [oops\n");
    home.run(&["--config", bad.to_str().unwrap(), "stats"])
        .fails_with(1, "invalid config: message_store");
    let unknown = home.write(
        "unknown.yaml",
        "message_store:\n  sqlite:\n    path: /tmp/x.db\n    max_size: 5\n",
    );
    home.run(&["--config", unknown.to_str().unwrap(), "stats"])
        .fails_with(1, "message_store.sqlite.max_size");
    home.run(&["--config", "/nonexistent.yaml", "stats"])
        .fails_with(1, "/nonexistent.yaml");
    let disabled = home.write("off.yaml", "message_store:\n  enabled: false\n");
    home.run(&["--config", disabled.to_str().unwrap(), "stats"])
        .fails_with(1, "message_store.enabled");
    home.with_env("HOTPLEX_MESSAGE_STORE_RETRY_MAX_ATTEMPTS", "0")
        .run(&["stats"])
        .fails_with(1, "HOTPLEX_MESSAGE_STORE_RETRY_MAX_ATTEMPTS");
}

#[test]
fn the_environment_overrides_the_config_file_and_flags_override_both() {
    let home = Home::new();
    let from_file = home.file("from-file.db");
    let config = home.write(
        "hotplex.yaml",
        &format!(
            "message_store:\n  type: sqlite\n  sqlite:\n    path: {}\n",
            from_file.display()
        ),
    );
    let cfg = config.to_str().unwrap();
    let home = home.with_env("HOTPLEX_MESSAGE_STORE_SQLITE_PATH", "~/from-env.db");
    let stats = home.run(&["--config", cfg, "stats", "--json"]).ok().json();
    assert_eq!(stats["backend"], "sqlite");
    assert!(home.file("from-env.db").exists(), "the env path wins");
    assert!(!from_file.exists(), "the file's path is overridden");
    let home = home.with_env("HOTPLEX_MESSAGE_STORE_TYPE", "memory");
    let stats = home.run(&["--config", cfg, "stats", "--json"]).ok().json();
    assert_eq!(stats["backend"], "memory", "env beats YAML");
    let stats = home
        .run(&[
            "--config",
            cfg,
            "--type",
            "sqlite",
            "--sqlite-path",
            "~/flag.db",
            "stats",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(stats["backend"], "sqlite", "the flag beats env");
    assert!(home.file("flag.db").exists());
}

#[test]
fn health_exit_codes_follow_the_status() {
    let home = Home::new();
    let healthy = home.run(&["health", "--json"]);
    assert_eq!(healthy.code(), 0, "{}", healthy.stderr());
    assert_eq!(healthy.json()["status"], "healthy");

    // A database near its size limit is degraded (the size check warns from 80 %; stores stop
    // at 90 %, the rest is kept for deletes and purges).
    let limited = home.file("limited.db");
    let cfg = home.write(
        "limited.yaml",
        &format!(
            "message_store:\n  sqlite:\n    path: {}\n    max_size_mb: 1\n",
            limited.display()
        ),
    );
    // Imported soft-deleted, so SQLite's search index (about as large as the content it
    // indexes) does not double it: the file holds the content once.
    let big = format!(
        r#"{{"id":"big","chat_session_id":"s","message_type":"user_input","deleted":true,"deleted_at":"2026-01-01T00:00:00Z","content":"{}"}}"#,
        "x".repeat(850_000)
    );
    let input = home.write("big.jsonl", &big);
    home.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "import",
        input.to_str().unwrap(),
    ])
    .ok();
    let degraded = home.run(&["--config", cfg.to_str().unwrap(), "health"]);
    assert_eq!(
        degraded.code(),
        1,
        "{}{}",
        degraded.stdout(),
        degraded.stderr()
    );
    assert!(
        degraded.stdout().contains("Degraded"),
        "{}",
        degraded.stdout()
    );

    // A database that cannot be opened is unhealthy.
    let blocker = home.write("not-a-dir", "");
    let unhealthy = home.run(&[
        "--sqlite-path",
        blocker.join("m.db").to_str().unwrap(),
        "health",
    ]);
    assert_eq!(unhealthy.code(), 2, "{}", unhealthy.stderr());
    assert!(
        unhealthy.stdout().starts_with("unhealthy"),
        "{}",
        unhealthy.stdout()
    );
}

#[test]
fn purge_older_than_keeps_session_metas_exact() {
    let home = Home::new();
    let line = |id: &str, session: &str, at: &str| {
        format!(
            r#"{{"id":"{id}","chat_session_id":"{session}","chat_platform":"slack","chat_user_id":"U1","message_type":"user_input","content":"{id}","created_at":"{at}"}}"#
        )
    };
    let recent = chrono::Utc::now() - chrono::Duration::days(1);
    let recent = recent.to_rfc3339();
    let rows = [
        line("old-1", "mixed", "2020-01-01T00:00:00Z"),
        line("old-2", "mixed", "2020-01-02T00:00:00Z"),
        line("new-1", "mixed", &recent),
        line("old-3", "stale", "2020-01-03T00:00:00Z"),
    ];
    let input = home.write("rows.jsonl", &rows.join("\n"));
    home.run(&["import", input.to_str().unwrap()]).ok();
    let before = home
        .run(&["sessions", "--user", "U1", "--json"])
        .ok()
        .json();
    assert_eq!(before.as_array().map(Vec::len), Some(2));
    let purged = home
        .run(&["purge", "--older-than", "90d", "--json"])
        .ok()
        .json();
    assert_eq!(purged["purged"], 3);
    let after = home
        .run(&["sessions", "--user", "U1", "--json"])
        .ok()
        .json();
    let metas = after.as_array().expect("array");
    assert_eq!(metas.len(), 1, "the stale session has no live message left");
    assert_eq!(metas[0]["chat_session_id"], "mixed");
    assert_eq!(metas[0]["message_count"], 1);
    assert_eq!(metas[0]["last_message_id"], "new-1");
    home.run(&["purge", "--older-than", "0s"])
        .fails_with(1, "--older-than");
    home.run(&["purge", "--older-than", "soon"])
        .fails_with(1, "--older-than");
    home.run(&["purge", "--retention"])
        .fails_with(1, "message_store.retention");
    let purged = home
        .run(&["purge", "--session", "mixed", "--json"])
        .ok()
        .json();
    assert_eq!(purged["purged"], 1);
}

#[test]
fn backup_through_the_registry_on_sqlite_and_memory() {
    let home = Home::new();
    home.run(&["demo"]).ok();
    let copy = home.file("backups/copy.db");
    std::fs::create_dir_all(home.file("backups")).unwrap();
    let report = home
        .run(&["backup", "--json", copy.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(report["format"], "sqlite_database");
    assert_eq!(report["messages"], 6);
    assert_eq!(mode(&copy), 0o600);
    let stats = home
        .run(&["--sqlite-path", copy.to_str().unwrap(), "stats", "--json"])
        .ok()
        .json();
    assert_eq!(stats["total_messages"], 6, "the copy opens as a database");

    let jsonl = home.file("memory.jsonl");
    let report = home
        .run(&[
            "--type",
            "memory",
            "backup",
            "--json",
            jsonl.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(report["format"], "jsonl");
    assert_eq!(report["messages"], 0, "a new in-process store is empty");
    assert_eq!(mode(&jsonl), 0o600);
}

#[test]
fn migrate_initializes_and_status_changes_nothing() {
    let home = Home::new();
    let db = home.file("m.db");
    let status = home
        .run(&[
            "--sqlite-path",
            db.to_str().unwrap(),
            "migrate",
            "--status",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(status["current_version"], 0, "{status}");
    assert!(status["latest_version"].as_i64().unwrap() >= 1, "{status}");
    assert!(
        !status["pending"].as_array().unwrap().is_empty(),
        "{status}"
    );
    assert!(!db.exists(), "--status creates nothing");
    home.run(&["--sqlite-path", db.to_str().unwrap(), "migrate"])
        .ok();
    assert!(db.exists(), "migrate creates the database");
    let after = home
        .run(&[
            "--sqlite-path",
            db.to_str().unwrap(),
            "migrate",
            "--status",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(after["current_version"], after["latest_version"], "{after}");
    assert!(after["pending"].as_array().unwrap().is_empty(), "{after}");
}

#[test]
fn bench_runs_a_small_workload() {
    let home = Home::new();
    let out = home
        .run(&[
            "--type",
            "memory",
            "bench",
            "--sessions",
            "3",
            "--turns",
            "2",
            "--ops",
            "5",
        ])
        .ok()
        .stdout();
    assert!(
        out.contains("chat-bench on memory: 3 sessions × 2 turns = 12 messages"),
        "{out}"
    );
    for prefix in [
        "bench=W1 backend=memory mode=seq ops=12",
        "bench=W1 backend=memory mode=c16 ops=12",
        "bench=W1b backend=memory mode=batch500 ops=12",
        "bench=W3 backend=memory op=list50 ops=5",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(prefix)),
            "{prefix}: {out}"
        );
    }
    home.run(&["bench", "--sessions", "0"])
        .fails_with(1, "--sessions");
}

/// The CLI on a real PostgreSQL server (the testkit's throwaway cluster or
/// `HOTPLEX_TEST_POSTGRES_DSN`): status before and after `migrate`, import, stats, backup.
#[test]
fn postgres_through_the_cli() {
    let Some(server) = hotplex_storage_testkit::PgServer::shared_or_skip() else {
        return;
    };
    let db = server.create_database().expect("a test database");
    let dsn = db.dsn();
    let home = Home::new();
    let pg = |extra: &[&str]| {
        let mut args = vec![
            "--type",
            "postgres",
            "--postgres-dsn",
            dsn.as_str(),
            "--postgres-level",
            "2",
        ];
        args.extend_from_slice(extra);
        home.run(&args)
    };
    let before = pg(&["migrate", "--status", "--json"]).ok().json();
    assert_eq!(before["current_version"], 0, "{before}");
    // Two processes initialise the one empty database at once: the advisory lock serialises
    // them, both succeed, the schema is migrated once.
    let racers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(BIN)
                .args(["--type", "postgres", "--postgres-dsn", dsn.as_str()])
                .args(["--postgres-level", "2", "migrate"])
                .env_clear()
                .env("HOME", home.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a migrating process")
        })
        .collect();
    for racer in racers {
        let out = racer.wait_with_output().expect("wait for it");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    pg(&["migrate"]).ok();
    let after = pg(&["migrate", "--status", "--json"]).ok().json();
    assert_eq!(after["current_version"], after["latest_version"], "{after}");
    assert_eq!(
        after["applied"].as_array().unwrap().len() as u64,
        after["latest_version"].as_u64().unwrap(),
        "each migration recorded once: {after}"
    );
    let line = r#"{"id":"pg1","chat_session_id":"s","message_type":"user_input","content":"hi"}"#;
    let input = home.write("one.jsonl", &format!("{line}\n"));
    pg(&["import", input.to_str().unwrap()]).ok();
    let stats = pg(&["stats", "--json"]).ok().json();
    assert_eq!(stats["total_messages"], 1, "{stats}");
    let backup = home.file("pg-backup.jsonl");
    pg(&["backup", backup.to_str().unwrap()]).ok();
    assert_eq!(mode(&backup), 0o600);
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.contains("\"pg1\""), "{text}");
    // The password-free DSN never needed masking; a wrong one fails in one line at the end.
    let bad = home.run(&[
        "--type",
        "postgres",
        "--postgres-dsn",
        "postgres://app:s3cret@/x?host=/nonexistent",
        "stats",
    ]);
    assert_eq!(bad.code(), 1);
    assert!(!bad.stderr().contains("s3cret"), "{}", bad.stderr());
}

/// JSON Lines of `n` messages in session `session`, the i-th created at second i.
fn chat_lines(session: &str, n: usize, content: impl Fn(usize) -> String) -> String {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{session}-{i:02}"),
                "chat_session_id": session,
                "chat_platform": "slack",
                "message_type": "user_input",
                "content": content(i),
                "created_at": format!("2026-01-01T00:00:{i:02}Z"),
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn search_finds_a_chinese_two_character_word_and_pages_with_the_cursor() {
    let home = Home::new();
    let mut data = chat_lines("cn", 25, |i| format!("第{i}条：你好 World"));
    data.push_str(&chat_lines("en", 3, |i| format!("hello world {i}")));
    let file = home.write("chat.jsonl", &data);
    home.run(&["import", file.to_str().unwrap()]).ok();

    let first = home.run(&["search", "你好", "--json"]).ok().json();
    let hits = first["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 20);
    assert_eq!(hits[0]["message"]["id"], "cn-24", "newest first");
    assert_eq!(hits[0]["snippet"], "第24条：你好 World");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a full page has a next cursor");
    let second = home
        .run(&["search", "你好", "--json", "--cursor", cursor])
        .ok()
        .json();
    let rest: Vec<&str> = second["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["message"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["cn-04", "cn-03", "cn-02", "cn-01", "cn-00"]);
    assert!(second["next_cursor"].is_null());

    let en = home
        .run(&["search", "WORLD", "--session", "en", "--limit", "2"])
        .ok();
    assert!(en.stdout().contains("en-02") && en.stdout().contains("en-01"));
    assert!(!en.stdout().contains("cn-"), "{}", en.stdout());
    assert!(en.stdout().contains("    hello world 2"), "{}", en.stdout());
    assert!(en.stderr().contains("more: --cursor "), "{}", en.stderr());

    home.run(&["search", "  "]).fails_with(1, "invalid query");
    home.run(&["search", "x", "--limit", "1001"])
        .fails_with(1, "above the maximum 1000");
    home.run(&["search", "x", "--cursor", "nope"])
        .fails_with(1, "malformed cursor");
}
