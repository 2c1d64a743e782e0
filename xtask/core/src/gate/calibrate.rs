//! Calibration as pure functions: from A/A pairs (the same router on both sides of a paired
//! session), each relative rule's per-pair noise and the smallest change the gate's interval
//! resolves with a number of trials; and the warnings a gate gives when a rule asks for less
//! than the machine can resolve.

use std::collections::BTreeMap;

use crate::gate::evaluate::sample_values;
use crate::gate::stats::{self, SplitMix64};
use crate::model::calibration::{Calibration, Noise};
use crate::model::policy::{Check, Policy};
use crate::model::run_file::RunFile;

/// Subsamples per resolution estimate.
const DRAWS: usize = 200;

/// Noise and resolution of every relative rule's metric in the A/A runs `reference` and
/// `candidate` (paired, sample for sample), at each number of `trials`.
pub fn noise(
    reference: &RunFile,
    candidate: &RunFile,
    policy: &Policy,
    trials: &[u32],
) -> BTreeMap<String, Noise> {
    let confidence = policy.gate.look_confidence();
    let mut out = BTreeMap::new();
    for (metric, rule) in &policy.rules {
        let Check::Relative { max_pct, .. } = rule.check else {
            continue;
        };
        let values = |run| sample_values(run, metric).unwrap_or_default();
        let (base, cand) = (values(reference), values(candidate));
        let Some(ratios) = stats::paired_ratios(base, cand)
            .filter(|r| !r.is_empty() && r.iter().all(|x| x.is_finite()))
        else {
            continue;
        };
        let changes: Vec<f64> = ratios.iter().map(|r| (r - 1.0) * 100.0).collect();
        let mean = changes.iter().sum::<f64>() / changes.len() as f64;
        let var = changes.iter().map(|c| (c - mean).powi(2)).sum::<f64>()
            / (changes.len().max(2) - 1) as f64;
        let (seed, resamples) = (stats::seed_for(metric), policy.gate.bootstrap_resamples);
        let resolve = |n| resolution((base, cand), n, confidence, resamples, seed);
        let resolution_pct = trials.iter().map(|&n| (n, resolve(n))).collect();
        out.insert(
            metric.clone(),
            Noise {
                noise_pct: round2(var.sqrt()),
                threshold_pct: max_pct,
                resolution_pct,
            },
        );
    }
    out
}

/// The mean half-width, in percent, of the gate's paired interval (the ratio of medians,
/// pairs resampled) over `n` pairs drawn from the A/A pairs: the smallest change a gate with
/// `n` trials tells from noise here.
fn resolution(
    (base, cand): (&[f64], &[f64]),
    n: u32,
    confidence: f64,
    resamples: u32,
    seed: u64,
) -> f64 {
    // A single pair has no interval; two draws are the least the bootstrap takes.
    if base.len() == 1 {
        return 0.0;
    }
    let mut rng = SplitMix64::new(seed ^ u64::from(n));
    let n = n.max(2) as usize;
    let total: f64 = (0..DRAWS)
        .map(|d| {
            let picks: Vec<usize> = (0..n).map(|_| rng.below(base.len())).collect();
            let b: Vec<f64> = picks.iter().map(|&i| base[i]).collect();
            let c: Vec<f64> = picks.iter().map(|&i| cand[i]).collect();
            let ci = stats::bootstrap_paired_ratio_of_medians(
                &b,
                &c,
                confidence,
                resamples,
                seed ^ d as u64,
            );
            (ci.hi - ci.lo) * 50.0
        })
        .sum();
    round2(total / DRAWS as f64)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What a gate with `planned` first trials should know from a calibration of this machine:
/// a rule whose threshold is below what even `gate.max_trials` resolves cannot be decided
/// here, and one below what the planned trials resolve will need extra trials.
pub fn warnings(
    policy: &Policy,
    calibration: &Calibration,
    planned: u32,
    source: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (metric, noise) in &calibration.metrics {
        let Some(Check::Relative { max_pct, .. }) = policy.rules.get(metric).map(|r| r.check)
        else {
            continue;
        };
        let at = |n: u32| {
            noise
                .resolution_pct
                .range(..=n)
                .next_back()
                .map(|(k, v)| (*k, *v))
        };
        match (at(policy.gate.max_trials), at(planned)) {
            (Some((n, r)), _) if r >= max_pct => out.push(format!(
                "{metric}: its threshold ({max_pct}%) is below what this machine resolves even \
                 with {n} trials (±{r}%, {source}): expect it to stay inconclusive; run on a \
                 quieter machine, or change the threshold with measurements that say why"
            )),
            (_, Some((n, r))) if r >= max_pct => out.push(format!(
                "{metric}: with {n} trials this machine resolves ±{r}% ({source}), not the \
                 rule's {max_pct}%: expect extra trials"
            )),
            _ => {}
        }
    }
    out
}
