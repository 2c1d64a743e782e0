//! The `soak` scenario: minutes of steady open-loop load while the router's RSS and sticky-store
//! size are sampled. A least-squares line through the RSS gives the growth rate (a leak is a
//! positive slope), the window's halves fitted apart say whether growth speeds up, and the
//! sticky store's largest size is held against its capacity.

use std::net::SocketAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::bench::loadgen::{LoadSpec, phase_budget};
use crate::bench::router::{ProcStats, counter_sum, http_get};
use crate::bench::runner::{Runner, Status, round3, round4};
pub use crate::model::scenario::soak::{MIN_FIT_SAMPLES, Params};

/// The router's `--sticky-capacity` when no flag sets it (router/src/main.rs).
pub(crate) const ROUTER_DEFAULT_STICKY_CAPACITY: f64 = 100_000.0;

/// Growth counts as superlinear only when the late half's slope is more than this many
/// times the early half's...
pub(crate) const SUPERLINEAR_RATIO: f64 = 2.0;

/// ...and above this floor (a fifth of the 0.5 MB/s slope target), so that the noise of a
/// flat series, whose half-window slopes are tiny and of either sign, is never flagged.
pub(crate) const SUPERLINEAR_FLOOR_MB_PER_S: f64 = 0.1;

/// The least-squares line through `(x, y)` points, as `(slope, intercept)`; `None` with
/// fewer than two points, with non-finite values, or when every x is the same.
pub(crate) fn linear_fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.len() < 2 || points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// How a memory series grows, in MB per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// The slope over the whole window.
    pub slope: f64,
    /// The slope of the first half of the samples alone.
    pub early_slope: f64,
    /// The slope of the second half alone.
    pub late_slope: f64,
    /// The late slope is above [`SUPERLINEAR_FLOOR_MB_PER_S`] and more than
    /// [`SUPERLINEAR_RATIO`] times the early one (or the early one is not positive): memory
    /// grows faster and faster, so the whole-window slope understates where it is going.
    pub superlinear: bool,
}

/// Fits `(seconds, MB)` samples, in time order; `None` with fewer than [`MIN_FIT_SAMPLES`].
/// The halves are split by sample count: for a quadratic from zero the late slope is three
/// times the early one; for a straight line they are equal up to noise.
pub fn growth(points: &[(f64, f64)]) -> Option<Growth> {
    if points.len() < MIN_FIT_SAMPLES {
        return None;
    }
    let (slope, _) = linear_fit(points)?;
    let mid = points.len() / 2;
    let (early_slope, _) = linear_fit(&points[..mid])?;
    let (late_slope, _) = linear_fit(&points[mid..])?;
    let superlinear = late_slope > SUPERLINEAR_FLOOR_MB_PER_S
        && late_slope > SUPERLINEAR_RATIO * early_slope.max(0.0);
    Some(Growth {
        slope,
        early_slope,
        late_slope,
        superlinear,
    })
}

/// The router's sticky-store capacity: its last `--sticky-capacity`, else the default.
pub fn sticky_capacity(args: &[String]) -> f64 {
    let mut capacity = ROUTER_DEFAULT_STICKY_CAPACITY;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = match arg.strip_prefix("--sticky-capacity") {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
            Some("") => it.next().cloned(),
            _ => None,
        };
        if let Some(v) = value.and_then(|v| v.parse::<f64>().ok()) {
            capacity = v;
        }
    }
    capacity
}

/// One reading of the router while the load runs.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Since the sampler started, just before the load generator.
    t_ms: f64,
    rss_mb: f64,
    /// `router_sticky_entries`; `None` when /metrics could not be read.
    sticky_entries: Option<f64>,
}

/// Reads the router's RSS and sticky entries every `every` until `stop` fires or is dropped,
/// `limit` passes, or the process is gone.
fn sample(
    pid: u32,
    addr: SocketAddr,
    every: Duration,
    limit: Instant,
    stop: &mpsc::Receiver<()>,
) -> Vec<Sample> {
    let start = Instant::now();
    let mut next = start;
    let mut out = Vec::new();
    loop {
        let Ok(stats) = ProcStats::read(pid) else {
            break;
        };
        let t_ms = start.elapsed().as_secs_f64() * 1e3;
        let sticky_entries = match http_get(addr, "/metrics") {
            Ok((200, body)) => counter_sum(&body, "router_sticky_entries"),
            _ => None,
        };
        out.push(Sample {
            t_ms,
            rss_mb: stats.rss_mb,
            sticky_entries,
        });
        let now = Instant::now();
        // A slow read pushes the next tick out instead of bunching samples up.
        next = (next + every).max(now);
        if now >= limit {
            break;
        }
        match stop.recv_timeout(next.min(limit) - now) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    out
}

/// Keeps the memory samples with the soak phase, and which of them were fitted.
fn annotate(
    runner: &mut Runner<'_, '_>,
    p: &Params,
    samples: &[Sample],
    fitted: usize,
    capacity: f64,
) {
    runner.annotate_phase(
        "soak",
        "memory",
        json!({
            "sample_ms": p.sample_ms,
            "fit_from_ms": p.warmup_ms,
            "fit_to_ms": p.duration_ms,
            "fit_samples": fitted,
            "sticky_capacity": capacity,
            "t_ms": samples.iter().map(|s| s.t_ms.round()).collect::<Vec<_>>(),
            "rss_mb": samples.iter().map(|s| round3(s.rss_mb)).collect::<Vec<_>>(),
            "sticky_entries": samples.iter().map(|s| s.sticky_entries).collect::<Vec<_>>(),
        }),
    );
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    let capacity = sticky_capacity(&runner.ctx.spec.args);
    let (pid, addr) = (runner.router.pid, runner.router.addr);
    let every = Duration::from_millis(p.sample_ms);
    // The sampler outlives the phase by at most its budget, whatever happens to the phase.
    let limit = runner
        .ctx
        .deadline
        .min(Instant::now() + phase_budget(p.duration_ms, runner.ctx.loadgen.timeout_ms));
    runner.say(&format!(
        "soak: {} req/s for {} s, router memory sampled every {} ms",
        p.rate,
        p.duration_ms / 1000,
        p.sample_ms
    ));
    let (stop, stopped) = mpsc::channel();
    let sampler = std::thread::spawn(move || sample(pid, addr, every, limit, &stopped));
    let spec = LoadSpec::open(p.connections, p.duration_ms, p.rate);
    let result = runner.phase("soak", &spec);
    drop(stop);
    let samples = sampler.join().expect("the sampler does not panic");
    let result = result?;

    // Only samples inside the load after its warm-up are fitted.
    let window: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t_ms >= p.warmup_ms as f64 && s.t_ms <= p.duration_ms as f64)
        .map(|s| (s.t_ms / 1e3, s.rss_mb))
        .collect();
    let Some(g) = growth(&window) else {
        return Err(Status::Failed(format!(
            "soak: {} RSS samples between {} ms and {} ms, too few to fit (at least \
             {MIN_FIT_SAMPLES}); was the machine too busy to sample every {} ms?",
            window.len(),
            p.warmup_ms,
            p.duration_ms,
            p.sample_ms
        )));
    };
    let sticky: Vec<f64> = samples.iter().filter_map(|s| s.sticky_entries).collect();
    let sticky_max = sticky.iter().copied().fold(f64::NAN, f64::max);
    if sticky.len() < samples.len() {
        runner.note(&format!(
            "soak: /metrics unreadable in {} of {} samples",
            samples.len() - sticky.len(),
            samples.len()
        ));
    }
    annotate(runner, p, &samples, window.len(), capacity);
    runner.note(&format!(
        "soak: {} samples fitted, slope {:.5} MB/s (early {:.5}, late {:.5}), superlinear {}, \
         sticky entries max {sticky_max} of {capacity}",
        window.len(),
        g.slope,
        g.early_slope,
        g.late_slope,
        g.superlinear
    ));
    let achieved = result.rate_achieved_rps.unwrap_or(f64::NAN);
    if achieved < 0.9 * p.rate as f64 {
        runner.say(&format!(
            "warning: the soak load reached only {achieved:.0} of {} req/s; the machine may be \
             busy, or lower `scenario.soak.rate`",
            p.rate
        ));
    }
    runner.metric("soak_rss_slope_mb_per_s", round6(g.slope));
    runner.metric("soak_rss_early_slope_mb_per_s", round6(g.early_slope));
    runner.metric("soak_rss_late_slope_mb_per_s", round6(g.late_slope));
    runner.metric("soak_rss_superlinear", f64::from(u8::from(g.superlinear)));
    runner.metric("soak_sticky_entries_max", sticky_max);
    runner.metric("soak_sticky_fill", round4(sticky_max / capacity));
    runner.metric("soak_rate_achieved_rps", round3(achieved));
    runner.metric("soak_latency_p99_ms", round4(result.latency("p99")));
    Ok(())
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests;
