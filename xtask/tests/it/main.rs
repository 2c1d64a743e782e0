//! Integration tests of the `xtask` binary: each area runs the built binary on files in a
//! temporary directory and checks its exit code, output and artifacts.

mod bench;
mod bisect;
mod bump;
mod ci_templates;
mod components;
mod counters;
mod evidence;
mod gate;
mod help;
mod history;
mod hooks;
mod hostile;
mod inputs;
mod profile;
mod pushgateway;
mod report;
mod scenarios;
mod scenarios_memory;
mod support;
mod tidy;
mod unit;
