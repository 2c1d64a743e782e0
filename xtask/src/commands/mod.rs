//! One module per `cargo xtask` command: each reads its flags, calls the layers below, and
//! returns the exit code (`crate::exit`); bad input is an `Err` (exit 2, or 3 when the
//! benchmark failed).

use anyhow::Result;

use crate::exit;
use crate::flags::Command;

pub mod ci;
pub mod install_hooks;
pub mod perf_baseline_bump;
pub mod perf_bench;
pub mod perf_bisect;
pub mod perf_calibrate;
pub mod perf_gate;
pub mod perf_history;
pub mod perf_report;
pub mod suite;

/// Runs one command and returns its exit code.
pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::PerfBench(args) => match args.bench.suite {
            Some(s) => suite::bench(&args, s),
            None => perf_bench::run_command(&args).map(|o| {
                if o.failed {
                    exit::BENCH_FAILED
                } else {
                    exit::OK
                }
            }),
        },
        Command::PerfGate(args) => match args.bench.suite {
            Some(s) => suite::gate(&args, s),
            None => perf_gate::run(&args),
        },
        Command::PerfBaselineBump(args) if args.bench.suite.is_some() => Err(anyhow::anyhow!(
            "--suite: a bump replaces one baseline; name its workload with --workload"
        )),
        Command::PerfBaselineBump(args) => perf_baseline_bump::run(&args),
        Command::InstallHooks(args) => install_hooks::run(&args),
        Command::Ci(args) => ci::run(&args),
        Command::PerfReport(args) => perf_report::run(&args),
        Command::PerfHistory(args) => perf_history::run(&args),
        Command::PerfCalibrate(args) => perf_calibrate::run(&args),
        Command::PerfBisect(args) => perf_bisect::run(&args),
    }
}
