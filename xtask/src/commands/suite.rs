//! `--suite`: run several workloads in one command, each judged by its own policy and
//! baseline, and report them together.

use anyhow::{Result, bail};

use crate::exit::{BAD_INPUT, BENCH_FAILED, OK, REGRESSION};
use crate::flags::{BenchArgs, GateArgs, PerfBenchArgs};
use crate::model::suite::{Suite, workloads};

/// How one member of a suite ended: its exit code, or the error that stopped it (exit 2).
pub struct Member {
    pub workload: String,
    pub result: Result<u8>,
}

/// The suite's exit code: a failed benchmark (3) over a regression (1) over bad input (2)
/// over a pass (0), so the worst thing that happened is what the caller sees.
pub fn exit_code(members: &[Member]) -> u8 {
    let code = |m: &Member| *m.result.as_ref().unwrap_or(&BAD_INPUT);
    let codes: Vec<u8> = members.iter().map(code).collect();
    [BENCH_FAILED, REGRESSION, BAD_INPUT]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(OK)
}

fn summary(command: &str, members: &[Member]) -> String {
    let mut out = format!("{command} suite: {} workload(s)\n", members.len());
    for m in members {
        let what = match &m.result {
            Ok(code) => format!("exit {code}"),
            Err(e) => format!("error: {e:#}"),
        };
        out.push_str(&format!("  {:<16} {what}\n", m.workload));
    }
    out
}

/// Runs `one` for every workload of the suite, one after the other, and reports them
/// together. `command` names the command for the log (`perf-bench`, `perf-gate`).
pub fn run(command: &str, suite: Suite, mut one: impl FnMut(&str) -> Result<u8>) -> Result<u8> {
    let mut members = Vec::new();
    for workload in workloads(suite)? {
        eprintln!("{command}: suite {suite:?}: workload {workload}");
        let result = one(&workload);
        members.push(Member { workload, result });
    }
    print!("{}", summary(command, &members));
    Ok(exit_code(&members))
}

/// One workload's `perf-bench` flags, from the suite's.
pub(crate) fn bench_args(args: &PerfBenchArgs, workload: &str) -> PerfBenchArgs {
    PerfBenchArgs {
        bench: one_workload(&args.bench, workload),
        record: args.record.clone(),
    }
}

/// The bench options of one workload of a suite.
fn one_workload(bench: &BenchArgs, workload: &str) -> BenchArgs {
    BenchArgs {
        suite: None,
        workload: workload.to_string(),
        ..bench.clone()
    }
}

/// Refuses the `perf-gate` flags that name one workload's files, before a suite runs.
pub(crate) fn check_gate_args(args: &GateArgs) -> Result<()> {
    for (given, flag) in [
        (args.candidate.is_some(), "--candidate"),
        (args.against.is_some(), "--against"),
        (args.baseline.is_some(), "--baseline"),
        (args.policy.is_some(), "--policy"),
    ] {
        if given {
            bail!(
                "--suite: {flag} names one workload's files; gate one workload with --workload instead"
            );
        }
    }
    Ok(())
}

/// One workload's `perf-gate` flags, from the suite's: the workload's own baseline and
/// policy (`perf/baseline_<workload>.json`, `perf/policy_<workload>.json`).
pub(crate) fn gate_args(args: &GateArgs, workload: &str) -> GateArgs {
    GateArgs {
        bench: one_workload(&args.bench, workload),
        record: args.record.clone(),
        candidate: None,
        against: None,
        baseline: None,
        policy: None,
        explain: args.explain,
    }
}

#[cfg(test)]
mod tests;
