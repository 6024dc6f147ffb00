//! The hotplex-storage demo on the embedded default (SQLite): a chat conversation stored,
//! a bot answer streamed token by token, paged, exported and backed up.
//!
//! ```text
//! cargo run --release -p hotplex-storage-sqlite --example demo [-- DIRECTORY]
//! ```
//!
//! Writes `chat.db`, `chat-export.jsonl` and `chat-backup.db` into DIRECTORY (default: a fresh
//! `hotplex-storage-demo` folder under the system temp dir) and prints what each step did.

use std::fs::OpenOptions;
use std::io::BufWriter;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use hotplex_storage_core::{
    ChatAppMessage, ChatAppMessageStore, Cursor, DefaultStrategy, MessageQuery, MessageType,
    ReadOnlyStore, SessionStore, StorageError, StrategyStore, WriteOnlyStore, export_jsonl,
};
use hotplex_storage_sqlite::{SqliteConfig, SqliteStore};
use hotplex_storage_stream::{RetryConfig, RetryStore, StreamConfig, StreamMessageStore};

const SESSION: &str = "slack:U00042:B0001:C007:TS1732531200";

type Stack = Arc<RetryStore<StrategyStore<Arc<SqliteStore>>>>;
type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> DemoResult {
    let dir = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("hotplex-storage-demo"),
        PathBuf::from,
    );
    fresh_directory(&dir)?;

    // 1. Open the embedded default: SQLite, WAL, synchronous=FULL, group commit.
    let sqlite = Arc::new(SqliteStore::new(SqliteConfig::new(dir.join("chat.db")))?);
    sqlite.initialize().await?;
    println!(
        "opened {} (sqlite, synchronous=FULL)",
        dir.join("chat.db").display()
    );

    // 2. The stack an application uses: strategy (which types to keep) and retries.
    let store = Arc::new(RetryStore::new(
        StrategyStore::new(sqlite.clone(), DefaultStrategy),
        RetryConfig::default(),
    )?);

    conversation(&store).await?;
    concurrent_writers(&sqlite, &store).await?;
    read_back(&store).await?;
    export_and_backup(&sqlite, &store, &dir).await?;

    // 9. Health and metrics, then close.
    let health = store.health_check().await;
    let metrics = store.metrics().await?;
    println!(
        "health            -> {:?} ({} checks)",
        health.status,
        health.checks.len()
    );
    println!(
        "metrics           -> {} messages, {} sessions, {} bytes on disk",
        metrics.total_messages, metrics.total_sessions, metrics.storage_size_bytes
    );
    store.close().await?;
    Ok(())
}

/// Creates `dir` and removes what an earlier run left in it.
fn fresh_directory(dir: &std::path::Path) -> DemoResult {
    std::fs::create_dir_all(dir)?;
    for name in [
        "chat.db",
        "chat.db-wal",
        "chat.db-shm",
        "chat-export.jsonl",
        "chat-backup.db",
    ] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Steps 3-5: a question, a filtered event, a retried write and a streamed answer.
async fn conversation(store: &Stack) -> DemoResult {
    // 3. A user message, and an intermediate event the default strategy declines visibly.
    let question = ChatAppMessage::user(SESSION, "How does SQLite's WAL mode keep readers fast?")
        .with_platform("slack")
        .with_user("U00042")
        .with_metadata_entry("client", "demo");
    let receipt = store.store_user_message(&question).await?;
    println!(
        "user message      -> {:?} id={}",
        receipt.outcome, receipt.id
    );
    let thinking =
        ChatAppMessage::of_type(SESSION, MessageType::THINKING, "recalling the WAL docs");
    let filtered = store.store_bot_response(&thinking).await?;
    println!(
        "thinking event    -> {:?} (the default strategy keeps user_input and final_response)",
        filtered.outcome
    );

    // 4. Retrying the same message after a lost acknowledgement never duplicates it.
    let retry = store
        .store_user_message(&question.clone().with_id(receipt.id.clone()))
        .await?;
    println!("retry of same id  -> {:?}", retry.outcome);

    // 5. The bot's answer arrives as tokens; the stream store merges them into one message.
    let streams = StreamMessageStore::new(store.clone(), StreamConfig::default())?;
    let template = ChatAppMessage::bot(SESSION, "")
        .with_platform("slack")
        .with_user("U00042");
    let answer = "Readers see the last committed snapshot in the main file plus the WAL, \
                  so they never wait for the writer, and the writer appends instead of \
                  rewriting pages in place.";
    let tokens: Vec<&str> = answer.split_inclusive(' ').collect();
    for token in &tokens {
        streams
            .on_stream_chunk_with("answer-1", token, &template)
            .await?;
    }
    let streamed = streams.on_stream_complete("answer-1", &template).await?;
    println!(
        "streamed answer   -> {:?} from {} chunks, id={}",
        streamed.outcome,
        tokens.len(),
        streamed.id
    );
    streams.close().await?;
    Ok(())
}

/// Step 6: sixteen concurrent writers and what group commit made of them.
async fn concurrent_writers(sqlite: &SqliteStore, store: &Stack) -> DemoResult {
    // 6. Sixteen concurrent writers: group commit batches them into few transactions.
    let before = sqlite.metrics().await?;
    let mut writers = Vec::new();
    for w in 0..16 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..25 {
                let msg = ChatAppMessage::user(
                    format!("slack:U{w:05}:B0001:C001:TS{w}"),
                    format!("message {i}"),
                )
                .with_platform("slack")
                .with_user(format!("U{w:05}"));
                store.store_user_message(&msg).await?;
            }
            Ok::<_, StorageError>(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let after = sqlite.metrics().await?;
    let delta = |key: &str| {
        after.extra.get(key).copied().unwrap_or(0) - before.extra.get(key).copied().unwrap_or(0)
    };
    println!(
        "16 writers x 25   -> {} write requests in {} commits",
        delta("write_requests"),
        delta("commits")
    );

    Ok(())
}

/// Step 7: newest first, two per page, then the session's meta.
async fn read_back(store: &Stack) -> DemoResult {
    // 7. Read the conversation back: newest first, two per page, with a keyset cursor.
    let mut query = MessageQuery::for_session(SESSION).with_limit(2);
    let mut page = 1;
    loop {
        let messages = store.list(&query).await?;
        for m in &messages {
            println!(
                "page {page}: [{}] {}",
                m.message_type,
                truncate(&m.content, 60)
            );
        }
        match messages.last() {
            Some(last) if messages.len() == 2 => query = query.with_before(Cursor::of(last)?),
            _ => break,
        }
        page += 1;
    }
    let meta = store.get_session_meta(SESSION).await?;
    println!(
        "session meta      -> {} messages, user {}, last at {}",
        meta.message_count, meta.chat_user_id, meta.last_message_at
    );
    println!(
        "sessions of U00042 -> {:?}",
        store.list_user_sessions("slack", "U00042").await?
    );

    Ok(())
}

/// Step 8: a JSON Lines export (mode 0600) and an online backup.
async fn export_and_backup(
    sqlite: &SqliteStore,
    store: &Stack,
    dir: &std::path::Path,
) -> DemoResult {
    // 8. Export everything as JSON Lines (0600) and take an online backup.
    let export_path = dir.join("chat-export.jsonl");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&export_path)?;
    let exported = export_jsonl(
        store.as_ref(),
        &MessageQuery::default().with_include_deleted(true),
        &mut BufWriter::new(file),
    )
    .await?;
    println!(
        "exported          -> {exported} messages to {}",
        export_path.display()
    );
    sqlite.backup_to(&dir.join("chat-backup.db")).await?;
    println!(
        "backup            -> {}",
        dir.join("chat-backup.db").display()
    );

    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    hotplex_storage_core::truncate_for_log(text, max)
}
