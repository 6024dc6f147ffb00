//! [`TestTally`]: how many tests passed, failed and were skipped, read from the closing lines
//! of cargo-nextest (`Summary [..] 514 tests run: 512 passed, 2 failed, 0 skipped`) and libtest
//! (`test result: ok. 7 passed; 0 failed; 3 ignored; ...`).

use std::fmt;

/// Test counts summed over every runner a step used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TestTally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) skipped: u64,
}

impl TestTally {
    /// Sums the closing lines of nextest and libtest found in `output`.
    ///
    /// A libtest line counts only at the start of a line: nextest reprints a failed test's
    /// captured output indented, and that output holds the test binary's own
    /// `test result:` line, which the nextest summary already counts.
    pub(crate) fn from_output(output: &str) -> Self {
        let mut tally = Self::default();
        for line in output.lines() {
            let plain = without_ansi_codes(line);
            let line = plain.as_str();
            if let Some(rest) = line.strip_prefix("test result: ") {
                tally.passed += count_before(rest, " passed");
                tally.failed += count_before(rest, " failed");
                tally.skipped += count_before(rest, " ignored");
            } else if line.trim_start().starts_with("Summary [") && line.contains(" tests run: ") {
                tally.passed += count_before(line, " passed");
                tally.failed += count_before(line, " failed");
                tally.skipped += count_before(line, " skipped");
            }
        }
        tally
    }

    /// True when any test ran.
    pub(crate) fn ran_any(self) -> bool {
        self.passed + self.failed > 0
    }
}

impl std::ops::AddAssign for TestTally {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl fmt::Display for TestTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// `line` without ANSI escape sequences (`ESC [ … letter`), which colored output (for example
/// `CARGO_TERM_COLOR=always`) puts around the words counted here.
fn without_ansi_codes(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip `[`, parameters and the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The number written just before `word` in `text` (`"7 passed"` → 7), or 0.
fn count_before(text: &str, word: &str) -> u64 {
    let Some(end) = text.find(word) else {
        return 0;
    };
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::TestTally;

    #[test]
    fn reads_nextest_and_libtest_closing_lines() {
        let output = "\
     Summary [   6.495s] 514 tests run: 510 passed, 4 failed, 1 skipped
test result: ok. 7 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s
   Doc-tests hotplex_storage_core
test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out
some other line with 99 passed in it";
        let tally = TestTally::from_output(output);
        assert_eq!(
            tally,
            TestTally {
                passed: 519,
                failed: 5,
                skipped: 4
            }
        );
        assert_eq!(tally.to_string(), "519 passed, 5 failed, 4 skipped");
        assert!(tally.ran_any());
    }

    #[test]
    fn a_failed_tests_captured_output_is_not_counted_twice() {
        let output = "\
        FAIL [   0.159s] (445/544) hotplex-storage-sqlite::store opens
  stdout ───

    running 1 test
    test opens ... FAILED

    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 13 filtered out
     Summary [  74.800s] 544 tests run: 543 passed, 1 failed, 0 skipped
test result: ok. 27 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(
            TestTally::from_output(output),
            TestTally {
                passed: 570,
                failed: 1,
                skipped: 0
            }
        );
    }

    #[test]
    fn colored_closing_lines_are_read() {
        let output = "\u{1b}[32;1m     Summary\u{1b}[0m [   5.0s] \u{1b}[1m10\u{1b}[0m tests run: \
                      \u{1b}[1m9\u{1b}[0m \u{1b}[32;1mpassed\u{1b}[0m, \u{1b}[1m1\u{1b}[0m \
                      \u{1b}[31;1mfailed\u{1b}[0m, \u{1b}[1m0\u{1b}[0m skipped";
        assert_eq!(
            TestTally::from_output(output),
            TestTally {
                passed: 9,
                failed: 1,
                skipped: 0
            }
        );
    }

    #[test]
    fn nothing_recognised_is_zero() {
        let tally = TestTally::from_output("Compiling x\nFinished\n");
        assert_eq!(tally, TestTally::default());
        assert!(!tally.ran_any());
        let mut sum = tally;
        sum += TestTally {
            passed: 1,
            failed: 0,
            skipped: 2,
        };
        assert_eq!(sum.to_string(), "1 passed, 0 failed, 2 skipped");
    }
}
