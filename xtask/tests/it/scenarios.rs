//! Scenario workloads (ramp, burst, scaling, mixed, payloads, malformed) in shortened form,
//! on debug builds: each shipped workload file is read, its durations cut to fractions of a
//! second, and run for one trial; its metrics must be there and make sense.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::bench::{artifacts, bench, bench_command, f, root, serial};

/// The shipped workload `name`, shortened by `edit`, written into `dir`.
fn shortened(dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let path = root().join(format!("perf/workloads/{name}.json"));
    let mut w: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    w["warmup"] = serde_json::json!({"duration_ms": 100, "connections": 2});
    w["mix"]["distinct_bodies"] = 256.into();
    // The scenario's own metrics are under test here; counting is tested on its own
    // (counters.rs), and callgrind on a debug router would take most of the time.
    w.as_object_mut().unwrap().remove("counters");
    edit(&mut w);
    let out = dir.join(format!("{name}.json"));
    std::fs::write(&out, w.to_string()).unwrap();
    out
}

/// Runs one trial of the workload at `path` and returns its run file.
fn run(dir: &Path, path: &Path) -> Value {
    checked(dir, &bench(dir, path, &["--trials", "1"]))
}

/// The run file of a perf-bench that exited 0, every metric in it known.
fn checked(dir: &Path, out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let run = artifacts(dir);
    let unknown = super::tidy::unknown_metrics(&run);
    assert!(unknown.is_empty(), "{unknown:?}");
    run
}

fn phase_ms(w: &mut Value, ms: u64) {
    for p in w["phases"].as_array_mut().unwrap() {
        p["duration_ms"] = ms.into();
    }
}

#[test]
fn ramp_steps_up_to_capacity_and_finds_the_knee() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "ramp", |w| {
        let r = &mut w["scenario"]["ramp"];
        r["capacity_ms"] = 300.into();
        r["capacity_connections"] = 4.into();
        r["steps_pct"] = serde_json::json!([20, 60, 100]);
        r["step_ms"] = 300.into();
        r["connections"] = 4.into();
    });
    let run = run(dir.path(), &w);
    assert!(f(&run, "ramp_capacity_rps") > 0.0);
    let success = f(&run, "ramp_min_success_rate");
    assert!((0.0..=1.0).contains(&success), "{success}");
    assert!([20.0, 60.0, 100.0].contains(&f(&run, "ramp_knee_pct")));
    assert!([0.0, 1.0].contains(&f(&run, "ramp_knee_found")));
    let phases = run["phases"][0].as_object().unwrap();
    for step in ["capacity", "step_20pct", "step_60pct", "step_100pct"] {
        assert!(
            phases.contains_key(step),
            "phase {step} missing: {phases:?}"
        );
    }
    // Each step's rate is its share of the measured capacity.
    let capacity = f(&run, "ramp_capacity_rps");
    let target = phases["step_60pct"]["rate_target_rps"].as_f64().unwrap();
    assert!(
        (target - (capacity * 0.6).floor()).abs() <= 1.0,
        "{target} vs {capacity}"
    );
}

#[test]
fn burst_engages_backpressure_and_measures_the_recovery() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "burst", |w| {
        let b = &mut w["scenario"]["burst"];
        b["capacity_ms"] = 300.into();
        b["capacity_connections"] = 8.into();
        b["connections"] = 4.into();
        b["before_ms"] = 500.into();
        b["burst_ms"] = 500.into();
        b["burst_connections"] = 256.into();
        b["burst_factor"] = 4.0.into();
        b["after_ms"] = 2000.into();
        b["window_buckets"] = 2.into();
    });
    // Every decision waits 10 ms in its slot (the router's test delay knob), so how many are
    // in flight is the arrival rate times 10 ms, whatever the machine's speed: the probe
    // reads about 8 connections / 10 ms, the burst sends four times that (about 32 in
    // flight against 16 slots), and the steady phases' 4 connections can hold 4 at most.
    // Without it a debug router's decision is CPU work that finishes before the next one
    // starts, the queue sits in the sockets instead, and whether the bound was hit depended
    // on the machine (a CI runner once saw none).
    let out = bench_command(dir.path(), &w, &["--trials", "1"])
        .env("ROUTER_TEST_DELAY_US", "10000")
        .env("ROUTER_TEST_DELAY_EVERY", "1")
        .output()
        .expect("running xtask");
    let run = checked(dir.path(), &out);
    assert_eq!(run["env"]["router_flags"][0], "--max-inflight=16");
    // 256 connections with large bodies against 16 slots: the bound is hit.
    assert!(f(&run, "burst_backpressure_total") > 0.0);
    assert_eq!(
        f(&run, "burst_backpressure_total"),
        f(&run, "backpressure_active_total"),
        "the steady phases stay under the bound"
    );
    let success = f(&run, "burst_success_rate");
    assert!(success > 0.0 && success <= 1.0, "{success}");
    // Counted from the burst's end: the spike's own drain comes first (up to about a second
    // at four times capacity), then the after phase. Not recovering within it reports the
    // drain plus the whole phase, which the workload's `max` rule then fails.
    let recovery = f(&run, "burst_recovery_ms");
    assert!((0.0..=5000.0).contains(&recovery), "{recovery}");
    if f(&run, "burst_recovered") == 0.0 {
        assert!(recovery >= 2000.0, "{recovery}");
    }
    assert!(f(&run, "burst_p99_before_ms") > 0.0);
}

#[test]
fn scaling_measures_each_connection_count() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "scaling", |w| {
        let s = &mut w["scenario"]["scaling"];
        s["connections"] = serde_json::json!([2, 5]);
        s["closed_ms"] = 300.into();
        s["open_ms"] = 300.into();
    });
    let run = run(dir.path(), &w);
    for c in [2, 5] {
        assert!(f(&run, &format!("scaling_rps_c{c}")) > 0.0);
        let (p50, p99) = (
            f(&run, &format!("scaling_p50_ms_c{c}")),
            f(&run, &format!("scaling_p99_ms_c{c}")),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{p50} {p99}");
    }
    let expected = (f(&run, "scaling_p50_ms_c5") / f(&run, "scaling_p50_ms_c2") - 1.0) * 100.0;
    assert!((f(&run, "scaling_p50_increase_pct") - expected).abs() < 0.5);
    let share = f(&run, "scaling_rps_min_share");
    assert!(share > 0.0 && share <= 1.0);
}

#[test]
fn mixed_reports_latency_per_kind() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "mixed", |w| {
        phase_ms(w, 400);
        // Connections start at different bodies and cycle on: few connections and bodies,
        // so a short phase still sends every kind.
        w["mix"]["distinct_bodies"] = 64.into();
        w["phases"][1]["rate"] = 600.into();
        w["phases"][1]["connections"] = 2.into();
    });
    let run = run(dir.path(), &w);
    for kind in ["weighted", "sticky", "fallback_excluded", "large_body"] {
        let (p50, p99) = (
            f(&run, &format!("mixed_{kind}_p50_ms")),
            f(&run, &format!("mixed_{kind}_p99_ms")),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{kind}: {p50} {p99}");
    }
    assert_eq!(f(&run, "client_errors_total"), 0.0);
    assert_eq!(f(&run, "errors_total"), 0.0);
}

#[test]
fn payloads_count_413_as_expected_rejections() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "payloads", |w| phase_ms(w, 400));
    let run = run(dir.path(), &w);
    assert_eq!(f(&run, "payloads_over_limit_rejected_share"), 1.0);
    assert!(f(&run, "payloads_over_limit_413_total") > 0.0);
    assert!(f(&run, "payloads_near_limit_rps") > 0.0);
    assert!(f(&run, "payloads_near_limit_p99_ms") > 0.0);
    // The 413s are expected: no client-side error, and none of them a connection failure.
    assert_eq!(f(&run, "client_errors_total"), 0.0);
    let throughput = &run["phases"][0]["concurrent"];
    assert!(throughput["expected_rejections"].as_f64().unwrap() > 0.0);
    assert_eq!(throughput["errors"]["io"], 0);
}

#[test]
fn malformed_storm_is_all_4xx_and_the_router_stays_well() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "malformed", |w| {
        phase_ms(w, 400);
        let m = &mut w["scenario"]["malformed"];
        m["after_ms"] = 400.into();
        m["after_rate"] = 300.into();
    });
    let run = run(dir.path(), &w);
    assert_eq!(f(&run, "malformed_rejected_share"), 1.0);
    assert_eq!(f(&run, "malformed_5xx_total"), 0.0);
    assert_eq!(f(&run, "malformed_ready_after"), 1.0);
    assert_eq!(f(&run, "malformed_good_success_after"), 1.0);
    assert!(f(&run, "malformed_good_p99_after_ms") > 0.0);
    assert!(f(&run, "malformed_storm_answered_rps") > 5.0 * f(&run, "rps"));
    // The router counted the rejections as errors of their own codes; the client did not.
    assert!(f(&run, "errors_total") > 0.0);
    assert_eq!(f(&run, "client_errors_total"), 0.0);
    let after = &run["phases"][0]["after"];
    assert_eq!(after["kinds"].as_object().unwrap().len(), 1, "{after}");
}

#[test]
fn a_scenario_that_plans_its_own_steps_refuses_phases() {
    let dir = tempfile::tempdir().unwrap();
    let w = shortened(dir.path(), "ramp", |w| {
        w["phases"] = serde_json::json!([{"name": "x", "role": "throughput", "model": "closed",
            "connections": 1, "duration_ms": 100}]);
    });
    let out = bench(dir.path(), &w, &["--trials", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("field `phases`"), "{stderr}");
}

#[test]
fn a_suite_refuses_the_flags_of_one_workload() {
    for (flags, says) in [
        (
            &["perf-gate", "--suite", "scenarios", "--candidate", "x.json"][..],
            "--candidate",
        ),
        (
            &["perf-gate", "--suite", "all", "--against", "main"][..],
            "--against",
        ),
        (
            &["perf-bench", "--suite", "all", "--workload", "cp1"][..],
            "--workload",
        ),
        (
            &[
                "perf-baseline-bump",
                "--suite",
                "all",
                "--reason",
                "trade-off",
            ][..],
            "--suite",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}
