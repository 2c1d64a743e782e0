//! What refuses a bump: the flags, a dirty tree, a candidate unfit to be a baseline, runs
//! from other machines, rules that fail and were not accepted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use xshell::{Shell, cmd};

use super::judged::Judged;
use super::reason::{MIN_JUSTIFICATION_CHARS, MIN_JUSTIFICATION_WORDS, REASONS, TRADE_OFF};
use crate::bench::env_info::silent;
use crate::flags::BumpArgs;
use crate::gate::evaluate::{self, Row, Status, Verdict};
use crate::model::paths::Inputs;
use crate::model::policy::Check;

/// Untracked files under this directory (the default artifacts) do not make the tree dirty.
const ARTIFACTS: &str = "_artifacts";

/// Problems with the flags themselves, each naming what is expected.
pub(super) fn usage_problems(args: &BumpArgs) -> Vec<String> {
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
pub(super) fn dirty_problem(
    sh: &Shell,
    inputs: &Inputs,
    lock_file: &Path,
) -> Result<Option<String>> {
    let (root, artifacts) = (&inputs.root, &inputs.artifacts);
    let top = silent(cmd!(sh, "git rev-parse --show-toplevel"))
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
    let ignored = [root.join(ARTIFACTS), artifacts.into(), lock_file.into()]
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

/// What makes the candidate unfit to be any baseline, whatever the rules say: a run that did
/// not complete, the slowdown knob, another workload, inputs that do not fit the policy.
pub(super) fn candidate_problems(judged: &Judged<'_>, workload: &str) -> Vec<String> {
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
pub(super) fn across_machines(judged: &Judged<'_>) -> Vec<String> {
    let Some(previous) = judged.previous.filter(|_| judged.judged_alone.is_none()) else {
        return Vec::new();
    };
    judged
        .verdict
        .rows
        .iter()
        .filter(|r| is_relative(r))
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
pub(super) fn rule_problems(
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

pub(super) fn is_relative(row: &Row) -> bool {
    matches!(row.check, Check::Relative { .. })
}
