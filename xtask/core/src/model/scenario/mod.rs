//! Scenarios beyond steady load, as a workload file names them (`"scenario": {"ramp":
//! {...}}`): which one, and its parameters, checked as strictly as the rest of the file.
//! `bench::scenario` runs them.
//!
//! Ramp, burst, soak, scaling and connections plan their own load steps; mixed, payloads and
//! malformed run the workload's phases.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::load::Phase;

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

    /// Checks the parameters against the rest of the workload; errors name the field.
    pub fn validate(&self, phases: &[Phase]) -> Result<()> {
        let name = self.name();
        let uses_phases = matches!(
            self,
            Scenario::Mixed(_) | Scenario::Payloads(_) | Scenario::Malformed(_)
        );
        match (uses_phases, phases.is_empty()) {
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
            Scenario::Mixed(_) | Scenario::Payloads(_) => Ok(()),
            Scenario::Soak(p) => p.validate(&at),
            Scenario::Scaling(p) => p.validate(&at),
            Scenario::Malformed(p) => p.validate(&at),
            Scenario::Connections(p) => p.validate(&at),
        }
    }
}

/// A bound check for scenario parameters: `value` within `range`, else an error naming the
/// field.
pub fn within<T: PartialOrd + std::fmt::Display>(
    at: &dyn Fn(&str) -> String,
    field: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<()> {
    let (lo, hi) = (range.start(), range.end());
    if value < *lo || value > *hi {
        bail!("{}: expected {lo}..={hi}, got {value}", at(field));
    }
    Ok(())
}
