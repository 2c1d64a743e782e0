//! `cargo xtask perf-bench`: build the router and the load generator in release, run a
//! workload for N trials (a fresh router each), and write the artifacts (raw run JSON, router
//! log, Markdown summary), also when the run fails.

use anyhow::Result;

use crate::flags::PerfBenchArgs;

/// `cargo xtask perf-bench`: runs the benchmark and shows it, then records the run in the
/// history and the exports the flags ask for (also a failed run, whose record says so).
/// Exit 3 when the benchmark failed.
pub fn run(args: &PerfBenchArgs) -> Result<u8> {
    crate::report::publish::check(&args.record, false)?;
    let outcomes = crate::bench::run(&args.bench, None)?;
    super::show(&outcomes)?;
    let outcome = &outcomes[0];
    crate::report::publish::record(&args.record, &outcome.run, "perf-bench", None)?;
    Ok(if outcome.failed {
        crate::exit::BENCH_FAILED
    } else {
        crate::exit::OK
    })
}
