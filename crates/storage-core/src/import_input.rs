//! Reading import input one record at a time, never holding more than [`max_record_bytes`]
//! of a record in memory.
//!
//! Two input shapes: JSON Lines (one message per line, [`read_line`]) and the Go plugin's
//! export, one JSON array of message objects (or `null` when it was empty, [`GoArray`]). A
//! record over the cap is skipped to its end without being held and reported as one rejected
//! record; only a Go export's own array syntax (a missing `,`, the input ending inside an
//! element) ends an import, since an array cannot be resynchronised after it.

use std::io::BufRead;

use crate::{Result, StorageError, ValidationLimits};

/// Text fields of a message other than `content` (each at most `max_field_bytes`).
pub(crate) const SHORT_FIELDS: usize = 14;
/// Room for the field names, timestamps, flags and whitespace of one record.
const RECORD_OVERHEAD_BYTES: usize = 64 * 1024;
/// The most bytes JSON can spend on one byte of text (`\u00XX` for a control character).
const JSON_ESCAPE_FACTOR: usize = 6;

/// The import record limit for `limits`: every text field and the metadata at their limits,
/// written with the costliest JSON escapes (6 bytes per byte), plus [`RECORD_OVERHEAD_BYTES`].
/// Any valid message as [`export_jsonl`](crate::export_jsonl) writes it (compact JSON) fits;
/// input padded with whitespace or unusual number spellings can exceed it.
pub(crate) fn max_record_bytes(limits: &ValidationLimits) -> usize {
    limits
        .max_field_bytes
        .saturating_mul(SHORT_FIELDS)
        .saturating_add(limits.max_content_bytes)
        .saturating_add(limits.max_metadata_bytes)
        .saturating_mul(JSON_ESCAPE_FACTOR)
        .saturating_add(RECORD_OVERHEAD_BYTES)
}

/// One line of JSON Lines input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The line (with its newline, if any) is in the caller's buffer.
    Read,
    /// The line was longer than the cap: it was skipped and the buffer is empty.
    TooLong,
}

/// Reads the next line of `input` into `buf` (cleared first), holding at most `cap` bytes of
/// it (its `\n` or `\r\n` not counted); `None` at the end of the input.
pub(crate) fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> Result<Option<Line>> {
    buf.clear();
    let held = cap.saturating_add(2);
    let mut seen = false;
    let mut too_long = false;
    loop {
        let available = input
            .fill_buf()
            .map_err(|e| StorageError::io("import: read line", e))?;
        if available.is_empty() {
            break;
        }
        seen = true;
        let (taken, ends_line) = match available.iter().position(|&b| b == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buf.len() + taken > held {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..taken]);
            }
        }
        input.consume(taken);
        if ends_line {
            break;
        }
    }
    if !too_long && without_terminator(buf).len() > cap {
        too_long = true;
        buf.clear();
    }
    Ok(match (seen, too_long) {
        (false, _) => None,
        (true, false) => Some(Line::Read),
        (true, true) => Some(Line::TooLong),
    })
}

/// `line` without its trailing `\n` or `\r\n`.
fn without_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The elements of a Go export (`[ {...}, {...} ]` or `null`), read one at a time.
pub(crate) struct GoArray<R> {
    input: R,
    cap: usize,
    /// Elements read so far.
    read: u64,
    finished: bool,
}

impl<R: BufRead> GoArray<R> {
    /// Starts reading `input`, positioned at its first non-whitespace byte (`[` or `n`).
    pub(crate) fn open(mut input: R, cap: usize) -> Result<Self> {
        let finished = match next_byte(&mut input)? {
            Some(b'[') => false,
            Some(b'n') => {
                expect_literal(&mut input, b"ull")?;
                true
            }
            _ => return Err(malformed("a Go export starts with `[` or `null`")),
        };
        let mut array = Self {
            input,
            cap,
            read: 0,
            finished,
        };
        if finished {
            array.expect_end_of_input()?;
        }
        Ok(array)
    }

    /// Reads the next element's bytes into `buf` (cleared first, at most `cap` bytes of it
    /// held) and returns its 1-based number, or `None` after the closing `]`.
    ///
    /// An element is found by scanning (strings, escapes and nesting), not by parsing, so an
    /// element that is not an object, is malformed inside or is over the cap is one record
    /// for the caller to reject, and the next one is read as usual. Only the array's own
    /// syntax (a missing `,` or `]`, the input ending inside an element, data after the end)
    /// is an error.
    pub(crate) fn next_element(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u64, Line)>> {
        buf.clear();
        if self.finished {
            return Ok(None);
        }
        let first = skip_whitespace(&mut self.input)?;
        if self.read > 0 {
            match first {
                Some(b',') => self.input.consume(1),
                Some(b']') => return self.finish(),
                _ => return Err(malformed("expected `,` or `]` after an array element")),
            }
        } else if first == Some(b']') {
            return self.finish();
        }
        let number = self.read + 1;
        match skip_whitespace(&mut self.input)? {
            None => {
                return Err(malformed(format!(
                    "the input ends before array element {number}"
                )));
            }
            Some(b',' | b']') => {
                return Err(malformed(format!("array element {number} is missing")));
            }
            Some(_) => {}
        }
        let too_long =
            scan_value(&mut self.input, buf, self.cap).map_err(|e| e.in_element(number))?;
        self.read = number;
        Ok(Some((
            number,
            if too_long { Line::TooLong } else { Line::Read },
        )))
    }

    fn finish(&mut self) -> Result<Option<(u64, Line)>> {
        self.input.consume(1);
        self.finished = true;
        self.expect_end_of_input()?;
        Ok(None)
    }

    fn expect_end_of_input(&mut self) -> Result<()> {
        match skip_whitespace(&mut self.input)? {
            None => Ok(()),
            Some(_) => Err(malformed("data after the end of the Go export")),
        }
    }
}

/// The most whitespace looked at after a leading `[` or `null` to tell a Go export from JSON
/// Lines; input still undecided after it is read as JSON Lines.
const LOOKAHEAD_BYTES: usize = 64 * 1024;

/// Input with the bytes already looked at put back in front (twice: the first bytes checked for
/// a byte order mark, then the lookahead of the shape).
pub(crate) type Replayed<R> =
    std::io::Chain<std::io::Cursor<Vec<u8>>, std::io::Chain<std::io::Cursor<Vec<u8>>, R>>;

/// The UTF-8 byte order mark, skipped at the start of import input.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// How the input starts: whether it is a Go export rather than JSON Lines, how many blank lines
/// came before its first non-whitespace byte (they are consumed; line numbers must count
/// them), and the input again from that byte on (what was looked at is put back).
///
/// A Go export is `[` followed by `{` or `]` (after whitespace), or `null` followed by nothing
/// but whitespace: what the Go plugin writes for a non-empty and an empty export. Any other
/// first line, even one starting with `[` or `n`, is a JSON Lines record (and rejected alone
/// if it is not a message).
pub(crate) fn start_of_input<R: BufRead>(mut input: R) -> Result<(bool, u64, Replayed<R>)> {
    // A UTF-8 byte order mark (editors on Windows write one) is dropped; any other first bytes
    // are put back.
    let mut head = Vec::new();
    take_bytes(&mut input, &mut head, BYTE_ORDER_MARK.len())?;
    if head == BYTE_ORDER_MARK {
        head.clear();
    }
    let mut input = std::io::Read::chain(std::io::Cursor::new(head), input);
    let (first, newlines) = skip_whitespace_counting(&mut input)?;
    let mut seen = Vec::new();
    let go_export = match first {
        Some(b'[') => {
            take_bytes(&mut input, &mut seen, 1)?;
            matches!(take_whitespace(&mut input, &mut seen)?, Some(b'{' | b']'))
        }
        Some(b'n') => {
            take_bytes(&mut input, &mut seen, 4)?;
            seen == b"null" && take_whitespace(&mut input, &mut seen)?.is_none()
        }
        _ => false,
    };
    Ok((
        go_export,
        newlines,
        std::io::Read::chain(std::io::Cursor::new(seen), input),
    ))
}

/// Moves up to `n` bytes of `input` into `seen` (fewer at the end of the input).
fn take_bytes(input: &mut impl BufRead, seen: &mut Vec<u8>, n: usize) -> Result<()> {
    let mut left = n;
    while left > 0 {
        let available = input
            .fill_buf()
            .map_err(|e| StorageError::io("import: read", e))?;
        if available.is_empty() {
            break;
        }
        let taken = left.min(available.len());
        seen.extend_from_slice(&available[..taken]);
        input.consume(taken);
        left -= taken;
    }
    Ok(())
}

/// Moves whitespace from `input` into `seen` (at most [`LOOKAHEAD_BYTES`] in all) and returns
/// the next byte without consuming it: `None` at the end of the input, `Some(b' ')` when the
/// lookahead is exhausted.
fn take_whitespace(input: &mut impl BufRead, seen: &mut Vec<u8>) -> Result<Option<u8>> {
    loop {
        if seen.len() >= LOOKAHEAD_BYTES {
            return Ok(Some(b' '));
        }
        let available = input
            .fill_buf()
            .map_err(|e| StorageError::io("import: read", e))?;
        let Some(&next) = available.first() else {
            return Ok(None);
        };
        if !next.is_ascii_whitespace() {
            return Ok(Some(next));
        }
        seen.push(next);
        input.consume(1);
    }
}

/// Why [`scan_value`] stopped short.
enum ScanError {
    Io(StorageError),
    /// The input ended inside the value.
    Truncated,
}

impl ScanError {
    fn in_element(self, number: u64) -> StorageError {
        match self {
            Self::Io(e) => e,
            Self::Truncated => malformed(format!("the input ends inside array element {number}")),
        }
    }
}

/// Scans one JSON value starting at the next byte, appending its bytes to `buf` while they
/// fit in `cap` (then dropping them and reading on); returns whether it was over the cap.
///
/// Tracks only strings (with escapes) and nesting: a container ends when its nesting returns
/// to zero, a string at its closing quote, any other token before whitespace, `,`, `]` or
/// `}`. Whether the bytes are valid JSON is for the parser to say afterwards.
fn scan_value(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::result::Result<bool, ScanError> {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut started = false;
    let mut too_long = false;
    loop {
        let available = input
            .fill_buf()
            .map_err(|e| ScanError::Io(StorageError::io("import: read", e)))?;
        if available.is_empty() {
            return Err(ScanError::Truncated);
        }
        // `Some(n)`: the value ends after `n` bytes of `available`.
        let mut end = None;
        for (i, &byte) in available.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
                b',' | b'}' | b']' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                byte if byte.is_ascii_whitespace() && depth == 0 && started => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
            started = true;
        }
        let taken = end.unwrap_or(available.len());
        if !too_long {
            if buf.len() + taken > cap {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..taken]);
            }
        }
        input.consume(taken);
        if end.is_some() {
            return Ok(too_long);
        }
    }
}

/// Skips whitespace; returns the next byte without consuming it.
fn skip_whitespace(input: &mut impl BufRead) -> Result<Option<u8>> {
    skip_whitespace_counting(input).map(|(next, _)| next)
}

/// [`skip_whitespace`], also counting the `\n` bytes skipped.
fn skip_whitespace_counting(input: &mut impl BufRead) -> Result<(Option<u8>, u64)> {
    let mut newlines = 0;
    loop {
        let available = input
            .fill_buf()
            .map_err(|e| StorageError::io("import: read", e))?;
        let Some(&first) = available.first() else {
            return Ok((None, newlines));
        };
        if !first.is_ascii_whitespace() {
            return Ok((Some(first), newlines));
        }
        if first == b'\n' {
            newlines += 1;
        }
        input.consume(1);
    }
}

/// Skips whitespace and consumes the next byte.
fn next_byte(input: &mut impl BufRead) -> Result<Option<u8>> {
    let byte = skip_whitespace(input)?;
    if byte.is_some() {
        input.consume(1);
    }
    Ok(byte)
}

fn expect_literal(input: &mut impl BufRead, rest: &[u8]) -> Result<()> {
    let mut buf = vec![0; rest.len()];
    input
        .read_exact(&mut buf)
        .map_err(|_| malformed("a Go export starts with `[` or `null`"))?;
    if buf == rest {
        Ok(())
    } else {
        Err(malformed("a Go export starts with `[` or `null`"))
    }
}

fn malformed(message: impl Into<String>) -> StorageError {
    StorageError::data("import Go export", message)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<std::result::Result<String, ()>> {
        let mut reader = std::io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = read_line(&mut reader, &mut buf, cap).unwrap() {
            out.push(match line {
                Line::Read => Ok(String::from_utf8(buf.clone()).unwrap()),
                Line::TooLong => Err(()),
            });
        }
        out
    }

    #[test]
    fn lines_at_the_cap_are_read_and_one_byte_over_is_skipped() {
        // The terminator does not count: "abcde" fits a cap of 5 with or without it.
        assert_eq!(
            lines(b"abcde\nabcdef\nabcde\r\nxy\nabcde", 5),
            vec![
                Ok("abcde\n".to_owned()),
                Err(()),
                Ok("abcde\r\n".to_owned()),
                Ok("xy\n".to_owned()),
                Ok("abcde".to_owned())
            ]
        );
        assert_eq!(lines(b"", 5), Vec::new());
        assert_eq!(
            lines(b"\n\n", 5),
            vec![Ok("\n".to_owned()), Ok("\n".to_owned())]
        );
    }

    /// Each element's text, or `None` for one over the cap.
    fn elements(input: &str, cap: usize) -> Result<Vec<Option<String>>> {
        let mut array = GoArray::open(std::io::BufReader::with_capacity(3, input.as_bytes()), cap)?;
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some((number, read)) = array.next_element(&mut buf)? {
            assert_eq!(number, out.len() as u64 + 1);
            out.push(match read {
                Line::Read => Some(String::from_utf8(buf.clone()).unwrap()),
                Line::TooLong => None,
            });
        }
        Ok(out)
    }

    #[test]
    fn go_arrays_are_read_element_by_element() {
        let input = " [ {\"ID\":\"a\"} ,\n{\"ID\":\"b}]\\\"\",\"N\":[1,{}]}, 42 ,\"s\",true]\n";
        let got = elements(input, 100).unwrap();
        assert_eq!(
            got,
            [
                Some("{\"ID\":\"a\"}".to_owned()),
                Some("{\"ID\":\"b}]\\\"\",\"N\":[1,{}]}".to_owned()),
                Some("42".to_owned()),
                Some("\"s\"".to_owned()),
                Some("true".to_owned()),
            ]
        );
        let value: Value = serde_json::from_str(got[1].as_deref().unwrap()).unwrap();
        assert_eq!(value["ID"], "b}]\"");
        assert!(elements("[]", 100).unwrap().is_empty());
        assert!(elements(" null \n", 100).unwrap().is_empty());
    }

    #[test]
    fn the_array_syntax_itself_is_a_data_error() {
        for (input, says) in [
            ("[{\"ID\":\"a\"} {\"ID\":\"b\"}]", "expected `,`"),
            ("[{\"ID\":\"a\"},]", "element 2 is missing"),
            ("[{\"ID\":\"a\"}] trailing", "data after"),
            ("nul", "starts with"),
            ("[{\"ID\":", "ends inside array element 1"),
            ("[{\"ID\":\"a\"},", "ends before array element 2"),
        ] {
            let err = elements(input, 100).unwrap_err();
            assert!(matches!(err, StorageError::Data { .. }), "{input}: {err:?}");
            assert!(err.to_string().contains(says), "{input}: {err}");
        }
    }

    #[test]
    fn an_element_over_the_cap_is_skipped_and_the_next_read() {
        let element = "{\"ID\":\"abcdefgh\"}"; // 17 bytes
        let input = format!("[{element},{element}]");
        assert_eq!(elements(&input, 17).unwrap().len(), 2);
        assert_eq!(elements(&input, 17).unwrap()[0].as_deref(), Some(element));
        assert_eq!(elements(&input, 16).unwrap(), [None, None]);
        let mixed = format!("[{element},{{}}]");
        assert_eq!(elements(&mixed, 16).unwrap(), [None, Some("{}".to_owned())]);
    }

    fn shape(input: &str) -> (bool, u64, String) {
        let reader = std::io::BufReader::with_capacity(2, input.as_bytes());
        let (go, blank, mut rest) = start_of_input(reader).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut rest, &mut text).unwrap();
        (go, blank, text)
    }

    #[test]
    fn only_what_the_go_plugin_writes_is_a_go_export() {
        for go in ["[\n  {\"ID\": 1}\n]", "[{}]", " \n[ ]", "null", "null \n\n"] {
            assert!(shape(go).0, "{go:?}");
        }
        for jsonl in [
            "[broken\n{}\n",
            "[\"x\"]\n{}",
            "[",
            "nonsense\n{}",
            "null\n{}\n",
            "nul",
            "n",
            "{}\n[{}]",
        ] {
            assert!(!shape(jsonl).0, "{jsonl:?}");
        }
        // What was looked at is put back, after the counted blank lines.
        assert_eq!(shape("\n\r\n[ \n x\n"), (false, 2, "[ \n x\n".to_owned()));
        assert_eq!(shape("null\n{}"), (false, 0, "null\n{}".to_owned()));
        // A leading byte order mark is skipped.
        assert_eq!(shape("\u{feff}[{}]"), (true, 0, "[{}]".to_owned()));
        // Undecided after the lookahead: JSON Lines.
        let padded = format!("[{}{{}}]", " ".repeat(LOOKAHEAD_BYTES));
        assert!(!shape(&padded).0);
    }

    #[test]
    fn the_record_cap_covers_a_message_at_every_limit() {
        let limits = ValidationLimits::default();
        let cap = max_record_bytes(&limits);
        assert!(cap > 6 * limits.max_content_bytes);
        assert!(cap < 64 * 1024 * 1024);
    }
}
