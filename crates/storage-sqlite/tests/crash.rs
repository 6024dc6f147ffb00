//! Crash safety: a process killed with SIGKILL while `SqliteStore` writes never loses an
//! acknowledged message and never leaves a corrupt database.
//!
//! [`sigkill_never_loses_an_acknowledged_message`] re-executes this test binary
//! (`std::env::current_exe()`) running only [`crash_child_writer`], with
//! `HOTPLEX_CRASH_CHILD_DB` naming the database. The child opens a [`SqliteStore`] on that file
//! with `synchronous` = `HOTPLEX_CRASH_CHILD_SYNC` (`full` or `normal`: a process crash loses
//! nothing under either; only a power failure may lose NORMAL's last commits), runs [`WRITERS`]
//! concurrent writer tasks (so that group commits are in flight; a third of them store batches)
//! storing messages with caller-chosen ids, and prints `ack <id>` on stdout only after the
//! `store_*` call returned `Ok`. The parent reads those lines, SIGKILLs the child at a random
//! moment (after a pseudo-random number of acks and a pseudo-random pause, seeded by the round),
//! collects every ack the child managed to print, reopens the file with a fresh store and
//! checks: `initialize` succeeds (WAL recovery), `PRAGMA integrity_check` is `ok` (and the
//! search index's FTS5 `integrity-check`, which holds exactly the live rows), every
//! acknowledged id is present exactly once with the content it was stored with, each batch is
//! all there or not at all, and every session meta still agrees with its messages. It does this
//! for [`rounds`] rounds on the same file (`HOTPLEX_CRASH_ROUNDS`, default
//! [`DEFAULT_ROUNDS`] = 20; `cargo xtask soak` runs 200), once per `synchronous` mode.
//!
//! Without `HOTPLEX_CRASH_CHILD_DB`, [`crash_child_writer`] is a no-op helper: it exists only so
//! the parent can run it in the child process. Both `cargo test` and `cargo nextest` run this
//! file (nextest runs each test in its own process; libtest's `--exact` works under both).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, SessionStore, StoreOutcome,
    WriteOnlyStore,
};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore, Synchronous};

/// Set (to the database path) only in the child process.
const CHILD_DB_ENV: &str = "HOTPLEX_CRASH_CHILD_DB";
/// The round number, so that every child writes fresh ids.
const CHILD_ROUND_ENV: &str = "HOTPLEX_CRASH_CHILD_ROUND";
/// The child's `synchronous` mode: `full` or `normal`.
const CHILD_SYNC_ENV: &str = "HOTPLEX_CRASH_CHILD_SYNC";
/// Kill rounds per `synchronous` mode, when set (the soak sets 200).
const ROUNDS_ENV: &str = "HOTPLEX_CRASH_ROUNDS";
/// The name of the helper test the child runs.
const CHILD_TEST: &str = "crash_child_writer";
/// Concurrent writer tasks in the child.
const WRITERS: usize = 16;
/// Sessions the writers share (so session metas are updated by several groups at once).
const SESSIONS: usize = 5;
/// Messages per `store_batch` call (writers with `w % 3 == 0` use batches).
const BATCH: usize = 4;
/// Kill rounds on the same file when `HOTPLEX_CRASH_ROUNDS` is not set.
const DEFAULT_ROUNDS: usize = 20;

/// Kill rounds on the same file: `HOTPLEX_CRASH_ROUNDS`, else [`DEFAULT_ROUNDS`].
fn rounds() -> usize {
    std::env::var(ROUNDS_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(DEFAULT_ROUNDS)
}

/// A pseudo-random number from `seed` (splitmix64), so a failing round can be replayed.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// When round `round` kills its child: after 50..=649 acks, then a pause of 0..=19 ms, so the
/// kill lands at arbitrary points of a group commit.
fn kill_moment(round: usize) -> (usize, Duration) {
    let r = mix(u64::try_from(round).unwrap_or(u64::MAX));
    let acks = 50 + usize::try_from(r % 600).unwrap_or(0);
    let pause = Duration::from_millis((r >> 32) % 20);
    (acks, pause)
}
/// How long the parent waits for a child's acks before failing.
const ACK_TIMEOUT: Duration = Duration::from_mins(1);
/// A child that is never killed stops writing after this long.
const CHILD_LIFETIME: Duration = Duration::from_mins(2);

/// The content a message is stored with: derived from its id (so the parent can check it),
/// 60 to ~3,000 bytes, so that some rows spill onto overflow pages.
fn content_of(id: &str) -> String {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let len = 60 + usize::try_from(hash % 2_940).unwrap_or(0);
    let unit = format!("{id}|");
    unit.repeat(len / unit.len() + 1)[..len].to_owned()
}

fn session_of(n: usize) -> String {
    format!("crash:s{}", n % SESSIONS)
}

/// The `n`th message of writer `w` in `round`: id `r{round}-w{w}-{n:06}`, plus `-b{k}` for the
/// `k`th message of a batch.
fn message(id: String, n: usize) -> ChatAppMessage {
    let content = content_of(&id);
    let msg = if n.is_multiple_of(2) {
        ChatAppMessage::user(session_of(n), content)
    } else {
        ChatAppMessage::bot(session_of(n), content)
    };
    msg.with_id(id)
        .with_platform("slack")
        .with_user(format!("U{}", n % SESSIONS))
}

/// Prints `ack <id>` and flushes; exits the process if stdout is gone (the parent died), so
/// an orphaned child never writes on.
fn ack(id: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "ack {id}")
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(3);
    }
}

/// Fails the child visibly: the parent reports the child's stderr.
fn die(what: &str) -> ! {
    eprintln!("crash child: {what}");
    std::process::exit(4);
}

/// Writer `w` of the child: stores until killed (or [`CHILD_LIFETIME`]), acking each stored id.
async fn write_until_killed(store: Arc<SqliteStore>, round: usize, w: usize) {
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < CHILD_LIFETIME {
        let base = format!("r{round}-w{w}-{n:06}");
        if w.is_multiple_of(3) {
            let batch: Vec<ChatAppMessage> = (0..BATCH)
                .map(|k| message(format!("{base}-b{k}"), n + k))
                .collect();
            match store.store_batch(&batch).await {
                Ok(receipts) => {
                    for receipt in receipts {
                        if receipt.outcome != StoreOutcome::Stored {
                            die(&format!("{} was {:?}", receipt.id, receipt.outcome));
                        }
                        ack(&receipt.id);
                    }
                }
                Err(e) => die(&format!("store_batch {base}: {e}")),
            }
        } else {
            let msg = message(base.clone(), n);
            let result = if n.is_multiple_of(2) {
                store.store_user_message(&msg).await
            } else {
                store.store_bot_response(&msg).await
            };
            match result {
                Ok(receipt) if receipt.outcome == StoreOutcome::Stored => ack(&receipt.id),
                Ok(receipt) => die(&format!("{base} was {:?}", receipt.outcome)),
                Err(e) => die(&format!("store {base}: {e}")),
            }
        }
        n += 1;
    }
}

/// Helper of [`sigkill_never_loses_an_acknowledged_message`], run in the child process it
/// kills. Without `HOTPLEX_CRASH_CHILD_DB` (every ordinary test run) it does nothing.
#[test]
fn crash_child_writer() {
    let Some(db) = std::env::var_os(CHILD_DB_ENV) else {
        // Not the child: nothing to do.
        assert!(std::env::var_os(CHILD_DB_ENV).is_none());
        return;
    };
    let round: usize = std::env::var(CHILD_ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| die("HOTPLEX_CRASH_CHILD_ROUND is not set"));
    let synchronous = match std::env::var(CHILD_SYNC_ENV).as_deref() {
        Ok("full") => Synchronous::Full,
        Ok("normal") => Synchronous::Normal,
        other => die(&format!("HOTPLEX_CRASH_CHILD_SYNC is {other:?}")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("tokio runtime: {e}")));
    runtime.block_on(async move {
        let store = SqliteStore::new(SqliteConfig::new(db).with_synchronous(synchronous))
            .unwrap_or_else(|e| die(&format!("config: {e}")));
        if let Err(e) = store.initialize().await {
            die(&format!("initialize: {e}"));
        }
        let store = Arc::new(store);
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(write_until_killed(Arc::clone(&store), round, w)))
            .collect();
        for writer in writers {
            if let Err(e) = writer.await {
                die(&format!("writer task: {e}"));
            }
        }
    });
}

/// The child process; killed (SIGKILL) and reaped when dropped, so a failing assertion in the
/// parent never leaves it running.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A thread collecting a pipe's output.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// A thread sending the id of every complete `ack <id>` line of `stdout` (libtest's own lines
/// are skipped; a line cut off by the kill has no newline and is not an ack). The ack may
/// follow libtest's `test crash_child_writer ... ` on the same line, which has no newline.
fn read_acks(stdout: impl Read + Send + 'static, acks: mpsc::Sender<String>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let ack = line.find("ack ").map(|at| &line[at + "ack ".len()..]);
            if let Some(id) = ack.and_then(|l| l.strip_suffix('\n'))
                && acks.send(id.to_owned()).is_err()
            {
                return;
            }
        }
    })
}

/// Runs one child on `db` with `synchronous` (`full` or `normal`), kills it after `kill_after`
/// acks and `pause`, and returns every id it acked (including acks still in the pipe when it
/// died).
fn run_and_kill(
    db: &Path,
    synchronous: &str,
    round: usize,
    (kill_after, pause): (usize, Duration),
) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = ChildGuard(
        Command::new(exe)
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_DB_ENV, db)
            .env(CHILD_ROUND_ENV, round.to_string())
            .env(CHILD_SYNC_ENV, synchronous)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the crash child"),
    );
    let stderr = drain(child.0.stderr.take().expect("piped stderr"));
    let (tx, rx) = mpsc::channel();
    let reader = read_acks(child.0.stdout.take().expect("piped stdout"), tx);
    let deadline = Instant::now() + ACK_TIMEOUT;
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(id) => acked.push(id),
            Err(e) => {
                let _ = child.0.kill();
                let status = child.0.wait();
                panic!(
                    "round {round}: {} of {kill_after} acks before the child {} ({e:?}, \
                     status {status:?}); its stderr:\n{}",
                    acked.len(),
                    if matches!(e, mpsc::RecvTimeoutError::Timeout) {
                        "timed out"
                    } else {
                        "stopped"
                    },
                    stderr.join().unwrap_or_default()
                );
            }
        }
    }
    std::thread::sleep(pause);
    child.0.kill().expect("SIGKILL the child");
    let status = child.0.wait().expect("reap the child");
    assert_eq!(
        status.signal(),
        Some(9),
        "round {round}: the child was not killed by SIGKILL but ended with {status:?}"
    );
    reader.join().expect("the ack reader");
    // Acks the child printed before it died, still in the pipe when it was killed.
    acked.extend(rx.try_iter());
    drop(stderr.join());
    acked
}

/// Reopens `db` after a crash and checks everything the module documentation lists.
async fn check_after_crash(db: &Path, acked: &BTreeSet<String>) -> usize {
    let store = SqliteStore::new(SqliteConfig::new(db)).unwrap();
    store.initialize().await.expect("initialize after a crash");
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    // The search index: FTS5's own check, and exactly the live rows in it.
    conn.execute(
        "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 0)",
        [],
    )
    .expect("search index integrity-check");
    let unindexed: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM messages WHERE deleted = 0 AND seq NOT IN \
             (SELECT rowid FROM message_search)) + (SELECT count(*) FROM message_search \
             WHERE rowid NOT IN (SELECT seq FROM messages WHERE deleted = 0))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unindexed, 0, "search index and live messages differ");
    drop(conn);
    for id in acked {
        let msg = store
            .get(id)
            .await
            .unwrap_or_else(|e| panic!("acknowledged message {id} is lost: {e}"));
        assert_eq!(msg.content, content_of(id), "content of {id}");
    }
    // Rows that committed without an ack reaching the parent are fine; half a batch is not,
    // and neither is an id stored twice.
    let all = store.list(&MessageQuery::default()).await.unwrap();
    let distinct: BTreeSet<&str> = all.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(distinct.len(), all.len(), "an id is stored twice");
    let mut batches: BTreeMap<&str, usize> = BTreeMap::new();
    for msg in &all {
        if let Some((base, _)) = msg.id.split_once("-b") {
            *batches.entry(base).or_default() += 1;
        }
    }
    for (base, found) in batches {
        assert_eq!(found, BATCH, "batch {base} is partly stored");
    }
    let count = store.count(&MessageQuery::default()).await.unwrap();
    assert_eq!(usize::try_from(count).unwrap(), all.len());
    assert!(
        all.len() >= acked.len(),
        "{} rows < {} acks",
        all.len(),
        acked.len()
    );
    let mut in_metas = 0;
    for s in 0..SESSIONS {
        let session = session_of(s);
        let meta = store.get_session_meta(&session).await.unwrap();
        let q = MessageQuery::for_session(session.as_str());
        let count = store.count(&q).await.unwrap();
        assert_eq!(
            u64::try_from(meta.message_count).unwrap(),
            count,
            "{session}"
        );
        let newest = store.list(&q.with_limit(1)).await.unwrap();
        assert_eq!(meta.last_message_id, newest[0].id, "{session}");
        in_metas += meta.message_count;
    }
    assert_eq!(usize::try_from(in_metas).unwrap(), all.len());
    store.close().await.unwrap();
    all.len()
}

/// Kills [`rounds`] children writing to one file with `synchronous`, checking after each.
fn kill_rounds(synchronous: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut acked = BTreeSet::new();
    let rounds = rounds();
    for round in 0..rounds {
        let moment = kill_moment(round);
        let ids = run_and_kill(&db, synchronous, round, moment);
        let seen = ids.len();
        acked.extend(ids);
        let rows = runtime.block_on(check_after_crash(&db, &acked));
        // Shown with --nocapture: how far each child got before the kill.
        println!(
            "synchronous={synchronous} round {round}/{rounds}: killed after {seen} acks \
             (+{:?}; {} in total); {rows} rows after recovery",
            moment.1,
            acked.len()
        );
    }
    assert!(acked.len() >= 50 * rounds, "{} acks", acked.len());
}

#[test]
fn sigkill_never_loses_an_acknowledged_message() {
    kill_rounds("full");
}

#[test]
fn sigkill_never_loses_an_acknowledged_message_with_synchronous_normal() {
    kill_rounds("normal");
}
