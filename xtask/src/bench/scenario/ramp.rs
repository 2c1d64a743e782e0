//! The `ramp` scenario: measure the router's capacity with a closed loop, then step an
//! open-loop rate from a small share of it up to all of it. Each step's success rate must
//! stay high; the knee is the first step whose p99 passes a bound.

use anyhow::Result;

use super::{capacity, success_rate};
use crate::bench::loadgen::LoadSpec;
use crate::bench::runner::{Runner, Status, round3, round4};
pub use crate::model::scenario::ramp::Params;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    pub pct: u32,
    pub rate: f64,
    pub success_rate: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub min_success_rate: f64,
    /// The first step over the bound; `None` when every step stayed under it.
    pub knee: Option<Step>,
}

/// Summarizes the steps (pure). A step without a p99 (no responses) counts as over the bound.
pub(crate) fn summarize(steps: &[Step], p99_bound_ms: f64) -> Summary {
    // A step that sent nothing (NaN) counts as 0: `max` drops a NaN.
    let min_success_rate = steps
        .iter()
        .map(|s| s.success_rate.max(0.0))
        .fold(f64::INFINITY, f64::min);
    let knee = steps
        .iter()
        .find(|s| s.p99_ms.is_nan() || s.p99_ms > p99_bound_ms)
        .copied();
    Summary {
        min_success_rate,
        knee,
    }
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    let capacity = capacity(runner, "capacity", p.capacity_connections, p.capacity_ms)?;
    runner.metric("ramp_capacity_rps", round3(capacity));
    let mut steps = Vec::new();
    for &pct in &p.steps_pct {
        let rate = capacity * f64::from(pct) / 100.0;
        let name = format!("step_{pct}pct");
        runner.say(&format!("ramp: {pct}% of capacity, {rate:.0} req/s"));
        let result = runner.phase(
            &name,
            &LoadSpec::open(p.connections, p.step_ms, rate as u64),
        )?;
        steps.push(Step {
            pct,
            rate,
            success_rate: success_rate(&result),
            p99_ms: result.latency("p99"),
        });
    }
    let summary = summarize(&steps, p.p99_bound_ms);
    runner.metric("ramp_min_success_rate", round4(summary.min_success_rate));
    // With no step over the bound, the knee is past the last step: reported as the last
    // step, which a `min` rule then reads as "at least this far".
    let last = steps.last().copied().expect("validated: at least one step");
    let knee = summary.knee.unwrap_or(last);
    runner.metric("ramp_knee_pct", f64::from(knee.pct));
    runner.metric("ramp_knee_rps", round3(knee.rate));
    runner.metric(
        "ramp_knee_found",
        f64::from(u8::from(summary.knee.is_some())),
    );
    runner.note(&format!(
        "ramp: capacity {capacity:.0} req/s; steps (pct, success, p99 ms): {}",
        steps
            .iter()
            .map(|s| format!("({}, {:.4}, {:.3})", s.pct, s.success_rate, s.p99_ms))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    Ok(())
}

#[cfg(test)]
mod tests;
