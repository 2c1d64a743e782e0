//! Unit tests of `crate::commands::perf_bisect`: which commit to try next.

use crate::commands::perf_bisect::Verdict::{Bad, Good, Skip};
use crate::commands::perf_bisect::{Next, next};

#[test]
fn bisection_halves_the_range_and_skips_to_a_neighbour() {
    // Seven commits, the last known bad: the middle first.
    let mut v = vec![None; 7];
    v[6] = Some(Bad);
    assert_eq!(next(&v), Next::Try(3));
    v[3] = Some(Good);
    assert_eq!(next(&v), Next::Try(5));
    v[5] = Some(Skip);
    // A skipped step: its neighbour.
    assert_eq!(next(&v), Next::Try(4));
    v[4] = Some(Bad);
    assert_eq!(next(&v), Next::Found(4));
    // Only skipped commits between the last good and the first bad: ambiguous.
    let v = [Some(Good), Some(Skip), Some(Skip), Some(Bad)];
    assert_eq!(next(&v), Next::Ambiguous(vec![1, 2, 3]));
    // One commit, bad: it.
    assert_eq!(next(&[Some(Bad)]), Next::Found(0));
}
