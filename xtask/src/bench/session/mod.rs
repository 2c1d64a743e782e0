//! A bench session: the working tree's router (and in paired mode a reference build)
//! measured with one workload on this machine. Opening it checks the inputs and builds what
//! it needs; trials can then be added in rounds (the gate adds evidence while a rule is
//! undecided), instructions counted, the run files taken at any point and written at the end.

mod counting;
mod plan;
mod record;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::Shell;

use crate::bench::Options;
use crate::bench::interrupt;
use crate::bench::loadgen::Loadgen;
use crate::bench::nats::NatsServer;
use crate::bench::progress::Progress;
use crate::bench::router::RouterSpec;
use crate::bench::runner::{Log, PairLoad, Status, Trial, TrialCtx};
use crate::bench::trial::run_trial;
use crate::model::run_file::RunFile;
use crate::model::workload::Transport;
use crate::model::{artifacts, paths};
pub use counting::Counted;
pub(crate) use counting::by_metric;
pub use plan::TEST_KNOBS;
pub(crate) use plan::{Arm, DEFAULT_TRIALS, Pairing, Plan};
pub(crate) use record::BenchOutcome;

#[derive(Debug, Default)]
struct ArmRuns {
    trials: Vec<Trial>,
    /// `--counters`: one reading per counting run (not per trial), metric by metric
    /// (`instructions_per_req`, and with strace the system calls).
    counted: Vec<BTreeMap<String, f64>>,
}

/// What the trials run with once the binaries are built.
struct Ready {
    /// Bodies and the load generator's files; removed when the session ends.
    tmp: tempfile::TempDir,
    /// Per arm (they differ in the NATS subject when both routers run at once).
    loadgens: Vec<Loadgen>,
    specs: Vec<RouterSpec>,
    /// What counting and profiling drive each router with: one HTTP connection whatever the
    /// transport (the count is of the router's own work), and the run's router flags.
    counting: Loadgen,
    router_args: Vec<String>,
    /// Kept until the session ends: dropping it stops the server.
    _nats: Option<NatsServer>,
}

pub(crate) struct Session<'a> {
    args: &'a Options,
    plan: Plan,
    arms: Vec<Arm>,
    pairing: Option<Pairing>,
    out: Opened,
    pin: Option<(usize, usize)>,
    ready: Option<Ready>,
    runs: Vec<ArmRuns>,
    status: Status,
    /// Trials started so far per arm (the next round continues the AB/BA order).
    done: u32,
}

/// What a bench run opens before it measures: a shell at the workspace root, its start and
/// deadline (`--timeout`), its artifact names claimed under one stamp, and its log.
pub(crate) struct Opened {
    pub sh: Shell,
    pub started: Instant,
    pub deadline: Instant,
    pub dir: PathBuf,
    pub stamp: String,
    pub log_path: PathBuf,
    pub log: Log,
    pub progress: Progress,
}

impl Opened {
    /// Claims the log's name and `names` (as [`artifacts::claim`] takes them) under one stamp.
    pub fn new(args: &Options, names: &[(&str, &str)]) -> Result<Opened> {
        let sh = crate::bench::env_info::root_shell()?;
        let started = Instant::now();
        let dir = paths::artifacts_dir(&paths::root(), &args.artifacts_dir);
        let stamp = artifacts::claim(&dir, &[&[("bench_router", "log")], names].concat())?;
        let log_path = dir.join(format!("bench_router_{stamp}.log"));
        Ok(Opened {
            sh,
            started,
            deadline: started + Duration::from_secs(args.timeout),
            log: Log::create(&log_path)?,
            progress: Progress::new(),
            dir,
            stamp,
            log_path,
        })
    }

    /// Logs why a run did not end well, when its status says.
    pub fn log_failure(&self, status: &Status) {
        if let Some(m) = status.message() {
            self.log
                .line(&format!("perf-bench: run {}: {m}", status.name()));
        }
    }

    /// Says how a run ended and where its artifacts are.
    pub fn done(&self, status: &Status, outcomes: &[BenchOutcome]) {
        let paths: Vec<_> = (outcomes.iter())
            .map(|o| o.artifact.display().to_string())
            .collect();
        self.progress.note(&format!(
            "perf-bench: {} — artifacts: {}, {}",
            status.name(),
            paths.join(", "),
            self.log_path.display()
        ));
    }

    /// Writes `run` to `<json>_<stamp>.json`; its Markdown summary is to go to `<md>_<stamp>.md`.
    pub fn write(&self, run: RunFile, [json, md]: [&str; 2], failed: bool) -> Result<BenchOutcome> {
        let artifact = self.dir.join(format!("{json}_{}.json", self.stamp));
        run.write(&artifact)?;
        let summary = self.dir.join(format!("{md}_{}.md", self.stamp));
        Ok(BenchOutcome {
            artifact,
            summary,
            run,
            failed,
        })
    }
}

impl<'a> Session<'a> {
    /// Opens a session (the candidate alone, or a pairing's two arms): claims the artifact
    /// names, builds the binaries and starts what the session shares. A build or start
    /// failure is the run's status, not an error: the run file says why.
    pub fn open(args: &'a Options, plan: Plan, pairing: Option<Pairing>) -> Result<Session<'a>> {
        let arms = (pairing.as_ref()).map_or_else(|| vec![Arm::candidate()], Pairing::arms);
        // From here on, SIGINT/SIGTERM stop the children and still write the run files.
        interrupt::install();
        let names: Vec<_> = (arms.iter())
            .flat_map(|a| [(a.prefix, "json"), (a.summary, "md")])
            .collect();
        let out = Opened::new(args, &names)?;
        out.log.line(&format!(
            "perf-bench: workload {} ({}), {} trial(s){}",
            plan.workload.name,
            plan.workload_path.display(),
            plan.trials,
            pairing.as_ref().map_or(String::new(), |p| format!(
                ", paired with {} ({})",
                p.against, p.commit
            )),
        ));
        // `--pin` and `--no-pin` override each other; the last one given wins.
        let want_pin = args.pin || !args.no_pin;
        let pin = want_pin.then(crate::bench::affinity::split).flatten();
        if want_pin && pin.is_none() {
            out.progress.note(
                "perf-bench: warning: only one CPU available: the router and the load generator share it",
            );
        }
        let runs = arms.iter().map(|_| ArmRuns::default()).collect();
        let mut session = Session {
            args,
            plan,
            arms,
            pairing,
            out,
            pin,
            ready: None,
            runs,
            status: Status::Ok,
            done: 0,
        };
        match session.prepare() {
            Ok(ready) => session.ready = Some(ready),
            Err(status) => session.fail(status),
        }
        Ok(session)
    }

    /// Builds the binaries, writes the bodies, starts nats-server when the transport needs it.
    fn prepare(&mut self) -> Result<Ready, Status> {
        let [router, loadgen_bin] = build(&self.out, self.args)
            .map_err(|e| Status::Failed(format!("build failed: {e:#}")))?;
        let setup = |e: anyhow::Error| Status::Failed(format!("setting up the run: {e:#}"));
        let tmp = tempfile::tempdir()
            .context("creating a temporary directory")
            .map_err(setup)?;
        let bodies = tmp.path().join("bodies.jsonl");
        let (body_text, kinds) = self.plan.workload.generate(|_| true);
        std::fs::write(&bodies, body_text)
            .context("writing request bodies")
            .map_err(setup)?;
        let body_kinds = tmp.path().join("body_kinds.json");
        artifacts::write_json(&body_kinds, &kinds).map_err(setup)?;
        let nats = match self.plan.transport {
            Transport::Http => None,
            Transport::Nats => {
                let nats =
                    NatsServer::start(tmp.path(), &self.out.log_path, Duration::from_secs(10))
                        .map_err(|e| Status::Failed(format!("nats-server did not start: {e:#}")))?;
                let line = format!("nats-server {} on {}", nats.version, nats.url());
                self.out.log.line(&line);
                Some(nats)
            }
        };
        let nats_url = nats.as_ref().map(NatsServer::url);
        let workload = &self.plan.workload;
        // Both routers of a concurrent pair on one nats-server: each on a subject of its own,
        // or their queue groups would share each other's requests.
        let subject = |i: usize| {
            (self.together() && nats_url.is_some())
                .then(|| format!("{}.{}", crate::bench::nats::SUBJECT, self.arms[i].prefix))
        };
        let loadgen = Loadgen {
            nats_url: nats_url.clone(),
            subject: None,
            bin: loadgen_bin,
            bodies,
            body_kinds: Some(body_kinds),
            cpu: self.pin.map(|p| p.1),
            // The failover phase needs requests to the killed router to fail fast.
            timeout_ms: (workload.failover.as_ref())
                .map_or(2000, |_| crate::bench::failover::REQUEST_TIMEOUT_MS),
            progress_file: self
                .out
                .progress
                .is_live()
                .then(|| tmp.path().join("loadgen.progress")),
        };
        let loadgens = (0..self.arms.len())
            .map(|i| Loadgen {
                subject: subject(i),
                // One live rate on the terminal: the first arm's.
                progress_file: loadgen.progress_file.clone().filter(|_| i == 0),
                ..loadgen.clone()
            })
            .collect();
        let router_args = [&workload.router_args[..], &self.args.router_args].concat();
        let specs = self.router_specs(&router, nats_url.as_deref(), subject, &router_args);
        let counting = Loadgen {
            nats_url: None,
            progress_file: None,
            timeout_ms: 60_000,
            ..loadgen
        };
        Ok(Ready {
            tmp,
            loadgens,
            specs,
            counting,
            router_args,
            _nats: nats,
        })
    }

    /// Each arm's router: its binary, its flags (nats-server and subject, the workload's, the
    /// run's), the test knobs a reference must not see, its CPU.
    fn router_specs(
        &self,
        router: &std::path::Path,
        nats_url: Option<&str>,
        subject: impl Fn(usize) -> Option<String>,
        router_args: &[String],
    ) -> Vec<RouterSpec> {
        self.arms
            .iter()
            .enumerate()
            .map(|(i, arm)| RouterSpec {
                prefix_args: Vec::new(),
                bin: arm
                    .router_bin
                    .clone()
                    .unwrap_or_else(|| router.to_path_buf()),
                args: nats_url
                    .iter()
                    .flat_map(|url| ["--nats-url".to_string(), url.to_string()])
                    .chain(
                        subject(i)
                            .into_iter()
                            .flat_map(|s| ["--nats-subject".to_string(), s]),
                    )
                    .chain(router_args.iter().cloned())
                    .collect(),
                env: Vec::new(),
                // A reference (an arm with a git identity of its own) measured with a test
                // knob would cancel the knob out.
                env_remove: if arm.git.is_some() {
                    TEST_KNOBS.map(String::from).into()
                } else {
                    Vec::new()
                },
                cpus: self.pin.map(|p| vec![p.0]),
            })
            .collect()
    }

    fn fail(&mut self, status: Status) {
        // A failure caused by an interrupt is reported as the interruption.
        let status = match (interrupt::received(), status) {
            (Some(signal), Status::Failed(why) | Status::Timeout(why)) => {
                Status::Interrupted(format!("received {signal} ({why})"))
            }
            (_, status) => status,
        };
        self.out.log_failure(&status);
        self.status = status;
    }

    /// True while nothing has failed.
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Shown to the person running the bench.
    pub fn say(&self, line: &str) {
        self.out.progress.note(line);
    }

    /// A line in the bench log.
    pub fn note(&mut self, line: &str) {
        self.out.log.line(line);
    }

    pub(crate) fn trials_done(&self) -> u32 {
        self.done
    }

    /// Whether the arms' trials run both routers at once (see `trials`).
    fn together(&self) -> bool {
        let w = &self.plan.workload;
        self.arms.len() == 2 && w.scenario.is_none() && w.failover.is_none()
    }

    /// Runs `n` more trials per arm, up to the first failure. A paired session runs both
    /// routers at once, phase by phase, so whatever else the machine does hits both alike; a
    /// scenario or failover workload, which drives its router its own way, alternates the
    /// arms instead (AB, BA, ...), so a drift favours neither side.
    pub fn trials(&mut self, n: u32) {
        let Some(ready) = &self.ready else { return };
        let planned = self.done + n;
        let together = self.together();
        for _ in 0..n {
            if self.status != Status::Ok {
                return;
            }
            self.done += 1;
            let trial = self.done;
            let pair = PairLoad::default();
            let ctx = |i: usize, progress| TrialCtx {
                workload: &self.plan.workload,
                spec: &ready.specs[i],
                loadgen: &ready.loadgens[i],
                workdir: ready.tmp.path(),
                log_path: &self.out.log_path,
                deadline: self.out.deadline,
                warmup: !self.args.no_warmup,
                pair: together.then_some((&pair, i)),
                latency_turns: self.args.latency_turns,
                progress,
                log: &self.out.log,
            };
            let results: Vec<(usize, Result<Trial, Status>)> = if together {
                self.out.progress.note(&format!(
                    "trial {trial}/{planned} (both routers at once; the candidate's phases are marked [candidate])"
                ));
                let quiet = Progress::plain(" [candidate]");
                let (a, b) = (ctx(0, &self.out.progress), ctx(1, &quiet));
                // A side that fails calls the pair off: the other stops waiting for it.
                let run = |ctx| run_trial(ctx).inspect_err(|_| pair.call_off());
                std::thread::scope(|s| {
                    let first = s.spawn(|| run(&a));
                    let second = s.spawn(|| run(&b));
                    let panicked = |_| Err(Status::Failed("a trial panicked".into()));
                    let joined = [first, second].map(|h| h.join().unwrap_or_else(panicked));
                    joined.into_iter().enumerate().collect()
                })
            } else {
                let mut order: Vec<usize> = (0..self.arms.len()).collect();
                if trial.is_multiple_of(2) {
                    order.reverse();
                }
                let mut results = Vec::new();
                for i in order {
                    let label = match self.arms.len() {
                        1 => String::new(),
                        _ => format!(" ({})", self.arms[i].prefix),
                    };
                    self.say(&format!("trial {trial}/{planned}{label}"));
                    let result = run_trial(&ctx(i, &self.out.progress));
                    let failed = result.is_err();
                    results.push((i, result));
                    if failed || interrupt::received().is_some() {
                        break;
                    }
                }
                results
            };
            // A trial counts only when every arm finished it: the samples stay paired.
            let finished: Result<Vec<(usize, Trial)>, Status> =
                results.into_iter().map(|(i, r)| Ok((i, r?))).collect();
            match (finished, interrupt::received()) {
                (Err(status), _) => return self.fail(status),
                (Ok(_), Some(signal)) => {
                    return self.fail(Status::Interrupted(format!("received {signal}")));
                }
                (Ok(finished), None) => {
                    for (i, t) in finished {
                        self.runs[i].trials.push(t);
                    }
                }
            }
        }
    }
}

/// Runs and writes a whole bench with the plan's trials and counting (`perf-bench`).
pub fn run(args: &Options, pairing: Option<Pairing>) -> Result<Vec<BenchOutcome>> {
    let plan = Plan::new(args)?;
    let trials = plan.trials;
    let mut session = Session::open(args, plan, pairing)?;
    session.trials(trials);
    session.count(args.counting_runs, None);
    session.finish()
}

/// The router and the load generator: `--router-bin` and `--loadgen-bin`, else built in release.
fn build(out: &Opened, args: &Options) -> Result<[PathBuf; 2]> {
    let (log, progress) = (&out.log, &out.progress);
    let packages = [("router", &args.router_bin), ("loadgen", &args.loadgen_bin)];
    if !args.no_build {
        // One cargo invocation per package: built together, cargo would unify hyper's
        // client and server features into the router, and the router measured would differ
        // from the one shipped (and from a paired reference, which is built alone).
        let cargo = crate::model::paths::cargo();
        for (package, _) in packages.into_iter().filter(|(_, given)| given.is_none()) {
            progress.note(&format!("perf-bench: building {package} (release)"));
            log.line(&format!("build: {cargo} build --release -p {package}"));
            // Started through duct so that an interrupt stops the build too; `wait` is an
            // error when the build fails (the expression is not `unchecked`).
            let build = duct::cmd!(&cargo, "build", "--release", "--quiet", "-p", package)
                .dir(out.sh.current_dir())
                .start()
                .with_context(|| format!("starting cargo build --release -p {package}"))?;
            let _registered = interrupt::register(build.pids());
            build
                .wait()
                .with_context(|| format!("cargo build --release -p {package}"))?;
        }
    }
    let release = crate::model::paths::target_dir().join("release");
    let bins = packages.map(|(package, given)| given.clone().unwrap_or(release.join(package)));
    for (what, path) in ["router", "load generator"].into_iter().zip(&bins) {
        if !path.is_file() {
            bail!(
                "{what} binary {} does not exist (build it, or drop --no-build)",
                path.display()
            );
        }
    }
    Ok(bins)
}
