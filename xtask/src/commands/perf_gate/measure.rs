//! Measuring the working tree: counts first, then trials while a rule is undecided, and the
//! differential profile when the router got slower.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::input::{Input, into_input};
use crate::bench::env_info::root_shell;
use crate::bench::paired::reference;
use crate::bench::session::{BenchOutcome, Pairing, Plan, Session, by_metric};
use crate::flags::BenchArgs;
use crate::gate::evaluate::{Status, Verdict, evaluate};
use crate::gate::evidence::{Next, next};
use crate::gate::stats::median;
use crate::model::metric::{SYSCALLS_PER_REQ, is_counted, syscall_of};
use crate::model::policy::{self, Policy};
use crate::model::run_file::{MetricValue, RunFile, Samples, short_commit};
use crate::report::profile::{self, Explanation};

/// What `measure` gives the verdict.
pub(super) struct Measured {
    pub(super) baseline: Input,
    pub(super) candidate: Input,
    /// The differential profile, when one was made.
    pub(super) why: Option<Explanation>,
    /// What the verdict should say of how it was measured (a baseline count made here).
    pub(super) notes: Vec<String>,
}

/// Measures the working tree (alone, or paired with `against`'s router), adding trials
/// while a relative rule is inconclusive, and returns (baseline, candidate).
pub(super) fn measure(
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
    let pairing = against
        .map(|a| reference(&root_shell()?, &a, bench))
        .transpose()?;
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
        let also = count_reference.as_ref().map(|r| r.reference_bin.as_path());
        let counted = session.count(bench.counting_runs, also);
        if let (Some(reference), Some(stored)) = (&count_reference, stored.as_mut()) {
            notes.extend(recounted(stored, &reference.commit, by_metric(&counted)));
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
    measured(session.finish()?, stored, why, notes)
}

/// The components, always paired: the reference commit's benches counted beside the working
/// tree's, on this machine.
fn measure_components(bench: &BenchArgs, against: String) -> Result<Measured> {
    let sh = root_shell()?;
    let reference = crate::bench::components::Reference {
        commit: crate::bench::paired::resolve(&sh, "--against", &against)?,
        against,
    };
    let outcomes = crate::bench::components::run(bench, Some(&reference))?;
    measured(outcomes, None, None, Vec::new())
}

/// Shows the runs and takes (baseline, candidate) from them: the candidate is the
/// last run, the baseline the stored one or else the reference run before it.
fn measured(
    mut outcomes: Vec<BenchOutcome>,
    stored: Option<Input>,
    why: Option<Explanation>,
    notes: Vec<String>,
) -> Result<Measured> {
    crate::commands::show(&outcomes)?;
    let candidate = into_input(outcomes.pop().expect("a candidate"));
    let baseline = stored.unwrap_or_else(|| into_input(outcomes.pop().expect("a reference")));
    Ok(Measured {
        baseline,
        candidate,
        why,
        notes,
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
pub(super) fn count_reference(
    bench: &BenchArgs,
    stored: &Input,
    policy: &Policy,
) -> Option<Pairing> {
    if !policy.rules.keys().any(|m| is_counted(m)) {
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
            (Some(commit), _) => match root_shell().and_then(|sh| reference(&sh, commit, bench)) {
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

/// Whether a counting run measures `metric` (not a component benchmark's count).
pub(super) fn from_counting_run(metric: &str) -> bool {
    metric == COUNTED || metric == SYSCALLS_PER_REQ || syscall_of(metric).is_some()
}

/// Puts the counts of the baseline's commit, made here, in place of the stored baseline's
/// (all of them: a system call the stored run listed and the recount did not is gone), and
/// says so in the verdict's notes.
pub(super) fn recounted(
    stored: &mut Input,
    commit: &str,
    counts: BTreeMap<String, Vec<f64>>,
) -> Option<String> {
    let counted = median(counts.get(COUNTED)?)?;
    let run = &mut stored.run;
    let was = match run.metric(COUNTED) {
        MetricValue::Number(x) => format!(
            "the stored {} (counted on {})",
            policy::fmt_num(x),
            run.env.cpu_model.as_deref().unwrap_or("an unrecorded CPU")
        ),
        MetricValue::Invalid(_) => "the stored file has none".to_string(),
    };
    let calls = counts
        .get(SYSCALLS_PER_REQ)
        .and_then(|c| median(c))
        .map(|m| format!(", {} system calls/request", policy::fmt_num(m)))
        .unwrap_or_default();
    let line = format!(
        "{COUNTED}: the baseline's count is its commit {}'s router counted on this machine \
         beside the candidate ({} run(s), median {}{calls}); {was}",
        short_commit(commit),
        counts[COUNTED].len(),
        policy::fmt_num(counted)
    );
    run.metrics.retain(|m, _| !from_counting_run(m));
    run.samples.retain(|m, _| !from_counting_run(m));
    for (metric, values) in counts {
        if let Some(m) = median(&values) {
            run.metrics.insert(metric.clone(), MetricValue::Number(m));
            run.samples.insert(metric, Samples::Values(values));
        }
    }
    eprintln!("perf-gate: {line}");
    Some(line)
}

/// The verdict under `policy` on the session's runs so far: its one run against the stored
/// baseline, or a paired session's candidate against its reference.
fn verdict_now(session: &Session<'_>, stored: Option<&RunFile>, policy: &Policy) -> Verdict {
    let runs = session.run_files();
    match stored {
        Some(baseline) => evaluate(baseline, &runs[0], policy),
        None => evaluate(&runs[0], &runs[1], policy),
    }
}

/// The metric a counting run measures.
pub(super) const COUNTED: &str = crate::model::metric::INSTRUCTIONS_PER_REQ;

/// The counted rules (instructions and system calls per request) that fail on the counts
/// alone.
pub(super) fn failed_counts(
    session: &Session<'_>,
    stored: Option<&RunFile>,
    policy: &Policy,
) -> Vec<String> {
    if !session.ok() {
        return Vec::new();
    }
    // Judged on the counted rules alone: before the trials, the other metrics are not there.
    let mut counted = policy.clone();
    counted.rules.retain(|metric, _| from_counting_run(metric));
    counted.gate.require_all_metrics_present = false;
    verdict_now(session, stored, &counted)
        .rows
        .into_iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.metric)
        .collect()
}

/// The differential profile of the reference and the candidate, when a CPU rule fails (the
/// ones an instruction profile explains) or `--explain` asks for it. It explains, and never
/// changes the verdict: a profile that cannot be made is a warning.
pub(super) fn why_slower(
    session: &Session<'_>,
    stored: Option<&Input>,
    policy: &Policy,
    explain: bool,
) -> Option<Explanation> {
    let verdict = verdict_now(session, stored.map(|s| &s.run), policy);
    let cpu_failed = verdict
        .rows
        .iter()
        .any(|r| r.status == Status::Fail && profile::unexplained(&r.metric).is_none());
    if !(explain || cpu_failed) || !session.ok() {
        return None;
    }
    let made = (|| {
        let reference = stored.map(|s| stored_reference(&s.run, &session.run_files()[0]));
        let reference = reference.transpose()?.flatten();
        let (r, c) = session.profile(reference)?;
        anyhow::Ok(Explanation::new(&r, &c))
    })();
    made.map_err(|err| {
        session.say(&format!(
            "perf-gate: warning: no differential profile: {err:#}"
        ))
    })
    .ok()
}

/// The router to profile beside the candidate when the baseline is a stored run: none (the
/// candidate's own program, without the test knobs) when the baseline's commit has the
/// working tree's router sources; else that commit's router, built (cached) in the
/// candidate's profile, so a debug candidate is not compared with a release reference.
pub(super) fn stored_reference(baseline: &RunFile, candidate: &RunFile) -> Result<Option<PathBuf>> {
    let commit = baseline
        .git
        .commit
        .as_deref()
        .context("the baseline records no commit")?;
    let sh = root_shell()?;
    if crate::bench::paired::same_sources(&sh, commit) {
        return Ok(None);
    }
    let debug = candidate.env.profile.as_deref() == Some("debug");
    crate::bench::paired::router_of(&sh, commit, debug).map(Some)
}

/// More evidence while a relative rule is undecided (`gate::evidence`). Each look's
/// intervals are at the Bonferroni-spent confidence (`GateSettings::look_confidence`), so
/// looking again does not raise the false-alarm rate.
pub(super) fn add_evidence(
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
        let verdict = verdict_now(session, stored, policy);
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
