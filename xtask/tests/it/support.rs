//! What several test areas share: a hand-written run file with the CP1 metrics.

use serde_json::{Value, json};

/// A successful 5-trial run file with every metric the CP1 policy rules, as perf-bench
/// writes it (the fields the gate and the bump read).
pub fn cp1_run() -> Value {
    json!({
        "schema_version": 1,
        "timestamp": "2026-11-22T08:01:02Z",
        "git": {"commit": "0123456789abcdef", "dirty": false},
        "env": {"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Test CPU",
                "cpu_count": 2, "kernel": "6.1.0", "os": "linux", "mem_total_mb": 24000,
                "affinity": null, "slowdown_knob": false, "load": {}, "router_flags": []},
        "workload": "cp1",
        "trials": 5,
        "metrics": {"rps": 61234.5, "latency_p95_ms": 0.21, "latency_p99_ms": 0.4,
                    "errors_total": 0, "client_errors_total": 0,
                    "backpressure_active_total": 0, "mem_mb_rss": 7.9,
                    "cpu_ms_per_1k_req": 14.2},
        "samples": {"rps": [61234.5, 60110.0, 62001.0, 61500.0, 60900.0],
                    "latency_p95_ms": [0.21, 0.205, 0.22, 0.212, 0.208],
                    "latency_p99_ms": [0.4, 0.39, 0.42, 0.41, 0.38],
                    "errors_total": [0, 0, 0, 0, 0],
                    "client_errors_total": [0, 0, 0, 0, 0],
                    "backpressure_active_total": [0, 0, 0, 0, 0],
                    "mem_mb_rss": [7.9, 7.8, 8.0, 7.9, 7.9],
                    "cpu_ms_per_1k_req": [14.2, 14.0, 14.5, 14.1, 14.3]},
        "run": {"status": "ok", "exit_code": 0}
    })
}
