//! Parameters of the `soak` scenario, as its workload file states them (the runner is
//! `bench::scenario::soak`).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::within;

/// Fewest samples in the fitted window: three for each half's own line.
pub const MIN_FIT_SAMPLES: usize = 6;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How long the load lasts.
    pub duration_ms: u64,
    /// Requests per second in all (open loop).
    pub rate: u64,
    /// Connections the load is spread over.
    pub connections: u32,
    /// Time between two samples of the router's memory.
    #[serde(default = "default_sample_ms")]
    pub sample_ms: u64,
    /// The start of the load left out of the fit, while the allocator and the sticky store
    /// fill up to their working size.
    #[serde(default)]
    pub warmup_ms: u64,
}

fn default_sample_ms() -> u64 {
    1000
}

impl Params {
    pub fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<()> {
        within(at, "duration_ms", self.duration_ms, 1_000..=3_600_000)?;
        within(at, "rate", self.rate, 1..=1_000_000)?;
        within(at, "connections", self.connections, 1..=10_000)?;
        within(at, "sample_ms", self.sample_ms, 50..=60_000)?;
        within(at, "warmup_ms", self.warmup_ms, 0..=self.duration_ms)?;
        let fitted = (self.duration_ms - self.warmup_ms) / self.sample_ms;
        if fitted < MIN_FIT_SAMPLES as u64 {
            bail!(
                "{}: leaves {fitted} samples of {} ms after the warm-up to fit a line through; \
                 at least {MIN_FIT_SAMPLES} are needed (lengthen duration_ms, or shorten \
                 warmup_ms or sample_ms)",
                at("warmup_ms"),
                self.sample_ms
            );
        }
        Ok(())
    }
}
