//! Parameters of the `scaling` scenario, as its workload file states them (the runner is
//! `bench::scenario::scaling`).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::within;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Connection counts, rising (the 10, 25, 50: steps of 2.5x).
    pub connections: Vec<u32>,
    /// Closed-loop length per step.
    pub closed_ms: u64,
    /// Open-loop length per step.
    pub open_ms: u64,
    /// The open loop's rate as a share of the first step's throughput.
    pub rate_share: f64,
}

impl Params {
    pub fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<()> {
        if self.connections.len() < 2 || self.connections.len() > 20 {
            bail!("{}: expected 2 to 20 steps", at("connections"));
        }
        for (i, c) in self.connections.iter().enumerate() {
            within(at, &format!("connections[{i}]"), *c, 1..=4096)?;
            if i > 0 && *c <= self.connections[i - 1] {
                bail!("{}: steps must rise", at(&format!("connections[{i}]")));
            }
        }
        within(at, "closed_ms", self.closed_ms, 100..=600_000)?;
        within(at, "open_ms", self.open_ms, 100..=600_000)?;
        within(at, "rate_share", self.rate_share, 0.01..=0.95)?;
        Ok(())
    }
}
