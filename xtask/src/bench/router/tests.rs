//! Unit tests of `crate::bench::router`.

use crate::bench::router::*;

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

// Tests of the module's private helpers.

#[test]
fn a_quantile_of_the_buckets_between_two_readings() {
    let text = |counts: [u64; 4]| {
        format!(
            "# TYPE router_decision_duration_seconds histogram\n\
             router_decision_duration_seconds_sum{{transport=\"http\"}} 1.0\n\
             router_decision_duration_seconds_bucket{{transport=\"http\",le=\"0.00001\"}} {}\n\
             router_decision_duration_seconds_bucket{{transport=\"http\",le=\"0.00002\"}} {}\n\
             router_decision_duration_seconds_bucket{{transport=\"http\",le=\"0.0005\"}} {}\n\
             router_decision_duration_seconds_bucket{{transport=\"http\",le=\"+Inf\"}} {}\n\
             router_decision_duration_seconds_bucket{{transport=\"nats\",le=\"0.00001\"}} 0\n",
            counts[0], counts[1], counts[2], counts[3]
        )
    };
    let name = "router_decision_duration_seconds";
    let before = histogram_buckets(&text([50, 100, 100, 100]), name);
    assert_eq!(before.len(), 4);
    assert_eq!(before[3], (f64::INFINITY, 100.0));
    // Between the readings: 1000 decisions, 980 under 20 us, 20 at 20-500 us.
    let after = histogram_buckets(&text([550, 1080, 1100, 1100]), name);
    let p50 = quantile_between(&before, &after, 0.5);
    assert!((p50 - 1e-5).abs() < 1e-9, "{p50}");
    // The p99 is the 990th: half-way through the 20 slow ones, 260 us by interpolation.
    let p99 = quantile_between(&before, &after, 0.99);
    assert!((p99 - 2.6e-4).abs() < 1e-9, "{p99}");
    assert!(quantile_between(&after, &after, 0.99).is_nan());
    assert!(quantile_between(&[], &[], 0.99).is_nan());
}

#[test]
fn context_switches_are_read_from_every_thread() {
    // This test's own process: a thread that slept 20 times switched voluntarily at
    // least 20 times, and the sum over threads holds its switches though it is not the
    // main thread. (Other tests' threads may come and go, so only a lower bound holds.)
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sleeper = std::thread::spawn(move || {
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero())
            .unwrap();
        done_rx.recv().unwrap();
    });
    let tid = tid_rx.recv().unwrap();
    let own = procfs::process::Process::myself().unwrap();
    let own = own.task_from_tid(tid.get()).unwrap().status().unwrap();
    let slept = own.voluntary_ctxt_switches.unwrap() as f64;
    let all = context_switches(std::process::id()).unwrap();
    done_tx.send(()).unwrap();
    sleeper.join().unwrap();
    assert!(slept >= 20.0, "{own:?}");
    assert!(all.0 >= slept, "{all:?} < {slept}");
}
