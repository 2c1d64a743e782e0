//! Unit tests of `xtask::gate::stats`.

use xtask::gate::stats::*;

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
