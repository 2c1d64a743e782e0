//! What a bench or gate run leaves besides its artifacts, when asked: a line in the history
//! store (`--history`) and exports for other tools (`--export KIND FILE`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::model::history;
use crate::model::run_file::RunFile;
use crate::report::export;

/// Where a run is recorded besides its artifacts (the flags of perf-bench and perf-gate).
#[derive(Debug, Clone, Default, Args)]
pub struct Record {
    /// Append a compact record of the run to the history store: `--history` alone appends to
    /// `perf/history.jsonl`, `--history PATH` (or `PERF_HISTORY=PATH`) to PATH. Without either
    /// nothing is appended, so local runs leave the git tree clean.
    #[arg(
        long,
        env = "PERF_HISTORY",
        value_name = "PATH",
        num_args = 0..=1,
        default_missing_value = crate::model::history::DEFAULT_PATH
    )]
    pub history: Option<PathBuf>,
    /// Also write the run as KIND to FILE (repeatable): `bmf` (Bencher Metric Format JSON),
    /// `openmetrics` (text for a Pushgateway), `github` (github-action-benchmark arrays: FILE
    /// gets customSmallerIsBetter, FILE with `.bigger` before its extension customBiggerIsBetter);
    /// perf-gate also `log`, `verdict`, `markdown`, `junit` (its artifacts, to FILE).
    #[arg(long, num_args = 2, value_names = ["KIND", "FILE"])]
    pub export: Vec<String>,
}

/// Checks the flags before anything runs, so a typo does not cost a benchmark; `gate` says
/// whether the command has a verdict to export (perf-gate), which the gate artifacts' formats
/// show.
pub fn check(args: &Record, gate: bool) -> Result<()> {
    for (exporter, _) in export::parse_args(&args.export)? {
        if !gate && exporter.gate_artifact().is_some() {
            return Err(export::needs_gate(exporter.kind()));
        }
    }
    Ok(())
}

/// Records `run`: appends to the history and writes the exports that `args` ask for.
/// `source` is the command (`perf-bench`, `perf-gate`); `gate` the gate's verdict.
pub fn record(
    args: &Record,
    run: &RunFile,
    source: &str,
    gate: Option<&crate::report::verdict::Record>,
) -> Result<()> {
    let verdict = gate.map(|g| g.overall.as_str());
    let exports = export::parse_args(&args.export)?;
    if let Some(path) = &args.history {
        let path = history::resolve(path);
        history::append(&path, &history::Record::from_run(run, source, verdict))?;
        eprintln!("{source}: appended the run to {}", path.display());
    }
    let subject = export::Subject {
        run: Some(export::Summary::from_run(run, verdict)),
        gate,
    };
    for (exporter, path) in exports {
        for file in export::write(exporter, &path, &subject)? {
            eprintln!("export: wrote {}", file.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
