//! Parameters of the `malformed` scenario, as its workload file states them (the runner is
//! `bench::scenario::malformed`).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::within;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The good-requests-only phase after the storm: open loop at this rate.
    pub after_rate: u64,
    pub after_connections: u32,
    pub after_ms: u64,
}

impl Params {
    pub fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<()> {
        within(at, "after_rate", self.after_rate, 1..=1_000_000)?;
        within(at, "after_connections", self.after_connections, 1..=1024)?;
        within(at, "after_ms", self.after_ms, 100..=600_000)?;
        Ok(())
    }
}
