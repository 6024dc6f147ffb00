//! Reading import input one record at a time, never holding more than one record in memory
//! and never more than [`max_record_bytes`] of it.
//!
//! Two input shapes: JSON Lines (one message per line, [`read_line`]) and the Go plugin's
//! export, one JSON array of message objects (or `null` when it was empty, [`GoArray`]). A
//! line over the cap is skipped to its end and reported; an array element over the cap ends
//! the import, since an array cannot be resynchronised.

use std::io::{BufRead, Read};

use serde::Deserialize;
use serde_json::Value;

use crate::{Result, StorageError, ValidationLimits};

/// Text fields of a message other than `content` (each at most `max_field_bytes`).
const SHORT_FIELDS: usize = 14;
/// Room for the field names, timestamps, flags and whitespace of one record.
const RECORD_OVERHEAD_BYTES: usize = 64 * 1024;
/// The most bytes JSON can spend on one byte of text (`\u00XX` for a control character).
const JSON_ESCAPE_FACTOR: usize = 6;

/// The largest input record that can hold a message within `limits`: every text field and
/// the metadata at their limits, written with the costliest JSON escapes, plus
/// [`RECORD_OVERHEAD_BYTES`]. A longer record cannot be valid, so it is not read whole.
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

/// Reads the next line of `input` into `buf` (cleared first), reading at most `cap` bytes of
/// it into memory; `None` at the end of the input.
pub(crate) fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> Result<Option<Line>> {
    buf.clear();
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
            if buf.len() + taken > cap {
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
    Ok(match (seen, too_long) {
        (false, _) => None,
        (true, false) => Some(Line::Read),
        (true, true) => Some(Line::TooLong),
    })
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

    /// The next element (1-based number and value), or `None` after the closing `]`.
    ///
    /// Elements must be JSON objects; anything else, bad syntax or an element over the cap
    /// ends the import with [`StorageError::Data`].
    pub(crate) fn next_element(&mut self) -> Result<Option<(u64, Value)>> {
        if self.finished {
            return Ok(None);
        }
        let mut first = skip_whitespace(&mut self.input)?;
        if self.read > 0 {
            match first {
                Some(b',') => {
                    self.input.consume(1);
                    first = skip_whitespace(&mut self.input)?;
                }
                Some(b']') => return self.finish(),
                _ => return Err(malformed("expected `,` or `]` after an array element")),
            }
        } else if first == Some(b']') {
            return self.finish();
        }
        let number = self.read + 1;
        if first != Some(b'{') {
            return Err(malformed(format!(
                "array element {number} is not a JSON object"
            )));
        }
        // An object ends at its `}`, so the parser reads nothing past the element.
        let limit = u64::try_from(self.cap).unwrap_or(u64::MAX);
        let mut limited = (&mut self.input).take(limit);
        let parsed = Value::deserialize(&mut serde_json::Deserializer::from_reader(&mut limited));
        let value = parsed.map_err(|e| {
            if limited.limit() == 0 {
                malformed(format!("array element {number} is over {} bytes", self.cap))
            } else {
                malformed(format!("array element {number}: {e}"))
            }
        })?;
        self.read = number;
        Ok(Some((number, value)))
    }

    fn finish(&mut self) -> Result<Option<(u64, Value)>> {
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

/// Whether the input is a Go export (a JSON array, or the `null` the Go plugin wrote for an
/// empty one) rather than JSON Lines; consumes leading whitespace only.
pub(crate) fn is_go_export(input: &mut impl BufRead) -> Result<bool> {
    Ok(matches!(skip_whitespace(input)?, Some(b'[' | b'n')))
}

/// Skips whitespace; returns the next byte without consuming it.
fn skip_whitespace(input: &mut impl BufRead) -> Result<Option<u8>> {
    loop {
        let available = input
            .fill_buf()
            .map_err(|e| StorageError::io("import: read", e))?;
        let Some(&first) = available.first() else {
            return Ok(None);
        };
        if !first.is_ascii_whitespace() {
            return Ok(Some(first));
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
        // "abcd\n" is 5 bytes with its newline.
        assert_eq!(
            lines(b"abcd\nabcde\nxy", 5),
            vec![Ok("abcd\n".to_owned()), Err(()), Ok("xy".to_owned())]
        );
        assert_eq!(lines(b"", 5), Vec::new());
        assert_eq!(
            lines(b"\n\n", 5),
            vec![Ok("\n".to_owned()), Ok("\n".to_owned())]
        );
    }

    fn elements(input: &str, cap: usize) -> Result<Vec<Value>> {
        let mut array = GoArray::open(std::io::BufReader::with_capacity(3, input.as_bytes()), cap)?;
        let mut out = Vec::new();
        while let Some((number, value)) = array.next_element()? {
            assert_eq!(number, out.len() as u64 + 1);
            out.push(value);
        }
        Ok(out)
    }

    #[test]
    fn go_exports_are_told_from_json_lines_after_whitespace() {
        assert!(is_go_export(&mut &b"  \n[{}]"[..]).unwrap());
        assert!(is_go_export(&mut &b"null"[..]).unwrap());
        assert!(!is_go_export(&mut &b"{\"id\":1}\n"[..]).unwrap());
        assert!(!is_go_export(&mut &b""[..]).unwrap());
    }

    #[test]
    fn go_arrays_are_read_element_by_element() {
        let got = elements(" [ {\"ID\":\"a\"} ,\n{\"ID\":\"b\",\"N\":[1,2]}]\n", 100).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1]["N"][1], 2);
        assert!(elements("[]", 100).unwrap().is_empty());
        assert!(elements(" null \n", 100).unwrap().is_empty());
    }

    #[test]
    fn malformed_go_arrays_are_data_errors() {
        for (input, says) in [
            ("[{\"ID\":\"a\"} {\"ID\":\"b\"}]", "expected `,`"),
            ("[1, 2]", "not a JSON object"),
            ("[{\"ID\":\"a\"}] trailing", "data after"),
            ("nul", "starts with"),
            ("[{\"ID\":", "array element 1"),
        ] {
            let err = elements(input, 100).unwrap_err();
            assert!(matches!(err, StorageError::Data { .. }), "{input}: {err:?}");
            assert!(err.to_string().contains(says), "{input}: {err}");
        }
    }

    #[test]
    fn an_element_over_the_cap_ends_the_import() {
        let element = "{\"ID\":\"abcdefgh\"}"; // 17 bytes
        assert_eq!(elements(&format!("[{element}]"), 17).unwrap().len(), 1);
        let err = elements(&format!("[{element}]"), 16).unwrap_err();
        assert!(err.to_string().contains("over 16 bytes"), "{err}");
    }

    #[test]
    fn the_record_cap_covers_a_message_at_every_limit() {
        let limits = ValidationLimits::default();
        let cap = max_record_bytes(&limits);
        assert!(cap > 6 * limits.max_content_bytes);
        assert!(cap < 64 * 1024 * 1024);
    }
}
