//! Several targets in one run: each gets the whole load and its own report, and one
//! target's delay or failure does not show in another's results.

use std::time::Duration;

use loadgen::{Config, MoreTarget, Report};
use serde_json::Value;

use crate::cli::{loadgen, stderr};
use crate::support::{Behavior, TempFile, TestServer, assert_consistent, closed, open};

/// `cfg` (aimed at the first server) with the other servers as further targets.
fn with_targets(cfg: Config, more: &[&TestServer]) -> Config {
    Config {
        more_targets: more.iter().map(|s| MoreTarget::http(s.addr)).collect(),
        ..cfg
    }
}

/// Requests the server received.
fn seen(server: &TestServer) -> u64 {
    let seen = server.seen.lock().unwrap();
    seen.methods.values().sum()
}

fn slow_server() -> TestServer {
    TestServer::start(Behavior {
        delay: Duration::from_millis(5),
        ..Behavior::default()
    })
}

#[test]
fn open_model_gives_each_target_its_rate_and_counts_each_apart() {
    let a = TestServer::start(Behavior::default());
    let b = TestServer::start(Behavior::default());
    let cfg = Config {
        connections: 2,
        threads: 2,
        ..open(a.addr, Duration::from_secs(1), 200.0)
    };
    let reports = loadgen::run_targets(&with_targets(cfg, &[&b])).unwrap();
    assert_eq!(reports.len(), 2);
    for (report, server) in reports.iter().zip([&a, &b]) {
        assert_consistent(report);
        assert_eq!(report.target, server.addr.to_string());
        // Each target gets the whole rate and all its connections, nothing divided.
        assert_eq!(report.rate_target_rps, Some(200.0));
        assert_eq!((report.connections, report.threads), (2, 2));
        assert!((180..=220).contains(&report.requests_sent), "{report:#?}");
        assert_eq!(report.ok, report.requests_sent, "{report:#?}");
        // A report counts its own target's responses only.
        assert_eq!(seen(server), report.responses, "{}", report.target);
    }
}

#[test]
fn closed_model_keeps_a_budget_per_target() {
    let a = TestServer::start(Behavior::default());
    let b = TestServer::start(Behavior::default());
    let cfg = Config {
        connections: 2,
        threads: 2,
        max_requests: 150,
        ..closed(a.addr, Duration::from_secs(5))
    };
    let reports = loadgen::run_targets(&with_targets(cfg, &[&b])).unwrap();
    for (report, server) in reports.iter().zip([&a, &b]) {
        assert_consistent(report);
        assert_eq!((report.requests_sent, report.ok), (150, 150), "{report:#?}");
        assert_eq!(seen(server), 150, "{}", report.target);
    }
}

/// The slow target's report carries its delay, and the fast one's does not.
fn assert_delay_is_its_own(slow: &Report, fast: &Report) {
    assert_consistent(slow);
    assert_consistent(fast);
    let (slow_p50, fast_p50) = (slow.latency_ms.p50.unwrap(), fast.latency_ms.p50.unwrap());
    assert!(slow_p50 >= 5.0, "slow p50 {slow_p50} ms");
    // Relative, not a bound in ms: a busy machine slows both targets alike (fast 4.4 ms
    // beside slow 11.0 ms with three busy loops on 2 cores), while a delay that leaked into
    // the fast target's numbers would bring its p50 up to the slow one's.
    assert!(
        fast_p50 < slow_p50 - 2.5,
        "fast p50 {fast_p50} ms beside slow {slow_p50} ms (the slow server waits 5 ms)"
    );
    assert!(slow.latency_ms.min.unwrap() >= 5.0, "{:?}", slow.latency_ms);
}

#[test]
fn a_delay_shows_in_its_own_targets_latency_only() {
    // Open model, the slow target first.
    let slow = slow_server();
    let fast = TestServer::start(Behavior::default());
    let cfg = Config {
        connections: 2,
        ..open(slow.addr, Duration::from_secs(1), 100.0)
    };
    let reports = loadgen::run_targets(&with_targets(cfg, &[&fast])).unwrap();
    assert_delay_is_its_own(&reports[0], &reports[1]);
    // The slow target changed nothing of what the fast one was sent.
    for report in &reports {
        assert!((90..=110).contains(&report.requests_sent), "{report:#?}");
    }

    // Closed model, the slow target second: one connection each, back to back.
    let slow = slow_server();
    let fast = TestServer::start(Behavior::default());
    let cfg = Config {
        max_requests: 100,
        ..closed(fast.addr, Duration::from_secs(3))
    };
    let reports = loadgen::run_targets(&with_targets(cfg, &[&slow])).unwrap();
    assert_delay_is_its_own(&reports[1], &reports[0]);
    assert_eq!(reports[0].ok, 100);
    assert_eq!(reports[1].ok, 100);
}

/// Runs the binary for `duration_ms` at 100 req/s per target against `targets`, with a
/// histogram and a timeline.
fn run_binary(targets: &[String], duration_ms: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = targets
        .iter()
        .flat_map(|t| ["--target", t.as_str()])
        .collect();
    args.extend([
        "--model",
        "open",
        "--rate",
        "100",
        "--duration-ms",
        duration_ms,
        "--method",
        "GET",
        "--histogram",
        "--timeline-ms",
        "100",
    ]);
    args.extend(extra);
    loadgen(&args)
}

fn sorted_keys(json: &Value) -> Vec<String> {
    let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn the_binary_prints_one_report_per_target_and_one_target_as_before() {
    let a = TestServer::start(Behavior::default());
    let b = TestServer::start(Behavior::default());
    let [a_addr, b_addr] = [&a, &b].map(|s| s.addr.to_string());

    let out = run_binary(std::slice::from_ref(&a_addr), "300", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let single: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(single.get("targets").is_none(), "{single}");
    assert_eq!(single["target"], a_addr.as_str());

    let out = run_binary(&[a_addr.clone(), b_addr.clone()], "300", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sorted_keys(&json), ["targets"]);
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for (report, addr) in targets.iter().zip([&a_addr, &b_addr]) {
        // The shape of a single target's report, for that target alone.
        assert_eq!(sorted_keys(report), sorted_keys(&single));
        assert_eq!(report["target"], addr.as_str());
        assert_eq!(report["rate_target_rps"], 100.0);
        let ok = report["ok"].as_u64().unwrap();
        assert!((20..=40).contains(&ok), "{report}");
        let timeline_ok: u64 = report["timeline"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["ok"].as_u64().unwrap())
            .sum();
        assert_eq!(timeline_ok, ok, "{report}");
        assert!(!report["histogram"]["data"].as_str().unwrap().is_empty());
    }
    let err = stderr(&out);
    for addr in [&a_addr, &b_addr] {
        assert!(
            err.contains(&format!("loadgen: {addr}/v1/decide: ")),
            "{err}"
        );
    }
}

#[test]
fn an_unreachable_target_exits_1_and_the_other_is_measured() {
    let a = TestServer::start(Behavior::default());
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = run_binary(&[a.addr.to_string(), dead.clone()], "300", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets = json["targets"].as_array().unwrap();
    assert!(targets[0]["ok"].as_u64().unwrap() >= 20, "{json}");
    assert_eq!(targets[0]["errors"]["connect"], 0, "{json}");
    assert!(
        targets[1]["errors"]["connect"].as_u64().unwrap() > 0,
        "{json}"
    );
    assert_eq!(targets[1]["requests_sent"], 0, "{json}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("could not connect to {dead}")),
        "{err}"
    );
    assert!(
        !err.contains(&format!("could not connect to {}", a.addr)),
        "{err}"
    );
}

#[test]
fn the_progress_file_counts_every_targets_responses() {
    let a = TestServer::start(Behavior::default());
    let b = TestServer::start(Behavior::default());
    let progress = TempFile::new("progress.txt", "");
    let out = run_binary(
        &[a.addr.to_string(), b.addr.to_string()],
        "1000",
        &["--progress-file", progress.0.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = std::fs::read_to_string(&progress.0).unwrap();
    let [elapsed_ms, responses] = line
        .split_whitespace()
        .map(|n| n.parse::<f64>().unwrap())
        .collect::<Vec<_>>()[..]
    else {
        panic!("{line:?}");
    };
    // Two targets at 100 req/s each: about 200 responses a second. The progress clock
    // starts a little before the load and the last line may come up to 200 ms after it,
    // so the count is a little under that; one target alone would be at most half.
    let one_target = 100.0 * elapsed_ms / 1000.0;
    assert!(
        responses >= 1.25 * one_target && responses <= 2.0 * one_target + 5.0,
        "{line:?}"
    );
}

#[test]
fn too_many_targets_and_stray_subjects_are_refused_by_flag() {
    let many: Vec<String> = (1..=5).map(|p| format!("127.0.0.1:{p}")).collect();
    let out = run_binary(&many, "100", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--target given 5 times: at most 4 targets"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    let out = run_binary(
        &["127.0.0.1:1".into()],
        "100",
        &["--subject", "a", "--subject", "b"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--subject given 2 times")
            && stderr(&out).contains("--transport nats"),
        "{}",
        stderr(&out)
    );
}
