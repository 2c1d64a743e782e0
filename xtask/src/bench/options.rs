//! What a bench run is asked to do: the workload, trials, builds, pinning, counting. The
//! commands flatten it into their flags (clap reads the doc comments as help text), and
//! every bench function takes it as is.

use std::path::PathBuf;

use clap::Args;

/// The options of every command that runs the benchmark.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Workload name (`perf/workloads/<NAME>.json`) or a path to a workload file;
    /// `components` runs the in-process component benchmarks.
    #[arg(long, default_value = "cp1")]
    pub workload: String,
    /// Run a suite instead of one workload: `components` (in-process benchmarks of the
    /// router's parts), `scenarios` (every scenario workload), `all` (every workload under
    /// perf/workloads, then the components).
    #[arg(long, value_enum, conflicts_with = "workload")]
    pub suite: Option<crate::model::suite::Suite>,
    /// Number of trials; each trial starts a fresh router. Default: the workload's
    /// `trials`, else 5. For `components`: samples per benchmark (default 20).
    #[arg(long)]
    pub trials: Option<u32>,
    /// Skip the warm-up before each trial.
    #[arg(long)]
    pub no_warmup: bool,
    /// In a paired run, measure the latency phase in turns (A B B A, each router alone with
    /// the load generator for a quarter of it) instead of both routers at once.
    #[arg(long)]
    pub latency_turns: bool,
    /// Do not build; use the binaries already in `target/release`.
    #[arg(long)]
    pub no_build: bool,
    /// Router binary to benchmark instead of building one (implies --no-build for the router).
    #[arg(long, value_name = "PATH")]
    pub router_bin: Option<PathBuf>,
    /// Load generator binary to use instead of building one.
    #[arg(long, value_name = "PATH")]
    pub loadgen_bin: Option<PathBuf>,
    /// `components`: the component bench binary to run instead of building one (the
    /// executable `cargo bench -p router --bench components --no-run` prints).
    #[arg(long, value_name = "PATH")]
    pub components_bin: Option<PathBuf>,
    /// Hard bound on the whole run, in seconds: what it started is killed when it expires.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Do not put the router and the load generator on separate CPUs. By default they are
    /// pinned apart when 2 or more CPUs are available, so they do not compete for one core.
    #[arg(long, overrides_with = "pin")]
    pub no_pin: bool,
    /// Pin the router and the load generator to separate CPUs (the default; for scripts
    /// that want to say so).
    #[arg(long, overrides_with = "no_pin")]
    pub pin: bool,
    /// Directory for artifacts.
    #[arg(long, default_value = "_artifacts", value_name = "DIR")]
    pub artifacts_dir: PathBuf,
    /// How the load reaches the router: http, or nats (a real nats-server from PATH, started
    /// for the run). Default: the workload's `transport`, else http.
    #[arg(long, value_enum)]
    pub transport: Option<crate::model::workload::Transport>,
    /// After the trials, count the router's instructions per request over a fixed request
    /// count (`--counting-runs` runs per router) and record `instructions_per_req`: `perf` reads
    /// hardware counters through perf_event_open (needs a PMU), `callgrind` runs the router
    /// under valgrind (needs valgrind on PATH), `auto` takes perf when the machine allows it,
    /// else callgrind. Default: the workload's `counters`, else none.
    #[arg(long, value_enum, value_name = "KIND")]
    pub counters: Option<crate::model::counters::Counters>,
    /// Requests per counting run with `--counters` (each run also does half as many, to
    /// cancel start-up and shutdown).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub counter_requests: u64,
    /// Counting runs per router with `--counters`. One is enough: ten callgrind runs of the
    /// same router spread by 0.7% (xtask/BENCHMARKS.md), where the gate's rule is 2%.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub counting_runs: u32,
    /// Extra flag passed to the router (repeatable), e.g. `--router-arg=--max-inflight=64`.
    #[arg(long = "router-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub router_args: Vec<String>,
}
