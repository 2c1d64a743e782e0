//! Scenarios over a mix of request kinds: `mixed` (weighted, sticky and fallback paths,
//! several tenants, small to large bodies) and `payloads` (bodies near the body limit,
//! accepted, and past it, answered 413 as expected). Both run the workload's phases; their
//! metrics come from the load generator's per-kind results.

use anyhow::Result;
use serde_json::Value;

use crate::bench::runner::{Runner, Status, num, round3, round4};
pub use crate::model::scenario::kinds::Params;
use crate::model::workload::Role;

/// The result of the workload's phase with `role`, if it has one.
pub(crate) fn role_result(runner: &Runner<'_, '_>, role: Role) -> Option<Value> {
    let w = runner.workload();
    let phase = w.phases.iter().find(|p| p.role == role)?;
    runner.result(&phase.name).cloned()
}

/// Each kind of a phase result, by name, with its numbers.
pub(crate) fn kinds(result: &Value) -> Vec<(String, &Value)> {
    result["kinds"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v)).collect())
        .unwrap_or_default()
}

/// Share of a reject-kind's requests answered 4xx; NaN when none was sent.
pub(crate) fn rejected_share(kind: &Value) -> f64 {
    let sent = num(kind, &["sent"]);
    if sent > 0.0 {
        num(kind, &["status_4xx"]) / sent
    } else {
        f64::NAN
    }
}

/// Per-kind latency of the latency phase: `<prefix>_<kind>_p50_ms` and `_p99_ms`, for the
/// kinds that expect a 2xx.
fn latency_by_kind(runner: &mut Runner<'_, '_>, prefix: &str) {
    let Some(latency) = role_result(runner, Role::Latency) else {
        return;
    };
    for (name, kind) in kinds(&latency) {
        if kind["expect"] == "ok" {
            for q in ["p50", "p99"] {
                let v = round4(num(kind, &["latency_ms", q]));
                runner.metric(&format!("{prefix}_{name}_{q}_ms"), v);
            }
        }
    }
}

pub fn run_mixed(_p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()?;
    latency_by_kind(runner, "mixed");
    Ok(())
}

pub fn run_payloads(_p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()?;
    latency_by_kind(runner, "payloads");
    if let Some(throughput) = role_result(runner, Role::Throughput) {
        let secs = num(&throughput, &["duration_s"]);
        for (name, kind) in kinds(&throughput) {
            if kind["expect"] == "ok" && secs > 0.0 {
                let rps = round3(num(kind, &["ok"]) / secs);
                runner.metric(&format!("payloads_{name}_rps"), rps);
            } else if kind["expect"] == "reject" {
                runner.metric(
                    &format!("payloads_{name}_rejected_share"),
                    round4(rejected_share(kind)),
                );
                let n413 = num(kind, &["status_counts", "413"]);
                runner.metric(&format!("payloads_{name}_413_total"), n413.max(0.0));
            }
        }
    }
    Ok(())
}
