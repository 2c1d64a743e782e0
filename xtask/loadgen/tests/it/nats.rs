//! The NATS transport against a real `nats-server` on a free loopback port, with an in-test
//! responder on the subject. Without `nats-server` on PATH these tests print a loud SKIP and
//! return (CI installs it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use loadgen::{Config, Model, Route};

use crate::support::{assert_consistent, closed};

const SUBJECT: &str = "loadgen.test.decide";

fn have_nats_server(test: &str) -> bool {
    let ok = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "\n*** SKIP {test}: `nats-server` is not on PATH \
             (install it: apt-get install nats-server) ***\n"
        );
    }
    ok
}

/// A `nats-server` on a free loopback port; killed on drop.
struct NatsServer {
    addr: SocketAddr,
    child: Child,
}

impl NatsServer {
    fn start() -> NatsServer {
        // Bind port 0 and release it: the kernel does not hand the port out again at once.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning nats-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            thread::sleep(Duration::from_millis(20));
        }
        NatsServer { addr, child }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers every request on `SUBJECT` in a background thread: a body containing `bad` gets
/// the router's error body, anything else a decision. Runs until the process ends.
fn responder(url: &str) {
    responder_on(url, SUBJECT);
}

/// [`responder`] on another subject.
fn responder_on(url: &str, subject: &'static str) {
    let url = url.to_owned();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use futures_util::StreamExt;
            let client = async_nats::connect(url).await.unwrap();
            let mut sub = client.subscribe(subject).await.unwrap();
            client.flush().await.unwrap();
            ready_tx.send(()).unwrap();
            while let Some(msg) = sub.next().await {
                let Some(reply) = msg.reply else { continue };
                let body: &[u8] = if msg.payload.windows(3).any(|w| w == b"bad") {
                    br#"{"error":{"code":"tenant_not_found","message":"no"}}"#
                } else {
                    br#"{"provider_id":"p1","reason":"weighted"}"#
                };
                let _ = client.publish(reply, Bytes::from_static(body)).await;
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the responder subscribed");
}

fn nats_config(server: &NatsServer, duration: Duration) -> Config {
    let mut cfg = closed(server.addr, duration);
    cfg.host = server.url();
    cfg.route = Route::Nats {
        subject: SUBJECT.into(),
    };
    cfg.bodies = vec![
        Bytes::from_static(b"{\"tenant_id\":\"good\"}"),
        Bytes::from_static(b"{\"tenant_id\":\"bad\"}"),
    ];
    cfg
}

#[test]
fn closed_loop_over_nats_counts_replies_by_status() {
    if !have_nats_server("closed_loop_over_nats_counts_replies_by_status") {
        return;
    }
    let server = NatsServer::start();
    responder(&server.url());
    // The budget ends the run early: a saturating run would disturb the timing tests that
    // run beside it on a small machine.
    let cfg = Config {
        connections: 2,
        max_requests: 400,
        ..nats_config(&server, Duration::from_secs(5))
    };
    let report = loadgen::run(&cfg).unwrap();
    assert_consistent(&report);
    assert_eq!(report.responses, 400, "{report:#?}");
    let ok = report.status_counts["200"];
    let not_found = report.status_counts["404"];
    // The two bodies alternate on each connection.
    assert!(ok.abs_diff(not_found) <= 2, "{report:#?}");
    assert_eq!(report.ok, ok);
    assert_eq!(report.errors.timeout + report.errors.io, 0, "{report:#?}");
    assert_eq!(report.target, server.url());
}

#[test]
fn kinds_over_nats_count_error_replies_as_expected_rejections() {
    if !have_nats_server("kinds_over_nats_count_error_replies_as_expected_rejections") {
        return;
    }
    use loadgen::config::{BodyKinds, Expect, Kind};
    let server = NatsServer::start();
    responder(&server.url());
    let kind = |name: &str, expect| Kind {
        name: name.into(),
        expect,
    };
    let cfg = Config {
        connections: 2,
        max_requests: 200,
        body_kinds: Some(BodyKinds {
            path: "kinds.json".into(),
            kinds: vec![
                kind("good", Expect::Ok),
                kind("unknown_tenant", Expect::Reject),
            ],
            body_kind: vec![0, 1],
        }),
        ..nats_config(&server, Duration::from_secs(5))
    };
    let report = loadgen::run(&cfg).unwrap();
    assert_consistent(&report);
    let kinds = report.kinds.as_ref().unwrap();
    let rejected = &kinds["unknown_tenant"];
    assert_eq!(rejected.sent, 100, "{report:#?}");
    assert_eq!(rejected.status_counts["404"], 100, "{report:#?}");
    assert_eq!(kinds["good"].ok, 100, "{report:#?}");
    assert_eq!(report.expected_rejections, 100);
    assert_eq!(report.ok, 100);
    assert_eq!(report.errors.status, 0, "{report:#?}");
}

#[test]
fn open_loop_over_nats_keeps_its_rate() {
    if !have_nats_server("open_loop_over_nats_keeps_its_rate") {
        return;
    }
    let server = NatsServer::start();
    responder(&server.url());
    let cfg = Config {
        model: Model::Open,
        rate: Some(500.0),
        connections: 4,
        histogram: true,
        ..nats_config(&server, Duration::from_secs(1))
    };
    let report = loadgen::run(&cfg).unwrap();
    assert_consistent(&report);
    assert!(
        (450..=550).contains(&report.requests_sent),
        "{}",
        report.requests_sent
    );
    assert_eq!(report.responses, report.requests_sent, "{report:#?}");
    assert!(report.histogram.is_some());
}

#[test]
fn each_subject_is_a_target_with_its_own_report() {
    if !have_nats_server("each_subject_is_a_target_with_its_own_report") {
        return;
    }
    const OTHER: &str = "loadgen.test.other";
    const NOBODY: &str = "loadgen.test.nobody";
    let server = NatsServer::start();
    responder(&server.url());
    responder_on(&server.url(), OTHER);
    let subject = |s: &str| loadgen::MoreTarget::Nats { subject: s.into() };
    let cfg = Config {
        model: Model::Open,
        rate: Some(200.0),
        connections: 2,
        more_targets: vec![subject(OTHER), subject(NOBODY)],
        ..nats_config(&server, Duration::from_millis(500))
    };
    let reports = loadgen::run_targets(&cfg).unwrap();
    let paths: Vec<_> = reports.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [SUBJECT, OTHER, NOBODY]);
    for report in &reports {
        assert_consistent(report);
        assert_eq!(report.target, server.url());
        // The subject nobody answers is sent its whole share all the same.
        assert!((90..=110).contains(&report.requests_sent), "{report:#?}");
    }
    for answered in &reports[..2] {
        assert_eq!(answered.responses, answered.requests_sent, "{answered:#?}");
    }
    let lost = &reports[2];
    assert_eq!(lost.responses, 0, "{lost:#?}");
    assert!(!lost.target_unreachable(), "the server itself was reached");
}

#[test]
fn no_responder_counts_lost_requests_and_ends_in_time() {
    if !have_nats_server("no_responder_counts_lost_requests_and_ends_in_time") {
        return;
    }
    let server = NatsServer::start();
    let cfg = Config {
        max_requests: 50,
        timeout: Duration::from_millis(200),
        ..nats_config(&server, Duration::from_millis(300))
    };
    let started = Instant::now();
    let report = loadgen::run(&cfg).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_consistent(&report);
    assert_eq!(report.responses, 0);
    assert!(report.errors.io + report.errors.timeout > 0, "{report:#?}");
}

#[test]
fn non_loopback_nats_url_is_refused() {
    for url in ["nats://192.0.2.1:4222", "nats://demo.nats.io:4222"] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["--transport", "nats", "--nats-url", url])
            .args([
                "--model",
                "closed",
                "--duration-ms",
                "100",
                "--bodies",
                "/dev/null",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--nats-url") && err.contains("loopback"),
            "{err}"
        );
    }
}
