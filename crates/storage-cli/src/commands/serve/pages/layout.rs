//! The frame of every page (title, navigation, quick search) and the error page.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, html};

/// A whole page titled `title` around `body`.
pub(crate) fn page(title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — hotplex-storage" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header.top {
                    a.brand href="/" { "hotplex-storage" }
                    nav {
                        a href="/" { "Sessions" }
                        a href="/search" { "Search" }
                        a href="/health" { "Health" }
                    }
                    form.quick action="/search" method="get" role="search" {
                        input type="search" name="q" placeholder="Search messages"
                            aria-label="Search messages";
                        button type="submit" { "Search" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The page of a failed request.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Markup {
    let reason = status.canonical_reason().unwrap_or("Error");
    let title = format!("{} {reason}", status.as_u16());
    page(
        &title,
        &html! {
            h1 { (title) }
            p.error { (message) }
            p { a href="/" { "Back to the sessions" } }
        },
    )
}

/// A timestamp as the pages show it (UTC, to the second; the exact value on hover).
pub(crate) fn when(at: DateTime<Utc>) -> Markup {
    let exact = at.to_rfc3339_opts(SecondsFormat::Micros, true);
    html! {
        time datetime=(exact) title=(exact) { (at.format("%Y-%m-%d %H:%M:%S")) }
    }
}
