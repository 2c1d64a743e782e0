//! Unit tests of `crate::bench::scenario::burst`.

use hdrhistogram::Histogram;

use crate::bench::scenario::burst::*;

fn hist(latencies_ms: &[f64]) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2).unwrap();
    for ms in latencies_ms {
        h.record((ms * 1e6) as u64).unwrap();
    }
    h
}

#[test]
fn recovery_is_the_first_window_back_within_tolerance() {
    // Before: p99 1 ms. After: two slow buckets, then normal ones.
    let slow = hist(&[50.0; 10]);
    let normal = hist(&[1.0; 10]);
    let buckets = vec![slow.clone(), slow, normal.clone(), normal.clone(), normal];
    let r = recovery_ms(1.0, &buckets, 12.0, 100.0, 2, 0.2, 0.0);
    assert_eq!(r, Some(212.0));
    // A window of one bucket: the same first normal bucket.
    assert_eq!(
        recovery_ms(1.0, &buckets, 0.0, 100.0, 1, 0.2, 0.0),
        Some(200.0)
    );
}

#[test]
fn never_recovering_and_too_few_buckets_are_none() {
    let slow = hist(&[50.0; 10]);
    assert_eq!(
        recovery_ms(1.0, &[slow.clone(), slow], 0.0, 100.0, 1, 0.2, 0.0),
        None
    );
    assert_eq!(
        recovery_ms(1.0, &[hist(&[1.0])], 0.0, 100.0, 3, 0.2, 0.0),
        None
    );
}

#[test]
fn slack_absorbs_differences_below_loopback_noise() {
    // 0.08 ms vs 0.05 ms is +60%, but within 0.05 ms of it.
    let b = vec![hist(&[0.08; 10])];
    assert_eq!(recovery_ms(0.05, &b, 0.0, 100.0, 1, 0.2, 0.0), None);
    assert_eq!(recovery_ms(0.05, &b, 0.0, 100.0, 1, 0.2, 0.05), Some(0.0));
}
