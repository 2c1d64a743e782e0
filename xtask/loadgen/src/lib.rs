//! HTTP/1.1 load generator for the perf harness.
//!
//! Two load models share one connection layer: [`closed_loop`] (back-to-back requests,
//! for throughput) and [`open_loop`] (constant arrival rate measured from intended send
//! times, for latency without coordinated omission). [`run`] executes one run described by
//! a [`Config`] and returns a [`Report`], which the binary prints as JSON.

pub mod affinity;
pub mod closed_loop;
pub mod config;
pub mod conn;
pub mod coord;
pub mod error;
pub mod flags;
pub mod nats;
pub mod open_loop;
pub mod pacing;
pub mod report;
pub mod stats;

pub use config::{Config, Method, Model, Transport};
pub use error::{ConfigError, Error};
pub use report::Report;

use crate::conn::Target;

/// Runs the load described by `cfg` to completion (bounded by its duration, request budget
/// and timeout) and returns the merged results.
///
/// An unreachable target is not an error here: the report counts the connect errors and
/// [`Report::target_unreachable`] says so, leaving the exit code to the caller.
pub fn run(cfg: &Config) -> Result<Report, Error> {
    cfg.validate()?;
    let affinity = cfg.cpu.map(check_cpu).transpose()?;
    eprintln!(
        "loadgen: {} {} loop, {} connection(s) on {} thread(s), {} ms{} against {}{}",
        cfg.transport.as_str(),
        cfg.model.as_str(),
        cfg.connections,
        cfg.worker_threads(),
        cfg.duration.as_millis(),
        cfg.rate
            .map(|rate| format!(" at {rate} req/s"))
            .unwrap_or_default(),
        cfg.host,
        match &cfg.transport {
            Transport::Http => cfg.path.clone(),
            Transport::Nats { subject } => format!(" subject {subject}"),
        },
    );
    let target = Target::new(cfg);
    let done = std::sync::atomic::AtomicBool::new(false);
    let workers = std::thread::scope(|scope| {
        if let Some(path) = &cfg.progress_file {
            scope.spawn(|| report_progress(path, &target, &done));
        }
        let workers = match cfg.model {
            Model::Closed => closed_loop::run(cfg, &target),
            Model::Open => open_loop::run(cfg, &target),
        };
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        workers
    })?;
    let report = Report::new(cfg, &workers, affinity);
    warn_if_noisy(&report);
    Ok(report)
}

/// Rewrites `path` with `elapsed_ms responses` every 200 ms until `done`. Best effort: a
/// progress file that cannot be written only costs the live display.
fn report_progress(path: &std::path::Path, target: &Target, done: &std::sync::atomic::AtomicBool) {
    use std::sync::atomic::Ordering;
    let start = std::time::Instant::now();
    let tmp = path.with_extension("tmp");
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let line = format!(
            "{} {}\n",
            start.elapsed().as_millis(),
            target.responses.load(Ordering::Relaxed)
        );
        // Write then rename, so a reader never sees half a line.
        if std::fs::write(&tmp, line).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

/// Pins a throwaway thread to check the CPU exists and is allowed, before any worker
/// starts, and reads back the mask the kernel actually applied for the report.
fn check_cpu(cpu: usize) -> Result<Vec<usize>, ConfigError> {
    let allowed = affinity::current_thread_cpus().unwrap_or_default();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                affinity::pin_current_thread(cpu)?;
                affinity::current_thread_cpus()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("affinity check panicked")))
    })
    .map_err(|source| ConfigError::Cpu {
        cpu,
        allowed,
        source,
    })
}

/// Says on stderr when the numbers deserve less trust, and what would help.
fn warn_if_noisy(report: &Report) {
    if let Some(lag) = &report.send_lag {
        eprintln!(
            "loadgen: sends started {:.1} us (p50) / {:.1} us (p99) after their intended time",
            lag.p50_us, lag.p99_us
        );
        if lag.late as f64 > 0.01 * report.requests_sent as f64 {
            eprintln!(
                "loadgen: warning: {} of {} sends started over 1 ms late: the server could \
                 not keep up with the rate on {} connection(s) (the latency includes the wait); \
                 more connections or a lower --rate would measure it unsaturated",
                lag.late, report.requests_sent, report.connections
            );
        }
    }
    if report.errors.timeout + report.errors.io > 0 {
        eprintln!(
            "loadgen: warning: {} request(s) timed out and {} failed on the connection",
            report.errors.timeout, report.errors.io
        );
    }
    if report.responses < 100 && report.responses > 0 {
        eprintln!(
            "loadgen: warning: only {} responses; the percentiles rest on few samples, a \
             longer --duration-ms would help",
            report.responses
        );
    }
}
