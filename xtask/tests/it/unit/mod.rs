//! Unit tests of the xtask library's pure functions, one file per source module: they import
//! `xtask::...` like any other user instead of living in `#[cfg(test)]` modules in `src/`.

mod artifacts;
mod changepoint;
mod evaluate;
mod export;
mod history;
mod html;
mod json;
mod junit;
mod policy;
mod publish;
mod run_file;
mod stats;
mod svg;
mod verdict;
mod workload;
