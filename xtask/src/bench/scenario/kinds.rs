//! Scenarios over a mix of request kinds: `mixed` (weighted, sticky and fallback paths,
//! several tenants, small to large bodies) and `payloads` (bodies near the body limit,
//! accepted, and past it, answered 413 as expected). Both run the workload's phases; their
//! metrics come from the load generator's per-kind results.

use anyhow::Result;

use crate::bench::runner::{Runner, Status, round3, round4};
use crate::model::load_report::{KindReport, Report};
pub use crate::model::scenario::kinds::Params;
use crate::model::workload::{Expect, Role};

/// The result of the workload's phase with `role`, if it has one.
pub(crate) fn role_result(runner: &Runner<'_, '_>, role: Role) -> Option<Report> {
    let w = runner.ctx.workload;
    let phase = w.phases.iter().find(|p| p.role == role)?;
    runner.reports.get(&phase.name).cloned()
}

/// Each kind of a phase result, by name, with its numbers.
pub(crate) fn kinds(result: &Report) -> impl Iterator<Item = (&String, &KindReport)> {
    result.kinds.iter().flatten()
}

/// Share of a reject-kind's requests answered 4xx; NaN when none was sent.
pub(crate) fn rejected_share(kind: &KindReport) -> f64 {
    super::ratio(kind.status_4xx as f64, kind.sent as f64)
}

/// The latency phase's `<prefix>_<kind>_p50_ms` and `_p99_ms`, for kinds that expect a 2xx.
fn latency_by_kind(runner: &mut Runner<'_, '_>, prefix: &str) {
    let Some(latency) = role_result(runner, Role::Latency) else {
        return;
    };
    for (name, kind) in kinds(&latency) {
        if kind.expect == Expect::Ok {
            for q in ["p50", "p99"] {
                let v = round4(kind.latency_ms.get(q));
                runner.metric(&format!("{prefix}_{name}_{q}_ms"), v);
            }
        }
    }
}

pub(crate) fn run_mixed(_p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()?;
    latency_by_kind(runner, "mixed");
    Ok(())
}

pub(crate) fn run_payloads(_p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()?;
    latency_by_kind(runner, "payloads");
    if let Some(throughput) = role_result(runner, Role::Throughput) {
        let secs = throughput.duration_s;
        for (name, kind) in kinds(&throughput) {
            match kind.expect {
                Expect::Ok if secs > 0.0 => {
                    let rps = round3(kind.ok as f64 / secs);
                    runner.metric(&format!("payloads_{name}_rps"), rps);
                }
                Expect::Ok => {}
                Expect::Reject => {
                    runner.metric(
                        &format!("payloads_{name}_rejected_share"),
                        round4(rejected_share(kind)),
                    );
                    let n413 = kind.status_counts.get("413").copied().unwrap_or(0);
                    runner.metric(&format!("payloads_{name}_413_total"), n413 as f64);
                }
            }
        }
    }
    Ok(())
}
