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

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use xshell::Shell;

use crate::exit;
use crate::flags::BumpArgs;
use crate::model::artifacts;
use crate::model::json;
use crate::model::lock::LockFile;
use crate::model::policy;
use crate::model::run_file;

mod checks;
mod decide;
mod judged;
mod ratchet;
mod reason;
mod write;

use checks::{candidate_problems, dirty_problem, usage_problems};
use decide::{decide, refusal};
use judged::{Previous, judge};
use reason::MEASUREMENT_CORRECTION;
use write::{Writes, archive_path, author, crash_point};

/// The bump's lock file and the journal of its writes, in the baseline's directory: each is
/// there only while a bump runs, or after one was killed until the next one takes over.
const LOCK_FILE: &str = ".lock";
const JOURNAL_FILE: &str = ".bump-journal.json";

/// Runs the command: 0 bumped (or ratchet skipped), 2 refused or bad input (an `Err`),
/// 3 the benchmark it ran itself failed (an `Err` marked `BenchFailed`).
pub fn run(args: &BumpArgs) -> Result<u8> {
    let inputs = super::inputs(&args.bench, &args.baseline, &args.policy)?;
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(&inputs.root);

    // Held until the command returns, so two bumps never interleave.
    let perf_dir = artifacts::parent_dir(&inputs.baseline);
    let journal = perf_dir.join(JOURNAL_FILE);
    let lock = take_lock(args, perf_dir, &journal)?;

    let mut refusals = usage_problems(args);
    if !args.allow_dirty {
        refusals.extend(dirty_problem(&sh, &inputs, &perf_dir.join(LOCK_FILE))?);
    }
    // Without --candidate the benchmark takes minutes: refuse before it when the answer is
    // already known.
    if args.candidate.is_none() && !refusals.is_empty() {
        return Err(refusal(&refusals));
    }

    let policy = policy::load(&inputs.policy)?;
    let (candidate_path, candidate_text, candidate) = read_candidate(args)?;
    let previous = Previous::load(&inputs.baseline)?;
    let judged = judge(
        previous.as_ref(),
        &candidate,
        &policy,
        args.reason.as_deref() == Some(MEASUREMENT_CORRECTION),
    );
    refusals.extend(candidate_problems(&judged, &inputs.workload));
    let now = artifacts::now_rfc3339();
    let today = now.get(..10).unwrap_or(&now);
    let Some(decision) = decide(args, &judged, refusals, today)? else {
        return Ok(exit::OK);
    };

    let archive_dir = perf_dir.join("baselines");
    // A dry run writes nothing, not even a claimed name.
    let stamp = match args.dry_run {
        true => artifacts::file_stamp(),
        false => artifacts::claim(&inputs.artifacts, &[("baseline_bump", "md")])?,
    };
    let plan = Writes {
        inputs: &inputs,
        decision,
        author: author(&sh),
        date: now.clone(),
        archive: previous
            .as_ref()
            .map(|p| archive_path(&archive_dir, today, p.run.git.commit.as_deref())),
        log: archive_dir.join("LOG.md"),
        report: inputs.artifacts.join(format!("baseline_bump_{stamp}.md")),
        candidate_path: &candidate_path,
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

/// The candidate: its path (perf-bench runs first without --candidate), its text and the
/// run. Read once: it may be a pipe (`--candidate <(...)`), and the new baseline is written
/// from this text.
fn read_candidate(args: &BumpArgs) -> Result<(PathBuf, String, run_file::RunFile)> {
    let path = match &args.candidate {
        Some(path) => path.clone(),
        None => bench(args)?,
    };
    let text = json::read_input(&path, json::MAX_INPUT_BYTES)?;
    let run = run_file::parse_str(&text, &path.display().to_string())?;
    Ok((path, text, run))
}

/// The bump's lock on `perf_dir` (failing at once when another bump holds it), taken before
/// anything reads the files and after it what a killed bump left in `journal` is finished or
/// undone. A dry run writes nothing and takes no lock, but warns when an interrupted bump's
/// journal may change what it shows.
fn take_lock(args: &BumpArgs, perf_dir: &Path, journal: &Path) -> Result<Option<LockFile>> {
    if args.dry_run {
        if artifacts::journal_pending(journal) {
            eprintln!(
                "perf-baseline-bump: warning: {} is left from an interrupted bump; the next \
                 bump without --dry-run finishes or undoes it first, which may change the \
                 baseline shown here",
                journal.display()
            );
        }
        return Ok(None);
    }
    std::fs::create_dir_all(perf_dir)
        .with_context(|| format!("creating {}", perf_dir.display()))?;
    let lock = LockFile::acquire(&perf_dir.join(LOCK_FILE), "another perf-baseline-bump")?;
    crash_point("locked");
    if let Some(done) = artifacts::recover_journal(journal)? {
        eprintln!("perf-baseline-bump: {}: {done}", journal.display());
    }
    Ok(Some(lock))
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
