//! Parameters of the `connections` scenario, as its workload file states them (the runner is
//! `bench::scenario::connections`).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::within;

/// Most idle connections of one level: past this the run needs more ports and file
/// descriptors than a test machine reasonably has.
pub const MAX_IDLE: u32 = 50_000;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Idle connections held at each level, increasing; a level keeps the previous level's
    /// connections and adds to them.
    pub idle: Vec<u32>,
    /// Connections of the active load at each level.
    pub active_connections: u32,
    /// Requests per second in all on the active connections (open loop).
    pub active_rate: u64,
    /// How long the active load lasts at each level.
    pub active_ms: u64,
    /// Pause after opening a level's connections before the router's memory is read.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
}

fn default_settle_ms() -> u64 {
    500
}

impl Params {
    pub fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<()> {
        if self.idle.is_empty() || self.idle.len() > 8 {
            bail!(
                "{}: expected 1 to 8 levels, got {}",
                at("idle"),
                self.idle.len()
            );
        }
        for (i, &n) in self.idle.iter().enumerate() {
            within(at, &format!("idle[{i}]"), n, 1..=MAX_IDLE)?;
            if i > 0 && n <= self.idle[i - 1] {
                bail!(
                    "{}: levels must increase (each keeps the previous level's connections), \
                     got {} after {}",
                    at(&format!("idle[{i}]")),
                    n,
                    self.idle[i - 1]
                );
            }
        }
        within(at, "active_connections", self.active_connections, 1..=256)?;
        within(at, "active_rate", self.active_rate, 1..=1_000_000)?;
        within(at, "active_ms", self.active_ms, 100..=600_000)?;
        within(at, "settle_ms", self.settle_ms, 0..=60_000)?;
        Ok(())
    }
}
