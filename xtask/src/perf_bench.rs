//! `cargo xtask perf-bench`: build, start the router, drive load, collect, write artifacts.

use std::path::PathBuf;

use anyhow::Result;

use crate::flags::BenchArgs;

/// What a bench run left behind.
#[derive(Debug)]
pub struct BenchOutcome {
    /// The raw-run JSON (`perf_baseline_<ts>.json`), always written.
    pub artifact: PathBuf,
    /// True when the run did not complete (`run.status` is not `ok`).
    pub failed: bool,
}

/// Runs the benchmark and writes its artifacts.
pub fn run(_args: &BenchArgs) -> Result<BenchOutcome> {
    anyhow::bail!("`cargo xtask perf-bench` is not implemented yet")
}
