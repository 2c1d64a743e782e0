//! HTTP/1.1 load generator for the perf harness.
//!
//! Two load models share one connection layer: [`closed_loop`] (back-to-back requests,
//! for throughput) and [`open_loop`] (constant arrival rate measured from intended send
//! times, for latency without coordinated omission). [`run`] executes one run described by
//! a [`Config`] and returns a [`Report`], which the binary prints as JSON.
//!
//! A run may drive several targets at once ([`run_targets`]): each gets the whole load as
//! if it ran alone, from the same threads, so that whatever disturbs the machine at a given
//! moment disturbs every target alike.

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

pub use config::{Config, Method, Model, MoreTarget, Route};
pub use error::{ConfigError, Error};
pub use report::{Output, Report};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::conn::Target;

/// Runs the load described by `cfg`, a config of one target, to completion (bounded by its
/// duration, request budget and timeout) and returns the merged results.
///
/// An unreachable target is not an error here: the report counts the connect errors and
/// [`Report::target_unreachable`] says so, leaving the exit code to the caller.
///
/// # Panics
///
/// If `cfg` has several targets: [`run_targets`] gives one report for each.
pub fn run(cfg: &Config) -> Result<Report, Error> {
    assert!(
        cfg.more_targets.is_empty(),
        "loadgen::run drives one target; run_targets drives several"
    );
    let mut reports = run_targets(cfg)?;
    Ok(reports.swap_remove(0))
}

/// Runs the load described by `cfg` against each of its targets at once and returns one
/// report per target, in the order of [`Config::per_target`]. Each report is what the
/// target would have reported alone; unreachable targets are left to the caller as in
/// [`run`].
pub fn run_targets(cfg: &Config) -> Result<Vec<Report>, Error> {
    cfg.validate()?;
    let affinity = cfg.cpu.map(check_cpu).transpose()?;
    let configs = cfg.per_target();
    announce(cfg, &configs);
    let targets: Vec<Arc<Target>> = configs.iter().map(Target::new).collect();
    let done = AtomicBool::new(false);
    let mut workers = std::thread::scope(|scope| {
        if let Some(path) = &cfg.progress_file {
            scope.spawn(|| report_progress(path, &targets, &done));
        }
        let workers = match cfg.model {
            Model::Closed => closed_loop::run(cfg, &targets),
            Model::Open => open_loop::run(cfg, &targets),
        };
        done.store(true, Ordering::Relaxed);
        workers
    })?;
    // A run whose workers never started reports zeros for every target.
    workers.resize_with(configs.len(), Vec::new);
    let reports: Vec<Report> = configs
        .iter()
        .zip(&workers)
        .map(|(cfg, workers)| report::build(cfg, workers, affinity.clone()))
        .collect();
    for report in &reports {
        warn_if_noisy(report, &stderr_prefix(report, reports.len()));
    }
    Ok(reports)
}

/// How stderr lines about one target start: `loadgen: ` alone, or with the target's name
/// when there are several.
pub fn stderr_prefix(report: &Report, targets: usize) -> String {
    if targets > 1 {
        format!("loadgen: {}: ", report.name)
    } else {
        "loadgen: ".to_owned()
    }
}

/// Says on stderr what the run is about to do.
fn announce(cfg: &Config, configs: &[Config]) {
    let against = match configs {
        [one] => report::target_name(one),
        several => format!(
            "{} targets: {}",
            several.len(),
            several
                .iter()
                .map(report::target_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let per_target = if configs.len() > 1 { " per target" } else { "" };
    eprintln!(
        "loadgen: {} {} loop, {} connection(s){per_target} on {} thread(s), {} ms{} against \
         {against}",
        cfg.route.transport().as_str(),
        cfg.model.as_str(),
        cfg.connections,
        cfg.worker_threads(),
        cfg.duration.as_millis(),
        cfg.rate
            .map(|rate| format!(" at {rate} req/s{per_target}"))
            .unwrap_or_default(),
    );
}

/// Rewrites `path` with `elapsed_ms responses` (all targets together) every 200 ms until
/// `done`. Best effort: a progress file that cannot be written only costs the live display.
fn report_progress(path: &std::path::Path, targets: &[Arc<Target>], done: &AtomicBool) {
    let start = std::time::Instant::now();
    let tmp = path.with_extension("tmp");
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let responses: u64 = targets
            .iter()
            .map(|target| target.responses.load(Ordering::Relaxed))
            .sum();
        let line = format!("{} {responses}\n", start.elapsed().as_millis());
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

/// Says on stderr when the numbers deserve less trust, and what would help; each line
/// starts with `prefix`.
fn warn_if_noisy(report: &Report, prefix: &str) {
    if let Some(lag) = &report.send_lag {
        eprintln!(
            "{prefix}sends started {:.1} us (p50) / {:.1} us (p99) after their intended time",
            lag.p50_us, lag.p99_us
        );
        if lag.late as f64 > 0.01 * report.requests_sent as f64 {
            eprintln!(
                "{prefix}warning: {} of {} sends started over 1 ms late: the server could \
                 not keep up with the rate on {} connection(s) (the latency includes the wait); \
                 more connections or a lower --rate would measure it unsaturated",
                lag.late, report.requests_sent, report.connections
            );
        }
    }
    if report.errors.timeout + report.errors.io > 0 {
        eprintln!(
            "{prefix}warning: {} request(s) timed out and {} failed on the connection",
            report.errors.timeout, report.errors.io
        );
    }
    if report.responses < 100 && report.responses > 0 {
        eprintln!(
            "{prefix}warning: only {} responses; the percentiles rest on few samples, a \
             longer --duration-ms would help",
            report.responses
        );
    }
}
