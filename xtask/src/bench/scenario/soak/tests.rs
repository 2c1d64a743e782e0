//! Unit tests of `crate::bench::scenario::soak`.

use crate::bench::scenario::soak::*;

/// `n` samples one second apart of `f(t)`, with a deterministic noise of up to
/// `noise_mb` either way (a small linear congruential generator).
fn series(n: usize, noise_mb: f64, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64; // 0..1
            let t = i as f64;
            (t, f(t) + noise_mb * (2.0 * unit - 1.0))
        })
        .collect()
}

#[test]
fn linear_fit_recovers_a_line_and_refuses_degenerate_input() {
    let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 + 0.5 * i as f64)).collect();
    let (slope, intercept) = linear_fit(&pts).unwrap();
    assert!((slope - 0.5).abs() < 1e-12 && (intercept - 3.0).abs() < 1e-12);
    assert_eq!(linear_fit(&[(1.0, 2.0)]), None);
    assert_eq!(linear_fit(&[(1.0, 2.0), (1.0, 3.0)]), None);
    assert_eq!(linear_fit(&[(0.0, 2.0), (1.0, f64::NAN)]), None);
}

#[test]
fn flat_noisy_series_has_no_slope_and_is_not_superlinear() {
    // 40 MB give or take 0.5 MB (allocator pages come and go) over two minutes.
    let g = growth(&series(110, 0.5, |_| 40.0)).unwrap();
    assert!(g.slope.abs() < 0.01, "{g:?}");
    assert!(!g.superlinear, "{g:?}");
}

#[test]
fn linear_leak_is_its_slope_and_not_superlinear() {
    let g = growth(&series(110, 0.5, |t| 40.0 + 1.0 * t)).unwrap();
    assert!((g.slope - 1.0).abs() < 0.01, "{g:?}");
    assert!((g.early_slope - 1.0).abs() < 0.05 && (g.late_slope - 1.0).abs() < 0.05);
    assert!(!g.superlinear, "{g:?}");
    // A slow leak under the target is measured as such, not rounded away.
    let slow = growth(&series(110, 0.2, |t| 40.0 + 0.05 * t)).unwrap();
    assert!((slow.slope - 0.05).abs() < 0.005, "{slow:?}");
    assert!(!slow.superlinear, "{slow:?}");
}

#[test]
fn quadratic_growth_is_superlinear() {
    // 0.01 t² MB: 0.2 MB/s at 10 s, 2.2 MB/s at 110 s; the late slope is about 3x.
    let g = growth(&series(110, 0.5, |t| 40.0 + 0.01 * t * t)).unwrap();
    assert!(g.superlinear, "{g:?}");
    assert!(
        g.late_slope > 2.5 * g.early_slope && g.early_slope > 0.0,
        "{g:?}"
    );
    // The same shape, too small to matter: under the floor, not flagged.
    let tiny = growth(&series(110, 0.05, |t| 40.0 + 0.0002 * t * t)).unwrap();
    assert!(!tiny.superlinear, "{tiny:?}");
}

#[test]
fn growth_after_a_flat_start_is_superlinear() {
    // Flat, then leaking from the middle on: the early half says nothing, the late
    // half grows at 0.5 MB/s.
    let g = growth(&series(100, 0.1, |t| 40.0 + 0.5 * (t - 50.0).max(0.0))).unwrap();
    assert!(g.superlinear, "{g:?}");
}

#[test]
fn too_few_points_give_no_fit() {
    assert_eq!(growth(&series(MIN_FIT_SAMPLES - 1, 0.0, |t| t)), None);
    assert!(growth(&series(MIN_FIT_SAMPLES, 0.0, |t| t)).is_some());
    assert_eq!(growth(&[]), None);
}

#[test]
fn sticky_capacity_reads_the_last_flag_or_the_default() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(sticky_capacity(&args(&[])), ROUTER_DEFAULT_STICKY_CAPACITY);
    assert_eq!(sticky_capacity(&args(&["--sticky-capacity=4096"])), 4096.0);
    assert_eq!(
        sticky_capacity(&args(&[
            "--sticky-capacity",
            "64",
            "--max-inflight=8",
            "--sticky-capacity=128"
        ])),
        128.0
    );
    assert_eq!(
        sticky_capacity(&args(&["--sticky-capacity-x=5"])),
        ROUTER_DEFAULT_STICKY_CAPACITY
    );
}

#[test]
fn params_need_enough_samples_after_the_warm_up() {
    let at = |f: &str| format!("field `scenario.soak.{f}`");
    let p = Params {
        duration_ms: 3000,
        rate: 100,
        connections: 2,
        sample_ms: 250,
        warmup_ms: 500,
    };
    p.validate(&at).unwrap();
    let err = Params {
        warmup_ms: 2000,
        ..p.clone()
    }
    .validate(&at)
    .unwrap_err();
    assert!(
        format!("{err}").contains("scenario.soak.warmup_ms"),
        "{err}"
    );
    let err = Params { rate: 0, ..p }.validate(&at).unwrap_err();
    assert!(format!("{err}").contains("scenario.soak.rate"), "{err}");
}
