//! Differential testing: random operation sequences run against a reference model (the
//! in-memory store) and a backend under test, comparing every result.
//!
//! The conformance suite checks named rules one at a time; this module looks for the
//! combinations nobody thought to name. Sequences mix writes (single and batched, with
//! repeated ids, colliding timestamps, deleted imports and invalid messages), reads with random
//! filters and cursors, searches (terms, filters, cursors), session queries, soft deletes and
//! purges. Ids are always given by the
//! caller (generated ids are covered by the conformance suite), and so are the `deleted_at` of
//! most deleted imports, which purges with cutoffs between them then tell apart. Values the
//! stores assign independently are not compared by value: `seq` (compared through the order of
//! results), a `deleted_at` the store set to "now" (compared by presence), and the meta's own
//! `created_at` / `updated_at` (each store must keep `created_at <= updated_at`). proptest
//! shrinks a failing sequence to a minimal one.
//!
//! ```no_run
//! use hotplex_storage_memory::MemoryStore;
//! use hotplex_storage_testkit::{Fixture, differential};
//! // In a backend's test: the model first, then a fresh store of the backend under test.
//! differential::check(
//!     64,
//!     || async { Fixture::new(MemoryStore::new()) },
//!     || async { Fixture::new(MemoryStore::new()) },
//! );
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, Cursor, MessageQuery, MessageType, Result, SearchHit,
    SearchQuery, StorageError,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

use crate::Fixture;

/// One operation of a generated sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// `store_user_message` (or `store_bot_response` when `bot`).
    Store {
        /// The message.
        msg: Box<ChatAppMessage>,
        /// Which of the two single-message calls to use.
        bot: bool,
    },
    /// `store_batch`.
    Batch(Vec<ChatAppMessage>),
    /// `get` by id.
    Get(String),
    /// `list`.
    List(QuerySpec),
    /// `count`.
    Count(QuerySpec),
    /// `get_session_meta`.
    Meta(String),
    /// `list_user_sessions`.
    UserSessions(String, String),
    /// `delete_session`.
    DeleteSession(String),
    /// `purge_session`.
    PurgeSession(String),
    /// `purge_deleted_before` this cutoff.
    PurgeDeleted(Cutoff),
    /// `purge_messages_before` this cutoff.
    PurgeBefore(Cutoff),
    /// `search`.
    Search(SearchSpec),
}

/// A [`SearchQuery`] whose cursor is named by message id and resolved against each store.
#[derive(Debug, Clone)]
pub struct SearchSpec {
    /// The query without a cursor.
    pub query: SearchQuery,
    /// Build `cursor` from this message's position (skipped when the model lacks it).
    pub cursor_id: Option<String>,
}

/// A retention cutoff: a generated instant (among the imported `deleted_at` values), or a day
/// after the real now (past every deletion a store made).
#[derive(Debug, Clone, Copy)]
pub enum Cutoff {
    /// This instant.
    At(DateTime<Utc>),
    /// A day from now.
    Future,
}

impl Cutoff {
    /// The instant this cutoff names, now.
    fn instant(self) -> DateTime<Utc> {
        match self {
            Self::At(at) => at,
            Self::Future => Utc::now() + Duration::days(1),
        }
    }
}

/// A [`MessageQuery`] whose cursors are named by message id and resolved against each store.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// The query without cursors.
    pub query: MessageQuery,
    /// Build `after` from this message's position (skipped when the model lacks it).
    pub after_id: Option<String>,
    /// Build `before` from this message's position.
    pub before_id: Option<String>,
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

const ENGINE_IDS: [Uuid; 2] = [
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
];

fn pick<T: Clone + fmt::Debug + 'static>(items: &[T]) -> impl Strategy<Value = T> + use<T> {
    proptest::sample::select(items.to_vec())
}

fn session() -> impl Strategy<Value = String> {
    (0..4_u8).prop_map(|s| format!("s{s}"))
}

fn message_id() -> impl Strategy<Value = String> {
    (0..40_u8).prop_map(|m| format!("m{m}"))
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0..20_i64, prop_oneof![Just(0_i64), 0..1_000_000_i64])
        .prop_map(|(s, ns)| base_time() + Duration::seconds(s) + Duration::nanoseconds(ns))
}

fn message() -> impl Strategy<Value = ChatAppMessage> {
    (
        (
            prop_oneof![9 => session(), 1 => Just(String::new())],
            message_id(),
            pick(&["slack", "feishu", ""]),
            pick(&["u0", "u1", "u2", ""]),
            pick(&[
                MessageType::USER_INPUT,
                MessageType::FINAL_RESPONSE,
                MessageType::THINKING,
            ]),
        ),
        (
            prop_oneof![Just(Uuid::nil()), pick(&ENGINE_IDS)],
            pick(&["", "claude", "gpt"]),
            pick(&["", "p1", "p2"]),
            pick(&[
                "hi",
                "你好，世界",
                "🦀 stream",
                "",
                "x\ny",
                "Hello WORLD 你好",
                "数据库 backup 100%_done",
                "ΣΟΦΊΑΣ straße",
            ]),
            instant(),
            proptest::bool::weighted(0.1),
            0..3_i64,
            proptest::option::weighted(0.7, instant()),
        ),
    )
        .prop_map(
            |(
                (session, id, platform, user, kind),
                (engine, ptype, psession, content, at, deleted, meta, deleted_at),
            )| {
                let mut msg = ChatAppMessage::of_type(session, kind, content)
                    .with_platform(platform)
                    .with_user(user)
                    .with_engine_session(engine)
                    .with_provider(ptype, psession)
                    .with_created_at(at)
                    .with_metadata_entry("n", meta);
                msg.id = id;
                msg.deleted = deleted;
                msg.deleted_at = deleted_at.filter(|_| deleted);
                msg
            },
        )
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (
        (
            proptest::option::weighted(0.6, session()),
            proptest::option::weighted(0.2, pick(&["u0", "u1", ""])),
            proptest::option::weighted(0.1, pick(&ENGINE_IDS)),
            proptest::option::weighted(0.1, pick(&["claude", "gpt", ""])),
            proptest::option::weighted(0.1, pick(&["p1", "p2"])),
            proptest::option::weighted(0.2, instant()),
            proptest::option::weighted(0.2, instant()),
        ),
        (
            proptest::collection::vec(
                pick(&[
                    MessageType::USER_INPUT,
                    MessageType::FINAL_RESPONSE,
                    MessageType::THINKING,
                ]),
                0..3,
            ),
            prop_oneof![Just(0_usize), 1..6_usize],
            prop_oneof![3 => Just(0_usize), 1 => 1..4_usize],
            any::<bool>(),
            proptest::bool::weighted(0.2),
            proptest::option::weighted(0.2, message_id()),
            proptest::option::weighted(0.2, message_id()),
        ),
    )
        .prop_map(
            |(
                (session, user, engine, ptype, psession, start, end),
                (types, limit, offset, ascending, include_deleted, after_id, before_id),
            )| QuerySpec {
                query: MessageQuery {
                    chat_session_id: session,
                    chat_user_id: user.map(str::to_owned),
                    engine_session_id: engine,
                    provider_type: ptype.map(str::to_owned),
                    provider_session_id: psession.map(str::to_owned),
                    start_time: start,
                    end_time: end,
                    message_types: types,
                    limit,
                    offset,
                    ascending,
                    include_deleted,
                    after: None,
                    before: None,
                },
                after_id,
                before_id,
            },
        )
}

fn search_spec() -> impl Strategy<Value = SearchSpec> {
    (
        pick(&[
            "hi",
            "HI",
            "你好",
            "好",
            "世界 你",
            "stream",
            "🦀",
            "x",
            "%",
            "_done",
            "数据库",
            "world hello",
            "y",
            "σοφίας",
            "STRASSE",
            "STRAẞE",
            "backup 100%",
            " ",
        ]),
        proptest::option::weighted(0.3, session()),
        proptest::option::weighted(0.2, pick(&["u0", "u1", ""])),
        proptest::option::weighted(0.2, pick(&["slack", "feishu", ""])),
        proptest::collection::vec(
            pick(&[MessageType::USER_INPUT, MessageType::FINAL_RESPONSE]),
            0..2,
        ),
        proptest::option::weighted(0.2, instant()),
        proptest::option::weighted(0.2, instant()),
        prop_oneof![Just(0_usize), 1..6_usize],
        proptest::option::weighted(0.3, message_id()),
    )
        .prop_map(
            |(text, session, user, platform, types, start, end, limit, cursor_id)| {
                let mut query = SearchQuery::new(text)
                    .with_message_types(types)
                    .with_time_range(start, end)
                    .with_limit(limit);
                query.chat_session_id = session;
                query.chat_user_id = user.map(str::to_owned);
                query.chat_platform = platform.map(str::to_owned);
                SearchSpec { query, cursor_id }
            },
        )
}

/// The generator of one operation.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (message(), any::<bool>()).prop_map(|(msg, bot)| Op::Store { msg: Box::new(msg), bot }),
        2 => proptest::collection::vec(message(), 0..5).prop_map(Op::Batch),
        2 => message_id().prop_map(Op::Get),
        4 => query_spec().prop_map(Op::List),
        2 => query_spec().prop_map(Op::Count),
        2 => session().prop_map(Op::Meta),
        1 => (pick(&["slack", "feishu", ""]), pick(&["u0", "u1", "u2", ""]))
            .prop_map(|(p, u)| Op::UserSessions(p.to_owned(), u.to_owned())),
        1 => session().prop_map(Op::DeleteSession),
        1 => session().prop_map(Op::PurgeSession),
        1 => prop_oneof![instant().prop_map(Cutoff::At), Just(Cutoff::Future)]
            .prop_map(Op::PurgeDeleted),
        1 => prop_oneof![instant().prop_map(Cutoff::At), Just(Cutoff::Future)]
            .prop_map(Op::PurgeBefore),
        3 => search_spec().prop_map(Op::Search),
    ]
}

/// The generator of a sequence of up to `max_len` operations.
pub fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..max_len)
}

/// Runs `cases` random sequences (up to 40 operations each) against a fresh model and a fresh
/// subject per sequence, and panics with the shrunk failing sequence on the first difference.
///
/// # Panics
/// When the stores disagree, or a runtime or store cannot be set up.
pub fn check<M, MF, S, SF>(cases: u32, model: M, subject: S)
where
    M: Fn() -> MF,
    MF: Future,
    MF::Output: Into<Fixture>,
    S: Fn() -> SF,
    SF: Future,
    SF::Output: Into<Fixture>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("differential: cannot build a tokio runtime: {e}"));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&ops(40), |ops| {
        runtime.block_on(async {
            let model: Fixture = model().await.into();
            let subject: Fixture = subject().await.into();
            model.store.initialize().await.map_err(|e| fail(&e))?;
            subject.store.initialize().await.map_err(|e| fail(&e))?;
            let result = run(&model.store, &subject.store, &ops).await;
            let _ = subject.store.close().await;
            result.map_err(TestCaseError::fail)
        })
    });
    if let Err(e) = outcome {
        panic!("differential test failed: {e}");
    }
}

fn fail(e: &StorageError) -> TestCaseError {
    TestCaseError::fail(format!("setup failed: {e}"))
}

/// Applies `ops` to both stores in order and returns the first difference.
pub async fn run(
    model: &Arc<dyn ChatAppMessageStore>,
    subject: &Arc<dyn ChatAppMessageStore>,
    ops: &[Op],
) -> std::result::Result<(), String> {
    for (step, op) in ops.iter().enumerate() {
        let (m, s) = match op {
            Op::Store { msg, bot } => {
                let store = |st: &Arc<dyn ChatAppMessageStore>| {
                    let st = st.clone();
                    let msg = msg.clone();
                    async move {
                        if *bot {
                            st.store_bot_response(&msg).await
                        } else {
                            st.store_user_message(&msg).await
                        }
                    }
                };
                (show(store(model).await), show(store(subject).await))
            }
            Op::Batch(msgs) => (
                show(model.store_batch(msgs).await),
                show(subject.store_batch(msgs).await),
            ),
            Op::Get(id) => (
                show(model.get(id).await.map(normalise)),
                show(subject.get(id).await.map(normalise)),
            ),
            Op::List(spec) => {
                let (mq, sq) = resolve(model, subject, spec).await?;
                (
                    show(
                        model
                            .list(&mq)
                            .await
                            .map(|v| v.into_iter().map(normalise).collect::<Vec<_>>()),
                    ),
                    show(
                        subject
                            .list(&sq)
                            .await
                            .map(|v| v.into_iter().map(normalise).collect::<Vec<_>>()),
                    ),
                )
            }
            Op::Count(spec) => {
                let (mq, sq) = resolve(model, subject, spec).await?;
                (show(model.count(&mq).await), show(subject.count(&sq).await))
            }
            Op::Meta(session) => {
                let strip = |mut meta: hotplex_storage_core::SessionMeta| {
                    // Each store's own clock: only their order is checked.
                    if meta.created_at > meta.updated_at {
                        meta.chat_session_id
                            .push_str(" <meta created_at is after updated_at>");
                    }
                    meta.created_at = base_time();
                    meta.updated_at = base_time();
                    meta
                };
                (
                    show(model.get_session_meta(session).await.map(strip)),
                    show(subject.get_session_meta(session).await.map(strip)),
                )
            }
            Op::UserSessions(platform, user) => (
                show(model.list_user_sessions(platform, user).await),
                show(subject.list_user_sessions(platform, user).await),
            ),
            Op::DeleteSession(session) => (
                show(model.delete_session(session).await),
                show(subject.delete_session(session).await),
            ),
            Op::PurgeSession(session) => (
                show(model.purge_session(session).await),
                show(subject.purge_session(session).await),
            ),
            Op::PurgeDeleted(cutoff) => {
                let cutoff = cutoff.instant();
                (
                    show(model.purge_deleted_before(cutoff).await),
                    show(subject.purge_deleted_before(cutoff).await),
                )
            }
            Op::PurgeBefore(cutoff) => {
                let cutoff = cutoff.instant();
                (
                    show(model.purge_messages_before(cutoff).await),
                    show(subject.purge_messages_before(cutoff).await),
                )
            }
            Op::Search(spec) => search_both(model, subject, spec).await?,
        };
        if m != s {
            return Err(format!(
                "step {step}: {op:?}\n  model:   {m}\n  subject: {s}\n(sequence: {ops:#?})"
            ));
        }
    }
    Ok(())
}

/// Runs one search on both stores (the cursor taken from each store's own copy of the
/// message) and renders both results.
async fn search_both(
    model: &Arc<dyn ChatAppMessageStore>,
    subject: &Arc<dyn ChatAppMessageStore>,
    spec: &SearchSpec,
) -> std::result::Result<(String, String), String> {
    let mut mq = spec.query.clone();
    let mut sq = spec.query.clone();
    if let Some((m, s)) = positions(model, subject, spec.cursor_id.as_deref()).await? {
        mq.cursor = Some(m);
        sq.cursor = Some(s);
    }
    let hits = |r: Result<Vec<SearchHit>>| {
        show(r.map(|hits| {
            hits.into_iter()
                .map(|h| (normalise(h.message), h.snippet))
                .collect::<Vec<_>>()
        }))
    };
    Ok((
        hits(model.search(&mq).await),
        hits(subject.search(&sq).await),
    ))
}

/// Builds each store's query, with cursors taken from that store's own copy of the message.
async fn resolve(
    model: &Arc<dyn ChatAppMessageStore>,
    subject: &Arc<dyn ChatAppMessageStore>,
    spec: &QuerySpec,
) -> std::result::Result<(MessageQuery, MessageQuery), String> {
    let mut mq = spec.query.clone();
    let mut sq = spec.query.clone();
    for (id, pick_after) in [(&spec.after_id, true), (&spec.before_id, false)] {
        let Some((m, s)) = positions(model, subject, id.as_deref()).await? else {
            continue;
        };
        if pick_after {
            mq.after = Some(m);
            sq.after = Some(s);
        } else {
            mq.before = Some(m);
            sq.before = Some(s);
        }
    }
    Ok((mq, sq))
}

/// The position of message `id` in each store: `None` when there is no id or the model lacks
/// the message; an error when only the subject lacks it.
async fn positions(
    model: &Arc<dyn ChatAppMessageStore>,
    subject: &Arc<dyn ChatAppMessageStore>,
    id: Option<&str>,
) -> std::result::Result<Option<(Cursor, Cursor)>, String> {
    let Some(id) = id else { return Ok(None) };
    let Some(m) = position(model, id).await else {
        return Ok(None);
    };
    let s = position(subject, id)
        .await
        .ok_or_else(|| format!("message {id} exists in the model but not in the subject"))?;
    Ok(Some((m, s)))
}

async fn position(store: &Arc<dyn ChatAppMessageStore>, id: &str) -> Option<Cursor> {
    let all = store
        .list(&MessageQuery::default().with_include_deleted(true))
        .await
        .ok()?;
    all.iter().find(|m| m.id == id).and_then(Cursor::try_of)
}

/// Clears what each store assigns on its own: `seq`, and a `deleted_at` the store set to its
/// "now" (generated values lie within a minute of [`base_time`] and are kept).
fn normalise(mut msg: ChatAppMessage) -> ChatAppMessage {
    msg.seq = 0;
    if msg
        .deleted_at
        .is_some_and(|d| d > base_time() + Duration::days(1))
    {
        msg.deleted_at = Some(base_time() - Duration::days(1));
    }
    msg
}

/// A comparable rendering of a result: the value, or the error's kind (messages may differ).
fn show<T: fmt::Debug>(result: Result<T>) -> String {
    match result {
        Ok(value) => format!("Ok({value:?})"),
        Err(e) => format!("Err({})", error_kind(&e)),
    }
}

fn error_kind(e: &StorageError) -> &'static str {
    match e {
        StorageError::NotFound { .. } => "NotFound",
        StorageError::SessionNotFound { .. } => "SessionNotFound",
        StorageError::InvalidMessage { .. } => "InvalidMessage",
        StorageError::InvalidQuery { .. } => "InvalidQuery",
        StorageError::Closed => "Closed",
        StorageError::StorageFull { .. } => "StorageFull",
        _ => "Other",
    }
}
