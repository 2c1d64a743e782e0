//! Unit tests of `crate::commands::perf_history`.

use crate::commands::perf_history::*;

#[test]
fn sparkline_spans_min_to_max() {
    assert_eq!(sparkline(&[1.0, 2.0, 3.0, 8.0]), "▁▂▃█");
    assert_eq!(sparkline(&[5.0, 5.0]), "▄▄");
    assert_eq!(sparkline(&[]), "");
}
