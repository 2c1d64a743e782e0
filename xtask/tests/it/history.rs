//! The history store, `cargo xtask perf-history` and `--export`, end to end on hand-written
//! run files: perf-gate appends and exports, perf-history reads trends and change points; and
//! hostile stores and flags (issue 16): a line that is not UTF-8, an endless file, a full disk,
//! parameters that would run for days.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../perf/policy_cp1.json");

fn xtask(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CANDIDATE_FILE")
        .env_remove("PERF_HISTORY");
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `perf-gate --candidate` on the CP1 fixture (baseline = candidate), plus `extra` flags.
fn gate(dir: &Path, candidate: &Value, extra: &[&str]) -> Output {
    let base = write(dir, "baseline.json", &crate::support::cp1_run().to_string());
    let policy = write(dir, "policy.json", POLICY);
    let cand = write(dir, "candidate.json", &candidate.to_string());
    xtask(dir)
        .arg("perf-gate")
        .arg("--candidate")
        .arg(cand)
        .arg("--baseline")
        .arg(base)
        .arg("--policy")
        .arg(policy)
        .arg("--artifacts-dir")
        .arg(dir.join("art"))
        .args(extra)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn gate_appends_history_and_writes_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hist = d.join("h/history.jsonl");
    let out = gate(
        d,
        &crate::support::cp1_run(),
        &[
            "--history",
            hist.to_str().unwrap(),
            "--export",
            "bmf",
            "bmf.json",
            "--export",
            "openmetrics",
            "om.txt",
            "--export",
            "github",
            "gh.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<Value> = std::fs::read_to_string(&hist)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let r = &lines[0];
    assert_eq!(r["history_version"], 1);
    assert_eq!(r["commit"], "0123456789abcdef");
    assert_eq!(r["workload"], "cp1");
    assert_eq!(r["source"], "perf-gate");
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["metrics"]["rps"], 61234.5);

    // BMF: {"router/cp1": {"<metric>": {"value", "lower_value", "upper_value"}}}.
    let bmf: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("bmf.json")).unwrap()).unwrap();
    let rps = &bmf["router/cp1"]["rps"];
    assert_eq!(rps["value"], 61234.5);
    assert_eq!(rps["lower_value"], 60110.0);
    assert_eq!(rps["upper_value"], 62001.0);
    for (_, m) in bmf["router/cp1"].as_object().unwrap() {
        for k in ["value", "lower_value", "upper_value"] {
            assert!(m[k].is_f64() || m[k].is_u64(), "{m}");
        }
    }

    // OpenMetrics: TYPE and HELP per family, labelled samples, `# EOF` last.
    let om = std::fs::read_to_string(d.join("om.txt")).unwrap();
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE router_perf_latency_p95_ms gauge\n"),
        "{om}"
    );
    assert!(om.contains("# HELP router_perf_latency_p95_ms "), "{om}");
    assert!(om.contains(
        "router_perf_rps{workload=\"cp1\",commit=\"0123456789abcdef\",stat=\"median\"} 61234.5\n"
    ));
    assert!(om.contains(
        "router_perf_gate_passed{workload=\"cp1\",commit=\"0123456789abcdef\",verdict=\"pass\"} 1\n"
    ));
    for line in om.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(
            series.starts_with("router_perf_") && series.ends_with('}'),
            "{line}"
        );
        value.parse::<f64>().unwrap();
    }

    // github-action-benchmark: two arrays of {name, unit, value, range, extra}.
    let smaller: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("gh.json")).unwrap()).unwrap();
    let bigger: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("gh.bigger.json")).unwrap()).unwrap();
    for entry in smaller
        .as_array()
        .unwrap()
        .iter()
        .chain(bigger.as_array().unwrap())
    {
        assert!(
            entry["name"].is_string() && entry["unit"].is_string(),
            "{entry}"
        );
        assert!(entry["value"].is_number(), "{entry}");
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&bigger), vec!["cp1 rps"]);
    assert!(names(&smaller).contains(&"cp1 latency_p95_ms".to_string()));
}

#[test]
fn history_env_var_appends_and_a_bad_export_kind_fails_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hist = d.join("env_history.jsonl");
    let base = write(d, "baseline.json", &crate::support::cp1_run().to_string());
    let policy = write(d, "policy.json", POLICY);
    let out = xtask(d)
        .env("PERF_HISTORY", &hist)
        .args(["perf-gate", "--candidate"])
        .arg(&base)
        .arg("--baseline")
        .arg(&base)
        .arg("--policy")
        .arg(&policy)
        .arg("--artifacts-dir")
        .arg(d.join("art"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&hist).unwrap().lines().count(), 1);

    let artifacts = std::fs::read_dir(d.join("art")).unwrap().count();
    let out = gate(d, &crate::support::cp1_run(), &["--export", "csv", "x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown kind \"csv\""),
        "{}",
        text(&out.stderr)
    );
    // It failed before judging anything: no new gate artifacts, no history line.
    assert_eq!(std::fs::read_dir(d.join("art")).unwrap().count(), artifacts);
    assert_eq!(std::fs::read_to_string(&hist).unwrap().lines().count(), 1);
    assert!(!d.join("x.csv").exists());
}

/// A history line as perf-gate writes it.
fn record(i: usize, p95: f64, rps: f64) -> String {
    json!({
        "history_version": 1,
        "timestamp": format!("2026-11-{:02}T08:00:00Z", 1 + i % 28),
        "commit": format!("c{i:03}aaaaaaaaaaaa"),
        "dirty": false,
        "workload": "cp1",
        "env_fingerprint": "8ddec936a9e1fe47",
        "source": "perf-gate",
        "status": "ok",
        "verdict": "pass",
        "metrics": {"latency_p95_ms": p95, "rps": rps}
    })
    .to_string()
}

#[test]
fn perf_history_prints_sparklines_and_the_commit_where_a_metric_moved() {
    let dir = tempfile::tempdir().unwrap();
    // p95 steps up 25% at run 20 (index 20, commit c020); rps stays flat. Noise is a fixed,
    // small zig-zag so the test does not depend on random numbers.
    let mut body = String::new();
    for i in 0..40 {
        let wiggle = [0.0, 0.02, -0.015, 0.01, -0.02][i % 5];
        let p95 = if i < 20 { 0.2 } else { 0.25 } * (1.0 + wiggle);
        body.push_str(&record(i, p95, 60000.0 * (1.0 - wiggle)));
        body.push('\n');
    }
    let hist = write(dir.path(), "history.jsonl", &body);
    let out = xtask(dir.path())
        .arg("perf-history")
        .arg("--history")
        .arg(&hist)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("workload cp1: 40 run(s)"), "{stdout}");
    let p95_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("latency_p95_ms"))
        .unwrap();
    assert!(
        p95_line.contains('▁') && p95_line.contains('█'),
        "{p95_line}"
    );
    assert!(
        stdout.contains("change point at run 21 (c020aaaaaa"),
        "{stdout}"
    );
    assert!(stdout.contains("+25.0%"), "{stdout}");
    // Only one change point in the whole output: the flat rps has none.
    assert_eq!(stdout.matches("change point").count(), 1, "{stdout}");

    // --metric filters.
    let out = xtask(dir.path())
        .arg("perf-history")
        .arg("--history")
        .arg(&hist)
        .args(["--metric", "rps"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("latency_p95_ms"), "{stdout}");
    assert!(stdout.contains("rps"), "{stdout}");
}

#[test]
fn perf_history_reports_drift_and_a_torn_line_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    // +3% every third run: no single step stands out, together they are +45%.
    let mut body = String::new();
    for i in 0..45 {
        let wiggle = [0.0, 0.02, -0.015, 0.01, -0.02][i % 5];
        let p95 = 0.2 * 1.03f64.powi((i / 3) as i32) * (1.0 + wiggle);
        body.push_str(&record(i, p95, 60000.0));
        body.push('\n');
    }
    body.push_str(r#"{"history_version":1,"timest"#);
    let hist = write(dir.path(), "history.jsonl", &body);
    let out = xtask(dir.path())
        .arg("perf-history")
        .arg("--history")
        .arg(&hist)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("history.jsonl:46: torn last line"),
        "{stderr}"
    );
    let drift: Vec<&str> = stdout.lines().filter(|l| l.contains("drift:")).collect();
    assert_eq!(drift.len(), 1, "{stdout}");
    assert!(drift[0].contains("over the series"), "{stdout}");
}

/// `runs` history lines whose p95 steps up 25% at index `shift` (rps stays flat), with the
/// same fixed zig-zag noise as above.
fn level_shift(runs: usize, shift: usize) -> String {
    let mut body = String::new();
    for i in 0..runs {
        let wiggle = [0.0, 0.02, -0.015, 0.01, -0.02][i % 5];
        let p95 = if i < shift { 0.2 } else { 0.25 } * (1.0 + wiggle);
        body.push_str(&record(i, p95, 60000.0 * (1.0 - wiggle)));
        body.push('\n');
    }
    body
}

/// perf-history on `hist` with `extra` flags.
fn history_cmd(dir: &Path, hist: &Path, extra: &[&str]) -> Output {
    xtask(dir)
        .arg("perf-history")
        .arg("--history")
        .arg(hist)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn fail_on_change_point_exits_one_on_a_recent_shift_and_zero_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    // 30 runs, p95 up 25% from index 23 (run 24): the newest 7 runs, inside the newest
    // 2 * min_segment = 10.
    let hist = write(dir.path(), "history.jsonl", &level_shift(30, 23));

    let out = history_cmd(dir.path(), &hist, &["--fail-on-change-point"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let findings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("perf-history: recent change point in "))
        .collect();
    assert_eq!(findings.len(), 1, "{stdout}");
    // +24.8%, not 25: the segments' means hold different mixes of the zig-zag.
    assert_eq!(
        findings[0],
        "perf-history: recent change point in cp1 latency_p95_ms at run 24 (c023aaaaaa): +24.8%",
        "{stdout}"
    );
    assert!(
        stdout.contains("perf-history: exit 1 (--fail-on-change-point): 1 recent change point"),
        "{stdout}"
    );
    // The trend report is printed as without the flag.
    assert!(stdout.contains("workload cp1: 30 run(s)"), "{stdout}");

    // Advisory without the flag: the same change point, exit 0, no verdict lines.
    let out = history_cmd(dir.path(), &hist, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("change point at run 24"), "{stdout}");
    assert!(!stdout.contains("perf-history:"), "{stdout}");

    // Only metrics shown count: with --metric rps the shifted p95 is not looked at.
    let out = history_cmd(
        dir.path(),
        &hist,
        &["--fail-on-change-point", "--metric", "rps"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn fail_on_change_point_ignores_an_old_settled_shift() {
    let dir = tempfile::tempdir().unwrap();
    // 40 runs, the shift at index 20: 20 runs ago, well before the newest 10.
    let hist = write(dir.path(), "history.jsonl", &level_shift(40, 20));
    let out = history_cmd(dir.path(), &hist, &["--fail-on-change-point"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // It is still reported, only not failed on.
    assert!(stdout.contains("change point at run 21"), "{stdout}");
    assert!(!stdout.contains("recent change point"), "{stdout}");
}

#[test]
fn perf_history_bad_input_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let out = xtask(dir.path())
        .arg("perf-history")
        .arg("--history")
        .arg(dir.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("missing.jsonl") && stderr.contains("--history"),
        "{stderr}"
    );

    let hist = write(dir.path(), "h.jsonl", &format!("{}\n", record(0, 0.2, 1.0)));
    let out = xtask(dir.path())
        .arg("perf-history")
        .arg("--history")
        .arg(&hist)
        .args(["--alpha", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--alpha"));
}

#[test]
fn perf_bench_records_even_a_failed_run() {
    // A router that exits at once: the bench fails in milliseconds, and its record says so.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let workload = concat!(env!("CARGO_MANIFEST_DIR"), "/../perf/workloads/quick.json");
    let hist = d.join("history.jsonl");
    let out = xtask(d)
        .args(["perf-bench", "--no-build", "--trials", "1", "--no-warmup"])
        .args(["--router-bin", "/bin/false", "--loadgen-bin", "/bin/false"])
        .args(["--workload", workload])
        .arg("--artifacts-dir")
        .arg(d.join("art"))
        .arg("--history")
        .arg(&hist)
        .args(["--export", "bmf"])
        .arg(d.join("bmf.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let line: Value =
        serde_json::from_str(std::fs::read_to_string(&hist).unwrap().trim_end()).unwrap();
    assert_eq!(line["source"], "perf-bench");
    assert_eq!(line["status"], "failed");
    assert_eq!(line["workload"], "quick");
    assert!(line.get("verdict").is_none(), "{line}");
    let bmf: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("bmf.json")).unwrap()).unwrap();
    assert_eq!(bmf, json!({"router/quick": {}}));
}

/// `perf-report` of the CP1 fixture against itself, reading the history `history`.
fn report_with_history(dir: &Path, history: &str) -> Output {
    let base = write(dir, "run.json", &crate::support::cp1_run().to_string());
    let policy = write(dir, "policy.json", POLICY);
    let (base, policy) = (base.to_str().unwrap(), policy.to_str().unwrap());
    let art = dir.join("art");
    let args = [
        "perf-report",
        "--candidate",
        base,
        "--baseline",
        base,
        "--policy",
        policy,
        "--history",
        history,
        "--artifacts-dir",
        art.to_str().unwrap(),
    ];
    bounded(dir, &args, 60).0
}

/// Runs xtask with `args` in `dir` under a 2 GiB address-space limit (an endless read fails
/// instead of filling the machine's memory), killed after `secs` seconds: a hang or a
/// runaway fails the test rather than stalling it. Returns the output and the time taken.
fn bounded(dir: &Path, args: &[&str], secs: u64) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v 2097152 && exec "$@""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env_remove("PERF_HISTORY")
        .env_remove("CANDIDATE_FILE")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("stdout")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "xtask {args:?} still ran after {secs} s; stderr:\n{}",
                std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: std::fs::read(dir.join("stdout")).unwrap(),
        stderr: std::fs::read(dir.join("stderr")).unwrap(),
    };
    (out, start.elapsed())
}

#[test]
fn a_line_that_is_not_utf8_is_a_warning_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = Vec::new();
    for i in 0..10 {
        if i == 3 {
            body.extend_from_slice(b"{\"history_version\":1,\"commit\":\"\xff\xfe\"}\n");
        } else {
            body.extend_from_slice(record(i, 0.2, 60000.0).as_bytes());
            body.push(b'\n');
        }
    }
    let hist = dir.path().join("history.jsonl");
    std::fs::write(&hist, &body).unwrap();
    let (out, _) = bounded(
        dir.path(),
        &["perf-history", "--history", hist.to_str().unwrap()],
        60,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("history.jsonl:4: not UTF-8 (invalid byte at column 32)"),
        "{stderr}"
    );
    assert!(stdout.contains("workload cp1: 9 run(s)"), "{stdout}");

    // The report reads the store the same way.
    let out = report_with_history(dir.path(), hist.to_str().unwrap());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("history.jsonl:4: not UTF-8"), "{stderr}");
}

#[test]
fn an_endless_history_fails_fast_naming_the_file_and_the_limit() {
    // /dev/full reads as endless zeros.
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = bounded(dir.path(), &["perf-history", "--history", "/dev/full"], 60);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/dev/full is larger than the history store's limit of 64 MiB"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let out = report_with_history(dir.path(), "/dev/full");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("/dev/full is larger than"), "{stderr}");
}

#[test]
fn absurd_parameters_are_refused_naming_the_flag_and_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let hist = write(dir.path(), "h.jsonl", &format!("{}\n", record(0, 0.2, 1.0)));
    let hist = hist.to_str().unwrap();
    for (flag, value, expected) in [
        (
            "--permutations",
            "4000000000",
            "--permutations: expected 1 to 100000, got 4000000000",
        ),
        (
            "--permutations",
            "0",
            "--permutations: expected 1 to 100000, got 0",
        ),
        (
            "--min-segment",
            "1",
            "--min-segment: expected 2 to 10000 runs, got 1",
        ),
        (
            "--min-segment",
            "18446744073709551615",
            "--min-segment: expected 2 to 10000 runs",
        ),
        (
            "--width",
            "0",
            "--width: expected 1 to 10000 characters, got 0",
        ),
        (
            "--width",
            "1000000000",
            "--width: expected 1 to 10000 characters",
        ),
        (
            "--alpha",
            "NaN",
            "--alpha: expected a level between 0 and 1",
        ),
        (
            "--alpha",
            "inf",
            "--alpha: expected a level between 0 and 1",
        ),
        ("--alpha", "0", "--alpha: expected a level between 0 and 1"),
    ] {
        let (out, took) = bounded(
            dir.path(),
            &["perf-history", "--history", hist, flag, value],
            30,
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
        assert!(
            took < Duration::from_secs(10),
            "{flag} {value}: took {took:?}"
        );
    }
    // The largest allowed value still answers.
    let (out, _) = bounded(
        dir.path(),
        &[
            "perf-history",
            "--history",
            hist,
            "--permutations",
            "100000",
        ],
        60,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_append_to_a_full_disk_fails_at_once_naming_the_file() {
    // /dev/full takes no byte (ENOSPC); perf-gate must say so, not hang reading it back for
    // the report's trends, and not retry.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = write(d, "baseline.json", &crate::support::cp1_run().to_string());
    let policy = write(d, "policy.json", POLICY);
    let (out, took) = bounded(
        d,
        &[
            "perf-gate",
            "--candidate",
            base.to_str().unwrap(),
            "--baseline",
            base.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--artifacts-dir",
            d.join("art").to_str().unwrap(),
            "--history",
            "/dev/full",
        ],
        60,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("appending to /dev/full: the run was not recorded in the history (the write is not retried; exit 2)")
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn concurrent_appends_keep_every_line_whole() {
    // Eight gates append to one store at once.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = write(d, "baseline.json", &crate::support::cp1_run().to_string());
    let policy = write(d, "policy.json", POLICY);
    let hist = d.join("history.jsonl");
    let children: Vec<_> = (0..8)
        .map(|i| {
            xtask(d)
                .arg("perf-gate")
                .arg("--candidate")
                .arg(&base)
                .arg("--baseline")
                .arg(&base)
                .arg("--policy")
                .arg(&policy)
                .arg("--artifacts-dir")
                .arg(d.join(format!("art{i}")))
                .arg("--history")
                .arg(&hist)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let text = std::fs::read_to_string(&hist).unwrap();
    assert_eq!(text.lines().count(), 8, "{text}");
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["source"], "perf-gate");
    }
}
