//! Weighted choice and fallback through the HTTP service, checked against the shipped
//! policy files.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{Router, decide_req, shipped_policy};

/// Provider ids and weights of a shipped policy, in file order.
fn weights(policy: &Value) -> Vec<(String, f64)> {
    policy["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_string(),
                p["weight"].as_f64().expect("weight"),
            )
        })
        .collect()
}

#[test]
fn weighted_split_follows_the_policy_weights_and_keys_are_stable() {
    const N: usize = 10_000;
    let router = Router::start(&[]);
    let mut c = router.client();
    let policy = shipped_policy("acme", None);
    let weights = weights(&policy);
    let total: f64 = weights.iter().map(|(_, w)| w).sum();

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut chosen = Vec::with_capacity(N);
    for i in 0..N {
        let id = format!("weights-{i}");
        let d = c.decide_ok(&decide_req("acme", &id, json!({})));
        assert_eq!(d["reason"], "weighted", "{d}");
        assert_eq!(d["policy_id"], policy["policy_id"]);
        assert_eq!(d["policy_version"], policy["version"]);
        assert_eq!(d["context"]["request_id"], id.as_str());
        let provider = d["provider_id"].as_str().expect("provider_id").to_string();
        *counts.entry(provider.clone()).or_default() += 1;
        chosen.push(provider);
    }
    for (id, weight) in &weights {
        let share = 100.0 * counts.get(id).copied().unwrap_or(0) as f64 / N as f64;
        let expected = 100.0 * weight / total;
        assert!(
            (share - expected).abs() <= 2.0,
            "{id}: {share:.2}% of {N} requests, weight says {expected:.2}%; counts {counts:?}"
        );
    }
    assert!(
        counts.keys().all(|id| weights.iter().any(|(w, _)| w == id)),
        "only the policy's providers are chosen: {counts:?}"
    );

    // The same key always gets the same provider: repeat every 50th key, on a new
    // connection, a few times.
    let mut c = router.client();
    for i in (0..N).step_by(50) {
        let req = decide_req("acme", &format!("weights-{i}"), json!({}));
        for _ in 0..3 {
            let d = c.decide_ok(&req);
            assert_eq!(d["provider_id"], chosen[i].as_str(), "key weights-{i}");
        }
    }
}

#[test]
fn excluded_primary_falls_back_along_the_chain() {
    let router = Router::start(&[]);
    let mut c = router.client();
    let policy = shipped_policy("acme", None);
    let chain: Vec<&str> = policy["fallback"]
        .as_array()
        .expect("fallback")
        .iter()
        .map(|v| v.as_str().expect("fallback id"))
        .collect();
    let mut primaries_seen = BTreeMap::<String, usize>::new();
    for i in 0..60 {
        let id = format!("fallback-{i}");
        let primary = c.decide_ok(&decide_req("acme", &id, json!({})));
        assert_eq!(primary["reason"], "weighted");
        let primary = primary["provider_id"].as_str().unwrap().to_string();
        *primaries_seen.entry(primary.clone()).or_default() += 1;

        let excluded = decide_req(
            "acme",
            &id,
            json!({"constraints": {"exclude_providers": [primary]}}),
        );
        let d = c.decide_ok(&excluded);
        let expected = chain
            .iter()
            .find(|&&p| p != primary)
            .expect("an eligible fallback");
        assert_eq!(d["reason"], "fallback", "{d}");
        assert_eq!(d["provider_id"], *expected, "primary {primary} excluded");

        // Excluding the first fallback too moves on down the chain, or runs out.
        let both = decide_req(
            "acme",
            &id,
            json!({"constraints": {"exclude_providers": [primary, expected]}}),
        );
        let resp = c.decide(&both);
        match chain.iter().find(|&&p| p != primary && p != *expected) {
            Some(next) => {
                assert_eq!(resp.status, 200, "{}", resp.text());
                let d = resp.json();
                assert_eq!(d["reason"], "fallback");
                assert_eq!(d["provider_id"], *next);
            }
            None => {
                assert_eq!(resp.status, 422, "{}", resp.text());
                assert_eq!(resp.error_code().as_deref(), Some("no_eligible_provider"));
            }
        }
    }
    assert!(
        primaries_seen.len() >= 3,
        "60 keys reach every weighted provider: {primaries_seen:?}"
    );
}

#[test]
fn unhealthy_primary_falls_back_to_the_secondary() {
    let router = Router::start(&[]);
    let mut c = router.client();
    let mut reasons = BTreeMap::<String, usize>::new();
    for i in 0..100 {
        let d = c.decide_ok(&decide_req("initech", &format!("initech-{i}"), json!({})));
        assert_eq!(d["provider_id"], "secondary-gpu", "{d}");
        *reasons
            .entry(d["reason"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        reasons.keys().all(|r| r == "fallback" || r == "weighted"),
        "{reasons:?}"
    );
    assert!(
        reasons.get("fallback").copied().unwrap_or(0) > 50,
        "primary-gpu has 80% of the weight, so most requests fall back: {reasons:?}"
    );
}

#[test]
fn constraints_that_exclude_everything_are_422() {
    let router = Router::start(&[]);
    let mut c = router.client();
    let all: Vec<String> = weights(&shipped_policy("acme", None))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for constraints in [
        json!({"exclude_providers": all}),
        json!({"max_cost": 0.0}),
        json!({"max_latency_ms": 1}),
    ] {
        let resp = c.decide(&decide_req(
            "acme",
            "nothing-left",
            json!({"constraints": constraints}),
        ));
        assert_eq!(resp.status, 422, "{constraints}: {}", resp.text());
        assert_eq!(resp.error_code().as_deref(), Some("no_eligible_provider"));
    }
    // The router is fine afterwards.
    c.decide_ok(&decide_req("acme", "after", json!({})));
}
