//! Crash safety: a PostgreSQL server crashed (`pg_ctl stop -m immediate`) and started again in
//! the middle of a 16-writer load through `RetryStore`. Every acknowledged id must be stored
//! exactly once, session counts must equal row counts, the writers must resume after the
//! restart, and every error seen during the outage must be transient.
//!
//! The test runs on a cluster of its own (never the shared one, which other tests use
//! concurrently). Pool exhaustion as a timeout is `store.rs`
//! (`an_exhausted_pool_times_out_instead_of_hanging`).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, ReadOnlyStore, Result, SessionStore,
    StoreReceipt, WriteOnlyStore,
};
use hotplex_storage_postgres::{PostgresConfig, PostgresStore};
use hotplex_storage_stream::{RetryConfig, RetryStore};
use hotplex_storage_testkit::PgServer;
use postgres::{NoTls, SimpleQueryMessage};

/// Writer tasks.
const WRITERS: usize = 16;
/// Messages in a batch (every third write of a writer is one).
const BATCH: usize = 4;

/// Every error the store returned to the `RetryStore` during the load, by kind.
#[derive(Default)]
struct Errors {
    transient: AtomicU64,
    in_doubt: AtomicU64,
    /// Errors that are not transient: each one fails the test.
    permanent: Mutex<Vec<String>>,
    /// One example of each distinct transient error text (first 120 characters).
    examples: Mutex<BTreeMap<String, u64>>,
}

/// The store under test, recording every error it returns before the `RetryStore` sees it.
struct Observed {
    store: Arc<PostgresStore>,
    errors: Arc<Errors>,
}

impl Observed {
    fn note<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            if e.is_transient() {
                self.errors.transient.fetch_add(1, Ordering::Relaxed);
                let text: String = e.to_string().chars().take(120).collect();
                *self
                    .errors
                    .examples
                    .lock()
                    .unwrap()
                    .entry(text)
                    .or_default() += 1;
            } else {
                self.errors.permanent.lock().unwrap().push(format!("{e:?}"));
            }
            if e.may_have_landed() {
                self.errors.in_doubt.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }
}

#[async_trait]
impl WriteOnlyStore for Observed {
    async fn store_user_message(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.note(self.store.store_user_message(msg).await)
    }
    async fn store_bot_response(&self, msg: &ChatAppMessage) -> Result<StoreReceipt> {
        self.note(self.store.store_bot_response(msg).await)
    }
    async fn store_batch(&self, msgs: &[ChatAppMessage]) -> Result<Vec<StoreReceipt>> {
        self.note(self.store.store_batch(msgs).await)
    }
}

/// What one writer did.
#[derive(Debug, Default)]
struct Written {
    /// Ids acknowledged (`Ok` from the `RetryStore`).
    acked: Vec<String>,
    /// Acknowledgements received after the server was up again.
    acked_after_restart: usize,
    /// How long after the restart the first of them came.
    resumed_after: Option<Duration>,
    /// Calls that failed even through the `RetryStore` (retried by the writer).
    exhausted: usize,
}

/// A writer: singles and batches of caller-chosen ids into session `s<w>`, each call repeated
/// until it is acknowledged, until `stop` is set.
async fn writer(
    w: usize,
    store: Arc<RetryStore<Observed>>,
    stop: Arc<AtomicBool>,
    restarted: Arc<Mutex<Option<Instant>>>,
    resumed: Arc<AtomicUsize>,
) -> Written {
    let mut out = Written::default();
    let session = format!("s{w}");
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let msgs: Vec<ChatAppMessage> = if i % 3 == 2 {
            (0..BATCH)
                .map(|k| {
                    ChatAppMessage::user(&session, format!("batch {i}.{k}"))
                        .with_id(format!("w{w}-{i}-{k}"))
                })
                .collect()
        } else {
            vec![ChatAppMessage::user(&session, format!("single {i}")).with_id(format!("w{w}-{i}"))]
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let result = if msgs.len() == 1 {
                store.store_user_message(&msgs[0]).await.map(|r| vec![r])
            } else {
                store.store_batch(&msgs).await
            };
            match result {
                Ok(receipts) => {
                    assert_eq!(receipts.len(), msgs.len());
                    for r in &receipts {
                        assert!(r.is_persisted(), "w{w}: {r:?}");
                    }
                    let up_since = *restarted.lock().unwrap();
                    if let Some(up) = up_since {
                        out.acked_after_restart += msgs.len();
                        if out.resumed_after.is_none() {
                            out.resumed_after = Some(up.elapsed());
                            resumed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    out.acked.extend(msgs.iter().map(|m| m.id.clone()));
                    break;
                }
                Err(e) => {
                    assert!(e.is_transient(), "w{w}: permanent error {e:?}");
                    out.exhausted += 1;
                    assert!(tries < 20, "w{w}: {} never stored: {e}", msgs[0].id);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        i += 1;
    }
    out
}

/// Runs `sql` on `dsn` outside any store and returns the first column of every row.
async fn sql(dsn: &str, sql: &str) -> Vec<String> {
    let (dsn, sql) = (dsn.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&dsn, NoTls).expect("admin connection");
        client
            .simple_query(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or_default().to_owned()),
                _ => None,
            })
            .collect()
    })
    .await
    .expect("admin task")
}

/// A throwaway cluster of this test's own, or `None` (skip) without PostgreSQL binaries
/// outside CI. An external `HOTPLEX_TEST_POSTGRES_DSN` is ignored: that server cannot be
/// crashed by a test.
fn own_server() -> Option<PgServer> {
    let env = |key: &str| {
        if key == "HOTPLEX_TEST_POSTGRES_DSN" {
            None
        } else {
            std::env::var(key).ok()
        }
    };
    match PgServer::start(&env, Path::new("/usr/lib/postgresql")) {
        Ok(Some(server)) => {
            // The test clusters commit asynchronously for speed: a crash may then lose the
            // last acknowledged commits, which is what PostgreSQL documents for
            // synchronous_commit = off. Durable commits are what this test is about.
            // (fsync stays off: the crash kills processes, the OS keeps its page cache.)
            for sql in [
                "ALTER SYSTEM SET synchronous_commit = on",
                "SELECT pg_reload_conf()",
            ] {
                server.psql("postgres", sql).expect(sql);
            }
            // The postmaster rereads its settings asynchronously.
            let mut setting = String::new();
            for _ in 0..50 {
                setting = server
                    .psql("postgres", "SHOW synchronous_commit")
                    .expect("SHOW synchronous_commit");
                if setting == "on" {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(setting, "on", "synchronous_commit");
            Some(server)
        }
        Ok(None) => {
            eprintln!("skipping: no PostgreSQL server binaries (initdb, pg_ctl)");
            None
        }
        Err(e) => panic!("cannot start a PostgreSQL cluster of our own: {e}"),
    }
}

/// Checks the table after the load: `acked[w]` holds writer `w`'s acknowledged ids.
async fn verify(dsn: &str, schema: &str, pg: &PostgresStore, acked: &[Vec<String>]) {
    // Every acknowledged id exactly once; nothing that was not acknowledged (each call was
    // repeated until acknowledged).
    let rows = sql(dsn, &format!("SELECT id FROM {schema}.messages")).await;
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &rows {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ids stored more than once: {twice:?}");
    let all_acked: HashSet<&str> = acked.iter().flatten().map(String::as_str).collect();
    let missing: Vec<_> = all_acked
        .iter()
        .filter(|id| !seen.contains_key(**id))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let unacked: Vec<_> = seen.keys().filter(|id| !all_acked.contains(**id)).collect();
    assert!(
        unacked.is_empty(),
        "stored but never acknowledged: {unacked:?}"
    );
    assert_eq!(rows.len(), all_acked.len());

    // Session counts equal row counts, through the store and straight from the table.
    for (w, ids) in acked.iter().enumerate() {
        let session = format!("s{w}");
        let meta = pg.get_session_meta(&session).await.unwrap();
        let query = MessageQuery::for_session(&session);
        let counted = pg.count(&query).await.unwrap();
        let rows = sql(
            dsn,
            &format!("SELECT count(*) FROM {schema}.messages WHERE chat_session_id = '{session}'"),
        )
        .await;
        assert_eq!(u64::try_from(ids.len()).unwrap(), counted, "{session}");
        assert_eq!(
            u64::try_from(meta.message_count).unwrap(),
            counted,
            "{session}: meta vs rows"
        );
        assert_eq!(rows[0], ids.len().to_string(), "{session}: table");
    }
}

/// `pg` behind an error recorder and a `RetryStore` with generous settings: 60 attempts, at
/// most 250 ms apart, outlast an outage of several seconds.
fn retrying(pg: Arc<PostgresStore>, errors: Arc<Errors>) -> RetryStore<Observed> {
    let retry = RetryConfig {
        max_attempts: 60,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(250),
        ..RetryConfig::default()
    };
    RetryStore::new(Observed { store: pg, errors }, retry).unwrap()
}

/// One crash and restart in the middle of the load at `level`; returns the server.
async fn crash_during_load(mut server: PgServer, level: u8) -> PgServer {
    let db = server.create_database().expect("create a test database");
    let schema = format!("crash{level}");
    let config = PostgresConfig::from_dsn(&db.dsn())
        .unwrap()
        .with_level(level)
        .with_max_connections(8)
        .with_schema(schema.clone());
    let pg = Arc::new(PostgresStore::new(config).unwrap());
    pg.initialize().await.unwrap();
    let errors = Arc::new(Errors::default());
    let store = Arc::new(retrying(Arc::clone(&pg), Arc::clone(&errors)));
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(Mutex::new(None));
    let resumed = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                w,
                Arc::clone(&store),
                Arc::clone(&stop),
                Arc::clone(&restarted),
                Arc::clone(&resumed),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(400)).await;
    let old_pid = server.postmaster_pid();
    let (server_back, acked_before, down_for) = {
        let pid_before = server.postmaster_pid();
        let crashed = Instant::now();
        let server = tokio::task::spawn_blocking(move || {
            server.stop_immediately().expect("pg_ctl stop -m immediate");
            std::thread::sleep(Duration::from_millis(700));
            server.start_again().expect("pg_ctl start after the crash");
            server
        })
        .await
        .unwrap();
        assert_ne!(server.postmaster_pid(), pid_before, "a new postmaster runs");
        (
            server,
            errors.transient.load(Ordering::Relaxed),
            crashed.elapsed(),
        )
    };
    let up = Instant::now();
    *restarted.lock().unwrap() = Some(up);
    // The load goes on until every writer has been acknowledged after the restart (at most
    // 30 s), then a little longer.
    while resumed.load(Ordering::SeqCst) < WRITERS && up.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut acked = Vec::new();
    let (mut after, mut exhausted, mut slowest) = (0, 0, Duration::ZERO);
    for (w, handle) in writers.into_iter().enumerate() {
        let done = handle.await.expect("writer task");
        assert!(
            done.acked_after_restart > 0,
            "writer {w} did not resume after the restart: {done:?}"
        );
        after += done.acked_after_restart;
        slowest = slowest.max(done.resumed_after.unwrap_or_default());
        exhausted += done.exhausted;
        acked.push(done.acked);
    }
    let permanent = errors.permanent.lock().unwrap().clone();
    assert!(permanent.is_empty(), "non-transient errors: {permanent:#?}");
    let transient = errors.transient.load(Ordering::Relaxed);
    eprintln!(
        "level {level}: down {down_for:?} (postmaster {old_pid:?} -> {:?}); {} ids acked, {after} \
         after the restart (every writer resumed within {slowest:?}); {transient} transient errors ({acked_before} by the time it was \
         up, {} in doubt), {exhausted} calls exhausted the RetryStore; errors: {:#?}",
        server_back.postmaster_pid(),
        acked.iter().map(Vec::len).sum::<usize>(),
        errors.in_doubt.load(Ordering::Relaxed),
        errors.examples.lock().unwrap()
    );
    assert!(
        transient > 0,
        "the crash caused no error: was the server stopped?"
    );

    verify(&db.dsn(), &schema, &pg, &acked).await;
    pg.close().await.unwrap();
    drop(db);
    server_back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_crash_mid_load_loses_and_duplicates_nothing() {
    let Some(mut server) = own_server() else {
        return;
    };
    for level in [1, 2] {
        server = crash_during_load(server, level).await;
    }
}
