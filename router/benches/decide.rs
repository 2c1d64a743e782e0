//! Micro-benchmarks of the decision core, in process: `routing::decide` on its three paths
//! (weighted, sticky hit, fallback), `AppState::decide_json` end to end (decode, decide,
//! encode), and JSON decode and encode on their own. No sockets; the service end to end is
//! measured by `cargo xtask perf-bench`. Run with `cargo bench -p router --bench decide`.

mod fixtures;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use divan::{Bencher, black_box};
use router::routing::{self, Decision};
use router::sticky::StickyStore;
use router::wire::{Constraints, Context, DecisionRequest, DecisionResponse, Reason};
use router::{AppState, Config, PolicySet};

use fixtures::{KEY, SESSION, acme, input};

fn main() {
    divan::main();
}

/// A typical decision request: the weighted path of the perf workload's main template,
/// with a trace id and a little metadata.
const TYPICAL: &str = r#"{"version":"1","tenant_id":"acme","request_id":"req-7f3a9c2e-5b1d-4e8a-9c3f-2d1e0b4a6f78","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","task":{"type":"chat","model_hint":"large"},"metadata":{"source":"web","priority":2}}"#;

/// The same request in a sticky session (the session is remembered before timing starts).
const TYPICAL_SESSION: &str = r#"{"version":"1","tenant_id":"acme","request_id":"req-7f3a9c2e-5b1d-4e8a-9c3f-2d1e0b4a6f78","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","task":{"type":"chat","model_hint":"large"},"session_key":"session-5b1d4e8a9c3f","metadata":{"source":"web","priority":2}}"#;

/// `routing::decide`, weighted path: no session, no constraints.
#[divan::bench]
fn decide_weighted(bencher: Bencher) {
    let policy = acme();
    let d = routing::decide(&policy, &input(KEY, None, None)).unwrap();
    assert_eq!(d.reason, Reason::Weighted);
    bencher.bench(|| routing::decide(black_box(&policy), &input(black_box(KEY), None, None)));
}

/// Sticky path: the store lookup of a remembered session (store pre-filled with 10,000
/// sessions) and `routing::decide` with the hit.
#[divan::bench]
fn decide_sticky(bencher: Bencher) {
    let policy = acme();
    let store = StickyStore::new(100_000, Duration::from_secs(300));
    let now = Instant::now();
    for i in 0..10_000 {
        let key = StickyStore::key(policy.uid, &format!("session-{i}"));
        store.put(key, i % 3, now, store.default_ttl());
    }
    let k = StickyStore::key(policy.uid, SESSION);
    store.put(k, 2, now, store.default_ttl());
    let hit = |store: &StickyStore| -> Decision {
        let k = StickyStore::key(policy.uid, black_box(SESSION));
        let sticky = store.get(k, now);
        routing::decide(&policy, &input(SESSION, None, sticky)).unwrap()
    };
    assert_eq!(hit(&store).reason, Reason::Sticky);
    bencher.bench(|| hit(black_box(&store)));
}

/// Fallback path: the weighted choice is excluded by the request's constraints.
#[divan::bench]
fn decide_fallback(bencher: Bencher) {
    let policy = acme();
    let primary = routing::decide(&policy, &input(KEY, None, None)).unwrap();
    let constraints = Constraints {
        exclude_providers: vec![Cow::Owned(policy.providers[primary.provider].id.clone())],
        ..Default::default()
    };
    let d = routing::decide(&policy, &input(KEY, Some(&constraints), None)).unwrap();
    assert_eq!(d.reason, Reason::Fallback);
    bencher.bench(|| {
        routing::decide(
            black_box(&policy),
            &input(black_box(KEY), Some(black_box(&constraints)), None),
        )
    });
}

fn state() -> Arc<AppState> {
    AppState::new(Config::default(), PolicySet::sample())
}

/// `AppState::decide_json` end to end for a typical request: decode, validate, look up the
/// policy, decide, encode.
#[divan::bench]
fn decide_json(bencher: Bencher) {
    let state = state();
    let out = state.decide_json(TYPICAL.as_bytes()).unwrap();
    assert!(out.starts_with(br#"{"provider_id":"#));
    bencher.bench(|| state.decide_json(black_box(TYPICAL.as_bytes())).unwrap());
}

/// `AppState::decide_json` for a request in a remembered session (sticky store hit).
#[divan::bench]
fn decide_json_sticky(bencher: Bencher) {
    let state = state();
    state.decide_json(TYPICAL_SESSION.as_bytes()).unwrap();
    let out = state.decide_json(TYPICAL_SESSION.as_bytes()).unwrap();
    assert!(String::from_utf8_lossy(&out).contains(r#""reason":"sticky""#));
    bencher.bench(|| {
        state
            .decide_json(black_box(TYPICAL_SESSION.as_bytes()))
            .unwrap()
    });
}

/// JSON decode alone of the typical request.
#[divan::bench]
fn json_decode(bencher: Bencher) {
    bencher.bench(|| {
        serde_json::from_slice::<DecisionRequest<'_>>(black_box(TYPICAL.as_bytes()))
            .unwrap()
            .request_id
            .len()
    });
}

/// JSON encode alone of the typical response, into a buffer sized as the service does.
#[divan::bench]
fn json_encode(bencher: Bencher) {
    let resp = DecisionResponse {
        provider_id: "anthropic-claude",
        reason: Reason::Weighted,
        policy_id: "default",
        policy_version: "3",
        expected_latency_ms: Some(700.0),
        expected_cost: Some(0.03),
        context: Context {
            request_id: KEY,
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        },
    };
    bencher.bench(|| {
        let mut out = Vec::with_capacity(256);
        serde_json::to_writer(&mut out, black_box(&resp)).unwrap();
        out
    });
}
