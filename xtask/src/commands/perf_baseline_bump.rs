//! `cargo xtask perf-baseline-bump`: replace `perf/baseline_<workload>.json` with a candidate
//! run, only for a stated reason with a written justification, after judging the candidate
//! against the baseline it replaces. The old baseline is archived, the bump is logged in
//! `perf/baselines/LOG.md`, and a before/after report is written for the merge request.
//! `--ratchet` is the scheduled variant: it only ever tightens the baseline.
//!
//! Safety against concurrency and crashes. A bump (not `--dry-run`) holds an exclusive flock on
//! `perf/.lock` from before its first read of `perf/` to its last rename, taken without
//! waiting: a second bump fails at once (exit 2) naming the holder's pid, start time and
//! command line, which the holder writes into the lock file. Its files (archive, new
//! baseline, new LOG.md, report) are written together through a journal,
//! `perf/.bump-journal.json` (`artifacts::replace_together`): all are staged next to their
//! targets first, the journal's `committed` record is the commit point, then the renames.
//! A bump killed anywhere leaves the old files (and perhaps staged ones that nothing reads) or
//! a committed journal; the next bump, under the lock and before it reads anything, finishes a
//! committed journal (or undoes an uncommitted one, removing its staged files), so no archive
//! is ever left without its LOG entry and no temp file is left behind.

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
/// What the bump record says for a `--ratchet` bump, which takes no `--reason`.
const RATCHET_REASON: &str = "ratchet";
/// Below these a justification cannot say what changed, why it is acceptable and why the
/// policy still makes sense, which is what a reviewer needs to read.
const MIN_JUSTIFICATION_CHARS: usize = 40;
const MIN_JUSTIFICATION_WORDS: usize = 6;
/// Untracked files under this directory (the default artifacts) do not make the tree dirty.
const ARTIFACTS: &str = "_artifacts";
/// The bump's lock file, in the baseline's directory (`perf/`); present only while a bump
/// runs (or after one was killed, until the next one takes it over).
const LOCK_FILE: &str = ".lock";
/// The journal of a bump's writes, in the baseline's directory; present only while a bump
/// writes (or after one was killed, until the next one finishes or undoes it).
const JOURNAL_FILE: &str = ".bump-journal.json";
/// Test-only: `XTASK_BUMP_CRASH_AFTER=<step>` kills the bump with SIGKILL right after that
/// step (`locked`, then `replace_together`'s `prepared`, `staged`, `committed`, `renamed-1`,
/// ..., `finished`), as `kill -9` would, so the tests can check what an interrupted bump
/// leaves. Not a user setting.
const CRASH_ENV: &str = "XTASK_BUMP_CRASH_AFTER";

/// Runs the command: 0 bumped (or ratchet skipped), 2 refused or bad input (an `Err`),
/// 3 the benchmark it ran itself failed (an `Err` marked `BenchFailed`).
pub fn run(args: &BumpArgs) -> Result<u8> {
    let root = paths::perf_root();
    let workload = paths::workload_name(&args.bench.workload)?;
    let (baseline_path, policy_path) = paths::default_inputs(
        &root,
        &workload,
        args.baseline.as_deref(),
        args.policy.as_deref(),
    );
    let artifacts_dir = paths::artifacts_dir(&root, &args.bench.artifacts_dir);
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(&root);

    // Held until the command returns, so two bumps never interleave; a dry run writes nothing
    // and takes no lock.
    let perf_dir = parent_dir(&baseline_path);
    let journal = perf_dir.join(JOURNAL_FILE);
    let lock = if args.dry_run {
        if artifacts::journal_pending(&journal) {
            eprintln!(
                "perf-baseline-bump: warning: {} is left from an interrupted bump; the next bump \
                 without --dry-run finishes or undoes it first, which may change the baseline \
                 shown here",
                journal.display()
            );
        }
        None
    } else {
        Some(lock_and_recover(perf_dir, &journal)?)
    };

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
    let (verdict, judged_alone) = judge(previous.as_ref(), &candidate, &policy);

    refusals.extend(candidate_problems(
        &verdict,
        &candidate,
        previous.as_ref(),
        &workload,
    ));
    let now = artifacts::now_rfc3339();
    let today = now.get(..10).unwrap_or(&now);
    let judged = Judged {
        verdict: &verdict,
        candidate: &candidate,
        previous: previous.as_ref(),
        judged_alone: judged_alone.as_deref(),
    };
    let decision = match decide(args, &judged, refusals, today) {
        Ok(decision) => decision,
        Err(Stop::Refused(problems)) => {
            if !verdict.rows.is_empty() {
                print!("{}", verdict::table(&verdict));
            }
            return Err(refusal(&problems));
        }
        Err(Stop::Skipped(why)) => {
            print!("{}", verdict::table(&verdict));
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

/// The directory of the baseline, which holds the lock, the journal and `baselines/`.
fn parent_dir(baseline: &Path) -> &Path {
    match baseline.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
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
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
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
    verdict: &'a Verdict,
    candidate: &'a RunFile,
    previous: Option<&'a Previous>,
    /// Why the candidate was judged on its own, when it was.
    judged_alone: Option<&'a str>,
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
    let (problems, accepted) = rule_problems(judged.verdict, &args.accept, trade_off);
    refusals.extend(problems);
    if !refusals.is_empty() {
        return Err(Stop::Refused(refusals));
    }
    Ok(Decision {
        reason: args.reason.clone().unwrap_or_default(),
        justification: args
            .justification
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_string(),
        accepted,
        improved: Vec::new(),
    })
}

/// The baseline being replaced, as bytes (for the archive and its sha256) and as a run.
struct Previous {
    bytes: Vec<u8>,
    run: RunFile,
    /// `bump.date`, when it was itself written by a bump: the ratchet moves once a day.
    bump_date: Option<String>,
}

impl Previous {
    /// `None` when there is no baseline yet: the bump then records the first one.
    fn load(path: &Path) -> Result<Option<Previous>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = json::read_input(path, json::MAX_INPUT_BYTES)?;
        let run = run_file::parse_str(&text, &path.display().to_string())?;
        let bump_date = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
            v.pointer("/bump/date")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        Ok(Some(Previous {
            bytes: text.into_bytes(),
            run,
            bump_date,
        }))
    }
}

/// Judges the candidate against the previous baseline. With no previous baseline, or one that
/// no longer fits the policy (a rule for a metric it lacks: exactly what a bump fixes), the
/// candidate is judged on its own: against itself, so only missing metrics and absolute rules
/// can fail, with the "before" column blanked. The second value says why it was judged alone.
fn judge(
    previous: Option<&Previous>,
    candidate: &RunFile,
    policy: &Policy,
) -> (Verdict, Option<String>) {
    // A paired run's samples pair with its own reference run, not with the stored baseline's:
    // against the baseline it is compared as an independent run.
    let mut unpaired = candidate.clone();
    unpaired.paired = None;
    let why = match previous {
        None => "there is no previous baseline".to_string(),
        Some(p) => {
            let verdict = evaluate::evaluate(&p.run, &unpaired, policy);
            if verdict.outcome != Outcome::InputError {
                return (verdict, None);
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
    (verdict, Some(why))
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
    let ignored: Vec<PathBuf> = [root.join(ARTIFACTS), artifacts_dir.to_path_buf()]
        .into_iter()
        .chain([lock_file.to_path_buf()])
        .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
        .collect();
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
    let outcome = crate::commands::perf_bench::bench(&args.bench, None)?.remove(0);
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
fn candidate_problems(
    verdict: &Verdict,
    candidate: &RunFile,
    previous: Option<&Previous>,
    workload: &str,
) -> Vec<String> {
    let mut problems = verdict.errors.clone();
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
fn ratchet<'v>(judged: &Judged<'v>, today: &str) -> Result<Vec<&'v Row>, String> {
    let verdict = judged.verdict;
    if let Some(why) = judged.judged_alone {
        return Err(format!(
            "{why}; the ratchet only tightens an existing baseline, record one by hand with \
             `cargo xtask perf-baseline-bump --reason measurement-correction`"
        ));
    }
    if let Some(date) = judged
        .previous
        .and_then(|p| p.bump_date.as_deref())
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
    format!(
        "{} {}",
        r.metric,
        r.change.map(|c| c.to_string()).unwrap_or_default()
    )
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
        path.strip_prefix(self.root)
            .unwrap_or(path)
            .display()
            .to_string()
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
        match self.judged.previous {
            None => format!(
                "Before: none ({}).",
                self.judged.judged_alone.unwrap_or("no previous baseline")
            ),
            Some(p) => {
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
                if let Some(why) = self.judged.judged_alone {
                    let _ = write!(line, " Not compared: {why}.");
                }
                line
            }
        }
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
        let mut out = String::new();
        let list = |m: &[String]| {
            m.iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.decision.accepted.is_empty() {
            let _ = writeln!(
                out,
                "Regressions beyond policy accepted as a trade-off: {}.",
                list(&self.decision.accepted)
            );
        }
        if !self.decision.improved.is_empty() {
            let _ = writeln!(
                out,
                "Improved with confidence: {}.",
                list(&self.decision.improved)
            );
        }
        out
    }

    /// The before/after report, ready to paste as a merge-request description; also what
    /// `--dry-run` prints.
    fn mr_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Performance baseline bump: `{}` ({})\n",
            self.workload, self.decision.reason
        );
        let _ = writeln!(out, "**Justification.** {}\n", self.decision.justification);
        let _ = writeln!(out, "### Before / after\n");
        let _ = writeln!(out, "{}\n{}\n", self.before_line(), self.after_line());
        out.push_str(&verdict::markdown_table(self.judged.verdict));
        out.push('\n');
        let decisions = self.decisions();
        if !decisions.is_empty() {
            let _ = writeln!(out, "{decisions}");
        }
        let findings = verdict::findings(self.judged.verdict);
        if !findings.is_empty() {
            let _ = writeln!(out, "Gate findings on the candidate:\n");
            for line in findings.lines() {
                let _ = writeln!(out, "- {line}");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "### Files\n");
        let _ = writeln!(
            out,
            "- new baseline: `{}` (with a `bump` record)",
            self.shown(self.baseline_path)
        );
        if let Some(a) = &self.archive {
            let _ = writeln!(out, "- previous baseline archived as `{}`", self.shown(a));
        }
        let _ = writeln!(out, "- log entry: `{}`", self.shown(&self.log));
        let _ = writeln!(
            out,
            "- candidate run: `{}`",
            self.shown(self.candidate_path)
        );
        let _ = writeln!(out, "- policy: `{}`", self.shown(self.policy_path));
        let _ = writeln!(out, "- this report: `{}`\n", self.shown(&self.report));
        let _ = writeln!(
            out,
            "<sub>Bumped by {} on {} with `cargo xtask perf-baseline-bump`.</sub>",
            self.author, self.date
        );
        out
    }

    /// The entry appended to `LOG.md`.
    fn log_entry(&self) -> String {
        let mut out = String::new();
        let day = self.date.get(..10).unwrap_or(&self.date);
        let _ = writeln!(
            out,
            "## {day} · `{}` · {}\n",
            self.workload, self.decision.reason
        );
        let _ = writeln!(out, "- date: {}", self.date);
        let _ = writeln!(out, "- author: {}", self.author);
        let _ = writeln!(out, "- {}", self.before_line());
        let _ = writeln!(out, "- {}", self.after_line());
        for line in self.decisions().lines() {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
        out.push_str(&verdict::markdown_table(self.judged.verdict));
        out.push('\n');
        for line in self.decision.justification.lines() {
            let _ = writeln!(out, "> {line}");
        }
        out.push('\n');
        out
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
        let mut doc: Value = serde_json::from_str(candidate_text).with_context(|| {
            format!(
                "parsing {} as JSON (the new baseline is written from it)",
                self.candidate_path.display()
            )
        })?;
        let obj = doc
            .as_object_mut()
            .ok_or_else(|| anyhow!("{}: expected a JSON object", self.candidate_path.display()))?;
        obj.insert(
            "bump".to_string(),
            serde_json::to_value(self.record()).context("encoding the bump record")?,
        );
        let mut baseline = serde_json::to_string_pretty(&doc).context("encoding JSON")?;
        baseline.push('\n');

        let mut log = if self.log.exists() {
            json::read_input(&self.log, json::MAX_INPUT_BYTES)?
        } else {
            LOG_HEADER.to_string()
        };
        if !log.ends_with("\n\n") {
            log.push('\n');
        }
        log.push_str(&self.log_entry());
        files.push((self.log.clone(), log.into_bytes()));
        files.push((self.baseline_path.to_path_buf(), baseline.into_bytes()));
        files.push((self.report.clone(), report.as_bytes().to_vec()));

        artifacts::replace_together(
            journal,
            &files,
            std::slice::from_ref(&self.report),
            &mut crash_point,
        )?;
        if let Some(archive) = &self.archive {
            eprintln!(
                "perf-baseline-bump: archived the previous baseline as {}",
                archive.display()
            );
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
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let first = archive_path(dir.path(), "2026-11-22", Some("abcdef0123456789"));
        assert!(
            first.ends_with("2026-11-22_abcdef0.json"),
            "{}",
            first.display()
        );
        std::fs::write(&first, "{}").unwrap();
        let second = archive_path(dir.path(), "2026-11-22", Some("abcdef0123456789"));
        assert!(
            second.ends_with("2026-11-22_abcdef0-2.json"),
            "{}",
            second.display()
        );
        let unknown = archive_path(dir.path(), "2026-11-22", None);
        assert!(
            unknown.ends_with("2026-11-22_unknown.json"),
            "{}",
            unknown.display()
        );
    }

    #[test]
    fn refusal_lists_every_problem() {
        let err = refusal(&["one".into(), "two".into()]);
        let text = format!("{err:#}");
        assert!(text.contains("2 problems") && text.contains("- one") && text.contains("- two"));
    }
}
