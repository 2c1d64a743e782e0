//! Unit tests of `crate::bench::scenario::scaling`.

use crate::bench::scenario::scaling::*;

#[test]
fn the_largest_step_to_step_increase() {
    assert!((max_increase_pct(&[1.0, 1.1, 1.21]) - 10.0).abs() < 1e-9);
    assert!((max_increase_pct(&[1.0, 1.5, 1.2]) - 50.0).abs() < 1e-9);
    assert!((max_increase_pct(&[2.0, 1.0]) + 50.0).abs() < 1e-9);
    assert!(max_increase_pct(&[0.0, 1.0]).is_nan());
    assert!(max_increase_pct(&[1.0, f64::NAN]).is_nan());
}
