//! What a bench or gate run leaves besides its artifacts, when asked: a line in the history
//! store (`--history`) and exports for other tools (`--export KIND FILE`).

use anyhow::Result;

use crate::flags::RecordArgs;
use crate::model::history;
use crate::model::run_file::RunFile;
use crate::report::export;

/// Checks the flags before anything runs, so a typo does not cost a benchmark.
pub fn check(args: &RecordArgs) -> Result<()> {
    export::parse_args(&args.export).map(drop)
}

/// Records `run`: appends to the history and writes the exports that `args` ask for.
/// `source` is the command (`perf-bench`, `perf-gate`); `verdict` the gate's outcome.
pub fn record(args: &RecordArgs, run: &RunFile, source: &str, verdict: Option<&str>) -> Result<()> {
    let exports = export::parse_args(&args.export)?;
    if args.history.is_none() && exports.is_empty() {
        return Ok(());
    }
    if let Some(path) = &args.history {
        let path = history::resolve(path);
        history::append(&path, &history::Record::from_run(run, source, verdict))?;
        eprintln!("{source}: appended the run to {}", path.display());
    }
    export::write_all(&exports, &export::Summary::from_run(run, verdict))
}
