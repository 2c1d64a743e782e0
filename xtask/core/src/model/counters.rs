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

impl Counters {
    pub fn as_str(self) -> &'static str {
        match self {
            Counters::Perf => "perf",
            Counters::Callgrind => "callgrind",
            Counters::Auto => "auto",
        }
    }
}

/// The metric `--counters` records: instructions per request.
pub const INSTRUCTIONS_PER_REQ: &str = "instructions_per_req";

/// Whether a metric is an instruction count (`instructions_per_req`, a component's
/// `component_<name>_ir`): a number of the code, nearly the same on any x86-64 machine, where
/// every other metric is a reading of the machine it ran on.
pub fn is_counted(metric: &str) -> bool {
    metric == INSTRUCTIONS_PER_REQ || (metric.starts_with("component_") && metric.ends_with("_ir"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_told_from_readings() {
        assert!(is_counted("instructions_per_req"));
        assert!(is_counted("component_sticky_get_1k_ir"));
        assert!(!is_counted("component_sticky_get_1k_ns"));
        assert!(!is_counted("latency_p99_ms"));
        assert!(!is_counted("rps"));
    }
}
