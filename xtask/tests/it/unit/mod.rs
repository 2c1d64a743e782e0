//! Unit tests of perf-core's modules (`xtask::model`, `xtask::gate`), one file per module:
//! everything they test is perf-core's public interface, which xtask uses. The unit tests of
//! xtask's own modules live next to them (`src/<module>/tests.rs`), where they can reach
//! what the crate keeps to itself.

mod artifacts;
mod changepoint;
mod evaluate;
mod history;
mod json;
mod policy;
mod run_file;
mod stats;
mod workload;
