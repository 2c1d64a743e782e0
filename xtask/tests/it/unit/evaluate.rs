//! Unit tests of `xtask::gate::evaluate`.

use xtask::gate::evaluate::*;
use xtask::model::policy::Policy;
use xtask::model::run_file::RunFile;
use xtask::{model::policy, model::run_file};

const ENV: &str = r#""env": {"rustc": "rustc 1.95.0", "profile": "release",
        "cpu_model": "Test CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux",
        "mem_total_mb": 24000, "slowdown_knob": false, "load": {}, "router_flags": []}"#;

/// A run file: the common parts, then `body`; a key `body` gives replaces the common
/// one (a run file itself may not repeat a key).
fn run(source: &str, body: &str) -> RunFile {
    let common = [
        ("schema_version", "1".to_string()),
        ("timestamp", r#""2026-11-22T08:01:02Z""#.to_string()),
        ("git", r#"{"commit": null, "dirty": false}"#.to_string()),
        ("env", ENV.trim_start_matches(r#""env": "#).to_string()),
        ("workload", r#""cp1""#.to_string()),
        ("trials", "5".to_string()),
        ("run", r#"{"status": "ok", "exit_code": 0}"#.to_string()),
    ];
    let mut text = String::from("{");
    for (key, value) in common {
        if !body.contains(&format!("\"{key}\":")) {
            text.push_str(&format!("\"{key}\": {value}, "));
        }
    }
    text.push_str(body);
    text.push('}');
    run_file::parse_str(&text, source).unwrap_or_else(|e| panic!("{e:#}\n{text}"))
}

/// The default test policy: p95 <= +15% (warn 10), rps >= -10% (warn 5), errors == 0.
/// A policy with `gate` settings; one look unless the case sets `looks`, so that the
/// intervals are at the plain `confidence`.
fn policy_with(gate: &str, extra_rules: &str) -> Policy {
    let gate = if gate.contains("looks") {
        gate.to_string()
    } else if gate.trim().is_empty() {
        r#""looks": 1"#.to_string()
    } else {
        format!(r#"{gate}, "looks": 1"#)
    };
    let text = format!(
        r#"{{"schema_version": 1, "gate": {{ {gate} }}, "rules": {{
                "latency_p95_ms": {{"relative": {{"max_pct_increase": 15}}, "warn_pct": 10}},
                "rps": {{"relative": {{"max_pct_decrease": 10}}, "warn_pct": 5}},
                "errors_total": {{"absolute": {{"equals": 0}}}} {extra_rules} }} }}"#
    );
    policy::parse_str(&text, "policy.json").unwrap_or_else(|e| panic!("{e:#}\n{text}"))
}

const BASE: &str = r#""metrics": {"latency_p95_ms": 0.20, "rps": 1000, "errors_total": 0,
                                       "mem_mb_rss": 8.0, "conn_idle_closed_1000": 0},
        "samples": {"latency_p95_ms": [0.20, 0.199, 0.201, 0.2005, 0.1995],
                    "rps": [1000, 990, 1010, 1005, 995], "errors_total": [0, 0, 0, 0, 0]}"#;

/// A candidate close to `BASE`: passes everything.
const GOOD: &str = r#""metrics": {"latency_p95_ms": 0.202, "rps": 1002, "errors_total": 0,
                                       "mem_mb_rss": 8.1, "conn_idle_closed_1000": 0},
        "samples": {"latency_p95_ms": [0.202, 0.201, 0.203, 0.2025, 0.2015],
                    "rps": [1002, 992, 1012, 1007, 997], "errors_total": [0, 0, 0, 0, 0]}"#;

struct Case {
    name: &'static str,
    gate: &'static str,
    extra_rules: &'static str,
    baseline: String,
    candidate: String,
    outcome: Outcome,
    /// (metric, status) pairs that must hold.
    rows: &'static [(&'static str, Status)],
    /// Texts that must appear somewhere in the verdict (rows, failures, warnings, notes,
    /// errors).
    says: &'static [&'static str],
    /// Number of warnings, when it matters.
    warnings: Option<usize>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            gate: "",
            extra_rules: "",
            baseline: BASE.to_string(),
            candidate: GOOD.to_string(),
            outcome: Outcome::Pass,
            rows: &[],
            says: &[],
            warnings: None,
        }
    }
}

/// `GOOD` with one metric's value and samples replaced (`samples` may be `None` to drop
/// them), as a candidate body.
fn cand(metric: &str, value: &str, samples: Option<&str>) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&format!("{{{GOOD}}}")).expect("GOOD parses");
    let raw_value = format!("__RAW_{metric}__");
    v["metrics"][metric] = serde_json::Value::String(raw_value.clone());
    match samples {
        Some(_) => v["samples"][metric] = serde_json::Value::String(format!("__RAWS_{metric}__")),
        None => {
            v["samples"].as_object_mut().unwrap().remove(metric);
        }
    }
    let text = v.to_string();
    let text = text.replace(&format!("\"{raw_value}\""), value);
    let text = text.replace(&format!("\"__RAWS_{metric}__\""), samples.unwrap_or(""));
    // Strip the outer braces: `run` wraps the body in its own object.
    text[1..text.len() - 1].to_string()
}

fn without_metric(metric: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&format!("{{{GOOD}}}")).unwrap();
    v["metrics"].as_object_mut().unwrap().remove(metric);
    v["samples"].as_object_mut().unwrap().remove(metric);
    let text = v.to_string();
    text[1..text.len() - 1].to_string()
}

fn all_text(v: &Verdict) -> String {
    let mut parts: Vec<String> = v
        .rows
        .iter()
        .map(|r| format!("{} {}", r.metric, r.message))
        .collect();
    parts.extend(v.failures.iter().cloned());
    parts.extend(v.warnings.iter().cloned());
    parts.extend(v.notes.iter().cloned());
    parts.extend(v.errors.iter().cloned());
    parts.extend(v.bench_failure.iter().cloned());
    parts.join("\n")
}

fn cases() -> Vec<Case> {
    vec![
        Case { name: "pass", rows: &[("latency_p95_ms", Status::Pass), ("rps", Status::Pass), ("errors_total", Status::Pass)], warnings: Some(0), ..Case::default() },
        Case {
            name: "relative increase beyond threshold",
            candidate: cand("latency_p95_ms", "0.30", Some("[0.30, 0.29, 0.31, 0.305, 0.295]")),
            outcome: Outcome::Fail,
            rows: &[("latency_p95_ms", Status::Fail), ("rps", Status::Pass)],
            says: &["latency_p95_ms +50.0% [", "beyond +15.0%"],
            ..Case::default()
        },
        Case {
            name: "relative decrease beyond threshold",
            candidate: cand("rps", "766", Some("[766, 760, 770, 768, 762]")),
            outcome: Outcome::Fail,
            rows: &[("rps", Status::Fail)],
            says: &["rps -23.4% [", "beyond -10.0%"],
            ..Case::default()
        },
        Case {
            name: "absolute equals fails on the median",
            candidate: cand("errors_total", "3", Some("[3, 3, 3, 3, 3]")),
            outcome: Outcome::Fail,
            rows: &[("errors_total", Status::Fail)],
            says: &["errors_total = 3, must equal 0"],
            ..Case::default()
        },
        Case {
            name: "absolute fails in one sample only",
            candidate: cand("errors_total", "0", Some("[0, 0, 2, 0, 0]")),
            outcome: Outcome::Fail,
            rows: &[("errors_total", Status::Fail)],
            says: &["was 2 in trial 3 (samples.errors_total[2]), must equal 0"],
            ..Case::default()
        },
        Case {
            name: "absolute max",
            extra_rules: r#", "mem_mb_rss": {"absolute": {"max": 8}}"#,
            outcome: Outcome::Fail,
            rows: &[("mem_mb_rss", Status::Fail)],
            says: &["mem_mb_rss = 8.1, must be <= 8"],
            ..Case::default()
        },
        Case {
            name: "absolute min",
            extra_rules: r#", "mem_mb_rss": {"absolute": {"min": 9}}"#,
            outcome: Outcome::Fail,
            rows: &[("mem_mb_rss", Status::Fail)],
            says: &["must be >= 9"],
            ..Case::default()
        },
        Case {
            name: "absolute min and max hold",
            extra_rules: r#", "mem_mb_rss": {"absolute": {"min": 1, "max": 9}}"#,
            rows: &[("mem_mb_rss", Status::Pass)],
            ..Case::default()
        },
        Case {
            name: "warn tier",
            candidate: cand("latency_p95_ms", "0.224", Some("[0.224, 0.2235, 0.2245, 0.224, 0.2242]")),
            rows: &[("latency_p95_ms", Status::Warn)],
            says: &["past the +10.0% warn tier, within +15.0%"],
            warnings: Some(1),
            ..Case::default()
        },
        Case {
            name: "inconclusive, policy pass",
            gate: r#""inconclusive": "pass""#,
            candidate: cand("latency_p95_ms", "0.23", Some("[0.18, 0.23, 0.26, 0.21, 0.245]")),
            rows: &[("latency_p95_ms", Status::Inconclusive)],
            says: &["straddles +15.0%: inconclusive"],
            ..Case::default()
        },
        Case {
            name: "inconclusive, policy warn",
            gate: r#""inconclusive": "warn""#,
            candidate: cand("latency_p95_ms", "0.23", Some("[0.18, 0.23, 0.26, 0.21, 0.245]")),
            rows: &[("latency_p95_ms", Status::Inconclusive)],
            says: &["inconclusive (gate.inconclusive is \"warn\")"],
            ..Case::default()
        },
        Case {
            name: "inconclusive, policy fail",
            gate: r#""inconclusive": "fail""#,
            candidate: cand("latency_p95_ms", "0.23", Some("[0.18, 0.23, 0.26, 0.21, 0.245]")),
            outcome: Outcome::Fail,
            rows: &[("latency_p95_ms", Status::Inconclusive)],
            says: &["inconclusive (gate.inconclusive is \"fail\")"],
            ..Case::default()
        },
        Case {
            name: "missing metric, required",
            candidate: without_metric("rps"),
            outcome: Outcome::Fail,
            rows: &[("rps", Status::Fail)],
            says: &["rps is missing in the candidate (metrics.rps)"],
            ..Case::default()
        },
        Case {
            name: "missing metric, not required",
            gate: r#""require_all_metrics_present": false"#,
            candidate: without_metric("rps"),
            rows: &[("rps", Status::Skipped)],
            says: &["rule skipped"],
            warnings: Some(1),
            ..Case::default()
        },
        Case {
            name: "null metric",
            gate: r#""require_all_metrics_present": false"#,
            candidate: cand("rps", "null", None),
            outcome: Outcome::Fail,
            rows: &[("rps", Status::Fail)],
            says: &["rps is invalid in the candidate: metrics.rps is null"],
            ..Case::default()
        },
        Case {
            name: "NaN metric",
            candidate: cand("latency_p95_ms", "NaN", None),
            outcome: Outcome::Fail,
            rows: &[("latency_p95_ms", Status::Fail)],
            says: &["metrics.latency_p95_ms is NaN, not a finite number"],
            ..Case::default()
        },
        Case {
            name: "string metric",
            candidate: cand("rps", r#""1002""#, None),
            outcome: Outcome::Fail,
            rows: &[("rps", Status::Fail)],
            says: &["metrics.rps is a string (\"1002\"), not a number"],
            ..Case::default()
        },
        Case {
            name: "NaN in the samples",
            candidate: cand("rps", "1002", Some("[1002, NaN, 1000]")),
            outcome: Outcome::Fail,
            rows: &[("rps", Status::Fail)],
            says: &["samples.rps[1] is NaN"],
            ..Case::default()
        },
        Case {
            name: "zero baseline, zero candidate",
            extra_rules: r#", "conn_idle_closed_1000": {"relative": {"max_pct_increase": 10}}"#,
            rows: &[("conn_idle_closed_1000", Status::Pass)],
            says: &["conn_idle_closed_1000 is 0 in both runs"],
            ..Case::default()
        },
        Case {
            name: "zero baseline, nonzero candidate",
            extra_rules: r#", "conn_idle_closed_1000": {"relative": {"max_pct_increase": 10}}"#,
            candidate: cand("conn_idle_closed_1000", "2", None),
            outcome: Outcome::Fail,
            rows: &[("conn_idle_closed_1000", Status::Fail)],
            says: &["conn_idle_closed_1000 changed from 0 to 2: baseline is 0, relative change undefined"],
            ..Case::default()
        },
        Case {
            name: "few samples: point estimate, within",
            candidate: cand("rps", "960", Some("[960, 961]")),
            rows: &[("rps", Status::Pass)],
            says: &["rps -4.0% (point estimate, 2 samples) within -10.0%"],
            ..Case::default()
        },
        Case {
            // Two samples that contradict the median: the samples decide, not the median.
            name: "few samples that contradict the median",
            candidate: cand("rps", "1000", Some("[500, 400]")),
            outcome: Outcome::Fail,
            rows: &[("rps", Status::Fail)],
            says: &[
                "rps -55.0% (point estimate, 2 samples) beyond -10.0%",
                "differs from the median of its samples",
            ],
            ..Case::default()
        },
        Case {
            name: "no samples: point estimate, beyond",
            extra_rules: r#", "mem_mb_rss": {"relative": {"max_pct_increase": 15}}"#,
            candidate: cand("mem_mb_rss", "9.6", None),
            outcome: Outcome::Fail,
            rows: &[("mem_mb_rss", Status::Fail)],
            says: &["mem_mb_rss +20.0% (point estimate, no samples) beyond +15.0%"],
            ..Case::default()
        },
        Case {
            name: "point estimate exactly at the threshold passes",
            extra_rules: r#", "mem_mb_rss": {"relative": {"max_pct_increase": 15}}"#,
            candidate: cand("mem_mb_rss", "9.2", None),
            rows: &[("mem_mb_rss", Status::Pass)],
            ..Case::default()
        },
        Case {
            name: "paired ratios see through shared drift",
            baseline: r#""metrics": {"latency_p95_ms": 0.2, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.20, 0.26, 0.16, 0.22, 0.18, 0.25, 0.17]}"#.into(),
            candidate: r#""metrics": {"latency_p95_ms": 0.242, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.242, 0.315, 0.194, 0.266, 0.218, 0.303, 0.206]},
                    "paired": {"against": "main"}"#.into(),
            outcome: Outcome::Fail,
            rows: &[("latency_p95_ms", Status::Fail)],
            says: &["(paired) beyond +15.0%"],
            ..Case::default()
        },
        Case {
            name: "the same data unpaired is inconclusive",
            baseline: r#""metrics": {"latency_p95_ms": 0.2, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.20, 0.26, 0.16, 0.22, 0.18, 0.25, 0.17]}"#.into(),
            candidate: r#""metrics": {"latency_p95_ms": 0.242, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.242, 0.315, 0.194, 0.266, 0.218, 0.303, 0.206]}"#.into(),
            rows: &[("latency_p95_ms", Status::Inconclusive)],
            ..Case::default()
        },
        Case {
            name: "paired with unequal counts falls back",
            candidate: format!(r#"{}, "paired": {{"against": "main"}}"#, cand("rps", "1002", Some("[1002, 992, 1012, 1007]"))),
            rows: &[("rps", Status::Pass)],
            says: &["compared as independent runs"],
            ..Case::default()
        },
        Case {
            name: "baseline metric null is an input error",
            baseline: BASE.replace(r#""rps": 1000"#, r#""rps": null"#),
            outcome: Outcome::InputError,
            says: &["baseline.json: field `metrics.rps`: is null"],
            ..Case::default()
        },
        Case {
            name: "baseline metric string is an input error",
            baseline: BASE.replace(r#""rps": 1000"#, r#""rps": "fast""#),
            outcome: Outcome::InputError,
            says: &["baseline.json: field `metrics.rps`: is a string"],
            ..Case::default()
        },
        Case {
            name: "baseline sample NaN is an input error",
            baseline: BASE.replace("[1000, 990", "[NaN, 990"),
            outcome: Outcome::InputError,
            says: &["baseline.json: field `samples.rps[0]`: is NaN"],
            ..Case::default()
        },
        Case {
            name: "rule for a metric the baseline lacks",
            extra_rules: r#", "cpu_ms_per_1k_req": {"relative": {"max_pct_increase": 15}}"#,
            outcome: Outcome::InputError,
            says: &["policy.json: field `rules.cpu_ms_per_1k_req`: the baseline baseline.json has no metric"],
            ..Case::default()
        },
        Case {
            name: "candidate run failed",
            candidate: format!(r#"{}, "run": {{"status": "failed", "exit_code": 3, "message": "router crashed"}}"#, without_metric("rps")),
            outcome: Outcome::BenchFailed,
            rows: &[("rps", Status::Fail)],
            says: &["the benchmark failed: run.status = failed, run.exit_code = 3: router crashed"],
            ..Case::default()
        },
        Case {
            name: "candidate run failed, not required",
            gate: r#""require_bench_exit_code_zero": false"#,
            candidate: format!(r#"{GOOD}, "run": {{"status": "timeout", "exit_code": 3}}"#),
            says: &["gate.require_bench_exit_code_zero is false"],
            warnings: Some(1),
            ..Case::default()
        },
        Case {
            name: "env mismatch, warn",
            gate: r#""env_mismatch": "warn""#,
            candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Other CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux"}}"#),
            // Another CPU model, not paired: each wall-clock rule says it was not decided.
            rows: &[("latency_p95_ms", Status::Inconclusive), ("rps", Status::Inconclusive)],
            says: &[
                r#"env differs from the baseline (baseline -> candidate): cpu_model "Test CPU" -> "Other CPU""#,
                "rps not decided: the baseline was measured on Test CPU and the candidate on Other CPU",
            ],
            warnings: Some(3),
            ..Case::default()
        },
        Case {
            name: "env mismatch, fail",
            gate: r#""env_mismatch": "fail""#,
            candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Test CPU", "cpu_count": 4, "kernel": "6.9.0", "os": "linux"}}"#),
            outcome: Outcome::Fail,
            says: &[r#"cpu_count 2 -> 4, kernel "6.1.0" -> "6.9.0""#, "gate.env_mismatch is \"fail\""],
            ..Case::default()
        },
        Case {
            name: "env mismatch, paired",
            gate: r#""env_mismatch": "paired""#,
            candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.96.0", "profile": "release", "cpu_model": "Test CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux"}}"#),
            says: &["env differs: paired mode needed (baseline -> candidate: rustc"],
            warnings: Some(1),
            ..Case::default()
        },
        Case {
            name: "slowdown knob flagged",
            candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Test CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux", "slowdown_knob": true}}"#),
            says: &["the candidate ran with the slowdown knob on"],
            warnings: Some(1),
            ..Case::default()
        },
        Case {
            name: "every failure is reported",
            candidate: r#""metrics": {"latency_p95_ms": 0.4, "rps": 500, "errors_total": 1}"#.into(),
            outcome: Outcome::Fail,
            rows: &[("latency_p95_ms", Status::Fail), ("rps", Status::Fail), ("errors_total", Status::Fail)],
            says: &["latency_p95_ms +100.0%", "rps -50.0%", "errors_total = 1"],
            ..Case::default()
        },
        Case {
            name: "noisy candidate gets a hint",
            candidate: cand("rps", "1000", Some("[1000, 800, 1200, 900, 1100]")),
            rows: &[("rps", Status::Inconclusive)],
            says: &["rps is noisy in the candidate", "more trials (--trials)"],
            ..Case::default()
        },
    ]
}

#[test]
fn table() {
    let cases = cases();
    assert!(cases.len() >= 25);
    for case in cases {
        let policy = policy_with(case.gate, case.extra_rules);
        let baseline = run("baseline.json", &case.baseline);
        let candidate = run("candidate.json", &case.candidate);
        let v = evaluate(&baseline, &candidate, &policy);
        let text = all_text(&v);
        let ctx = format!("case {:?}:\n{text}\n{v:#?}", case.name);
        assert_eq!(v.outcome, case.outcome, "{ctx}");
        assert_eq!(v.exit_code(), case.outcome.exit_code(), "{ctx}");
        if case.outcome == Outcome::InputError {
            assert!(v.rows.is_empty() && !v.errors.is_empty(), "{ctx}");
        } else {
            assert_eq!(v.rows.len(), policy.rules.len(), "{ctx}");
        }
        for (metric, status) in case.rows {
            let row = v
                .rows
                .iter()
                .find(|r| r.metric == *metric)
                .unwrap_or_else(|| panic!("no row {metric}: {ctx}"));
            assert_eq!(row.status, *status, "{metric}: {ctx}");
        }
        for needle in case.says {
            assert!(text.contains(needle), "{needle:?} missing: {ctx}");
        }
        if let Some(n) = case.warnings {
            assert_eq!(v.warnings.len(), n, "warnings: {ctx}");
        }
        // Blocking rows are exactly the failures they cause.
        let blocking = v.rows.iter().filter(|r| r.blocking).count();
        assert!(v.failures.len() >= blocking, "{ctx}");
        // Deterministic: the same inputs give the same verdict.
        let again = evaluate(&baseline, &candidate, &policy);
        assert_eq!(all_text(&again), text, "{ctx}");
    }
}

#[test]
fn rows_carry_numbers_and_methods() {
    let policy = policy_with("", "");
    let v = evaluate(&run("b.json", BASE), &run("c.json", GOOD), &policy);
    let rps = v.rows.iter().find(|r| r.metric == "rps").unwrap();
    assert_eq!(rps.method, Method::Bootstrap);
    assert_eq!((rps.n_baseline, rps.n_candidate), (5, 5));
    let change = rps.change.unwrap();
    assert!((change.pct - 0.2).abs() < 1e-9, "{change:?}");
    let (lo, hi) = change.ci_pct.unwrap();
    assert!(lo <= change.pct && change.pct <= hi, "{change:?}");
    assert_eq!(rps.severity, Some(Severity::Negligible));
    let errors = v.rows.iter().find(|r| r.metric == "errors_total").unwrap();
    assert_eq!(errors.method, Method::Exact);
    assert_eq!(errors.severity, None);
}

#[test]
fn severity_ladder() {
    assert_eq!(Severity::of(-30.0), Severity::Improvement);
    assert_eq!(Severity::of(-4.9), Severity::Negligible);
    assert_eq!(Severity::of(4.99), Severity::Negligible);
    assert_eq!(Severity::of(5.0), Severity::Low);
    assert_eq!(Severity::of(10.0), Severity::Medium);
    assert_eq!(Severity::of(15.0), Severity::High);
    assert_eq!(Severity::of(20.0), Severity::High);
    assert_eq!(Severity::of(20.1), Severity::Critical);
}

#[test]
fn paired_rerun_is_needed_only_when_envs_differ_under_paired_policy() {
    let other = format!(
        r#"{GOOD}, "env": {{"rustc": "x", "profile": "release", "cpu_model": "Test CPU",
                "cpu_count": 2, "kernel": "6.1.0", "os": "linux"}}"#
    );
    let base = run("b.json", BASE);
    let paired_policy = policy_with(r#""env_mismatch": "paired""#, "");
    let warn_policy = policy_with(r#""env_mismatch": "warn""#, "");
    assert!(needs_paired_rerun(
        &base,
        &run("c.json", &other),
        &paired_policy
    ));
    assert!(!needs_paired_rerun(
        &base,
        &run("c.json", GOOD),
        &paired_policy
    ));
    assert!(!needs_paired_rerun(
        &base,
        &run("c.json", &other),
        &warn_policy
    ));
    let already = format!(r#"{other}, "paired": {{"against": "main"}}"#);
    assert!(!needs_paired_rerun(
        &base,
        &run("c.json", &already),
        &paired_policy
    ));
    let v = evaluate(&base, &run("c.json", &other), &paired_policy);
    assert!(v.needs_paired_rerun);
    assert_eq!(v.env_differences.len(), 1);
    assert_eq!(v.env_differences[0].field, "rustc");
}

#[test]
fn change_formatting() {
    let c = Change {
        pct: 3.06,
        ci_pct: Some((-1.2, 7.44)),
    };
    assert_eq!(c.to_string(), "+3.1% [-1.2%, +7.4%]");
    assert_eq!(fmt_pct(-0.01), "+0.0%");
    assert_eq!(fmt_pct(f64::INFINITY), "+inf%");
}
