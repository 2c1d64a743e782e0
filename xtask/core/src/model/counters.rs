//! Which instruction counter a run asks for (`--counters`, or a workload's `counters`);
//! `bench::counters` decides and counts.

/// Which instruction counter `--counters` (or a workload's `counters`) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counters {
    /// Hardware instructions through perf_event_open, user space, all of the router's
    /// threads: fast, but needs a PMU (most VMs have none) and perf_event_paranoid <= 2.
    Perf,
    /// valgrind's callgrind: all of the router's threads, slow (about 50x) but exact.
    Callgrind,
    /// `perf` when a probe shows the machine can count hardware instructions, else
    /// `callgrind`.
    Auto,
}

names!(Counters: Perf => "perf", Callgrind => "callgrind", Auto => "auto");
