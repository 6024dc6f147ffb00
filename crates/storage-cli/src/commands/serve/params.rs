//! The query parameters of each page, parsed strictly: an unknown or repeated parameter, a
//! number out of range or a malformed cursor is a 400 naming the parameter, never a guess.
//! An empty value (what an empty form field sends) counts as absent; other values are taken
//! as they are (ids are opaque: a space may belong to one).

use hotplex_storage_core::Cursor;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::PageError;

/// The longest query string accepted, in bytes (a search text is at most 1 KiB).
pub(crate) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Messages on a thread page unless `limit` says otherwise.
pub(crate) const THREAD_PAGE: usize = 100;
/// The largest `limit` of a thread page.
pub(crate) const THREAD_MAX_PAGE: usize = 500;
/// Hits on a search page unless `limit` says otherwise.
pub(crate) const SEARCH_PAGE: usize = 20;
/// The largest `limit` of a search page.
pub(crate) const SEARCH_MAX_PAGE: usize = 100;
/// Sessions on a page of a user's sessions.
pub(crate) const SESSIONS_PAGE: usize = 50;
/// The largest `page` number of a user's sessions.
pub(crate) const SESSIONS_MAX_PAGE: usize = 100_000;

/// `raw` (the query string, without `?`) as `T`, or a 400 saying what is wrong.
pub(crate) fn parse<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, PageError> {
    let raw = raw.unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(PageError::bad_request(format!(
            "The query string has {} bytes; at most {MAX_QUERY_BYTES} are accepted.",
            raw.len()
        )));
    }
    serde_urlencoded::from_str(raw)
        .map_err(|e| PageError::bad_request(format!("Bad query parameters: {e}.")))
}

/// `value`, `None` when absent or empty.
pub(crate) fn text(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

/// A required text parameter.
pub(crate) fn required(name: &str, value: Option<&String>) -> Result<String, PageError> {
    text(value).ok_or_else(|| PageError::bad_request(format!("The parameter {name} is required.")))
}

/// A whole number in `1..=max`, `default` when absent.
pub(crate) fn number(
    name: &str,
    value: Option<&String>,
    default: usize,
    max: usize,
) -> Result<usize, PageError> {
    let Some(v) = text(value) else {
        return Ok(default);
    };
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(PageError::bad_request(format!(
            "The parameter {name} must be a whole number from 1 to {max}, not {v:?}."
        ))),
    }
}

/// A yes/no flag: `1`, `true`, `on`, `yes` or `0`, `false`, `off`, `no`; `false` when absent.
pub(crate) fn flag(name: &str, value: Option<&String>) -> Result<bool, PageError> {
    match text(value)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("0" | "false" | "off" | "no") => Ok(false),
        Some("1" | "true" | "on" | "yes") => Ok(true),
        Some(v) => Err(PageError::bad_request(format!(
            "The parameter {name} must be 1 or 0 (true or false), not {v:?}."
        ))),
    }
}

/// A paging cursor (`<micros>:<seq>`, as the pages' links carry).
pub(crate) fn cursor(name: &str, value: Option<&String>) -> Result<Option<Cursor>, PageError> {
    text(value)
        .map(|v| {
            v.trim().parse::<Cursor>().map_err(|_| {
                PageError::bad_request(format!(
                    "The parameter {name} is not a cursor from this viewer's links: {v:?}."
                ))
            })
        })
        .transpose()
}

/// `/sessions`: a user's sessions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionsParams {
    /// Chat platform (`slack` when absent).
    pub(crate) platform: Option<String>,
    /// Chat user id (required).
    pub(crate) user: Option<String>,
    /// 1-based page number.
    pub(crate) page: Option<String>,
}

/// `/thread`: one session's messages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThreadParams {
    /// The session (required).
    pub(crate) session: Option<String>,
    /// Show soft-deleted messages too.
    pub(crate) deleted: Option<String>,
    /// Messages strictly after this position (oldest first).
    pub(crate) after: Option<String>,
    /// Messages strictly before this position (the newest of them, shown oldest first).
    pub(crate) before: Option<String>,
    /// The newest page.
    pub(crate) newest: Option<String>,
    /// Messages per page.
    pub(crate) limit: Option<String>,
}

/// `/search`: hits of a search.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    /// The search text (absent: the form alone).
    pub(crate) q: Option<String>,
    /// Only this session.
    pub(crate) session: Option<String>,
    /// Only this chat user.
    pub(crate) user: Option<String>,
    /// Only this platform.
    pub(crate) platform: Option<String>,
    /// Hits older than this position (the next page).
    pub(crate) cursor: Option<String>,
    /// Hits per page.
    pub(crate) limit: Option<String>,
}

/// A page without parameters (`/`, `/health`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let err = parse::<ThreadParams>(Some("session=a&bogus=1")).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("bogus"), "{}", err.message);
        let err = parse::<ThreadParams>(Some("session=a&session=b")).unwrap_err();
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert!(parse::<NoParams>(Some("x=1")).is_err());
        assert!(parse::<NoParams>(None).is_ok());
    }

    #[test]
    fn the_query_length_is_enforced_at_its_edge() {
        let at = format!("q={}", "a".repeat(MAX_QUERY_BYTES - 2));
        assert!(parse::<SearchParams>(Some(&at)).is_ok());
        let over = format!("q={}", "a".repeat(MAX_QUERY_BYTES - 1));
        let err = parse::<SearchParams>(Some(&over)).unwrap_err();
        assert!(err.message.contains("at most"), "{}", err.message);
    }

    #[test]
    fn percent_encoding_and_plus_decode() {
        let p: SearchParams = parse(Some("q=%E6%95%B0%E6%8D%AE+wal&user=")).unwrap();
        assert_eq!(p.q.as_deref(), Some("数据 wal"));
        assert_eq!(text(p.user.as_ref()), None);
    }

    #[test]
    fn numbers_are_checked_at_both_edges() {
        assert_eq!(number("limit", None, 7, 10).unwrap(), 7);
        assert_eq!(number("limit", Some(&s("")), 7, 10).unwrap(), 7);
        assert_eq!(number("limit", Some(&s("1")), 7, 10).unwrap(), 1);
        assert_eq!(number("limit", Some(&s("10")), 7, 10).unwrap(), 10);
        for bad in ["0", "11", "-1", "x", "1.5", "99999999999999999999999"] {
            let err = number("limit", Some(&s(bad)), 7, 10).unwrap_err();
            assert!(
                err.message.contains("from 1 to 10"),
                "{bad}: {}",
                err.message
            );
        }
    }

    #[test]
    fn flags_and_cursors() {
        assert!(!flag("deleted", None).unwrap());
        assert!(flag("deleted", Some(&s("on"))).unwrap());
        assert!(flag("deleted", Some(&s("TRUE"))).unwrap());
        assert!(!flag("deleted", Some(&s("0"))).unwrap());
        assert!(flag("deleted", Some(&s("maybe"))).is_err());
        assert_eq!(cursor("after", None).unwrap(), None);
        let c = cursor("after", Some(&s("1700000000000000:42")))
            .unwrap()
            .unwrap();
        assert_eq!(c.seq(), 42);
        for bad in ["42", "a:b", "1:", ":1", "99999999999999999999:1"] {
            let err = cursor("after", Some(&s(bad))).unwrap_err();
            assert!(err.message.contains("after"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn required_parameters() {
        assert!(required("session", None).is_err());
        assert!(required("session", Some(&s(""))).is_err());
        assert_eq!(required("session", Some(&s(" a "))).unwrap(), " a ");
    }
}
