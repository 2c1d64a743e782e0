//! Scenarios beyond steady load: each workload file may name one (`"scenario": {"ramp":
//! {...}}`) with its parameters. A scenario drives the trial's router through a
//! [`Runner`] (load phases, the router's process and metrics) and records its own metrics
//! next to the common ones, so the same gate, reports and history apply.
//!
//! Ramp, burst, soak, scaling and connections plan their own load steps; mixed, payloads and
//! malformed run the workload's phases and read the load generator's per-kind results.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::loadgen_process::LoadSpec;
use crate::trial::{Runner, Status, num};
use crate::workload::Phase;

pub mod burst;
pub mod connections;
pub mod kinds;
pub mod malformed;
pub mod ramp;
pub mod scaling;
pub mod soak;

/// A scenario and its parameters, as the workload file names it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scenario {
    /// Open-loop rate stepping from a share of the measured capacity up to all of it.
    Ramp(ramp::Params),
    /// Steady load, a spike past capacity, steady again: backpressure and recovery.
    Burst(burst::Params),
    /// The workload's phases over a mix of request kinds, with per-kind latency.
    Mixed(kinds::Params),
    /// Sustained load with the router's memory sampled every second.
    Soak(soak::Params),
    /// The same work over more and more connections.
    Scaling(scaling::Params),
    /// Bodies near and past the body limit: 413s are expected rejections.
    Payloads(kinds::Params),
    /// A storm of malformed requests, then good ones on a router that must still be well.
    Malformed(malformed::Params),
    /// Thousands of idle keep-alive connections held open while a few stay busy.
    Connections(connections::Params),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Ramp(_) => "ramp",
            Scenario::Burst(_) => "burst",
            Scenario::Mixed(_) => "mixed",
            Scenario::Soak(_) => "soak",
            Scenario::Scaling(_) => "scaling",
            Scenario::Payloads(_) => "payloads",
            Scenario::Malformed(_) => "malformed",
            Scenario::Connections(_) => "connections",
        }
    }

    /// Whether the scenario runs the workload's `phases` (else it plans its own steps).
    fn uses_phases(&self) -> bool {
        matches!(
            self,
            Scenario::Mixed(_) | Scenario::Payloads(_) | Scenario::Malformed(_)
        )
    }

    /// Checks the parameters against the rest of the workload; errors name the field.
    pub fn validate(&self, phases: &[Phase]) -> Result<()> {
        let name = self.name();
        match (self.uses_phases(), phases.is_empty()) {
            (true, true) => bail!(
                "field `phases`: the {name} scenario runs the workload's phases; expected at least one"
            ),
            (false, false) => bail!(
                "field `phases`: the {name} scenario plans its own load steps from `scenario.{name}`; \
                 remove `phases`"
            ),
            _ => {}
        }
        let at = |field: &str| format!("field `scenario.{name}.{field}`");
        match self {
            Scenario::Ramp(p) => p.validate(&at),
            Scenario::Burst(p) => p.validate(&at),
            Scenario::Mixed(p) | Scenario::Payloads(p) => p.validate(&at),
            Scenario::Soak(p) => p.validate(&at),
            Scenario::Scaling(p) => p.validate(&at),
            Scenario::Malformed(p) => p.validate(&at),
            Scenario::Connections(p) => p.validate(&at),
        }
    }

    /// Runs the scenario's load against the trial's router and records its metrics.
    pub fn run(&self, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
        match self {
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
}

/// A bound check for scenario parameters: `value` within `lo..=hi`, else an error naming
/// the field.
pub(crate) fn within<T: PartialOrd + std::fmt::Display>(
    at: &dyn Fn(&str) -> String,
    field: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<()> {
    if value < lo || value > hi {
        bail!("{}: expected {lo}..={hi}, got {value}", at(field));
    }
    Ok(())
}

/// The router's capacity on this machine: 2xx responses per second of a closed loop on
/// `connections` connections for `duration_ms`, run as the phase `name`. Scenarios that
/// scale their load to the machine start from it.
pub(crate) fn capacity(
    runner: &mut Runner<'_, '_>,
    name: &str,
    connections: u32,
    duration_ms: u64,
) -> Result<f64, Status> {
    let result = runner.phase(name, &LoadSpec::closed(connections, duration_ms))?;
    let rps = num(&result, &["rps"]);
    if !(rps.is_finite() && rps > 0.0) {
        return Err(Status::Failed(format!(
            "phase {name}: no successful responses, so no capacity to scale the load from"
        )));
    }
    Ok(rps)
}

/// Share of the requests sent in a phase that were answered as expected (2xx, or 4xx for
/// kinds that expect a rejection); NaN when nothing was sent.
pub(crate) fn success_rate(result: &serde_json::Value) -> f64 {
    let sent = num(result, &["requests_sent"]);
    let good = num(result, &["ok"]) + num(result, &["expected_rejections"]).max(0.0);
    if sent > 0.0 { good / sent } else { f64::NAN }
}
