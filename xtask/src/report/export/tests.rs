//! Unit tests of `crate::report::export`.

use std::path::{Path, PathBuf};

use crate::report::export::*;

fn summary() -> Summary {
    Summary {
        workload: "cp1".into(),
        commit: Some("abc\"1".into()),
        verdict: Some("pass".into()),
        metrics: vec![
            Metric {
                name: "latency_p95_ms".into(),
                median: 0.21,
                min: 0.2,
                max: 0.25,
                trials: 5,
            },
            Metric {
                name: "rps".into(),
                median: 61000.0,
                min: 60000.0,
                max: 62000.0,
                trials: 5,
            },
        ],
    }
}

#[test]
fn export_args_pair_up_and_kinds_are_checked() {
    let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let pairs: Vec<(&str, PathBuf)> = a(&["bmf", "a.json", "junit", "g.xml"])
        .unwrap()
        .into_iter()
        .map(|(e, p)| (e.kind(), p))
        .collect();
    assert_eq!(
        pairs,
        [
            ("bmf", PathBuf::from("a.json")),
            ("junit", PathBuf::from("g.xml"))
        ]
    );
    let err = a(&["csv", "x"]).err().unwrap().to_string();
    assert!(
        err.contains("unknown kind \"csv\"") && err.contains("openmetrics"),
        "{err}"
    );
    assert!(a(&["bmf"]).is_err());
}

#[test]
fn one_list_has_every_format_once_and_the_gate_artifacts() {
    let kinds: Vec<&str> = EXPORTERS.iter().map(|e| e.kind()).collect();
    let mut unique = kinds.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), kinds.len(), "{kinds:?}");
    let artifacts: Vec<&str> = EXPORTERS.iter().filter_map(|e| e.gate_artifact()).collect();
    assert_eq!(artifacts, ["log", "json", "md", "junit.xml"]);
}

#[test]
fn a_verdict_format_without_a_gate_is_an_error_and_a_run_format_writes() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Subject {
        run: Some(summary()),
        gate: None,
    };
    let junit = find("junit").unwrap();
    let err = write(junit, &dir.path().join("j.xml"), &subject)
        .err()
        .unwrap();
    assert!(err.to_string().contains("only perf-gate"), "{err}");
    let written = write(
        find("github").unwrap(),
        &dir.path().join("g.json"),
        &subject,
    )
    .unwrap();
    assert_eq!(
        written,
        [dir.path().join("g.json"), dir.path().join("g.bigger.json")]
    );
    assert!(written.iter().all(|f| f.is_file()));
}

#[test]
fn bmf_has_value_and_bounds_per_measure() {
    let v = bmf(&summary());
    let m = &v["router/cp1"]["latency_p95_ms"];
    assert_eq!(m["value"], 0.21);
    assert_eq!(m["lower_value"], 0.2);
    assert_eq!(m["upper_value"], 0.25);
    assert_eq!(v["router/cp1"].as_object().unwrap().len(), 2);
}

#[test]
fn openmetrics_has_type_help_samples_and_eof() {
    let text = openmetrics(&summary());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"));
    assert!(lines.contains(&"# TYPE router_perf_rps gauge"));
    assert!(lines.contains(
        &r#"router_perf_latency_p95_ms{workload="cp1",commit="abc\"1",stat="median"} 0.21"#
    ));
    assert!(
        lines.contains(
            &r#"router_perf_gate_passed{workload="cp1",commit="abc\"1",verdict="pass"} 1"#
        )
    );
    assert_eq!(text.matches("# HELP ").count(), 3);
}

#[test]
fn github_splits_by_direction() {
    let (smaller, bigger) = github(&summary());
    assert_eq!(smaller[0]["name"], "cp1 latency_p95_ms");
    assert_eq!(smaller[0]["unit"], "ms");
    assert_eq!(smaller[0]["range"], "± 0.025");
    assert_eq!(bigger[0]["name"], "cp1 rps");
    assert_eq!(bigger[0]["unit"], "req/s");
    assert_eq!(smaller.as_array().unwrap().len(), 1);
    assert_eq!(
        github_bigger_path(Path::new("out/bench.json")),
        PathBuf::from("out/bench.bigger.json")
    );
}
