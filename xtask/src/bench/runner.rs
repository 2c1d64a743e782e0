//! What a trial runs with and produces: its context, the [`Runner`] that phases and scenarios
//! drive the router through, its measurements and status, the bench log. `trial` and every
//! scenario build on this module, and it on neither of them: no import circle.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::bench::loadgen::{LoadError, LoadSpec, Loadgen, phase_budget};
use crate::bench::progress::Progress;
use crate::bench::router::{RouterProcess, RouterSpec, counter_sum};
use crate::model::artifacts;
use crate::model::histogram::Encoded;
use crate::model::load_report::Report;
use crate::model::run_file::{RunStatus, StopReport};
use crate::model::workload::{Phase, Role, Workload};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Ok,
    Failed(String),
    Timeout(String),
    /// SIGINT or SIGTERM stopped the run.
    Interrupted(String),
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed(_) => "failed",
            Status::Timeout(_) => "timeout",
            Status::Interrupted(_) => "interrupted",
        }
    }
    pub fn message(&self) -> Option<&str> {
        match self {
            Status::Ok => None,
            Status::Failed(m) | Status::Timeout(m) | Status::Interrupted(m) => Some(m),
        }
    }

    /// The run file's `run`: this status after `elapsed`, trials warmed up or not.
    pub(crate) fn run_status(&self, elapsed: Duration, warmup: bool) -> RunStatus {
        let failed = i64::from(crate::exit::BENCH_FAILED);
        let exit_code = if *self == Status::Ok { 0 } else { failed };
        RunStatus {
            status: Some(self.name().into()),
            exit_code: Some(exit_code),
            message: self.message().map(str::to_string),
            elapsed_s: Some(round3(elapsed.as_secs_f64())),
            warmup: Some(warmup),
        }
    }
}

pub(crate) struct TrialCtx<'a> {
    pub workload: &'a Workload,
    pub spec: &'a RouterSpec,
    pub loadgen: &'a Loadgen,
    pub workdir: &'a Path,
    pub log_path: &'a Path,
    pub deadline: Instant,
    pub warmup: bool,
    /// A paired trial that runs both routers at once: the shared load, and this side's index.
    pub pair: Option<(&'a PairLoad, usize)>,
    /// In a concurrent pair, the latency phase runs in turns (`--latency-turns`).
    pub latency_turns: bool,
    /// Where the trial's phases show (the second side of a pair marks its own) and its log.
    pub progress: &'a Progress,
    pub log: &'a Log,
}

/// The load of a concurrent paired trial: when both sides' threads have brought their
/// router's address for the next phase, one load generator drives both routers at once (its
/// own scheduling luck shared too) and each side takes its own result. A side that fails
/// calls the pair off, and the other stops waiting.
#[derive(Debug, Default)]
pub(crate) struct PairLoad {
    state: std::sync::Mutex<PairState>,
    turn: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct PairState {
    /// Each side's target, while it waits for the phase to run.
    targets: [Option<(std::net::SocketAddr, Option<String>)>; 2],
    /// Each side's result of the phase just run, until it takes it.
    results: [Option<Result<Report, Status>>; 2],
    called_off: bool,
}

/// A phase in turns: A, B, B, A, each router alone with the load generator for a quarter of
/// the phase at its full rate (half the requests each, and no CPU shared with the other's
/// load); the order cancels a drift of the machine. Each side's quarters merge into one report.
pub fn in_turns(
    loadgen: &Loadgen,
    [a, b]: [(std::net::SocketAddr, Option<String>); 2],
    spec: &LoadSpec,
    deadline: Instant,
) -> Result<Vec<Report>, LoadError> {
    let quarter = LoadSpec {
        duration_ms: (spec.duration_ms / 4).max(1),
        turns: false,
        ..spec.clone()
    };
    let turn = |target: &(std::net::SocketAddr, Option<String>)| {
        loadgen
            .run_targets(std::slice::from_ref(target), &quarter, deadline)
            .map(|mut rs| rs.remove(0))
    };
    let (a1, b1, b2, a2) = (turn(&a)?, turn(&b)?, turn(&b)?, turn(&a)?);
    let merged = [a1.merge(&a2), b1.merge(&b2)];
    merged
        .into_iter()
        .map(|r| r.map_err(|e| LoadError::Failed(e.context("merging a phase's turns"))))
        .collect()
}

impl PairLoad {
    /// Runs this phase for side `side` (0 or 1) together with the other side.
    fn run(
        &self,
        side: usize,
        ctx: &TrialCtx<'_>,
        addr: std::net::SocketAddr,
        spec: &LoadSpec,
        budget: Duration,
    ) -> Result<Report, Status> {
        let off = || Status::Failed("the other router of the pair failed".into());
        let lock = || self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = lock();
        if s.called_off {
            return Err(off());
        }
        s.targets[side] = Some((addr, ctx.loadgen.subject.clone()));
        if let [Some(a), Some(b)] = s.targets.clone() {
            // The last to arrive runs the phase for both, without holding the lock.
            s.targets = [None, None];
            drop(s);
            let deadline = ctx.deadline.min(Instant::now() + budget);
            let ran = if spec.turns {
                in_turns(ctx.loadgen, [a, b], spec, deadline)
            } else {
                ctx.loadgen.run_targets(&[a, b], spec, deadline)
            };
            let results = match ran {
                Ok(rs) => rs.into_iter().map(Ok).collect(),
                Err(LoadError::Deadline) => {
                    let why = "the --timeout expired during a paired phase (deadline)";
                    vec![Err(Status::Timeout(why.into())); 2]
                }
                Err(LoadError::Failed(e)) => vec![Err(failed("paired phase", e)); 2],
            };
            s = lock();
            for (slot, r) in s.results.iter_mut().zip(results) {
                *slot = Some(r);
            }
            self.turn.notify_all();
        }
        let (mut s, _) = self
            .turn
            .wait_timeout_while(s, budget * 2, |s| {
                s.results[side].is_none() && !s.called_off
            })
            .unwrap_or_else(|e| e.into_inner());
        s.results[side].take().unwrap_or_else(|| Err(off()))
    }

    /// Calls the pair off: every wait, now and later, returns an error.
    pub(crate) fn call_off(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.called_off = true;
        self.turn.notify_all();
    }
}

#[derive(Debug, Default)]
pub(crate) struct Trial {
    pub metrics: BTreeMap<String, f64>,
    pub phases: BTreeMap<String, Value>,
    /// The latency phase's histogram.
    pub histogram: Option<Encoded>,
    pub stop: Option<StopReport>,
    /// Failover workload: how the SIGKILLed second router ended.
    pub killed: Option<StopReport>,
    /// The router's test knobs as its /metrics showed them (0: off).
    pub knobs: Knobs,
    /// Where the router's threads waited over the measured phases (bench/waits.rs).
    pub waits: crate::bench::waits::Waits,
}

/// The test knobs a router ran with, read from its own gauges.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Knobs {
    pub slowdown_iterations: f64,
    pub delay_us: f64,
    pub delay_every: f64,
}

pub fn failed(what: &str, e: anyhow::Error) -> Status {
    Status::Failed(format!("{what}: {e:#}"))
}

/// What a scenario drives a trial with: load phases, the router, the log, the metric table.
pub struct Runner<'a, 'c> {
    pub(crate) ctx: &'a TrialCtx<'c>,
    pub router: &'a RouterProcess,
    pub(crate) victim: Option<u32>,
    pub(crate) trial: Trial,
    /// Every phase's report so far, by phase name, for scenarios that read an earlier one.
    pub(crate) reports: BTreeMap<String, Report>,
    /// Responses and client-side errors over every phase, for the per-request numbers.
    pub(crate) responses: f64,
    pub(crate) client_errors: f64,
}

impl Runner<'_, '_> {
    /// Runs one load phase with the workload's bodies, kept under `name` in `phases`.
    pub fn phase(&mut self, name: &str, spec: &LoadSpec) -> Result<Report, Status> {
        self.phase_with(self.ctx.loadgen, name, spec)
    }

    /// As [`Runner::phase`], with another load generator set-up (other bodies, timeout).
    pub(crate) fn phase_with(
        &mut self,
        loadgen: &Loadgen,
        name: &str,
        spec: &LoadSpec,
    ) -> Result<Report, Status> {
        let result = run_phase(self.ctx, loadgen, self.router, name, spec)?;
        Ok(self.tally(name, result))
    }

    /// Counts a phase's answers and errors, keeps its histogram, and stores the rest of its
    /// report under `name` (the run file's `phases`).
    fn tally(&mut self, name: &str, mut result: Report) -> Report {
        self.responses += result.responses as f64;
        self.client_errors += result.errors.total() as f64;
        if let Some(h) = result.histogram.take() {
            self.trial.histogram = Some(h);
        }
        let stored = serde_json::to_value(&result).expect("a load report serializes");
        (self.ctx.log).line(&format!("phase {name}: {}", compact(&stored)));
        self.trial.phases.insert(name.to_string(), stored);
        self.reports.insert(name.to_string(), result.clone());
        result
    }

    pub fn metric(&mut self, name: &str, value: f64) {
        self.trial.metrics.insert(name.to_string(), value);
    }

    /// A line in the bench log.
    pub fn note(&mut self, line: &str) {
        self.ctx.log.line(line);
    }

    /// Shown to the person running the bench.
    pub fn say(&self, line: &str) {
        self.ctx.progress.note(line);
    }

    /// Adds what a scenario observed beside the load (the soak's RSS samples) to phase `name`.
    pub(crate) fn annotate_phase(&mut self, name: &str, key: &str, value: Value) {
        if let Some(phase) = self.trial.phases.get_mut(name) {
            phase[key] = value;
        }
    }

    /// The workload's own phases (the failover kill included), mapped onto metrics by role.
    pub(crate) fn workload_phases(&mut self) -> Result<(), Status> {
        let w = self.ctx.workload;
        for phase in &w.phases {
            let failover_here = w.failover.is_some() && phase.role == Role::Latency;
            let spec = LoadSpec {
                histogram: phase.role == Role::Latency,
                timeline_ms: failover_here.then_some(crate::bench::failover::BUCKET_MS),
                // Per-kind results and timelines do not merge across turns.
                turns: self.ctx.latency_turns
                    && phase.role == Role::Latency
                    && !failover_here
                    && self.ctx.loadgen.body_kinds.is_none(),
                ..LoadSpec::of(phase)
            };
            let result = match (failover_here, self.victim) {
                (true, Some(pid)) => self.failover_phase(phase, &spec, pid)?,
                _ => self.phase(&phase.name, &spec)?,
            };
            record_phase_metrics(phase, &result, &mut self.trial.metrics);
        }
        Ok(())
    }

    fn failover_phase(
        &mut self,
        phase: &Phase,
        spec: &LoadSpec,
        pid: u32,
    ) -> Result<Report, Status> {
        let w = self.ctx.workload;
        let kill_after = Duration::from_millis(w.failover.map_or(0, |f| f.kill_after_ms));
        // The kill is timed from the load generator's start; its own start (after
        // connecting) is read back from the timeline, so the offset is exact.
        let killer = std::thread::spawn(move || {
            std::thread::sleep(kill_after);
            crate::bench::interrupt::signal(pid, rustix::process::Signal::KILL);
            std::time::SystemTime::now()
        });
        let result = run_phase(self.ctx, self.ctx.loadgen, self.router, &phase.name, spec);
        let killed_at = killer.join().expect("the kill thread does not panic");
        let result = result?;
        let start_us = result.timeline_start_us();
        let killed_us = killed_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(f64::NAN, |d| d.as_micros() as f64);
        let kill_ms = (killed_us - start_us) / 1e3;
        self.ctx.log.line(&format!(
            "phase {}: second router pid {pid} killed with SIGKILL {kill_ms:.1} ms into the phase",
            phase.name
        ));
        let timeline = result
            .timeline
            .as_ref()
            .ok_or_else(|| Status::Failed("failover metrics: the phase has no timeline".into()))?;
        let fm = crate::bench::failover::metrics(timeline, kill_ms, phase.duration_ms as f64)
            .map_err(|e| failed("failover metrics", e))?;
        self.metric("failover_lost_requests", fm.lost_requests);
        self.metric("failover_recovery_ms", round3(fm.recovery_ms));
        self.metric("failover_p99_ms", round4(fm.p99_ms));
        let result = self.tally(&phase.name, result);
        self.annotate_phase(&phase.name, "failover", json!({"kill_ms": round3(kill_ms)}));
        Ok(result)
    }
}

pub(crate) fn run_phase(
    ctx: &TrialCtx<'_>,
    loadgen: &Loadgen,
    router: &RouterProcess,
    name: &str,
    spec: &LoadSpec,
) -> Result<Report, Status> {
    let budget = phase_budget(spec.duration_ms, loadgen.timeout_ms);
    let bar = (ctx.progress).phase(name, spec.duration_ms, loadgen.progress_file.clone());
    let value = if let Some((pair, side)) = ctx.pair {
        let result = pair.run(side, ctx, router.addr, spec, budget);
        bar.finish(result.as_ref().ok().map(|r| r.rps));
        result.map_err(|s| match s {
            Status::Failed(why) => Status::Failed(format!("phase {name}: {why}")),
            other => other,
        })?
    } else {
        let deadline = ctx.deadline.min(Instant::now() + budget);
        let result = loadgen.run(router.addr, spec, deadline);
        bar.finish(result.as_ref().ok().map(|r| r.rps));
        result.map_err(|e| match e {
            LoadError::Deadline if Instant::now() >= ctx.deadline => {
                Status::Timeout(format!("the --timeout expired during phase {name}"))
            }
            LoadError::Deadline => {
                Status::Failed(format!("phase {name} hung past its {budget:?} budget"))
            }
            LoadError::Failed(e) => Status::Failed(format!("phase {name}: {e:#}")),
        })?
    };
    if !router.is_running() {
        return Err(Status::Failed(format!("router exited during phase {name}")));
    }
    Ok(value)
}

impl LoadSpec {
    /// Back-to-back requests on `connections` connections for `duration_ms`.
    pub fn closed(connections: u32, duration_ms: u64) -> LoadSpec {
        LoadSpec {
            model: crate::model::workload::Model::Closed,
            connections,
            duration_ms,
            rate: None,
            histogram: false,
            timeline_ms: None,
            max_requests: None,
            turns: false,
        }
    }

    /// `rate` requests per second in all, on `connections` connections, for `duration_ms`.
    pub fn open(connections: u32, duration_ms: u64, rate: u64) -> LoadSpec {
        LoadSpec {
            model: crate::model::workload::Model::Open,
            rate: Some(rate.max(1)),
            ..LoadSpec::closed(connections, duration_ms)
        }
    }

    /// What a workload phase describes.
    pub fn of(phase: &Phase) -> LoadSpec {
        LoadSpec {
            model: phase.model,
            rate: phase.rate,
            ..LoadSpec::closed(phase.connections, phase.duration_ms)
        }
    }
}

/// Maps a phase's load-generator numbers onto the run's metric names by the phase's role.
fn record_phase_metrics(phase: &Phase, result: &Report, m: &mut BTreeMap<String, f64>) {
    match phase.role {
        Role::Sequential => {
            m.insert("sequential_rps".into(), round3(result.rps));
        }
        Role::Throughput => {
            m.insert("rps".into(), round3(result.rps));
        }
        Role::Latency => {
            for (key, name) in [
                ("p50", "latency_p50_ms"),
                ("p95", "latency_p95_ms"),
                ("p99", "latency_p99_ms"),
                ("p999", "latency_p999_ms"),
                ("max", "latency_max_ms"),
            ] {
                m.insert(name.into(), round4(result.latency(key)));
            }
            m.insert(
                "latency_rate_achieved_rps".into(),
                round3(result.rate_achieved_rps.unwrap_or(f64::NAN)),
            );
        }
    }
}

pub(crate) fn gauge(text: &str, name: &str) -> f64 {
    counter_sum(text, name).unwrap_or(0.0)
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

pub(crate) fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn compact(v: &Value) -> String {
    let keys = ["rps", "responses", "errors", "latency_ms"];
    let small: serde_json::Map<String, Value> = keys
        .iter()
        .filter_map(|k| v.get(*k).map(|x| (k.to_string(), x.clone())))
        .collect();
    Value::Object(small).to_string()
}

/// The harness's own log lines, written to the router log file between router output.
pub(crate) struct Log {
    file: std::fs::File,
}

impl Log {
    pub fn create(path: &Path) -> Result<Self> {
        // Append mode: the router's stderr is appended to the same file between our lines.
        let file = crate::bench::router::append_to(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { file })
    }
    /// One line; the two sides of a paired trial write concurrently, each line whole.
    pub fn line(&self, text: &str) {
        use std::io::Write;
        let line = format!("[{}] {text}\n", artifacts::now_rfc3339());
        let _ = (&self.file).write_all(line.as_bytes());
    }
}
