//! `--body-kinds`: per-kind results, expected rejections apart from errors, and bad kinds
//! files refused by field.

use std::time::Duration;

use bytes::Bytes;
use loadgen::config::{BodyKinds, Expect, Kind};
use loadgen::{Config, Report};
use serde_json::Value;

use crate::cli::{loadgen, stderr};
use crate::support::{Behavior, TempFile, TestServer, assert_consistent, closed, open};

/// A server that answers 200, and 400 to a body containing `bad`.
fn rejecting_server() -> TestServer {
    TestServer::start(Behavior {
        status_if_body_contains: Some(("bad", 400)),
        ..Behavior::default()
    })
}

/// Two bodies: a good one of kind `weighted`, a malformed one of kind `bad_json`, each
/// kind expecting as given.
fn with_kinds(mut cfg: Config, weighted: Expect, bad_json: Expect) -> Config {
    cfg.bodies = vec![
        Bytes::from_static(b"{\"tenant_id\":\"t1\"}"),
        Bytes::from_static(b"{\"bad\""),
    ];
    cfg.body_kinds = Some(BodyKinds {
        path: "kinds.json".into(),
        kinds: vec![
            Kind {
                name: "weighted".into(),
                expect: weighted,
            },
            Kind {
                name: "bad_json".into(),
                expect: bad_json,
            },
        ],
        body_kind: vec![0, 1],
    });
    // A request budget ends the run early; the counts, not the timing, are under test.
    cfg.max_requests = 200;
    cfg.connections = 2;
    cfg
}

fn kind<'a>(report: &'a Report, name: &str) -> &'a loadgen::report::KindReport {
    &report.kinds.as_ref().expect("kinds are reported")[name]
}

#[test]
fn expected_rejections_are_counted_per_kind_and_not_as_errors() {
    let server = rejecting_server();
    let duration = Duration::from_secs(5);
    for cfg in [
        closed(server.addr, duration),
        open(server.addr, duration, 400.0),
    ] {
        let model = cfg.model;
        let cfg = with_kinds(cfg, Expect::Ok, Expect::Reject);
        let report = loadgen::run(&cfg).unwrap();
        assert_consistent(&report);
        assert_eq!(report.responses, 200, "{model:?}: {report:#?}");
        let (good, bad) = (kind(&report, "weighted"), kind(&report, "bad_json"));
        assert_eq!(good.expect, Expect::Ok);
        assert_eq!(bad.expect, Expect::Reject);
        // Each connection alternates the two bodies.
        assert_eq!((good.sent, bad.sent), (100, 100), "{model:?}: {report:#?}");
        assert_eq!((good.ok, good.status_4xx), (100, 0), "{model:?}");
        assert_eq!((bad.ok, bad.status_4xx, bad.status_5xx), (0, 100, 0));
        assert_eq!(bad.status_counts["400"], 100);
        assert_eq!(report.ok, 100);
        assert_eq!(report.expected_rejections, 100);
        assert_eq!(report.errors.status, 0, "{model:?}: {report:#?}");
        assert_eq!(report.status_counts["400"], 100);
        for k in [good, bad] {
            assert!(k.latency_ms.p50.unwrap() <= k.latency_ms.max.unwrap());
        }
    }
}

#[test]
fn statuses_a_kind_does_not_expect_are_errors() {
    let server = rejecting_server();
    // The malformed body expecting a 2xx: its 400s are errors.
    let report = loadgen::run(&with_kinds(
        closed(server.addr, Duration::from_secs(5)),
        Expect::Ok,
        Expect::Ok,
    ))
    .unwrap();
    assert_consistent(&report);
    assert_eq!(report.expected_rejections, 0);
    assert_eq!(report.errors.status, 100, "{report:#?}");
    assert_eq!(kind(&report, "bad_json").status_4xx, 100);
    assert_eq!(report.ok, 100);
    // The good body expecting a rejection: its 2xx are errors, and not `ok`.
    let report = loadgen::run(&with_kinds(
        closed(server.addr, Duration::from_secs(5)),
        Expect::Reject,
        Expect::Reject,
    ))
    .unwrap();
    assert_consistent(&report);
    assert_eq!(report.expected_rejections, 100);
    assert_eq!(report.errors.status, 100, "{report:#?}");
    assert_eq!(report.ok, 0);
    assert_eq!(kind(&report, "weighted").ok, 100);
}

fn run_with_kinds(kinds_json: &str, bodies: &str, target: &str) -> std::process::Output {
    let bodies = TempFile::new(&format!("kinds-bodies-{}.jsonl", fnv(kinds_json)), bodies);
    let kinds = TempFile::new(&format!("kinds-{}.json", fnv(kinds_json)), kinds_json);
    loadgen(&[
        "--target",
        target,
        "--model",
        "closed",
        "--duration-ms",
        "5000",
        "--max-requests",
        "60",
        "--bodies",
        bodies.0.to_str().unwrap(),
        "--body-kinds",
        kinds.0.to_str().unwrap(),
    ])
}

/// A short stable hash, so concurrent tests' temporary files do not collide.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn the_binary_reports_kinds_in_the_documented_shape() {
    let server = rejecting_server();
    let out = run_with_kinds(
        r#"{"kinds": [{"name": "weighted", "expect": "ok"},
                      {"name": "bad_json", "expect": "reject"}],
            "body_kind": [0, 0, 1]}"#,
        "{\"tenant_id\":\"a\"}\n\n{\"tenant_id\":\"b\"}\n{\"bad\"\n",
        &server.addr.to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("20 expected rejections"),
        "{}",
        stderr(&out)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["expected_rejections"], 20, "{json}");
    assert_eq!(json["ok"], 40, "{json}");
    assert_eq!(json["errors"]["status"], 0, "{json}");
    let kinds = json["kinds"].as_object().unwrap();
    assert_eq!(kinds.len(), 2);
    let bad = &kinds["bad_json"];
    let mut keys: Vec<&str> = bad
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = vec![
        "expect",
        "sent",
        "responses",
        "ok",
        "status_4xx",
        "status_5xx",
        "timeouts",
        "io_errors",
        "status_counts",
        "latency_ms",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(bad["expect"], "reject");
    assert_eq!(bad["status_4xx"], 20);
    assert_eq!(bad["status_counts"]["400"], 20);
    assert_eq!(kinds["weighted"]["expect"], "ok");
    assert_eq!(kinds["weighted"]["ok"], 40);
    for field in ["p50", "p95", "p99", "p999", "max"] {
        assert!(
            bad["latency_ms"][field].as_f64().unwrap() > 0.0,
            "{field}: {json}"
        );
    }
}

#[test]
fn bad_body_kinds_files_exit_2_naming_the_field() {
    let ok = r#"{"name": "a", "expect": "ok"}"#;
    let cases = [
        (
            format!(r#"{{"kinds": [{ok}], "body_kind": [0]}}"#),
            "body_kind: has 1 entries but --bodies has 2 bodies",
        ),
        (
            format!(r#"{{"kinds": [{ok}], "body_kind": [0, 3]}}"#),
            "body_kind[1]: 3 is not an index into kinds",
        ),
        (
            r#"{"kinds": [{"name": "a", "expect": "2xx"}], "body_kind": [0, 0]}"#.to_string(),
            "kinds[0].expect: must be \"ok\"",
        ),
        (
            format!(r#"{{"kinds": [{ok}, {ok}], "body_kind": [0, 1]}}"#),
            "kinds[1].name: \"a\" is already the name of kinds[0]",
        ),
        ("{not json".to_string(), "not valid JSON"),
    ];
    for (text, want) in cases {
        let out = run_with_kinds(&text, "{}\n{}\n", "127.0.0.1:9");
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("--body-kinds") && err.contains("kinds-") && err.contains(want),
            "{text}: {err:?} should contain {want:?}"
        );
        assert!(out.stdout.is_empty());
    }
    // The kinds describe bodies, so they make no sense without them.
    let out = loadgen(&[
        "--target",
        "127.0.0.1:9",
        "--model",
        "closed",
        "--duration-ms",
        "100",
        "--method",
        "GET",
        "--body-kinds",
        "/dev/null",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--bodies"), "{}", stderr(&out));
}
