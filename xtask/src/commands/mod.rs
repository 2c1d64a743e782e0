//! One module per `cargo xtask` command: each reads its flags, calls the layers below, and
//! returns the exit code (`crate::exit`); bad input is an `Err` (exit 2, or 3 when the
//! benchmark failed).

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::bench::session::BenchOutcome;
use crate::flags::{BenchArgs, Command};
use crate::model::paths::Inputs;
use crate::report::bench::{metrics_table, noise_warnings, summary_markdown};

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
        // A suite runs the command once per workload, each with its own flags.
        Command::PerfBench(args) => match args.bench.suite {
            Some(s) => suite::run("perf-bench", s, |w| {
                perf_bench::run(&suite::bench_args(&args, w))
            }),
            None => perf_bench::run(&args),
        },
        Command::PerfGate(args) => match args.bench.suite {
            Some(s) => {
                suite::check_gate_args(&args)?;
                suite::run("perf-gate", s, |w| {
                    perf_gate::run(&suite::gate_args(&args, w))
                })
            }
            None => perf_gate::run(&args),
        },
        Command::PerfBaselineBump(args) if args.bench.suite.is_some() => Err(anyhow::anyhow!(
            "--suite: a bump replaces one baseline; name its workload with --workload"
        )),
        Command::PerfBaselineBump(args) => perf_baseline_bump::run(&args),
        Command::InstallHooks(args) => install_hooks::run(&args),
        Command::Ci => ci::run(),
        Command::PerfReport(args) => perf_report::run(&args),
        Command::PerfHistory(args) => perf_history::run(&args),
        Command::PerfCalibrate(args) => perf_calibrate::run(&args),
        Command::PerfBisect(args) => perf_bisect::run(&args),
    }
}

/// The paths a command that benches reads and writes, from its flags.
fn inputs(
    bench: &BenchArgs,
    baseline: &Option<PathBuf>,
    policy: &Option<PathBuf>,
) -> Result<Inputs> {
    let (baseline, policy) = (baseline.as_deref(), policy.as_deref());
    Inputs::resolve(&bench.workload, baseline, policy, &bench.artifacts_dir)
}

/// Shows bench outcomes, as every command that runs a bench does: writes each run's
/// Markdown summary, prints its table on stdout and its noise warnings on stderr.
pub fn show(outcomes: &[BenchOutcome]) -> Result<()> {
    for o in outcomes {
        std::fs::write(&o.summary, summary_markdown(&o.run))
            .with_context(|| format!("writing {}", o.summary.display()))?;
        let name = o.artifact.file_name().unwrap_or_default().to_string_lossy();
        for warning in noise_warnings(&o.run) {
            eprintln!("perf-bench: warning: {name}: {warning}");
        }
        if outcomes.len() > 1 {
            println!("{name}:");
        }
        println!("{}", metrics_table(&o.run));
    }
    Ok(())
}
