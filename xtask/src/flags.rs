//! Command-line flags of `cargo xtask`, as clap types. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

// The flag groups the layers below own, flattened into the commands that take them.
pub use crate::bench::Options as BenchArgs;
pub use crate::report::publish::Record as RecordArgs;

/// Developer automation for the router workspace: benchmark it, gate it, govern its baseline.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, after_help = crate::exit::help::ALL)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// The variants are named after the commands users type (`perf-bench`, `perf-gate`, ...).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the router in release mode, run a workload against it, write artifacts.
    #[command(after_help = crate::exit::help::PERF_BENCH)]
    PerfBench(PerfBenchArgs),
    /// Run perf-bench (or take an existing run) and judge it against the baseline and policy.
    #[command(after_help = crate::exit::help::PERF_GATE)]
    PerfGate(GateArgs),
    /// Replace the baseline from a candidate run, with a reason and a written justification.
    #[command(after_help = crate::exit::help::PERF_BASELINE_BUMP)]
    PerfBaselineBump(BumpArgs),
    /// Install the git pre-push hook that runs a quick gate when perf-relevant paths change.
    #[command(after_help = crate::exit::help::INSTALL_HOOKS)]
    InstallHooks(InstallHooksArgs),
    /// What to run before pushing: fmt check, clippy, tests, quick gate; stops at the first failure.
    #[command(after_help = crate::exit::help::CI)]
    Ci,
    /// Write a self-contained HTML report: latency distributions, trials, gate table, history.
    #[command(after_help = crate::exit::help::PERF_REPORT)]
    PerfReport(ReportArgs),
    /// Print per-metric trends from the history store and point at change points (advisory).
    #[command(after_help = crate::exit::help::PERF_HISTORY)]
    PerfHistory(HistoryArgs),
    /// A/A pairs on this machine: each gated metric's noise and the smallest change the gate
    /// resolves; `--write` keeps it in perf/calibration_<workload>.json for the gate.
    #[command(after_help = crate::exit::help::PERF_CALIBRATE)]
    PerfCalibrate(CalibrateArgs),
    /// Find the first commit between --good and --bad where a metric regressed beyond the
    /// policy's threshold, building each tried commit's router once.
    #[command(after_help = crate::exit::help::PERF_BISECT)]
    PerfBisect(BisectArgs),
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The bench flags; `--trials` is the number of A/A pairs (default 10).
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Policy whose relative rules are calibrated (default as for perf-gate).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also write perf/calibration_<workload>.json, which the gate reads.
    #[arg(long)]
    pub write: bool,
}

/// `perf-bench`: the bench flags, and where else the run is recorded.
#[derive(Debug, Args)]
pub struct PerfBenchArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub bench: BenchArgs,
    #[command(flatten)]
    pub record: RecordArgs,
    /// Judge this existing run instead of running the benchmark (also `CANDIDATE_FILE`).
    #[arg(long, env = "CANDIDATE_FILE", value_name = "FILE")]
    pub candidate: Option<PathBuf>,
    /// Profile both routers under callgrind and rank the functions by their change in
    /// instructions per request, even when no CPU rule fails (a failing CPU rule always
    /// does it).
    #[arg(long)]
    pub explain: bool,
    /// Paired mode: build this git ref's router in a temporary worktree and run it and the
    /// working tree's alternately in one session; gate on the per-pair ratios.
    #[arg(long, value_name = "REF")]
    pub against: Option<String>,
    /// Baseline to compare with (default `perf/baseline_<workload>.json`, `-` in the name
    /// written `_`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Policy to judge by (default `perf/policy_<workload>.json`, which must exist).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InstallHooksArgs {
    /// Replace an existing pre-push hook that this command did not install.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A gate verdict (`_artifacts/perf_gate_<ts>.json`) to report on; it names its baseline
    /// and candidate. Without --verdict or --candidate, the newest verdict in --artifacts-dir.
    #[arg(long, value_name = "FILE")]
    pub verdict: Option<PathBuf>,
    /// A run to report on, judged in-process against --baseline under --policy.
    #[arg(long, value_name = "FILE")]
    pub candidate: Option<PathBuf>,
    /// Baseline for --candidate (default `perf/baseline_<workload>.json`, `-` in the name
    /// written `_`).
    #[arg(long, value_name = "FILE", requires = "candidate")]
    pub baseline: Option<PathBuf>,
    /// Policy for --candidate (default as for perf-gate).
    #[arg(long, value_name = "FILE", requires = "candidate")]
    pub policy: Option<PathBuf>,
    /// Workload whose default baseline and policy go with --candidate.
    #[arg(long, default_value = "cp1")]
    pub workload: String,
    /// History store to draw trends from (default `perf/history.jsonl`, when it exists).
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Directory to write `perf_report_<ts>.html` to.
    #[arg(long, default_value = "_artifacts", value_name = "DIR")]
    pub artifacts_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// History store to read (the default is the workspace's, wherever this runs).
    #[arg(long, default_value = crate::model::history::DEFAULT_PATH, value_name = "PATH")]
    pub history: PathBuf,
    /// Only this workload's runs (default: every workload, each on its own).
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// Only this metric (repeatable; default: every metric).
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// Change points: fewest runs on each side of a change point.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub min_segment: usize,
    /// Significance level of the change-point permutation test and the drift test.
    #[arg(long, default_value_t = 0.01, value_name = "P")]
    pub alpha: f64,
    /// Permutations per change-point significance test (fixed seed, so reruns agree).
    #[arg(long, default_value_t = 199, value_name = "N")]
    pub permutations: u32,
    /// Show at most this many latest runs in each sparkline.
    #[arg(long, default_value_t = 60, value_name = "N")]
    pub width: usize,
    /// Exit 1 when a metric shown has a recent change point: one within the newest
    /// 2 x --min-segment runs of its series (an old, settled change does not fail every
    /// later run). Without it the command is advisory and exits 0.
    #[arg(long)]
    pub fail_on_change_point: bool,
}

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// Why the baseline changes: trade-off, architectural-improvement, measurement-correction.
    #[arg(long)]
    pub reason: Option<String>,
    /// What changed, why it is acceptable, why the policy still makes sense.
    #[arg(long)]
    pub justification: Option<String>,
    /// Run to take the new baseline from (else perf-bench runs first).
    #[arg(long, value_name = "FILE")]
    pub candidate: Option<PathBuf>,
    /// Accept a named regression beyond policy (repeatable; only with reason trade-off).
    #[arg(long = "accept", value_name = "METRIC")]
    pub accept: Vec<String>,
    /// Print the before/after report and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Bump even though the git work tree has uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Scheduled-job mode: bump only when every rule passes and a metric improved with
    /// confidence; never lowers a target; at most once a day.
    #[arg(long)]
    pub ratchet: bool,
    /// Baseline to replace (default `perf/baseline_<workload>.json`, `-` in the name
    /// written `_`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Policy to judge the candidate by (default as for perf-gate).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Args)]
pub struct BisectArgs {
    /// A commit (branch, tag, sha) where the metric is fine.
    #[arg(long, value_name = "REF")]
    pub good: String,
    /// A later commit, descending from --good, where it has regressed.
    #[arg(long, value_name = "REF")]
    pub bad: String,
    /// The metric to bisect. `instructions_per_req` and `cpu_ms_per_1k_req` go by instruction
    /// counts (`--counters`, default callgrind): deterministic, one counting run per commit,
    /// judged by the policy's `instructions_per_req` rule (2% without one). Any other metric
    /// of the workload goes by paired wall-clock trials of each commit against --good, judged
    /// by the metric's rule; a step the trials cannot decide is skipped.
    #[arg(long, default_value = "instructions_per_req", value_name = "METRIC")]
    pub metric: String,
    /// Policy with the thresholds (default `perf/policy_<workload>.json`, which must exist).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Build the routers in the dev profile instead of release: far faster, and counts still
    /// differ between commits. For perf-bisect's own tests.
    #[arg(long, hide = true)]
    pub debug_build: bool,
    #[command(flatten)]
    pub bench: BenchArgs,
}
