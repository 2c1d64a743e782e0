//! Small, deterministic statistics for the perf gate: median, MAD, and percentile bootstrap
//! confidence intervals for the ratio of two medians (independent runs) or for the median of
//! per-pair ratios (paired runs). No IO, no global state: the same inputs and seed always give
//! the same interval, so the same runs always get the same verdict.

use std::collections::BTreeMap;

use crate::model::run_file::{MetricValue, Samples, Spread};

/// A closed interval `[lo, hi]`, here always of ratios candidate/baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    #[cfg(test)]
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Median of `values`; the mean of the two middle values when the count is even.
/// `None` for an empty slice. Callers pass finite values only.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    Some(median_in_place(&mut v))
}

/// (max - min) / median of the finite values, in percent with one decimal; 0 when the
/// median is 0 or there are no values.
pub fn spread_pct(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let (Some(m), Some(lo), Some(hi)) = (
        median(&finite),
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) else {
        return 0.0;
    };
    if m == 0.0 {
        0.0
    } else {
        ((hi - lo) / m.abs() * 1000.0).round() / 10.0
    }
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
    let m = median(values)?;
    if m == 0.0 {
        return None;
    }
    Some(mad(values)? / m.abs())
}

/// Median of a non-empty scratch buffer, reordering it.
fn median_in_place(v: &mut [f64]) -> f64 {
    debug_assert!(!v.is_empty());
    let n = v.len();
    let mid = n / 2;
    let (_, upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        // The lower middle is the largest value left of `mid` after selection.
        let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
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

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to drive resampling.
/// Kept here instead of a `rand` dependency so xtask stays light and results never change
/// with a crate upgrade.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n` (multiply-shift; the bias is below 2^-50 for our n).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform float in [0, 1).
    #[cfg(test)]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
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

/// The central `confidence` interval of `stats` (sorted in place) by the percentile method.
fn percentile_interval(stats: &mut [f64], confidence: f64) -> Interval {
    stats.sort_unstable_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    Interval {
        lo: quantile_sorted(stats, alpha / 2.0),
        hi: quantile_sorted(stats, 1.0 - alpha / 2.0),
    }
}

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
    let mut rng = SplitMix64::new(seed);
    let mut scratch = Vec::with_capacity(baseline.len().max(candidate.len()));
    let mut ratios: Vec<f64> = (0..resamples)
        .map(|_| {
            let b = resampled_median(&mut rng, baseline, &mut scratch);
            let c = resampled_median(&mut rng, candidate, &mut scratch);
            ratio(c, b)
        })
        .collect();
    percentile_interval(&mut ratios, confidence)
}

/// Percentile bootstrap interval for the median of `values` (used on per-pair ratios).
pub fn bootstrap_median(values: &[f64], confidence: f64, resamples: u32, seed: u64) -> Interval {
    assert!(!values.is_empty() && resamples > 0);
    let mut rng = SplitMix64::new(seed);
    let mut scratch = Vec::with_capacity(values.len());
    let mut medians: Vec<f64> = (0..resamples)
        .map(|_| resampled_median(&mut rng, values, &mut scratch))
        .collect();
    percentile_interval(&mut medians, confidence)
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
        let med = if finite.len() == vals.len() && vals.len() == expected {
            median(&finite)
        } else {
            None
        };
        out.metrics
            .insert(name.clone(), MetricValue::from(med.unwrap_or(f64::NAN)));
        // A NaN (nothing measured in that trial) is written as null in its place.
        out.samples
            .insert(name.clone(), Samples::Values(vals.clone()));
        if let (Some(min), Some(max)) = (
            finite.iter().copied().reduce(f64::min),
            finite.iter().copied().reduce(f64::max),
        ) {
            out.spread.insert(
                name.clone(),
                Spread {
                    min,
                    max,
                    spread_pct: spread_pct(&finite),
                },
            );
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

    const CONF: f64 = 0.95;
    const RESAMPLES: u32 = 2000;

    /// `n` values around `center` with multiplicative noise of relative standard deviation
    /// `noise` (uniform, so the spread is bounded and the tests are stable).
    fn noisy(rng: &mut SplitMix64, n: usize, center: f64, noise: f64) -> Vec<f64> {
        // A uniform on [-a, a] has standard deviation a / sqrt(3).
        let a = noise * 3f64.sqrt();
        (0..n)
            .map(|_| center * (1.0 + a * (2.0 * rng.unit() - 1.0)))
            .collect()
    }

    #[test]
    fn spread_is_range_over_median() {
        assert_eq!(spread_pct(&[90.0, 100.0, 110.0]), 20.0);
        assert_eq!(spread_pct(&[0.0, 0.0]), 0.0);
        assert_eq!(spread_pct(&[]), 0.0);
        assert_eq!(spread_pct(&[100.0, f64::NAN, 110.0]), 9.5);
    }

    #[test]
    fn median_and_mad_on_known_inputs() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), Some(2.0));
        // Deviations from 2: 1 1 0 0 2 4 7 -> median 1.
        assert_eq!(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), Some(1.0));
        assert_eq!(mad(&[7.0, 7.0, 7.0]), Some(0.0));
        assert_eq!(relative_mad(&[90.0, 100.0, 110.0]), Some(0.1));
        assert_eq!(relative_mad(&[0.0, 0.0, 1.0]), None);
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, 0.5), 3.0);
        assert_eq!(quantile_sorted(&s, 1.0), 5.0);
        assert!((quantile_sorted(&s, 0.1) - 1.4).abs() < 1e-12);
        let inf = [1.0, f64::INFINITY, f64::INFINITY];
        assert_eq!(quantile_sorted(&inf, 0.9), f64::INFINITY);
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(7) < 7);
            b.below(7);
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            b.unit();
        }
        assert_ne!(seed_for("rps"), seed_for("latency_p95_ms"));
    }

    #[test]
    fn bootstrap_is_deterministic() {
        let mut rng = SplitMix64::new(1);
        let base = noisy(&mut rng, 7, 100.0, 0.05);
        let cand = noisy(&mut rng, 7, 103.0, 0.05);
        let a = bootstrap_ratio_of_medians(&base, &cand, CONF, RESAMPLES, seed_for("rps"));
        let b = bootstrap_ratio_of_medians(&base, &cand, CONF, RESAMPLES, seed_for("rps"));
        assert_eq!(a, b);
        let pa = bootstrap_median(&cand, CONF, RESAMPLES, 9);
        assert_eq!(pa, bootstrap_median(&cand, CONF, RESAMPLES, 9));
        assert!(a.lo <= a.hi);
    }

    #[test]
    fn interval_covers_the_truth_on_a_clear_case() {
        let base = [99.0, 100.0, 101.0, 100.5, 99.5];
        let cand = [119.0, 120.0, 121.0, 120.5, 119.5];
        let ci = bootstrap_ratio_of_medians(&base, &cand, CONF, RESAMPLES, 3);
        assert!(ci.contains(1.2), "{ci:?}");
        assert!(ci.lo > 1.15 && ci.hi < 1.25, "{ci:?}");
    }

    #[test]
    fn shifted_by_30_percent_with_5_percent_noise_is_a_confident_regression() {
        let mut rng = SplitMix64::new(7);
        let base = noisy(&mut rng, 10, 100.0, 0.05);
        let cand = noisy(&mut rng, 10, 130.0, 0.05);
        let ci = bootstrap_ratio_of_medians(&base, &cand, CONF, RESAMPLES, seed_for("m"));
        // Beyond a +15% threshold with confidence (whether one draw's interval contains the
        // true 1.3 is chance: coverage is checked over many draws below).
        assert!(ci.lo > 1.15, "{ci:?}");
        assert!(ci.hi < 1.6, "{ci:?}");
    }

    #[test]
    fn a_a_with_5_percent_noise_is_not_a_regression() {
        let mut rng = SplitMix64::new(11);
        let base = noisy(&mut rng, 10, 100.0, 0.05);
        let cand = noisy(&mut rng, 10, 100.0, 0.05);
        let ci = bootstrap_ratio_of_medians(&base, &cand, CONF, RESAMPLES, seed_for("m"));
        assert!(ci.contains(1.0), "{ci:?}");
        // Confidently within a +15% threshold: the gate passes it.
        assert!(ci.hi < 1.15, "{ci:?}");
    }

    #[test]
    fn a_a_intervals_mostly_cover_no_change() {
        // Coverage check over many synthetic A/A experiments: a 95% interval should contain
        // 1.0 in most of them (the percentile bootstrap of a median is a little liberal at
        // small n, so the bar is set below 95%).
        let mut rng = SplitMix64::new(2024);
        let trials = 200;
        let covered = (0..trials)
            .filter(|i| {
                let base = noisy(&mut rng, 10, 50.0, 0.05);
                let cand = noisy(&mut rng, 10, 50.0, 0.05);
                bootstrap_ratio_of_medians(&base, &cand, CONF, 500, *i).contains(1.0)
            })
            .count();
        assert!(
            covered * 100 >= trials as usize * 85,
            "covered {covered}/{trials}"
        );
    }

    #[test]
    fn a_zero_in_the_baseline_samples_widens_but_does_not_break_the_interval() {
        let ci = bootstrap_ratio_of_medians(&[0.0, 0.0, 1.0], &[1.0, 1.0, 1.0], CONF, 500, 1);
        assert!(!ci.lo.is_nan() && !ci.hi.is_nan(), "{ci:?}");
        assert_eq!(ci.hi, f64::INFINITY);
    }

    #[test]
    fn paired_ratios_need_equal_counts_and_nonzero_baseline() {
        assert_eq!(
            paired_ratios(&[1.0, 2.0], &[2.0, 3.0]),
            Some(vec![2.0, 1.5])
        );
        assert_eq!(paired_ratios(&[1.0], &[2.0, 3.0]), None);
        assert_eq!(paired_ratios(&[0.0, 2.0], &[2.0, 3.0]), None);
    }

    #[test]
    fn paired_bootstrap_sees_a_shift_through_shared_drift() {
        // Both sides drift together across pairs (a noisy box); the per-pair ratio is stable.
        let drift = [1.0, 1.3, 0.8, 1.1, 0.9, 1.25, 0.85];
        let base: Vec<f64> = drift.iter().map(|d| 100.0 * d).collect();
        let cand: Vec<f64> = drift.iter().map(|d| 120.0 * d * 1.01).collect();
        let ratios = paired_ratios(&base, &cand).unwrap();
        let ci = bootstrap_median(&ratios, CONF, RESAMPLES, 5);
        assert!(ci.lo > 1.15, "{ci:?}");
        // Independent resampling cannot see it through the drift.
        let indep = bootstrap_ratio_of_medians(&base, &cand, CONF, RESAMPLES, 5);
        assert!(indep.lo < 1.15, "{indep:?}");
    }
}
