//! What several test areas share: a hand-written run file with the CP1 metrics, built as the
//! typed record perf-bench writes (`xtask::model::run_file::RunFile`).

use serde_json::Value;
use xtask::model::run_file::{Env, Git, MetricValue, RunFile, RunStatus, Samples};

/// A successful 5-trial run file with every metric the CP1 policy rules (the median of each
/// is its first sample), as JSON for the tests to edit.
pub fn cp1_run() -> Value {
    let metrics: [(&str, &[f64]); 10] = [
        ("rps", &[61234.5, 60110.0, 62001.0, 61500.0, 60900.0]),
        ("latency_p95_ms", &[0.21, 0.205, 0.22, 0.212, 0.208]),
        ("latency_p99_ms", &[0.4, 0.39, 0.42, 0.41, 0.38]),
        ("errors_total", &[0.0; 5]),
        ("client_errors_total", &[0.0; 5]),
        ("backpressure_active_total", &[0.0; 5]),
        ("mem_mb_rss", &[7.9, 7.8, 8.0, 7.9, 7.9]),
        ("cpu_ms_per_1k_req", &[14.2, 14.0, 14.5, 14.1, 14.3]),
        // One counting run: a count is deterministic.
        ("instructions_per_req", &[22850.0]),
        ("syscalls_per_req", &[3.05]),
    ];
    let mut run = RunFile {
        schema_version: Some(1),
        timestamp: Some("2026-11-22T08:01:02Z".into()),
        git: Git {
            commit: Some("0123456789abcdef".into()),
            dirty: Some(false),
            reference: None,
        },
        env: Env {
            rustc: Some("rustc 1.95.0".into()),
            profile: Some("release".into()),
            cpu_model: Some("Test CPU".into()),
            cpu_count: Some(2),
            kernel: Some("6.1.0".into()),
            os: Some("linux".into()),
            slowdown_knob: Some(false),
            ..Env::default()
        },
        workload: Some("cp1".into()),
        trials: Some(5),
        run: RunStatus {
            status: Some("ok".into()),
            exit_code: Some(0),
            ..RunStatus::default()
        },
        ..RunFile::default()
    };
    for (name, samples) in metrics {
        run.metrics
            .insert(name.into(), MetricValue::Number(samples[0]));
        run.samples
            .insert(name.into(), Samples::Values(samples.to_vec()));
    }
    serde_json::to_value(&run).expect("a run file encodes")
}
