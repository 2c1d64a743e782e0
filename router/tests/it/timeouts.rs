//! Slow and stalled clients: a stalled request body gives its in-flight slot back instead of
//! starving every decision, a head or body that does not arrive in time is cut off (and
//! counted), and an idle keep-alive connection is closed by the header-read timer as the
//! `--header-read-timeout` help says. Timeouts are set to about a second so that no test
//! waits more than a few.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Client, Metrics, Router, decide_req, wait_for_metrics};

/// The declared body length of a stalled request.
const STALLED_LEN: usize = 100;
/// How long any single wait in these tests may take.
const BOUND: Duration = Duration::from_secs(4);
const HTTP: (&str, &str) = ("transport", "http");

/// A valid decision request padded with spaces to exactly `STALLED_LEN` bytes.
fn body_of_stalled_len(request_id: &str) -> Vec<u8> {
    let mut body = serde_json::to_vec(&decide_req("acme", request_id, json!({}))).unwrap();
    assert!(body.len() <= STALLED_LEN, "the request fits");
    body.resize(STALLED_LEN, b' ');
    body
}

/// Opens a connection and sends a decision request's head declaring a `STALLED_LEN`-byte
/// body, and then only `sent` of the body.
fn stall(addr: SocketAddr, sent: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connecting");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    let head = format!(
        "POST /v1/decide HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n\
         Content-Length: {STALLED_LEN}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(sent).unwrap();
    s
}

/// Reads until the router closes the connection (EOF or reset); panics if it is still open
/// after `within`. Returns what was read.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "the router did not close the connection within {within:?}; read so far: {:?}",
                    String::from_utf8_lossy(&out)
                )
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
}

fn counter(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.get(name, labels).unwrap_or(0.0)
}

fn releases(m: &Metrics) -> f64 {
    counter(m, "router_body_slot_releases_total", &[HTTP])
}

fn timeouts(m: &Metrics, phase: &str) -> f64 {
    counter(
        m,
        "router_request_timeouts_total",
        &[HTTP, ("phase", phase)],
    )
}

#[test]
fn stalled_bodies_do_not_starve_decisions() {
    const MAX_INFLIGHT: usize = 4;
    const STALLERS: usize = 2 * MAX_INFLIGHT;
    let router = Router::start(&["--max-inflight", &MAX_INFLIGHT.to_string()]);
    let addr = router.addr();
    let inflight = |m: &Metrics| m.value("router_inflight_requests", &[HTTP]);

    // One stalled request first, alone, so that it is surely admitted (it may already have
    // given its slot back when the scrape comes).
    let body = body_of_stalled_len("stalled-first");
    let mut first = stall(addr, &body[..1]);
    let (m, ok) = wait_for_metrics(&router, BOUND, |m| inflight(m) + releases(m) >= 1.0);
    assert!(
        ok,
        "the first stalled request was not admitted:\n{}",
        m.text
    );
    // Then more stalled requests than there are slots, at once.
    let _stallers: Vec<TcpStream> = (0..STALLERS).map(|_| stall(addr, b"{")).collect();

    // A normal decision from a new connection gets through (bounded retries: a stalled
    // body may hold a slot for a moment after its head came), and the router says ready.
    let deadline = Instant::now() + BOUND;
    let mut tries = 0;
    let resp = loop {
        tries += 1;
        let resp = Client::connect(addr).decide(&decide_req("acme", "while-stalled", json!({})));
        if resp.status == 200 || Instant::now() >= deadline {
            break resp;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        resp.status,
        200,
        "with {} stalled bodies open, {tries} decisions over {BOUND:?} were refused: {}",
        STALLERS + 1,
        resp.text()
    );
    assert_eq!(resp.json()["context"]["request_id"], "while-stalled");
    let ready = Client::connect(addr).get("/ready").expect("GET /ready");
    assert_eq!(ready.status, 200, "{}", ready.text());

    // Every admitted stalled body gave its slot back and waits outside the bound: the first
    // one, and of the others at least the `MAX_INFLIGHT - 1` that found a free slot even if
    // the first still held its own when they came.
    let (m, ok) = wait_for_metrics(&router, BOUND, |m| {
        inflight(m) == 0.0 && releases(m) >= MAX_INFLIGHT as f64
    });
    assert!(ok, "stalled bodies still hold slots:\n{}", m.text);

    // The first one's body completes at last: it is admitted again and decided.
    first.write_all(&body[1..]).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&raw).contains("stalled-first") {
        let n = first.read(&mut buf).expect("reading the late decision");
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    let m = router.metrics();
    assert_eq!(timeouts(&m, "body"), 0.0, "nothing timed out yet");
    assert_eq!(inflight(&m), 0.0);
}

#[test]
fn a_head_that_does_not_arrive_in_time_closes_the_connection() {
    let router = Router::start(&["--header-read-timeout", "1s"]);
    let addr = router.addr();
    let started = Instant::now();
    // Half a request line, then nothing.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"POST /v1/de").unwrap();
    // A slowloris: the head trickles in, a byte every 100 ms, never finished in time. The
    // timeout bounds the whole head, not the gaps.
    let trickle = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let head = b"GET /health HTTP/1.1\r\nHost: router\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in head {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let t = Instant::now();
        let got = read_until_closed(&mut s, BOUND);
        (got, t)
    });

    let got = read_until_closed(&mut half, BOUND);
    let closed_after = started.elapsed();
    assert!(
        got.is_empty(),
        "closed without an answer: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}, expected about 1 s"
    );
    let (got, _) = trickle.join().expect("trickling client");
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "the slowloris was answered: {:?}",
        String::from_utf8_lossy(&got)
    );

    let (m, ok) = wait_for_metrics(&router, BOUND, |m| timeouts(m, "header") == 2.0);
    assert!(ok, "two header timeouts are counted:\n{}", m.text);
    assert_eq!(
        counter(&m, "router_idle_connections_closed_total", &[HTTP]),
        0.0,
        "neither was idle"
    );
    // Still serving.
    Client::connect(addr).decide_ok(&decide_req("acme", "after-slowloris", json!({})));
}

#[test]
fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let router = Router::start(&["--body-read-timeout", "1s"]);
    let started = Instant::now();
    let mut s = stall(router.addr(), b"{");
    let got = read_until_closed(&mut s, BOUND);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: close\r\n"), "{text}");
    let body = &text[text.find("\r\n\r\n").expect("a head") + 4..];
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON error body");
    assert_eq!(v["error"]["code"], "request_timeout", "{text}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}, expected about 1 s"
    );

    let m = router.metrics();
    assert_eq!(timeouts(&m, "body"), 1.0, "{}", m.text);
    assert_eq!(timeouts(&m, "header"), 0.0, "{}", m.text);
    assert_eq!(
        m.value("router_errors_total", &[HTTP, ("code", "request_timeout")]),
        1.0
    );
    assert_eq!(
        m.value(
            "router_requests_total",
            &[HTTP, ("outcome", "request_timeout")]
        ),
        1.0
    );
    assert_eq!(releases(&m), 1.0, "it gave its slot back while it waited");
    assert_eq!(m.value("router_inflight_requests", &[HTTP]), 0.0);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let router = Router::start(&["--header-read-timeout", "1s"]);
    let mut c = router.client();
    // The timer restarts after each response: requests 400 ms apart keep the connection in
    // use for longer than the timeout (the client fails if the connection was closed).
    for i in 0..4 {
        if i > 0 {
            thread::sleep(Duration::from_millis(400));
        }
        c.decide_ok(&decide_req("acme", &format!("keepalive-{i}"), json!({})));
    }
    let idle_from = Instant::now();
    let got = read_until_closed(c.stream(), BOUND);
    let idle = idle_from.elapsed();
    assert!(got.is_empty(), "closed without an answer: {got:?}");
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(3),
        "closed after {idle:?} idle, expected about 1 s"
    );
    let (m, ok) = wait_for_metrics(&router, BOUND, |m| {
        counter(m, "router_idle_connections_closed_total", &[HTTP]) == 1.0
    });
    assert!(ok, "the idle close is counted as such:\n{}", m.text);
    assert_eq!(
        timeouts(&m, "header"),
        0.0,
        "an idle close is not a timeout"
    );
}

#[test]
fn the_header_timeout_does_not_cut_a_request_whose_body_is_slow() {
    // The head arrived: from then on the body timeout applies, not the header timeout.
    let router = Router::start(&["--header-read-timeout", "1s", "--body-read-timeout", "4s"]);
    let body = body_of_stalled_len("slow-body");
    let mut s = stall(router.addr(), &body[..10]);
    thread::sleep(Duration::from_millis(1600));
    s.write_all(&body[10..]).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&raw).contains("slow-body") {
        let n = s.read(&mut buf).expect("reading the decision");
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let m = router.metrics();
    assert_eq!(timeouts(&m, "header"), 0.0, "{}", m.text);
    assert_eq!(timeouts(&m, "body"), 0.0, "{}", m.text);
}

#[test]
fn bad_timeout_flags_exit_2() {
    for args in [
        &["--header-read-timeout", "0"][..],
        &["--header-read-timeout", "soon"],
        &["--body-read-timeout", "0ms"],
        &["--body-read-timeout", "25h"],
    ] {
        let done = crate::support::RouterCmd::new()
            .args(["--listen", "127.0.0.1:0"])
            .args(args.iter().copied())
            .run_to_exit(Duration::from_secs(10));
        assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
        assert!(done.stderr.contains(args[0]), "{args:?}: {}", done.stderr);
    }
}
