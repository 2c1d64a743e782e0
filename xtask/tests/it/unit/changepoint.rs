//! Unit tests of `xtask::gate::changepoint`.
//! Tests of its private helpers (`pair_sums`, `normal_cdf`) stay in its `#[cfg(test)]` module.

use xtask::gate::changepoint::*;
use xtask::gate::stats::SplitMix64;

/// `level(i) * (1 + 5% noise)`, Gaussian noise from a fixed seed.
fn series(n: usize, seed: u64, level: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| level(i) * (1.0 + 0.05 * rng.normal()))
        .collect()
}

#[test]
fn a_20_pct_step_in_5_pct_noise_is_found_at_its_index() {
    for (seed, at) in [(1, 30), (2, 12), (3, 47), (4, 25)] {
        let s = series(60, seed, |i| if i < at { 100.0 } else { 120.0 });
        let a = analyze(&s, &Params::default());
        // The largest move is the step; a noise fluke that a 1% test may still flag
        // (seed 1 has one) is far smaller.
        let mut cps = a.change_points.clone();
        cps.sort_by(|x, y| {
            let size = |c: &ChangePoint| (c.mean_after - c.mean_before).abs();
            size(y).total_cmp(&size(x))
        });
        let cp = &cps[0];
        assert!(cp.index.abs_diff(at) <= 1, "seed {seed}: {cp:?} vs {at}");
        for other in &cps[1..] {
            assert!(
                other.change_pct().unwrap().abs() < 10.0,
                "seed {seed}: {a:?}"
            );
        }
        assert!(cp.p_value <= 0.01);
        let pct = cp.change_pct().unwrap();
        assert!((12.0..28.0).contains(&pct), "{pct}");
        // A step is a step, not a drift.
        assert_eq!(a.drift, None, "seed {seed}");
    }
}

#[test]
fn a_flat_noisy_series_has_no_change_point_and_no_drift() {
    for seed in 10..20 {
        let s = series(60, seed, |_| 100.0);
        let a = analyze(&s, &Params::default());
        assert_eq!(a, Analysis::default(), "seed {seed}");
    }
}

#[test]
fn many_small_steps_are_reported_as_drift() {
    // +3% every 3 runs, each step well inside the 5% noise.
    for seed in 30..35 {
        let s = series(60, seed, |i| 100.0 * 1.03f64.powi((i / 3) as i32));
        let a = analyze(&s, &Params::default());
        let d = a
            .drift
            .as_ref()
            .unwrap_or_else(|| panic!("seed {seed}: {a:?}"));
        assert!(d.slope_per_run > 0.0);
        assert!(d.total_pct.unwrap() > 30.0, "{d:?}");
    }
}

#[test]
fn two_steps_are_two_change_points() {
    let s = series(90, 7, |i| match i {
        0..30 => 100.0,
        30..60 => 130.0,
        _ => 100.0,
    });
    let idx: Vec<usize> = e_divisive(&s, &Params::default())
        .iter()
        .map(|c| c.index)
        .collect();
    assert_eq!(idx.len(), 2, "{idx:?}");
    assert!(
        idx[0].abs_diff(30) <= 1 && idx[1].abs_diff(60) <= 1,
        "{idx:?}"
    );
}

#[test]
fn short_or_broken_series_yield_nothing() {
    let p = Params::default();
    assert!(e_divisive(&[1.0, 2.0, 3.0], &p).is_empty());
    assert!(e_divisive(&[], &p).is_empty());
    let mut s = series(30, 1, |_| 1.0);
    s[4] = f64::NAN;
    assert_eq!(analyze(&s, &p), Analysis::default());
    assert_eq!(drift(&[5.0; 10], &[], 0.01), None);
    assert_eq!(drift(&[1.0, 2.0, 3.0], &[], 0.5), None);
}
