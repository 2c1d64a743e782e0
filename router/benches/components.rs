//! Component benchmarks of the router's parts, in process, for the perf gate: the decision
//! core on its three paths, the policy lookup, the sticky store at 1k and 100k entries, and
//! JSON decode+encode of small, medium and large decision requests.
//!
//! A small hand-written sampler instead of divan (see `decide.rs`) because the gate needs
//! every sample, not a summary: each benchmark calibrates an iteration count so that one
//! sample takes about `--sample-ms`, warms up, then takes `--samples` samples, each the mean
//! time of one operation over that many iterations, in nanoseconds.
//!
//! `cargo xtask perf-bench --suite components` builds and runs it. By hand:
//! `cargo bench -p router --bench components -- --samples 20 --json out.json`.
//! Without `--bench` (which `cargo bench` passes) and without `--samples` it is a quick
//! check that every benchmark runs, as `cargo test --benches` does with libtest's harness.

use std::borrow::Cow;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use router::PolicySet;
use router::policy::Policy;
use router::routing::{self, DecideInput};
use router::sticky::StickyStore;
use router::wire::{self, Constraints, Context, DecisionResponse, Reason};

/// A request id of realistic length (a UUID with a prefix).
const KEY: &str = "req-7f3a9c2e-5b1d-4e8a-9c3f-2d1e0b4a6f78";
const SESSION: &str = "session-5b1d4e8a9c3f";

/// The smallest valid decision request: only the required fields.
const SMALL: &str = r#"{"version":"1","tenant_id":"acme","request_id":"req-7f3a9c2e-5b1d-4e8a-9c3f-2d1e0b4a6f78","task":{"type":"chat"}}"#;

/// A typical request of the perf workload: trace id, session, constraints, a little metadata.
const MEDIUM: &str = r#"{"version":"1","tenant_id":"acme","request_id":"req-7f3a9c2e-5b1d-4e8a-9c3f-2d1e0b4a6f78","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","task":{"type":"chat","model_hint":"large"},"policy_id":"default","constraints":{"exclude_providers":["local-llama"],"max_latency_ms":900,"max_cost":0.05},"session_key":"session-5b1d4e8a9c3f","metadata":{"source":"web","priority":2}}"#;

/// How the benchmark run was asked for.
#[derive(Debug)]
struct Options {
    /// Samples per benchmark.
    samples: u32,
    /// Target wall time of one sample.
    sample: Duration,
    json: Option<String>,
    filter: Option<String>,
    /// `cargo test --benches` style: run each benchmark a few times, no measuring.
    check_only: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        samples: 20,
        sample: Duration::from_millis(10),
        json: None,
        filter: None,
        check_only: true,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name}: expected a value"));
        match arg.as_str() {
            // `cargo bench` passes `--bench`; it means "measure".
            "--bench" => opts.check_only = false,
            "--samples" => {
                opts.samples = value("--samples")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--samples: expected a positive integer")?;
                opts.check_only = false;
            }
            "--sample-ms" => {
                let ms: f64 = value("--sample-ms")?
                    .parse()
                    .ok()
                    .filter(|&ms: &f64| ms.is_finite() && ms > 0.0 && ms <= 10_000.0)
                    .ok_or("--sample-ms: expected a number of milliseconds in (0, 10000]")?;
                opts.sample = Duration::from_secs_f64(ms / 1000.0);
            }
            "--json" => opts.json = Some(value("--json")?),
            "--filter" => opts.filter = Some(value("--filter")?),
            other if other.starts_with('-') => return Err(format!("unknown flag `{other}`")),
            // `cargo bench -- NAME`: a positional filter, as with libtest.
            other => opts.filter = Some(other.to_string()),
        }
    }
    Ok(opts)
}

/// One benchmark's result.
struct Measured {
    name: &'static str,
    iterations_per_sample: u64,
    /// Nanoseconds per operation, one value per sample.
    samples: Vec<f64>,
}

/// Runs the benchmarks and collects their samples.
struct Sampler {
    opts: Options,
    results: Vec<Measured>,
}

impl Sampler {
    /// Measures `op` (which must do one operation per call and return something that
    /// depends on it) unless the filter leaves `name` out.
    fn bench<T>(&mut self, name: &'static str, mut op: impl FnMut() -> T) {
        if self
            .opts
            .filter
            .as_deref()
            .is_some_and(|f| !name.contains(f))
        {
            return;
        }
        if self.opts.check_only {
            for _ in 0..3 {
                black_box(op());
            }
            eprintln!("{name}: ok");
            return;
        }
        let iters = calibrate(&mut op, self.opts.sample);
        // Warm-up: one sample's worth, discarded (caches, branch predictors, CPU clock).
        time(&mut op, iters);
        let samples: Vec<f64> = (0..self.opts.samples)
            .map(|_| time(&mut op, iters).as_nanos() as f64 / iters as f64)
            .collect();
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        eprintln!(
            "{name:<20} {:>10.1} ns/op (min {:.1}, max {:.1}; {} samples of {iters} iterations)",
            sorted[sorted.len() / 2],
            sorted[0],
            sorted[sorted.len() - 1],
            samples.len()
        );
        self.results.push(Measured {
            name,
            iterations_per_sample: iters,
            samples,
        });
    }

    fn to_json(&self) -> String {
        let benchmarks: serde_json::Map<String, serde_json::Value> = self
            .results
            .iter()
            .map(|m| {
                (
                    m.name.to_string(),
                    serde_json::json!({
                        "samples": m.samples,
                        "iterations_per_sample": m.iterations_per_sample,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "unit": "ns",
            "sample_ms": self.opts.sample.as_secs_f64() * 1000.0,
            "benchmarks": benchmarks,
        })
        .to_string()
    }
}

/// Wall time of `iters` calls of `op`.
fn time<T>(op: &mut impl FnMut() -> T, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(op());
    }
    start.elapsed()
}

/// The iteration count that makes one sample last about `target`: doubles until a run
/// takes a tenth of it, then scales. Also warms the code up.
fn calibrate<T>(op: &mut impl FnMut() -> T, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let took = time(op, iters);
        if took >= target / 10 || iters >= 1 << 40 {
            let per_op = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_op.max(1e-12)) as u64).max(1);
        }
        iters *= 2;
    }
}

fn acme() -> Policy {
    PolicySet::sample()
        .lookup("acme", None)
        .expect("acme ships a default policy")
        .clone()
}

fn input<'a>(
    key: &'a str,
    constraints: Option<&'a Constraints<'a>>,
    sticky: Option<usize>,
) -> DecideInput<'a> {
    DecideInput {
        key,
        constraints,
        sticky,
    }
}

/// The decision core on its three paths.
fn decide(s: &mut Sampler) {
    let policy = acme();
    let weighted = input(KEY, None, None);
    assert_eq!(
        routing::decide(&policy, &weighted).unwrap().reason,
        Reason::Weighted
    );
    s.bench("decide_weighted", || {
        routing::decide(black_box(&policy), black_box(&weighted))
    });

    let sticky = input(SESSION, None, Some(2));
    assert_eq!(
        routing::decide(&policy, &sticky).unwrap().reason,
        Reason::Sticky
    );
    s.bench("decide_sticky_hit", || {
        routing::decide(black_box(&policy), black_box(&sticky))
    });

    let primary = routing::decide(&policy, &weighted).unwrap();
    let constraints = Constraints {
        exclude_providers: vec![Cow::Owned(policy.providers[primary.provider].id.clone())],
        ..Default::default()
    };
    let fallback = input(KEY, Some(&constraints), None);
    assert_eq!(
        routing::decide(&policy, &fallback).unwrap().reason,
        Reason::Fallback
    );
    s.bench("decide_fallback", || {
        routing::decide(black_box(&policy), black_box(&fallback))
    });
}

/// The policy lookup of every request: tenant, then the named or default policy.
fn policy_lookup(s: &mut Sampler) {
    let set = PolicySet::sample();
    assert!(set.lookup("acme", Some("cost-saver")).is_ok());
    let mut named = false;
    s.bench("policy_lookup", || {
        // Alternate the default and a named policy, as requests do.
        named = !named;
        let policy_id = if named { Some("cost-saver") } else { None };
        set.lookup(black_box("acme"), black_box(policy_id))
            .map(|p| p.uid)
    });
}

/// The sticky store holding `n` live sessions: a hit on one of them, and a put of a new
/// session into the full store (evicting the oldest), cycling through the keys so the
/// caches see a realistic spread of entries.
fn sticky(s: &mut Sampler, n: usize, get_name: &'static str, put_name: &'static str) {
    let now = Instant::now();
    let ttl = Duration::from_secs(3600);
    // Twice as many keys as the store holds: the second half are the sessions put later.
    let keys: Vec<u64> = (0..2 * n)
        .map(|i| StickyStore::key(7, &format!("session-{i:08}")))
        .collect();
    let store = StickyStore::new(n, ttl);
    for (i, &k) in keys[..n].iter().enumerate() {
        store.put(k, i % 3, now, ttl);
    }
    // Read only keys that are still there: shards fill unevenly, so a few of the first n
    // may have been evicted already.
    let present: Vec<u64> = keys[..n]
        .iter()
        .copied()
        .filter(|&k| store.get(k, now).is_some())
        .collect();
    assert!(present.len() >= n * 9 / 10, "{} of {n}", present.len());
    let mut i = 0;
    s.bench(get_name, || {
        i = if i + 1 == present.len() { 0 } else { i + 1 };
        store.get(black_box(present[i]), now)
    });
    let mut j = n;
    s.bench(put_name, || {
        // The store holds the last n keys put; key j is not among them, so this inserts
        // and evicts, the steady state of a full store.
        j = if j + 1 == keys.len() { 0 } else { j + 1 };
        store.put(black_box(keys[j]), j % 3, now, ttl);
    });
    assert!(store.len() <= store.capacity());
}

/// A large request: many excluded providers and a metadata object of a few kilobytes,
/// which the decoder checks and skips.
fn large_request() -> String {
    let excluded: Vec<String> = (0..32).map(|i| format!("\"provider-{i:03}\"")).collect();
    let fields: Vec<String> = (0..64)
        .map(|i| {
            format!(
                "\"field_{i:02}\":{{\"text\":\"some user-supplied value number {i} with \\\"escapes\\\" and unicode \\u00e9\",\"n\":{i}.5,\"tags\":[\"a\",\"b\",{i},null,true]}}"
            )
        })
        .collect();
    format!(
        r#"{{"version":"1","tenant_id":"acme","request_id":"{KEY}","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","task":{{"type":"chat","model_hint":"large","context_tokens":120000}},"policy_id":"default","constraints":{{"exclude_providers":[{}],"max_latency_ms":900,"max_cost":0.05}},"session_key":"{SESSION}","metadata":{{{}}}}}"#,
        excluded.join(","),
        fields.join(",")
    )
}

/// Decode of a request and encode of the response built from it: the wire work of one
/// decision, without the decision.
fn decode_encode(body: &[u8]) -> Vec<u8> {
    let req = wire::decode_request(body).expect("the benchmark's requests are valid");
    let resp = DecisionResponse {
        provider_id: "anthropic-claude",
        reason: Reason::Weighted,
        policy_id: req.policy_id.as_deref().unwrap_or("default"),
        policy_version: "3",
        expected_latency_ms: Some(700.0),
        expected_cost: Some(0.03),
        context: Context {
            request_id: &req.request_id,
            trace_id: req.trace_id.as_deref(),
        },
    };
    // Sized as the service sizes its response buffer.
    let mut out = Vec::with_capacity(256);
    serde_json::to_writer(&mut out, &resp).expect("decision responses always serialize");
    out
}

fn json(s: &mut Sampler) {
    let large = large_request();
    for (name, body) in [
        ("json_small", SMALL),
        ("json_medium", MEDIUM),
        ("json_large", large.as_str()),
    ] {
        assert!(
            String::from_utf8(decode_encode(body.as_bytes()))
                .unwrap()
                .contains(KEY)
        );
        s.bench(name, || decode_encode(black_box(body.as_bytes())));
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: components [--bench] [--samples N] [--sample-ms MS] [--json FILE] [--filter SUBSTR]"
            );
            return ExitCode::from(2);
        }
    };
    let json_path = opts.json.clone();
    let mut s = Sampler {
        opts,
        results: Vec::new(),
    };
    decide(&mut s);
    policy_lookup(&mut s);
    sticky(&mut s, 1_000, "sticky_get_1k", "sticky_put_1k");
    sticky(&mut s, 100_000, "sticky_get_100k", "sticky_put_100k");
    json(&mut s);
    if s.opts.check_only {
        return ExitCode::SUCCESS;
    }
    let text = s.to_json();
    match json_path {
        Some(path) => {
            if let Err(e) = std::fs::write(&path, text + "\n") {
                eprintln!("error: writing {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
        None => println!("{text}"),
    }
    ExitCode::SUCCESS
}
