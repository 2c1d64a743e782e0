//! The closed model: throughput against a server of known latency, bounds, body mix.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::support::{Behavior, TestServer, assert_consistent, closed};

#[test]
fn fixed_delay_server_gives_its_latency_and_throughput() {
    let server = TestServer::start(Behavior {
        delay: Duration::from_millis(5),
        ..Behavior::default()
    });
    let report = loadgen::run(&closed(server.addr, Duration::from_secs(1))).unwrap();
    assert_consistent(&report);
    let p50 = report.latency_ms.p50.unwrap();
    assert!((5.0..=15.0).contains(&p50), "p50 {p50} ms");
    // One connection at 5 ms a request: about 200 req/s, less with timer overhead.
    assert!((50.0..=210.0).contains(&report.rps), "rps {}", report.rps);
    assert!(
        (0.9..1.5).contains(&report.duration_s),
        "{}",
        report.duration_s
    );
    assert_eq!(report.requests_sent, report.ok);
    assert_eq!(
        (
            report.errors.connect,
            report.errors.timeout,
            report.errors.io
        ),
        (0, 0, 0)
    );
    assert_eq!(report.model, loadgen::Model::Closed);
    assert_eq!(report.rate_target_rps, None);
    assert_eq!(report.rate_achieved_rps, None);
    assert_eq!(report.affinity, None);
    assert!(report.histogram.is_none());
}

#[test]
fn max_requests_is_a_hard_bound_across_connections() {
    let server = TestServer::start(Behavior::default());
    let cfg = loadgen::Config {
        connections: 4,
        threads: 2,
        max_requests: 25,
        ..closed(server.addr, Duration::from_secs(5))
    };
    let started = Instant::now();
    let report = loadgen::run(&cfg).unwrap();
    assert_consistent(&report);
    assert_eq!(report.requests_sent, 25);
    assert_eq!(report.ok, 25);
    assert_eq!(report.threads, 2);
    // The budget, not the duration, ended the run.
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn bodies_are_spread_round_robin_with_json_content_type() {
    let server = TestServer::start(Behavior::default());
    let bodies = ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"];
    let cfg = loadgen::Config {
        connections: 3,
        threads: 3,
        max_requests: 300,
        bodies: bodies
            .iter()
            .map(|b| Bytes::from_static(b.as_bytes()))
            .collect(),
        ..closed(server.addr, Duration::from_secs(5))
    };
    let report = loadgen::run(&cfg).unwrap();
    assert_eq!(report.ok, 300);
    let seen = server.seen.lock().unwrap();
    for body in bodies {
        let n = seen.bodies.get(body).copied().unwrap_or(0);
        // Each connection cycles through all bodies, so each gets about a third.
        assert!(
            (90..=110).contains(&n),
            "{body}: {n} of 300 ({:?})",
            seen.bodies
        );
    }
    assert_eq!(seen.content_types.get("application/json"), Some(&300));
    assert_eq!(seen.methods.get("POST"), Some(&300));
    assert_eq!(seen.paths.get("/v1/decide"), Some(&300));
}

#[test]
fn reconnects_when_the_server_closes_each_connection() {
    let server = TestServer::start(Behavior {
        close_each: true,
        ..Behavior::default()
    });
    let report = loadgen::run(&closed(server.addr, Duration::from_millis(300))).unwrap();
    assert_consistent(&report);
    assert!(report.ok > 10, "{report:#?}");
    assert!(report.connects >= report.ok, "{report:#?}");
    // A closed keep-alive connection is routine, not an error.
    assert_eq!(
        (report.errors.io, report.errors.connect),
        (0, 0),
        "{report:#?}"
    );
}
