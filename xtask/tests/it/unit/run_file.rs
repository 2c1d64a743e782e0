//! Unit tests of `xtask::model::run_file`.
//! Tests of its private helpers (`quote_non_finite_tokens`) stay in its `#[cfg(test)]` module.

use xtask::model::run_file::*;

#[test]
fn reads_a_full_run_and_ignores_extra_keys() {
    let run = parse_str(
        r#"{ "schema_version": 1, "timestamp": "2026-11-22T08:01:02Z",
                 "git": {"commit": "abc", "dirty": false},
                 "env": {"cpu_model": "X", "cpu_count": 2, "slowdown_knob": true},
                 "workload": "cp1", "trials": 3,
                 "metrics": {"rps": 100.5, "errors_total": 0},
                 "samples": {"rps": [100, 101, 99.5]},
                 "run": {"status": "ok", "exit_code": 0},
                 "paired": {"against": "main"},
                 "something_new": {"x": 1} }"#,
        "run.json",
    )
    .unwrap();
    assert_eq!(run.metric("rps"), MetricValue::Number(100.5));
    assert_eq!(run.metric("nope"), MetricValue::Invalid(Invalid::Missing));
    assert_eq!(
        run.samples["rps"],
        Samples::Values(vec![100.0, 101.0, 99.5])
    );
    assert_eq!(run.paired_against(), Some("main"));
    assert_eq!(run.git.commit.as_deref(), Some("abc"));
    assert!(run.slowdown_knob());
    assert_eq!(run.run.failure(), None);
}

#[test]
fn keeps_bad_values_as_reasons() {
    let run = parse_str(
        r#"{ "metrics": {"a": null, "b": NaN, "c": "fast", "d": "Infinity", "e": -Infinity,
                             "f": [1], "g": "NaN in a string stays a string"},
                 "samples": {"a": [1, NaN, 2], "b": "x", "c": [1, null]} }"#,
        "cand.json",
    )
    .unwrap();
    assert_eq!(run.metric("a"), MetricValue::Invalid(Invalid::Null));
    assert_eq!(
        run.metric("b"),
        MetricValue::Invalid(Invalid::NotFinite("NaN".into()))
    );
    assert!(
        matches!(run.metric("c"), MetricValue::Invalid(Invalid::NotANumber(s)) if s.contains("fast"))
    );
    assert!(matches!(
        run.metric("d"),
        MetricValue::Invalid(Invalid::NotFinite(_))
    ));
    assert!(matches!(
        run.metric("e"),
        MetricValue::Invalid(Invalid::NotFinite(_))
    ));
    assert!(matches!(
        run.metric("f"),
        MetricValue::Invalid(Invalid::NotANumber(_))
    ));
    assert!(matches!(
        run.metric("g"),
        MetricValue::Invalid(Invalid::NotANumber(_))
    ));
    assert!(matches!(&run.samples["a"], Samples::Invalid { field, .. } if field == "samples.a[1]"));
    assert!(matches!(&run.samples["b"], Samples::Invalid { field, .. } if field == "samples.b"));
    assert!(matches!(
        &run.samples["c"],
        Samples::Invalid {
            problem: Invalid::Null,
            ..
        }
    ));
}

#[test]
fn malformed_json_names_the_file() {
    let err = parse_str("{ \"metrics\": ", "perf/x.json").unwrap_err();
    assert!(format!("{err:#}").contains("perf/x.json"), "{err:#}");
    let err = parse_str("[1, 2]", "perf/x.json").unwrap_err();
    assert!(format!("{err:#}").contains("top level"), "{err:#}");
    let err = parse_str(r#"{"metrics": [1]}"#, "perf/x.json").unwrap_err();
    assert!(format!("{err:#}").contains("field `metrics`"), "{err:#}");
}

#[test]
fn failed_runs_say_why() {
    let run = parse_str(
        r#"{"run": {"status": "timeout", "exit_code": 3, "message": "router did not start"}}"#,
        "c.json",
    )
    .unwrap();
    let why = run.run.failure().unwrap();
    assert!(
        why.contains("timeout") && why.contains("router did not start"),
        "{why}"
    );
    let run = parse_str(r#"{"run": {"status": "ok", "exit_code": 1}}"#, "c.json").unwrap();
    assert!(run.run.failure().is_some());
    let run = parse_str(r#"{}"#, "c.json").unwrap();
    assert_eq!(run.run.failure(), None);
}
