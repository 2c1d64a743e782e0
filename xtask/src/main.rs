//! `cargo xtask`: parses flags and dispatches to one module per command.

mod affinity;
mod artifacts;
mod changepoint;
mod ci;
mod components;
mod counters;
mod env_info;
mod evaluate;
mod exit;
mod export;
mod failover;
mod flags;
mod gate_report;
mod history;
mod install_hooks;
mod loadgen_process;
mod nats_server;
mod paired;
mod perf_baseline_bump;
mod perf_bench;
mod perf_gate;
mod perf_history;
mod perf_report;
mod policy;
mod progress;
mod project;
mod publish;
mod router_process;
mod run_file;
mod scenario;
mod stats;
mod suite;
mod svg;
mod trial;
mod workload;

use std::process::ExitCode;

use clap::Parser;

use crate::flags::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout with exit 0; usage errors get exit 2.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(exit::BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::PerfBench(args) if args.bench.suite.is_some() => {
            suite::bench(&args, args.bench.suite.expect("matched"))
        }
        Command::PerfGate(args) if args.bench.suite.is_some() => {
            suite::gate(&args, args.bench.suite.expect("matched"))
        }
        Command::PerfBaselineBump(args) if args.bench.suite.is_some() => Err(anyhow::anyhow!(
            "--suite: a bump replaces one baseline; name its workload with --workload"
        )),
        Command::PerfBench(args) => perf_bench::run_command(&args).map(|o| {
            if o.failed {
                exit::BENCH_FAILED
            } else {
                exit::OK
            }
        }),
        Command::PerfGate(args) => perf_gate::run(&args),
        Command::PerfBaselineBump(args) => perf_baseline_bump::run(&args),
        Command::InstallHooks(args) => install_hooks::run(&args),
        Command::Ci(args) => ci::run(&args),
        Command::PerfReport(args) => perf_report::run(&args),
        Command::PerfHistory(args) => perf_history::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::code_for(&err))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
