//! Component benchmarks of the router's parts, in process, for the perf gate: the decision
//! core on its three paths, the policy lookup, the sticky store at 1k and 100k entries, and
//! JSON decode+encode of small, medium and large decision requests.
//!
//! A small hand-written sampler instead of divan (see `decide.rs`) because the gate needs
//! every sample, not a summary: each benchmark calibrates an iteration count so that one
//! sample takes about `--sample-ms` and warms up; then `--samples` samples are taken
//! round-robin across the benchmarks, each the mean time of one operation over that many
//! iterations, in nanoseconds.
//!
//! `cargo xtask perf-bench --suite components` builds and runs it. By hand:
//! `cargo bench -p router --bench components -- --samples 20 --json out.json`.
//! Without `--bench` (which `cargo bench` passes) and without `--samples` it is a quick
//! check that every benchmark runs, as `cargo test --benches` does with libtest's harness.
//!
//! For instruction counts (`xtask::bench::component_counts`) it also runs one benchmark a
//! fixed number of times, untimed and uncalibrated: `--iterations N --filter NAME` (NAME
//! exactly). The operations run inside `bench_loop`, the one function callgrind collects
//! (`--toggle-collect`), so the setup of the benchmark is not counted. `--list` prints the
//! benchmark names (those `--filter SUBSTR` selects, when given).

mod fixtures;

use std::borrow::Cow;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use router::PolicySet;
use router::routing;
use router::sticky::StickyStore;
use router::wire::{self, Constraints, Context, DecisionResponse, Reason};

use fixtures::{KEY, SESSION, acme, input};

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
    /// `--iterations N`: run the one benchmark `filter` names exactly, N times, untimed.
    iterations: Option<u64>,
    /// `--list`: print the benchmark names and exit.
    list: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        samples: 20,
        sample: Duration::from_millis(10),
        json: None,
        filter: None,
        check_only: true,
        iterations: None,
        list: false,
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
            "--iterations" => {
                opts.iterations = Some(
                    value("--iterations")?
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or("--iterations: expected a positive integer")?,
                );
            }
            "--list" => opts.list = true,
            "--json" => opts.json = Some(value("--json")?),
            "--filter" => opts.filter = Some(value("--filter")?),
            other if other.starts_with('-') => return Err(format!("unknown flag `{other}`")),
            // `cargo bench -- NAME`: a positional filter, as with libtest.
            other => opts.filter = Some(other.to_string()),
        }
    }
    if opts.iterations.is_some() && opts.filter.is_none() {
        return Err("--iterations: also give --filter NAME, the one benchmark to run".into());
    }
    Ok(opts)
}

/// One benchmark: its timed loop and, once measured, its samples.
struct Bench<'a> {
    name: &'static str,
    /// Runs the operation `n` times and returns the wall time. Boxed per benchmark, but the
    /// loop inside is monomorphic, so the indirection is paid once per sample, not per call.
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
    iterations_per_sample: u64,
    /// Nanoseconds per operation, one value per sample.
    samples: Vec<f64>,
}

/// Collects the benchmarks, then measures them all.
struct Sampler<'a> {
    opts: Options,
    benches: Vec<Bench<'a>>,
    /// The selected benchmarks' names, setup or not (for `--list`).
    names: Vec<&'static str>,
}

impl<'a> Sampler<'a> {
    /// Whether `name` is to run: the filter (a substring; the exact name with
    /// `--iterations`) selects it, and this is not `--list`. The benchmark functions ask
    /// before their setup, so that a counting run of one benchmark under callgrind (about
    /// 50x slower) does not first build the 100k-session stores of the others.
    fn wants(&mut self, name: &'static str) -> bool {
        let selected = match (&self.opts.filter, self.opts.iterations) {
            (None, _) => true,
            (Some(f), Some(_)) => name == f,
            (Some(f), None) => name.contains(f.as_str()),
        };
        if selected {
            self.names.push(name);
        }
        selected && !self.opts.list
    }

    /// Adds `op` (which must do one operation per call and return something that depends
    /// on it). Call it only when `wants(name)`.
    fn bench<T>(&mut self, name: &'static str, mut op: impl FnMut() -> T + 'a) {
        self.benches.push(Bench {
            name,
            run: Box::new(move |n| time(&mut op, n)),
            iterations_per_sample: 0,
            samples: Vec::new(),
        });
    }

    /// Calibrates and warms up every benchmark, then takes the samples round-robin: sample
    /// 1 of every benchmark, then sample 2, ... On a shared machine a busy stretch then
    /// lands on a few samples of each benchmark, which the median shrugs off, instead of
    /// on every sample of whichever benchmark happened to be running.
    fn measure(&mut self) {
        if let Some(n) = self.opts.iterations {
            for b in &mut self.benches {
                (b.run)(n);
                eprintln!("{}: {n} iterations", b.name);
            }
            return;
        }
        if self.opts.check_only {
            for b in &mut self.benches {
                (b.run)(3);
                eprintln!("{}: ok", b.name);
            }
            return;
        }
        for b in &mut self.benches {
            b.iterations_per_sample = calibrate(&mut b.run, self.opts.sample);
            // Warm-up: one sample's worth, discarded (caches, branch predictors, CPU clock).
            (b.run)(b.iterations_per_sample);
        }
        for _ in 0..self.opts.samples {
            for b in &mut self.benches {
                let n = b.iterations_per_sample;
                b.samples.push((b.run)(n).as_nanos() as f64 / n as f64);
            }
        }
        for b in &self.benches {
            let mut sorted = b.samples.clone();
            sorted.sort_by(f64::total_cmp);
            eprintln!(
                "{:<20} {:>10.1} ns/op (min {:.1}, max {:.1}; {} samples of {} iterations)",
                b.name,
                sorted[sorted.len() / 2],
                sorted[0],
                sorted[sorted.len() - 1],
                sorted.len(),
                b.iterations_per_sample
            );
        }
    }

    fn to_json(&self) -> String {
        let benchmarks: serde_json::Map<String, serde_json::Value> = self
            .benches
            .iter()
            .map(|b| {
                (
                    b.name.to_string(),
                    serde_json::json!({
                        "samples": b.samples,
                        "iterations_per_sample": b.iterations_per_sample,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "unit": "ns",
            "sample_ms": self.opts.sample.as_secs_f64() * 1000.0,
            "order": "interleaved: sample i of every benchmark, then sample i + 1",
            "benchmarks": benchmarks,
        })
        .to_string()
    }
}

/// Wall time of `iters` calls of `op`.
fn time<T>(op: &mut impl FnMut() -> T, iters: u64) -> Duration {
    let start = Instant::now();
    bench_loop(op, iters);
    start.elapsed()
}

/// `iters` calls of `op`: the only code a counting run collects (callgrind
/// `--toggle-collect=*bench_loop*`), hence never inlined and named for that. The clock reads
/// around it stay outside.
#[inline(never)]
fn bench_loop<T>(op: &mut impl FnMut() -> T, iters: u64) {
    for _ in 0..iters {
        black_box(op());
    }
}

/// The iteration count that makes one sample last about `target`: doubles until a run
/// takes a tenth of it, then scales. Also warms the code up.
fn calibrate(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let took = run(iters);
        if took >= target / 10 || iters >= 1 << 40 {
            let per_op = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_op.max(1e-12)) as u64).max(1);
        }
        iters *= 2;
    }
}

/// The decision core on its three paths.
fn decide(s: &mut Sampler) {
    let policy = acme();
    assert_eq!(
        routing::decide(&policy, &input(KEY, None, None))
            .unwrap()
            .reason,
        Reason::Weighted
    );
    if s.wants("decide_weighted") {
        let p = policy.clone();
        s.bench("decide_weighted", move || {
            routing::decide(black_box(&p), &input(black_box(KEY), None, None))
        });
    }

    assert_eq!(
        routing::decide(&policy, &input(SESSION, None, Some(2)))
            .unwrap()
            .reason,
        Reason::Sticky
    );
    if s.wants("decide_sticky_hit") {
        let p = policy.clone();
        s.bench("decide_sticky_hit", move || {
            routing::decide(
                black_box(&p),
                &input(black_box(SESSION), None, black_box(Some(2))),
            )
        });
    }

    let primary = routing::decide(&policy, &input(KEY, None, None)).unwrap();
    let constraints = Constraints {
        exclude_providers: vec![Cow::Owned(policy.providers[primary.provider].id.clone())],
        ..Default::default()
    };
    assert_eq!(
        routing::decide(&policy, &input(KEY, Some(&constraints), None))
            .unwrap()
            .reason,
        Reason::Fallback
    );
    if s.wants("decide_fallback") {
        s.bench("decide_fallback", move || {
            routing::decide(
                black_box(&policy),
                &input(black_box(KEY), Some(black_box(&constraints)), None),
            )
        });
    }
}

/// Policy sets the lookup benchmark cycles through. Each `PolicySet` hashes with seeds of
/// its own (std's `RandomState`), and which keys share a probe group depends on them: one
/// set's lookup cost moved by 4.4% (535-559 instructions) from one process to the next.
/// Over 256 sets the count is the mean over seeds, which is what a fleet of routers pays,
/// and it holds still between runs.
const POLICY_SETS: usize = 256;

/// The policy lookup of every request: tenant, then the named or default policy.
fn policy_lookup(s: &mut Sampler) {
    if !s.wants("policy_lookup") {
        return;
    }
    let sets: Vec<PolicySet> = (0..POLICY_SETS).map(|_| PolicySet::sample()).collect();
    assert!(sets[0].lookup("acme", Some("cost-saver")).is_ok());
    let mut k = 0usize;
    s.bench("policy_lookup", move || {
        // Alternate the default and a named policy, as requests do; each set serves both
        // before the next one's turn.
        k = k.wrapping_add(1);
        let policy_id = if k % 2 == 1 { Some("cost-saver") } else { None };
        let set = &sets[(k / 2) % POLICY_SETS];
        set.lookup(black_box("acme"), black_box(policy_id))
            .map(|p| p.uid)
    });
}

/// A sticky store of capacity `n` filled with `keys`, at `now`.
fn filled_store(n: usize, keys: &[u64], now: Instant, ttl: Duration) -> StickyStore {
    let store = StickyStore::new(n, ttl);
    for (i, &k) in keys.iter().enumerate() {
        store.put(k, i % 3, now, ttl);
    }
    store
}

/// The sticky store holding `n` live sessions: a hit on one of them, and a put of a new
/// session into the full store (evicting the oldest), cycling through the keys so the
/// caches see a realistic spread of entries. Each has its own store: the puts churn theirs.
fn sticky(s: &mut Sampler, n: usize, get_name: &'static str, put_name: &'static str) {
    let (get, put) = (s.wants(get_name), s.wants(put_name));
    if !get && !put {
        return;
    }
    let now = Instant::now();
    let ttl = Duration::from_secs(3600);
    // Twice as many keys as the store holds: the second half are the sessions put later.
    let keys: Vec<u64> = (0..2 * n)
        .map(|i| StickyStore::key(7, &format!("session-{i:08}")))
        .collect();
    if get {
        let store = filled_store(n, &keys[..n], now, ttl);
        // Read only keys that are still there: shards fill unevenly, so a few of the first n
        // may have been evicted already.
        let present: Vec<u64> = keys[..n]
            .iter()
            .copied()
            .filter(|&k| store.get(k, now).is_some())
            .collect();
        assert!(present.len() >= n * 9 / 10, "{} of {n}", present.len());
        let mut i = 0;
        s.bench(get_name, move || {
            i = if i + 1 == present.len() { 0 } else { i + 1 };
            store.get(black_box(present[i]), now)
        });
    }
    if put {
        let store = filled_store(n, &keys[..n], now, ttl);
        let mut j = n;
        s.bench(put_name, move || {
            // The store holds the last n keys put; key j is not among them, so this inserts
            // and evicts, the steady state of a full store.
            j = if j + 1 == keys.len() { 0 } else { j + 1 };
            store.put(black_box(keys[j]), j % 3, now, ttl);
            debug_assert!(store.len() <= store.capacity());
        });
    }
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
    for (name, body) in [
        ("json_small", SMALL.to_string()),
        ("json_medium", MEDIUM.to_string()),
        ("json_large", large_request()),
    ] {
        if !s.wants(name) {
            continue;
        }
        assert!(
            String::from_utf8(decode_encode(body.as_bytes()))
                .unwrap()
                .contains(KEY)
        );
        s.bench(name, move || decode_encode(black_box(body.as_bytes())));
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: components [--bench] [--samples N] [--sample-ms MS] [--json FILE] [--filter SUBSTR]\n       components --iterations N --filter NAME\n       components --list"
            );
            return ExitCode::from(2);
        }
    };
    let json_path = opts.json.clone();
    let mut s = Sampler {
        opts,
        benches: Vec::new(),
        names: Vec::new(),
    };
    decide(&mut s);
    policy_lookup(&mut s);
    sticky(&mut s, 1_000, "sticky_get_1k", "sticky_put_1k");
    sticky(&mut s, 100_000, "sticky_get_100k", "sticky_put_100k");
    json(&mut s);
    if s.opts.list {
        for name in &s.names {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    if s.opts.iterations.is_some() && s.benches.is_empty() {
        eprintln!(
            "error: --filter {}: no benchmark has that name (--list prints them)",
            s.opts.filter.as_deref().unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    s.measure();
    if s.opts.check_only || s.opts.iterations.is_some() {
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
