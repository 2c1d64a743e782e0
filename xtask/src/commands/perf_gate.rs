//! `cargo xtask perf-gate`: judge a candidate run (from `--candidate`, or a fresh perf-bench
//! run) against the baseline under the policy, print the table and verdict, and write the gate
//! artifacts (log, verdict JSON, Markdown summary, JUnit XML, HTML report) before exiting.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::flags::GateArgs;
use crate::gate::evaluate::{Outcome, Verdict, evaluate};
use crate::model::artifacts;
use crate::model::paths;
use crate::model::policy;
use crate::model::policy::Policy;
use crate::model::run_file;
use crate::model::run_file::RunFile;
use crate::report::html;
use crate::report::junit;
use crate::report::verdict::{self, Context};

/// Runs the gate and returns its exit code (0 pass, 1 regression, 3 benchmark failed).
/// Bad inputs are an `Err` (exit 2), after the artifacts that record them are written.
pub fn run(args: &GateArgs) -> Result<u8> {
    crate::report::publish::check(&args.record)?;
    let root = crate::model::paths::perf_root();
    let workload = paths::workload_name(&args.bench.workload)?;
    let workload = workload.as_str();
    let (baseline_path, policy_path) = paths::default_inputs(
        &root,
        workload,
        args.baseline.as_deref(),
        args.policy.as_deref(),
    );
    let artifacts_dir = paths::artifacts_dir(&root, &args.bench.artifacts_dir);
    let (baseline_path, candidate_path) = match (&args.against, &args.candidate) {
        (Some(_), Some(_)) => bail!(
            "--against and --candidate do not go together: --against runs both routers itself"
        ),
        (Some(against), None) => paired_run(&args.bench, against)?,
        (None, Some(path)) => (baseline_path, path.clone()),
        (None, None) => {
            eprintln!("perf-gate: no --candidate given, running perf-bench first");
            let candidate = crate::commands::perf_bench::bench(&args.bench, None)?
                .remove(0)
                .artifact;
            match paired_rerun_commit(&baseline_path, &candidate, &policy_path) {
                Some(commit) => {
                    eprintln!(
                        "perf-gate: this machine's environment differs from the baseline's and the policy says \
                         `env_mismatch: paired`: re-running paired against the baseline's commit {commit}"
                    );
                    paired_run(&args.bench, &commit)?
                }
                None => (baseline_path, candidate),
            }
        }
    };

    let stamp = artifacts::claim(
        &artifacts_dir,
        &[
            ("perf_gate", "log"),
            ("perf_gate", "json"),
            ("perf_gate", "md"),
            ("perf_gate", "junit.xml"),
            ("perf_report", "html"),
        ],
    )?;
    let timestamp = artifacts::now_rfc3339();
    let inputs = read_inputs(&baseline_path, &candidate_path, &policy_path);
    let verdict = match &inputs {
        Ok((baseline, candidate, policy)) => evaluate(baseline, candidate, policy),
        Err(err) => Verdict::from_errors(vec![format!("{err:#}")]),
    };
    let (baseline_shown, candidate_shown, policy_shown) = (
        baseline_path.display().to_string(),
        candidate_path.display().to_string(),
        policy_path.display().to_string(),
    );
    let loaded = inputs.as_ref().ok();
    let ctx = Context {
        timestamp: &timestamp,
        workload,
        baseline: &baseline_shown,
        candidate: &candidate_shown,
        policy_path: &policy_shown,
        policy: loaded.map(|i| &i.2),
        baseline_run: loaded.map(|i| &i.0),
        candidate_run: loaded.map(|i| &i.1),
    };

    let mut stdout = String::new();
    if !verdict.rows.is_empty() {
        stdout.push_str(&verdict::table(&verdict));
        stdout.push('\n');
    }
    if verdict.outcome != Outcome::InputError {
        // Errors go to stderr once, through `main`.
        stdout.push_str(&verdict::findings(&verdict));
    }
    stdout.push_str(&verdict::summary_line(&verdict));
    stdout.push('\n');
    print!("{stdout}");
    let _ = std::io::stdout().flush();

    write_artifacts(&artifacts_dir, &stamp, &verdict, &ctx)?;
    let recorded = if loaded.is_some() {
        let outcome = verdict.outcome.as_str();
        crate::report::publish::record(&args.record, &candidate_path, "perf-gate", Some(outcome))
    } else {
        Ok(())
    };
    // After the history append, so that the report's trends end with this run.
    write_report(
        &root,
        &artifacts_dir,
        &stamp,
        args.record.history.as_deref(),
        (&baseline_path, &candidate_path),
        verdict::json(&verdict, &ctx),
    );
    recorded?;

    if verdict.outcome == Outcome::InputError {
        bail!("{}", verdict.errors.join("\nerror: "));
    }
    Ok(verdict.exit_code())
}

/// Writes the HTML report next to the other artifacts. It is for people: a failure, even a
/// panic, is a warning and never changes the gate's exit code.
fn write_report(
    root: &Path,
    dir: &Path,
    stamp: &str,
    history: Option<&Path>,
    (baseline, candidate): (&Path, &Path),
    verdict: serde_json::Value,
) {
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let report = html::for_gate(root, baseline, candidate, history, verdict);
        html::write(dir, stamp, &report)
    }));
    match written {
        Ok(Ok(path)) => eprintln!("perf-gate: wrote {}", path.display()),
        Ok(Err(err)) => eprintln!("perf-gate: warning: could not write the HTML report: {err:#}"),
        Err(_) => eprintln!("perf-gate: warning: writing the HTML report panicked (above)"),
    }
}

/// Builds the reference router and runs both alternately; returns (reference, candidate)
/// run files, which the evaluator compares pair by pair.
fn paired_run(bench: &crate::flags::BenchArgs, against: &str) -> Result<(PathBuf, PathBuf)> {
    crate::bench::components::refuse_paired(&bench.workload)?;
    let sh = xshell::Shell::new().context("creating a shell")?;
    sh.change_dir(crate::model::paths::root());
    let pairing = crate::bench::paired::reference(&sh, against)?;
    let mut outcomes = crate::commands::perf_bench::bench(bench, Some(pairing))?;
    let candidate = outcomes.pop().expect("two arms");
    let reference = outcomes.pop().expect("two arms");
    Ok((reference.artifact, candidate.artifact))
}

/// The baseline's commit, when the policy wants a paired re-run because the candidate's
/// environment differs from the baseline's (and the baseline says which commit it measured).
fn paired_rerun_commit(baseline: &Path, candidate: &Path, policy: &Path) -> Option<String> {
    let (baseline, candidate, policy) = read_inputs(baseline, candidate, policy).ok()?;
    if candidate.run.failure().is_some()
        || !crate::gate::evaluate::needs_paired_rerun(&baseline, &candidate, &policy)
    {
        return None;
    }
    baseline.git.commit.clone()
}

fn read_inputs(
    baseline: &Path,
    candidate: &Path,
    policy_path: &Path,
) -> Result<(RunFile, RunFile, Policy)> {
    let policy = policy::load(policy_path)?;
    let baseline = run_file::load(baseline).map_err(|e| {
        if baseline.exists() {
            e
        } else {
            e.context(format!(
                "no baseline at {} (record one with `cargo xtask perf-baseline-bump`, or pass \
                 --baseline FILE)",
                baseline.display()
            ))
        }
    })?;
    let candidate = run_file::load(candidate)?;
    Ok((baseline, candidate, policy))
}

/// Writes the four gate artifacts, sharing one timestamp, and appends the Markdown to
/// `$GITHUB_STEP_SUMMARY` when it is set.
fn write_artifacts(dir: &Path, stamp: &str, verdict: &Verdict, ctx: &Context<'_>) -> Result<()> {
    let path = |ext: &str| -> Result<PathBuf> { Ok(dir.join(format!("perf_gate_{stamp}.{ext}"))) };
    let markdown = verdict::markdown(verdict, ctx);
    let log = path("log")?;
    artifacts::write_atomic(&log, verdict::log_text(verdict, ctx).as_bytes())?;
    artifacts::write_json(&path("json")?, &verdict::json(verdict, ctx))?;
    artifacts::write_atomic(&path("md")?, markdown.as_bytes())?;
    artifacts::write_atomic(&path("junit.xml")?, junit::render(verdict, ctx).as_bytes())?;
    eprintln!(
        "perf-gate: wrote {}",
        dir.join(format!("perf_gate_{stamp}.{{log,json,md,junit.xml}}"))
            .display()
    );

    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let summary = PathBuf::from(summary);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(markdown.as_bytes()))
            .with_context(|| {
                format!("appending to $GITHUB_STEP_SUMMARY ({})", summary.display())
            })?;
    }
    Ok(())
}
