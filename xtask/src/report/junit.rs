//! The gate verdict as JUnit XML, the file CI's test report shows: one testcase per rule,
//! plus one per gate-level problem. Built as a `quick-junit` report, which escapes the text,
//! drops what XML cannot carry and keeps the counts in step with the cases.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::gate::evaluate::Status;
use crate::report::profile::{self, Explanation};
use crate::report::verdict::{Record, RowRecord};

/// A row's message: the rule's, with the two values its change is of (JUnit has no
/// columns) and, for a failing CPU rule, the functions that cost more.
fn row_message(row: &RowRecord, explain: Option<&Explanation>) -> String {
    let mut message = row.message.clone();
    if let Some(v) = row.compared_values() {
        message.push_str(&format!("; {v}"));
    }
    if let (Some(e), true) = (explain, row.verdict == Status::Fail)
        && profile::unexplained(&row.metric).is_none()
    {
        message.push('\n');
        message.push_str(&profile::junit_text(e, profile::TOP));
    }
    message
}

/// JUnit XML: one testcase per rule. A failing rule, and an inconclusive rule that blocks
/// (`inconclusive: fail`), is a `<failure>`; an inconclusive rule that does not block and a
/// skipped rule are `<skipped>`; a warning passes with the warning in `<system-out>`.
/// Gate-level problems (benchmark failed, environment mismatch under `fail`, bad inputs) add
/// one testcase each, named `[gate] ...`, only when they occur.
pub fn render(r: &Record) -> String {
    let class = format!("perf-gate.{}", r.workload);
    let case = |name: &str, status: TestCaseStatus| {
        let mut case = TestCase::new(name, status);
        case.set_classname(class.as_str()).set_time(Duration::ZERO);
        case
    };
    // A non-success carries its message twice, as the attribute CI shows in a list and as
    // the text it shows when the case is opened.
    let problem = |kind: NonSuccessKind, ty: Option<&str>, message: &str| {
        let mut status = TestCaseStatus::non_success(kind);
        status.set_message(message).set_description(message);
        if let Some(ty) = ty {
            status.set_type(ty);
        }
        status
    };

    let mut suite = TestSuite::new(class.as_str());
    // The gate's own RFC 3339 text, as in its other artifacts, so the files of one run match.
    suite
        .extra
        .insert("timestamp".into(), r.timestamp.as_str().into());
    suite.add_properties([
        ("baseline", r.inputs.baseline.as_str()),
        ("candidate", r.inputs.candidate.as_str()),
        ("policy", r.inputs.policy.as_str()),
        ("overall", r.overall.as_str()),
    ]);
    for row in &r.rows {
        let message = row_message(row, r.explain.as_ref());
        let status = match row.verdict {
            Status::Inconclusive if row.blocking => {
                problem(NonSuccessKind::Failure, Some("inconclusive"), &message)
            }
            _ if row.blocking => problem(NonSuccessKind::Failure, Some("regression"), &message),
            Status::Inconclusive | Status::Skipped => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(message.as_str());
                status
            }
            _ => TestCaseStatus::success(),
        };
        let mut case = case(&row.metric, status);
        if row.verdict == Status::Warn && !row.blocking {
            case.set_system_out(format!("warning: {message}"));
        }
        suite.add_test_case(case);
    }
    if let Some(b) = &r.bench_failure {
        let status = problem(NonSuccessKind::Error, None, b);
        suite.add_test_case(case("[gate] benchmark run", status));
    }
    // `failures` lists the blocking rows first; what follows them is the environment's.
    let row_failures = r.rows.iter().filter(|row| row.blocking).count();
    for f in r.failures.iter().skip(row_failures) {
        let status = problem(NonSuccessKind::Failure, None, f);
        suite.add_test_case(case("[gate] environment", status));
    }
    if !r.errors.is_empty() {
        let status = problem(NonSuccessKind::Error, None, &r.errors.join("\n"));
        suite.add_test_case(case("[gate] inputs", status));
    }
    suite.set_system_out(r.summary.as_str());

    let mut report = Report::new("perf-gate");
    report.add_test_suite(suite);
    report
        .to_string()
        .expect("a JUnit report held in memory serializes")
}

#[cfg(test)]
mod tests;
