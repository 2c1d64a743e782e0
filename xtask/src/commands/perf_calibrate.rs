//! `cargo xtask perf-calibrate`: A/A pairs on this machine (the working tree's router on both
//! sides of a paired session, exactly as the gate runs them), then each relative rule's noise
//! and the smallest change the gate resolves with the planned trials and with the most it
//! may add. The gate reads `perf/calibration_<workload>.json` (`--write`) and warns about a
//! rule this machine cannot resolve.

use std::fmt::Write as _;

use anyhow::Result;

use crate::bench::session::{DEFAULT_TRIALS, Pairing, Plan, Session};
use crate::flags::CalibrateArgs;
use crate::model::calibration::{self, Calibration};
use crate::model::{artifacts, paths, policy};

/// A/A pairs when `--trials` does not say.
pub(crate) const DEFAULT_PAIRS: u32 = 10;

pub fn run(args: &CalibrateArgs) -> Result<u8> {
    crate::bench::components::refuse_calibrate(&args.bench.workload)?;
    let inputs = super::inputs(&args.bench, &None, &args.policy)?;
    let (workload, dir) = (&inputs.workload, &inputs.artifacts);
    let policy = policy::load(&inputs.policy)?;
    let pairs = args.bench.trials.unwrap_or(DEFAULT_PAIRS);
    let mut bench = args.bench.clone();
    bench.trials = Some(pairs);
    let plan = Plan::new(&bench)?;
    let planned = plan.workload.trials.unwrap_or(DEFAULT_TRIALS);
    let sh = crate::bench::env_info::root_shell()?;
    // One binary on both sides: whatever differs between them is the machine.
    let pairing = Pairing {
        against: "itself (A/A)".into(),
        commit: crate::bench::env_info::git(&sh).commit.unwrap_or_default(),
        reference_bin: bench
            .router_bin
            .clone()
            .unwrap_or_else(|| paths::target_dir().join("release").join("router")),
    };
    eprintln!(
        "perf-calibrate: {pairs} A/A pairs of workload {workload}, the working tree's router on both sides"
    );
    let mut session = Session::open(&bench, plan, Some(pairing))?;
    session.trials(pairs);
    // A few counting runs, so that the count's spread is measured too.
    session.count(bench.counting_runs.max(3), None);
    let outcomes = session.finish()?;
    super::show(&outcomes)?;
    if let Some(failed) = outcomes.iter().find(|o| o.failed) {
        return Err(crate::exit::BenchFailed(format!(
            "the benchmark failed (see {}): nothing calibrated",
            failed.artifact.display()
        ))
        .into());
    }
    let (reference, candidate) = (&outcomes[0].run, &outcomes[1].run);
    let trials = [planned, policy.gate.max_trials];
    let calibration = Calibration {
        schema_version: calibration::SCHEMA_VERSION,
        workload: workload.clone(),
        timestamp: artifacts::now_rfc3339(),
        commit: candidate.git.commit.clone(),
        pairs,
        env: candidate.env.clone(),
        metrics: crate::gate::calibrate::noise(reference, candidate, &policy, &trials),
    };
    print!("{}", table(&calibration, trials));
    let stamp = artifacts::claim(dir, &[("perf_calibration", "json")])?;
    let text = artifacts::pretty_json(&calibration, "the calibration")?;
    let written = dir.join(format!("perf_calibration_{stamp}.json"));
    artifacts::write_atomic(&written, &text)?;
    eprintln!("perf-calibrate: wrote {}", written.display());
    if args.write {
        let path = calibration::path_for(&inputs.root, workload);
        artifacts::write_atomic(&path, &text)?;
        eprintln!(
            "perf-calibrate: wrote {} (the gate reads it)",
            path.display()
        );
    }
    Ok(crate::exit::OK)
}

/// The calibration as a table: each rule's threshold, its noise, and what the planned and
/// the most trials resolve.
fn table(calibration: &Calibration, trials: [u32; 2]) -> String {
    let mut out = String::new();
    let [a, b] = trials.map(|t| format!("at {t} trials"));
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>9} {a:>16} {b:>16}",
        "metric", "rule", "noise"
    );
    for (metric, n) in &calibration.metrics {
        let at = |t: u32| {
            n.resolution_pct
                .get(&t)
                .map_or("-".into(), |r| format!("±{r}%"))
        };
        // Not even the most trials resolve the rule's threshold.
        let verdict = match n.resolution_pct.get(&trials[1]) {
            Some(r) if *r >= n.threshold_pct => "  below the noise",
            _ => "",
        };
        let ([a, b], rule, noise) = (trials.map(at), n.threshold_pct, n.noise_pct);
        let _ = writeln!(
            out,
            "{metric:<22} {rule:>8}% {noise:>8}% {a:>16} {b:>16}{verdict}"
        );
    }
    out
}
