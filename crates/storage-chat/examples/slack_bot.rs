//! A simulated Slack bot (no network) storing its conversations through
//! [`MessageStorePlugin`] into SQLite, with the bot's replies streamed token by token.
//!
//! ```text
//! cargo run -p hotplex-storage-chat --example slack_bot
//! ```
//!
//! Two users talk to the bot in two threads. The replies in the first thread complete; the
//! reply in the second is cut off (the agent process "crashes" before it finishes), and is
//! stored anyway, marked interrupted, when the plugin closes — the Go plugin lost exactly such
//! replies. The database lives in a temporary directory removed at exit.

use std::sync::Arc;

use hotplex_storage_chat::{
    DEFAULT_NAMESPACE, MessageContext, MessageStorePlugin, PluginConfig, chat_session_id,
    format_history, new_engine_session_id, provider_session_id,
};
use hotplex_storage_core::{
    ChatAppMessageStore, DefaultStrategy, MessageQuery, MessageType, ReadOnlyStore, StoreStack,
    StrategyLayer,
};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use hotplex_storage_stream::{RetryConfig, RetryLayer, StreamConfig};

type AppResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const PLATFORM: &str = "slack";
const BOT_USER: &str = "B0HOTPLEX";
const PROVIDER: &str = "claude-code";

/// An incoming Slack message event, as the Events API would deliver it.
struct SlackEvent {
    user: &'static str,
    channel: &'static str,
    thread_ts: &'static str,
    text: &'static str,
}

/// The adapter: turns Slack events into plugin calls, as the Go Slack adapter does.
struct SlackAdapter {
    plugin: MessageStorePlugin,
}

impl SlackAdapter {
    /// The thread's session id, as the Go Slack adapter computes it (no user: one id per
    /// thread whoever writes in it).
    fn session_of(event: &SlackEvent) -> String {
        chat_session_id(
            DEFAULT_NAMESPACE,
            PLATFORM,
            "",
            BOT_USER,
            event.channel,
            event.thread_ts,
        )
    }

    /// The fields every message of this turn shares.
    fn turn(event: &SlackEvent, message_type: MessageType) -> MessageContext {
        let engine = new_engine_session_id();
        MessageContext::new(message_type)
            .with_session(Self::session_of(event))
            .with_platform(PLATFORM)
            .with_user(event.user)
            .with_bot_user(BOT_USER)
            .with_channel(event.channel)
            .with_thread(event.thread_ts)
            .with_engine_session(engine)
            .with_provider(
                PROVIDER,
                provider_session_id(DEFAULT_NAMESPACE, PROVIDER, engine),
            )
    }

    /// Stores the user's message, then streams the agent's reply token by token. With
    /// `complete == false` the reply is cut off after its first tokens.
    async fn handle(&self, event: &SlackEvent, reply: &[&str], complete: bool) -> AppResult {
        let question = Self::turn(event, MessageType::USER_INPUT).with_content(event.text);
        self.plugin.on_user_message(&question).await?;

        let template = Self::turn(event, MessageType::FINAL_RESPONSE);
        let key = format!("{}:{}", event.channel, event.thread_ts);
        let tokens = if complete { reply } else { &reply[..2] };
        for token in tokens {
            self.plugin.on_stream_chunk(&key, &template, token).await?;
        }
        if complete {
            self.plugin.on_stream_complete(&key, &template).await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> AppResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("slack.db");
    let store = Arc::new(SqliteStore::new(SqliteConfig::new(&path))?);
    // The Go plugin's layers: strategy `default` (drops thinking, tool calls), then retries.
    // (`hotplex_storage_registry::open` builds the same from a configuration file.)
    let stack = StoreStack::new()
        .layer(StrategyLayer::new(Arc::new(DefaultStrategy)))
        .layer(RetryLayer::new(RetryConfig::default())?)
        .build(store)?;
    let plugin = MessageStorePlugin::new(
        stack,
        PluginConfig::new().with_streaming(StreamConfig::default()),
    )?;
    plugin.initialize().await?;
    let adapter = SlackAdapter { plugin };

    let first = SlackEvent {
        user: "U0ALICE",
        channel: "C0GENERAL",
        thread_ts: "1732531200.000100",
        text: "What does WAL mode do in SQLite?",
    };
    adapter
        .handle(
            &first,
            &[
                "WAL ",
                "appends ",
                "changes ",
                "to a ",
                "log, ",
                "so readers ",
                "never block ",
                "the writer.",
            ],
            true,
        )
        .await?;
    let follow_up = SlackEvent {
        text: "And synchronous=FULL?",
        ..first
    };
    adapter
        .handle(
            &follow_up,
            &[
                "Each ",
                "commit ",
                "is fsynced: ",
                "it survives ",
                "power loss.",
            ],
            true,
        )
        .await?;
    let cut_off = SlackEvent {
        user: "U0BOB",
        channel: "C0RANDOM",
        thread_ts: "1732531260.000200",
        text: "Summarise the incident report, please.",
    };
    adapter
        .handle(
            &cut_off,
            &["The outage ", "began at ", "09:12 when…"],
            false,
        )
        .await?;

    let thread = SlackAdapter::session_of(&first);
    println!("thread {thread} (#C0GENERAL, Alice):");
    print!(
        "{}",
        format_history(&adapter.plugin.thread_history(&thread, 50).await?)
    );
    let meta = adapter.plugin.session_meta(&thread).await?;
    println!(
        "  {} messages; Alice's sessions: {:?}",
        meta.message_count,
        adapter.plugin.user_sessions(PLATFORM, "U0ALICE").await?
    );

    // Shut down: the unfinished reply is stored, marked interrupted, then SQLite is closed.
    adapter.plugin.close().await?;

    // Reopen the database as a later process would and read the cut-off thread.
    let reopened = SqliteStore::new(SqliteConfig::new(&path))?;
    reopened.initialize().await?;
    let bob_thread = SlackAdapter::session_of(&cut_off);
    let messages = reopened
        .list(&MessageQuery::for_session(bob_thread.as_str()).with_ascending(true))
        .await?;
    println!("\nthread {bob_thread} (#C0RANDOM, Bob), after a restart:");
    print!("{}", format_history(&messages));
    let reply = messages.last().ok_or("the cut-off thread is empty")?;
    let status = reply.metadata.get("stream_status").and_then(|v| v.as_str());
    println!("  the cut-off reply was stored with stream_status = {status:?}");
    if messages.len() != 2 || status != Some("interrupted") {
        return Err("the cut-off reply was not stored as interrupted".into());
    }
    reopened.close().await?;
    Ok(())
}
