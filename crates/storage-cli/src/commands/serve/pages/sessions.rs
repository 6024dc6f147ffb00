//! The start page (recent sessions, the forms) and a user's sessions.

use hotplex_storage_core::SessionMeta;
use maud::{Markup, html};

use super::layout::{page, when};
use crate::commands::serve::links::{self, ThreadStart};
use crate::commands::serve::params::THREAD_PAGE;

/// The start page: the sessions with the newest messages among the last `scanned` stored.
pub(crate) fn home(backend: &str, recent: &[SessionMeta], scanned: usize) -> Markup {
    page(
        "Sessions",
        &html! {
            h1 { "Sessions" }
            p.lead { "A read-only view of the " strong { (backend) } " store." }
            form.panel action="/sessions" method="get" {
                label { "Platform " input name="platform" value="slack" size="10"; }
                label { "User " input name="user" required placeholder="U0123ABC" size="16"; }
                button type="submit" { "Show the user's sessions" }
            }
            h2 { "Recent sessions" }
            @if recent.is_empty() {
                p.empty { "No messages are stored yet." }
            } @else {
                p.note {
                    "The sessions of the newest " (scanned) " messages, most recent first."
                }
                (table(recent, true))
            }
        },
    )
}

/// A page of the sessions of `user` on `platform` (`total` in all), most recent first.
pub(crate) fn sessions(
    platform: &str,
    user: &str,
    metas: &[SessionMeta],
    page_number: usize,
    pages: usize,
    total: usize,
) -> Markup {
    let title = format!("Sessions of {user}");
    page(
        &title,
        &html! {
            h1 { "Sessions of " span.id { (user) } }
            p.lead { "Platform " span.id { (platform) } ". " (total) " session(s), most recent first." }
            @if metas.is_empty() {
                p.empty {
                    @if total == 0 { "This user has no sessions with live messages." }
                    @else { "No sessions on this page." }
                }
            } @else {
                (table(metas, false))
            }
            @if pages > 1 {
                nav.pager {
                    @if page_number > 1 {
                        a rel="prev" href=(links::sessions(platform, user, page_number - 1)) { "‹ newer" }
                    }
                    span { "page " (page_number) " of " (pages) }
                    @if page_number < pages {
                        a rel="next" href=(links::sessions(platform, user, page_number + 1)) { "older ›" }
                    }
                }
            }
        },
    )
}

/// A table of sessions; with `with_user`, a column links each to its user's sessions.
fn table(metas: &[SessionMeta], with_user: bool) -> Markup {
    html! {
        table.sessions {
            thead {
                tr {
                    th { "Session" }
                    th { "Platform" }
                    @if with_user { th { "User" } }
                    th.num { "Messages" }
                    th { "Last message" }
                    th { "Started" }
                }
            }
            tbody {
                @for m in metas {
                    tr {
                        td {
                            a.id href=(links::thread(&m.chat_session_id, ThreadStart::Oldest, false, THREAD_PAGE)) {
                                (m.chat_session_id)
                            }
                        }
                        td { (m.chat_platform) }
                        @if with_user {
                            td {
                                @if m.chat_user_id.is_empty() { span.empty { "—" } }
                                @else {
                                    a.id href=(links::sessions(&m.chat_platform, &m.chat_user_id, 1)) { (m.chat_user_id) }
                                }
                            }
                        }
                        td.num { (m.message_count) }
                        td { (when(m.last_message_at)) }
                        td { (when(m.created_at)) }
                    }
                }
            }
        }
    }
}
