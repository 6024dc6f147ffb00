//! The viewer's URLs, built in one place with every value form-encoded (so an id or search
//! text holding `&`, `#` or `"` stays one parameter; the templates escape the result again as
//! an attribute).

use hotplex_storage_core::Cursor;

/// `path?pairs` with each value encoded; pairs with an empty value are left out.
fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if kept.is_empty() {
        return path.to_owned();
    }
    let query = serde_urlencoded::to_string(kept).unwrap_or_default();
    format!("{path}?{query}")
}

/// The sessions of `user` on `platform`, page `page` (1-based).
pub(crate) fn sessions(platform: &str, user: &str, page: usize) -> String {
    let page = if page > 1 {
        page.to_string()
    } else {
        String::new()
    };
    href(
        "/sessions",
        &[("platform", platform), ("user", user), ("page", &page)],
    )
}

/// Where a thread page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadStart {
    /// The oldest messages.
    Oldest,
    /// The newest messages.
    Newest,
    /// The messages strictly after a position.
    After(Cursor),
    /// The messages strictly before a position.
    Before(Cursor),
}

/// A page of the thread `session`, deleted messages shown when `deleted`.
pub(crate) fn thread(session: &str, start: ThreadStart, deleted: bool, limit: usize) -> String {
    let (key, value) = match start {
        ThreadStart::Oldest => ("after", String::new()),
        ThreadStart::Newest => ("newest", "1".to_owned()),
        ThreadStart::After(c) => ("after", c.to_string()),
        ThreadStart::Before(c) => ("before", c.to_string()),
    };
    let limit = if limit == super::params::THREAD_PAGE {
        String::new()
    } else {
        limit.to_string()
    };
    href(
        "/thread",
        &[
            ("session", session),
            (key, &value),
            ("deleted", if deleted { "1" } else { "" }),
            ("limit", &limit),
        ],
    )
}

/// The thread page that starts at the message at `at` (a position just before it), with the
/// message's anchor.
pub(crate) fn thread_at(session: &str, at: Cursor) -> String {
    let before_it = Cursor::new(at.created_at(), at.seq().saturating_sub(1));
    format!(
        "{}#{}",
        thread(
            session,
            ThreadStart::After(before_it),
            false,
            super::params::THREAD_PAGE
        ),
        anchor(at.seq())
    )
}

/// The id of a message's element on a thread page.
pub(crate) fn anchor(seq: i64) -> String {
    format!("m{seq}")
}

/// The filters of a search, as its links carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SearchFilters {
    /// The search text.
    pub(crate) q: String,
    /// Only this session (empty: any).
    pub(crate) session: String,
    /// Only this user (empty: any).
    pub(crate) user: String,
    /// Only this platform (empty: any).
    pub(crate) platform: String,
    /// Hits per page.
    pub(crate) limit: usize,
}

/// The search `filters` continued after `cursor`.
pub(crate) fn search(filters: &SearchFilters, cursor: Option<Cursor>) -> String {
    let cursor = cursor.map(|c| c.to_string()).unwrap_or_default();
    let limit = if filters.limit == super::params::SEARCH_PAGE {
        String::new()
    } else {
        filters.limit.to_string()
    };
    href(
        "/search",
        &[
            ("q", &filters.q),
            ("session", &filters.session),
            ("user", &filters.user),
            ("platform", &filters.platform),
            ("limit", &limit),
            ("cursor", &cursor),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn values_are_encoded_and_empty_ones_dropped() {
        assert_eq!(
            sessions("slack", "U&1#x", 1),
            "/sessions?platform=slack&user=U%261%23x"
        );
        assert_eq!(sessions("", "U1", 3), "/sessions?user=U1&page=3");
        let at = Cursor::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap(), 9);
        assert_eq!(
            thread("a b\"", ThreadStart::After(at), true, 100),
            "/thread?session=a+b%22&after=1700000000000000%3A9&deleted=1"
        );
        assert_eq!(
            thread("s", ThreadStart::Oldest, false, 7),
            "/thread?session=s&limit=7"
        );
        assert_eq!(
            thread("s", ThreadStart::Newest, false, 100),
            "/thread?session=s&newest=1"
        );
    }

    #[test]
    fn a_thread_link_to_a_message_starts_just_before_it() {
        let at = Cursor::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap(), 9);
        assert_eq!(
            thread_at("s", at),
            "/thread?session=s&after=1700000000000000%3A8#m9"
        );
    }

    #[test]
    fn search_links_keep_the_filters() {
        let filters = SearchFilters {
            q: "数据库 wal".to_owned(),
            user: "U1".to_owned(),
            limit: 20,
            ..SearchFilters::default()
        };
        assert_eq!(
            search(&filters, None),
            "/search?q=%E6%95%B0%E6%8D%AE%E5%BA%93+wal&user=U1"
        );
        let at = Cursor::new(Utc.timestamp_opt(1, 0).unwrap(), 2);
        assert!(search(&filters, Some(at)).ends_with("&cursor=1000000%3A2"));
    }
}
