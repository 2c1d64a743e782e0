//! Unit tests of `crate::report::svg`.

use crate::report::svg::*;

#[test]
fn ticks_are_round_and_cover_the_range() {
    assert_eq!(ticks(0.0, 0.93, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    let t = ticks(60110.0, 62001.0, 5);
    assert!(t[0] <= 60110.0 && *t.last().unwrap() >= 62001.0, "{t:?}");
    assert_eq!(ticks(0.0, 0.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
}

#[test]
fn strip_plot_has_one_circle_per_trial() {
    let svg = strip_plot(&Strip {
        metric: "rps",
        baseline: &[1.0, 2.0, 3.0],
        candidate: &[2.0, 2.5],
        threshold: Threshold {
            fail_below: Some(1.8),
            fail_above: None,
        },
        rule: ">= -10%",
    });
    assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
    assert_eq!(svg.matches("class=\"threshold\"").count(), 1, "{svg}");
    assert!(svg.contains("data-metric=\"rps\""), "{svg}");
}

#[test]
fn scales_map_and_survive_a_flat_domain() {
    let s = Scale::new((0.0, 10.0), (100.0, 0.0));
    assert_eq!(s.map(5.0), 50.0);
    assert!(Scale::new((3.0, 3.0), (0.0, 10.0)).map(3.0).is_finite());
}
