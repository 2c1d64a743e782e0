//! When a gate adds evidence: after each look at the data, more trials while a relative rule
//! is inconclusive and none has failed, within the policy's looks, `max_trials` and time
//! budget. Pure, so the schedule is tested without running anything.

use std::time::Duration;

use crate::gate::evaluate::{Status, Verdict};
use crate::model::policy::GateSettings;

/// What to do after a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Every rule is decided.
    Decided,
    /// These rules fail decisively: more trials could only settle the others, and the verdict
    /// is FAIL whatever they say, so the gate stops (a failing gate answers sooner).
    Failed(Vec<String>),
    /// Run this many more trials per side, then look again.
    Add(u32),
    /// Rules are undecided, but the budget is spent: why.
    Spent(String),
}

/// After look `look` (1 is the look after the planned `first` trials; `done` trials per side
/// so far): looks are evenly spaced from `first` to `max_trials`, and a round is only
/// started when it fits in `left` at `per_trial` a trial.
pub fn next(
    verdict: &Verdict,
    gate: &GateSettings,
    (look, first, done): (u32, u32, u32),
    left: Duration,
    per_trial: Duration,
) -> Next {
    let rows = |status| verdict.rows.iter().filter(move |r| r.status == status);
    if rows(Status::Inconclusive).next().is_none() {
        return Next::Decided;
    }
    let failed: Vec<String> = rows(Status::Fail).map(|r| r.metric.clone()).collect();
    if !failed.is_empty() {
        return Next::Failed(failed);
    }
    if look >= gate.looks {
        return Next::Spent(format!("gate.looks ({}) used", gate.looks));
    }
    if done >= gate.max_trials {
        return Next::Spent(format!("gate.max_trials ({}) reached", gate.max_trials));
    }
    let step = gate
        .max_trials
        .saturating_sub(first)
        .div_ceil(gate.looks.saturating_sub(1).max(1));
    let fits = u32::try_from(left.as_millis() / per_trial.as_millis().max(1)).unwrap_or(u32::MAX);
    match step.min(gate.max_trials - done).min(fits) {
        0 => Next::Spent(format!(
            "gate.time_budget_s ({:.0} s) has no room for another trial of about {:.1} s",
            gate.time_budget_s,
            per_trial.as_secs_f64()
        )),
        n => Next::Add(n),
    }
}
