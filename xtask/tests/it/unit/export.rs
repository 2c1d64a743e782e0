//! Unit tests of `xtask::report::export`.

use std::path::{Path, PathBuf};

use xtask::report::export::*;

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
    assert_eq!(
        a(&["bmf", "a.json", "github", "g.json"]).unwrap(),
        vec![
            (Kind::Bmf, PathBuf::from("a.json")),
            (Kind::Github, PathBuf::from("g.json"))
        ]
    );
    let err = a(&["csv", "x"]).unwrap_err().to_string();
    assert!(err.contains("unknown kind \"csv\""), "{err}");
    assert!(a(&["bmf"]).is_err());
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
