//! Where the search terms occur in a snippet, so the page can mark them.
//!
//! Matching is the store's: each term and the text are [folded](hotplex_storage_core::fold_char)
//! character by character (one character to one), so positions in the folded text are
//! positions in the original and CJK terms match without word boundaries.

use hotplex_storage_core::fold_char;

/// A piece of a snippet: plain text or a match of a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Text between matches.
    Plain(&'a str),
    /// Text where a term occurs (overlapping and adjacent matches merged).
    Match(&'a str),
}

/// `text` split into plain and matching pieces for `terms` (case-insensitive substrings).
pub(crate) fn highlight<'a>(text: &'a str, terms: &[String]) -> Vec<Segment<'a>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let folded: Vec<char> = chars.iter().map(|&(_, c)| fold_char(c)).collect();
    let mut marked = vec![false; chars.len()];
    for term in terms {
        let term: Vec<char> = term.chars().map(fold_char).collect();
        if term.is_empty() || term.len() > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - term.len() {
            if folded[start..start + term.len()] == term[..] {
                marked[start..start + term.len()].fill(true);
            }
        }
    }
    let mut segments = Vec::new();
    let mut run_start = 0;
    for i in 1..=chars.len() {
        if i == chars.len() || marked[i] != marked[run_start] {
            let from = chars[run_start].0;
            let to = chars.get(i).map_or(text.len(), |&(at, _)| at);
            let piece = &text[from..to];
            segments.push(if marked[run_start] {
                Segment::Match(piece)
            } else {
                Segment::Plain(piece)
            });
            run_start = i;
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::Segment::{Match, Plain};
    use super::*;

    fn terms(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn marks_every_occurrence_case_insensitively() {
        assert_eq!(
            highlight("WAL and wal", &terms(&["wal"])),
            [Match("WAL"), Plain(" and "), Match("wal")]
        );
    }

    #[test]
    fn cjk_terms_match_inside_text() {
        assert_eq!(
            highlight("备份数据库很快", &terms(&["数据库"])),
            [Plain("备份"), Match("数据库"), Plain("很快")]
        );
    }

    #[test]
    fn overlapping_and_adjacent_matches_merge() {
        assert_eq!(highlight("aaab", &terms(&["aa", "ab"])), [Match("aaab")]);
        assert_eq!(
            highlight("xΣσy", &terms(&["σ"])),
            [Plain("x"), Match("Σσ"), Plain("y")]
        );
    }

    #[test]
    fn no_match_or_no_text() {
        assert_eq!(highlight("abc", &terms(&["z"])), [Plain("abc")]);
        assert_eq!(highlight("abc", &terms(&[""])), [Plain("abc")]);
        assert!(highlight("", &terms(&["a"])).is_empty());
        assert_eq!(highlight("ab", &terms(&["abc"])), [Plain("ab")]);
    }

    #[test]
    fn hostile_text_stays_text() {
        let text = "<script>alert(1)</script>";
        assert_eq!(
            highlight(text, &terms(&["script"])),
            [
                Plain("<"),
                Match("script"),
                Plain(">alert(1)</"),
                Match("script"),
                Plain(">")
            ]
        );
    }
}
