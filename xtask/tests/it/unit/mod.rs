//! Unit tests of the xtask library's pure functions, one file per source module: they import
//! `xtask::...` like any other user instead of living in `#[cfg(test)]` modules in `src/`.

mod affinity;
mod artifacts;
mod burst;
mod changepoint;
mod ci;
mod components;
mod connections;
mod env_info;
mod evaluate;
mod export;
mod history;
mod html;
mod install_hooks;
mod json;
mod junit;
mod loadgen;
mod malformed;
mod perf_bisect;
mod perf_counter;
mod perf_history;
mod policy;
mod profile;
mod profile_report;
mod publish;
mod ramp;
mod router;
mod run_file;
mod scaling;
mod soak;
mod stats;
mod suite;
mod svg;
mod verdict;
mod workload;
