//! `cargo xtask perf-gate`: judge a candidate run against the baseline under the policy, print
//! the table and verdict, and write the gate artifacts (log, verdict JSON, Markdown summary,
//! JUnit XML, HTML report) before exiting.
//!
//! Without `--candidate` it measures first, and decides how before anything runs: against
//! the stored baseline when this machine matches the baseline's environment, else (or when
//! the policy says `always_paired`, or with `--against REF`) paired with the baseline's (or
//! REF's) router in one session. While a relative rule is inconclusive it adds trials, at
//! most `gate.looks` times, within `gate.max_trials` and `gate.time_budget_s`.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::flags::GateArgs;
use crate::model::metric::{SYSCALLS_PER_REQ, syscall_of};
use crate::model::policy::{self, Policy};

mod input;
mod judge;
mod measure;
mod mode;

use input::{Input, baseline_for, load_baseline};
use judge::judge;
use measure::measure;
use mode::choose_mode;

/// Runs the gate and returns its exit code (0 pass, 1 regression, 3 benchmark failed).
/// Bad inputs are an `Err` (exit 2), after the artifacts that record them are written.
pub fn run(args: &GateArgs) -> Result<u8> {
    crate::report::publish::check(&args.record, true)?;
    let inputs = super::inputs(&args.bench, &args.baseline, &args.policy)?;
    // The policy and a stored baseline are read first: a bad one is exit 2 before anything
    // runs (its artifacts say why). A candidate file is read once: it may be a pipe.
    let (judged, measured) = match (&args.against, &args.candidate) {
        (Some(_), Some(_)) => bail!(
            "--against and --candidate do not go together: --against runs both routers itself"
        ),
        (None, Some(path)) => {
            let judged = Input::load(path).and_then(|candidate| {
                let baseline = baseline_for(&candidate, args.baseline.is_some(), &inputs.baseline)?;
                Ok((baseline, candidate, policy::load(&inputs.policy)?))
            });
            (judged, Default::default())
        }
        (against, None) => {
            let loaded = policy::load(&inputs.policy).and_then(|policy| {
                needs_strace(&policy, &inputs.policy)?;
                let stored = against.is_none().then(|| load_baseline(&inputs.baseline));
                Ok((policy, stored.transpose()?))
            });
            match loaded {
                Err(e) => (Err(e), Default::default()),
                Ok((policy, stored)) => {
                    let against =
                        choose_mode(&args.bench, against.as_deref(), stored.as_ref(), &policy)?;
                    let m = measure(&args.bench, against, stored, &policy, args.explain)?;
                    (Ok((m.baseline, m.candidate, policy)), (m.why, m.notes))
                }
            }
        }
    };
    judge(args, &inputs, judged, measured)
}

/// A policy that gates system calls needs strace to count them: without it, bad input
/// naming the rule and how to install it (not a run whose rule then finds nothing).
fn needs_strace(policy: &Policy, path: &Path) -> Result<()> {
    if let Some(metric) = policy
        .rules
        .keys()
        .find(|m| m.as_str() == SYSCALLS_PER_REQ || syscall_of(m).is_some())
    {
        crate::bench::syscalls::strace_path().with_context(|| {
            format!(
                "{}: rules.{metric} counts system calls with strace",
                path.display()
            )
        })?;
    }
    Ok(())
}
