//! `cargo xtask ci`: what to run before pushing, the same checks CI runs, in order: format
//! check, clippy, the tests, then the quick perf gate. It stops at the first failure and exits
//! with its code, so the cheap checks fail fast and the benchmark only runs on code that passes.

use std::process::Command;

use anyhow::{Context as _, Result};
use clap::Parser as _;
use xshell::{Shell, cmd};

use crate::exit;
use crate::flags::{CiArgs, Cli, Command as XtaskCommand};
use crate::model::paths;

/// The cargo steps, before the gate, as shown to the user; `cargo` is replaced by `$CARGO`.
const CARGO_STEPS: [&str; 3] = [
    "cargo fmt --all --check",
    "cargo clippy --workspace --all-targets --locked -- -D warnings",
    "cargo test --workspace --locked",
];

pub fn run(_args: &CiArgs) -> Result<u8> {
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(paths::root());
    let cargo = paths::cargo();
    let total = CARGO_STEPS.len() + 1;
    for (i, shown) in CARGO_STEPS.into_iter().enumerate() {
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

    let gate = "cargo xtask perf-gate --workload quick";
    eprintln!("ci: [{total}/{total}] {gate}");
    let args = quick_gate_args()?;
    let code = crate::commands::perf_gate::run(&args)
        .with_context(|| format!("step {total}/{total} `{gate}`"))?;
    if code == exit::OK {
        eprintln!("ci: all {total} steps passed");
    } else {
        eprintln!("ci: step {total}/{total} `{gate}` failed (exit {code})");
    }
    Ok(code)
}

/// The quick gate's flags, parsed as if typed, so they get exactly the defaults
/// `cargo xtask perf-gate --workload quick` has.
pub fn quick_gate_args() -> Result<crate::flags::GateArgs> {
    let cli = Cli::try_parse_from(["cargo xtask", "perf-gate", "--workload", "quick"])
        .context("parsing the quick gate's flags")?;
    match cli.command {
        XtaskCommand::PerfGate(args) => Ok(args),
        other => unreachable!("perf-gate parsed as {other:?}"),
    }
}

/// A failed cargo step's exit code as ours: 1, 2 and 3 mean what they mean for every xtask
/// command, so they pass through; anything else (cargo's 101, a signal) is a plain failure, 1.
pub fn step_exit_code(code: Option<i32>) -> u8 {
    match code {
        Some(c) if (1..=3).contains(&c) => c as u8,
        _ => exit::REGRESSION,
    }
}
