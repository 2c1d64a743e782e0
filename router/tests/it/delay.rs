//! The test-only delay knob (`ROUTER_TEST_DELAY_US`, `ROUTER_TEST_DELAY_EVERY`): every N-th
//! decision is answered late, without burning CPU, and keeps its in-flight slot meanwhile;
//! bad values exit 2 naming the variable; the settings show in `/metrics` and on stderr.
//! (The NATS path is covered in `nats.rs`.)

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Client, DELAY_EVERY_ENV, DELAY_US_ENV, RouterCmd, decide_req};

const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn every_other_decision_is_delayed() {
    const DELAY: Duration = Duration::from_millis(50);
    const PAIRS: usize = 4;
    let router = RouterCmd::new()
        .env(DELAY_US_ENV, DELAY.as_micros().to_string())
        .env(DELAY_EVERY_ENV, "2")
        .start();
    let m = router.metrics();
    assert_eq!(m.value("router_test_delay_us", &[]), 50_000.0);
    assert_eq!(m.value("router_test_delay_every", &[]), 2.0);
    assert!(
        router.stderr().contains(DELAY_US_ENV) && router.stderr().contains("not a normal run"),
        "the router warns that the knob is on: {}",
        router.stderr()
    );

    let mut c = router.client();
    let times: Vec<Duration> = (0..2 * PAIRS)
        .map(|i| {
            let t = Instant::now();
            c.decide_ok(&decide_req("acme", &format!("delay-{i}"), json!({})));
            t.elapsed()
        })
        .collect();
    // The first decision is delayed, then every other one: the timer guarantees the
    // delayed ones; the others are fast unless the machine stalls, so most must be fast.
    let (delayed, fast): (Vec<_>, Vec<_>) = times.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (i, t) in &delayed {
        assert!(
            **t >= DELAY,
            "decision {i} took {t:?}, expected >= {DELAY:?}: {times:?}"
        );
    }
    let quick = fast.iter().filter(|(_, t)| **t < DELAY).count();
    assert!(
        quick >= PAIRS - 1,
        "only {quick} of the {PAIRS} undelayed decisions were fast: {times:?}"
    );
}

#[test]
fn a_delayed_decision_keeps_its_slot() {
    let router = RouterCmd::new()
        .args(["--max-inflight", "1"])
        .env(DELAY_US_ENV, "400000")
        .start();
    assert_eq!(router.metrics().value("router_test_delay_every", &[]), 1.0);
    let addr = router.addr();
    let slow =
        thread::spawn(move || Client::connect(addr).decide(&decide_req("acme", "held", json!({}))));
    // Wait (bounded) until the delayed decision holds the one slot, then ask again.
    let deadline = Instant::now() + Duration::from_secs(3);
    while router
        .metrics()
        .value("router_inflight_requests", &[("transport", "http")])
        < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the delayed decision never showed in flight"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let refused = Client::connect(addr).decide(&decide_req("acme", "refused", json!({})));
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.error_code().as_deref(), Some("overloaded"));
    let held = slow.join().expect("the delayed client");
    assert_eq!(held.status, 200, "{}", held.text());
}

#[test]
fn bad_delay_values_exit_2_naming_the_variable() {
    for (env, named) in [
        (&[(DELAY_US_ENV, "soon")][..], DELAY_US_ENV),
        (&[(DELAY_US_ENV, "-1")], DELAY_US_ENV),
        (&[(DELAY_US_ENV, "99999999999")], DELAY_US_ENV),
        (
            &[(DELAY_US_ENV, "1000"), (DELAY_EVERY_ENV, "0")],
            DELAY_EVERY_ENV,
        ),
        (
            &[(DELAY_US_ENV, "1000"), (DELAY_EVERY_ENV, "often")],
            DELAY_EVERY_ENV,
        ),
        (&[(DELAY_EVERY_ENV, "2")], DELAY_EVERY_ENV),
    ] {
        let mut cmd = RouterCmd::new().args(["--listen", "127.0.0.1:0"]);
        for (k, v) in env {
            cmd = cmd.env(*k, *v);
        }
        let done = cmd.run_to_exit(EXIT_TIMEOUT);
        assert_eq!(done.status.code(), Some(2), "{env:?}: {}", done.stderr);
        assert!(done.stderr.contains(named), "{env:?}: {}", done.stderr);
        assert!(
            !done.stdout.contains("listening"),
            "{env:?}: never listened"
        );
    }
}

#[test]
fn knob_off_by_default() {
    let router = RouterCmd::new().start();
    let m = router.metrics();
    assert_eq!(m.value("router_test_delay_us", &[]), 0.0);
    assert_eq!(m.value("router_test_delay_every", &[]), 0.0);
    assert!(
        !router.stderr().contains(DELAY_US_ENV),
        "{}",
        router.stderr()
    );
}
