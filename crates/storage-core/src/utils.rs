//! Seed-compatible helpers from the Go plugin, fixed to respect UTF-8 and byte limits.

use chrono::{DateTime, Utc};

/// `"{platform}_{user}_{channel}"`, e.g. `build_session_id("slack", "U123", "C456")` is
/// `"slack_U123_C456"` (the Go `BuildSessionID`).
pub fn build_session_id(platform: &str, user_id: &str, channel_id: &str) -> String {
    format!("{platform}_{user_id}_{channel_id}")
}

/// Masks a secret for logs: values of up to 8 characters become `"****"`; longer ones keep
/// their first and last two characters (`"hello world"` → `"he****ld"`). Unlike the Go
/// version it never reveals most of a short secret and never splits a UTF-8 character.
pub fn mask_sensitive_data(data: &str) -> String {
    let chars: Vec<char> = data.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}****{tail}")
}

/// The longest prefix of `s` of at most `max_bytes` bytes that ends on a character boundary.
pub fn floor_char_boundary(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The Go `SanitizeContent`: `content` unchanged when it has at most `max_bytes` bytes,
/// otherwise its first `max_bytes` bytes followed by `"..."` — so `("hello world", 5)` is
/// `"hello..."` and the result may be `max_bytes + 3` bytes long. Two fixes over Go: the cut
/// moves back to a character boundary instead of splitting a UTF-8 character, and NUL
/// characters are removed first (no store accepts them). When the result must fit in
/// `max_bytes`, use [`sanitize_content_within`].
pub fn sanitize_content(content: &str, max_bytes: usize) -> String {
    let cleaned = content.replace('\0', "");
    if cleaned.len() <= max_bytes {
        return cleaned;
    }
    format!("{}...", floor_char_boundary(&cleaned, max_bytes))
}

/// [`sanitize_content`] that never exceeds `max_bytes`: NULs removed, and a cut text keeps
/// `max_bytes - 3` bytes plus `"..."` (`("hello world", 8)` is `"hello..."`; below 3 bytes no
/// `"..."` fits and the text is only cut). Never splits a UTF-8 character.
pub fn sanitize_content_within(content: &str, max_bytes: usize) -> String {
    let cleaned = content.replace('\0', "");
    if cleaned.len() <= max_bytes {
        return cleaned;
    }
    if max_bytes < 3 {
        return floor_char_boundary(&cleaned, max_bytes).to_owned();
    }
    format!("{}...", floor_char_boundary(&cleaned, max_bytes - 3))
}

/// Trims `content` and cuts it to `max_bytes` (200 when 0) bytes plus `"..."` for log lines,
/// on a character boundary.
pub fn truncate_for_log(content: &str, max_bytes: usize) -> String {
    let max_bytes = if max_bytes == 0 { 200 } else { max_bytes };
    let trimmed = content.trim();
    if trimmed.len() <= max_bytes {
        return trimmed.to_owned();
    }
    format!("{}...", floor_char_boundary(trimmed, max_bytes))
}

/// `"2006-01-02 15:04:05"`-style UTC timestamp (the Go `FormatTimestamp`).
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A new random provider session id (UUID string, lowercase, hyphenated).
pub fn generate_provider_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn session_id_and_masking() {
        assert_eq!(build_session_id("slack", "U123", "C456"), "slack_U123_C456");
        assert_eq!(mask_sensitive_data("hello world"), "he****ld");
        assert_eq!(mask_sensitive_data("abcde"), "****");
        assert_eq!(mask_sensitive_data(""), "****");
        assert_eq!(mask_sensitive_data("密码密码密码密码密码"), "密码****密码");
    }

    #[test]
    fn sanitize_keeps_the_go_results_without_splitting_characters() {
        // The Go test's expectations: the first max bytes plus "...".
        assert_eq!(sanitize_content("hello world", 5), "hello...");
        assert_eq!(sanitize_content("hello", 5), "hello"); // at the limit: unchanged
        assert_eq!(sanitize_content("hello!", 5), "hello...");
        assert_eq!(sanitize_content("short", 10), "short");
        assert_eq!(sanitize_content("abc", 0), "...");
        assert_eq!(sanitize_content("a\0b", 10), "ab");
        // Go would cut "你" (3 bytes) after 4 bytes; the cut moves back to its boundary.
        assert_eq!(sanitize_content("你好世界", 4), "你...");
        assert_eq!(sanitize_content("你好世界", 6), "你好...");
        assert_eq!(sanitize_content("你好世界", 2), "...");
    }

    #[test]
    fn sanitize_within_never_exceeds_the_limit_or_splits_characters() {
        assert_eq!(sanitize_content_within("short", 10), "short");
        assert_eq!(sanitize_content_within("a\0b", 10), "ab");
        assert_eq!(sanitize_content_within("hello world", 8), "hello...");
        assert_eq!(sanitize_content_within("hello world", 11), "hello world");
        assert_eq!(sanitize_content_within("hello world", 10), "hello w...");
        let cut = sanitize_content_within("你好世界", 8); // 12 bytes; 5 bytes left for text → "你"
        assert_eq!(cut, "你...");
        assert!(cut.len() <= 8);
        assert_eq!(sanitize_content_within("abcdef", 3), "...");
        assert_eq!(sanitize_content_within("abcdef", 2), "ab");
        assert_eq!(sanitize_content_within("abcdef", 0), "");
    }

    #[test]
    fn truncate_for_log_trims_and_defaults() {
        assert_eq!(truncate_for_log("  hi  ", 10), "hi");
        assert_eq!(truncate_for_log("héllo", 2), "h...");
        assert_eq!(truncate_for_log(&"x".repeat(300), 0).len(), 203);
    }

    #[test]
    fn timestamps_and_ids() {
        let t = Utc.with_ymd_and_hms(2026, 3, 23, 18, 14, 31).unwrap();
        assert_eq!(format_timestamp(t), "2026-03-23 18:14:31");
        let id = generate_provider_session_id();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    }
}
