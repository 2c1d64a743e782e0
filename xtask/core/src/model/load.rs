//! The load vocabulary that workloads and scenarios share: how requests travel, how they
//! are paced, and the phases a trial runs. Its own module so that a workload (which holds a
//! scenario) and a scenario (which checks the workload's phases) both build on it and not on
//! each other.

use serde::{Deserialize, Serialize};

/// How requests travel from the load generator to the router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// HTTP/1.1 POST /v1/decide.
    #[default]
    Http,
    /// NATS request-reply through a real nats-server started for the run.
    Nats,
}

names!(Transport: Http => "http", Nats => "nats");

/// What a phase's numbers become in the run's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One connection, back to back: `sequential_rps`.
    Sequential,
    /// Many connections, back to back: `rps`.
    Throughput,
    /// Constant arrival rate: `latency_p50_ms` .. `latency_max_ms`.
    Latency,
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Each connection sends back-to-back: measures maximum throughput.
    Closed,
    /// A constant arrival rate, latency measured from the intended send time.
    Open,
}

names!(Model: Closed => "closed", Open => "open");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    pub role: Role,
    pub model: Model,
    pub connections: u32,
    pub duration_ms: u64,
    /// Total requests per second; open model only.
    #[serde(default)]
    pub rate: Option<u64>,
}
