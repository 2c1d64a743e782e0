//! Unit tests of `xtask::bench::router`.

use xtask::bench::router::*;

#[test]
fn counter_sum_adds_labelled_samples() {
    let text = "# HELP router_errors x\n# TYPE router_errors counter\n\
        router_errors_total{code=\"a\"} 2\nrouter_errors_total{code=\"b\"} 3\n\
        router_errors_totalish 100\nrouter_backpressure_active_total{transport=\"http\"} 0\n# EOF\n";
    assert_eq!(counter_sum(text, "router_errors_total"), Some(5.0));
    assert_eq!(
        counter_sum(text, "router_backpressure_active_total"),
        Some(0.0)
    );
    assert_eq!(counter_sum(text, "router_missing_total"), None);
}

#[test]
fn proc_stats_of_self() {
    let s = ProcStats::read(std::process::id()).unwrap();
    assert!(s.rss_mb > 0.0 && s.peak_rss_mb >= s.rss_mb);
    assert!(s.cpu_ms >= 0.0);
}
