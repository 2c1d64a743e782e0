//! The decision core: which provider serves a request under a policy. Pure: no IO, no
//! clock, no shared state; the sticky store's answer comes in as an argument.

use crate::policy::{Policy, Provider};
use crate::wire::{Constraints, Reason};

/// What the core needs from a request.
#[derive(Debug, Clone, Copy)]
pub struct DecideInput<'a> {
    /// The key weighted choice hashes: the session key, else the request id.
    pub key: &'a str,
    pub constraints: Option<&'a Constraints<'a>>,
    /// The provider the sticky store remembers for this session, if any.
    pub sticky: Option<usize>,
}

/// The chosen provider (an index into `policy.providers`) and the path that chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub provider: usize,
    pub reason: Reason,
}

/// No provider may serve the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no eligible provider: the weighted choice and every fallback are excluded or unhealthy")]
pub struct NoEligibleProvider;

/// Stable 64-bit hash of a routing key. xxh3 is fixed by its specification, so the same key
/// picks the same provider across builds, machines and Rust versions.
pub fn key_hash(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}

/// The provider weighted choice gives `key`: the hash lands in one provider's share of
/// the cumulative weights, so over many keys the split follows the weights.
pub fn weighted_choice(policy: &Policy, key: &str) -> usize {
    let point = key_hash(key) % policy.total_weight();
    // The first provider whose cumulative weight exceeds the point; weight-0 providers
    // have an empty share and are never chosen.
    policy.cumulative.partition_point(|&c| c <= point)
}

/// Whether `provider` may serve a request with these constraints.
pub fn eligible(provider: &Provider, constraints: Option<&Constraints<'_>>) -> bool {
    if !provider.healthy {
        return false;
    }
    let Some(c) = constraints else { return true };
    if c.exclude_providers
        .iter()
        .any(|x| x.as_ref() == provider.id)
    {
        return false;
    }
    let within = |limit: Option<f64>, value: Option<f64>| match (limit, value) {
        (Some(limit), Some(value)) => value <= limit,
        // A provider that does not state its latency or cost cannot be shown to break a limit.
        _ => true,
    };
    within(c.max_latency_ms, provider.expected_latency_ms)
        && within(c.max_cost, provider.expected_cost)
}

/// Decides: the remembered sticky provider if still eligible, else the weighted choice if
/// eligible, else the first eligible provider of the fallback chain.
pub fn decide(policy: &Policy, input: &DecideInput<'_>) -> Result<Decision, NoEligibleProvider> {
    let ok = |i: usize| eligible(&policy.providers[i], input.constraints);
    if policy.sticky
        && let Some(i) = input.sticky
        && i < policy.providers.len()
        && ok(i)
    {
        return Ok(Decision {
            provider: i,
            reason: Reason::Sticky,
        });
    }
    let chosen = weighted_choice(policy, input.key);
    if ok(chosen) {
        return Ok(Decision {
            provider: chosen,
            reason: Reason::Weighted,
        });
    }
    policy
        .fallback
        .iter()
        .copied()
        .find(|&i| ok(i))
        .map(|provider| Decision {
            provider,
            reason: Reason::Fallback,
        })
        .ok_or(NoEligibleProvider)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::policy::PolicySet;

    fn acme() -> Policy {
        PolicySet::sample().lookup("acme", None).unwrap().clone()
    }

    fn input<'a>(
        key: &'a str,
        c: Option<&'a Constraints<'a>>,
        sticky: Option<usize>,
    ) -> DecideInput<'a> {
        DecideInput {
            key,
            constraints: c,
            sticky,
        }
    }

    fn id(p: &Policy, d: Decision) -> &str {
        &p.providers[d.provider].id
    }

    #[test]
    fn same_key_same_provider() {
        let p = acme();
        for k in ["a", "b", "session-42", ""] {
            let first = decide(&p, &input(k, None, None)).unwrap();
            for _ in 0..10 {
                assert_eq!(decide(&p, &input(k, None, None)).unwrap(), first);
            }
        }
    }

    #[test]
    fn split_follows_weights() {
        let p = acme();
        let mut counts = vec![0u32; p.providers.len()];
        for i in 0..20_000 {
            counts[weighted_choice(&p, &format!("req-{i}"))] += 1;
        }
        for (prov, n) in p.providers.iter().zip(&counts) {
            let share = f64::from(*n) / 200.0;
            assert!(
                (share - f64::from(prov.weight)).abs() < 2.0,
                "{}: {share}%",
                prov.id
            );
        }
        assert_eq!(counts[3], 0, "weight 0 is never chosen");
    }

    #[test]
    fn sticky_wins_when_eligible() {
        let p = acme();
        let d = decide(&p, &input("k", None, Some(2))).unwrap();
        assert_eq!(
            d,
            Decision {
                provider: 2,
                reason: Reason::Sticky
            }
        );
        // A stale sticky index (policy changed) is ignored, not a panic.
        assert_eq!(
            decide(&p, &input("k", None, Some(99))).unwrap().reason,
            Reason::Weighted
        );
    }

    #[test]
    fn excluded_primary_goes_to_fallback() {
        let p = acme();
        let key = "fallback-probe";
        let primary = id(&p, decide(&p, &input(key, None, None)).unwrap()).to_string();
        let c = Constraints {
            exclude_providers: vec![Cow::Owned(primary.clone())],
            ..Default::default()
        };
        let d = decide(&p, &input(key, Some(&c), None)).unwrap();
        assert_eq!(d.reason, Reason::Fallback);
        assert_ne!(id(&p, d), primary);
        assert_eq!(id(&p, d), "local-llama", "first in the chain");
    }

    #[test]
    fn constraints_limit_latency_and_cost() {
        let p = acme();
        let c = Constraints {
            max_latency_ms: Some(400.0),
            ..Default::default()
        };
        let d = decide(&p, &input("x", Some(&c), None)).unwrap();
        assert_eq!(id(&p, d), "local-llama");
        let c = Constraints {
            max_cost: Some(0.0001),
            ..Default::default()
        };
        assert_eq!(
            decide(&p, &input("x", Some(&c), None)),
            Err(NoEligibleProvider)
        );
    }

    #[test]
    fn unhealthy_primary_falls_back() {
        let set = PolicySet::sample();
        let p = set.lookup("initech", None).unwrap();
        let mut reasons = [0u32; 2];
        for i in 0..1000 {
            let d = decide(p, &input(&format!("k{i}"), None, None)).unwrap();
            assert_eq!(id(p, d), "secondary-gpu");
            reasons[usize::from(d.reason == Reason::Fallback)] += 1;
        }
        assert!(
            reasons[1] > 700,
            "most keys hit the unhealthy primary: {reasons:?}"
        );
    }
}
