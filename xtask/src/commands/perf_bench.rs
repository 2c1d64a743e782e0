//! `cargo xtask perf-bench`: build the router and the load generator in release, run a
//! workload for N trials (a fresh router each), and write the artifacts (raw run JSON, router
//! log, Markdown summary), also when the run fails.

use anyhow::Result;

use crate::bench::session::{self, BenchOutcome};
use crate::flags::PerfBenchArgs;

/// `cargo xtask perf-bench`: runs the benchmark, then records the run in the history and
/// the exports the flags ask for (also a failed run, whose record says so).
pub fn run_command(args: &PerfBenchArgs) -> Result<BenchOutcome> {
    crate::report::publish::check(&args.record)?;
    let outcome = session::run(&args.bench)?;
    crate::report::publish::record(&args.record, &outcome.artifact, "perf-bench", None)?;
    Ok(outcome)
}
