//! Unit tests of the xtask library's pure functions, one file per source module: they import
//! `xtask::...` like any other user instead of living in `#[cfg(test)]` modules in `src/`.

mod artifacts;
mod changepoint;
mod evaluate;
mod history;
mod json;
mod policy;
mod run_file;
mod stats;
mod workload;
