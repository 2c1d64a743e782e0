//! xtask as a library: the layers of `cargo xtask`, so the binary stays thin and the tests
//! import what they check instead of compiling source files a second time.
//!
//! Layers, each importing only the ones below it:
//! `commands` (one module per `cargo xtask` command) → `bench` (processes, trials, counting:
//! measures, prints no results) and `report` (terminal, Markdown, JUnit, JSON, HTML, exports)
//! → `gate` (the verdict: pure functions) → `model` (file formats: workload, run file, policy,
//! history; paths and artifact names). `flags` (the CLI) sits beside them. `gate`, `model`
//! and `exit` (the exit codes) are the crate `perf-core` (xtask/core), re-exported here.

pub mod bench;
pub mod commands;
pub mod flags;
pub mod report;

// The layers below, in their own crate (xtask/core), so cargo keeps them below.
pub use perf_core::{exit, gate, model};
