//! `cargo xtask perf-bench`: build the router and the load generator in release, run a
//! workload for N trials (a fresh router each), and write the artifacts (raw run JSON, router
//! log, Markdown summary), also when the run fails.

use anyhow::{Context, Result};

use crate::bench::progress::Progress;
use crate::bench::session::{self, BenchOutcome, Pairing};
use crate::flags::{BenchArgs, PerfBenchArgs};
use crate::report::bench::{metrics_table, noise_warnings, summary_markdown};

/// `cargo xtask perf-bench`: runs the benchmark, then records the run in the history and
/// the exports the flags ask for (also a failed run, whose record says so).
pub fn run_command(args: &PerfBenchArgs) -> Result<BenchOutcome> {
    crate::report::publish::check(&args.record)?;
    let outcome = bench(&args.bench, None)?.remove(0);
    crate::report::publish::record(&args.record, &outcome.run, "perf-bench", None)?;
    Ok(outcome)
}

/// Runs a bench (paired when `pairing` is given) and shows it: the runs' tables on stdout,
/// warnings on stderr, a Markdown summary next to each run file. Returns the outcomes in the
/// arms' order (reference first).
pub fn bench(args: &BenchArgs, pairing: Option<Pairing>) -> Result<Vec<BenchOutcome>> {
    let outcomes = if args.workload == crate::model::suite::COMPONENTS {
        crate::bench::components::run(args, None)?
    } else {
        session::run(args, pairing)?
    };
    show(&outcomes)?;
    Ok(outcomes)
}

/// Writes each run's Markdown summary and prints its table and noise warnings.
pub fn show(outcomes: &[BenchOutcome]) -> Result<()> {
    let progress = Progress::new();
    for o in outcomes {
        std::fs::write(&o.summary, summary_markdown(&o.run))
            .with_context(|| format!("writing {}", o.summary.display()))?;
        let name = o
            .artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for warning in noise_warnings(&o.run) {
            progress.note(&format!("perf-bench: warning: {name}: {warning}"));
        }
        if outcomes.len() > 1 {
            println!("{name}:");
        }
        println!("{}", metrics_table(&o.run));
    }
    Ok(())
}
