//! Backpressure, forced deterministically: the test-only slowdown knob makes a decision
//! take tens of milliseconds and `--max-inflight 1` admits one at a time, so concurrent
//! clients are refused with 503 `overloaded` and the refusals are counted.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Client, Response, RouterCmd, SLOWDOWN_ENV, decide_req, slowdown_iters_for};

const CLIENTS: usize = 6;
const REQUESTS_PER_CLIENT: usize = 3;

#[test]
fn concurrent_requests_past_max_inflight_are_refused_and_counted() {
    let iters = slowdown_iters_for(Duration::from_millis(40));
    let router = RouterCmd::new()
        .args(["--max-inflight", "1", "--worker-threads", "2"])
        .env(SLOWDOWN_ENV, iters.to_string())
        .start();
    let m0 = router.metrics();
    assert_eq!(
        m0.value("router_test_slowdown_iterations", &[]),
        iters as f64,
        "the knob shows in /metrics"
    );
    assert!(
        router.stderr().contains(SLOWDOWN_ENV),
        "the router warns that the knob is on: {}",
        router.stderr()
    );

    // Rounds of concurrent bursts until both outcomes were seen (normally the first round).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all: Vec<Response> = Vec::new();
    for round in 0.. {
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let addr = router.addr();
        let handles: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    barrier.wait();
                    (0..REQUESTS_PER_CLIENT)
                        .map(|i| {
                            c.decide(&decide_req(
                                "acme",
                                &format!("bp-{round}-{t}-{i}"),
                                json!({}),
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            all.extend(h.join().expect("client thread"));
        }
        let refused = all.iter().filter(|r| r.status == 503).count();
        if (refused > 0 && refused < all.len()) || Instant::now() > deadline {
            break;
        }
    }

    let ok = all.iter().filter(|r| r.status == 200).count();
    let refused: Vec<&Response> = all.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        ok + refused.len(),
        all.len(),
        "only 200 and 503 are expected"
    );
    assert!(ok > 0, "some requests are admitted");
    assert!(!refused.is_empty(), "some requests are refused ({ok} ok)");
    for r in &refused {
        assert_eq!(
            r.error_code().as_deref(),
            Some("overloaded"),
            "{}",
            r.text()
        );
        let retry = r.header("retry-after").expect("503 carries Retry-After");
        assert!(
            retry.parse::<u64>().is_ok_and(|s| s >= 1),
            "Retry-After is whole seconds: {retry}"
        );
    }

    let m1 = router.metrics();
    let http = [("transport", "http")];
    let delta = |name: &str, labels: &[(&str, &str)]| {
        m1.value(name, labels) - m0.get(name, labels).unwrap_or(0.0)
    };
    assert_eq!(
        delta("router_backpressure_active_total", &http),
        refused.len() as f64,
        "one backpressure activation per refusal"
    );
    assert_eq!(
        delta(
            "router_requests_total",
            &[("transport", "http"), ("outcome", "overloaded")]
        ),
        refused.len() as f64
    );
    assert_eq!(
        delta(
            "router_requests_total",
            &[("transport", "http"), ("outcome", "ok")]
        ),
        ok as f64
    );
    assert_eq!(m1.value("router_inflight_requests", &http), 0.0);
}
