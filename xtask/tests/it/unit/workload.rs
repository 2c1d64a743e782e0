//! Unit tests of `xtask::model::workload`.

use std::path::Path;

use xtask::model::workload::*;

const GOOD: &str = r#"{
      "name": "t", "description": "test",
      "warmup": {"duration_ms": 100, "connections": 2},
      "phases": [
        {"name": "seq", "role": "sequential", "model": "closed", "connections": 1, "duration_ms": 100},
        {"name": "conc", "role": "throughput", "model": "closed", "connections": 4, "duration_ms": 100},
        {"name": "lat", "role": "latency", "model": "open", "connections": 2, "duration_ms": 100, "rate": 500}
      ],
      "mix": {"seed": 1, "distinct_bodies": 50, "templates": [
        {"name": "w", "weight": 3, "tenant_id": "acme", "task_type": "chat"},
        {"name": "s", "weight": 1, "tenant_id": "globex", "task_type": "chat", "session_keys": 5,
         "constraints": {"max_cost": 1.0}}
      ]}
    }"#;

#[test]
fn good_workload_parses_and_bodies_are_deterministic() {
    let w = Workload::parse(GOOD).unwrap();
    assert_eq!(w.phases.len(), 3);
    let (a, kinds) = w.generate(|_| true);
    assert_eq!(a, w.generate(|_| true).0);
    assert_eq!(kinds["body_kind"].as_array().unwrap().len(), 50);
    assert_eq!(kinds["kinds"][1]["name"], "s");
    assert_eq!(a.lines().count(), 50);
    for line in a.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["version"], "1");
    }
    assert!(a.contains("session_key") && a.contains("max_cost"));
}

/// Each bad file and the words its error must contain.
#[test]
fn bad_workloads_are_rejected_with_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (r#""name": "t""#, r#""name": """#, "`name`"),
        (
            r#""description": "test","#,
            r#""description": "test", "extra": 1,"#,
            "unknown field `extra`",
        ),
        (
            r#""description": "test","#,
            "",
            "missing field `description`",
        ),
        (r#""rate": 500"#, r#""rate": 0"#, "phases[2].rate"),
        (
            r#""duration_ms": 100, "rate""#,
            r#""duration_ms": 100, "rate_hz""#,
            "unknown field `rate_hz`",
        ),
        (
            r#""model": "open""#,
            r#""model": "closed""#,
            "phases[2].rate",
        ),
        (
            r#""role": "latency", "model": "open", "connections": 2, "duration_ms": 100, "rate": 500"#,
            r#""role": "latency", "model": "closed", "connections": 2, "duration_ms": 100"#,
            "coordinated omission",
        ),
        (
            r#""name": "seq", "role": "sequential", "model": "closed", "connections": 1"#,
            r#""name": "seq", "role": "sequential", "model": "closed", "connections": 3"#,
            "phases[0].connections",
        ),
        (
            r#""name": "conc", "role": "throughput""#,
            r#""name": "conc", "role": "sequential""#,
            "phases[1].role",
        ),
        (
            r#""distinct_bodies": 50"#,
            r#""distinct_bodies": 0"#,
            "mix.distinct_bodies",
        ),
        (r#""weight": 3"#, r#""weight": "3""#, "invalid type"),
        (
            r#""model": "open""#,
            r#""model": "poisson""#,
            "unknown variant `poisson`",
        ),
        (
            r#""connections": 4"#,
            r#""connections": 0"#,
            "phases[1].connections",
        ),
        (
            r#""tenant_id": "acme""#,
            r#""tenant_id": """#,
            "mix.templates[0].tenant_id",
        ),
    ];
    for (from, to, expect) in cases {
        assert!(GOOD.contains(from), "case pattern not in GOOD: {from}");
        let text = GOOD.replacen(from, to, 1);
        let err = format!("{:#}", Workload::parse(&text).unwrap_err());
        assert!(
            err.contains(expect),
            "replacing {from} -> {to}: `{err}` lacks `{expect}`"
        );
    }
}

#[test]
fn failover_needs_nats_and_a_kill_inside_the_latency_phase() {
    let with = |extra: &str| {
        GOOD.replacen(
            r#""description": "test","#,
            &format!(r#""description": "test", {extra}"#),
            1,
        )
    };
    let ok = with(r#""transport": "nats", "failover": {"kill_after_ms": 50},"#);
    let w = Workload::parse(&ok).unwrap();
    assert_eq!(w.failover.map(|f| f.kill_after_ms), Some(50));
    for (extra, expect) in [
        (r#""failover": {"kill_after_ms": 50},"#, "needs"),
        (
            r#""transport": "nats", "failover": {"kill_after_ms": 100},"#,
            "failover.kill_after_ms",
        ),
        (
            r#""transport": "nats", "failover": {"kill_after_ms": 0},"#,
            "failover.kill_after_ms",
        ),
        (
            r#""transport": "nats", "failover": {"kill_after_ms": 50, "at": 1},"#,
            "unknown field `at`",
        ),
    ] {
        let err = format!("{:#}", Workload::parse(&with(extra)).unwrap_err());
        assert!(err.contains(expect), "{extra}: `{err}` lacks `{expect}`");
    }
}

#[test]
fn shipped_workloads_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../perf/workloads");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let w = Workload::load(&path).unwrap();
            assert_eq!(
                Some(w.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            n += 1;
        }
    }
    assert!(n >= 2, "cp1 and quick at least");
}
