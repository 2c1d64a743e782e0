//! Parameters of the `ramp` scenario, as its workload file states them (the runner is
//! `bench::scenario::ramp`).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::within;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The closed-loop capacity probe: its length and connections.
    pub capacity_ms: u64,
    pub capacity_connections: u32,
    /// The open-loop steps, in percent of the measured capacity, rising.
    pub steps_pct: Vec<u32>,
    pub step_ms: u64,
    /// Connections of the open-loop steps.
    pub connections: u32,
    /// The knee is the first step whose p99 exceeds this.
    pub p99_bound_ms: f64,
}

impl Params {
    pub fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<()> {
        within(at, "capacity_ms", self.capacity_ms, 100..=600_000)?;
        within(
            at,
            "capacity_connections",
            self.capacity_connections,
            1..=1024,
        )?;
        within(at, "step_ms", self.step_ms, 100..=600_000)?;
        within(at, "connections", self.connections, 1..=1024)?;
        within(at, "p99_bound_ms", self.p99_bound_ms, 0.001..=60_000.0)?;
        if self.steps_pct.is_empty() || self.steps_pct.len() > 50 {
            bail!("{}: expected 1 to 50 steps", at("steps_pct"));
        }
        for (i, pct) in self.steps_pct.iter().enumerate() {
            within(at, &format!("steps_pct[{i}]"), *pct, 1..=200)?;
            if i > 0 && *pct <= self.steps_pct[i - 1] {
                bail!("{}: steps must rise", at(&format!("steps_pct[{i}]")));
            }
        }
        Ok(())
    }
}
