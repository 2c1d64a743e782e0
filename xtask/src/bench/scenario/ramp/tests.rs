//! Unit tests of `crate::bench::scenario::ramp`.

use crate::bench::scenario::ramp::*;

fn step(pct: u32, success_rate: f64, p99_ms: f64) -> Step {
    Step {
        pct,
        rate: f64::from(pct) * 100.0,
        success_rate,
        p99_ms,
    }
}

#[test]
fn the_knee_is_the_first_step_over_the_bound() {
    let steps = [
        step(10, 1.0, 0.2),
        step(50, 0.99, 0.4),
        step(80, 0.95, 3.0),
        step(100, 0.91, 9.0),
    ];
    let s = summarize(&steps, 2.0);
    assert_eq!(s.knee.map(|k| k.pct), Some(80));
    assert_eq!(s.min_success_rate, 0.91);
    assert_eq!(summarize(&steps, 10.0).knee, None);
}

#[test]
fn a_step_without_responses_is_a_failure_and_a_knee() {
    let steps = [step(10, 1.0, 0.2), step(20, f64::NAN, f64::NAN)];
    let s = summarize(&steps, 2.0);
    assert_eq!(s.min_success_rate, 0.0);
    assert_eq!(s.knee.map(|k| k.pct), Some(20));
}

#[test]
fn steps_must_rise() {
    let at = |f: &str| format!("field `scenario.ramp.{f}`");
    let mut p = Params {
        capacity_ms: 1000,
        capacity_connections: 16,
        steps_pct: vec![10, 50, 50],
        step_ms: 1000,
        connections: 8,
        p99_bound_ms: 2.0,
    };
    let err = p.validate(&at).unwrap_err().to_string();
    assert!(err.contains("scenario.ramp.steps_pct[2]"), "{err}");
    p.steps_pct = vec![10, 50, 100];
    p.validate(&at).unwrap();
}
