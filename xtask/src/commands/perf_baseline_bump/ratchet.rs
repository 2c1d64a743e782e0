//! `--ratchet`: the scheduled bump that only tightens the baseline.

use anyhow::Result;

use super::judged::{Judged, listed};
use crate::gate::evaluate::{Row, Status};
use crate::model::policy::Check;
use crate::model::run_file::RunFile;
use crate::report::verdict;

/// The ratchet's decision: the rows that improved with confidence (the whole interval on the
/// better side of 0), or why it does not bump.
pub(super) fn ratchet<'v>(judged: &'v Judged<'_>, today: &str) -> Result<Vec<&'v Row>, String> {
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
        return Err(format!(
            "the candidate's environment differs from the baseline's ({}): a change across \
             machines or toolchains is no evidence of an improvement",
            listed(&verdict.env_differences)
        ));
    }
    // Adopting a candidate whose median moved the wrong way, even within policy, would loosen
    // that metric's target: the ratchet never does that.
    let worse: Vec<String> = verdict
        .rows
        .iter()
        .filter(|r| adverse(r).is_some_and(|(point, _)| point > 0.0))
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
        .filter(|r| matches!(adverse(r), Some((_, Some(worse))) if worse < 0.0))
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

/// A relative row's change in its rule's bad direction (positive is worse): the point
/// estimate, and the worse end of the interval when there is one.
fn adverse(row: &Row) -> Option<(f64, Option<f64>)> {
    let (Check::Relative { direction, .. }, Some(change)) = (row.check, row.change) else {
        return None;
    };
    let (point, _, worse) = change.adverse(direction);
    Some((point, change.ci_pct.map(|_| worse)))
}

/// `metric +3.1% [..]`: a row's metric and its change, for messages.
pub(super) fn metric_change(r: &Row) -> String {
    let change = r.change.map(|c| c.to_string()).unwrap_or_default();
    format!("{} {change}", r.metric)
}

/// The justification a ratchet bump writes for itself: the run and what improved.
pub(super) fn ratchet_justification(candidate: &RunFile, improved: &[&Row]) -> String {
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
