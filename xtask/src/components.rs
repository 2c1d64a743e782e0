//! `perf-bench --suite components` (or `--workload components`): in-process benchmarks of
//! the router's parts, written in the run-file shape so the gate, reports and history apply.

use anyhow::Result;

use crate::flags::BenchArgs;
use crate::perf_bench::BenchOutcome;

/// The workload name the component suite runs under (its policy and baseline are
/// `perf/policy_components.json` and `perf/baseline_components.json`).
pub const WORKLOAD: &str = "components";

pub fn run(_args: &BenchArgs) -> Result<BenchOutcome> {
    anyhow::bail!("the components suite is not implemented yet")
}
