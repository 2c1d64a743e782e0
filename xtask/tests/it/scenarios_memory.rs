//! The soak and connections scenarios in shortened form, on debug builds.

use std::path::Path;

use serde_json::Value;

use super::bench::{artifacts, bench, f, serial};

/// A scenario workload with a small mix: `scenario` and `extra` are spliced in verbatim.
fn workload(dir: &Path, name: &str, scenario: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"{{
      "name": "{name}", "description": "test workload", {extra}
      "warmup": {{"duration_ms": 200, "connections": 2}},
      "scenario": {scenario},
      "mix": {{"seed": 1, "distinct_bodies": 2000, "templates": [
        {{"name": "weighted", "weight": 1, "tenant_id": "acme", "task_type": "chat"}},
        {{"name": "sticky", "weight": 3, "tenant_id": "globex", "task_type": "chat", "session_keys": 100000}}
      ]}}
    }}"#
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run_ok(dir: &Path, workload: &Path) -> Value {
    let out = bench(dir, workload, &["--trials", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let run = artifacts(dir);
    assert_eq!(run["run"]["status"], "ok", "{}", run["run"]);
    let unknown = super::tidy::unknown_metrics(&run);
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(f(&run, "errors_total"), 0.0);
    assert_eq!(f(&run, "client_errors_total"), 0.0);
    assert_eq!(
        run["router_stop"][0]["clean"], true,
        "{}",
        run["router_stop"]
    );
    run
}

/// Three seconds at a low rate, sampled every 250 ms, with a sticky store far smaller than
/// the session keys sent: the slope is a finite, small number and the store stays bounded.
#[test]
fn soak_samples_memory_and_keeps_the_sticky_store_bounded() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = workload(
        dir.path(),
        "soak-test",
        r#"{"soak": {"duration_ms": 3000, "rate": 300, "connections": 2, "sample_ms": 250, "warmup_ms": 500}}"#,
        r#""router_args": ["--sticky-capacity=64"],"#,
    );
    let run = run_ok(dir.path(), &w);
    let slope = f(&run, "soak_rss_slope_mb_per_s");
    // A debug router at 300 req/s grows by well under 5 MB/s whatever it does.
    assert!(slope.is_finite() && slope.abs() < 5.0, "slope {slope}");
    for key in [
        "soak_rss_early_slope_mb_per_s",
        "soak_rss_late_slope_mb_per_s",
    ] {
        assert!(f(&run, key).is_finite(), "{key}");
    }
    let superlinear = f(&run, "soak_rss_superlinear");
    assert!(superlinear == 0.0 || superlinear == 1.0, "{superlinear}");
    // 2000 bodies, three quarters with a session key: far more than the 64 entries held.
    let max = f(&run, "soak_sticky_entries_max");
    let fill = f(&run, "soak_sticky_fill");
    assert!(max > 0.0 && max <= 64.0, "sticky max {max}");
    assert!(fill > 0.5 && fill <= 1.0, "fill {fill}");
    assert!(f(&run, "soak_rate_achieved_rps") > 200.0);
    assert!(f(&run, "soak_latency_p99_ms") > 0.0);

    let memory = &run["phases"][0]["soak"]["memory"];
    let t = memory["t_ms"].as_array().unwrap();
    let rss = memory["rss_mb"].as_array().unwrap();
    let sticky = memory["sticky_entries"].as_array().unwrap();
    // One sample every 250 ms over 3 s, give or take the load generator's start and end.
    assert!((10..=20).contains(&t.len()), "{} samples", t.len());
    assert_eq!(rss.len(), t.len());
    assert_eq!(sticky.len(), t.len());
    assert!(rss.iter().all(|v| v.as_f64().unwrap() > 0.0));
    assert!(memory["fit_samples"].as_u64().unwrap() >= 6, "{memory}");
    assert_eq!(memory["sticky_capacity"], 64.0);
}

/// 50 and then 200 idle connections on a debug router, with a short active phase at each
/// level: every connection opens and stays open, and the per-connection memory is a number.
#[test]
fn connections_holds_idle_connections_and_measures_each_level() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = workload(
        dir.path(),
        "connections-test",
        r#"{"connections": {"idle": [50, 200], "active_connections": 2, "active_rate": 200, "active_ms": 500, "settle_ms": 100}}"#,
        "",
    );
    let run = run_ok(dir.path(), &w);
    for n in [50, 200] {
        assert_eq!(f(&run, &format!("conn_opened_{n}")), f64::from(n));
        assert_eq!(f(&run, &format!("conn_idle_closed_{n}")), 0.0);
        let kb = f(&run, &format!("conn_rss_kb_per_conn_{n}"));
        // RSS moves in pages and may even shrink a little; a connection never costs a MB.
        assert!(kb.is_finite() && kb > -100.0 && kb < 1024.0, "{n}: {kb} KB");
        let p99 = f(&run, &format!("conn_active_p99_ms_{n}"));
        let p50 = f(&run, &format!("conn_active_p50_ms_{n}"));
        assert!(
            0.0 < p50 && p50 <= p99 && p99 < 1000.0,
            "{n}: p50 {p50}, p99 {p99}"
        );
    }
    let idle = &run["phases"][0]["active_200"]["idle"];
    assert_eq!(idle["opened"], 200, "{idle}");
    assert_eq!(idle["closed_by_router"], 0, "{idle}");
    assert!(run["phases"][0]["active_50"]["latency_ms"]["p99"].is_number());
}

/// A workload asking for levels that do not increase is refused before anything runs.
#[test]
fn connections_levels_that_shrink_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let w = workload(
        dir.path(),
        "connections-bad",
        r#"{"connections": {"idle": [200, 50], "active_connections": 2, "active_rate": 200, "active_ms": 500}}"#,
        "",
    );
    let out = bench(dir.path(), &w, &["--trials", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scenario.connections.idle[1]"), "{stderr}");
}
