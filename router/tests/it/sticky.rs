//! Sticky sessions through the HTTP service: the same session keeps its provider within the
//! TTL, is routed by weight again after it, and the store stays within its capacity.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Router, decide_req};

const TTL: Duration = Duration::from_millis(300);

#[test]
fn session_sticks_within_the_ttl_and_is_weighted_again_after_it() {
    let router = Router::start(&["--sticky-ttl", "300ms"]);
    let mut c = router.client();
    let req = |n: u32| {
        decide_req(
            "acme",
            &format!("sticky-{n}"),
            json!({"session_key": "user-7"}),
        )
    };

    let sent_first = Instant::now();
    let first = c.decide_ok(&req(0));
    assert_eq!(
        first["reason"], "weighted",
        "a new session is routed by weight"
    );
    let provider = first["provider_id"].clone();

    // Within the TTL: sticky. The entry was stored after `sent_first`, so an answer that
    // arrives less than a TTL after it was certainly looked up before expiry.
    let mut checked = 0;
    for n in 1..=5 {
        let d = c.decide_ok(&req(n));
        if sent_first.elapsed() < TTL {
            assert_eq!(d["reason"], "sticky", "request {n}: {d}");
            assert_eq!(d["provider_id"], provider);
            assert_eq!(d["context"]["request_id"], format!("sticky-{n}"));
            checked += 1;
        }
    }
    assert!(checked > 0, "no request came back within the {TTL:?} TTL");

    // Poll (bounded) until the entry expires; it must not expire early.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 100;
    let after = loop {
        thread::sleep(Duration::from_millis(50));
        n += 1;
        let d = c.decide_ok(&req(n));
        if d["reason"] != "sticky" {
            assert!(
                sent_first.elapsed() >= TTL,
                "the session lost its provider before the TTL: {d}"
            );
            break d;
        }
        assert_eq!(d["provider_id"], provider);
        assert!(Instant::now() < deadline, "the sticky entry never expired");
    };
    assert_eq!(after["reason"], "weighted", "{after}");
    // Weighted choice hashes the session key, so the session lands where it began, and
    // sticks again.
    assert_eq!(after["provider_id"], provider);
    let again = c.decide_ok(&req(n + 1));
    assert_eq!(again["reason"], "sticky");
}

#[test]
fn sticky_store_stays_within_its_capacity() {
    let router = Router::start(&["--sticky-capacity", "32"]);
    let mut c = router.client();
    for i in 0..1_000 {
        let d = c.decide_ok(&decide_req(
            "acme",
            &format!("cap-{i}"),
            json!({"session_key": format!("session-{i}")}),
        ));
        assert_eq!(d["reason"], "weighted", "every session is new: {d}");
    }
    let entries = router.metrics().value("router_sticky_entries", &[]);
    assert!(
        (1.0..=32.0).contains(&entries),
        "router_sticky_entries = {entries} after 1000 sessions with capacity 32"
    );
    // The newest session is still remembered.
    let d = c.decide_ok(&decide_req(
        "acme",
        "cap-last",
        json!({"session_key": "session-999"}),
    ));
    assert_eq!(d["reason"], "sticky", "{d}");
}

#[test]
fn policy_without_sticky_sessions_ignores_the_session_key() {
    let router = Router::start(&[]);
    let mut c = router.client();
    for i in 0..5 {
        let d = c.decide_ok(&decide_req(
            "acme",
            &format!("nosticky-{i}"),
            json!({"policy_id": "cost-saver", "session_key": "user-1"}),
        ));
        assert_eq!(d["reason"], "weighted", "{d}");
        assert_eq!(d["policy_id"], "cost-saver");
    }
    assert_eq!(router.metrics().value("router_sticky_entries", &[]), 0.0);
}
