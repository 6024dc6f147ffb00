//! [`SearchQuery`], [`SearchHit`] and [`SearchPlan`]: what `search` means, decided once.
//!
//! A query's text is split on whitespace into terms; a message matches when every term occurs
//! in its content as a substring after both are [folded](fold_char). Backends may narrow the
//! candidates with an index, but the final decision is always [`SearchPlan::hit`], so every
//! backend returns the same hits. The rules are tabled in `docs/semantics.md` "Search".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ChatAppMessage, Condition, Cursor, MessageQuery, MessageType, QueryPlan, ReadOnlyStore, Result,
    StorageError, TextColumn,
};

/// The largest `limit` a search accepts.
pub const SEARCH_MAX_LIMIT: usize = 1_000;
/// The `limit` used when a query leaves it at 0.
pub const SEARCH_DEFAULT_LIMIT: usize = 20;
/// The longest search text accepted, in bytes.
pub const SEARCH_MAX_TEXT_BYTES: usize = 1_024;
/// The most whitespace-separated terms a search text may have.
pub const SEARCH_MAX_TERMS: usize = 16;
/// Characters of context kept on each side of the first match in a [`SearchHit::snippet`].
pub const SNIPPET_CONTEXT_CHARS: usize = 40;

/// What `search` looks for: terms that must all occur in a message's content, and filters.
///
/// ```
/// use hotplex_storage_core::SearchQuery;
/// let query = SearchQuery::new("数据库 wal").with_session("slack:U1:C1").with_limit(20);
/// assert_eq!(query.text, "数据库 wal");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SearchQuery {
    /// Whitespace-separated terms; every one must occur in the content (case-insensitive).
    pub text: String,
    /// Only this session.
    pub chat_session_id: Option<String>,
    /// Only messages with this `chat_user_id`.
    pub chat_user_id: Option<String>,
    /// Only messages with this `chat_platform`.
    pub chat_platform: Option<String>,
    /// Only these types; empty means any type.
    pub message_types: Vec<MessageType>,
    /// Only messages created at or after this time (inclusive).
    pub start_time: Option<DateTime<Utc>>,
    /// Only messages created at or before this time (inclusive).
    pub end_time: Option<DateTime<Utc>>,
    /// At most this many hits (1..=[`SEARCH_MAX_LIMIT`]); 0 means [`SEARCH_DEFAULT_LIMIT`].
    pub limit: usize,
    /// Keyset paging: only messages strictly older than this position (the last hit's).
    pub cursor: Option<Cursor>,
}

impl SearchQuery {
    /// A search for `text` across every session, newest first, default limit.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Sets `chat_session_id`.
    #[must_use]
    pub fn with_session(mut self, chat_session_id: impl Into<String>) -> Self {
        self.chat_session_id = Some(chat_session_id.into());
        self
    }

    /// Sets `chat_user_id`.
    #[must_use]
    pub fn with_user(mut self, chat_user_id: impl Into<String>) -> Self {
        self.chat_user_id = Some(chat_user_id.into());
        self
    }

    /// Sets `chat_platform`.
    #[must_use]
    pub fn with_platform(mut self, chat_platform: impl Into<String>) -> Self {
        self.chat_platform = Some(chat_platform.into());
        self
    }

    /// Sets `message_types`.
    #[must_use]
    pub fn with_message_types(mut self, types: impl IntoIterator<Item = MessageType>) -> Self {
        self.message_types = types.into_iter().collect();
        self
    }

    /// Sets `start_time` and `end_time`.
    #[must_use]
    pub fn with_time_range(
        mut self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Self {
        self.start_time = start;
        self.end_time = end;
        self
    }

    /// Sets `limit`.
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets `cursor` (the position of the last hit of the previous page).
    #[must_use]
    pub fn with_cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The plan of this search, or `InvalidQuery` naming what is wrong.
    ///
    /// # Errors
    /// `InvalidQuery` for text that is empty, has NUL, is longer than
    /// [`SEARCH_MAX_TEXT_BYTES`] or has more than [`SEARCH_MAX_TERMS`] terms; a `limit` above
    /// [`SEARCH_MAX_LIMIT`]; and every filter [`MessageQuery::validate`] rejects.
    pub fn plan(&self) -> Result<SearchPlan> {
        SearchPlan::new(self)
    }
}

/// One search result: the message and a short piece of its content around the first match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The matching message.
    pub message: ChatAppMessage,
    /// Up to [`SNIPPET_CONTEXT_CHARS`] characters each side of the first match, with `…`
    /// where the content was cut.
    pub snippet: String,
}

/// A validated search: folded terms, the filter conditions and the window.
///
/// `filters` is an ordinary descending [`QueryPlan`] (live messages, the filters, the cursor as
/// `before`, the limit), so SQL backends render it like a `list` and add their text index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPlan {
    /// The terms, folded, in query order (duplicates kept; they change nothing).
    pub terms: Vec<String>,
    /// Every condition except the text, newest first, limited to `limit`.
    pub filters: QueryPlan,
    /// The number of hits wanted (1..=[`SEARCH_MAX_LIMIT`]).
    pub limit: usize,
}

impl SearchPlan {
    fn new(query: &SearchQuery) -> Result<Self> {
        let SearchQuery {
            text,
            chat_session_id,
            chat_user_id,
            chat_platform,
            message_types,
            start_time,
            end_time,
            limit,
            cursor,
        } = query;
        if text.len() > SEARCH_MAX_TEXT_BYTES {
            return Err(StorageError::invalid_query(format!(
                "search text is {} bytes; the limit is {SEARCH_MAX_TEXT_BYTES}",
                text.len()
            )));
        }
        if text.contains('\0') {
            return Err(StorageError::invalid_query("search text contains NUL"));
        }
        let terms: Vec<String> = text.split_whitespace().map(fold).collect();
        if terms.is_empty() {
            return Err(StorageError::invalid_query(
                "search text has no terms (it is empty or only whitespace)",
            ));
        }
        if terms.len() > SEARCH_MAX_TERMS {
            return Err(StorageError::invalid_query(format!(
                "search text has {} terms; the limit is {SEARCH_MAX_TERMS}",
                terms.len()
            )));
        }
        let limit = match *limit {
            0 => SEARCH_DEFAULT_LIMIT,
            n if n > SEARCH_MAX_LIMIT => {
                return Err(StorageError::invalid_query(format!(
                    "search limit {n} is above the maximum {SEARCH_MAX_LIMIT}"
                )));
            }
            n => n,
        };
        if chat_platform.as_ref().is_some_and(|p| p.contains('\0')) {
            return Err(StorageError::invalid_query("chat_platform contains NUL"));
        }
        let list = MessageQuery {
            chat_session_id: chat_session_id.clone(),
            chat_user_id: chat_user_id.clone(),
            start_time: *start_time,
            end_time: *end_time,
            message_types: message_types.clone(),
            limit,
            ascending: false,
            include_deleted: false,
            before: *cursor,
            ..MessageQuery::default()
        };
        list.validate()?;
        let mut filters = QueryPlan::list(&list);
        if let Some(platform) = chat_platform {
            filters.conditions.push(Condition::TextEquals(
                TextColumn::ChatPlatform,
                platform.clone(),
            ));
        }
        Ok(Self {
            terms,
            filters,
            limit,
        })
    }

    /// The snippet of `content` when every term occurs in it (both folded); `None` otherwise.
    pub fn snippet(&self, content: &str) -> Option<String> {
        let folded = fold(content);
        let mut first: Option<(usize, usize)> = None;
        for term in &self.terms {
            let start = folded.find(term.as_str())?;
            if first.is_none_or(|(s, _)| start < s) {
                first = Some((start, start + term.len()));
            }
        }
        let (start, end) = first?;
        Some(snippet(content, &folded, start, end))
    }

    /// The hit for `msg` when it meets every filter and contains every term; `None` otherwise.
    /// This is the final decision on every backend.
    pub fn hit(&self, msg: ChatAppMessage) -> Option<SearchHit> {
        if !self.filters.matches(&msg) {
            return None;
        }
        let snippet = self.snippet(&msg.content)?;
        Some(SearchHit {
            message: msg,
            snippet,
        })
    }

    /// The terms of at least `min_chars` characters (for an n-gram index that cannot look
    /// up shorter ones).
    pub fn terms_of_at_least(&self, min_chars: usize) -> impl Iterator<Item = &str> {
        self.terms
            .iter()
            .map(String::as_str)
            .filter(move |t| t.chars().count() >= min_chars)
    }
}

/// The snippet of `content` around the folded byte range `start..end` of `folded`. Folding
/// maps each character to exactly one character, so character positions carry over.
fn snippet(content: &str, folded: &str, start: usize, end: usize) -> String {
    let first_char = folded[..start].chars().count();
    let match_chars = folded[start..end].chars().count();
    let total = content.chars().count();
    let from = first_char.saturating_sub(SNIPPET_CONTEXT_CHARS);
    let to = (first_char + match_chars + SNIPPET_CONTEXT_CHARS).min(total);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(content.chars().skip(from).take(to - from));
    if to < total {
        out.push('…');
    }
    out
}

/// Folds one character for case-insensitive matching: the lowercase of its uppercase, when
/// each is a single character; otherwise the character itself.
///
/// This is Unicode simple case folding in effect (`A`/`a`, `Σ`/`σ`/`ς`, `ẞ`/`ß`, `K`/`k`
/// (Kelvin) fold together) and always maps one character to one, so positions in folded
/// text are positions in the original.
///
/// ```
/// use hotplex_storage_core::fold_char;
/// assert_eq!(fold_char('Ä'), 'ä');
/// assert_eq!(fold_char('ς'), 'σ');
/// assert_eq!(fold_char('你'), '你');
/// ```
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let upper = single(c.to_uppercase()).unwrap_or(c);
    single(upper.to_lowercase()).unwrap_or(upper)
}

/// `text` with every character [folded](fold_char).
pub fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.chars().map(fold_char).collect()
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// How many rows [`search_by_scan`] reads per `list` call.
const SCAN_PAGE: usize = 500;

/// `search` for a store without a text index: pages through the filtered messages newest first
/// with `list` and keeps those [`SearchPlan::hit`] accepts, until `limit` hits are found or
/// the messages run out. Memory use is one page; time grows with the filtered rows.
///
/// # Errors
/// `InvalidQuery` from [`SearchQuery::plan`], and whatever `list` returns.
pub async fn search_by_scan<S: ReadOnlyStore + ?Sized>(
    store: &S,
    query: &SearchQuery,
) -> Result<Vec<SearchHit>> {
    let plan = query.plan()?;
    let mut page = MessageQuery {
        chat_session_id: query.chat_session_id.clone(),
        chat_user_id: query.chat_user_id.clone(),
        start_time: query.start_time,
        end_time: query.end_time,
        message_types: query.message_types.clone(),
        limit: SCAN_PAGE,
        before: query.cursor,
        ..MessageQuery::default()
    };
    let mut hits = Vec::new();
    loop {
        let rows = store.list(&page).await?;
        let full = rows.len() == SCAN_PAGE;
        let last = rows.last().map(Cursor::of).transpose()?;
        for msg in rows {
            if let Some(hit) = plan.hit(msg) {
                hits.push(hit);
                if hits.len() == plan.limit {
                    return Ok(hits);
                }
            }
        }
        match last {
            Some(cursor) if full => page.before = Some(cursor),
            _ => return Ok(hits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn msg(content: &str) -> ChatAppMessage {
        let mut m = ChatAppMessage::user("s", content);
        m.created_at = Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        m.seq = 1;
        m
    }

    #[test]
    fn folding_is_one_character_to_one() {
        for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            let f = fold_char(c);
            assert_eq!(fold_char(f), f, "folding {c:?} is not idempotent");
        }
        assert_eq!(fold("HeLLo ΣΑΣ ẞ İ"), "hello σασ ß İ");
        assert_eq!(fold_char('\u{212A}'), 'k');
        assert_eq!(fold_char('ſ'), 's');
    }

    #[test]
    fn every_term_must_occur_case_insensitively() {
        let plan = SearchQuery::new("  wal   SQLite ").plan().unwrap();
        assert_eq!(plan.terms, ["wal", "sqlite"]);
        assert!(plan.hit(msg("What is WAL in sqlite?")).is_some());
        assert!(plan.hit(msg("What is WAL?")).is_none());
        let cjk = SearchQuery::new("你好").plan().unwrap();
        assert!(cjk.hit(msg("他说你好世界")).is_some());
        assert!(cjk.hit(msg("你 好")).is_none());
        let literal = SearchQuery::new("100%_x").plan().unwrap();
        assert!(literal.hit(msg("got 100%_x done")).is_some());
        assert!(literal.hit(msg("got 1000ax done")).is_none());
    }

    #[test]
    fn deleted_messages_never_match() {
        let plan = SearchQuery::new("wal").plan().unwrap();
        let mut m = msg("wal");
        m.deleted = true;
        assert!(plan.hit(m).is_none());
    }

    #[test]
    fn the_snippet_surrounds_the_first_match() {
        let long = format!("{}NEEDLE middle hay{}", "a".repeat(100), "b".repeat(100));
        let hit = SearchQuery::new("hay needle")
            .plan()
            .unwrap()
            .hit(msg(&long))
            .unwrap();
        let expected = format!("…{}NEEDLE middle hay{}…", "a".repeat(40), "b".repeat(29));
        assert_eq!(hit.snippet, expected);
        let short = SearchQuery::new("好")
            .plan()
            .unwrap()
            .hit(msg("你好"))
            .unwrap();
        assert_eq!(short.snippet, "你好");
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        assert_eq!(
            SearchQuery::new("a").plan().unwrap().limit,
            SEARCH_DEFAULT_LIMIT
        );
        assert_eq!(
            SearchQuery::new("a")
                .with_limit(SEARCH_MAX_LIMIT)
                .plan()
                .unwrap()
                .limit,
            SEARCH_MAX_LIMIT
        );
        let over = SearchQuery::new("a")
            .with_limit(SEARCH_MAX_LIMIT + 1)
            .plan();
        assert!(matches!(over, Err(StorageError::InvalidQuery { .. })));
        assert!(
            SearchQuery::new("x".repeat(SEARCH_MAX_TEXT_BYTES))
                .plan()
                .is_ok()
        );
        assert!(
            SearchQuery::new("x".repeat(SEARCH_MAX_TEXT_BYTES + 1))
                .plan()
                .is_err()
        );
        let terms = vec!["t"; SEARCH_MAX_TERMS].join(" ");
        assert!(SearchQuery::new(terms.clone()).plan().is_ok());
        assert!(SearchQuery::new(format!("{terms} t")).plan().is_err());
        for bad in ["", "   \t\n", "a\0b"] {
            assert!(
                matches!(
                    SearchQuery::new(bad).plan(),
                    Err(StorageError::InvalidQuery { .. })
                ),
                "{bad:?}"
            );
        }
        let t = Utc.timestamp_opt(100, 0).unwrap();
        let backwards =
            SearchQuery::new("a").with_time_range(Some(t), Some(t - chrono::Duration::seconds(1)));
        assert!(backwards.plan().is_err());
        assert!(SearchQuery::new("a").with_platform("s\0").plan().is_err());
    }

    #[test]
    fn filters_are_planned_like_a_descending_list() {
        let cursor = Cursor::new(Utc.timestamp_opt(100, 0).unwrap(), 5);
        let plan = SearchQuery::new("x")
            .with_session("s")
            .with_user("u")
            .with_platform("slack")
            .with_cursor(cursor)
            .with_limit(7)
            .plan()
            .unwrap();
        assert!(!plan.filters.ascending);
        assert_eq!(plan.filters.limit, Some(7));
        assert!(plan.filters.conditions.contains(&Condition::Live));
        assert!(plan.filters.conditions.contains(&Condition::Before(cursor)));
        assert!(plan.filters.conditions.contains(&Condition::TextEquals(
            TextColumn::ChatPlatform,
            "slack".into()
        )));
        let mut m = msg("x");
        m.chat_user_id = "u".into();
        m.chat_platform = "slack".into();
        assert!(plan.hit(m.clone()).is_none(), "newer than the cursor");
        m.created_at = Some(Utc.timestamp_opt(99, 0).unwrap());
        assert!(plan.hit(m.clone()).is_some());
        m.chat_platform = "feishu".into();
        assert!(plan.hit(m).is_none());
    }
}
