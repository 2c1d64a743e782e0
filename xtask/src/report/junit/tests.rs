//! Unit tests of `crate::report::junit`.

use crate::report::junit::*;
use crate::{gate::evaluate, model::policy, model::run_file};

/// Counts as the attributes of the suite state them, and the whole as XML that parses.
#[test]
fn counts_match_the_cases() {
    let policy = policy::parse_str(
        r#"{"schema_version": 1, "gate": {"require_all_metrics_present": false}, "rules": {
                "rps": {"relative": {"max_pct_decrease": 10}},
                "errors_total": {"absolute": {"equals": 0}},
                "latency_p95_ms": {"relative": {"max_pct_increase": 15}}}}"#,
        "p.json",
    )
    .unwrap();
    let b = run_file::parse_str(
        r#"{"metrics": {"rps": 1000, "errors_total": 0, "latency_p95_ms": 2}}"#,
        "b.json",
    )
    .unwrap();
    let c =
        run_file::parse_str(r#"{"metrics": {"rps": 500, "errors_total": 1}}"#, "c.json").unwrap();
    let mut v = evaluate::evaluate(&b, &c, &policy);
    v.bench_failure = Some("router exited with \u{1b}[31mcode 101\u{1b}[0m".into());
    let x = render(&crate::report::verdict::Record::new(
        &v,
        &crate::report::verdict::tests::ctx(None, "c.json"),
    ));
    assert!(x.starts_with("<?xml"), "{x}");
    assert!(
        x.contains(
            r#"<testsuites name="perf-gate" tests="4" skipped="1" failures="2" errors="1">"#
        ),
        "{x}"
    );
    assert!(
        x.contains(r#"<testsuite name="perf-gate.cp1" tests="4" skipped="1" errors="1" failures="2" timestamp="2026-11-22T08:01:02Z">"#),
        "{x}"
    );
    assert!(x.contains(r#"<property name="overall" value="#), "{x}");
    assert!(x.contains(r#"type="regression""#), "{x}");
    // Terminal colours do not reach the XML.
    assert!(x.contains("router exited with code 101"), "{x}");
    let mut reader = quick_xml::Reader::from_str(&x);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed: {e}\n{x}"),
        }
    }
}

/// A warning passes, with the warning as the case's output.
#[test]
fn a_warning_passes_with_the_warning_as_output() {
    let policy = policy::parse_str(
        r#"{"schema_version": 1, "rules": {
                "latency_p95_ms": {"relative": {"max_pct_increase": 15}, "warn_pct": 5}}}"#,
        "p.json",
    )
    .unwrap();
    let b = run_file::parse_str(r#"{"metrics": {"latency_p95_ms": 2}}"#, "b.json").unwrap();
    let c = run_file::parse_str(r#"{"metrics": {"latency_p95_ms": 2.2}}"#, "c.json").unwrap();
    let v = evaluate::evaluate(&b, &c, &policy);
    let x = render(&crate::report::verdict::Record::new(
        &v,
        &crate::report::verdict::tests::ctx(None, "c.json"),
    ));
    assert!(x.contains(r#"failures="0""#), "{x}");
    assert!(x.contains("<system-out>warning: latency_p95_ms"), "{x}");
}
