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
