//! `cargo xtask perf-bisect --good REF --bad REF [--metric M]`: the first commit between two
//! where a metric regressed beyond the policy's threshold. Each tried commit's router is built
//! once (cached per commit, as paired mode does). A CPU metric goes by instruction counts, one
//! counting run per commit compared with --good's; any other by a paired wall-clock session of
//! the commit against --good, judged by the gate's `evaluate` under the metric's rule, and a
//! step it cannot decide is skipped (git bisect's meaning: try a neighbour). The steps go to
//! stdout and `_artifacts/perf_bisect_<ts>.log`; each step's run files and bench log to
//! `_artifacts/perf_bisect_<ts>/`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use xshell::{Shell, cmd};

use crate::bench::env_info::silent;
use crate::bench::paired;
use crate::bench::session::{BenchOutcome, Pairing, Plan, Session, TEST_KNOBS};
use crate::exit::{self, BenchFailed};
use crate::flags::{BenchArgs, BisectArgs};
use crate::gate::evaluate::{Status, evaluate};
use crate::model::artifacts;
use crate::model::counters::Counters;
use crate::model::policy::{self, Check, Direction, Policy};
use crate::model::run_file::{MetricValue, short_commit};
use crate::report::bench::summary_markdown;

/// The metrics bisected on instruction counts: deterministic, so one run per commit.
const COUNTED: [&str; 2] = ["instructions_per_req", "cpu_ms_per_1k_req"];
/// The counts' threshold when the policy has no `instructions_per_req` rule.
const DEFAULT_COUNT_PCT: f64 = 2.0;

/// What one step found about a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Good,
    Bad,
    /// Could not be decided (inconclusive trials, a commit that does not build).
    Skip,
}

/// What to do next, given the verdicts so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Try(usize),
    /// The index of the first bad commit.
    Found(usize),
    /// Skipped commits leave these candidates (the last one is bad).
    Ambiguous(Vec<usize>),
}

/// Bisection over the commits after --good, oldest first, the last (--bad) known bad: the
/// untried commit nearest the middle of the range between the last good one and the first
/// bad one, until that range holds only the bad one, or only skipped ones besides it.
pub fn next(verdicts: &[Option<Verdict>]) -> Next {
    let hi = verdicts
        .iter()
        .position(|v| *v == Some(Verdict::Bad))
        .unwrap_or(verdicts.len().saturating_sub(1));
    let lo = verdicts[..hi]
        .iter()
        .rposition(|v| *v == Some(Verdict::Good))
        .map_or(0, |i| i + 1);
    let mid = lo + (hi - lo) / 2;
    match (lo..hi)
        .filter(|&i| verdicts[i].is_none())
        .min_by_key(|&i| i.abs_diff(mid))
    {
        Some(i) => Next::Try(i),
        None if lo == hi => Next::Found(hi),
        None => Next::Ambiguous((lo..=hi).collect()),
    }
}

pub fn run(args: &BisectArgs) -> Result<u8> {
    let b = &args.bench;
    if b.suite.is_some() || b.workload == crate::model::suite::COMPONENTS {
        bail!("perf-bisect follows one router workload: name it with --workload (not components)");
    }
    if b.router_bin.is_some() {
        bail!("--router-bin: perf-bisect builds each tried commit's router itself");
    }
    if let Some(knob) = TEST_KNOBS.iter().find(|k| std::env::var_os(k).is_some()) {
        bail!(
            "{knob} is set: it would slow the routers under test, not --good's in paired steps; unset it"
        );
    }
    let sh = Shell::new().context("creating a shell")?;
    let top = silent(cmd!(sh, "git rev-parse --show-toplevel"))
        .read()
        .map_err(|_| anyhow!("perf-bisect: run it inside the git work tree to bisect"))?;
    sh.change_dir(top.trim());
    let dirty = cmd!(sh, "git status --porcelain --untracked-files=no")
        .quiet()
        .read()?;
    if !dirty.trim().is_empty() {
        bail!(
            "the work tree has uncommitted changes; commit or stash them first (`git stash`), so \
             that what is bisected is what the commits hold:\n{dirty}"
        );
    }
    let good = paired::resolve(&sh, "--good", &args.good)?;
    let bad = paired::resolve(&sh, "--bad", &args.bad)?;
    if silent(cmd!(sh, "git merge-base --is-ancestor {good} {bad}"))
        .run()
        .is_err()
        || good == bad
    {
        bail!(
            "--good {} must be an ancestor of --bad {} (and not the same commit)",
            args.good,
            args.bad
        );
    }
    let list = cmd!(sh, "git rev-list --reverse --first-parent {good}..{bad}")
        .quiet()
        .read()?;
    let commits: Vec<String> = list.lines().map(str::to_string).collect();

    let inputs = super::inputs(b, &None, &args.policy)?;
    let policy = policy::load(&inputs.policy)?;
    let mut bench = args.bench.clone();
    let mode = Mode::new(&args.metric, &policy, &inputs.policy, &mut bench)?;
    let dir = inputs.artifacts;
    let stamp = artifacts::claim(&dir, &[("perf_bisect", "log")])?;
    bench.artifacts_dir = dir.join(format!("perf_bisect_{stamp}"));
    let mut bisect = Bisect {
        args,
        sh: &sh,
        bench,
        mode,
        good,
        log_path: dir.join(format!("perf_bisect_{stamp}.log")),
    };
    let result = bisect.run(&commits);
    if let Err(e) = &result {
        bisect.say(&format!("error: {e:#}"));
    }
    eprintln!("perf-bisect: wrote {}", bisect.log_path.display());
    result
}

/// How a step is judged.
enum Mode {
    /// Counts against --good's, `max_pct` above it is a regression.
    Counted { max_pct: f64, good: Option<f64> },
    /// Paired trials against --good, judged by this policy (the metric's rule alone).
    Paired(Policy),
}

struct Bisect<'a> {
    args: &'a BisectArgs,
    sh: &'a Shell,
    /// The flags each step's session runs with (its own artifacts directory, the router).
    bench: BenchArgs,
    mode: Mode,
    good: String,
    log_path: PathBuf,
}

impl Mode {
    /// How `metric` is bisected under `policy`; a counted metric sets `bench`'s counter.
    fn new(
        metric: &str,
        policy: &Policy,
        policy_path: &Path,
        bench: &mut BenchArgs,
    ) -> Result<Mode> {
        if COUNTED.contains(&metric) {
            bench.counters = Some(bench.counters.unwrap_or(Counters::Callgrind));
            let max_pct = match policy.rules.get("instructions_per_req").map(|r| r.check) {
                Some(Check::Relative {
                    direction: Direction::Increase,
                    max_pct,
                }) => max_pct,
                _ => DEFAULT_COUNT_PCT,
            };
            return Ok(Mode::Counted {
                max_pct,
                good: None,
            });
        }
        let rule = policy.rules.get(metric).with_context(|| {
            let known: Vec<&str> = policy.rules.keys().map(String::as_str).collect();
            format!(
                "--metric {metric}: {} has no rule for it (rules: {}); pass --policy with one",
                policy_path.display(),
                known.join(", ")
            )
        })?;
        Ok(Mode::Paired(Policy {
            rules: BTreeMap::from([(metric.to_string(), rule.clone())]),
            ..policy.clone()
        }))
    }
}

impl Bisect<'_> {
    /// A line on stdout and in the log.
    fn say(&self, line: &str) {
        println!("{line}");
        let _ = std::io::stdout().flush();
        let appended =
            crate::bench::router::append_to(&self.log_path).and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            eprintln!(
                "perf-bisect: warning: writing {}: {e}",
                self.log_path.display()
            );
        }
    }

    /// `0123456789ab subject`.
    fn describe(&self, commit: &str) -> String {
        let subject = cmd!(self.sh, "git log -1 --format=%s {commit}")
            .quiet()
            .read()
            .unwrap_or_default();
        format!("{} {subject}", short_commit(commit))
    }

    /// How commits are judged, for the first line.
    fn how(&self) -> String {
        let a = self.args;
        match &self.mode {
            Mode::Counted { max_pct, .. } => format!(
                "instruction counts ({}, {} requests), a regression above +{}% (the \
                 instructions_per_req rule){}",
                self.bench.counters.map_or("", Counters::as_str),
                self.bench.counter_requests,
                policy::fmt_num(*max_pct),
                if a.metric == "instructions_per_req" {
                    ""
                } else {
                    "; CPU time is bisected on its deterministic proxy"
                },
            ),
            Mode::Paired(p) => format!(
                "paired wall-clock trials against --good, rule {} {}; inconclusive steps are skipped",
                a.metric, p.rules[&a.metric].check
            ),
        }
    }

    fn run(&mut self, commits: &[String]) -> Result<u8> {
        let a = self.args;
        let how = self.how();
        self.say(&format!(
            "perf-bisect: {} over {} commit(s) after --good {} up to --bad {}, workload {}, by {how}",
            a.metric,
            commits.len(),
            self.describe(&self.good),
            a.bad,
            a.bench.workload
        ));
        let good_bin = paired::router_of(self.sh, &self.good, a.debug_build)
            .map_err(|e| BenchFailed(format!("building --good's router: {e:#}")))?;
        if let Mode::Counted { good, .. } = &mut self.mode {
            let x = count(&self.bench, &good_bin)?;
            *good = Some(x);
            self.say(&format!(
                "good  {}: {x:.1} instructions/request",
                self.describe(&self.good)
            ));
        }
        let mut verdicts = vec![None; commits.len()];
        let mut try_at = commits.len() - 1;
        loop {
            let (verdict, shown) = self.step(&commits[try_at], &good_bin)?;
            verdicts[try_at] = Some(verdict);
            let word = format!("{verdict:?}").to_lowercase();
            self.say(&format!(
                "{word:<5} {}: {shown}",
                self.describe(&commits[try_at])
            ));
            if try_at == commits.len() - 1 && verdict != Verdict::Bad {
                self.say(&format!(
                    "not found: --bad {} is not a regression of {} beyond the threshold{}",
                    a.bad,
                    a.metric,
                    if verdict == Verdict::Skip {
                        " that this run could decide (more --trials may)"
                    } else {
                        ""
                    }
                ));
                return Ok(exit::REGRESSION);
            }
            match next(&verdicts) {
                Next::Try(i) => try_at = i,
                Next::Found(i) => {
                    self.say(&format!(
                        "first bad commit: {} ({} tried of {})",
                        self.describe(&commits[i]),
                        verdicts.iter().flatten().count(),
                        commits.len()
                    ));
                    return Ok(exit::OK);
                }
                Next::Ambiguous(candidates) => {
                    let shown: Vec<String> = candidates
                        .iter()
                        .map(|&i| self.describe(&commits[i]))
                        .collect();
                    self.say(&format!(
                        "not found: skipped steps leave {} candidates for the first bad commit:\n  {}",
                        shown.len(),
                        shown.join("\n  ")
                    ));
                    return Ok(exit::REGRESSION);
                }
            }
        }
    }

    /// Builds and measures one commit (against --good's router `good_bin`): its verdict and
    /// what was measured.
    fn step(&self, commit: &str, good_bin: &Path) -> Result<(Verdict, String)> {
        let bin = match paired::router_of(self.sh, commit, self.args.debug_build) {
            Ok(bin) => bin,
            Err(e) => return Ok((Verdict::Skip, format!("does not build: {e:#}"))),
        };
        match &self.mode {
            Mode::Counted { max_pct, good } => {
                let good = good.expect("--good is counted first");
                let x = count(&self.bench, &bin)?;
                let pct = (x - good) / good * 100.0;
                let verdict = if pct > *max_pct {
                    Verdict::Bad
                } else {
                    Verdict::Good
                };
                Ok((
                    verdict,
                    format!("{x:.1} instructions/request, {pct:+.2}% against --good"),
                ))
            }
            Mode::Paired(policy) => {
                let mut bench = self.bench.clone();
                bench.router_bin = Some(bin);
                let pairing = Pairing {
                    against: self.args.good.clone(),
                    commit: self.good.clone(),
                    reference_bin: good_bin.to_path_buf(),
                };
                // The tried commit is the session's candidate arm, by `router_bin`; its run
                // file records the work tree's git identity, the step log the commit.
                let plan = Plan::new(&bench)?;
                let mut session = Session::open(&bench, plan, Some(pairing))?;
                let trials = session.plan().trials;
                session.trials(trials);
                let runs = finish(session)?;
                let verdict = evaluate(&runs[0].run, &runs[1].run, policy);
                if !verdict.errors.is_empty() {
                    bail!("{}", verdict.errors.join("; "));
                }
                let row = &verdict.rows[0];
                let verdict = match row.status {
                    Status::Fail => Verdict::Bad,
                    Status::Pass | Status::Warn => Verdict::Good,
                    Status::Inconclusive => Verdict::Skip,
                    Status::Skipped => bail!("{} {}", row.metric, row.message),
                };
                Ok((verdict, format!("{} {}", row.metric, row.message)))
            }
        }
    }
}

/// Instructions per request of `router`: one counting run, no trials.
fn count(bench: &BenchArgs, router: &Path) -> Result<f64> {
    let mut bench = bench.clone();
    bench.router_bin = Some(router.to_path_buf());
    let plan = Plan::new(&bench)?;
    let mut session = Session::open(&bench, plan, None)?;
    session.count(1, None);
    match finish(session)?[0].run.metric("instructions_per_req") {
        MetricValue::Number(x) if x > 0.0 => Ok(x),
        other => Err(BenchFailed(format!(
            "the counting run gave no instructions_per_req ({other:?})"
        ))
        .into()),
    }
}

/// Writes the session's files (summaries too); a failed run is the step's benchmark failing.
fn finish(session: Session<'_>) -> Result<Vec<BenchOutcome>> {
    let outcomes = session.finish()?;
    for o in &outcomes {
        artifacts::write_atomic(&o.summary, summary_markdown(&o.run).as_bytes())?;
        if o.failed {
            let why = o.run.run.message.clone().unwrap_or_default();
            return Err(BenchFailed(format!("{}: {why}", o.artifact.display())).into());
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests;
