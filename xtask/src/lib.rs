//! xtask as a library: the layers of `cargo xtask`, so the binary stays thin and the tests
//! import what they check instead of compiling source files a second time.
//!
//! Layers, each importing only the ones below it:
//! `commands` (one module per `cargo xtask` command) → `bench` (processes, trials, counting:
//! measures, prints no results) and `report` (terminal, Markdown, JUnit, JSON, HTML, exports)
//! → `gate` (the verdict: pure functions) → `model` (file formats: workload, run file, policy,
//! history; paths and artifact names). `flags` (the CLI) and `exit` (exit codes) sit beside
//! them.

pub mod bench;
pub mod commands;
pub mod exit;
pub mod flags;
pub mod gate;
pub mod model;
pub mod report;
