//! `cargo xtask ci`: what to run before pushing, the same checks CI runs, in order: format
//! check, clippy, the tests, then the quick perf gate. It stops at the first failure and exits
//! with its code, so the cheap checks fail fast and the benchmark only runs on code that passes.

use std::process::Command;

use anyhow::{Context as _, Result};
use xshell::cmd;

use crate::exit;
use crate::model::paths;

/// The steps as shown to the user, each run as typed (the gate too, in its own process, as
/// CI runs it); `cargo` is replaced by `$CARGO`.
pub(crate) const STEPS: [&str; 4] = [
    "cargo fmt --all --check",
    "cargo clippy --workspace --all-targets --locked -- -D warnings",
    "cargo test --workspace --locked",
    "cargo xtask perf-gate --workload quick",
];

pub fn run() -> Result<u8> {
    let sh = crate::bench::env_info::root_shell()?;
    let cargo = paths::cargo();
    let total = STEPS.len();
    for (i, shown) in STEPS.into_iter().enumerate() {
        // Each word is one argument (no shell), and `cargo` is the one running us.
        let words: Vec<&str> = shown.split_whitespace().skip(1).collect();
        let step = cmd!(sh, "{cargo} {words...}");
        eprintln!("ci: [{}/{total}] {shown}", i + 1);
        let status = Command::from(step)
            .status()
            .with_context(|| format!("running `{shown}`"))?;
        if !status.success() {
            let code = step_exit_code(status.code());
            eprintln!(
                "ci: step {}/{total} `{shown}` failed ({}); stopping here, exit {code}",
                i + 1,
                status
            );
            return Ok(code);
        }
    }
    eprintln!("ci: all {total} steps passed");
    Ok(exit::OK)
}

/// A failed step's exit code as ours: 1, 2 and 3 mean what they mean for every xtask
/// command, so they pass through; anything else (cargo's 101, a signal) is a plain failure, 1.
pub(crate) fn step_exit_code(code: Option<i32>) -> u8 {
    match code {
        Some(c) if (1..=3).contains(&c) => c as u8,
        _ => exit::REGRESSION,
    }
}

#[cfg(test)]
mod tests;
