//! The binary: exit codes, error messages naming the flag or file, and the JSON shape.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Behavior, TempFile, TestServer};

pub(crate) fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn non_loopback_target_is_refused() {
    // TEST-NET-1 (RFC 5737): never routed, and refused before any packet is sent anyway.
    for target in ["192.0.2.1:80", "example.com:80", "[::]:80"] {
        let out = loadgen(&[
            "--target",
            target,
            "--model",
            "closed",
            "--duration-ms",
            "100",
            "--method",
            "GET",
        ]);
        assert_eq!(out.status.code(), Some(2), "{target}");
        let err = stderr(&out);
        assert!(
            err.contains("--target") && err.contains("loopback"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_bodies_files_are_refused_by_name() {
    let empty = TempFile::new("empty.jsonl", "\n  \n");
    let missing = std::env::temp_dir().join("loadgen-it-no-such-file.jsonl");
    for path in [&empty.0, &missing] {
        let path = path.to_str().unwrap();
        let out = loadgen(&[
            "--target",
            "127.0.0.1:9",
            "--model",
            "closed",
            "--duration-ms",
            "100",
            "--bodies",
            path,
        ]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains("--bodies") && err.contains(path), "{err}");
    }
}

#[test]
fn rate_is_required_for_open_and_refused_for_closed() {
    let base = [
        "--target",
        "127.0.0.1:9",
        "--duration-ms",
        "100",
        "--method",
        "GET",
    ];
    let out = loadgen(&[&base[..], &["--model", "open"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--rate"), "{}", stderr(&out));

    let out = loadgen(&[&base[..], &["--model", "closed", "--rate", "10"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--rate"), "{}", stderr(&out));

    let out = loadgen(&["--target", "127.0.0.1:9", "--model", "closed"]);
    assert_eq!(out.status.code(), Some(2), "--duration-ms is required");
}

#[test]
fn unreachable_target_exits_1_with_results() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = loadgen(&[
        "--target",
        &target,
        "--model",
        "closed",
        "--duration-ms",
        "300",
        "--method",
        "GET",
    ]);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["errors"]["connect"].as_u64().unwrap() > 0, "{json}");
    assert!(
        stderr(&out).contains("could not connect"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_has_the_documented_shape() {
    let server = TestServer::start(Behavior::default());
    let bodies = TempFile::new("bodies.jsonl", "{\"a\":1}\n\n{\"b\":2}\n");
    let target = server.addr.to_string();
    let cpu = loadgen::affinity::current_thread_cpus().unwrap()[0].to_string();
    let out = loadgen(&[
        "--target",
        &target,
        "--model",
        "open",
        "--rate",
        "200",
        "--connections",
        "2",
        "--duration-ms",
        "300",
        "--bodies",
        bodies.0.to_str().unwrap(),
        "--cpu",
        &cpu,
        "--histogram",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON document: {stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();

    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "model",
        "target",
        "path",
        "connections",
        "threads",
        "duration_s",
        "rate_target_rps",
        "rate_achieved_rps",
        "requests_sent",
        "responses",
        "ok",
        "expected_rejections",
        "rps",
        "status_counts",
        "errors",
        "latency_ms",
        "affinity",
        "histogram",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);

    assert_eq!(json["model"], "open");
    assert_eq!(json["target"], target);
    assert_eq!(json["path"], "/v1/decide");
    assert_eq!(json["connections"], 2);
    assert_eq!(json["threads"], 1);
    assert_eq!(json["rate_target_rps"], 200.0);
    assert!(json["rate_achieved_rps"].as_f64().unwrap() > 150.0);
    assert!(json["duration_s"].as_f64().unwrap() >= 0.29);
    let ok = json["ok"].as_u64().unwrap();
    assert!(ok > 40, "{json}");
    assert_eq!(json["status_counts"]["200"], ok);
    // Without --body-kinds: no per-kind results, and no expected rejection.
    assert_eq!(json["expected_rejections"], 0);
    for kind in ["connect", "timeout", "status", "io"] {
        assert_eq!(json["errors"][kind], 0, "{kind}: {json}");
    }
    for field in ["min", "mean", "p50", "p90", "p95", "p99", "p999", "max"] {
        assert!(
            json["latency_ms"][field].as_f64().unwrap() > 0.0,
            "{field}: {json}"
        );
    }
    assert_eq!(
        json["affinity"],
        serde_json::json!([cpu.parse::<u64>().unwrap()])
    );
    assert_eq!(json["histogram"]["unit"], "ns");
    assert_eq!(
        json["histogram"]["encoding"],
        "hdrhistogram-v2-deflate+base64"
    );
    assert!(!json["histogram"]["data"].as_str().unwrap().is_empty());
}

#[test]
fn histogram_is_left_out_unless_asked_for() {
    let server = TestServer::start(Behavior::default());
    let out = loadgen(&[
        "--target",
        &server.addr.to_string(),
        "--model",
        "closed",
        "--duration-ms",
        "100",
        "--method",
        "GET",
        "--path",
        "/health",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.get("histogram").is_none());
    assert_eq!(json["affinity"], Value::Null);
    assert_eq!(json["rate_target_rps"], Value::Null);
    assert_eq!(json["rate_achieved_rps"], Value::Null);
}

#[test]
fn a_cpu_that_does_not_exist_is_refused() {
    let out = loadgen(&[
        "--target",
        "127.0.0.1:9",
        "--model",
        "closed",
        "--duration-ms",
        "100",
        "--method",
        "GET",
        "--cpu",
        "100000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cpu 100000"), "{}", stderr(&out));
}
