//! `demo`: Slack-style conversations stored through the configured store, bot answers
//! streamed chunk by chunk through `StreamMessageStore`, one stream left unfinished (stored
//! as interrupted by `close`), then the threads, the user's sessions and the stats.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, MessageQuery, MessageType, Result, WriteOnlyStore,
    build_session_id,
};
use hotplex_storage_registry::StorageConfig;
use hotplex_storage_stream::{StreamConfig, StreamMessageStore};

use crate::output::print_json;

/// The demo's platform.
const PLATFORM: &str = "slack";
/// The demo's bot user.
const BOT: &str = "U0HOTPLEX";

/// One conversation: who asks where, the question, and the answer's chunks.
struct Conversation {
    user: &'static str,
    channel: &'static str,
    question: &'static str,
    answer: &'static [&'static str],
    /// The bot stops streaming before the end (the process "dies" mid-answer).
    unfinished: bool,
}

const CONVERSATIONS: &[Conversation] = &[
    Conversation {
        user: "U0ADA",
        channel: "C0DEV",
        question: "How does the SQLite store stay durable?",
        answer: &[
            "Every ",
            "commit ",
            "is ",
            "written ",
            "to ",
            "the ",
            "WAL ",
            "with ",
            "synchronous=FULL, ",
            "and ",
            "concurrent ",
            "writes ",
            "share ",
            "one ",
            "group ",
            "commit.",
        ],
        unfinished: false,
    },
    Conversation {
        user: "U0ADA",
        channel: "C0OPS",
        question: "Can I keep only 90 days of history?",
        answer: &[
            "Yes: ",
            "set ",
            "retention.max_age: ",
            "90d ",
            "or ",
            "run ",
            "`hotplex-storage ",
            "purge ",
            "--older-than ",
            "90d`.",
        ],
        unfinished: false,
    },
    Conversation {
        user: "U0BOB",
        channel: "C0DEV",
        question: "Summarise today's incidents, please.",
        answer: &["Three ", "incidents ", "today: ", "the ", "first ", "was "],
        unfinished: true,
    },
];

/// Runs the demo against `store`.
pub(crate) async fn run(
    store: Arc<dyn ChatAppMessageStore>,
    cfg: &StorageConfig,
    json: bool,
) -> Result<ExitCode> {
    // A Slack-style thread timestamp, unique per run (runs in the same second stay apart).
    let now = Utc::now();
    let thread_ts = format!("{}.{:06}", now.timestamp(), now.timestamp_subsec_micros());
    let writer: Arc<dyn WriteOnlyStore> = store.clone();
    let streams = StreamMessageStore::new(writer, StreamConfig::default())?;
    let mut sessions = Vec::new();
    for (n, c) in CONVERSATIONS.iter().enumerate() {
        let session = format!(
            "{}:{thread_ts}",
            build_session_id(PLATFORM, c.user, c.channel)
        );
        let question = ChatAppMessage::user(&session, c.question)
            .with_platform(PLATFORM)
            .with_user(c.user)
            .with_channel(c.channel)
            .with_thread(&thread_ts)
            .with_bot_user(BOT);
        store.store_user_message(&question).await?;
        let template = ChatAppMessage::bot(&session, "")
            .with_platform(PLATFORM)
            .with_user(c.user)
            .with_channel(c.channel)
            .with_thread(&thread_ts)
            .with_bot_user(BOT);
        let key = format!("demo-response-{n}");
        for chunk in c.answer {
            streams.on_stream_chunk_with(&key, chunk, &template).await?;
        }
        if !c.unfinished {
            streams.on_stream_complete(&key, &template).await?;
        }
        sessions.push((c.user, session));
    }
    // Stores the unfinished answer as interrupted (stream_reason = closed).
    streams.close().await?;

    let mut threads = Vec::new();
    for (_, session) in &sessions {
        let messages = store
            .list(&MessageQuery::for_session(session).with_ascending(true))
            .await?;
        threads.push((session.clone(), messages));
    }
    let ada_sessions = store.list_user_sessions(PLATFORM, "U0ADA").await?;
    let metrics = store.metrics().await?;
    if json {
        let threads: Vec<_> = threads
            .iter()
            .map(|(s, m)| serde_json::json!({"session": s, "messages": m}))
            .collect();
        print_json(&serde_json::json!({
            "backend": store.name(),
            "threads": threads,
            "user_sessions": {"platform": PLATFORM, "user": "U0ADA", "sessions": ada_sessions},
            "stats": metrics,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let location = match cfg.sqlite_path() {
        Some(path) if store.name() == "sqlite" => format!(" at {path}"),
        _ => String::new(),
    };
    println!("hotplex-storage demo: {} store{location}", store.name());
    for (session, messages) in &threads {
        println!();
        println!("thread {session}");
        for m in messages {
            let who = if m.message_type == MessageType::USER_INPUT {
                m.chat_user_id.as_str()
            } else {
                BOT
            };
            let status = m
                .metadata
                .get("stream_status")
                .and_then(|v| v.as_str())
                .map(|s| format!("  [{s}]"))
                .unwrap_or_default();
            println!("  {who:<10} {}{status}", m.content);
        }
    }
    println!();
    println!("sessions of {PLATFORM}/U0ADA, most recent first:");
    for s in &ada_sessions {
        println!("  {s}");
    }
    println!();
    println!(
        "stats: {} messages in {} sessions, {} deleted, {} bytes",
        metrics.total_messages,
        metrics.total_sessions,
        metrics.deleted_messages,
        metrics.storage_size_bytes
    );
    Ok(ExitCode::SUCCESS)
}
