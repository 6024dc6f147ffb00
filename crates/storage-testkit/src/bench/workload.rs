//! The chat-bench data: sessions, messages and stream chunks, exactly as `BENCHMARK.md`
//! defines them.

use hotplex_storage_core::{ChatAppMessage, MessageType, Metadata, fold};

use super::SplitMix64;

/// The platform of every chat-bench session.
pub const PLATFORM: &str = "slack";

/// W2: how many concurrent streams.
pub const W2_STREAMS: usize = 100;

/// W2: how many chunks each stream sends before completing.
pub const W2_CHUNKS_PER_STREAM: usize = 1_000;

/// Words the content is made of: ASCII and CJK (three bytes per character in UTF-8).
const WORDS: &[&str] = &[
    "storage",
    "消息",
    "agent",
    "会话",
    "token",
    "流式",
    "sqlite",
    "数据库",
    "session",
    "用户",
    "stream",
    "回复",
    "WAL",
    "索引",
    "commit",
    "模型",
    "cursor",
    "时间",
    "the",
    "了",
    "batch",
    "测试",
    "query",
    "飞书",
];

/// `S` sessions of `T` turns; a turn is one user message then one bot response, so the
/// workload has `S × T × 2` messages. The default is `BENCHMARK.md`'s 1,000 × 20.
///
/// Message number `i` counts over the whole run: sessions in order, turns in order within a
/// session, the user message before the bot response. Ids and timestamps are left to the
/// store.
///
/// ```
/// use hotplex_storage_testkit::bench::Workload;
/// let w = Workload::new(2, 3);
/// assert_eq!(w.message_count(), 12);
/// assert_eq!(Workload::session_id(1), "slack:U00001:B0001:C001:TS1");
/// let m = w.message(7); // session 1, turn 0, bot response
/// assert_eq!(m.chat_session_id, Workload::session_id(1));
/// assert_eq!(m.metadata["turn"], 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Workload {
    /// Number of sessions (`S`).
    pub sessions: usize,
    /// Turns per session (`T`).
    pub turns: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            sessions: 1_000,
            turns: 20,
        }
    }
}

impl Workload {
    /// A workload of `sessions` × `turns`.
    pub const fn new(sessions: usize, turns: usize) -> Self {
        Self { sessions, turns }
    }

    /// `S × T × 2`.
    pub const fn message_count(&self) -> usize {
        self.sessions * self.turns * 2
    }

    /// Messages per session: `T × 2`.
    pub const fn messages_per_session(&self) -> usize {
        self.turns * 2
    }

    /// The id of session `s`: `slack:U{s:05}:B0001:C{s%97:03}:TS{s}`.
    pub fn session_id(s: usize) -> String {
        format!("slack:U{s:05}:B0001:C{:03}:TS{s}", s % 97)
    }

    /// The user of session `s`: `U{s:05}`.
    pub fn user_id(s: usize) -> String {
        format!("U{s:05}")
    }

    /// Message number `i` (0-based over the whole run; `i < message_count()`).
    pub fn message(&self, i: usize) -> ChatAppMessage {
        let per_session = self.messages_per_session().max(1);
        let s = i / per_session;
        let turn = (i % per_session) / 2;
        let message_type = if i.is_multiple_of(2) {
            MessageType::USER_INPUT
        } else {
            MessageType::FINAL_RESPONSE
        };
        let mut metadata = Metadata::new();
        metadata.insert("i".into(), i.into());
        metadata.insert("turn".into(), turn.into());
        ChatAppMessage::of_type(Self::session_id(s), message_type, content(i))
            .with_platform(PLATFORM)
            .with_user(Self::user_id(s))
            .with_metadata(metadata)
    }

    /// The messages of session `s`, in order.
    pub fn session_messages(&self, s: usize) -> Vec<ChatAppMessage> {
        let first = s * self.messages_per_session();
        (first..first + self.messages_per_session())
            .map(|i| self.message(i))
            .collect()
    }

    /// Every message of the run, in order.
    pub fn messages(&self) -> impl Iterator<Item = ChatAppMessage> + '_ {
        (0..self.message_count()).map(|i| self.message(i))
    }
}

/// The content length of message `i` in bytes: `40 + (i × 37) mod 1560`.
pub const fn content_len(i: usize) -> usize {
    40 + (i.wrapping_mul(37)) % 1560
}

/// The content of message `i`: space-separated ASCII and CJK words chosen by a PRNG seeded
/// with `i`, exactly [`content_len(i)`](content_len) bytes, never splitting a character.
///
/// Every word of the common vocabulary occurs in nearly every message. Rarer words are mixed
/// in so that searches (W5) have terms of realistic frequency: about one message in
/// [`RARE_WORD_EVERY`] mentions [`RARE_WORD`], about one in [`GREETING_EVERY`] mentions
/// [`GREETING`], and the [`NEEDLE_MESSAGES`] (all among the oldest 10,000) mention
/// [`NEEDLE`]. Each replaces the first common word of the same byte length, so the length and
/// the other messages stay as they were.
pub fn content(i: usize) -> String {
    let text = text_of_len(content_len(i), i as u64);
    match rare_word_of(i) {
        Some(rare) => replace_first_word_of_len(&text, rare),
        None => text,
    }
}

/// A rare ASCII word (six bytes), in about one message in [`RARE_WORD_EVERY`].
pub const RARE_WORD: &str = "vacuum";

/// One message in this many (on average) mentions [`RARE_WORD`].
pub const RARE_WORD_EVERY: u64 = 1_000;

/// A two-character Chinese greeting (six bytes in UTF-8), in about one message in
/// [`GREETING_EVERY`].
pub const GREETING: &str = "你好";

/// One message in this many (on average) mentions [`GREETING`].
pub const GREETING_EVERY: u64 = 50;

/// A word in only [`NEEDLE_MESSAGES`], old ones: what a user looks for months later.
pub const NEEDLE: &str = "zephyr";

/// The messages that mention [`NEEDLE`]: five among the first 10,000, so every W4 database
/// holds exactly five, and a scan newest-first reads every row to find them.
pub const NEEDLE_MESSAGES: [usize; 5] = [1_234, 3_234, 5_234, 7_234, 9_234];

/// Seeds the draw that decides whether a message gets a rare word (independent of its words).
const RARE_SEED: u64 = 0x5EA2_C400_0000_0000;

/// The rare word message `i` mentions, if any.
fn rare_word_of(i: usize) -> Option<&'static str> {
    if NEEDLE_MESSAGES.contains(&i) {
        return Some(NEEDLE);
    }
    let draw = SplitMix64::new(RARE_SEED ^ i as u64).next_u64();
    if draw.is_multiple_of(RARE_WORD_EVERY) {
        Some(RARE_WORD)
    } else if (draw / RARE_WORD_EVERY).is_multiple_of(GREETING_EVERY) {
        Some(GREETING)
    } else {
        None
    }
}

/// `text` with its first word of `word`'s byte length and script (ASCII or not) replaced by
/// `word`; `text` itself when it has no such word.
fn replace_first_word_of_len(text: &str, word: &str) -> String {
    let fits = |w: &str| {
        w.len() == word.len() && w.is_ascii() == word.is_ascii() && !w.bytes().all(|b| b == b'x')
    };
    let mut offset = 0;
    for w in text.split(' ') {
        if fits(w) {
            return format!("{}{word}{}", &text[..offset], &text[offset + w.len()..]);
        }
        offset += w.len() + 1;
    }
    text.to_owned()
}

/// How many of the first `messages` messages contain `term` (folded, as `search` matches).
///
/// ```
/// use hotplex_storage_testkit::bench::{GREETING, messages_containing};
/// let n = messages_containing(GREETING, 0..10_000);
/// assert!((100..400).contains(&n), "about 1 in 50: {n}");
/// ```
pub fn messages_containing(term: &str, messages: std::ops::Range<usize>) -> usize {
    let term = fold(term);
    messages
        .filter(|&i| fold(&content(i)).contains(&term))
        .count()
}

/// Deterministic words of exactly `len` bytes: whole words while they fit, then ASCII filler.
fn text_of_len(len: usize, seed: u64) -> String {
    let mut rng = SplitMix64::new(seed);
    let mut text = String::with_capacity(len);
    loop {
        let word = WORDS[rng.below(WORDS.len())];
        let needed = if text.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if text.len() + needed > len {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    let rest = len - text.len();
    if rest >= 2 && !text.is_empty() {
        text.push(' ');
        text.extend(std::iter::repeat_n('x', rest - 1));
    } else {
        text.extend(std::iter::repeat_n('x', rest));
    }
    text
}

/// The W2 chunks of stream number `stream`: `chunks` pieces of 4 to 16 bytes each (ASCII and
/// CJK, never splitting a character), the same on every run.
///
/// ```
/// use hotplex_storage_testkit::bench::stream_chunks;
/// let chunks = stream_chunks(3, 1_000);
/// assert_eq!(chunks.len(), 1_000);
/// assert!(chunks.iter().all(|c| (4..=16).contains(&c.len())));
/// assert_eq!(chunks, stream_chunks(3, 1_000));
/// ```
pub fn stream_chunks(stream: usize, chunks: usize) -> Vec<String> {
    let mut rng = SplitMix64::new(0x5EED_0000_0000_0000 ^ stream as u64);
    (0..chunks)
        .map(|_| {
            let len = 4 + rng.below(13);
            let mut chunk = String::with_capacity(len);
            while chunk.len() < len {
                let left = len - chunk.len();
                if left >= 3 && rng.below(3) == 0 {
                    chunk.push(['流', '式', '模', '型', '回', '复'][rng.below(6)]);
                } else {
                    let letter = b"abcdefghijklmnopqrstuvwxyz "[rng.below(27)];
                    chunk.push(char::from(letter));
                }
            }
            chunk
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_has_the_exact_byte_length_and_mixes_scripts() {
        for i in [0, 1, 2, 41, 42, 1_000, 39_999, 12_345_678] {
            let c = content(i);
            assert_eq!(c.len(), content_len(i), "message {i}");
            assert_eq!(c, content(i), "deterministic");
        }
        assert_eq!(content_len(0), 40);
        assert_eq!(content_len(1), 77);
        assert_eq!(content_len(43), 40 + (43 * 37 - 1560));
        // Every length from the smallest to the largest is produced exactly.
        for len in 40..1600 {
            assert_eq!(text_of_len(len, len as u64).len(), len);
        }
        let all: String = (0..200).map(content).collect();
        assert!(all.chars().any(|c| c.is_ascii_alphabetic()));
        assert!(all.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
        assert!(content(5).contains(' '), "space-separated words");
    }

    #[test]
    fn rare_words_replace_a_word_of_their_length_at_their_rate() {
        let n = 20_000;
        let rare = messages_containing(RARE_WORD, 0..n);
        let greeting = messages_containing(GREETING, 0..n);
        // Binomial(20,000, 1/1000) and (20,000, ~1/50): far inside these bounds.
        assert!((8..=40).contains(&rare), "{RARE_WORD} in {rare} messages");
        assert!(
            (300..=500).contains(&greeting),
            "{GREETING} in {greeting} messages"
        );
        assert_eq!(
            messages_containing(NEEDLE, 0..20_000),
            NEEDLE_MESSAGES.len()
        );
        for i in NEEDLE_MESSAGES {
            assert!(content(i).split(' ').any(|w| w == NEEDLE), "message {i}");
        }
        let common = messages_containing("STORAGE", 0..2_000);
        assert!(common > 1_800, "storage in {common} of 2,000 messages");
        for i in 0..n {
            let c = content(i);
            assert_eq!(c.len(), content_len(i));
            let mentions = [RARE_WORD, GREETING].map(|w| c.split(' ').filter(|x| *x == w).count());
            match rare_word_of(i) {
                Some(RARE_WORD) => assert!(mentions[0] <= 1 && mentions[1] == 0, "{i}: {c}"),
                // The needle's messages mention neither of the two counted here.
                Some(NEEDLE) | None => assert_eq!(mentions, [0, 0], "{i}"),
                Some(_) => assert!(mentions[0] == 0 && mentions[1] <= 1, "{i}: {c}"),
            }
        }
        assert_eq!(
            replace_first_word_of_len("the 会话 sqlite xxxxxx", RARE_WORD),
            "the 会话 vacuum xxxxxx"
        );
        assert_eq!(
            replace_first_word_of_len("the 会话 sqlite", GREETING),
            "the 你好 sqlite"
        );
        assert_eq!(
            replace_first_word_of_len("the xxxxxx", RARE_WORD),
            "the xxxxxx"
        );
    }

    #[test]
    fn ids_follow_the_benchmark_format() {
        assert_eq!(Workload::session_id(0), "slack:U00000:B0001:C000:TS0");
        assert_eq!(Workload::session_id(98), "slack:U00098:B0001:C001:TS98");
        assert_eq!(Workload::session_id(999), "slack:U00999:B0001:C029:TS999");
        assert_eq!(Workload::user_id(42), "U00042");
        let m = Workload::default().message(999 * 40);
        assert_eq!(m.chat_session_id, "slack:U00999:B0001:C029:TS999");
        assert_eq!(m.chat_user_id, "U00999");
        assert_eq!(m.chat_platform, "slack");
        assert!(
            m.id.is_empty() && m.created_at.is_none(),
            "the store assigns them"
        );
    }

    #[test]
    fn counts_types_and_metadata() {
        let w = Workload::new(7, 3);
        let all: Vec<_> = w.messages().collect();
        assert_eq!(all.len(), 7 * 3 * 2);
        assert_eq!(Workload::default().message_count(), 40_000);
        for (i, m) in all.iter().enumerate() {
            let want = if i % 2 == 0 {
                MessageType::USER_INPUT
            } else {
                MessageType::FINAL_RESPONSE
            };
            assert_eq!(m.message_type, want, "message {i}");
            assert_eq!(m.metadata["i"], i);
            assert_eq!(m.metadata["turn"], (i % 6) / 2);
            assert_eq!(m.metadata.len(), 2);
            assert_eq!(m.chat_session_id, Workload::session_id(i / 6));
            assert_eq!(m.content.len(), content_len(i));
        }
        assert_eq!(w.session_messages(4), all[24..30].to_vec());
    }

    #[test]
    fn chunks_are_4_to_16_bytes_and_deterministic() {
        let mut lengths = std::collections::BTreeSet::new();
        for stream in 0..W2_STREAMS {
            let chunks = stream_chunks(stream, 200);
            assert_eq!(chunks.len(), 200);
            for c in &chunks {
                assert!(
                    (4..=16).contains(&c.len()),
                    "chunk {c:?} is {} bytes",
                    c.len()
                );
                lengths.insert(c.len());
            }
        }
        assert_eq!(lengths.len(), 13, "every length 4..=16 occurs");
        assert_ne!(stream_chunks(0, 50), stream_chunks(1, 50));
        assert_eq!(stream_chunks(9, 50), stream_chunks(9, 50));
        assert!(!stream_chunks(2, 500).concat().is_ascii());
    }
}
