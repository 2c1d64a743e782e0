//! `cargo xtask perf-bench`: build the router and the load generator in release, run a
//! workload for N trials (a fresh router each), collect metrics, and always write the
//! artifacts (raw run JSON, router log, Markdown summary), also when the run fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use xshell::{Shell, cmd};

use crate::bench::loadgen::Loadgen;
use crate::bench::nats::NatsServer;
use crate::bench::progress::Progress;
use crate::bench::router::RouterSpec;
use crate::bench::trial::{Log, Status, Trial, TrialCtx, round3, run_trial};
use crate::flags::BenchArgs;
use crate::gate::stats::{Summary, summarize};
use crate::model::artifacts;
use crate::model::workload::{Transport, Workload};

/// The router's test-only slowdown knob (see router/src/config.rs).
const SLOWDOWN_ENV: &str = "ROUTER_TEST_SLOWDOWN_ITERS";

/// Version of the run-file shape this writes (the baseline shape of DESIGN.md, extended).
pub const SCHEMA_VERSION: u64 = 1;

/// Trials when neither `--trials` nor the workload says.
pub const DEFAULT_TRIALS: u32 = 5;

/// What a bench run left behind.
#[derive(Debug)]
pub struct BenchOutcome {
    /// The raw-run JSON (`perf_baseline_<ts>.json`), always written.
    pub artifact: PathBuf,
    /// True when the run did not complete (`run.status` is not `ok`).
    pub failed: bool,
}

/// The binaries a run uses.
struct Binaries {
    router: PathBuf,
    loadgen: PathBuf,
}

/// A router under test in one session: the working tree's, or a reference build.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Artifact name prefix (`perf_baseline` for the candidate, as DESIGN.md names it).
    prefix: &'static str,
    /// A prebuilt router; `None` means the working tree's, built (or `--router-bin`).
    router_bin: Option<PathBuf>,
    /// Git identity to record; `None` means the working tree's.
    git: Option<Value>,
}

/// A paired session: which reference the candidate alternates with.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub against: String,
    pub commit: String,
    pub reference_bin: PathBuf,
}

/// Runs the benchmark and writes its artifacts. Bad input (unknown workload, bad flags) is an
/// error before anything starts; anything that goes wrong after that is recorded in the
/// artifacts and reported through `BenchOutcome::failed`.
pub fn run(args: &BenchArgs) -> Result<BenchOutcome> {
    if args.workload == crate::bench::components::WORKLOAD {
        return crate::bench::components::run(args);
    }
    let arms = [Arm {
        prefix: "perf_baseline",
        router_bin: None,
        git: None,
    }];
    Ok(run_arms(args, &arms, None)?.remove(0))
}

/// Runs the reference's router and the working tree's alternately in one session, trial by
/// trial, so machine drift hits both alike. Returns (reference, candidate) outcomes; both
/// run files carry `paired`, and samples[i] of one pairs with samples[i] of the other.
pub fn run_paired(args: &BenchArgs, pairing: &Pairing) -> Result<(BenchOutcome, BenchOutcome)> {
    let arms = [
        Arm {
            prefix: "perf_reference",
            router_bin: Some(pairing.reference_bin.clone()),
            git: Some(json!({"commit": pairing.commit, "dirty": false, "ref": pairing.against})),
        },
        Arm {
            prefix: "perf_baseline",
            router_bin: None,
            git: None,
        },
    ];
    let mut outcomes = run_arms(args, &arms, Some(pairing))?;
    let candidate = outcomes.pop().expect("two arms");
    let reference = outcomes.pop().expect("two arms");
    Ok((reference, candidate))
}

fn run_arms(
    args: &BenchArgs,
    arms: &[Arm],
    pairing: Option<&Pairing>,
) -> Result<Vec<BenchOutcome>> {
    let workload_path =
        crate::model::paths::resolve_workload(&crate::model::paths::perf_root(), &args.workload);
    let workload = Workload::load(&workload_path)?;
    let trials = args.trials.or(workload.trials).unwrap_or(DEFAULT_TRIALS);
    if trials == 0 {
        anyhow::bail!("--trials: expected at least 1");
    }
    let counters = args.counters.or(workload.counters);
    let transport = args.transport.unwrap_or(workload.transport);
    // A missing nats-server is bad input (exit 2, with the install hint), found before
    // anything is built or started.
    if workload.failover.is_some() && transport != Transport::Nats {
        anyhow::bail!(
            "workload {} is a NATS failover workload; it cannot run with --transport {}",
            workload.name,
            transport.as_str()
        );
    }
    let nats_version = match transport {
        Transport::Nats => Some(crate::bench::nats::version()?),
        Transport::Http => None,
    };
    // Which counter (`auto` probes the machine), decided before anything starts: `perf`
    // without hardware counters, or callgrind without valgrind, is bad input (exit 2).
    let counter = counters.map(crate::bench::counters::choose).transpose()?;
    let crate::bench::trial::Session {
        sh,
        started,
        deadline,
        stamp,
        dir,
        log_path,
        mut log,
        progress,
    } = crate::bench::trial::Session::open(args)?;
    log.line(&format!(
        "perf-bench: workload {} ({}), {} trial(s){}",
        workload.name,
        workload_path.display(),
        trials,
        pairing.map_or(String::new(), |p| format!(
            ", paired with {} ({})",
            p.against, p.commit
        )),
    ));

    // `--pin` and `--no-pin` override each other; the last one given wins.
    let want_pin = args.pin || !args.no_pin;
    let pin = if want_pin {
        crate::bench::affinity::split()
    } else {
        None
    };
    if want_pin && pin.is_none() {
        progress.note(
            "perf-bench: warning: only one CPU available: the router and the load generator share it",
        );
    }
    let mut runs: Vec<RunState> = arms.iter().map(|_| RunState::default()).collect();
    let status = match build(&sh, args, &mut log, &progress) {
        Err(err) => Status::Failed(format!("build failed: {err:#}")),
        Ok(bins) => 'run: {
            let tmp = tempfile::tempdir().context("creating a temporary directory")?;
            let bodies = tmp.path().join("bodies.jsonl");
            let (body_text, kinds) = workload.generate(|_| true);
            std::fs::write(&bodies, body_text).context("writing request bodies")?;
            let body_kinds = tmp.path().join("body_kinds.json");
            artifacts::write_json(&body_kinds, &kinds)?;
            // One nats-server for the session, stopped when this scope ends: after the
            // last trial, and also when a trial fails or the --timeout expires.
            let nats = match transport {
                Transport::Http => Ok(None),
                Transport::Nats => {
                    log.flush();
                    NatsServer::start(tmp.path(), &log_path, Duration::from_secs(10)).map(Some)
                }
            };
            let nats = match nats {
                Ok(nats) => nats,
                Err(err) => {
                    break 'run Status::Failed(format!("nats-server did not start: {err:#}"));
                }
            };
            if let Some(nats) = &nats {
                log.line(&format!("nats-server {} on {}", nats.version, nats.url()));
            }
            let nats_url = nats.as_ref().map(NatsServer::url);
            let loadgen = Loadgen {
                nats_url: nats_url.clone(),
                bin: bins.loadgen.clone(),
                bodies,
                body_kinds: Some(body_kinds),
                cpu: pin.map(|p| p.1),
                // The failover phase needs requests to the killed router to fail fast.
                timeout_ms: if workload.failover.is_some() {
                    crate::bench::failover::REQUEST_TIMEOUT_MS
                } else {
                    2000
                },
                progress_file: progress
                    .is_live()
                    .then(|| tmp.path().join("loadgen.progress")),
            };
            let specs: Vec<RouterSpec> = arms
                .iter()
                .map(|arm| RouterSpec {
                    prefix_args: Vec::new(),
                    bin: arm
                        .router_bin
                        .clone()
                        .unwrap_or_else(|| bins.router.clone()),
                    args: nats_url
                        .iter()
                        .flat_map(|url| ["--nats-url".to_string(), url.clone()])
                        .chain(workload.router_args.iter().cloned())
                        .chain(args.router_args.iter().cloned())
                        .collect(),
                    env: Vec::new(),
                    // The test slowdown knob is for the router under test; a reference
                    // build measured with it would cancel it out.
                    env_remove: if arm.git.is_some() {
                        vec![SLOWDOWN_ENV.to_string()]
                    } else {
                        Vec::new()
                    },
                    cpus: pin.map(|p| vec![p.0]),
                })
                .collect();
            for (run, spec) in runs.iter_mut().zip(&specs) {
                run.router_bin = Some(spec.bin.clone());
            }
            let mut status = Status::Ok;
            'trials: for trial in 1..=trials {
                // AB, BA, AB, ...: a drift during the session favours neither side.
                let mut order: Vec<usize> = (0..arms.len()).collect();
                if trial % 2 == 0 {
                    order.reverse();
                }
                for i in order {
                    let ctx = TrialCtx {
                        workload: &workload,
                        spec: &specs[i],
                        loadgen: &loadgen,
                        workdir: tmp.path(),
                        log_path: &log_path,
                        deadline,
                        warmup: !args.no_warmup,
                    };
                    let label = if arms.len() > 1 {
                        format!(" ({})", arms[i].prefix)
                    } else {
                        String::new()
                    };
                    progress.note(&format!("trial {trial}/{trials}{label}"));
                    match run_trial(&ctx, &progress, &mut log) {
                        Ok(t) => runs[i].trials.push(t),
                        Err(s) => {
                            status = s;
                            break 'trials;
                        }
                    }
                }
            }
            if let (Status::Ok, Some(counter)) = (&status, &counter) {
                log.line(&counter.describe());
                // Over HTTP, whatever the transport: the count is of the router's own work.
                let counting_loadgen = Loadgen {
                    nats_url: None,
                    progress_file: None,
                    timeout_ms: 60_000,
                    ..loadgen.clone()
                };
                let router_args: Vec<String> = workload
                    .router_args
                    .iter()
                    .chain(&args.router_args)
                    .cloned()
                    .collect();
                let runs_wanted = trials.min(crate::bench::counters::MAX_RUNS);
                let mut slowest = Duration::ZERO;
                'counting: for n in 1..=runs_wanted {
                    // Bounded in time: a run that would not fit before the --timeout is not
                    // started; the runs done so far still make the metric.
                    let left = deadline.saturating_duration_since(Instant::now());
                    if n > 1 && left < slowest * 2 {
                        progress.note(&format!(
                            "perf-bench: warning: {} of {runs_wanted} counting runs: the \
                             --timeout leaves {:.0} s, a counting run took up to {:.0} s; a \
                             longer --timeout would allow all of them",
                            n - 1,
                            left.as_secs_f64(),
                            slowest.as_secs_f64()
                        ));
                        break 'counting;
                    }
                    for (run, spec) in runs.iter_mut().zip(&specs) {
                        progress.note(&format!(
                            "counting run {n}/{runs_wanted}: {}, {} requests",
                            counter.name(),
                            args.counter_requests
                        ));
                        log.flush();
                        let ctx = crate::bench::counters::CountCtx {
                            router_bin: &spec.bin,
                            router_args: &router_args,
                            router_env_remove: &spec.env_remove,
                            cpus: spec.cpus.clone(),
                            loadgen: &counting_loadgen,
                            workdir: tmp.path(),
                            log: &log_path,
                            deadline,
                        };
                        let run_started = Instant::now();
                        match crate::bench::counters::instructions_per_req(
                            &ctx,
                            counter.method,
                            args.counter_requests,
                        ) {
                            Ok(ipr) => {
                                log.line(&format!(
                                    "counting run {n} ({}): {ipr:.1} instructions/request",
                                    counter.name()
                                ));
                                run.instructions_per_req.push(round3(ipr));
                            }
                            Err(e) => {
                                status = Status::Failed(format!("counting run {n}: {e:#}"));
                                break 'counting;
                            }
                        }
                        slowest = slowest.max(run_started.elapsed());
                    }
                }
            }
            status
        }
    };
    if let Some(m) = status.message() {
        log.line(&format!("perf-bench: run {}: {m}", status.name()));
    }
    let mut outcomes = Vec::with_capacity(arms.len());
    for (arm, run) in arms.iter().zip(&runs) {
        let json_path = artifacts::artifact_path(&dir, arm.prefix, &stamp, "json")?;
        let md_name = if arm.prefix == "perf_baseline" {
            "perf_summary".to_string()
        } else {
            format!("{}_summary", arm.prefix)
        };
        let md_path = artifacts::artifact_path(&dir, &md_name, &stamp, "md")?;
        let mut env = environment(&sh, args, &workload, run, pin);
        env["transport"] = json!(transport.as_str());
        if let Some(counter) = &counter {
            // The counter used, `auto` resolved; what was asked for when it differs.
            env["counters"] = json!(counter.name());
            if counter.requested.as_str() != counter.name() {
                env["counters_requested"] = json!(counter.requested.as_str());
            }
            if let Some(version) = &counter.valgrind_version {
                env["valgrind_version"] = json!(version);
            }
            env["counter_requests"] = json!(args.counter_requests);
        }
        if let Some(version) = &nats_version {
            // A real nats-server on loopback, not an in-process stand-in.
            env["nats_mode"] = json!("real");
            env["nats_server_version"] = json!(version);
        }
        let mut doc = run.to_json(
            &workload,
            args,
            trials,
            &status,
            env,
            &sh,
            started.elapsed(),
        );
        if let Some(git) = &arm.git {
            doc["git"] = git.clone();
        }
        if let Some(p) = pairing {
            doc["paired"] = json!({
                "against": p.against,
                "reference_commit": p.commit,
                "order": "alternating per trial: AB, BA, AB, ...",
            });
        }
        artifacts::write_json(&json_path, &doc)?;
        std::fs::write(&md_path, summary_markdown(&doc))
            .with_context(|| format!("writing {}", md_path.display()))?;
        for warning in noise_warnings(&doc) {
            progress.note(&format!("perf-bench: warning: {}: {warning}", arm.prefix));
        }
        if arms.len() > 1 {
            println!("{}:", arm.prefix);
        }
        println!("{}", metrics_table(&doc));
        progress.note(&format!(
            "perf-bench: {} — artifacts: {}, {}, {}",
            status.name(),
            json_path.display(),
            md_path.display(),
            log_path.display()
        ));
        outcomes.push(BenchOutcome {
            artifact: json_path,
            failed: status != Status::Ok,
        });
    }
    Ok(outcomes)
}

fn build(sh: &Shell, args: &BenchArgs, log: &mut Log, progress: &Progress) -> Result<Binaries> {
    let release = crate::model::paths::target_dir().join("release");
    let router = args
        .router_bin
        .clone()
        .unwrap_or_else(|| release.join("router"));
    let loadgen = args
        .loadgen_bin
        .clone()
        .unwrap_or_else(|| release.join("loadgen"));
    if !args.no_build {
        // One cargo invocation per package: built together, cargo would unify hyper's
        // client and server features into the router, and the router measured would differ
        // from the one shipped (and from a paired reference, which is built alone).
        let mut packages: Vec<&str> = Vec::new();
        if args.router_bin.is_none() {
            packages.push("router");
        }
        if args.loadgen_bin.is_none() {
            packages.push("loadgen");
        }
        let cargo = crate::model::paths::cargo();
        for package in packages {
            progress.note(&format!("perf-bench: building {package} (release)"));
            log.line(&format!("build: {cargo} build --release -p {package}"));
            cmd!(sh, "{cargo} build --release --quiet -p {package}")
                .run()
                .with_context(|| format!("cargo build --release -p {package}"))?;
        }
    }
    for (what, path) in [("router", &router), ("load generator", &loadgen)] {
        if !path.is_file() {
            anyhow::bail!(
                "{what} binary {} does not exist (build it, or drop --no-build)",
                path.display()
            );
        }
    }
    Ok(Binaries { router, loadgen })
}

/// Everything collected over the trials.
#[derive(Debug, Default)]
struct RunState {
    trials: Vec<Trial>,
    /// `--counters`: one value per counting run (not per trial).
    instructions_per_req: Vec<f64>,
    router_bin: Option<PathBuf>,
}

impl RunState {
    // Everything the run file records comes from the caller; a struct for it would only
    // restate these parameters.
    #[allow(clippy::too_many_arguments)]
    fn to_json(
        &self,
        w: &Workload,
        args: &BenchArgs,
        trials: u32,
        status: &Status,
        env: Value,
        sh: &Shell,
        elapsed: Duration,
    ) -> Value {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for t in &self.trials {
            for (name, v) in &t.metrics {
                values.entry(name.clone()).or_default().push(*v);
            }
        }
        let Summary {
            mut metrics,
            mut samples,
            mut spread,
        } = summarize(&values, self.trials.len());
        if !self.instructions_per_req.is_empty() {
            // One value per counting run, not per trial: complete when every run counted.
            let vals = &self.instructions_per_req;
            let counted = BTreeMap::from([("instructions_per_req".to_string(), vals.clone())]);
            let s = summarize(&counted, vals.len());
            metrics.extend(s.metrics);
            samples.extend(s.samples);
            spread.extend(s.spread);
        }
        let exit_code = if *status == Status::Ok {
            0
        } else {
            crate::exit::BENCH_FAILED
        };
        let mut doc = json!({
            "schema_version": SCHEMA_VERSION,
            "kind": "perf_run",
            "timestamp": artifacts::now_rfc3339(),
            "git": crate::bench::env_info::git(sh),
            "env": env,
            "workload": w.name,
            "workload_description": w.description,
            "trials": trials,
            "trials_completed": self.trials.len(),
            "metrics": metrics,
            "samples": samples,
            "spread": spread,
            "run": {
                "status": status.name(),
                "exit_code": exit_code,
                "message": status.message(),
                "elapsed_s": round3(elapsed.as_secs_f64()),
                "warmup": !args.no_warmup,
            },
            "phases": self.trials.iter().map(|t| json!(t.phases)).collect::<Vec<_>>(),
            "router_stop": self.trials.iter().map(|t| json!(t.stop)).collect::<Vec<_>>(),
                        "histograms": { "latency": self.trials.iter().map(|t| t.histogram.clone().unwrap_or(Value::Null)).collect::<Vec<_>>() },
        });
        if w.failover.is_some() {
            // How each trial's second router ended: killed with SIGKILL, as planned.
            doc["failover"] = json!({
                "kill_after_ms": w.failover.map(|f| f.kill_after_ms),
                "router_killed": self.trials.iter().map(|t| json!(t.killed)).collect::<Vec<_>>(),
            });
        }
        doc
    }
}

fn environment(
    sh: &Shell,
    args: &BenchArgs,
    w: &Workload,
    run: &RunState,
    pin: Option<(usize, usize)>,
) -> Value {
    let mut extra = serde_json::Map::new();
    let slowdown = run
        .trials
        .iter()
        .map(|t| t.slowdown_iterations)
        .fold(0.0, f64::max);
    extra.insert("slowdown_knob".into(), json!(slowdown > 0.0));
    extra.insert("slowdown_iterations".into(), json!(slowdown));
    extra.insert(
        "affinity".into(),
        pin.map_or(Value::Null, |(r, l)| json!({"router": [r], "loadgen": [l]})),
    );
    extra.insert(
        "router_flags".into(),
        json!(
            w.router_args
                .iter()
                .chain(&args.router_args)
                .collect::<Vec<_>>()
        ),
    );
    extra.insert(
        "router_bin".into(),
        json!(run.router_bin.as_ref().map(|p| p.display().to_string())),
    );
    extra.insert(
        "load".into(),
        json!({
            "generator": "loadgen (hyper, HTTP/1.1 keep-alive, HDR histograms)",
            "warmup": w.warmup,
            "phases": w.phases,
            "scenario": w.scenario,
            "distinct_bodies": w.mix.distinct_bodies,
            "seed": w.mix.seed,
        }),
    );
    crate::bench::env_info::machine(sh, extra)
}

/// Spread warnings in the style of hyperfine: say what is noisy and what would help.
fn noise_warnings(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(spread) = doc["spread"].as_object() else {
        return out;
    };
    for name in [
        "rps",
        "sequential_rps",
        "latency_p99_ms",
        "cpu_ms_per_1k_req",
    ] {
        if let Some(p) = spread.get(name).and_then(|s| s["spread_pct"].as_f64())
            && p > 10.0
        {
            out.push(format!(
                "{name} varies by {p:.0}% across trials; close other programs or raise --trials"
            ));
        }
    }
    out
}

pub(crate) fn metrics_table(doc: &Value) -> String {
    let mut out = format!(
        "{:<28} {:>14} {:>14} {:>14} {:>8}\n",
        "metric", "median", "min", "max", "spread"
    );
    if let Some(metrics) = doc["metrics"].as_object() {
        for (name, v) in metrics {
            let s = &doc["spread"][name];
            out.push_str(&format!(
                "{:<28} {:>14} {:>14} {:>14} {:>7}%\n",
                name,
                fmt_num(v),
                fmt_num(&s["min"]),
                fmt_num(&s["max"]),
                s["spread_pct"]
                    .as_f64()
                    .map_or("-".into(), |p| format!("{p:.1}"))
            ));
        }
    }
    out.pop();
    out
}

fn fmt_num(v: &Value) -> String {
    v.as_f64().map_or_else(
        || "-".to_string(),
        |x| {
            if x.abs() >= 100.0 {
                format!("{x:.1}")
            } else {
                format!("{x:.4}")
            }
        },
    )
}

pub(crate) fn summary_markdown(doc: &Value) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "# perf-bench: workload `{}`\n\n",
        doc["workload"].as_str().unwrap_or("?")
    ));
    md.push_str(&format!(
        "- status: **{}** (exit code {}){}\n",
        doc["run"]["status"].as_str().unwrap_or("?"),
        doc["run"]["exit_code"],
        doc["run"]["message"]
            .as_str()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    ));
    md.push_str(&format!(
        "- trials: {} of {} completed, {} s\n- commit: `{}`{}\n- machine: {} ({} CPUs), {}\n- slowdown knob: {}\n\n",
        doc["trials_completed"],
        doc["trials"],
        doc["run"]["elapsed_s"],
        doc["git"]["commit"].as_str().unwrap_or("unknown"),
        if doc["git"]["dirty"] == true { " (dirty)" } else { "" },
        doc["env"]["cpu_model"].as_str().unwrap_or("?"),
        doc["env"]["cpu_count"],
        doc["env"]["kernel"].as_str().unwrap_or("?"),
        if doc["env"]["slowdown_knob"] == true { "**ON — not a normal run**" } else { "off" },
    ));
    md.push_str(
        "| metric | median | min | max | spread | per trial |\n|---|---:|---:|---:|---:|---|\n",
    );
    if let Some(metrics) = doc["metrics"].as_object() {
        for (name, v) in metrics {
            let s = &doc["spread"][name];
            let per: Vec<String> = doc["samples"][name]
                .as_array()
                .map(|a| a.iter().map(fmt_num).collect())
                .unwrap_or_default();
            md.push_str(&format!(
                "| `{name}` | {} | {} | {} | {} | {} |\n",
                fmt_num(v),
                fmt_num(&s["min"]),
                fmt_num(&s["max"]),
                s["spread_pct"]
                    .as_f64()
                    .map_or("-".into(), |p| format!("{p:.1}%")),
                per.join(", ")
            ));
        }
    }
    let warnings = noise_warnings(doc);
    if !warnings.is_empty() {
        md.push_str("\n**Warnings**\n\n");
        for w in warnings {
            md.push_str(&format!("- {w}\n"));
        }
    }
    md
}
