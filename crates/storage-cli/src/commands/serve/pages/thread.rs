//! A thread: one session's messages as user and bot turns, oldest first.

use hotplex_storage_core::{ChatAppMessage, MessageType, SessionMeta};
use hotplex_storage_stream::{StreamStatus, keys};
use maud::{Markup, html};

use super::layout::{page, when};
use crate::commands::serve::links::{self, ThreadStart};

/// What a thread page shows.
#[derive(Debug)]
pub(crate) struct ThreadView<'a> {
    /// The session.
    pub(crate) session: &'a str,
    /// Its meta; `None` when it has no live messages (deleted).
    pub(crate) meta: Option<&'a SessionMeta>,
    /// This page's messages, oldest first.
    pub(crate) messages: &'a [ChatAppMessage],
    /// Whether soft-deleted messages are shown.
    pub(crate) deleted: bool,
    /// Messages per page.
    pub(crate) limit: usize,
    /// Older messages exist before this page.
    pub(crate) has_older: bool,
    /// Newer messages exist after this page.
    pub(crate) has_newer: bool,
}

/// The thread page.
pub(crate) fn thread(view: &ThreadView<'_>) -> Markup {
    let title = format!("Thread {}", view.session);
    page(
        &title,
        &html! {
            h1 { "Thread " span.id { (view.session) } }
            @match view.meta {
                Some(m) => p.lead {
                    (m.chat_platform) " · user "
                    @if m.chat_user_id.is_empty() { "—" } @else {
                        a.id href=(links::sessions(&m.chat_platform, &m.chat_user_id, 1)) { (m.chat_user_id) }
                    }
                    " · " (m.message_count) " live message(s) · started " (when(m.created_at))
                    " · last " (when(m.last_message_at))
                },
                None => p.lead.warn { "This session has no live messages: it was deleted." },
            }
            p.toggles {
                @if view.deleted {
                    a href=(links::thread(view.session, ThreadStart::Oldest, false, view.limit)) { "Hide deleted messages" }
                } @else {
                    a href=(links::thread(view.session, ThreadStart::Oldest, true, view.limit)) { "Show deleted messages" }
                }
            }
            (pager(view))
            @if view.messages.is_empty() {
                p.empty { "No messages on this page." }
            }
            div.thread {
                @for m in view.messages { (message(m)) }
            }
            (pager(view))
        },
    )
}

/// Links to the oldest, older, newer and newest pages (those that exist).
fn pager(view: &ThreadView<'_>) -> Markup {
    let first = view
        .messages
        .first()
        .and_then(hotplex_storage_core::Cursor::try_of);
    let last = view
        .messages
        .last()
        .and_then(hotplex_storage_core::Cursor::try_of);
    let link = |start| links::thread(view.session, start, view.deleted, view.limit);
    html! {
        @if view.has_older || view.has_newer {
            nav.pager {
                @if view.has_older {
                    a href=(link(ThreadStart::Oldest)) { "« oldest" }
                    @if let Some(c) = first { a rel="prev" href=(link(ThreadStart::Before(c))) { "‹ older" } }
                }
                @if view.has_newer {
                    @if let Some(c) = last { a rel="next" href=(link(ThreadStart::After(c))) { "newer ›" } }
                    a href=(link(ThreadStart::Newest)) { "newest »" }
                }
            }
        }
    }
}

/// Whether `m` is the user's turn (else the bot's: answers, thinking, tools, errors).
fn is_user_turn(m: &ChatAppMessage) -> bool {
    m.message_type == MessageType::USER_INPUT
}

/// One message: who, type, time, stream status, the content, and the rest folded away.
fn message(m: &ChatAppMessage) -> Markup {
    let user = is_user_turn(m);
    let status = m.metadata.get(keys::STREAM_STATUS).and_then(|v| v.as_str());
    let interrupted = status == Some(StreamStatus::Interrupted.as_str());
    let reason = m.metadata.get(keys::STREAM_REASON).and_then(|v| v.as_str());
    let who = if user {
        [&m.from_user_name, &m.chat_user_id]
            .into_iter()
            .find(|s| !s.is_empty())
            .map_or_else(|| "user".to_owned(), Clone::clone)
    } else if m.chat_bot_user_id.is_empty() {
        "bot".to_owned()
    } else {
        format!("bot {}", m.chat_bot_user_id)
    };
    let anchor = links::anchor(m.seq);
    let metadata = serde_json::to_string_pretty(&m.metadata).unwrap_or_default();
    html! {
        article.msg.user[user].bot[!user].deleted[m.deleted].interrupted[interrupted] id=(anchor) {
            div.head {
                span.who { (who) }
                span.badge.type { (m.message_type.as_str()) }
                @if interrupted {
                    span.badge.warn title="The stream ended before the bot finished: what arrived was stored" {
                        "interrupted"
                        @if let Some(r) = reason { " (" (r) ")" }
                    }
                } @else if let Some(s) = status {
                    span.badge { "stream " (s) }
                }
                @if m.deleted {
                    span.badge.gone {
                        "deleted"
                        @if let Some(at) = m.deleted_at { " " (when(at)) }
                    }
                }
                @if let Some(at) = m.created_at { (when(at)) }
                a.anchor href={ "#" (anchor) } title="Link to this message" { "#" (m.seq) }
            }
            @if m.content.is_empty() {
                div.content.empty { "(empty)" }
            } @else {
                div.content { (m.content) }
            }
            details {
                summary { "Details and metadata" }
                dl {
                    dt { "id" } dd.id { (m.id) }
                    dt { "seq" } dd { (m.seq) }
                    (field("platform", &m.chat_platform))
                    (field("chat user", &m.chat_user_id))
                    (field("bot user", &m.chat_bot_user_id))
                    (field("channel", &m.chat_channel_id))
                    (field("thread", &m.chat_thread_id))
                    @if !m.engine_session_id.is_nil() {
                        dt { "engine session" } dd.id { (m.engine_session_id) }
                    }
                    (field("engine namespace", &m.engine_namespace))
                    (field("provider", &m.provider_type))
                    (field("provider session", &m.provider_session_id))
                    (field("from user", &m.from_user_id))
                    (field("from name", &m.from_user_name))
                    (field("to user", &m.to_user_id))
                    @if let Some(at) = m.updated_at { dt { "updated" } dd { (when(at)) } }
                }
                @if !m.metadata.is_empty() {
                    pre.metadata { (metadata) }
                }
            }
        }
    }
}

/// A `dt`/`dd` pair, nothing when `value` is empty.
fn field(name: &str, value: &str) -> Markup {
    html! {
        @if !value.is_empty() {
            dt { (name) } dd.id { (value) }
        }
    }
}
