//! The NATS front end against a real `nats-server` on a free loopback port: decisions match
//! HTTP, bad payloads get the JSON error body, and the router rides out a server restart.
//! Without `nats-server` on PATH these tests print a loud SKIP and return (CI installs it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{DELAY_EVERY_ENV, DELAY_US_ENV, Router, RouterCmd, decide_req, unique};

const SUBJECT: &str = "beamline.router.v1.decide";
/// How long one NATS request may wait for its reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// True when `nats-server` runs; otherwise says loudly that the calling test is skipped.
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

/// A `nats-server` child on a fixed loopback port; killed on drop.
struct NatsServer {
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    fn start() -> NatsServer {
        // Bind port 0 and release it: the kernel does not hand the port out again at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("finding a free port")
            .port();
        let mut server = NatsServer { port, child: None };
        server.spawn();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning nats-server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr} within 10 s"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A client that gives up on a request after `REQUEST_TIMEOUT` and never retries connecting.
async fn client(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connect(url)
        .await
        .expect("connecting the test client")
}

async fn request(client: &async_nats::Client, body: &[u8]) -> Result<Value, String> {
    let msg = client
        .request(SUBJECT, body.to_vec().into())
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&msg.payload).map_err(|e| e.to_string())
}

fn router_on(nats: &NatsServer) -> Router {
    RouterCmd::new().args(["--nats-url", &nats.url()]).start()
}

#[test]
fn decisions_over_nats_match_http() {
    if !have_nats_server("decisions_over_nats_match_http") {
        return;
    }
    let nats = NatsServer::start();
    let router = router_on(&nats);
    let mut http = router.client();
    let rt = runtime();
    let nc = rt.block_on(client(&nats.url()));
    let n = 24;
    for i in 0..n {
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        let req = decide_req(tenant, &format!("match-{i}"), json!({}));
        let over_http = http.decide_ok(&req);
        let over_nats = rt
            .block_on(request(&nc, req.to_string().as_bytes()))
            .expect("a NATS reply");
        assert_eq!(over_nats, over_http, "request {i}");
    }
    let m = router.metrics();
    let ok = [("transport", "nats"), ("outcome", "ok")];
    assert_eq!(m.value("router_requests_total", &ok), f64::from(n));
}

#[test]
fn the_delay_knob_delays_nats_decisions_too() {
    if !have_nats_server("the_delay_knob_delays_nats_decisions_too") {
        return;
    }
    const DELAY: Duration = Duration::from_millis(50);
    let nats = NatsServer::start();
    let router = RouterCmd::new()
        .args(["--nats-url", &nats.url()])
        .env(DELAY_US_ENV, DELAY.as_micros().to_string())
        .env(DELAY_EVERY_ENV, "2")
        .start();
    let rt = runtime();
    let nc = rt.block_on(client(&nats.url()));
    let times: Vec<Duration> = (0..8)
        .map(|i| {
            let req = decide_req("acme", &format!("nats-delay-{i}"), json!({})).to_string();
            let t = Instant::now();
            let reply = rt
                .block_on(request(&nc, req.as_bytes()))
                .expect("a NATS reply");
            assert!(reply.get("provider_id").is_some(), "{reply}");
            t.elapsed()
        })
        .collect();
    // The count is shared with HTTP, and nothing else decided: the first one is delayed.
    for (i, t) in times.iter().enumerate().step_by(2) {
        assert!(*t >= DELAY, "decision {i} took {t:?}: {times:?}");
    }
    let quick = times
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|t| **t < DELAY)
        .count();
    assert!(
        quick >= 3,
        "only {quick} of 4 undelayed decisions were fast: {times:?}"
    );
    drop(router);
}

#[test]
fn headers_fill_tenant_and_trace() {
    if !have_nats_server("headers_fill_tenant_and_trace") {
        return;
    }
    let nats = NatsServer::start();
    let _router = router_on(&nats);
    let rt = runtime();
    let nc = rt.block_on(client(&nats.url()));
    let id = unique("hdr");
    let body = json!({"version": "1", "request_id": id, "task": {"type": "chat"}});
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("tenant_id", "acme");
    headers.insert("trace_id", "trace-from-header");
    let reply = rt.block_on(async {
        let msg = nc
            .request_with_headers(SUBJECT, headers.clone(), body.to_string().into())
            .await
            .expect("a NATS reply");
        serde_json::from_slice::<Value>(&msg.payload).unwrap()
    });
    assert!(reply.get("provider_id").is_some(), "{reply}");
    assert_eq!(reply["context"]["request_id"], id.as_str());
    assert_eq!(reply["context"]["trace_id"], "trace-from-header");
    // The body wins over a header.
    let body = decide_req("nobody", &id, json!({"trace_id": "from-body"}));
    let reply = rt.block_on(async {
        let msg = nc
            .request_with_headers(SUBJECT, headers, body.to_string().into())
            .await
            .expect("a NATS reply");
        serde_json::from_slice::<Value>(&msg.payload).unwrap()
    });
    assert_eq!(reply["error"]["code"], "tenant_not_found", "{reply}");
}

#[test]
fn bad_payloads_get_the_json_error_body() {
    if !have_nats_server("bad_payloads_get_the_json_error_body") {
        return;
    }
    let nats = NatsServer::start();
    let router = router_on(&nats);
    let rt = runtime();
    let nc = rt.block_on(client(&nats.url()));
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "invalid_request"),
        (b"", "invalid_request"),
        (
            br#"{"version":"1","tenant_id":"nobody","request_id":"r","task":{"type":"chat"}}"#,
            "tenant_not_found",
        ),
        (
            br#"{"version":"9","tenant_id":"acme","request_id":"r","task":{"type":"chat"}}"#,
            "unsupported_version",
        ),
    ];
    for (body, code) in cases {
        let reply = rt.block_on(request(&nc, body)).expect("a NATS reply");
        assert_eq!(reply["error"]["code"], code, "{reply}");
        assert!(reply["error"]["message"].is_string(), "{reply}");
    }
    let m = router.metrics();
    let labels = [("transport", "nats"), ("code", "invalid_request")];
    assert_eq!(m.value("router_errors_total", &labels), 2.0);
}

#[test]
fn reconnects_after_the_server_restarts() {
    if !have_nats_server("reconnects_after_the_server_restarts") {
        return;
    }
    let mut nats = NatsServer::start();
    let router = router_on(&nats);
    let rt = runtime();
    let req = decide_req("acme", "restart", json!({})).to_string();
    let nc = rt.block_on(client(&nats.url()));
    rt.block_on(request(&nc, req.as_bytes()))
        .expect("a reply before the restart");
    drop(nc);

    nats.kill();
    // While the bus is down, HTTP serves and the disconnect is counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = router
            .client()
            .post_json("/v1/decide", req.as_bytes())
            .expect("HTTP while NATS is down");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let disconnects = router.metrics().value("router_nats_disconnects_total", &[]);
        if disconnects >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disconnect was not counted within 10 s"
        );
        thread::sleep(Duration::from_millis(50));
    }

    nats.spawn();
    let nc = rt.block_on(client(&nats.url()));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // Until the router has resubscribed, a request finds no responder and fails fast.
        match rt.block_on(request(&nc, req.as_bytes())) {
            Ok(reply) => {
                assert!(reply.get("provider_id").is_some(), "{reply}");
                break;
            }
            Err(err) => assert!(
                Instant::now() < deadline,
                "no NATS reply within 15 s of the restart: {err}; router stderr:\n{}",
                router.stderr()
            ),
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(!router.stderr().contains("panicked"), "{}", router.stderr());
    let resp = router.client().get("/health").expect("GET /health");
    assert_eq!(resp.status, 200);
}

#[test]
fn unreachable_nats_at_start_exits_2() {
    // No server needed: a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let done = RouterCmd::new()
        .args(["--listen", "127.0.0.1:0", "--nats-url", &url])
        .run_to_exit(Duration::from_secs(15));
    assert_eq!(done.status.code(), Some(2), "stderr:\n{}", done.stderr);
    assert!(
        done.stderr.contains("cannot connect to NATS") && done.stderr.contains(&url),
        "stderr:\n{}",
        done.stderr
    );
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

#[test]
fn a_queue_group_survives_the_sigkill_of_one_router() {
    if !have_nats_server("a_queue_group_survives_the_sigkill_of_one_router") {
        return;
    }
    let nats = NatsServer::start();
    let mut doomed = router_on(&nats);
    let survivor = router_on(&nats);
    let rt = runtime();
    let nc = rt.block_on(client(&nats.url()));
    let ask = |i: usize| {
        let req = decide_req("acme", &format!("failover-{i}"), json!({})).to_string();
        rt.block_on(request(&nc, req.as_bytes()))
    };
    for i in 0..20 {
        ask(i).expect("both routers up: every request is answered");
    }
    doomed.signal(libc::SIGKILL);
    doomed.wait_exit(Duration::from_secs(10));
    // The server drops the dead router's subscription when its connection closes; until
    // then a request may go to it and time out. Bounded: at most a few, then none.
    let mut lost = 0;
    for i in 20..60 {
        match ask(i) {
            Ok(reply) => assert!(reply.get("provider_id").is_some(), "{reply}"),
            Err(_) => lost += 1,
        }
    }
    assert!(
        lost < 10,
        "{lost} of 40 requests lost after one router was killed"
    );
    let ok = [("transport", "nats"), ("outcome", "ok")];
    let answered = survivor.metrics().value("router_requests_total", &ok);
    assert!(
        answered >= 40.0 - f64::from(lost),
        "survivor answered {answered}"
    );
}

#[test]
fn sigterm_with_nats_exits_0() {
    if !have_nats_server("sigterm_with_nats_exits_0") {
        return;
    }
    let nats = NatsServer::start();
    let mut router = router_on(&nats);
    let rt = runtime();
    let nc = rt.block_on(client(&nats.url()));
    let req = decide_req("acme", "before-term", json!({})).to_string();
    rt.block_on(request(&nc, req.as_bytes()))
        .expect("a reply before SIGTERM");
    router.signal(libc::SIGTERM);
    let status = router.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", router.stderr());
    assert!(!router.stderr().contains("panicked"), "{}", router.stderr());
}
