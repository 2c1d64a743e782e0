//! Running the scenarios a workload may name (`model::scenario`): each drives the trial's
//! router through a [`Runner`] and records its own metrics beside the common ones. Ramp,
//! burst, soak, scaling and connections plan their own load steps; mixed, payloads and
//! malformed run the workload's phases and read the per-kind results.

use crate::bench::loadgen::LoadSpec;
use crate::bench::runner::{Runner, Status};
use crate::model::load_report::Report;
use crate::model::scenario::Scenario;

pub mod burst;
pub mod connections;
pub mod kinds;
pub mod malformed;
pub mod ramp;
pub mod scaling;
pub mod soak;

/// Runs the scenario's load against the trial's router and records its metrics.
pub fn run(scenario: &Scenario, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    match scenario {
        Scenario::Ramp(p) => ramp::run(p, runner),
        Scenario::Burst(p) => burst::run(p, runner),
        Scenario::Mixed(p) => kinds::run_mixed(p, runner),
        Scenario::Soak(p) => soak::run(p, runner),
        Scenario::Scaling(p) => scaling::run(p, runner),
        Scenario::Payloads(p) => kinds::run_payloads(p, runner),
        Scenario::Malformed(p) => malformed::run(p, runner),
        Scenario::Connections(p) => connections::run(p, runner),
    }
}

/// The router's capacity on this machine, which scenarios scale their load from: 2xx per
/// second of a closed loop on `connections` for `duration_ms`, run as the phase `name`.
pub(crate) fn capacity(
    runner: &mut Runner<'_, '_>,
    name: &str,
    connections: u32,
    duration_ms: u64,
) -> Result<f64, Status> {
    let result = runner.phase(name, &LoadSpec::closed(connections, duration_ms))?;
    let rps = result.rps;
    if !(rps.is_finite() && rps > 0.0) {
        return Err(Status::Failed(format!(
            "phase {name}: no successful responses, so no capacity to scale the load from"
        )));
    }
    Ok(rps)
}

/// Share of a phase's requests answered as expected (2xx, or 4xx for reject kinds); NaN if none.
pub(crate) fn success_rate(result: &Report) -> f64 {
    let good = result.ok + result.expected_rejections;
    ratio(good as f64, result.requests_sent as f64)
}

/// `part / whole`; NaN when `whole` is 0 (a share of nothing).
pub(crate) fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { f64::NAN }
}
