//! Search: the form, and a page of hits with the terms marked in each snippet.

use hotplex_storage_core::{Cursor, SearchHit};
use maud::{Markup, html};

use super::layout::{page, when};
use crate::commands::serve::highlight::{Segment, highlight};
use crate::commands::serve::links::{self, SearchFilters};
use crate::commands::serve::params::SEARCH_MAX_PAGE;

/// What a search page shows.
#[derive(Debug)]
pub(crate) struct SearchView<'a> {
    /// The filters as given (their values refill the form).
    pub(crate) filters: &'a SearchFilters,
    /// The hits, `None` when nothing was searched yet.
    pub(crate) hits: Option<&'a [SearchHit]>,
    /// The folded terms, for marking.
    pub(crate) terms: &'a [String],
    /// Whether this page continues an earlier one.
    pub(crate) continued: bool,
    /// The position after which the next page starts, when this one is full.
    pub(crate) next: Option<Cursor>,
}

/// The search page.
pub(crate) fn search(view: &SearchView<'_>) -> Markup {
    let f = view.filters;
    let title = if f.q.is_empty() {
        "Search".to_owned()
    } else {
        format!("Search {}", f.q)
    };
    page(
        &title,
        &html! {
            h1 { "Search" }
            form.panel action="/search" method="get" role="search" {
                label.wide { "Text " input type="search" name="q" value=(f.q) required
                    placeholder="every word must occur: 数据库 backup"; }
                label { "Session " input name="session" value=(f.session) size="24"; }
                label { "User " input name="user" value=(f.user) size="12"; }
                label { "Platform " input name="platform" value=(f.platform) size="8"; }
                label { "Per page " input type="number" name="limit" min="1" max=(SEARCH_MAX_PAGE) value=(f.limit); }
                button type="submit" { "Search" }
            }
            p.note {
                "Case-insensitive substrings of the content, newest first; Chinese and Japanese \
                 words work without spaces. Deleted messages never match."
            }
            @if let Some(hits) = view.hits {
                @if hits.is_empty() {
                    p.empty {
                        @if view.continued { "No more messages contain " } @else { "No message contains " }
                        q { (f.q) } "."
                    }
                } @else {
                    p.count {
                        (hits.len()) " hit(s)"
                        @if view.continued { " (a later page)" }
                        @if view.next.is_some() { ", more on the next page" }
                        "."
                    }
                    ol.hits {
                        @for hit in hits { (one(hit, view.terms)) }
                    }
                }
                nav.pager {
                    @if view.continued { a href=(links::search(f, None)) { "« first page" } }
                    @if let Some(c) = view.next { a rel="next" href=(links::search(f, Some(c))) { "next page ›" } }
                }
            }
        },
    )
}

/// One hit: where it is, and its snippet with the terms marked.
fn one(hit: &SearchHit, terms: &[String]) -> Markup {
    let m = &hit.message;
    let at = Cursor::try_of(m);
    html! {
        li.hit {
            div.head {
                span.badge.type { (m.message_type.as_str()) }
                @if let Some(t) = m.created_at { (when(t)) }
                " in "
                @match at {
                    Some(c) => a.id href=(links::thread_at(&m.chat_session_id, c)) { (m.chat_session_id) },
                    None => span.id { (m.chat_session_id) },
                }
                @if !m.chat_user_id.is_empty() {
                    " · user "
                    a.id href=(links::sessions(&m.chat_platform, &m.chat_user_id, 1)) { (m.chat_user_id) }
                }
            }
            p.snippet {
                @for segment in highlight(&hit.snippet, terms) {
                    @match segment {
                        Segment::Plain(text) => (text),
                        Segment::Match(text) => mark { (text) },
                    }
                }
            }
        }
    }
}
