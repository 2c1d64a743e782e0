//! The `malformed` scenario: a storm where most requests are broken (bad JSON, wrong
//! types, not an object, unknown tenant: the workload's phases over a mix of reject
//! templates), then a check that the router is still well: ready, and fast for good
//! requests only.

use anyhow::Result;

use super::kinds::{kinds, rejected_share};
use super::{ratio, success_rate};
use crate::bench::loadgen::{LoadSpec, Loadgen};
use crate::bench::router::http_get;
use crate::bench::runner::{Runner, Status, failed, round3, round4};
use crate::model::load_report::Report;
pub use crate::model::scenario::malformed::Params;
use crate::model::workload::Expect;

/// Totals over the storm's phases: (requests of reject kinds, those answered 4xx, 5xx
/// responses of any kind).
pub(crate) fn storm_totals(phases: &[Report]) -> (f64, f64, f64) {
    let (mut bad, mut rejected, mut server_errors) = (0, 0, 0);
    for result in phases {
        for (_, kind) in kinds(result) {
            if kind.expect == Expect::Reject {
                bad += kind.sent;
                rejected += kind.status_4xx;
            }
            server_errors += kind.status_5xx;
        }
    }
    (bad as f64, rejected as f64, server_errors as f64)
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    runner.workload_phases()?;
    let storm: Vec<Report> = (runner.ctx.workload.phases.iter())
        .filter_map(|ph| runner.reports.get(&ph.name).cloned())
        .collect();
    let (bad, rejected, server_errors) = storm_totals(&storm);
    // The storm's own `rps` counts only the few good requests; this is every answer.
    if let Some(first) = storm.first().filter(|first| first.duration_s > 0.0) {
        let rps = first.responses as f64 / first.duration_s;
        runner.metric("malformed_storm_answered_rps", round3(rps));
    }
    runner.metric("malformed_rejected_share", round4(ratio(rejected, bad)));
    let ready = matches!(http_get(runner.router.addr, "/ready"), Ok((200, _)));
    runner.metric("malformed_ready_after", f64::from(u8::from(ready)));

    // Good requests only, from the same templates' good half.
    let (bodies, good_kinds) = runner.ctx.workload.generate(|t| t.expect == Expect::Ok);
    if bodies.is_empty() {
        return Err(Status::Failed(
            "the malformed workload has no template that expects `ok`".into(),
        ));
    }
    let dir = runner.ctx.workdir.to_path_buf();
    let good = Loadgen {
        bodies: dir.join("good_bodies.jsonl"),
        body_kinds: Some(dir.join("good_body_kinds.json")),
        ..runner.ctx.loadgen.clone()
    };
    std::fs::write(&good.bodies, bodies)
        .map_err(|e| failed("writing the good request bodies", e.into()))?;
    crate::model::artifacts::write_json(
        good.body_kinds.as_deref().expect("set above"),
        &good_kinds,
    )
    .map_err(|e| failed("writing the good request kinds", e))?;
    let after = runner.phase_with(
        &good,
        "after",
        &LoadSpec::open(p.after_connections, p.after_ms, p.after_rate),
    )?;
    let after_5xx = kinds(&after).map(|(_, k)| k.status_5xx as f64).sum::<f64>();
    runner.metric("malformed_5xx_total", server_errors + after_5xx);
    runner.metric("malformed_good_p99_after_ms", round4(after.latency("p99")));
    runner.metric("malformed_good_success_after", round4(success_rate(&after)));
    for (name, kind) in kinds(&storm[0]) {
        if kind.expect == Expect::Reject {
            runner.note(&format!(
                "malformed: kind {name}: {} sent, {:.4} rejected 4xx",
                kind.sent,
                rejected_share(kind)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
