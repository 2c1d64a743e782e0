//! How the gate measures, decided before anything runs: paired with a reference router, or
//! against the stored baseline.

use anyhow::{Context as _, Result};

use super::input::Input;
use crate::flags::BenchArgs;
use crate::gate::evaluate::env_differences;
use crate::model::policy::{EnvMismatch, Policy};
use crate::model::run_file::{ENV_FIELDS, short_commit};

/// Decides, before anything runs, whether the gate pairs the working tree with a reference
/// router (returns the ref) or compares it with the stored baseline (returns `None`), and
/// says which and why.
pub(super) fn choose_mode(
    bench: &BenchArgs,
    against: Option<&str>,
    stored: Option<&Input>,
    policy: &Policy,
) -> Result<Option<String>> {
    let components = bench.workload == crate::model::suite::COMPONENTS;
    if components {
        // The components are judged on counts alone: without callgrind nothing can decide,
        // and the gate says so before building anything.
        crate::bench::counters::valgrind_version()
            .context("the components gate counts instructions per operation under callgrind")?;
    }
    if let Some(against) = against {
        eprintln!("perf-gate: paired mode against {against} (--against)");
        return Ok(Some(against.to_string()));
    }
    let stored = stored.expect("a stored baseline without --against");
    if components {
        return components_mode(stored).map(Some);
    }
    let sh = xshell::Shell::new().context("creating a shell")?;
    let here = crate::bench::env_info::machine(&sh, serde_json::Map::new());
    let differs: Vec<String> = (env_differences(&stored.run.env, &here).iter())
        .map(ToString::to_string)
        .collect();
    let gate = &policy.gate;
    let why = if gate.always_paired {
        Some("the policy pairs every run (gate.always_paired: wall-clock numbers from another session do not compare on a shared VM)".to_string())
    } else if !differs.is_empty() && gate.env_mismatch == EnvMismatch::Paired {
        Some(format!(
            "this machine differs from the baseline's ({})",
            differs.join(", ")
        ))
    } else {
        None
    };
    match (why, stored.run.git.commit.as_deref()) {
        (Some(why), Some(commit)) => {
            let also = if gate.always_paired && !differs.is_empty() {
                format!("; the environment differs too ({})", differs.join(", "))
            } else {
                String::new()
            };
            eprintln!(
                "perf-gate: paired mode against the baseline's commit {}: {why}{also}",
                short_commit(commit)
            );
            Ok(Some(commit.to_string()))
        }
        (Some(why), _) => {
            eprintln!(
                "perf-gate: against the stored baseline {}, although {why}: it cannot be paired \
                 (no commit recorded, or an in-process workload)",
                stored.path.display()
            );
            Ok(None)
        }
        (None, _) => {
            eprintln!(
                "perf-gate: against the stored baseline {}: this machine matches its environment ({})",
                stored.path.display(),
                ENV_FIELDS.join(", ")
            );
            Ok(None)
        }
    }
}

/// The components gate's mode: always paired with the stored baseline's commit, counted on
/// this machine (a stored count from another session or machine is never the reference).
fn components_mode(stored: &Input) -> Result<String> {
    let commit = stored.run.git.commit.as_deref().with_context(|| {
        format!(
            "{}: field `git.commit`: the components baseline records no commit, and the \
             component counts are only compared with the baseline commit's, counted here; \
             record one with `cargo xtask perf-baseline-bump`",
            stored.path.display()
        )
    })?;
    eprintln!(
        "perf-gate: paired mode against the baseline's commit {}: the component benchmarks \
         are counted (instructions per operation under callgrind) for both commits on this \
         machine; their wall-clock ns are information only",
        short_commit(commit)
    );
    Ok(commit.to_string())
}
