//! A bench session: one or more routers (the working tree's, and in paired mode a
//! reference build) measured with one workload on this machine. Opening it checks the inputs
//! and builds what it needs; trials can then be added in rounds (the gate adds evidence
//! while a rule is undecided), instructions counted, and the run files taken at any point
//! and written at the end, also when a trial failed or the run was interrupted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use xshell::Shell;

use crate::bench::counters::{self, Chosen, CountCtx};
use crate::bench::interrupt;
use crate::bench::loadgen::Loadgen;
use crate::bench::nats::NatsServer;
use crate::bench::profile;
use crate::bench::progress::Progress;
use crate::bench::router::RouterSpec;
use crate::bench::runner::{Log, PairLoad, Status, Trial, TrialCtx, round3};
use crate::bench::trial::run_trial;
use crate::flags::BenchArgs;
use crate::gate::stats::summarize;
use crate::model::artifacts;
use crate::model::profile::Profile;
use crate::model::run_file::{self, Failover, Git, Histograms, Paired, RunFile, RunStatus};
use crate::model::workload::{Transport, Workload};

/// The router's test-only knobs (see router/src/config.rs): they slow the router under test on
/// purpose, so a reference build never gets them.
pub const TEST_KNOBS: [&str; 3] = [
    "ROUTER_TEST_SLOWDOWN_ITERS",
    "ROUTER_TEST_DELAY_US",
    "ROUTER_TEST_DELAY_EVERY",
];

/// Trials when neither `--trials` nor the workload says.
pub const DEFAULT_TRIALS: u32 = 5;

/// What a bench run left behind.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    /// The raw-run JSON (`perf_baseline_<ts>.json`), always written.
    pub artifact: PathBuf,
    /// Where its Markdown summary goes (claimed with the run's other artifacts).
    pub summary: PathBuf,
    /// The run as written.
    pub run: RunFile,
    /// True when the run did not complete (`run.status` is not `ok`).
    pub failed: bool,
}

/// A router under test in one session: the working tree's, or a reference build.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Artifact name prefix (`perf_baseline` for the candidate, as DESIGN.md names it).
    pub prefix: &'static str,
    /// A prebuilt router; `None` means the working tree's, built (or `--router-bin`).
    pub router_bin: Option<PathBuf>,
    /// Git identity to record; `None` means the working tree's.
    pub git: Option<Git>,
}

impl Arm {
    /// The working tree's router: the candidate.
    pub fn candidate() -> Arm {
        Arm {
            prefix: "perf_baseline",
            router_bin: None,
            git: None,
        }
    }

    fn is_reference(&self) -> bool {
        self.git.is_some()
    }

    /// Prefix of the arm's Markdown summary: `perf_summary` for the candidate.
    pub fn summary_prefix(&self) -> String {
        if self.prefix == "perf_baseline" {
            "perf_summary".to_string()
        } else {
            format!("{}_summary", self.prefix)
        }
    }
}

/// A paired session: which reference the candidate alternates with.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub against: String,
    pub commit: String,
    pub reference_bin: PathBuf,
}

impl Pairing {
    /// The two arms of a paired session: the reference first, then the candidate.
    pub fn arms(&self) -> Vec<Arm> {
        vec![
            Arm {
                prefix: "perf_reference",
                router_bin: Some(self.reference_bin.clone()),
                git: Some(Git {
                    commit: Some(self.commit.clone()),
                    dirty: Some(false),
                    reference: Some(self.against.clone()),
                }),
            },
            Arm::candidate(),
        ]
    }
}

/// The inputs of a run, checked before anything is built or started: a bad workload, a
/// missing nats-server or a counter the machine lacks is bad input (exit 2).
pub struct Plan {
    pub workload: Workload,
    workload_path: PathBuf,
    /// Trials of the first round.
    pub trials: u32,
    transport: Transport,
    nats_version: Option<String>,
    counter: Option<Chosen>,
}

impl Plan {
    pub fn new(args: &BenchArgs) -> Result<Plan> {
        let workload_path = crate::model::paths::resolve_workload(
            &crate::model::paths::perf_root(),
            &args.workload,
        );
        let workload = Workload::load(&workload_path)?;
        let trials = args.trials.or(workload.trials).unwrap_or(DEFAULT_TRIALS);
        if trials == 0 {
            bail!("--trials: expected at least 1");
        }
        let transport = args.transport.unwrap_or(workload.transport);
        if workload.failover.is_some() && transport != Transport::Nats {
            bail!(
                "workload {} is a NATS failover workload; it cannot run with --transport {}",
                workload.name,
                transport.as_str()
            );
        }
        let nats_version = match transport {
            Transport::Nats => Some(crate::bench::nats::version()?),
            Transport::Http => None,
        };
        // `auto` probes the machine here: `perf` without hardware counters, or callgrind
        // without valgrind, is bad input before anything starts.
        let counter = args
            .counters
            .or(workload.counters)
            .map(counters::choose)
            .transpose()?;
        Ok(Plan {
            workload,
            workload_path,
            trials,
            transport,
            nats_version,
            counter,
        })
    }

    /// Whether the run counts instructions.
    pub fn counts(&self) -> bool {
        self.counter.is_some()
    }
}

/// Everything collected for one arm.
#[derive(Debug, Default)]
struct ArmRuns {
    trials: Vec<Trial>,
    /// `--counters`: one value per counting run (not per trial).
    instructions_per_req: Vec<f64>,
}

/// What the trials run with once the binaries are built.
struct Ready {
    /// Bodies and the load generator's files; removed when the session ends.
    tmp: tempfile::TempDir,
    /// Per arm (they differ in the NATS subject when both routers run at once).
    loadgens: Vec<Loadgen>,
    specs: Vec<RouterSpec>,
    /// Kept until the session ends: dropping it stops the server.
    _nats: Option<NatsServer>,
}

/// An open session.
pub struct Session<'a> {
    args: &'a BenchArgs,
    plan: Plan,
    arms: Vec<Arm>,
    pairing: Option<Pairing>,
    sh: Shell,
    started: Instant,
    deadline: Instant,
    stamp: String,
    dir: PathBuf,
    log_path: PathBuf,
    log: Log,
    progress: Progress,
    pin: Option<(usize, usize)>,
    ready: Option<Ready>,
    runs: Vec<ArmRuns>,
    status: Status,
    /// Trials started so far per arm (the next round continues the AB/BA order).
    done: u32,
}

impl<'a> Session<'a> {
    /// Opens a session with `arms` (the candidate alone, or a pairing's two arms): claims the
    /// artifact names, builds the binaries and starts what the whole session shares. A build
    /// or start failure is recorded as the run's status, not returned: the run file says why.
    pub fn open(args: &'a BenchArgs, plan: Plan, pairing: Option<Pairing>) -> Result<Session<'a>> {
        let arms = match &pairing {
            Some(p) => p.arms(),
            None => vec![Arm::candidate()],
        };
        // From here on, SIGINT/SIGTERM stop the children and still write the run files.
        interrupt::install();
        let root = crate::model::paths::root();
        let sh = Shell::new().context("creating a shell")?;
        sh.change_dir(&root);
        let started = Instant::now();
        let dir = crate::model::paths::artifacts_dir(&root, &args.artifacts_dir);
        let mut names: Vec<(String, &str)> = vec![("bench_router".into(), "log")];
        for arm in &arms {
            names.push((arm.prefix.to_string(), "json"));
            names.push((arm.summary_prefix(), "md"));
        }
        let stamp = artifacts::claim(&dir, &names)?;
        let log_path = dir.join(format!("bench_router_{stamp}.log"));
        let log = Log::create(&log_path)?;
        let progress = Progress::new();
        log.line(&format!(
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
            progress.note(
                "perf-bench: warning: only one CPU available: the router and the load generator share it",
            );
        }
        let runs = arms.iter().map(|_| ArmRuns::default()).collect();
        let mut session = Session {
            args,
            plan,
            arms,
            pairing,
            sh,
            started,
            deadline: started + Duration::from_secs(args.timeout),
            stamp,
            dir,
            log_path,
            log,
            progress,
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
        let bins = build(&self.sh, self.args, &mut self.log, &self.progress)
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
                self.log.flush();
                let nats =
                    NatsServer::start(tmp.path(), &self.log_path, Duration::from_secs(10))
                        .map_err(|e| Status::Failed(format!("nats-server did not start: {e:#}")))?;
                self.log
                    .line(&format!("nats-server {} on {}", nats.version, nats.url()));
                Some(nats)
            }
        };
        let nats_url = nats.as_ref().map(NatsServer::url);
        let workload = &self.plan.workload;
        // Both routers of a concurrent pair on one nats-server: each on a subject of its own,
        // or their queue groups would share each other's requests.
        let together =
            self.arms.len() == 2 && workload.scenario.is_none() && workload.failover.is_none();
        let subject = |i: usize| {
            (together && nats_url.is_some())
                .then(|| format!("{}.{}", crate::bench::nats::SUBJECT, self.arms[i].prefix))
        };
        let loadgen = Loadgen {
            nats_url: nats_url.clone(),
            subject: None,
            bin: bins.loadgen,
            bodies,
            body_kinds: Some(body_kinds),
            cpu: self.pin.map(|p| p.1),
            // The failover phase needs requests to the killed router to fail fast.
            timeout_ms: if workload.failover.is_some() {
                crate::bench::failover::REQUEST_TIMEOUT_MS
            } else {
                2000
            },
            progress_file: self
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
        let specs = self
            .arms
            .iter()
            .enumerate()
            .map(|(i, arm)| RouterSpec {
                prefix_args: Vec::new(),
                bin: arm
                    .router_bin
                    .clone()
                    .unwrap_or_else(|| bins.router.clone()),
                args: nats_url
                    .iter()
                    .flat_map(|url| ["--nats-url".to_string(), url.clone()])
                    .chain(
                        subject(i)
                            .into_iter()
                            .flat_map(|s| ["--nats-subject".to_string(), s]),
                    )
                    .chain(workload.router_args.iter().cloned())
                    .chain(self.args.router_args.iter().cloned())
                    .collect(),
                env: Vec::new(),
                // A reference measured with a test knob would cancel the knob out.
                env_remove: if arm.is_reference() {
                    TEST_KNOBS.iter().map(|k| k.to_string()).collect()
                } else {
                    Vec::new()
                },
                cpus: self.pin.map(|p| vec![p.0]),
            })
            .collect();
        Ok(Ready {
            tmp,
            loadgens,
            specs,
            _nats: nats,
        })
    }

    fn fail(&mut self, status: Status) {
        // A failure that happened because the run was interrupted is reported as the
        // interruption.
        let status = match (interrupt::received(), status) {
            (Some(signal), Status::Failed(why) | Status::Timeout(why)) => {
                Status::Interrupted(format!("received {signal} ({why})"))
            }
            (_, status) => status,
        };
        if let Some(m) = status.message() {
            self.log
                .line(&format!("perf-bench: run {}: {m}", status.name()));
        }
        self.status = status;
    }

    /// True while nothing has failed.
    /// The candidate's router binary, once the session is ready.
    pub fn candidate_bin(&self) -> Option<&std::path::Path> {
        let ready = self.ready.as_ref()?;
        ready.specs.last().map(|spec| spec.bin.as_path())
    }

    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The plan the session runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// When the session must end (`--timeout`).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Shown to the person running the bench.
    pub fn say(&self, line: &str) {
        self.progress.note(line);
    }

    /// A line in the bench log.
    pub fn note(&mut self, line: &str) {
        self.log.line(line);
    }

    /// Trials done per arm.
    pub fn trials_done(&self) -> u32 {
        self.done
    }

    /// Runs `n` more trials per arm. A paired session runs both routers at once, their loads
    /// started together phase by phase (one load generator each), so that whatever else the
    /// machine does at that moment hits both sides alike; a scenario or failover workload,
    /// which drives its router in its own way, alternates the arms instead (AB, BA, AB, ...),
    /// so that a drift favours neither side. Stops at the first failure.
    pub fn trials(&mut self, n: u32) {
        let Some(ready) = &self.ready else { return };
        let planned = self.done + n;
        let w = &self.plan.workload;
        let together = self.arms.len() == 2 && w.scenario.is_none() && w.failover.is_none();
        for _ in 0..n {
            if self.status != Status::Ok {
                return;
            }
            self.done += 1;
            let trial = self.done;
            let pair = PairLoad::default();
            let ctx = |i: usize| TrialCtx {
                workload: w,
                spec: &ready.specs[i],
                loadgen: &ready.loadgens[i],
                workdir: ready.tmp.path(),
                log_path: &self.log_path,
                deadline: self.deadline,
                warmup: !self.args.no_warmup,
                pair: together.then_some((&pair, i)),
            };
            let results: Vec<(usize, Result<Trial, Status>)> = if together {
                self.progress.note(&format!(
                    "trial {trial}/{planned} (both routers at once; the candidate's phases are marked [candidate])"
                ));
                let quiet = Progress::plain(" [candidate]");
                let (log, progress) = (&self.log, &self.progress);
                let (a, b) = (ctx(0), ctx(1));
                std::thread::scope(|s| {
                    let first = s.spawn(|| run_trial(&a, progress, log));
                    let second = s.spawn(|| run_trial(&b, &quiet, log));
                    let join = |h: std::thread::ScopedJoinHandle<'_, Result<Trial, Status>>| {
                        h.join()
                            .unwrap_or_else(|_| Err(Status::Failed("a trial panicked".into())))
                    };
                    vec![(0, join(first)), (1, join(second))]
                })
            } else {
                let mut order: Vec<usize> = (0..self.arms.len()).collect();
                if trial.is_multiple_of(2) {
                    order.reverse();
                }
                let mut results = Vec::new();
                for i in order {
                    let label = if self.arms.len() > 1 {
                        format!(" ({})", self.arms[i].prefix)
                    } else {
                        String::new()
                    };
                    self.progress
                        .note(&format!("trial {trial}/{planned}{label}"));
                    let result = run_trial(&ctx(i), &self.progress, &self.log);
                    let failed = result.is_err();
                    results.push((i, result));
                    if failed || interrupt::received().is_some() {
                        break;
                    }
                }
                results
            };
            // A trial counts only when every arm finished it: the samples stay paired.
            if let Some((_, Err(s))) = results.iter().find(|(_, r)| r.is_err()) {
                let status = s.clone();
                self.fail(status);
                return;
            }
            if let Some(signal) = interrupt::received() {
                self.fail(Status::Interrupted(format!("received {signal}")));
                return;
            }
            for (i, result) in results {
                if let Ok(t) = result {
                    self.runs[i].trials.push(t);
                }
            }
        }
    }

    /// Counts instructions per request with the plan's counter, `runs` counting runs per
    /// arm. Counting is deterministic: one run per arm already gives the number (the spread
    /// over runs is in xtask/BENCHMARKS.md), more only confirm it.
    pub fn count(&mut self, runs: u32) {
        self.count_with(runs, None);
    }

    /// Counts as `count` does, and counts the router `reference` too, beside each arm's run:
    /// the counts of a stored baseline's commit, made here, when only the count is paired
    /// (the wall-clock trials run the candidate alone). Returns the reference's counts, one
    /// per counting run; empty when nothing was counted.
    pub fn count_also(&mut self, runs: u32, reference: &std::path::Path) -> Vec<f64> {
        self.count_with(runs, Some(reference))
    }

    fn count_with(&mut self, runs: u32, reference: Option<&std::path::Path>) -> Vec<f64> {
        let mut counted_reference = Vec::new();
        let (Some(counter), Some(ready)) = (&self.plan.counter, &self.ready) else {
            return counted_reference;
        };
        if self.status != Status::Ok {
            return counted_reference;
        }
        self.log.line(&counter.describe());
        let (counting_loadgen, router_args) = self.counting(ready);
        // Each arm's router, and the count-only reference with the candidate's CPUs and
        // without the test knobs (a reference never gets them).
        let knobs: Vec<String> = TEST_KNOBS.iter().map(|k| k.to_string()).collect();
        let candidate = ready.specs.last().expect("a candidate arm");
        let mut routers: Vec<(&std::path::Path, &Vec<String>, _)> = ready
            .specs
            .iter()
            .map(|spec| (spec.bin.as_path(), &spec.env_remove, spec.cpus.clone()))
            .collect();
        if let Some(bin) = reference {
            routers.push((bin, &knobs, candidate.cpus.clone()));
        }
        let mut slowest = Duration::ZERO;
        for n in 1..=runs {
            // Bounded in time: a run that would not fit before the --timeout is not started;
            // the runs done so far still make the metric.
            let left = self.deadline.saturating_duration_since(Instant::now());
            if n > 1 && left < slowest * 2 {
                self.progress.note(&format!(
                    "perf-bench: warning: {} of {runs} counting runs: the --timeout leaves \
                     {:.0} s, a counting run took up to {:.0} s; a longer --timeout would allow \
                     all of them",
                    n - 1,
                    left.as_secs_f64(),
                    slowest.as_secs_f64()
                ));
                return counted_reference;
            }
            self.progress.note(&format!(
                "counting run {n}/{runs}: {}, {} requests{}",
                counter.name(),
                self.args.counter_requests,
                if routers.len() > 1 {
                    ", both routers at once (a count does not depend on load)"
                } else {
                    ""
                }
            ));
            self.log.flush();
            let run_started = Instant::now();
            let counted: Vec<Result<f64>> = std::thread::scope(|s| {
                let handles: Vec<_> = routers
                    .iter()
                    .map(|(bin, env_remove, cpus)| {
                        let ctx = CountCtx {
                            router_bin: bin,
                            router_args: &router_args,
                            router_env_remove: env_remove,
                            cpus: cpus.clone(),
                            loadgen: &counting_loadgen,
                            workdir: ready.tmp.path(),
                            log: &self.log_path,
                            deadline: self.deadline,
                        };
                        let requests = self.args.counter_requests;
                        s.spawn(move || {
                            counters::instructions_per_req(&ctx, counter.method, requests)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("a counting run panicked")))
                    })
                    .collect()
            });
            for (i, result) in counted.into_iter().enumerate() {
                let side = self
                    .arms
                    .get(i)
                    .map_or("reference (count only)", |a| a.prefix);
                match result {
                    Ok(ipr) => {
                        self.log.line(&format!(
                            "counting run {n} ({side}, {}): {ipr:.1} instructions/request",
                            counter.name()
                        ));
                        match self.runs.get_mut(i) {
                            Some(arm) => arm.instructions_per_req.push(round3(ipr)),
                            None => counted_reference.push(round3(ipr)),
                        }
                    }
                    Err(e) => {
                        self.fail(Status::Failed(format!("counting run {n} ({side}): {e:#}")));
                        return counted_reference;
                    }
                }
            }
            slowest = slowest.max(run_started.elapsed());
        }
        counted_reference
    }

    /// What counting and profiling drive the router with: one HTTP connection whatever the
    /// transport (the count is of the router's own work), and the run's router flags.
    fn counting(&self, ready: &Ready) -> (Loadgen, Vec<String>) {
        let loadgen = Loadgen {
            nats_url: None,
            progress_file: None,
            timeout_ms: 60_000,
            subject: None,
            ..ready.loadgens[0].clone()
        };
        let w = &self.plan.workload;
        let args = w
            .router_args
            .iter()
            .chain(&self.args.router_args)
            .cloned()
            .collect();
        (loadgen, args)
    }

    /// Profiles each arm's router under callgrind (at once), or with `reference` instead of
    /// the first arm's (a stored baseline's commit has no arm), and keeps the raw callgrind
    /// files next to the artifacts: (reference, candidate).
    pub fn profile(&self, reference: Option<PathBuf>) -> Result<(Profile, Profile)> {
        let ready = self.ready.as_ref().context("the session did not start")?;
        let (loadgen, router_args) = self.counting(ready);
        let candidate = ready.specs.last().expect("a candidate arm");
        let bins = [
            reference.unwrap_or_else(|| ready.specs[0].bin.clone()),
            candidate.bin.clone(),
        ];
        self.progress
            .note("perf-gate: profiling both routers under callgrind");
        let requests = self.args.counter_requests;
        // The reference never gets the test knobs; the candidate keeps its own settings.
        let knobs: Vec<String> = TEST_KNOBS.iter().map(|k| k.to_string()).collect();
        let removed = [&knobs, &candidate.env_remove];
        let mut profiles = std::thread::scope(|s| {
            let handles: Vec<_> = bins
                .iter()
                .zip(removed)
                .map(|(bin, env_remove)| {
                    let ctx = CountCtx {
                        router_bin: bin,
                        router_args: &router_args,
                        router_env_remove: env_remove,
                        cpus: candidate.cpus.clone(),
                        loadgen: &loadgen,
                        workdir: ready.tmp.path(),
                        log: &self.log_path,
                        deadline: self.deadline,
                    };
                    s.spawn(move || profile::collect(&ctx, requests))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("profiling panicked")))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for (p, side) in profiles.iter_mut().zip(["perf_reference", "perf_baseline"]) {
            profile::keep(p, &self.dir, &format!("{side}_{}", self.stamp))?;
        }
        let candidate = profiles.pop().expect("two profiles");
        Ok((profiles.pop().expect("two profiles"), candidate))
    }

    /// The run files as they stand: one per arm, in the arms' order (reference first).
    pub fn run_files(&self) -> Vec<RunFile> {
        let mut out: Vec<RunFile> = self
            .arms
            .iter()
            .zip(&self.runs)
            .map(|(arm, runs)| self.run_file(arm, runs))
            .collect();
        if let Some(p) = &self.pairing {
            let reference_file = format!("{}_{}.json", self.arms[0].prefix, self.stamp);
            for run in &mut out {
                run.paired = Some(Paired {
                    against: p.against.clone(),
                    reference_commit: Some(p.commit.clone()),
                    order: Some("alternating per trial: AB, BA, AB, ...".into()),
                    reference_file: Some(reference_file.clone()),
                });
            }
        }
        out
    }

    /// Writes the run files and returns them with their paths, in the arms' order. Artifacts
    /// are written whatever the status; the status is in each file's `run`.
    pub fn finish(mut self) -> Result<Vec<BenchOutcome>> {
        if self.status == Status::Ok
            && let Some(signal) = interrupt::received()
        {
            self.fail(Status::Interrupted(format!("received {signal}")));
        }
        let runs = self.run_files();
        // Stop nats-server and remove the bodies before writing: nothing runs after this.
        drop(self.ready.take());
        let mut out = Vec::with_capacity(runs.len());
        for (arm, run) in self.arms.iter().zip(runs) {
            let path = self.dir.join(format!("{}_{}.json", arm.prefix, self.stamp));
            run.write(&path)?;
            out.push(BenchOutcome {
                artifact: path,
                summary: self
                    .dir
                    .join(format!("{}_{}.md", arm.summary_prefix(), self.stamp)),
                failed: self.status != Status::Ok,
                run,
            });
        }
        self.progress.note(&format!(
            "perf-bench: {} — artifacts: {}, {}",
            self.status.name(),
            out.iter()
                .map(|o| o.artifact.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.log_path.display()
        ));
        Ok(out)
    }

    fn run_file(&self, arm: &Arm, runs: &ArmRuns) -> RunFile {
        let w = &self.plan.workload;
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for t in &runs.trials {
            for (name, v) in &t.metrics {
                values.entry(name.clone()).or_default().push(*v);
            }
        }
        let mut summary = summarize(&values, runs.trials.len());
        if !runs.instructions_per_req.is_empty() {
            // One value per counting run, not per trial: complete when every run counted.
            let vals = &runs.instructions_per_req;
            let counted = BTreeMap::from([("instructions_per_req".to_string(), vals.clone())]);
            summary.extend(summarize(&counted, vals.len()));
        }
        let exit_code = if self.status == Status::Ok {
            0
        } else {
            crate::exit::BENCH_FAILED
        };
        RunFile {
            // Where finish writes it: messages about an unwritten run name it already.
            source: self
                .dir
                .join(format!("{}_{}.json", arm.prefix, self.stamp))
                .display()
                .to_string(),
            schema_version: Some(run_file::SCHEMA_VERSION),
            kind: Some(run_file::KIND.into()),
            timestamp: Some(artifacts::now_rfc3339()),
            git: arm
                .git
                .clone()
                .unwrap_or_else(|| crate::bench::env_info::git(&self.sh)),
            env: self.environment(runs),
            workload: Some(w.name.clone()),
            workload_description: Some(w.description.clone()),
            trials: Some(self.done.max(self.plan.trials)),
            trials_completed: Some(runs.trials.len() as u32),
            metrics: summary.metrics,
            samples: summary.samples,
            spread: summary.spread,
            run: RunStatus {
                status: Some(self.status.name().into()),
                exit_code: Some(exit_code.into()),
                message: self.status.message().map(str::to_string),
                elapsed_s: Some(round3(self.started.elapsed().as_secs_f64())),
                warmup: Some(!self.args.no_warmup),
            },
            phases: runs.trials.iter().map(|t| t.phases.clone()).collect(),
            router_stop: runs.trials.iter().map(|t| t.stop).collect(),
            histograms: Histograms {
                latency: runs.trials.iter().map(|t| t.histogram.clone()).collect(),
            },
            paired: None,
            failover: w.failover.map(|f| Failover {
                kill_after_ms: Some(f.kill_after_ms),
                router_killed: runs.trials.iter().map(|t| t.killed).collect(),
            }),
            components: None,
            bump: None,
            other: BTreeMap::new(),
        }
    }

    fn environment(&self, runs: &ArmRuns) -> run_file::Env {
        let w = &self.plan.workload;
        let mut extra = serde_json::Map::new();
        let knob = |f: fn(&Trial) -> f64| runs.trials.iter().map(f).fold(0.0, f64::max);
        let slowdown = knob(|t| t.knobs.slowdown_iterations);
        let delay_us = knob(|t| t.knobs.delay_us);
        let delay_every = knob(|t| t.knobs.delay_every);
        extra.insert(
            "slowdown_knob".into(),
            json!(slowdown > 0.0 || delay_us > 0.0),
        );
        extra.insert("slowdown_iterations".into(), json!(slowdown));
        if delay_us > 0.0 {
            extra.insert("delay_us".into(), json!(delay_us));
            extra.insert("delay_every".into(), json!(delay_every));
        }
        extra.insert(
            "affinity".into(),
            self.pin
                .map_or(Value::Null, |(r, l)| json!({"router": [r], "loadgen": [l]})),
        );
        extra.insert(
            "router_flags".into(),
            json!(
                w.router_args
                    .iter()
                    .chain(&self.args.router_args)
                    .collect::<Vec<_>>()
            ),
        );
        let router_bin = self.ready.as_ref().and_then(|r| {
            let i = self.runs.iter().position(|x| std::ptr::eq(x, runs))?;
            Some(r.specs[i].bin.display().to_string())
        });
        extra.insert("router_bin".into(), json!(router_bin));
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
        extra.insert("transport".into(), json!(self.plan.transport.as_str()));
        if let Some(counter) = &self.plan.counter {
            // The counter used, `auto` resolved; what was asked for when it differs.
            extra.insert("counters".into(), json!(counter.name()));
            if counter.requested.as_str() != counter.name() {
                extra.insert(
                    "counters_requested".into(),
                    json!(counter.requested.as_str()),
                );
            }
            if let Some(version) = &counter.valgrind_version {
                extra.insert("valgrind_version".into(), json!(version));
            }
            extra.insert("counter_requests".into(), json!(self.args.counter_requests));
        }
        if let Some(version) = &self.plan.nats_version {
            // A real nats-server on loopback, not an in-process stand-in.
            extra.insert("nats_mode".into(), json!("real"));
            extra.insert("nats_server_version".into(), json!(version));
        }
        crate::bench::env_info::machine(&self.sh, extra)
    }
}

/// Runs a whole bench with the plan's trials and counting, and writes it: what `perf-bench`
/// does, and what `perf-gate` does when it has no reason to add trials.
pub fn run(args: &BenchArgs, pairing: Option<Pairing>) -> Result<Vec<BenchOutcome>> {
    let plan = Plan::new(args)?;
    let trials = plan.trials;
    let mut session = Session::open(args, plan, pairing)?;
    session.trials(trials);
    session.count(args.counting_runs);
    session.finish()
}

/// The binaries a run uses.
struct Binaries {
    router: PathBuf,
    loadgen: PathBuf,
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
            // Started through duct so that an interrupt stops the build too.
            let build = duct::cmd!(&cargo, "build", "--release", "--quiet", "-p", package)
                .dir(sh.current_dir())
                .start()
                .with_context(|| format!("starting cargo build --release -p {package}"))?;
            let _registered = interrupt::register(build.pids());
            let done = build
                .wait()
                .with_context(|| format!("cargo build --release -p {package}"))?;
            if !done.status.success() {
                bail!(
                    "cargo build --release -p {package} failed ({})",
                    done.status
                );
            }
        }
    }
    for (what, path) in [("router", &router), ("load generator", &loadgen)] {
        if !path.is_file() {
            bail!(
                "{what} binary {} does not exist (build it, or drop --no-build)",
                path.display()
            );
        }
    }
    Ok(Binaries { router, loadgen })
}
