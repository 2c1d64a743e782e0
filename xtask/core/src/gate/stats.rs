//! Small, deterministic statistics for the perf gate: median, MAD, and percentile bootstrap
//! intervals for the ratio of two medians (independent or paired runs). The same inputs and
//! seed always give the same interval, so the same runs always get the same verdict.

use std::collections::BTreeMap;

use crate::model::run_file::{MetricValue, Samples, Spread};
pub use crate::model::workload::SplitMix64;

/// A closed interval `[lo, hi]`, here always of ratios candidate/baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Median of `values`; the mean of the two middle values when the count is even.
/// `None` for an empty slice. Callers pass finite values only.
pub fn median(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| median_in_place(&mut values.to_vec()))
}

/// (max - min) / median of the finite values, in percent with one decimal; 0 when the
/// median is 0 or there are no values.
pub fn spread_pct(values: &[f64]) -> f64 {
    spread(values).map_or(0.0, |s| s.spread_pct)
}

/// `{min, max, spread_pct}` of the finite values; `None` when there are none.
fn spread(values: &[f64]) -> Option<Spread> {
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let m = median(&finite)?;
    let min = finite.iter().copied().reduce(f64::min)?;
    let max = finite.iter().copied().reduce(f64::max)?;
    let spread_pct = if m == 0.0 {
        0.0
    } else {
        ((max - min) / m.abs() * 1000.0).round() / 10.0
    };
    Some(Spread {
        min,
        max,
        spread_pct,
    })
}

/// Median absolute deviation from the median (raw, not scaled to a normal sigma).
pub fn mad(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&deviations)
}

/// MAD as a fraction of the median's magnitude: a unit-free noise figure (0.05 = 5%).
/// `None` when it is undefined (no values, or a median of 0).
pub fn relative_mad(values: &[f64]) -> Option<f64> {
    let m = median(values).filter(|m| *m != 0.0)?;
    Some(mad(values)? / m.abs())
}

/// Median of a non-empty scratch buffer, reordering it.
fn median_in_place(v: &mut [f64]) -> f64 {
    let (odd, mid) = (v.len() % 2 == 1, v.len() / 2);
    let (lower, upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    if odd {
        *upper
    } else {
        // The lower middle is the largest value left of `mid` after selection.
        (lower.iter().copied().fold(f64::NEG_INFINITY, f64::max) + *upper) / 2.0
    }
}

/// Quantile `q` in [0, 1] of an ascending slice, interpolating linearly between order
/// statistics (Hyndman-Fan type 7, the default of R and NumPy).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    match sorted.get(i + 1) {
        // Equal neighbours short-circuit so that two infinite ratios do not give NaN.
        Some(next) if frac > 0.0 && *next != sorted[i] => sorted[i] + frac * (next - sorted[i]),
        _ => sorted[i],
    }
}

/// The seed the gate uses for one metric: a fixed constant mixed with the FNV-1a hash of the
/// metric name, so each metric gets its own stream and reruns are reproducible.
pub fn seed_for(metric: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in metric.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h ^ 0x9E6A_7E5E_ED00_0001
}

/// Fills `out` with a resample (with replacement) of `values` and returns its median.
fn resampled_median(rng: &mut SplitMix64, values: &[f64], out: &mut Vec<f64>) -> f64 {
    out.clear();
    out.extend((0..values.len()).map(|_| values[rng.below(values.len())]));
    median_in_place(out)
}

/// The central `confidence` interval, by the percentile method, of the statistic `round`
/// computes on each of `rounds` resamples, all drawn from one generator seeded with `seed`.
pub(crate) fn bootstrap(
    rounds: u32,
    seed: u64,
    confidence: f64,
    mut round: impl FnMut(&mut SplitMix64) -> f64,
) -> Interval {
    let mut rng = SplitMix64::new(seed);
    let mut stats: Vec<f64> = (0..rounds).map(|_| round(&mut rng)).collect();
    stats.sort_unstable_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    Interval {
        lo: quantile_sorted(&stats, alpha / 2.0),
        hi: quantile_sorted(&stats, 1.0 - alpha / 2.0),
    }
}

/// A bootstrap of median(candidate) / median(baseline): (baseline, candidate, confidence,
/// resamples, seed) to its interval.
pub type RatioBootstrap = fn(&[f64], &[f64], f64, u32, u64) -> Interval;

/// Percentile bootstrap interval for median(candidate) / median(baseline), resampling each
/// side independently `resamples` times. Both slices must be non-empty and finite, and the
/// baseline's values should be positive (a resample whose median is 0 gives an infinite
/// ratio, which only widens the interval).
pub fn bootstrap_ratio_of_medians(
    baseline: &[f64],
    candidate: &[f64],
    confidence: f64,
    resamples: u32,
    seed: u64,
) -> Interval {
    assert!(!baseline.is_empty() && !candidate.is_empty() && resamples > 0);
    let mut scratch = Vec::with_capacity(baseline.len().max(candidate.len()));
    bootstrap(resamples, seed, confidence, |rng| {
        let b = resampled_median(rng, baseline, &mut scratch);
        let c = resampled_median(rng, candidate, &mut scratch);
        ratio(c, b)
    })
}

/// Percentile bootstrap interval for median(candidate) / median(baseline) of a paired run:
/// each round draws `n` pairs with replacement and takes each side's median over the same
/// pairs, so drift shared by a pair stays matched. Both slices: same non-zero length, finite.
pub fn bootstrap_paired_ratio_of_medians(
    baseline: &[f64],
    candidate: &[f64],
    confidence: f64,
    resamples: u32,
    seed: u64,
) -> Interval {
    assert!(!baseline.is_empty() && baseline.len() == candidate.len() && resamples > 0);
    let n = baseline.len();
    let (mut b, mut c) = (Vec::with_capacity(n), Vec::with_capacity(n));
    bootstrap(resamples, seed, confidence, |rng| {
        b.clear();
        c.clear();
        for _ in 0..n {
            let i = rng.below(n);
            b.push(baseline[i]);
            c.push(candidate[i]);
        }
        ratio(median_in_place(&mut c), median_in_place(&mut b))
    })
}

/// Percentile bootstrap interval for the median of `values` (a `judged: "median"` rule's trials).
pub fn bootstrap_median(values: &[f64], confidence: f64, resamples: u32, seed: u64) -> Interval {
    assert!(!values.is_empty() && resamples > 0);
    let mut scratch = Vec::with_capacity(values.len());
    bootstrap(resamples, seed, confidence, |rng| {
        resampled_median(rng, values, &mut scratch)
    })
}

/// Per-pair ratios candidate[i] / baseline[i]; `None` when the counts differ or a baseline
/// value is 0 (the ratio would be undefined).
pub fn paired_ratios(baseline: &[f64], candidate: &[f64]) -> Option<Vec<f64>> {
    if baseline.len() != candidate.len() || baseline.contains(&0.0) {
        return None;
    }
    Some(baseline.iter().zip(candidate).map(|(b, c)| c / b).collect())
}

/// The run file's `metrics`, `samples` and `spread`, each keyed by metric name.
#[derive(Debug, Default)]
pub struct Summary {
    /// The median per metric; null when a value is missing or not finite.
    pub metrics: BTreeMap<String, MetricValue>,
    /// Every value per metric, a non-finite one as null.
    pub samples: BTreeMap<String, Samples>,
    /// `{min, max, spread_pct}` of the finite values per metric (absent when there are none).
    pub spread: BTreeMap<String, Spread>,
}

impl Summary {
    /// Adds another summary's metrics (counted separately from the trials).
    pub fn extend(&mut self, other: Summary) {
        self.metrics.extend(other.metrics);
        self.samples.extend(other.samples);
        self.spread.extend(other.spread);
    }
}

/// Summarises per-trial (or per-sample) values as a run file records them. A metric with
/// fewer than `expected` values, or a NaN among them, gets a null median: the gate must see
/// that it is unusable rather than judge a median of what happened to be there.
pub fn summarize(values: &BTreeMap<String, Vec<f64>>, expected: usize) -> Summary {
    let mut out = Summary::default();
    for (name, vals) in values {
        let finite: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
        let complete = finite.len() == vals.len() && vals.len() == expected;
        let med = median(&finite).filter(|_| complete).unwrap_or(f64::NAN);
        out.metrics.insert(name.clone(), MetricValue::from(med));
        // A NaN (nothing measured in that trial) is written as null in its place.
        out.samples
            .insert(name.clone(), Samples::Values(vals.clone()));
        if let Some(spread) = spread(vals) {
            out.spread.insert(name.clone(), spread);
        }
    }
    out
}

/// `c / b`, with 0/0 read as "no change" so that a resample of zeros does not give NaN.
fn ratio(c: f64, b: f64) -> f64 {
    if b == 0.0 && c == 0.0 {
        1.0
    } else if b == 0.0 {
        f64::INFINITY
    } else {
        c / b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_ratio_of_medians_sees_a_shift_through_shared_drift() {
        // Drift of ±30% between pairs, hitting both runs of a pair; the candidate is 10%
        // slower with 1% noise of its own.
        let base = [100.0, 130.0, 70.0, 115.0, 85.0, 120.0, 95.0];
        let noise = [1.0, 0.99, 1.01, 1.005, 0.995, 1.0, 1.01];
        let cand: Vec<f64> = base.iter().zip(noise).map(|(b, e)| b * 1.1 * e).collect();
        let ci = bootstrap_paired_ratio_of_medians(&base, &cand, 0.95, 2000, 5);
        assert!(ci.lo > 1.08 && ci.hi < 1.12, "{ci:?}");
        let point = median(&cand).unwrap() / median(&base).unwrap();
        assert!(ci.contains(point), "{ci:?} {point}");
        // Independent resampling sees the drift, not the shift.
        let indep = bootstrap_ratio_of_medians(&base, &cand, 0.95, 2000, 5);
        assert!(indep.contains(1.0), "{indep:?}");
        assert_eq!(
            ci,
            bootstrap_paired_ratio_of_medians(&base, &cand, 0.95, 2000, 5)
        );
    }
}
