//! Unit tests of `xtask::report::html`.

use hdrhistogram::Histogram;

use xtask::report::html::*;

#[test]
fn thresholds_follow_the_rule() {
    let row =
        serde_json::json!({"baseline": 100.0, "rule_kind": "max_pct_increase", "threshold": 15.0});
    let above = threshold(&row).fail_above.unwrap();
    assert!((above - 115.0).abs() < 1e-9, "{above}");
    let row =
        serde_json::json!({"baseline": 100.0, "rule_kind": "max_pct_decrease", "threshold": 10.0});
    let below = threshold(&row).fail_below.unwrap();
    assert!((below - 90.0).abs() < 1e-9, "{below}");
    let row = serde_json::json!({"rule_kind": "absolute", "threshold": {"equals": 0.0}});
    let t = threshold(&row);
    assert_eq!((t.fail_above, t.fail_below), (Some(0.0), Some(0.0)));
}

#[test]
fn curve_has_fixed_points_and_rises() {
    let mut h = Histogram::<u64>::new(3).unwrap();
    for v in 1..=10_000u64 {
        h.record(v * 1000).unwrap();
    }
    let c = curve(&h, 1e-6);
    assert_eq!(c.len(), CURVE_POINTS);
    assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
    assert!((c[100].1 - 9.9).abs() < 0.1, "p99 {:?}", c[100]);
}
