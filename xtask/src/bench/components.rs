//! `perf-bench --suite components`: in-process benchmarks of the router's parts, written as
//! run files so the gate, reports and history apply. The router's `components` bench
//! (router/benches/components.rs) runs as a release process, so xtask does not link the router.
//! Each benchmark gives `component_<name>_ns` (ns per operation; information, as wall-clock
//! numbers do not compare across machines) and `component_<name>_ir` (instructions per
//! operation under callgrind, see `component_counts`; gated). Paired, the reference commit's
//! router is counted with the same harness on this machine: a verdict never spans machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use xshell::cmd;

use crate::bench::Options;
use crate::bench::component_counts;
use crate::bench::runner::{Status, failed, round3};
use crate::bench::session::{BenchOutcome, Opened};
use crate::gate::stats::summarize;
use crate::model::artifacts;
use crate::model::run_file::{self, Components, Env, Git, Paired, RunFile, short_commit};

/// The component suite's workload name (`perf/policy_components.json`, ...).
pub(crate) const WORKLOAD: &str = crate::model::suite::COMPONENTS;

/// Samples per benchmark when `--trials` does not say.
pub(crate) const DEFAULT_SAMPLES: u32 = 20;

/// Target wall time of one sample, ms; `PERF_COMPONENTS_SAMPLE_MS` overrides it (tests).
const DEFAULT_SAMPLE_MS: f64 = 10.0;
const SAMPLE_MS_ENV: &str = "PERF_COMPONENTS_SAMPLE_MS";

/// Iterations of a full counting run; `PERF_COMPONENTS_COUNT_ITERS` overrides it (tests). The
/// half-run difference then covers 1000 operations (sticky_put_100k cycles through as many
/// keys); json_large takes ~2.5 s.
const DEFAULT_ITERATIONS: u64 = 2000;
const ITERATIONS_ENV: &str = "PERF_COMPONENTS_COUNT_ITERS";

/// Only the benchmarks whose names contain this (the bench's `--filter`), for a quick look
/// and quick tests; a gate run with it fails on the missing metrics unless its policy
/// leaves them out.
const FILTER_ENV: &str = "PERF_COMPONENTS_FILTER";

/// The environment variable `name` parsed, when `ok` accepts it (else an error saying what
/// was `expected`); `default` when it is not set.
fn env_or<T: std::str::FromStr>(
    name: &str,
    default: T,
    ok: impl Fn(&T) -> bool,
    expected: &str,
) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => (v.parse::<T>().ok().filter(ok))
            .with_context(|| format!("{name}={v}: expected {expected}")),
        Err(_) => Ok(default),
    }
}

/// One benchmark as the bench binary reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Benchmark {
    /// ns per operation, one per sample.
    pub samples: Vec<f64>,
    pub iterations_per_sample: u64,
}

/// The metric a benchmark is gated as.
pub(crate) fn metric_name(benchmark: &str) -> String {
    format!("component_{benchmark}_ns")
}

/// Parses the bench binary's `--json` output:
/// `{"unit": "ns", "benchmarks": {NAME: {"samples": [..], "iterations_per_sample": N}}}`.
pub(crate) fn parse_output(text: &str) -> Result<BTreeMap<String, Benchmark>> {
    let doc: Value = serde_json::from_str(text).context("parsing the bench output as JSON")?;
    if doc["unit"] != "ns" {
        bail!(
            "bench output: field `unit`: expected \"ns\", found {}",
            doc["unit"]
        );
    }
    let Some(benchmarks) = doc["benchmarks"].as_object() else {
        bail!("bench output: field `benchmarks`: expected an object");
    };
    let mut out = BTreeMap::new();
    for (name, b) in benchmarks {
        let field = |f: &str| format!("bench output: field `benchmarks.{name}.{f}`");
        let samples = b["samples"]
            .as_array()
            .with_context(|| format!("{}: expected an array", field("samples")))?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .with_context(|| {
                        format!("{}[{i}]: expected a positive number", field("samples"))
                    })
            })
            .collect::<Result<Vec<f64>>>()?;
        let iterations_per_sample = b["iterations_per_sample"]
            .as_u64()
            .with_context(|| format!("{}: expected an integer", field("iterations_per_sample")))?;
        out.insert(
            name.clone(),
            Benchmark {
                samples,
                iterations_per_sample,
            },
        );
    }
    if out.is_empty() {
        bail!("bench output: no benchmarks");
    }
    Ok(out)
}

/// The reference side of a paired components run: a commit counted here with our harness.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The ref as given (`--against REF`, or the stored baseline's commit).
    pub against: String,
    pub commit: String,
}

/// Runs the component benchmarks: wall-clock samples (`--trials`, 0 for none) and, with
/// valgrind, the counts; with `reference`, its bench is counted too and two run files are
/// written (the reference's first).
pub fn run(args: &Options, reference: Option<&Reference>) -> Result<Vec<BenchOutcome>> {
    let setup = Setup::new(args, reference)?;
    let mut measured = Measured::default();
    if let Err(status) = setup.measure(&mut measured) {
        setup.out.log_failure(&status);
        measured.status = status;
    }
    setup.write(measured)
}

/// What a components run settles before it measures: its settings, its artifacts, its log.
struct Setup<'a> {
    args: &'a Options,
    reference: Option<&'a Reference>,
    samples: u32,
    sample_ms: f64,
    iterations: u64,
    /// valgrind's version; `None` when it is missing (no counts).
    valgrind: Option<String>,
    out: Opened,
    /// The CPU the bench is pinned to, with `--pin`.
    cpu: Option<usize>,
    /// `PERF_COMPONENTS_FILTER`, when set.
    filter: Option<String>,
}

/// What a components run measured, and how it ended.
#[derive(Default)]
struct Measured {
    status: Status,
    bin: Option<PathBuf>,
    reference_bin: Option<PathBuf>,
    samples: BTreeMap<String, Benchmark>,
    /// Instruction counts of the candidate's bench, then the reference's (none without valgrind).
    counted: Vec<component_counts::Counts>,
}

impl<'a> Setup<'a> {
    fn new(args: &'a Options, reference: Option<&'a Reference>) -> Result<Setup<'a>> {
        let samples = args.trials.unwrap_or(DEFAULT_SAMPLES);
        let sample_ms = env_or(
            SAMPLE_MS_ENV,
            DEFAULT_SAMPLE_MS,
            |ms| ms.is_finite() && *ms > 0.0 && *ms <= 10_000.0,
            "milliseconds in (0, 10000]",
        )?;
        let iterations = env_or(
            ITERATIONS_ENV,
            DEFAULT_ITERATIONS,
            |n| *n >= 2,
            "an integer of 2 or more",
        )?;
        // Counts need valgrind. Paired, they are the point (exit 2 with the hint); alone, a
        // run without them still has its wall-clock samples, and says what it lacks.
        let valgrind = match crate::bench::counters::valgrind_version() {
            Ok(v) => Some(v),
            Err(e) if reference.is_some() || samples == 0 => {
                return Err(e.context("the component instruction counts need callgrind"));
            }
            Err(_) => None,
        };
        let mut names = vec![("perf_baseline", "json"), ("perf_summary", "md")];
        if reference.is_some() {
            names.extend([("perf_reference", "json"), ("perf_reference_summary", "md")]);
        }
        let out = Opened::new(args, &names)?;
        // Pinned only on `--pin`: there is no second process to keep apart, and a pinned
        // benchmark cannot leave a CPU a neighbour keeps busy (on the shared 2-vCPU VM,
        // pinned medians came out up to 2x slower than unpinned ones a minute apart).
        let cpu = args
            .pin
            .then(|| crate::bench::affinity::allowed_cpus().first().copied())
            .flatten();
        let setup = Setup {
            args,
            reference,
            samples,
            sample_ms,
            iterations,
            valgrind,
            out,
            cpu,
            filter: std::env::var(FILTER_ENV).ok().filter(|f| !f.is_empty()),
        };
        setup.announce();
        Ok(setup)
    }

    /// Says what the run will do, and which flags it ignores.
    fn announce(&self) {
        let args = self.args;
        self.out.log.line(&format!(
            "perf-bench: workload {WORKLOAD}, {} sample(s) of ~{} ms per benchmark, \
             counted over {} iterations{}",
            self.samples,
            self.sample_ms,
            self.iterations,
            self.reference.map_or(String::new(), |r| format!(
                ", paired with {} ({})",
                r.against,
                short_commit(&r.commit)
            ))
        ));
        if let Some(f) = &self.filter {
            self.out.progress.note(&format!(
                "perf-bench: {FILTER_ENV}={f}: only the benchmarks whose names contain it"
            ));
        }
        match &self.valgrind {
            Some(v) => self.out.log.line(&format!(
                "counters: callgrind ({v}), collecting bench_loop only"
            )),
            None => self.out.progress.note(&format!(
                "perf-bench: warning: `valgrind` is not on PATH, so no component_*_ir counts \
                 (the gate needs them); install it: `{}`",
                crate::bench::counters::INSTALL_HINT
            )),
        }
        for (given, flag) in [
            (args.transport.is_some(), "--transport"),
            (args.counters.is_some(), "--counters"),
            (!args.router_args.is_empty(), "--router-arg"),
            (args.router_bin.is_some(), "--router-bin"),
            (args.loadgen_bin.is_some(), "--loadgen-bin"),
        ] {
            if given {
                // Ignored, not refused: `--suite all` passes its flags to every member.
                self.out.progress.note(&format!(
                    "perf-bench: note: {flag} does not apply to the {WORKLOAD} workload (it \
                     always counts with callgrind); ignored"
                ));
            }
        }
    }

    /// Builds the benches, takes the samples, counts the instructions into `m`; the first step
    /// that fails ends them with its status.
    fn measure(&self, m: &mut Measured) -> Result<(), Status> {
        let bin = bench_binary(&self.out, self.args)
            .map_err(|err| Status::Failed(format!("build failed: {err:#}")))?;
        m.bin = Some(bin.clone());
        if let Some(r) = self.reference {
            let built = reference_bench(&self.out, r, &bin);
            m.reference_bin = Some(built.map_err(|err| {
                Status::Failed(format!(
                    "the reference bench of {} ({}) could not be built: {err:#}; the \
                     component rules cannot be decided on this machine (a count is never \
                     compared with another machine's numbers)",
                    r.against,
                    short_commit(&r.commit)
                ))
            })?);
        }
        if self.samples > 0 {
            self.out.progress.note(&format!(
                "perf-bench: running the component benchmarks ({} samples each)",
                self.samples
            ));
            m.samples = self.run_bench(&bin)?;
        }
        if self.valgrind.is_some() {
            let sides: Vec<&Path> = std::iter::once(bin.as_path())
                .chain(m.reference_bin.as_deref())
                .collect();
            let (runs, filter) = (self.args.counting_runs, self.filter.as_deref());
            m.counted = component_counts::count(&self.out, &sides, filter, runs, self.iterations)?;
        }
        Ok(())
    }

    /// The environment a run file records for `bench`.
    fn env_for(&self, bench: Option<&Path>) -> Env {
        let Value::Object(mut extra) = json!({
            "slowdown_knob": false,
            "affinity": self.cpu.map(|c| json!({"components": [c]})),
            "components_bin": bench.map(|p| p.display().to_string()),
            "sample_ms": self.sample_ms,
        }) else {
            unreachable!("an object literal")
        };
        if let Some(v) = &self.valgrind {
            extra.insert("counters".into(), json!("callgrind"));
            extra.insert("valgrind_version".into(), json!(v));
        }
        let mut env = crate::bench::env_info::machine(&self.out.sh, extra);
        if let Some(profile) = bench.and_then(crate::bench::env_info::profile_of) {
            // A prebuilt binary (`--components-bin`) may be a test build.
            env.profile = Some(profile.to_string());
        }
        env
    }

    /// Runs the bench binary (pinned to `cpu` if given) until it exits or the deadline passes,
    /// its progress appended to the log, and reads its JSON.
    fn run_bench(&self, bin: &Path) -> Result<BTreeMap<String, Benchmark>, Status> {
        let (log_path, log) = (&self.out.log_path, &self.out.log);
        let tmp =
            tempfile::tempdir().map_err(|e| failed("creating a temporary directory", e.into()))?;
        let out_path = tmp.path().join("components.json");
        let log_file = crate::bench::router::append_to(log_path)
            .map_err(|e| failed(&format!("opening {}", log_path.display()), e.into()))?;
        let mut args = vec![
            "--bench".to_string(),
            "--samples".into(),
            self.samples.to_string(),
            "--sample-ms".into(),
            self.sample_ms.to_string(),
            "--json".into(),
            out_path.display().to_string(),
        ];
        if let Some(f) = &self.filter {
            args.extend(["--filter".to_string(), f.clone()]);
        }
        log.line(&format!("run: {} {}", bin.display(), args.join(" ")));
        // Both streams into the log (stdout set outside, so that stderr joins it).
        let mut expr = duct::cmd(bin, &args)
            .dir(tmp.path())
            .stdin_null()
            .stderr_to_stdout()
            .stdout_file(log_file)
            .unchecked();
        if let Some(cpu) = self.cpu {
            expr = expr.before_spawn(move |cmd| {
                crate::bench::affinity::pin_child(cmd, vec![cpu]);
                Ok(())
            });
        }
        let handle = expr
            .start()
            .map_err(|e| failed(&format!("starting {}", bin.display()), e.into()))?;
        let remaining = self.out.deadline.saturating_duration_since(Instant::now());
        let waited = (handle.wait_timeout(remaining))
            .map_err(|e| failed("waiting for the component benchmarks", e.into()))?;
        let Some(std::process::Output { status: output, .. }) = waited else {
            let _ = handle.kill();
            return Err(Status::Timeout(format!(
                "the component benchmarks did not finish within --timeout (killed after {:.0} s)",
                remaining.as_secs_f64()
            )));
        };
        if !output.success() {
            return Err(Status::Failed(format!(
                "the component benchmarks exited with {output} (their output is in {})",
                log_path.display()
            )));
        }
        let text = std::fs::read_to_string(&out_path)
            .map_err(|e| failed(&format!("reading {}", out_path.display()), e.into()))?;
        parse_output(&text).map_err(|e| failed("reading the component benchmarks' output", e))
    }

    /// Writes the run files (the reference's first) and returns the outcomes.
    fn write(self, m: Measured) -> Result<Vec<BenchOutcome>> {
        let runs = self.args.counting_runs;
        let counted_with = self.valgrind.as_ref().map(|_| self.iterations);
        let none = component_counts::Counts::new();
        let counted = |side: usize| m.counted.get(side).unwrap_or(&none);
        let failed = m.status != Status::Ok;
        let mut run = run_file(
            &m.samples,
            counted(0),
            counted_with,
            (self.samples, runs),
            &m.status,
            self.env_for(m.bin.as_deref()),
            crate::bench::env_info::git(&self.out.sh),
            self.out.started.elapsed(),
        );
        let mut outcomes = Vec::new();
        if let Some(r) = self.reference {
            let reference_file = format!("perf_reference_{}.json", self.out.stamp);
            let mut reference_run = run_file(
                &BTreeMap::new(),
                counted(1),
                counted_with,
                (0, runs),
                &m.status,
                self.env_for(m.reference_bin.as_deref().or(m.bin.as_deref())),
                Git {
                    commit: Some(r.commit.clone()),
                    dirty: Some(false),
                    reference: Some(r.against.clone()),
                },
                self.out.started.elapsed(),
            );
            for side in [&mut reference_run, &mut run] {
                side.paired = Some(Paired {
                    against: r.against.clone(),
                    reference_commit: Some(r.commit.clone()),
                    order: Some(
                        "counted on this machine in one session; the reference's router with \
                         the working tree's bench harness"
                            .into(),
                    ),
                    reference_file: Some(reference_file.clone()),
                });
            }
            let names = ["perf_reference", "perf_reference_summary"];
            outcomes.push(self.out.write(reference_run, names, failed)?);
        }
        let names = ["perf_baseline", "perf_summary"];
        let candidate = self.out.write(run, names, failed)?;
        self.out.done(&m.status, std::slice::from_ref(&candidate));
        outcomes.push(candidate);
        Ok(outcomes)
    }
}

/// The reference's bench: the candidate's own when the commit's router sources are the
/// working tree's (one program, one build), else built from the commit with the working
/// tree's harness (`paired::components_of`).
fn reference_bench(out: &Opened, r: &Reference, candidate: &Path) -> Result<PathBuf> {
    if crate::bench::paired::same_sources(&out.sh, &r.commit) {
        let line = format!(
            "perf-bench: {} ({}) has the working tree's router sources: one bench serves both sides",
            r.against,
            short_commit(&r.commit)
        );
        out.progress.note(&line);
        out.log.line(&line);
        return Ok(candidate.to_path_buf());
    }
    out.progress.note(&format!(
        "perf-bench: the reference bench: {}'s router with the working tree's harness (built \
         once per commit, harness and toolchain)",
        short_commit(&r.commit)
    ));
    let path = crate::bench::paired::components_of(&out.sh, &r.commit)?;
    out.log
        .line(&format!("reference bench: {}", path.display()));
    Ok(path)
}

/// `perf-calibrate` pairs routers under load, and the component benchmarks run none: bad
/// usage (exit 2) before anything is built. Their counts' noise is measured by counting again.
pub(crate) fn refuse_calibrate(workload: &str) -> Result<()> {
    if workload == WORKLOAD {
        bail!(
            "perf-calibrate: the {WORKLOAD} workload runs no routers to pair (it benchmarks the \
             router's parts in process, and gates their instruction counts); measure the \
             counts' spread by repeating `cargo xtask perf-bench --suite {WORKLOAD} --trials 0`"
        );
    }
    Ok(())
}

/// The run file: one `_ns` metric per benchmark (its samples as trials), one `_ir` metric
/// per counted one (a value per counting run); `counted_with`: a full counting run's iterations.
#[allow(clippy::too_many_arguments)]
pub fn run_file(
    measured: &BTreeMap<String, Benchmark>,
    counted: &BTreeMap<String, Vec<f64>>,
    counted_with: Option<u64>,
    (samples, counting_runs): (u32, u32),
    status: &Status,
    env: Env,
    git: Git,
    elapsed: Duration,
) -> RunFile {
    let rounded = |v: &[f64]| v.iter().map(|&x| round3(x)).collect::<Vec<f64>>();
    let values: BTreeMap<String, Vec<f64>> = measured
        .iter()
        .map(|(name, b)| (metric_name(name), rounded(&b.samples)))
        .collect();
    let mut summary = summarize(&values, samples as usize);
    let counts: BTreeMap<String, Vec<f64>> = counted
        .iter()
        .map(|(name, v)| (name.clone(), rounded(v)))
        .collect();
    summary.extend(summarize(&counts, counting_runs as usize));
    let completed = measured
        .values()
        .map(|b| b.samples.len())
        .min()
        .unwrap_or(0);
    RunFile {
        schema_version: Some(run_file::SCHEMA_VERSION),
        kind: Some(run_file::KIND.into()),
        timestamp: Some(artifacts::now_rfc3339()),
        git,
        env,
        workload: Some(WORKLOAD.into()),
        workload_description: Some(
            "in-process component benchmarks of the router (router/benches/components.rs): ns per operation (information) and instructions per operation under callgrind (gated)".into(),
        ),
        trials: Some(samples),
        trials_completed: Some(completed as u32),
        metrics: summary.metrics,
        samples: summary.samples,
        spread: summary.spread,
        run: status.run_status(elapsed, true),
        components: Some(Components {
            unit: "ns".into(),
            iterations_per_sample: measured
                .iter()
                .map(|(name, b)| (name.clone(), b.iterations_per_sample))
                .collect(),
            count_iterations: counted_with,
        }),
        ..RunFile::default()
    }
}

/// The bench binary: `--components-bin`, else built in release (the `bench` profile
/// inherits `release`), else with `--no-build` the newest one cargo left in target/release.
fn bench_binary(out: &Opened, args: &Options) -> Result<PathBuf> {
    let (log, progress) = (&out.log, &out.progress);
    let path = match (&args.components_bin, args.no_build) {
        (Some(path), _) => path.clone(),
        (None, false) => {
            let cargo = crate::model::paths::cargo();
            progress.note("perf-bench: building the component benchmarks (release)");
            log.line(&format!(
                "build: {cargo} bench -p router --bench components --no-run --message-format=json"
            ));
            let out = cmd!(
                out.sh,
                "{cargo} bench --quiet -p router --bench components --no-run --message-format=json-render-diagnostics"
            )
            .read()
            .context("cargo bench -p router --bench components --no-run")?;
            crate::bench::paired::executable_from_messages(&out).context(
                "cargo printed no executable for the components bench (is it in router/Cargo.toml?)",
            )?
        }
        (None, true) => newest_prebuilt(&crate::model::paths::target_dir().join("release/deps"))?,
    };
    if !path.is_file() {
        bail!(
            "component bench binary {} does not exist (build it with {NO_RUN})",
            path.display()
        );
    }
    log.line(&format!("components bench: {}", path.display()));
    Ok(path)
}

/// How to do without `--no-build`, or what to build first.
const NO_RUN: &str = "`cargo bench -p router --bench components --no-run`, or drop --no-build";

/// `--no-build` without `--components-bin`: the newest `components-<hash>` executable.
fn newest_prebuilt(deps: &Path) -> Result<PathBuf> {
    let is_bench = |name: &str| {
        (name.strip_prefix("components-")).is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    artifacts::newest_file(deps, is_bench)
        .with_context(|| format!("reading {} (build the bench with {NO_RUN})", deps.display()))?
        .with_context(|| {
            format!(
                "no components bench in {} (build it with {NO_RUN})",
                deps.display()
            )
        })
}

#[cfg(test)]
mod tests;
