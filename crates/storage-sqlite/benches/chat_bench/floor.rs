//! The floors of `BENCHMARK.md` "Floors": chat-bench's W1 and W3 written by hand on rusqlite
//! (W5's is in `search_floor.rs`)
//! against the store's own schema (migrations 1 and 2, so the same table shape, indexes and
//! search index, whose triggers call a hand-registered `hotplex_fold`), with
//! prepared statements and rows decoded into plain tuples — no pool, no async, no validation,
//! no JSON parsing, no thread hop. Printed as `backend=rusqlite` with a `floor=` tag; every
//! store result is then printed as a ratio to its floor.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::time::{Duration, Instant};

use hotplex_storage_core::{ChatAppMessage, time};
use hotplex_storage_sqlite::Synchronous;
use hotplex_storage_testkit::bench::{self, BenchResult, ReadOp, SplitMix64, Workload};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Statement, params};

/// The schema the store creates (migrations 1 to 4).
const SCHEMA: [&str; 4] = [
    include_str!("../../src/migrations/0001_initial_schema.sql"),
    include_str!("../../src/migrations/0002_search_index.sql"),
    include_str!("../../src/migrations/0003_search_queue.sql"),
    include_str!("../../src/migrations/0004_search_index_compact.sql"),
];

/// What the store runs last in each transaction: the queued messages into the search index.
const INDEX_QUEUED: [&str; 2] = [
    "INSERT INTO message_search (rowid, body) SELECT seq, body FROM message_search_queue",
    "DELETE FROM message_search_queue",
];

/// The backend name of every floor result.
pub(crate) const BACKEND: &str = "rusqlite";

/// The `floor=` tag of every floor result.
pub(crate) const TAG: &str = "same-schema";

/// One `messages` row as plain values, in [`MESSAGE_COLUMNS`] order.
pub(crate) type MessageTuple = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);

/// One `session_meta` row as plain values.
type MetaTuple = (String, String, String, String, i64, i64, i64, i64);

/// Every column of `messages`, as the store's reads select them.
pub(crate) const MESSAGE_COLUMNS: &str = "seq, id, chat_session_id, chat_platform, chat_user_id, \
    chat_bot_user_id, chat_channel_id, chat_thread_id, engine_session_id, engine_namespace, \
    provider_session_id, provider_type, message_type, from_user_id, from_user_name, to_user_id, \
    content, metadata, created_at, updated_at, deleted, deleted_at";

pub(crate) fn message_tuple(r: &Row<'_>) -> rusqlite::Result<MessageTuple> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
        r.get(15)?,
        r.get(16)?,
        r.get(17)?,
        r.get(18)?,
        r.get(19)?,
        r.get(20)?,
        r.get(21)?,
    ))
}

fn meta_tuple(r: &Row<'_>) -> rusqlite::Result<MetaTuple> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

/// A new database at `path` with the store's schema and write pragmas, for a W1 floor.
pub(crate) fn open_w1(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", synchronous.as_pragma())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.create_scalar_function(
        "hotplex_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(hotplex_storage_core::fold(&ctx.get::<String>(0)?)),
    )?;
    for sql in SCHEMA {
        conn.execute_batch(sql)?;
    }
    Ok(conn)
}

/// Stores `msgs` by hand as W1 `seq` does through the store: one transaction per message
/// (`BEGIN IMMEDIATE`, message insert, session-meta upsert, search index, `COMMIT`).
pub(crate) fn store_each_txn(conn: &Connection, msgs: &[ChatAppMessage]) -> rusqlite::Result<()> {
    for msg in msgs {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        insert(conn, msg)?;
        index_queued(conn)?;
        conn.execute_batch("COMMIT")?;
    }
    Ok(())
}

/// The mode label of the per-message floor.
pub(crate) const TXN_PER_MSG: &str = "seq-txn-per-msg";

/// W1 by hand with all messages in one transaction, in a new database at `path`.
pub(crate) fn run_w1_one_txn(
    workload: &Workload,
    synchronous: Synchronous,
    path: &Path,
) -> rusqlite::Result<BenchResult> {
    let conn = open_w1(path, synchronous)?;
    let msgs: Vec<ChatAppMessage> = workload.messages().collect();
    let started = Instant::now();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for msg in &msgs {
        insert(&conn, msg)?;
    }
    index_queued(&conn)?;
    conn.execute_batch("COMMIT")?;
    let elapsed = started.elapsed();
    Ok(BenchResult::new(
        "W1",
        BACKEND,
        u64::try_from(msgs.len()).unwrap_or(u64::MAX),
        elapsed,
    )
    .with_mode("seq-one-txn")
    .with_extra("floor", TAG))
}

/// Two runs of the same W1 floor, one before and one after the store's runs it is compared
/// with, as one result (their messages and seconds added), each run's ops/s kept as an extra.
pub(crate) fn combine_w1(before: &BenchResult, after: &BenchResult) -> BenchResult {
    let secs = Duration::from_secs_f64(before.secs + after.secs);
    let mut result = BenchResult::new("W1", BACKEND, before.ops + after.ops, secs)
        .with_extra("floor", TAG)
        .with_extra("before", format!("{:.0}", before.ops_per_s))
        .with_extra("after", format!("{:.0}", after.ops_per_s));
    result.mode.clone_from(&before.mode);
    result
}

/// [`INDEX_QUEUED`], its statements prepared once.
fn index_queued(conn: &Connection) -> rusqlite::Result<()> {
    for sql in INDEX_QUEUED {
        conn.prepare_cached(sql)?.execute([])?;
    }
    Ok(())
}

/// What the store does per message, written by hand.
fn insert(conn: &Connection, msg: &ChatAppMessage) -> rusqlite::Result<()> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = time::to_micros(time::now_micros());
    let metadata = serde_json::to_string(&msg.metadata).unwrap_or_else(|_| "{}".into());
    let seq: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO messages (id, chat_session_id, chat_platform, chat_user_id, \
             chat_bot_user_id, chat_channel_id, chat_thread_id, engine_session_id, \
             engine_namespace, provider_session_id, provider_type, message_type, from_user_id, \
             from_user_name, to_user_id, content, metadata, created_at, updated_at, deleted, \
             deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
             ?15, ?16, ?17, ?18, ?18, 0, NULL) ON CONFLICT (id) DO NOTHING RETURNING seq",
        )?
        .query_row(
            params![
                id,
                msg.chat_session_id,
                msg.chat_platform,
                msg.chat_user_id,
                msg.chat_bot_user_id,
                msg.chat_channel_id,
                msg.chat_thread_id,
                msg.engine_session_id.hyphenated().to_string(),
                msg.engine_namespace,
                msg.provider_session_id,
                msg.provider_type,
                msg.message_type.as_str(),
                msg.from_user_id,
                msg.from_user_name,
                msg.to_user_id,
                msg.content,
                metadata,
                now,
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(seq) = seq {
        conn.prepare_cached(
            "INSERT INTO session_meta (chat_session_id, chat_platform, chat_user_id, \
             last_message_id, last_message_at, last_message_seq, message_count, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?5, ?5) \
             ON CONFLICT (chat_session_id) DO UPDATE SET \
             chat_platform = CASE WHEN chat_platform = '' THEN excluded.chat_platform \
             ELSE chat_platform END, \
             chat_user_id = CASE WHEN chat_user_id = '' THEN excluded.chat_user_id \
             ELSE chat_user_id END, \
             last_message_id = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
             > (last_message_at, last_message_seq) THEN excluded.last_message_id \
             ELSE last_message_id END, \
             last_message_seq = CASE WHEN (excluded.last_message_at, excluded.last_message_seq) \
             > (last_message_at, last_message_seq) THEN excluded.last_message_seq \
             ELSE last_message_seq END, \
             last_message_at = max(last_message_at, excluded.last_message_at), \
             message_count = message_count + 1, updated_at = excluded.updated_at",
        )?
        .execute(params![
            msg.chat_session_id,
            msg.chat_platform,
            msg.chat_user_id,
            id,
            now,
            seq
        ])?;
    }
    Ok(())
}

/// A read-only connection to a store's database, on which the W3 statements are prepared.
pub(crate) struct W3Floor {
    conn: Connection,
}

/// The W3 statements, prepared on a [`W3Floor`]'s connection.
struct Statements<'c> {
    list50: Statement<'c>,
    count: Statement<'c>,
    meta: Statement<'c>,
    user_sessions: Statement<'c>,
    get: Statement<'c>,
    ids: Statement<'c>,
}

impl W3Floor {
    /// Opens the database at `path` (written by the store) read-only, with the store's
    /// reader pragmas.
    pub(crate) fn open(path: &Path, synchronous: Synchronous) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "synchronous", synchronous.as_pragma())?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(Self { conn })
    }

    /// The read-only connection (W5's floor prepares its statements on it).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn prepare(&self) -> rusqlite::Result<Statements<'_>> {
        let c = &self.conn;
        Ok(Statements {
            list50: c.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages \
                 WHERE chat_session_id = ?1 AND deleted = 0 \
                 ORDER BY created_at DESC, seq DESC LIMIT 50"
            ))?,
            count: c.prepare(
                "SELECT count(*) FROM messages WHERE chat_session_id = ?1 AND deleted = 0",
            )?,
            meta: c.prepare(
                "SELECT chat_session_id, chat_platform, chat_user_id, last_message_id, \
                 last_message_at, message_count, created_at, updated_at \
                 FROM session_meta WHERE chat_session_id = ?1",
            )?,
            user_sessions: c.prepare(
                "SELECT chat_session_id FROM session_meta \
                 WHERE chat_platform = ?1 AND chat_user_id = ?2 \
                 ORDER BY last_message_at DESC, chat_session_id ASC",
            )?,
            get: c.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND deleted = 0"
            ))?,
            ids: c.prepare(
                "SELECT id FROM messages WHERE chat_session_id = ?1 AND deleted = 0 \
                 ORDER BY created_at DESC, seq DESC",
            )?,
        })
    }

    /// The reads of `op` by hand, one at a time, on the sessions [`ReadDraws`](bench::ReadDraws) draws for the
    /// store with `seed` (the same sessions and, for `get`, the same message ids).
    pub(crate) fn reads(
        &self,
        workload: &Workload,
        op: ReadOp,
        seed: u64,
    ) -> rusqlite::Result<FloorReads<'_>> {
        Ok(FloorReads {
            stmts: self.prepare()?,
            op,
            rng: op.rng(seed),
            sessions: workload.sessions.max(1),
            ids_of: HashMap::new(),
        })
    }
}

/// The floor's counterpart of [`ReadDraws`](bench::ReadDraws): the same draws, each read on a statement
/// prepared once, rows decoded into tuples.
pub(crate) struct FloorReads<'c> {
    stmts: Statements<'c>,
    op: ReadOp,
    rng: SplitMix64,
    sessions: usize,
    ids_of: HashMap<usize, Vec<String>>,
}

impl FloorReads<'_> {
    /// Draws the next session and times one read, up to and including dropping its rows
    /// (as [`ReadDraws::next`](bench::ReadDraws::next) times a store call to the end of its statement). A read that
    /// finds nothing is an error: the floor must do the store's work.
    pub(crate) fn next(&mut self) -> rusqlite::Result<Duration> {
        let s = self.rng.below(self.sessions);
        let session = Workload::session_id(s);
        let stmts = &mut self.stmts;
        let (found, elapsed) = match self.op {
            ReadOp::List50 => {
                let t = Instant::now();
                let rows: Vec<MessageTuple> = stmts
                    .list50
                    .query_map([&session], message_tuple)?
                    .collect::<rusqlite::Result<_>>()?;
                let found = rows.len();
                drop(rows);
                (found, t.elapsed())
            }
            ReadOp::Count => {
                let t = Instant::now();
                let n: i64 = stmts.count.query_row([&session], |r| r.get(0))?;
                (usize::try_from(n).unwrap_or(0), t.elapsed())
            }
            ReadOp::SessionMeta => {
                let t = Instant::now();
                let meta = stmts.meta.query_row([&session], meta_tuple).optional()?;
                let found = usize::from(meta.is_some());
                drop(meta);
                (found, t.elapsed())
            }
            ReadOp::UserSessions => {
                let user = Workload::user_id(s);
                let t = Instant::now();
                let sessions: Vec<String> = stmts
                    .user_sessions
                    .query_map([bench::PLATFORM, user.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let found = sessions.len();
                drop(sessions);
                (found, t.elapsed())
            }
            ReadOp::Get => {
                if let Entry::Vacant(slot) = self.ids_of.entry(s) {
                    let ids = stmts
                        .ids
                        .query_map([&session], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?;
                    slot.insert(ids);
                }
                let ids = &self.ids_of[&s];
                if ids.is_empty() {
                    return Err(rusqlite::Error::QueryReturnedNoRows);
                }
                let id = &ids[self.rng.below(ids.len())];
                let t = Instant::now();
                let row = stmts.get.query_row([id], message_tuple).optional()?;
                let found = usize::from(row.is_some());
                drop(row);
                (found, t.elapsed())
            }
        };
        if found == 0 {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        }
        Ok(elapsed)
    }
}

/// `store / floor` throughput of two results, as printed (`0.83`).
pub(crate) fn ratio(store: &BenchResult, floor: &BenchResult) -> String {
    if floor.ops_per_s > 0.0 {
        format!("{:.2}", store.ops_per_s / floor.ops_per_s)
    } else {
        "–".to_owned()
    }
}

/// `floor p50 / store p50` at nanosecond precision (`0.91`: the store's median call takes
/// 1.1× the floor's): unlike ops/s, which one preempted call among thousands of
/// microsecond reads can halve on a shared machine, the medians hold.
pub(crate) fn median_ratio(store: &[Duration], floor: &[Duration]) -> String {
    bench::fmt_ratio(bench::median_ratio(store, floor))
}
