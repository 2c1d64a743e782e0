//! `cargo xtask perf-gate`: judge a candidate run against the baseline under the policy, print
//! the table and verdict, and write the gate artifacts (log, verdict JSON, Markdown summary,
//! JUnit XML, HTML report) before exiting.
//!
//! Without `--candidate` it measures first, and decides how before anything runs: against
//! the stored baseline when this machine matches the baseline's environment, else (or when
//! the policy says `always_paired`, or with `--against REF`) paired with the baseline's (or
//! REF's) router in one session. While a relative rule is inconclusive it adds trials, at
//! most `gate.looks` times, within `gate.max_trials` and `gate.time_budget_s`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::bench::session::{BenchOutcome, Pairing, Plan, Session, by_metric};
use crate::flags::{BenchArgs, GateArgs};
use crate::gate::evaluate::{Outcome, Status, Verdict, evaluate};
use crate::gate::evidence::{Next, next};
use crate::model::artifacts;
use crate::model::metric::{SYSCALLS_PER_REQ, syscall_of};
use crate::model::paths;
use crate::model::policy::{self, EnvMismatch, Policy};
use crate::model::run_file::{self, ENV_FIELDS, RunFile};
use crate::report::export;
use crate::report::html;
use crate::report::profile::{self, Explanation};
use crate::report::verdict::{self, Context};

/// A run file as judged: where it came from, and what it holds.
struct Input {
    path: PathBuf,
    run: RunFile,
}

impl Input {
    fn load(path: &Path) -> Result<Input> {
        Ok(Input {
            path: path.to_path_buf(),
            run: run_file::load(path)?,
        })
    }
}

/// Runs the gate and returns its exit code (0 pass, 1 regression, 3 benchmark failed).
/// Bad inputs are an `Err` (exit 2), after the artifacts that record them are written.
pub fn run(args: &GateArgs) -> Result<u8> {
    crate::report::publish::check(&args.record, true)?;
    let paths::Inputs {
        root,
        workload,
        baseline: baseline_path,
        policy: policy_path,
        artifacts: artifacts_dir,
    } = paths::Inputs::resolve(
        &args.bench.workload,
        args.baseline.as_deref(),
        args.policy.as_deref(),
        &args.bench.artifacts_dir,
    )?;
    // The policy and a stored baseline are read first: a bad one is exit 2 before anything
    // runs (its artifacts say why). A candidate file is read once: it may be a pipe.
    let shown = |p: &Path| p.display().to_string();
    let mut explanation = None;
    let mut notes = Vec::new();
    let (judged, candidate_shown) = match (&args.against, &args.candidate) {
        (Some(_), Some(_)) => bail!(
            "--against and --candidate do not go together: --against runs both routers itself"
        ),
        (None, Some(path)) => {
            let judged = Input::load(path).and_then(|candidate| {
                let baseline = baseline_for(&candidate, args.baseline.is_some(), &baseline_path)?;
                Ok((baseline, candidate, policy::load(&policy_path)?))
            });
            (judged, shown(path))
        }
        (against, None) => {
            let inputs = policy::load(&policy_path).and_then(|policy| {
                needs_strace(&policy, &policy_path)?;
                let stored = match against {
                    Some(_) => None,
                    None => Some(load_baseline(&baseline_path)?),
                };
                Ok((policy, stored))
            });
            match inputs {
                Err(e) => (
                    Err(e),
                    "(not measured: the inputs were refused)".to_string(),
                ),
                Ok((policy, stored)) => {
                    let against =
                        choose_mode(&args.bench, against.as_deref(), stored.as_ref(), &policy)?;
                    let m = measure(&args.bench, against, stored, &policy, args.explain)?;
                    explanation = m.why;
                    notes = m.notes;
                    let shown = shown(&m.candidate.path);
                    (Ok((m.baseline, m.candidate, policy)), shown)
                }
            }
        }
    };
    let baseline_shown = match &judged {
        Ok((b, _, _)) => shown(&b.path),
        Err(_) => shown(&baseline_path),
    };
    judge(
        args,
        &root,
        &workload,
        &artifacts_dir,
        [baseline_shown, candidate_shown, shown(&policy_path)],
        judged,
        (explanation, notes),
    )
}

/// A policy that gates system calls needs strace to count them: without it, bad input
/// naming the rule and how to install it (not a run whose rule then finds nothing).
fn needs_strace(policy: &Policy, path: &Path) -> Result<()> {
    if let Some(metric) = policy
        .rules
        .keys()
        .find(|m| m.as_str() == SYSCALLS_PER_REQ || syscall_of(m).is_some())
    {
        crate::bench::syscalls::strace_path().with_context(|| {
            format!(
                "{}: rules.{metric} counts system calls with strace",
                path.display()
            )
        })?;
    }
    Ok(())
}

fn load_baseline(path: &Path) -> Result<Input> {
    Input::load(path).map_err(|e| {
        if path.exists() {
            e
        } else {
            e.context(format!(
                "no baseline at {} (record one with `cargo xtask perf-baseline-bump`, or pass \
                 --baseline FILE)",
                path.display()
            ))
        }
    })
}

/// The baseline a candidate file is judged against. A paired candidate is only meaningful
/// against its own reference run (trial i of one pairs with trial i of the other): without
/// `--baseline` that is the reference file its run names, and a stored baseline is refused.
fn baseline_for(candidate: &Input, given: bool, baseline_path: &Path) -> Result<Input> {
    let Some(paired) = &candidate.run.paired else {
        return load_baseline(baseline_path);
    };
    let shown = candidate.path.display();
    if given {
        let baseline = load_baseline(baseline_path)?;
        if baseline.run.paired.is_none() {
            bail!(
                "{shown}: a paired run (against `{}`) is judged against its own reference run, \
                 but {} is not one side of a paired session; pass its perf_reference_<ts>.json \
                 with --baseline",
                paired.against,
                baseline_path.display()
            );
        }
        return Ok(baseline);
    }
    let Some(name) = &paired.reference_file else {
        bail!(
            "{shown}: a paired run (against `{}`) that does not name its reference run; pass the \
             perf_reference_<ts>.json of its session with --baseline",
            paired.against
        );
    };
    let path = candidate.path.parent().unwrap_or(Path::new(".")).join(name);
    Input::load(&path).with_context(|| {
        format!(
            "{shown}: a paired run is judged against its reference run ({name}, field \
             `paired.reference_file`), which is missing; pass it with --baseline"
        )
    })
}

/// Decides, before anything runs, whether the gate pairs the working tree with a reference
/// router (returns the ref) or compares it with the stored baseline (returns `None`), and
/// says which and why.
fn choose_mode(
    bench: &BenchArgs,
    against: Option<&str>,
    stored: Option<&Input>,
    policy: &Policy,
) -> Result<Option<String>> {
    if bench.workload == crate::model::suite::COMPONENTS {
        // The components are judged on counts alone: without callgrind nothing can decide,
        // and the gate says so before building anything.
        crate::bench::counters::valgrind_version()
            .context("the components gate counts instructions per operation under callgrind")?;
    }
    if let Some(against) = against {
        eprintln!("perf-gate: paired mode against {against} (--against)");
        return Ok(Some(against.to_string()));
    }
    let stored = stored.expect("a stored baseline without --against");
    let sh = xshell::Shell::new().context("creating a shell")?;
    let here = crate::bench::env_info::machine(&sh, serde_json::Map::new());
    let differs: Vec<String> = ENV_FIELDS
        .iter()
        .filter(|f| here.get(f) != stored.run.env.get(f))
        .map(|f| format!("{f} {} -> {}", stored.run.env.get(f), here.get(f)))
        .collect();
    let gate = &policy.gate;
    let why = if gate.always_paired {
        Some("the policy pairs every run (gate.always_paired: wall-clock numbers from another session do not compare on a shared VM)".to_string())
    } else if !differs.is_empty() && gate.env_mismatch == EnvMismatch::Paired {
        Some(format!(
            "this machine differs from the baseline's ({})",
            differs.join(", ")
        ))
    } else {
        None
    };
    let commit = stored.run.git.commit.as_deref();
    if bench.workload == crate::model::suite::COMPONENTS {
        return components_mode(stored, commit).map(Some);
    }
    match (why, commit) {
        (Some(why), Some(commit)) => {
            let also = if gate.always_paired && !differs.is_empty() {
                format!("; the environment differs too ({})", differs.join(", "))
            } else {
                String::new()
            };
            eprintln!(
                "perf-gate: paired mode against the baseline's commit {}: {why}{also}",
                &commit[..commit.len().min(12)]
            );
            Ok(Some(commit.to_string()))
        }
        (Some(why), _) => {
            eprintln!(
                "perf-gate: against the stored baseline {}, although {why}: it cannot be paired \
                 (no commit recorded, or an in-process workload)",
                stored.path.display()
            );
            Ok(None)
        }
        (None, _) => {
            eprintln!(
                "perf-gate: against the stored baseline {}: this machine matches its environment ({})",
                stored.path.display(),
                ENV_FIELDS.join(", ")
            );
            Ok(None)
        }
    }
}

/// The components gate's mode: always paired with the stored baseline's commit, counted on
/// this machine (a stored count from another session or machine is never the reference).
fn components_mode(stored: &Input, commit: Option<&str>) -> Result<String> {
    let commit = commit.with_context(|| {
        format!(
            "{}: field `git.commit`: the components baseline records no commit, and the \
             component counts are only compared with the baseline commit's, counted here; \
             record one with `cargo xtask perf-baseline-bump`",
            stored.path.display()
        )
    })?;
    eprintln!(
        "perf-gate: paired mode against the baseline's commit {}: the component benchmarks \
         are counted (instructions per operation under callgrind) for both commits on this \
         machine; their wall-clock ns are information only",
        &commit[..commit.len().min(12)]
    );
    Ok(commit.to_string())
}

/// What `measure` gives the verdict.
struct Measured {
    baseline: Input,
    candidate: Input,
    /// The differential profile, when one was made.
    why: Option<Explanation>,
    /// What the verdict should say of how it was measured (a baseline count made here).
    notes: Vec<String>,
}

/// Measures the working tree (alone, or paired with `against`'s router), adding trials
/// while a relative rule is inconclusive, and returns (baseline, candidate).
fn measure(
    bench: &BenchArgs,
    against: Option<String>,
    stored: Option<Input>,
    policy: &Policy,
    explain: bool,
) -> Result<Measured> {
    if bench.workload == crate::model::suite::COMPONENTS {
        let against = against.expect("components always run paired (choose_mode)");
        return measure_components(bench, against);
    }
    let plan = Plan::new(bench)?;
    let pairing = against.map(|a| reference(bench, &a)).transpose()?;
    // Paired, the reference run is the baseline; the stored one only chose the mode.
    let mut stored = if pairing.is_some() { None } else { stored };
    let count_reference = match &stored {
        Some(s) if plan.counts() => count_reference(bench, s, policy),
        _ => None,
    };
    let mut session = Session::open(bench, plan, pairing)?;
    let mut notes = Vec::new();
    // Count first: a count is decided by one counting run (seconds), the wall-clock rules by
    // trials (tens of seconds). When the count already fails, more evidence cannot turn the
    // verdict, so one trial gives the other rules a reading and the gate answers.
    let count_failed = if session.plan().counts() {
        match (&count_reference, stored.as_mut()) {
            (Some(reference), Some(stored)) => {
                let counts = if session.candidate_bin() == Some(reference.reference_bin.as_path()) {
                    // The same program on both sides: its counts are the reference's too.
                    session.count(bench.counting_runs);
                    counted_samples(&session.run_files()[0])
                } else {
                    by_metric(&session.count_also(bench.counting_runs, &reference.reference_bin))
                };
                notes.extend(recounted(stored, &reference.commit, counts));
            }
            _ => session.count(bench.counting_runs),
        }
        failed_counts(&session, stored.as_ref().map(|s| &s.run), policy)
    } else {
        Vec::new()
    };
    let stored_run = stored.as_ref().map(|s| &s.run);
    let first = if count_failed.is_empty() {
        session.plan().trials
    } else {
        let line = format!(
            "perf-gate: {} failed on the count: the verdict is FAIL whatever the wall-clock \
             trials say, so one trial reads the other rules (more would only take time)",
            count_failed.join(", ")
        );
        session.say(&line);
        session.note(&line);
        1
    };
    let started = Instant::now();
    session.trials(first);
    let per_trial = started.elapsed() / first.max(1);
    if count_failed.is_empty() {
        add_evidence(&mut session, stored_run, policy, per_trial);
    }
    let why = why_slower(&session, stored.as_ref(), policy, explain);
    let mut outcomes = session.finish()?;
    super::show(&outcomes)?;
    let candidate = into_input(outcomes.pop().expect("a candidate"));
    let baseline = match stored {
        Some(stored) => stored,
        None => into_input(outcomes.pop().expect("a reference")),
    };
    Ok(Measured {
        baseline,
        candidate,
        why,
        notes,
    })
}

/// The components, always paired: the reference commit's benches counted beside the working
/// tree's, on this machine.
fn measure_components(bench: &BenchArgs, against: String) -> Result<Measured> {
    let sh = xshell::Shell::new().context("creating a shell")?;
    sh.change_dir(paths::root());
    let reference = crate::bench::components::Reference {
        commit: crate::bench::paired::resolve(&sh, "--against", &against)?,
        against,
    };
    let mut outcomes = crate::bench::components::run(bench, Some(&reference))?;
    super::show(&outcomes)?;
    let candidate = into_input(outcomes.pop().expect("a candidate"));
    let baseline = into_input(outcomes.pop().expect("a reference"));
    Ok(Measured {
        baseline,
        candidate,
        why: None,
        notes: Vec::new(),
    })
}

/// In stored mode, the router whose count is the baseline's: the stored baseline's commit,
/// built here (or the working tree's build when its router sources are the same). A count is
/// a number of the code, but not of the code alone: the C library picks its string and memory
/// routines by the CPU's features, so a count stored on another CPU model (or kernel, or
/// toolchain) may differ by itself. Counted here, both sides are of this machine.
///
/// `None` (the stored count decides, and the log says why) when the policy has no counted
/// rule, when `--router-bin` names the candidate (the gate cannot build its like for the
/// baseline), or when the baseline's commit is unknown, dirty or cannot be built.
fn count_reference(bench: &BenchArgs, stored: &Input, policy: &Policy) -> Option<Pairing> {
    if !policy
        .rules
        .keys()
        .any(|m| crate::model::metric::is_counted(m))
    {
        return None;
    }
    let shown = stored.path.display();
    let why_not = if bench.router_bin.is_some() {
        "--router-bin names the candidate's router, and the baseline's like cannot be built"
            .to_string()
    } else {
        match (&stored.run.git.commit, stored.run.git.dirty) {
            (None, _) => "it records no commit (`git.commit`)".to_string(),
            (Some(_), Some(true)) => {
                "it was measured on a dirty tree (`git.dirty`), not its commit".to_string()
            }
            (Some(commit), _) => match reference(bench, commit) {
                Ok(pairing) => return Some(pairing),
                Err(e) => format!("its commit's router could not be built: {e:#}"),
            },
        }
    };
    eprintln!(
        "perf-gate: warning: the counts are compared with the count stored in {shown}, not \
         with its commit's router counted here: {why_not}"
    );
    None
}

/// A run's counting-run samples (instructions and system calls per request), by metric.
fn counted_samples(run: &RunFile) -> BTreeMap<String, Vec<f64>> {
    run.samples
        .iter()
        .filter(|(metric, _)| from_counting_run(metric))
        .filter_map(|(metric, s)| match s {
            run_file::Samples::Values(v) => Some((metric.clone(), v.clone())),
            run_file::Samples::Invalid { .. } => None,
        })
        .collect()
}

/// Whether a counting run measures `metric` (not a component benchmark's count).
fn from_counting_run(metric: &str) -> bool {
    metric == COUNTED || metric == SYSCALLS_PER_REQ || syscall_of(metric).is_some()
}

/// Puts the counts of the baseline's commit, made here, in place of the stored baseline's
/// (all of them: a system call the stored run listed and the recount did not is gone), and
/// says so in the verdict's notes.
fn recounted(
    stored: &mut Input,
    commit: &str,
    counts: BTreeMap<String, Vec<f64>>,
) -> Option<String> {
    let median = crate::gate::stats::median(counts.get(COUNTED)?)?;
    let run = &mut stored.run;
    let was = match run.metric(COUNTED) {
        run_file::MetricValue::Number(x) => format!(
            "the stored {} (counted on {})",
            policy::fmt_num(x),
            run.env.cpu_model.as_deref().unwrap_or("an unrecorded CPU")
        ),
        run_file::MetricValue::Invalid(_) => "the stored file has none".to_string(),
    };
    let calls = counts
        .get(SYSCALLS_PER_REQ)
        .and_then(|c| crate::gate::stats::median(c))
        .map(|m| format!(", {} system calls/request", policy::fmt_num(m)))
        .unwrap_or_default();
    let line = format!(
        "{COUNTED}: the baseline's count is its commit {}'s router counted on this machine \
         beside the candidate ({} run(s), median {}{calls}); {was}",
        &commit[..commit.len().min(12)],
        counts[COUNTED].len(),
        policy::fmt_num(median)
    );
    run.metrics.retain(|m, _| !from_counting_run(m));
    run.samples.retain(|m, _| !from_counting_run(m));
    for (metric, values) in counts {
        if let Some(m) = crate::gate::stats::median(&values) {
            run.metrics
                .insert(metric.clone(), run_file::MetricValue::Number(m));
            run.samples
                .insert(metric, run_file::Samples::Values(values));
        }
    }
    eprintln!("perf-gate: {line}");
    Some(line)
}

/// (baseline, candidate) of a session's run files: the stored baseline and the session's one
/// run, or the reference and the candidate of a paired session.
fn sides<'a>(runs: &'a [RunFile], stored: Option<&'a RunFile>) -> (&'a RunFile, &'a RunFile) {
    match stored {
        Some(b) => (b, &runs[0]),
        None => (&runs[0], &runs[1]),
    }
}

/// The metric a counting run measures.
const COUNTED: &str = crate::model::metric::INSTRUCTIONS_PER_REQ;

/// The counted rules (instructions and system calls per request) that fail on the counts
/// alone.
fn failed_counts(session: &Session<'_>, stored: Option<&RunFile>, policy: &Policy) -> Vec<String> {
    if !session.ok() {
        return Vec::new();
    }
    let runs = session.run_files();
    let (baseline, candidate) = sides(&runs, stored);
    // Judged on the counted rules alone: before the trials, the other metrics are not there.
    let mut counted = policy.clone();
    counted.rules.retain(|metric, _| from_counting_run(metric));
    counted.gate.require_all_metrics_present = false;
    evaluate(baseline, candidate, &counted)
        .rows
        .into_iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.metric)
        .collect()
}

/// The differential profile of the reference and the candidate, when a CPU rule fails (the
/// ones an instruction profile explains) or `--explain` asks for it. It explains, and never
/// changes the verdict: a profile that cannot be made is a warning.
fn why_slower(
    session: &Session<'_>,
    stored: Option<&Input>,
    policy: &Policy,
    explain: bool,
) -> Option<Explanation> {
    let runs = session.run_files();
    let (baseline, candidate) = sides(&runs, stored.map(|s| &s.run));
    let verdict = evaluate(baseline, candidate, policy);
    let cpu_failed = verdict
        .rows
        .iter()
        .any(|r| r.status == Status::Fail && profile::unexplained(&r.metric).is_none());
    if !(explain || cpu_failed) || !session.ok() {
        return None;
    }
    let made = (|| {
        let reference = match stored {
            None => None,
            Some(s) => stored_reference(&s.run, candidate)?,
        };
        let (r, c) = session.profile(reference)?;
        anyhow::Ok(Explanation::new(&r, &c))
    })();
    match made {
        Ok(e) => Some(e),
        Err(err) => {
            session.say(&format!(
                "perf-gate: warning: no differential profile: {err:#}"
            ));
            None
        }
    }
}

/// The router to profile beside the candidate when the baseline is a stored run: none (the
/// candidate's own program, without the test knobs) when the baseline's commit has the
/// working tree's router sources; else that commit's router, built (cached) in the
/// candidate's profile, so a debug candidate is not compared with a release reference.
fn stored_reference(baseline: &RunFile, candidate: &RunFile) -> Result<Option<PathBuf>> {
    let commit = baseline
        .git
        .commit
        .as_deref()
        .context("the baseline records no commit")?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(paths::root());
    if crate::bench::paired::same_sources(&sh, commit) {
        return Ok(None);
    }
    let debug = candidate.env.profile.as_deref() == Some("debug");
    crate::bench::paired::router_of(&sh, commit, debug).map(Some)
}

fn into_input(o: BenchOutcome) -> Input {
    Input {
        path: o.artifact,
        run: o.run,
    }
}

/// The reference router of a paired session.
fn reference(bench: &BenchArgs, against: &str) -> Result<Pairing> {
    let sh = xshell::Shell::new().context("creating a shell")?;
    sh.change_dir(paths::root());
    crate::bench::paired::reference(&sh, against, bench)
}

/// More evidence while a relative rule is undecided (`gate::evidence`). Each look's
/// intervals are at the Bonferroni-spent confidence (`GateSettings::look_confidence`), so
/// looking again does not raise the false-alarm rate.
fn add_evidence(
    session: &mut Session<'_>,
    stored: Option<&RunFile>,
    policy: &Policy,
    per_trial: Duration,
) {
    let budget = Duration::from_secs_f64(policy.gate.time_budget_s);
    let started = Instant::now();
    let first = session.trials_done();
    for look in 1.. {
        if !session.ok() {
            return;
        }
        let runs = session.run_files();
        let (baseline, candidate) = sides(&runs, stored);
        let verdict = evaluate(baseline, candidate, policy);
        let done = session.trials_done();
        let left = budget.saturating_sub(started.elapsed());
        let undecided = || {
            let names: Vec<&str> = verdict
                .rows
                .iter()
                .filter(|r| r.status == Status::Inconclusive)
                .map(|r| r.metric.as_str())
                .collect();
            names.join(", ")
        };
        let decision = next(&verdict, &policy.gate, (look, first, done), left, per_trial);
        let line = match &decision {
            Next::Decided => return,
            Next::Failed(failed) => format!(
                "perf-gate: look {look} of {}: {} failed after {done} trials, so the verdict is FAIL \
                 whatever more trials say of {}; no more trials",
                policy.gate.looks,
                failed.join(", "),
                undecided()
            ),
            Next::Spent(why) => format!(
                "perf-gate: {} still undecided after {done} trials; {why}",
                undecided()
            ),
            Next::Add(add) => format!(
                "perf-gate: look {look} of {}: {} undecided after {done} trials; adding {add}",
                policy.gate.looks,
                undecided()
            ),
        };
        session.say(&line);
        session.note(&line);
        match decision {
            Next::Add(add) => session.trials(add),
            _ => return,
        }
    }
}

/// Evaluates, prints, writes every artifact, records the run; returns the exit code. Inputs
/// that could not be read are judged as errors: the artifacts record them, then exit 2.
fn judge(
    args: &GateArgs,
    root: &Path,
    workload: &str,
    dir: &Path,
    [baseline_shown, candidate_shown, policy_shown]: [String; 3],
    judged: Result<(Input, Input, Policy)>,
    (explanation, notes): (Option<Explanation>, Vec<String>),
) -> Result<u8> {
    let mut names: Vec<(&str, &str)> = export::EXPORTERS
        .iter()
        .filter_map(|e| e.gate_artifact())
        .map(|ext| ("perf_gate", ext))
        .collect();
    names.push(("perf_report", "html"));
    let stamp = artifacts::claim(dir, &names)?;
    let timestamp = artifacts::now_rfc3339();
    let verdict = verdict_of(&judged, notes, root, workload);
    let loaded = judged.as_ref().ok();
    let ctx = Context {
        timestamp: &timestamp,
        workload,
        baseline: &baseline_shown,
        candidate: &candidate_shown,
        policy_path: &policy_shown,
        policy: loaded.map(|i| &i.2),
        baseline_run: loaded.map(|i| &i.0.run),
        candidate_run: loaded.map(|i| &i.1.run),
        explain: explanation.as_ref(),
    };
    let record = verdict::Record::new(&verdict, &ctx);
    print!("{}", verdict::terminal(&record));
    let _ = std::io::stdout().flush();

    write_artifacts(dir, &stamp, &record)?;
    let recorded = match loaded {
        Some((_, candidate, _)) => {
            crate::report::publish::record(&args.record, &candidate.run, "perf-gate", Some(&record))
        }
        None => Ok(()),
    };
    // After the history append, so that the report's trends end with this run.
    if let Some((baseline, candidate, _)) = loaded {
        write_report(
            root,
            dir,
            &stamp,
            args.record.history.as_deref(),
            (baseline, candidate),
            record,
        );
    } else {
        let _ = std::fs::remove_file(dir.join(format!("perf_report_{stamp}.html")));
    }
    recorded?;

    if verdict.outcome == Outcome::InputError {
        bail!("{}", verdict.errors.join("\nerror: "));
    }
    Ok(verdict.exit_code())
}

/// The verdict on what was judged, with what explains it: the calibration's warnings, what
/// a profile cannot say, the CPU split and the kind of regression. Inputs that could not be
/// read are the verdict's errors.
fn verdict_of(
    judged: &Result<(Input, Input, Policy)>,
    notes: Vec<String>,
    root: &Path,
    workload: &str,
) -> Verdict {
    match judged {
        Ok((baseline, candidate, policy)) => {
            let mut v = evaluate(&baseline.run, &candidate.run, policy);
            v.notes.extend(notes);
            v.warnings
                .extend(calibration_warnings(root, workload, policy, &candidate.run));
            // Where a profile cannot say why, what can.
            let advice: Vec<String> = v
                .rows
                .iter()
                .filter(|r| r.status == Status::Fail)
                .filter_map(|r| profile::unexplained(&r.metric))
                .map(|why| format!("why: {why}"))
                .collect();
            v.notes.extend(advice);
            // A failing CPU rule: was it the router's code or the kernel?
            let cpu_failed = v.rows.iter().any(|r| {
                r.status == Status::Fail
                    && crate::model::metric::find(&r.metric)
                        .is_some_and(|m| m.kind == crate::model::metric::Kind::Cpu)
            });
            if cpu_failed {
                v.notes.extend(crate::gate::cpu_split::explain(
                    &baseline.run,
                    &candidate.run,
                ));
            }
            // Work, kernel, waiting or memory: named from the counts where they were made.
            let cause = crate::gate::cause::name(&v.rows, &baseline.run, &candidate.run);
            v.notes.extend(cause);
            v
        }
        Err(err) => Verdict::from_errors(vec![format!("{err:#}")]),
    }
}

/// What the machine's calibration (`perf-calibrate --write`) says about rules it cannot
/// resolve; nothing when there is none. A calibration that cannot be read is a warning too.
fn calibration_warnings(
    root: &Path,
    workload: &str,
    policy: &Policy,
    candidate: &RunFile,
) -> Vec<String> {
    let path = crate::model::calibration::path_for(root, workload);
    if !path.is_file() {
        return Vec::new();
    }
    match crate::model::calibration::load(&path) {
        Ok(c) => {
            let planned = candidate
                .trials
                .unwrap_or(crate::bench::session::DEFAULT_TRIALS);
            let mut out =
                crate::gate::calibrate::warnings(policy, &c, planned, &path.display().to_string());
            if c.env.fingerprint != candidate.env.fingerprint {
                out.iter_mut()
                    .for_each(|w| w.push_str(" (calibrated on another environment)"));
            }
            out
        }
        Err(e) => vec![format!("the calibration is unreadable: {e:#}")],
    }
}

/// Writes the HTML report next to the other artifacts. It is for people: a failure, even a
/// panic, is a warning and never changes the gate's exit code.
fn write_report(
    root: &Path,
    dir: &Path,
    stamp: &str,
    history: Option<&Path>,
    (baseline, candidate): (&Input, &Input),
    verdict: verdict::Record,
) {
    let side = |i: &Input| html::Side {
        path: i.path.display().to_string(),
        run: i.run.clone(),
    };
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let report = html::for_gate(root, side(baseline), side(candidate), history, verdict);
        html::write(dir, stamp, &report)
    }));
    let failed = match written {
        Ok(Ok(path)) => {
            eprintln!("perf-gate: wrote {}", path.display());
            return;
        }
        Ok(Err(err)) => format!("could not write the HTML report: {err:#}"),
        Err(_) => "writing the HTML report panicked (above)".to_string(),
    };
    eprintln!("perf-gate: warning: {failed}");
    // The claimed name must not stay behind as an empty report.
    let _ = std::fs::remove_file(dir.join(format!("perf_report_{stamp}.html")));
}

/// Writes the gate artifacts (every exporter that has one), sharing one timestamp, and
/// appends the Markdown to `$GITHUB_STEP_SUMMARY` when it is set.
fn write_artifacts(dir: &Path, stamp: &str, gate: &verdict::Record) -> Result<()> {
    let subject = export::Subject {
        run: None,
        gate: Some(gate),
    };
    let mut extensions = Vec::new();
    for exporter in export::EXPORTERS {
        if let Some(ext) = exporter.gate_artifact() {
            export::write(
                exporter,
                &dir.join(format!("perf_gate_{stamp}.{ext}")),
                &subject,
            )?;
            extensions.push(ext);
        }
    }
    eprintln!(
        "perf-gate: wrote {}",
        dir.join(format!("perf_gate_{stamp}.{{{}}}", extensions.join(",")))
            .display()
    );

    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let summary = PathBuf::from(summary);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(verdict::markdown(gate).as_bytes()))
            .with_context(|| {
                format!("appending to $GITHUB_STEP_SUMMARY ({})", summary.display())
            })?;
    }
    Ok(())
}
