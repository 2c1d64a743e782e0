//! `cargo xtask perf-baseline-bump`: replace `perf/baseline_<workload>.json` with a candidate
//! run, only for a stated reason with a written justification, after judging the candidate
//! against the baseline it replaces. The old baseline is archived, the bump is logged in
//! `perf/baselines/LOG.md`, and a before/after report is written for the merge request.
//! `--ratchet` is the scheduled variant: it only ever tightens the baseline.
//!
//! A bump (not `--dry-run`) holds an exclusive flock on `perf/.lock` from before its first read
//! of `perf/` to its last rename; a second bump fails at once (exit 2) naming the holder. Its
//! files are written together through a journal (`artifacts::replace_together`), which the
//! next bump, under the lock and before it reads anything, finishes or undoes: a killed bump
//! never leaves an archive without its LOG entry, nor a temp file behind.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::exit;
use crate::flags::BumpArgs;
use crate::gate::evaluate::{self, Outcome, Row, Status, Verdict};
use crate::model::artifacts;
use crate::model::json;
use crate::model::lock::LockFile;
use crate::model::paths;
use crate::model::policy;
use crate::model::policy::{Check, Direction, Policy};
use crate::model::run_file;
use crate::model::run_file::{Bump, BumpPrevious, RunFile};
use crate::report::verdict;

/// The reasons a baseline may change, as `--reason` takes them.
const REASONS: [&str; 3] = [
    "trade-off",
    "architectural-improvement",
    "measurement-correction",
];
/// The only reason under which a regression beyond policy may be accepted.
const TRADE_OFF: &str = "trade-off";
/// The reason that re-measures a baseline; across environments it is the only way to move
/// a baseline that cannot be paired (an in-process workload measured on another machine).
const MEASUREMENT_CORRECTION: &str = "measurement-correction";
/// What the bump record says for a `--ratchet` bump, which takes no `--reason`.
const RATCHET_REASON: &str = "ratchet";
/// Below these a justification cannot say what changed, why it is acceptable and why the
/// policy still makes sense, which is what a reviewer needs to read.
const MIN_JUSTIFICATION_CHARS: usize = 40;
const MIN_JUSTIFICATION_WORDS: usize = 6;
/// Untracked files under this directory (the default artifacts) do not make the tree dirty.
const ARTIFACTS: &str = "_artifacts";
/// The bump's lock file and the journal of its writes, in the baseline's directory: each is
/// there only while a bump runs, or after one was killed until the next one takes over.
const LOCK_FILE: &str = ".lock";
const JOURNAL_FILE: &str = ".bump-journal.json";
/// Test-only: `XTASK_BUMP_CRASH_AFTER=<step>` kills the bump with SIGKILL right after that
/// step (`locked`, then `replace_together`'s steps), so the tests can check what an
/// interrupted bump leaves. Not a user setting.
const CRASH_ENV: &str = "XTASK_BUMP_CRASH_AFTER";

/// Runs the command: 0 bumped (or ratchet skipped), 2 refused or bad input (an `Err`),
/// 3 the benchmark it ran itself failed (an `Err` marked `BenchFailed`).
pub fn run(args: &BumpArgs) -> Result<u8> {
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
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(&root);

    // Held until the command returns, so two bumps never interleave; a dry run writes nothing
    // and takes no lock.
    let perf_dir = artifacts::parent_dir(&baseline_path);
    let journal = perf_dir.join(JOURNAL_FILE);
    if args.dry_run && artifacts::journal_pending(&journal) {
        eprintln!(
            "perf-baseline-bump: warning: {} is left from an interrupted bump; the next bump \
             without --dry-run finishes or undoes it first, which may change the baseline shown \
             here",
            journal.display()
        );
    }
    let lock = (!args.dry_run)
        .then(|| lock_and_recover(perf_dir, &journal))
        .transpose()?;

    let mut refusals = usage_problems(args);
    if !args.allow_dirty {
        let lock_file = perf_dir.join(LOCK_FILE);
        refusals.extend(dirty_problem(&sh, &root, &artifacts_dir, &lock_file)?);
    }
    // Without --candidate the benchmark takes minutes: refuse before it when the answer is
    // already known.
    if args.candidate.is_none() && !refusals.is_empty() {
        return Err(refusal(&refusals));
    }

    let policy = policy::load(&policy_path)?;
    let candidate_path = match &args.candidate {
        Some(path) => path.clone(),
        None => bench(args)?,
    };
    // Read once: the candidate may be a pipe (`--candidate <(...)`), and the new baseline is
    // written from this text.
    let candidate_text = json::read_input(&candidate_path, json::MAX_INPUT_BYTES)?;
    let candidate = run_file::parse_str(&candidate_text, &candidate_path.display().to_string())?;
    let previous = Previous::load(&baseline_path)?;
    let judged = judge(
        previous.as_ref(),
        &candidate,
        &policy,
        args.reason.as_deref() == Some(MEASUREMENT_CORRECTION),
    );
    refusals.extend(candidate_problems(&judged, &workload));
    let now = artifacts::now_rfc3339();
    let today = now.get(..10).unwrap_or(&now);
    let decision = match decide(args, &judged, refusals, today) {
        Ok(decision) => decision,
        Err(Stop::Refused(problems)) => {
            if !judged.verdict.rows.is_empty() {
                print!("{}", verdict::table(&judged.verdict));
            }
            return Err(refusal(&problems));
        }
        Err(Stop::Skipped(why)) => {
            print!("{}", verdict::table(&judged.verdict));
            println!("perf-baseline-bump: ratchet skipped: {why}");
            return Ok(exit::OK);
        }
    };

    let archive_dir = perf_dir.join("baselines");
    // A dry run writes nothing, not even a claimed name.
    let stamp = if args.dry_run {
        artifacts::file_stamp()
    } else {
        artifacts::claim(&artifacts_dir, &[("baseline_bump", "md")])?
    };
    let plan = Plan {
        workload: &workload,
        decision,
        author: author(&sh),
        date: now.clone(),
        archive: previous
            .as_ref()
            .map(|p| archive_path(&archive_dir, today, p.run.git.commit.as_deref())),
        log: archive_dir.join("LOG.md"),
        report: artifacts_dir.join(format!("baseline_bump_{stamp}.md")),
        baseline_path: &baseline_path,
        candidate_path: &candidate_path,
        policy_path: &policy_path,
        root: &root,
        judged,
    };
    let report = plan.mr_markdown();
    print!("{report}");
    if args.dry_run {
        eprintln!("perf-baseline-bump: dry run, nothing was written");
        return Ok(exit::OK);
    }
    plan.write(&candidate_text, &report, &journal)?;
    drop(lock);
    Ok(exit::OK)
}

/// Takes the bump's lock on `perf_dir` (failing at once when another bump holds it), then
/// finishes or undoes what a killed bump left in `journal`, before anything reads the files.
fn lock_and_recover(perf_dir: &Path, journal: &Path) -> Result<LockFile> {
    std::fs::create_dir_all(perf_dir)
        .with_context(|| format!("creating {}", perf_dir.display()))?;
    let lock = LockFile::acquire(&perf_dir.join(LOCK_FILE), "another perf-baseline-bump")?;
    crash_point("locked");
    if let Some(done) = artifacts::recover_journal(journal)? {
        eprintln!("perf-baseline-bump: {}: {done}", journal.display());
    }
    Ok(lock)
}

/// See `CRASH_ENV`: stops the process as `kill -9` would when the variable names `step`.
fn crash_point(step: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == step) {
        use rustix::process::{Signal, getpid, kill_process};
        let _ = kill_process(getpid(), Signal::KILL);
        std::process::abort();
    }
}

/// What a bump records, once every check has passed.
struct Decision {
    reason: String,
    justification: String,
    /// Regressions beyond policy accepted as a trade-off.
    accepted: Vec<String>,
    /// Metrics that improved with confidence (ratchet bumps only).
    improved: Vec<String>,
}

/// Why there is no bump: refused (exit 2, every problem) or, for the ratchet, skipped (exit 0).
enum Stop {
    Refused(Vec<String>),
    Skipped(String),
}

/// The candidate as judged against the previous baseline.
struct Judged<'a> {
    verdict: Verdict,
    candidate: &'a RunFile,
    previous: Option<&'a Previous>,
    /// Why the candidate was judged on its own, when it was.
    judged_alone: Option<String>,
}

/// Decides whether to bump. `refusals` holds the problems found so far (flags, work tree,
/// candidate); a ratchet run refuses on those but only skips on what the rules say.
fn decide(
    args: &BumpArgs,
    judged: &Judged<'_>,
    mut refusals: Vec<String>,
    today: &str,
) -> Result<Decision, Stop> {
    if args.ratchet {
        if !refusals.is_empty() {
            return Err(Stop::Refused(refusals));
        }
        let improved = ratchet(judged, today).map_err(Stop::Skipped)?;
        return Ok(Decision {
            reason: RATCHET_REASON.to_string(),
            justification: ratchet_justification(judged.candidate, &improved),
            accepted: Vec::new(),
            improved: improved.iter().map(|r| r.metric.clone()).collect(),
        });
    }
    let trade_off = args.reason.as_deref() == Some(TRADE_OFF);
    refusals.extend(across_machines(judged));
    let (problems, accepted) = rule_problems(&judged.verdict, &args.accept, trade_off);
    refusals.extend(problems);
    if !refusals.is_empty() {
        return Err(Stop::Refused(refusals));
    }
    let justification = args.justification.as_deref().unwrap_or_default().trim();
    Ok(Decision {
        reason: args.reason.clone().unwrap_or_default(),
        justification: justification.to_string(),
        accepted,
        improved: Vec::new(),
    })
}

/// The baseline being replaced, as bytes (for the archive and its sha256) and as a run.
struct Previous {
    bytes: Vec<u8>,
    run: RunFile,
}

impl Previous {
    /// `None` when there is no baseline yet: the bump then records the first one.
    fn load(path: &Path) -> Result<Option<Previous>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = json::read_input(path, json::MAX_INPUT_BYTES)?;
        let run = run_file::parse_str(&text, &path.display().to_string())?;
        let bytes = text.into_bytes();
        Ok(Some(Previous { bytes, run }))
    }
}

/// Judges the candidate against the previous baseline. With no previous baseline, one that
/// no longer fits the policy (a rule for a metric it lacks: exactly what a bump fixes), or a
/// measurement correction of a baseline measured in another environment (its numbers say
/// nothing about this machine's), the candidate is judged on its own: against itself, so only
/// missing metrics and absolute rules can fail, with the "before" column blanked.
fn judge<'a>(
    previous: Option<&'a Previous>,
    candidate: &'a RunFile,
    policy: &Policy,
    correction: bool,
) -> Judged<'a> {
    let judged = |verdict, judged_alone| Judged {
        verdict,
        candidate,
        previous,
        judged_alone,
    };
    // A paired run's samples pair with its own reference run, not with the stored baseline's:
    // against the baseline it is compared as an independent run.
    let mut unpaired = candidate.clone();
    unpaired.paired = None;
    let why = match previous {
        None => "there is no previous baseline".to_string(),
        Some(p) if correction && !evaluate::env_differences(&p.run, candidate).is_empty() => {
            let differs: Vec<String> = evaluate::env_differences(&p.run, candidate)
                .iter()
                .map(ToString::to_string)
                .collect();
            format!(
                "the previous baseline was measured in another environment ({}): a measurement \
                 correction replaces it without comparing",
                differs.join(", ")
            )
        }
        Some(p) => {
            let verdict = evaluate::evaluate(&p.run, &unpaired, policy);
            if verdict.outcome != Outcome::InputError {
                return judged(verdict, None);
            }
            format!(
                "the previous baseline does not fit the policy ({})",
                verdict.errors.join("; ")
            )
        }
    };
    let mut verdict = evaluate::evaluate(&unpaired, &unpaired, policy);
    for row in &mut verdict.rows {
        row.baseline = None;
        row.change = None;
        row.severity = None;
    }
    judged(verdict, Some(why))
}

/// Problems with the flags themselves, each naming what is expected.
fn usage_problems(args: &BumpArgs) -> Vec<String> {
    let mut problems = Vec::new();
    if args.ratchet {
        if args.reason.is_some() || args.justification.is_some() {
            problems.push(
                "--ratchet writes its own reason and justification: drop --reason and \
                 --justification"
                    .to_string(),
            );
        }
        if !args.accept.is_empty() {
            problems.push("--ratchet never accepts a regression: drop --accept".to_string());
        }
        return problems;
    }
    let reasons = REASONS.join(", ");
    match args.reason.as_deref() {
        None => problems.push(format!(
            "missing --reason: say why the baseline changes, one of {reasons}"
        )),
        Some(r) if !REASONS.contains(&r) => {
            problems.push(format!("--reason {r:?} is not one of {reasons}"))
        }
        Some(_) => {}
    }
    let expected = format!(
        "say what changed, why it is acceptable and why the policy still makes sense, in at \
         least {MIN_JUSTIFICATION_CHARS} characters and {MIN_JUSTIFICATION_WORDS} words"
    );
    match args.justification.as_deref().map(str::trim) {
        None | Some("") => problems.push(format!("missing --justification: {expected}")),
        Some(j) => {
            let (chars, words) = (j.chars().count(), j.split_whitespace().count());
            if chars < MIN_JUSTIFICATION_CHARS || words < MIN_JUSTIFICATION_WORDS {
                problems.push(format!(
                    "--justification is too short ({chars} characters, {words} words): {expected}"
                ));
            }
        }
    }
    if !args.accept.is_empty() && args.reason.as_deref() != Some(TRADE_OFF) {
        problems.push(format!(
            "--accept {} needs --reason trade-off: only a stated trade-off may accept a \
             regression",
            args.accept.join(" --accept ")
        ));
    }
    problems
}

/// Uncommitted changes in the work tree, as one problem. Untracked artifacts do not count: they
/// are never committed and the candidate usually lives among them; nor does the bump's lock
/// file, `lock_file`, which lives only as long as a bump (or a killed one's, until the next).
fn dirty_problem(
    sh: &Shell,
    root: &Path,
    artifacts_dir: &Path,
    lock_file: &Path,
) -> Result<Option<String>> {
    let top = cmd!(sh, "git rev-parse --show-toplevel")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| {
            format!(
                "checking that {} is a clean git work tree (pass --allow-dirty to skip the check)",
                root.display()
            )
        })?;
    let status = cmd!(sh, "git status --porcelain")
        .quiet()
        .read()
        .with_context(|| format!("running `git status --porcelain` in {}", root.display()))?;
    let top = PathBuf::from(top.trim());
    let ignored = [root.join(ARTIFACTS), artifacts_dir.into(), lock_file.into()]
        .map(|d: PathBuf| std::fs::canonicalize(&d).unwrap_or(d));
    let dirty: Vec<&str> = status
        .lines()
        .filter(|line| {
            let untracked = line
                .strip_prefix("?? ")
                .map(|p| top.join(p.trim_matches('"')));
            !untracked.is_some_and(|p| ignored.iter().any(|d| p.starts_with(d)))
        })
        .map(|line| line.get(3..).unwrap_or(line))
        .collect();
    if dirty.is_empty() {
        return Ok(None);
    }
    let mut shown = dirty.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if dirty.len() > 5 {
        let _ = write!(shown, " and {} more", dirty.len() - 5);
    }
    Ok(Some(format!(
        "the git work tree has uncommitted changes ({shown}): a baseline must describe committed \
         code; commit or stash them first, or pass --allow-dirty"
    )))
}

/// Runs perf-bench for a candidate; a failed benchmark ends the command with exit 3.
fn bench(args: &BumpArgs) -> Result<PathBuf> {
    eprintln!("perf-baseline-bump: no --candidate given, running perf-bench first");
    let mut outcomes = crate::bench::run(&args.bench, None)?;
    super::show(&outcomes)?;
    let outcome = outcomes.remove(0);
    if outcome.failed {
        return Err(exit::BenchFailed(format!(
            "the benchmark failed (see {}): the baseline was not bumped",
            outcome.artifact.display()
        ))
        .into());
    }
    Ok(outcome.artifact)
}

/// What makes the candidate unfit to be any baseline, whatever the rules say: a run that did
/// not complete, the slowdown knob, another workload, inputs that do not fit the policy.
fn candidate_problems(judged: &Judged<'_>, workload: &str) -> Vec<String> {
    let (candidate, previous) = (judged.candidate, judged.previous);
    let mut problems = judged.verdict.errors.clone();
    let source = &candidate.source;
    if let Some(why) = candidate.run.failure() {
        problems.push(format!(
            "the candidate run {source} failed ({why}): only a complete run can become the \
             baseline"
        ));
    }
    if candidate.slowdown_knob() {
        problems.push(format!(
            "the candidate {source} was made with the slowdown knob on (env.slowdown_knob = \
             true): its numbers are slowed on purpose; measure again without \
             ROUTER_TEST_SLOWDOWN_ITERS"
        ));
    }
    let expected = previous
        .and_then(|p| p.run.workload.clone())
        .unwrap_or_else(|| workload.to_string());
    if let Some(w) = candidate.workload.as_ref().filter(|w| **w != expected) {
        problems.push(format!(
            "the candidate {source} ran workload `{w}` but the baseline is for `{expected}`"
        ));
    }
    problems
}

/// The relative rules that a candidate from another CPU model cannot be compared on: the
/// gate leaves them undecided, and a bump that compares (any reason but a measurement
/// correction, which replaces without comparing) cannot say what it accepts.
fn across_machines(judged: &Judged<'_>) -> Vec<String> {
    let Some(previous) = judged.previous.filter(|_| judged.judged_alone.is_none()) else {
        return Vec::new();
    };
    judged
        .verdict
        .rows
        .iter()
        .filter(|r| matches!(r.check, Check::Relative { .. }))
        .filter_map(|r| evaluate::across_machines(&r.metric, &previous.run, judged.candidate))
        .take(1)
        .map(|why| {
            format!(
                "the candidate cannot be compared with the baseline: {why}. A baseline from \
                 another CPU model is a measurement-correction (which replaces it without \
                 comparing); to accept a regression, measure the candidate where the baseline \
                 was measured"
            )
        })
        .collect()
}

/// The rule-level problems (missing or invalid metrics, absolute failures, regressions beyond
/// policy that are not accepted, `--accept` of something that does not regress) and the
/// regressions accepted as a trade-off.
fn rule_problems(
    verdict: &Verdict,
    accept: &[String],
    trade_off: bool,
) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut accepted = Vec::new();
    for row in &verdict.rows {
        let line = format!("{} {}", row.metric, row.message);
        if row.candidate.is_none() || row.message.starts_with("is invalid") {
            problems.push(format!(
                "missing or invalid metric: {line}; the baseline must hold every metric the \
                 policy rules"
            ));
        } else if row.status != Status::Fail {
            continue;
        } else if let Check::Absolute(_) = row.check {
            problems.push(format!("absolute rule fails: {line}"));
        } else if trade_off && accept.contains(&row.metric) {
            accepted.push(row.metric.clone());
        } else {
            problems.push(format!(
                "regression beyond policy: {line}; a bump may not quietly lower the bar: to \
                 accept it, pass --reason trade-off --accept {} and say why in the justification",
                row.metric
            ));
        }
    }
    for metric in accept {
        match verdict.rows.iter().find(|r| &r.metric == metric) {
            None => problems.push(format!(
                "--accept {metric}: the policy has no rule for `{metric}`"
            )),
            Some(row) if row.status != Status::Fail || !is_relative(row) => problems.push(format!(
                "--accept {metric}: `{metric}` does not regress beyond policy ({}: {}), so \
                     there is nothing to accept",
                row.status.as_str(),
                row.message
            )),
            Some(_) => {}
        }
    }
    (problems, accepted)
}

fn is_relative(row: &Row) -> bool {
    matches!(row.check, Check::Relative { .. })
}

/// A relative row's change in its rule's bad direction (positive is worse): the point
/// estimate and the interval, lowest first (the point twice when there is no interval).
fn adverse(row: &Row) -> Option<(f64, f64, f64)> {
    let Check::Relative { direction, .. } = row.check else {
        return None;
    };
    let change = row.change?;
    let sign = match direction {
        Direction::Increase => 1.0,
        Direction::Decrease => -1.0,
    };
    let (lo, hi) = change.ci_pct.unwrap_or((change.pct, change.pct));
    let (a, b) = (sign * lo, sign * hi);
    Some((sign * change.pct, a.min(b), a.max(b)))
}

/// The ratchet's decision: the rows that improved with confidence (the whole interval on the
/// better side of 0), or why it does not bump.
fn ratchet<'v>(judged: &'v Judged<'_>, today: &str) -> Result<Vec<&'v Row>, String> {
    let verdict = &judged.verdict;
    if let Some(why) = &judged.judged_alone {
        return Err(format!(
            "{why}; the ratchet only tightens an existing baseline, record one by hand with \
             `cargo xtask perf-baseline-bump --reason measurement-correction`"
        ));
    }
    if let Some(date) = judged
        .previous
        .and_then(|p| p.run.bump.as_ref())
        .map(|b| &b.date)
        .filter(|d| d.starts_with(today))
    {
        return Err(format!(
            "the baseline was already bumped today (bump.date {date}); the ratchet moves at most \
             once a day"
        ));
    }
    let not_passing: Vec<String> = verdict
        .rows
        .iter()
        .filter(|r| r.status != Status::Pass)
        .map(|r| format!("{} {}: {}", r.metric, r.status.as_str(), r.message))
        .collect();
    if !not_passing.is_empty() {
        return Err(format!("not every rule passes: {}", not_passing.join("; ")));
    }
    if !verdict.env_differences.is_empty() {
        let fields: Vec<String> = verdict
            .env_differences
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(format!(
            "the candidate's environment differs from the baseline's ({}): a change across \
             machines or toolchains is no evidence of an improvement",
            fields.join(", ")
        ));
    }
    // Adopting a candidate whose median moved the wrong way, even within policy, would loosen
    // that metric's target: the ratchet never does that.
    let worse: Vec<String> = verdict
        .rows
        .iter()
        .filter(|r| adverse(r).is_some_and(|(point, _, _)| point > 0.0))
        .map(metric_change)
        .collect();
    if !worse.is_empty() {
        return Err(format!(
            "adopting the candidate would loosen the target of {}; the ratchet never lowers a \
             target",
            worse.join(", ")
        ));
    }
    let improved: Vec<&Row> = verdict
        .rows
        .iter()
        .filter(|r| r.change.is_some_and(|c| c.ci_pct.is_some()))
        .filter(|r| adverse(r).is_some_and(|(_, _, hi)| hi < 0.0))
        .collect();
    if improved.is_empty() {
        return Err(
            "no metric improved with confidence (no interval lies entirely on the better side \
             of 0)"
                .to_string(),
        );
    }
    Ok(improved)
}

/// `metric +3.1% [..]`: a row's metric and its change, for messages.
fn metric_change(r: &Row) -> String {
    let change = r.change.map(|c| c.to_string()).unwrap_or_default();
    format!("{} {change}", r.metric)
}

/// The justification a ratchet bump writes for itself: the run and what improved.
fn ratchet_justification(candidate: &RunFile, improved: &[&Row]) -> String {
    let metrics: Vec<String> = improved.iter().map(|r| metric_change(r)).collect();
    format!(
        "Ratchet: the scheduled run {} ({}) improved with confidence on {}. Every rule passed, \
         no metric moved the wrong way and the environment matches, so the new baseline only \
         raises the bar.",
        candidate.source,
        verdict::provenance(candidate),
        metrics.join(", ")
    )
}

/// `git config user.name <user.email>`, or "unknown": a missing identity must not block a bump,
/// the record just says it is not known.
fn author(sh: &Shell) -> String {
    let get = |key: &str| {
        cmd!(sh, "git config {key}")
            .quiet()
            .ignore_stderr()
            .read()
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match (get("user.name"), get("user.email")) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name,
        (None, Some(email)) => format!("<{email}>"),
        (None, None) => "unknown".to_string(),
    }
}

/// `<dir>/<date>_<short-commit>.json`, with `-2`, `-3`, ... when that archive exists already:
/// an archived baseline is never overwritten.
fn archive_path(dir: &Path, date: &str, commit: Option<&str>) -> PathBuf {
    let short: String = commit
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(7)
        .collect();
    let short = if short.is_empty() { "unknown" } else { &short };
    let base = format!("{date}_{short}");
    std::iter::once(dir.join(format!("{base}.json")))
        .chain((2..).map(|n| dir.join(format!("{base}-{n}.json"))))
        .find(|p| !p.exists())
        .expect("an unused suffix exists")
}

/// Everything a decided bump writes, and the text it shows.
struct Plan<'a> {
    workload: &'a str,
    decision: Decision,
    author: String,
    /// RFC 3339 time of the bump.
    date: String,
    /// Where the previous baseline is archived; `None` for a first baseline.
    archive: Option<PathBuf>,
    log: PathBuf,
    report: PathBuf,
    baseline_path: &'a Path,
    candidate_path: &'a Path,
    policy_path: &'a Path,
    root: &'a Path,
    judged: Judged<'a>,
}

impl Plan<'_> {
    /// A path as shown in reports and records: relative to the workspace root when under it.
    fn shown(&self, path: &Path) -> String {
        format!("{}", path.strip_prefix(self.root).unwrap_or(path).display())
    }

    fn previous_sha256(&self) -> Option<String> {
        self.judged.previous.map(|p| sha256_hex(&p.bytes))
    }

    /// The `bump` record of the new baseline (the shape of the first one, extended).
    fn record(&self) -> Bump {
        Bump {
            reason: self.decision.reason.clone(),
            justification: self.decision.justification.clone(),
            date: self.date.clone(),
            author: self.author.clone(),
            previous: self.judged.previous.map(|p| BumpPrevious {
                commit: p.run.git.commit.clone(),
                sha256: self.previous_sha256(),
                timestamp: p.run.timestamp.clone(),
                archive: self.archive.as_deref().map(|a| self.shown(a)),
            }),
            source_artifact: Some(self.shown(self.candidate_path)),
            accepted_metrics: self.decision.accepted.clone(),
            improved_metrics: self.decision.improved.clone(),
            other: Default::default(),
        }
    }

    /// One line on where the old baseline came from and where it goes.
    fn before_line(&self) -> String {
        let why = self.judged.judged_alone.as_deref();
        let Some(p) = self.judged.previous else {
            return format!("Before: none ({}).", why.unwrap_or("no previous baseline"));
        };
        let mut line = format!(
            "Before: `{}` ({}), sha256 `{}`",
            self.shown(self.baseline_path),
            verdict::provenance(&p.run),
            self.previous_sha256().unwrap_or_default()
        );
        if let Some(a) = &self.archive {
            let _ = write!(line, ", archived as `{}`", self.shown(a));
        }
        line.push('.');
        if let Some(why) = why {
            let _ = write!(line, " Not compared: {why}.");
        }
        line
    }

    fn after_line(&self) -> String {
        format!(
            "After: `{}` ({}).",
            self.shown(self.candidate_path),
            verdict::provenance(self.judged.candidate)
        )
    }

    /// Accepted regressions and confident improvements, one line each when there are any.
    fn decisions(&self) -> String {
        [
            (
                "Regressions beyond policy accepted as a trade-off",
                &self.decision.accepted,
            ),
            ("Improved with confidence", &self.decision.improved),
        ]
        .into_iter()
        .filter(|(_, metrics)| !metrics.is_empty())
        .map(|(what, metrics)| {
            let list: Vec<String> = metrics.iter().map(|m| format!("`{m}`")).collect();
            format!("{what}: {}.\n", list.join(", "))
        })
        .collect()
    }

    /// The before/after report, ready to paste as a merge-request description; also what
    /// `--dry-run` prints.
    fn mr_markdown(&self) -> String {
        let verdict = &self.judged.verdict;
        let mut decisions = self.decisions();
        if !decisions.is_empty() {
            decisions.push('\n');
        }
        let mut findings = prefixed("- ", &verdict::findings(verdict));
        if !findings.is_empty() {
            findings = format!("Gate findings on the candidate:\n\n{findings}\n");
        }
        let archived = match &self.archive {
            Some(a) => format!("- previous baseline archived as `{}`\n", self.shown(a)),
            None => String::new(),
        };
        format!(
            "## Performance baseline bump: `{}` ({})\n\n**Justification.** {}\n\n\
             ### Before / after\n\n{}\n{}\n\n{}\n{decisions}{findings}\
             ### Files\n\n- new baseline: `{}` (with a `bump` record)\n{archived}\
             - log entry: `{}`\n- candidate run: `{}`\n- policy: `{}`\n- this report: `{}`\n\n\
             <sub>Bumped by {} on {} with `cargo xtask perf-baseline-bump`.</sub>\n",
            self.workload,
            self.decision.reason,
            self.decision.justification,
            self.before_line(),
            self.after_line(),
            verdict::markdown_table(verdict),
            self.shown(self.baseline_path),
            self.shown(&self.log),
            self.shown(self.candidate_path),
            self.shown(self.policy_path),
            self.shown(&self.report),
            self.author,
            self.date
        )
    }

    /// The entry appended to `LOG.md`.
    fn log_entry(&self) -> String {
        format!(
            "## {} · `{}` · {}\n\n- date: {}\n- author: {}\n- {}\n- {}\n{}\n{}\n{}\n",
            self.date.get(..10).unwrap_or(&self.date),
            self.workload,
            self.decision.reason,
            self.date,
            self.author,
            self.before_line(),
            self.after_line(),
            prefixed("- ", &self.decisions()),
            verdict::markdown_table(&self.judged.verdict),
            prefixed("> ", &self.decision.justification)
        )
    }

    /// Writes the archive, the new baseline, the log and the report as one
    /// (`artifacts::replace_together` with `journal`): staged first, then renamed in that
    /// order, the archive first so the old baseline is kept before anything replaces it.
    fn write(&self, candidate_text: &str, report: &str, journal: &Path) -> Result<()> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        if let (Some(previous), Some(archive)) = (self.judged.previous, &self.archive) {
            files.push((archive.clone(), previous.bytes.clone()));
        }
        // The new baseline is the candidate file as measured, byte for byte in its values,
        // with the bump record added: re-encoding it could change how a number is written.
        let candidate = self.candidate_path.display();
        let mut doc: Value = serde_json::from_str(candidate_text).with_context(|| {
            format!("parsing {candidate} as JSON (the new baseline is written from it)")
        })?;
        let record = serde_json::to_value(self.record()).context("encoding the bump record")?;
        doc.as_object_mut()
            .ok_or_else(|| anyhow!("{candidate}: expected a JSON object"))?
            .insert("bump".to_string(), record);
        let mut log = if self.log.exists() {
            json::read_input(&self.log, json::MAX_INPUT_BYTES)?
        } else {
            LOG_HEADER.to_string()
        };
        if !log.ends_with("\n\n") {
            log.push('\n');
        }
        log.push_str(&self.log_entry());
        files.extend([
            (self.log.clone(), log.into_bytes()),
            (
                self.baseline_path.to_path_buf(),
                artifacts::pretty_json(&doc, "JSON")?,
            ),
            (self.report.clone(), report.as_bytes().to_vec()),
        ]);
        let claimed = std::slice::from_ref(&self.report);
        artifacts::replace_together(journal, &files, claimed, &mut crash_point)?;
        if let Some(archive) = &self.archive {
            let archive = archive.display();
            eprintln!("perf-baseline-bump: archived the previous baseline as {archive}");
        }
        eprintln!("perf-baseline-bump: wrote {}", self.baseline_path.display());
        eprintln!("perf-baseline-bump: appended to {}", self.log.display());
        eprintln!(
            "perf-baseline-bump: wrote {} (paste it as the merge-request description)",
            self.report.display()
        );
        Ok(())
    }
}

/// `text` with `prefix` before each of its lines (a Markdown list or quote).
fn prefixed(prefix: &str, text: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}\n"))
        .collect()
}

const LOG_HEADER: &str = "# Baseline log\n\n\
Every change of a `perf/baseline_<workload>.json`, oldest first, appended by \
`cargo xtask perf-baseline-bump`. The baselines it replaced are archived next to this file as \
`<date>_<short-commit>.json`.\n";

/// The error that refuses a bump: every problem, one per line.
fn refusal(problems: &[String]) -> anyhow::Error {
    let mut text = format!(
        "perf-baseline-bump refused ({} problem{}), nothing was written:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        let _ = write!(text, "\n  - {p}");
    }
    anyhow!(text)
}

/// Lowercase hex SHA-256 of `bytes`, as `sha256sum` prints it.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let archive = |commit| archive_path(dir.path(), "2026-11-22", commit);
        let first = archive(Some("abcdef0123456789"));
        std::fs::write(&first, "{}").unwrap();
        for (path, name) in [
            (first, "2026-11-22_abcdef0.json"),
            (
                archive(Some("abcdef0123456789")),
                "2026-11-22_abcdef0-2.json",
            ),
            (archive(None), "2026-11-22_unknown.json"),
        ] {
            assert!(path.ends_with(name), "{}", path.display());
        }
    }

    #[test]
    fn refusal_lists_every_problem() {
        let err = refusal(&["one".into(), "two".into()]);
        let text = format!("{err:#}");
        assert!(text.contains("2 problems") && text.contains("- one") && text.contains("- two"));
    }
}
