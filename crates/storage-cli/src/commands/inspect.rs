//! Read commands: `list`, `search`, `sessions`, `get`, `stats`, `health`.

use std::process::ExitCode;
use std::sync::Arc;

use hotplex_storage_core::{
    ChatAppMessageStore, Cursor, HealthStatus, MessageQuery, Result, SearchHit, SearchQuery,
    SessionMeta,
};
use hotplex_storage_registry::StorageConfig;
use serde::Serialize;

use crate::cli::{ListArgs, SearchArgs, SessionsArgs};
use crate::output::{message_line, print_json};
use crate::settings;

/// `list`: messages matching the filters.
pub(crate) async fn list(
    store: Arc<dyn ChatAppMessageStore>,
    args: &ListArgs,
    json: bool,
) -> Result<ExitCode> {
    let query = MessageQuery {
        chat_session_id: args.session.clone(),
        chat_user_id: args.user.clone(),
        ..MessageQuery::default()
    }
    .with_limit(args.limit)
    .with_ascending(args.ascending)
    .with_include_deleted(args.include_deleted);
    let messages = store.list(&query).await?;
    if json {
        print_json(&messages)?;
    } else {
        for msg in &messages {
            println!("{}", message_line(msg));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `search --json` prints: the hits and, when the page is full, the cursor of the next.
#[derive(Serialize)]
struct SearchPage {
    hits: Vec<SearchHit>,
    next_cursor: Option<Cursor>,
}

/// `search`: messages containing every term, newest first, one page.
pub(crate) async fn search(
    store: Arc<dyn ChatAppMessageStore>,
    args: &SearchArgs,
    json: bool,
) -> Result<ExitCode> {
    let mut query = SearchQuery::new(args.text.clone()).with_limit(args.limit);
    query.chat_session_id.clone_from(&args.session);
    query.chat_user_id.clone_from(&args.user);
    query.chat_platform.clone_from(&args.platform);
    query.cursor = args.cursor.as_deref().map(str::parse).transpose()?;
    let hits = store.search(&query).await?;
    let next_cursor = match hits.last() {
        Some(last) if hits.len() == args.limit => Some(Cursor::of(&last.message)?),
        _ => None,
    };
    if json {
        return print_json(&SearchPage { hits, next_cursor }).map(|()| ExitCode::SUCCESS);
    }
    for hit in &hits {
        println!("{}", message_line(&hit.message));
        println!("    {}", hit.snippet.replace('\n', " "));
    }
    match next_cursor {
        Some(cursor) => eprintln!("more: --cursor {cursor}"),
        None => eprintln!("{} hit(s)", hits.len()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `sessions`: a user's sessions with their metas.
pub(crate) async fn sessions(
    store: Arc<dyn ChatAppMessageStore>,
    args: &SessionsArgs,
    json: bool,
) -> Result<ExitCode> {
    let ids = store.list_user_sessions(&args.platform, &args.user).await?;
    let mut metas: Vec<SessionMeta> = Vec::with_capacity(ids.len());
    for id in &ids {
        match store.get_session_meta(id).await {
            Ok(meta) => metas.push(meta),
            // Deleted between the two calls.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    if json {
        print_json(&metas)?;
    } else {
        for m in &metas {
            println!(
                "{}  {} messages  last {}",
                m.chat_session_id,
                m.message_count,
                m.last_message_at.format("%Y-%m-%d %H:%M:%S")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `get`: one message, every field.
pub(crate) async fn get(
    store: Arc<dyn ChatAppMessageStore>,
    id: &str,
    json: bool,
) -> Result<ExitCode> {
    let msg = store.get(id).await?;
    if json {
        print_json(&msg)?;
    } else {
        println!("{}", message_line(&msg));
        println!("{}", msg.content);
    }
    Ok(ExitCode::SUCCESS)
}

/// `stats`: the store's metrics.
pub(crate) async fn stats(store: Arc<dyn ChatAppMessageStore>, json: bool) -> Result<ExitCode> {
    let m = store.metrics().await?;
    if json {
        print_json(&m)?;
    } else {
        println!("backend           {}", m.backend);
        println!("messages          {}", m.total_messages);
        println!("deleted messages  {}", m.deleted_messages);
        println!("sessions          {}", m.total_sessions);
        println!("storage bytes     {}", m.storage_size_bytes);
        for (k, v) in &m.extra {
            println!("{k:<17} {v}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `health`: exit 0 healthy, 1 degraded, 2 unhealthy (also when the store cannot open).
pub(crate) async fn health(cfg: &StorageConfig, json: bool) -> Result<ExitCode> {
    let store = match hotplex_storage_registry::open(&settings::without_retention_task(cfg)).await {
        Ok(store) => store,
        Err(e) if e.is_config_error() => return Err(e),
        Err(e) => {
            if json {
                print_json(&serde_json::json!({"status": "unhealthy", "error": e.to_string()}))?;
            } else {
                println!("unhealthy: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let report = store.health_check().await;
    store.close().await?;
    if json {
        print_json(&report)?;
    } else {
        println!("{:?}", report.status);
        for (name, check) in &report.checks {
            println!("  {name:<8} {:?}  {}", check.status, check.message);
        }
    }
    Ok(match report.status {
        HealthStatus::Healthy => ExitCode::SUCCESS,
        HealthStatus::Degraded => ExitCode::from(1),
        HealthStatus::Unhealthy => ExitCode::from(2),
    })
}
