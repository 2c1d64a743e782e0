//! Measuring: the router, load generator and nats-server as processes, trials and scenarios,
//! instruction counting, component benchmarks and paired sessions. It writes run files and
//! logs but prints no results: the commands decide what to show.

pub mod affinity;
pub mod component_counts;
pub mod components;
pub mod counters;
pub mod env_info;
pub mod failover;
pub mod interrupt;
pub mod loadgen;
pub mod nats;
pub mod options;
pub mod paired;
pub mod perf_counter;
pub mod profile;
pub mod progress;
pub mod router;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod syscalls;
pub mod trial;
pub mod waits;

pub use options::Options;

/// Runs a bench: the component benchmarks, or a session of trials (paired when `pairing`
/// is given). Returns the outcomes in the arms' order (reference first).
pub fn run(
    options: &Options,
    pairing: Option<session::Pairing>,
) -> anyhow::Result<Vec<session::BenchOutcome>> {
    if options.workload == crate::model::suite::COMPONENTS {
        components::run(options, None)
    } else {
        session::run(options, pairing)
    }
}
