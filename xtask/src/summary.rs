//! The outcome of each CI step and the summary table printed at the end of `cargo xtask ci`.

use std::fmt::Write as _;

use crate::tally::TestTally;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Every command of the step succeeded.
    Ok,
    /// A command failed, could not be started, or a required tool is missing under `CI=true`.
    Failed,
    /// The step did not run because an optional tool is not installed (outside CI).
    Skipped,
}

impl Status {
    /// The word shown in the summary table.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        }
    }
}

/// One row of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepReport {
    /// Short step name (`fmt`, `clippy`, `test`, `doc`, `deny`).
    pub(crate) name: &'static str,
    /// How the step ended.
    pub(crate) status: Status,
    /// Wall-clock duration of the step.
    pub(crate) seconds: f64,
    /// Why the step was skipped or failed, or what it fell back to; empty when nothing to say.
    pub(crate) note: String,
    /// The tests the step counted, for a step that runs tests.
    pub(crate) tests: Option<TestTally>,
}

/// True when at least one step failed (the process must then exit non-zero).
pub(crate) fn any_failed(reports: &[StepReport]) -> bool {
    reports.iter().any(|r| r.status == Status::Failed)
}

/// Renders the summary table: one row per step, aligned columns, and a totals line.
pub(crate) fn render(reports: &[StepReport]) -> String {
    const STEP: &str = "step";
    const STATUS: &str = "status";
    const SECONDS: &str = "seconds";
    let name_w = reports
        .iter()
        .map(|r| r.name.len())
        .chain([STEP.len()])
        .max()
        .unwrap_or(STEP.len());
    let status_w = reports
        .iter()
        .map(|r| r.status.label().len())
        .chain([STATUS.len()])
        .max()
        .unwrap_or(STATUS.len());
    let seconds: Vec<String> = reports
        .iter()
        .map(|r| format!("{:.1}", r.seconds))
        .collect();
    let secs_w = seconds
        .iter()
        .map(String::len)
        .chain([SECONDS.len()])
        .max()
        .unwrap_or(SECONDS.len());

    let mut out = String::new();
    let mut line = |name: &str, status: &str, secs: &str, note: &str| {
        let row = format!("{name:<name_w$}  {status:<status_w$}  {secs:>secs_w$}  {note}");
        out.push_str(row.trim_end());
        out.push('\n');
    };
    line(STEP, STATUS, SECONDS, "note");
    line(
        &"-".repeat(name_w),
        &"-".repeat(status_w),
        &"-".repeat(secs_w),
        "",
    );
    for (r, secs) in reports.iter().zip(&seconds) {
        line(r.name, r.status.label(), secs, &r.note);
    }
    let count = |s: Status| reports.iter().filter(|r| r.status == s).count();
    // `fold` from +0.0: `Sum` of an empty `f64` iterator is -0.0, which would print "-0.0s".
    let total = reports.iter().fold(0.0, |acc, r| acc + r.seconds);
    let plural = if reports.len() == 1 { "" } else { "s" };
    let _ = writeln!(
        out,
        "{} step{plural}: {} ok, {} failed, {} skipped ({total:.1}s)",
        reports.len(),
        count(Status::Ok),
        count(Status::Failed),
        count(Status::Skipped),
    );
    let tests = reports.iter().filter_map(|r| r.tests).fold(None, |sum, t| {
        let mut sum: TestTally = sum.unwrap_or_default();
        sum += t;
        Some(sum)
    });
    if let Some(tests) = tests {
        // The plain closing line CI reads: "tests: N passed, N failed, N skipped".
        let _ = writeln!(out, "tests: {tests}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Status, StepReport, any_failed, render};

    fn report(name: &'static str, status: Status, seconds: f64, note: &str) -> StepReport {
        StepReport {
            name,
            status,
            seconds,
            note: note.to_owned(),
            tests: None,
        }
    }

    #[test]
    fn renders_aligned_table_with_totals() {
        let reports = [
            report("fmt", Status::Ok, 0.31, ""),
            report("clippy", Status::Failed, 12.1, ""),
            report(
                "deny",
                Status::Skipped,
                0.0,
                "not installed: cargo install cargo-deny --locked",
            ),
        ];
        let expected = "\
step    status   seconds  note
------  -------  -------
fmt     ok           0.3
clippy  FAILED      12.1
deny    skipped      0.0  not installed: cargo install cargo-deny --locked
3 steps: 1 ok, 1 failed, 1 skipped (12.4s)
";
        assert_eq!(render(&reports), expected);
    }

    #[test]
    fn long_durations_widen_the_seconds_column() {
        let out = render(&[report("test", Status::Ok, 12_345.67, "")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "step  status  seconds  note");
        assert_eq!(lines[1], "----  ------  -------");
        assert_eq!(lines[2], "test  ok      12345.7");
        assert_eq!(lines[3], "1 step: 1 ok, 0 failed, 0 skipped (12345.7s)");
    }

    #[test]
    fn empty_report_still_has_header_and_totals() {
        let out = render(&[]);
        assert_eq!(out.lines().count(), 3);
        assert!(out.ends_with("0 steps: 0 ok, 0 failed, 0 skipped (0.0s)\n"));
    }

    #[test]
    fn any_failed_only_counts_failures() {
        assert!(!any_failed(&[]));
        assert!(!any_failed(&[
            report("fmt", Status::Ok, 1.0, ""),
            report("deny", Status::Skipped, 0.0, "")
        ]));
        assert!(any_failed(&[
            report("fmt", Status::Ok, 1.0, ""),
            report("doc", Status::Failed, 2.0, "")
        ]));
    }

    #[test]
    fn labels_match_the_brief() {
        assert_eq!(Status::Ok.label(), "ok");
        assert_eq!(Status::Failed.label(), "FAILED");
        assert_eq!(Status::Skipped.label(), "skipped");
    }

    #[test]
    fn ends_with_the_plain_test_count_line_when_tests_ran() {
        let mut test = report("test", Status::Ok, 3.0, "");
        test.tests = Some(crate::tally::TestTally {
            passed: 512,
            failed: 0,
            skipped: 1,
        });
        let out = render(&[report("fmt", Status::Ok, 0.1, ""), test]);
        assert_eq!(
            out.lines().last(),
            Some("tests: 512 passed, 0 failed, 1 skipped")
        );
        let without = render(&[report("fmt", Status::Ok, 0.1, "")]);
        assert!(!without.contains("tests:"));
    }
}
