//! The HTML pages, written with maud: every `(value)` in a template is HTML-escaped by the
//! compiler-checked macro, and no template uses `PreEscaped`, so stored content (chat text,
//! ids, metadata, search text) always renders as text.

mod health;
mod layout;
mod search;
mod sessions;
mod thread;

pub(crate) use health::health;
pub(crate) use layout::error_page;
pub(crate) use search::{SearchView, search};
pub(crate) use sessions::{home, sessions};
pub(crate) use thread::{ThreadView, thread};
