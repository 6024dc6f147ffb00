//! A seeded store and the viewer process over it.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

pub(crate) use crate::process::{Viewer, encode};

const BIN: &str = env!("CARGO_BIN_EXE_hotplex-storage");

/// A token the tests use.
pub(crate) const TOKEN: &str = "viewer-test-token-7f3a9c2e51";
/// The session of the seeded Chinese and hostile messages.
pub(crate) const SEEDED_SESSION: &str = "feishu:ou_7:oc_9:1717000000";
/// A Chinese message of the seeded session.
pub(crate) const CHINESE: &str = "如何备份数据库？请用在线备份接口。";
/// A term of [`CHINESE`].
pub(crate) const CHINESE_TERM: &str = "数据库";
/// Script that would set the title and mark the body if it ever ran.
pub(crate) const HOSTILE_SCRIPT: &str =
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','script')</script>";
/// An attribute break-out that would do the same.
pub(crate) const HOSTILE_IMG: &str = "\"><img src=x onerror=\"document.title='PWNED';document.body.setAttribute('data-pwned','img')\">";

/// A temporary HOME holding the default SQLite store, seeded by `demo` and an import.
pub(crate) struct Seeded {
    home: tempfile::TempDir,
}

impl Seeded {
    /// Runs `demo`, then imports the Chinese and hostile messages of [`SEEDED_SESSION`].
    pub(crate) fn new() -> Self {
        let seeded = Self {
            home: tempfile::tempdir().expect("temp HOME"),
        };
        ok(seeded.run(&["demo"]));
        let rows = [
            json!({"id": "seed-1", "chat_session_id": SEEDED_SESSION, "chat_platform": "feishu",
                   "chat_user_id": "ou_7", "message_type": "user_input", "content": CHINESE,
                   "created_at": "2026-06-01T08:00:00Z"}),
            json!({"id": "seed-2", "chat_session_id": SEEDED_SESSION, "chat_platform": "feishu",
                   "chat_user_id": "ou_7", "message_type": "final_response",
                   "content": format!("{HOSTILE_SCRIPT} then {HOSTILE_IMG}"),
                   "metadata": {"note": HOSTILE_IMG},
                   "created_at": "2026-06-01T08:00:01Z"}),
        ];
        let text = rows
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        let file = seeded.home.path().join("seed.jsonl");
        std::fs::write(&file, text).expect("write the seed");
        ok(seeded.run(&["import", file.to_str().expect("UTF-8 path")]));
        seeded
    }

    /// The HOME directory.
    pub(crate) fn path(&self) -> &Path {
        self.home.path()
    }

    /// Runs the binary to completion with this HOME and a clean environment.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .output()
            .expect("run hotplex-storage")
    }

    /// Starts `serve` with `args` and `env`, and waits for the address it prints.
    pub(crate) fn serve(&self, args: &[&str], env: &[(&str, &str)]) -> Viewer {
        let stderr_path = self.path().join(format!("serve-{}.err", unique()));
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .envs(env.iter().copied());
        Viewer::spawn(command, stderr_path)
    }
}

/// `output` succeeded.
pub(crate) fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A number distinct per call in this process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
