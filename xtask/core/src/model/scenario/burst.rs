//! Parameters of the `burst` scenario, as its workload file states them (the runner is
//! `bench::scenario::burst`).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::within;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The closed-loop capacity probe the rates are scaled from.
    pub capacity_ms: u64,
    pub capacity_connections: u32,
    /// Steady rate as a share of capacity, before and after the burst.
    pub steady_share: f64,
    /// Connections of the steady phases.
    pub connections: u32,
    pub before_ms: u64,
    /// Burst rate as a multiple of capacity.
    pub burst_factor: f64,
    /// Connections of the burst: more than the router's `--max-inflight`, so the bound is hit.
    pub burst_connections: u32,
    pub burst_ms: u64,
    pub after_ms: u64,
    /// Timeline resolution of the recovery.
    pub bucket_ms: u64,
    /// Buckets merged into one p99 reading (a single bucket's p99 rests on few requests).
    pub window_buckets: u32,
    /// Recovered when a window's p99 is within this share of the pre-burst p99 (0.2: 20%)...
    pub tolerance: f64,
    /// ... or within this many milliseconds of it: differences under it are loopback noise.
    pub slack_ms: f64,
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
        within(at, "steady_share", self.steady_share, 0.01..=1.0)?;
        within(at, "connections", self.connections, 1..=1024)?;
        within(at, "before_ms", self.before_ms, 100..=600_000)?;
        within(at, "burst_factor", self.burst_factor, 1.0..=100.0)?;
        within(at, "burst_connections", self.burst_connections, 1..=10_000)?;
        within(at, "burst_ms", self.burst_ms, 100..=600_000)?;
        within(at, "after_ms", self.after_ms, 100..=600_000)?;
        within(at, "bucket_ms", self.bucket_ms, 10..=10_000)?;
        within(at, "window_buckets", self.window_buckets, 1..=100)?;
        within(at, "tolerance", self.tolerance, 0.0..=10.0)?;
        within(at, "slack_ms", self.slack_ms, 0.0..=1000.0)?;
        Ok(())
    }
}
