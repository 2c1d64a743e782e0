//! Unit tests of `crate::bench::components`. Its private helpers are tested at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::bench::components::*;
use crate::bench::runner::Status;
use crate::model::run_file::{Env, Git};

#[test]
fn bench_output_parses() {
    let text = r#"{"unit":"ns","sample_ms":10,"benchmarks":{
            "decide_weighted":{"samples":[20.5,21.0,19.75],"iterations_per_sample":500000},
            "json_small":{"samples":[300.0],"iterations_per_sample":30000}}}"#;
    let parsed = parse_output(text).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed["decide_weighted"].samples, [20.5, 21.0, 19.75]);
    assert_eq!(parsed["json_small"].iterations_per_sample, 30000);
    assert_eq!(metric_name("json_small"), "component_json_small_ns");
}

#[test]
fn bad_bench_output_names_the_field() {
    for (text, field) in [
        (r#"{"unit":"ms","benchmarks":{}}"#, "`unit`"),
        (r#"{"unit":"ns"}"#, "`benchmarks`"),
        (r#"{"unit":"ns","benchmarks":{}}"#, "no benchmarks"),
        (
            r#"{"unit":"ns","benchmarks":{"a":{"samples":[1,0],"iterations_per_sample":1}}}"#,
            "`benchmarks.a.samples`[1]",
        ),
        (
            r#"{"unit":"ns","benchmarks":{"a":{"samples":[1]}}}"#,
            "`benchmarks.a.iterations_per_sample`",
        ),
        ("not json", "parsing"),
    ] {
        let err = format!("{:#}", parse_output(text).unwrap_err());
        assert!(err.contains(field), "{text}: {err}");
    }
}

#[test]
fn run_file_has_the_run_file_shape() {
    let measured = BTreeMap::from([(
        "policy_lookup".to_string(),
        Benchmark {
            samples: vec![10.0, 30.0, 20.0],
            iterations_per_sample: 7,
        },
    )]);
    let counted = BTreeMap::from([("component_policy_lookup_ir".to_string(), vec![559.0, 561.0])]);
    let run = run_file(
        &measured,
        &counted,
        Some(2000),
        (3, 2),
        &Status::Ok,
        Env::default(),
        Git {
            commit: Some("abc".into()),
            dirty: Some(false),
            reference: None,
        },
        Duration::from_secs(1),
    );
    // What is written reads back the same.
    let run = crate::model::run_file::parse_str(&run.to_json().unwrap(), "doc").unwrap();
    assert_eq!(
        run.metric("component_policy_lookup_ns"),
        crate::model::run_file::MetricValue::Number(20.0)
    );
    assert_eq!(run.run.failure(), None);
    assert_eq!(run.spread["component_policy_lookup_ns"].spread_pct, 100.0);
    // The counts: one value per counting run, their median the metric.
    assert_eq!(
        run.metric("component_policy_lookup_ir"),
        crate::model::run_file::MetricValue::Number(560.0)
    );
    assert_eq!(
        run.components.as_ref().unwrap().count_iterations,
        Some(2000)
    );
    // Fewer samples than asked for: the median is null, so the gate cannot use it.
    let short = run_file(
        &measured,
        &counted,
        Some(2000),
        (5, 3),
        &Status::Failed("x".into()),
        Env::default(),
        Git::default(),
        Duration::ZERO,
    );
    let short: Value = serde_json::from_str(&short.to_json().unwrap()).unwrap();
    assert_eq!(short["metrics"]["component_policy_lookup_ns"], Value::Null);
    assert_eq!(short["metrics"]["component_policy_lookup_ir"], Value::Null);
    assert_eq!(short["run"]["exit_code"], 3);
}

#[test]
fn calibrating_components_is_refused_with_what_to_do_instead() {
    assert!(refuse_calibrate("cp1").is_ok());
    let err = refuse_calibrate(WORKLOAD).unwrap_err().to_string();
    assert!(err.contains("--trials 0"), "{err}");
}

#[test]
fn instructions_per_operation_cancel_what_runs_once() {
    use crate::bench::component_counts::{metric_name, per_op};
    // 21 instructions of loop entry and exit in both runs, 152 per operation.
    assert_eq!(per_op((2000, 304_021), (1000, 152_021)).unwrap(), 152.0);
    // Odd counts: the half run does N / 2 rounded down.
    assert_eq!(per_op((5, 5 * 10 + 7), (2, 2 * 10 + 7)).unwrap(), 10.0);
    assert_eq!(metric_name("json_small"), "component_json_small_ir");
}

#[test]
fn counts_that_cannot_be_right_are_errors() {
    use crate::bench::component_counts::per_op;
    // Fewer (or as many) instructions for more iterations: the loop was not collected.
    let err = per_op((2000, 21), (1000, 21)).unwrap_err().to_string();
    assert!(err.contains("bench_loop"), "{err}");
    assert!(per_op((1000, 9), (1000, 5)).is_err());
}

// The module's private helpers.
use crate::bench::env_info::profile_of;
use crate::bench::paired::executable_from_messages;

#[test]
fn cargo_messages_give_the_bench_executable() {
    let out = r#"{"reason":"compiler-artifact","target":{"name":"router","kind":["lib"]},"executable":null}
{"reason":"compiler-artifact","target":{"name":"components","kind":["bench"]},"executable":"/t/release/deps/components-0a1b"}
{"reason":"build-finished","success":true}"#;
    assert_eq!(
        executable_from_messages(out),
        Some(PathBuf::from("/t/release/deps/components-0a1b"))
    );
    assert_eq!(profile_of(Path::new("/t/release/deps/c")), Some("release"));
    assert_eq!(profile_of(Path::new("/t/debug/deps/c")), Some("debug"));
    assert_eq!(
        profile_of(Path::new("/t/paired/routers/k/router-debug")),
        Some("debug")
    );
    assert_eq!(profile_of(Path::new("/usr/bin/router")), None);
}
