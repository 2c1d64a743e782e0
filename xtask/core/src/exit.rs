//! Exit codes shared by every command, and the error kinds that map to them.

use std::fmt;

/// 0 success / gate passed.
pub const OK: u8 = 0;
/// 1 gate failed: a regression.
pub const REGRESSION: u8 = 1;
/// 2 bad usage or bad input file.
pub const BAD_INPUT: u8 = 2;
/// 3 the benchmark itself failed (router did not start, crashed, timed out).
pub const BENCH_FAILED: u8 = 3;

/// The exit codes as `--help` states them (clap's `after_help`): all of them for
/// `cargo xtask --help`, and for each command the ones it can end with.
pub mod help {
    pub const ALL: &str = "\
Exit codes:
  0  success; for perf-gate, the gate passed
  1  the gate failed: a regression
  2  bad usage or a bad input file (the message names the file and the field)
  3  the benchmark itself failed (the router did not start, crashed or timed out);
     its artifacts are written first
  130, 143  a benchmark interrupted by SIGINT or SIGTERM (its artifacts are written first)";

    pub const PERF_BENCH: &str = "\
Exit codes:
  0  the run completed and its artifacts are written
  2  bad usage or a bad input file (the message names the file and the field)
  3  the benchmark itself failed (the router did not start, crashed or timed out);
     its artifacts are written first
  130, 143  interrupted by SIGINT or SIGTERM (the run files are written first)
With --suite: the worst of its workloads' codes (3, then 2, then 0).";

    pub const PERF_GATE: &str = "\
Exit codes:
  0  the gate passed
  1  the gate failed: a regression (every failing rule is reported)
  2  bad usage or a bad input file (the message names the file and the field)
  3  the benchmark itself failed (the router did not start, crashed or timed out);
     the gate artifacts are written first
  130, 143  interrupted by SIGINT or SIGTERM (the run files are written first)
With --suite: the worst of its workloads' codes (3, then 1, then 2, then 0).";

    pub const PERF_BASELINE_BUMP: &str = "\
Exit codes:
  0  the baseline was bumped (or --dry-run printed the report, or --ratchet found
     nothing to bump)
  2  refused (every reason is listed), bad usage or a bad input file
  3  the benchmark it ran itself failed
  130, 143  interrupted by SIGINT or SIGTERM during its benchmark (the run file is
            written first)";

    pub const INSTALL_HOOKS: &str = "\
Exit codes:
  0  the hook is installed (or already was, up to date)
  2  not installed: another pre-push hook is there (use --force), this is not a git
     work tree, or bad usage";

    pub const CI: &str = "\
Exit codes:
  0  every step passed
  1  fmt, clippy or the tests failed, or the quick gate found a regression
  2  bad usage or a bad input file
  3  the quick gate's benchmark itself failed
It stops at the first failing step and exits with that step's code.";

    pub const PERF_REPORT: &str = "\
Exit codes:
  0  the report is written
  2  bad usage or a bad input file (the message names the file and the field)";

    pub const PERF_CALIBRATE: &str = "\
Exit codes:
  0  the calibration is written
  2  bad usage or a bad input file
  3  the benchmark itself failed
  130, 143  interrupted by SIGINT or SIGTERM (the run files are written first)";

    pub const PERF_HISTORY: &str = "\
Exit codes:
  0  the trends are printed (without --fail-on-change-point, whatever they show)
  1  --fail-on-change-point: a metric has a change point among its newest runs
  2  bad usage, or the history store is missing or unreadable";

    pub const PERF_BISECT: &str = "\
Exit codes:
  0  found: the first commit where the metric regressed is printed
  1  not found: --bad is not worse than --good beyond the threshold, or steps that
     could not be decided (skipped) leave more than one candidate
  2  bad usage or input: an unknown ref, --good not an ancestor of --bad, uncommitted
     changes in the work tree, a metric the policy has no rule for
  3  a step's benchmark itself failed (the router did not start, crashed or timed out);
     the log is written first";
}

/// Marks an error as "the benchmark failed" so `main` exits 3 instead of 2.
#[derive(Debug)]
pub struct BenchFailed(pub String);

impl fmt::Display for BenchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchFailed {}

/// Exit code for an error that reached `main`: 3 when the benchmark failed, else 2.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<BenchFailed>()) {
        BENCH_FAILED
    } else {
        BAD_INPUT
    }
}
