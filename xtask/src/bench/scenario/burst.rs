//! The `burst` scenario: steady open-loop load, then a spike past the router's capacity on
//! more connections than its in-flight bound, then the steady load again. Measured: how
//! much of the burst was answered, how often backpressure engaged, and how long after the
//! burst the p99 took to come back to its pre-burst level.

use anyhow::Result;
use hdrhistogram::Histogram;

use super::{capacity, success_rate};
use crate::bench::loadgen::LoadSpec;
use crate::bench::runner::{Runner, Status, failed, gauge, round3, round4};
pub use crate::model::scenario::burst::Params;

/// When the p99 came back: ms from the burst's end to the first full window of `window`
/// buckets (the after-phase's timeline histograms, in ns, starting `gap_ms` after the burst)
/// whose merged p99 is within `tolerance` (or `slack_ms`) of `before_p99_ms`; `None` if none is.
pub(crate) fn recovery_ms(
    before_p99_ms: f64,
    buckets: &[Histogram<u64>],
    gap_ms: f64,
    bucket_ms: f64,
    window: usize,
    tolerance: f64,
    slack_ms: f64,
) -> Option<f64> {
    let bound = (before_p99_ms * (1.0 + tolerance)).max(before_p99_ms + slack_ms);
    let window = window.max(1);
    (0..=buckets.len().checked_sub(window)?).find_map(|i| {
        let mut merged = buckets[i].clone();
        for h in &buckets[i + 1..i + window] {
            merged.add(h).ok()?;
        }
        let p99 = merged.value_at_quantile(0.99) as f64 / 1e6;
        (!merged.is_empty() && p99 <= bound).then(|| gap_ms.max(0.0) + i as f64 * bucket_ms)
    })
}

fn backpressure_total(runner: &Runner<'_, '_>) -> Result<f64, Status> {
    let text = runner
        .router
        .metrics_text()
        .map_err(|e| failed("reading /metrics", e))?;
    Ok(gauge(&text, "router_backpressure_active_total"))
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    let capacity = capacity(runner, "capacity", p.capacity_connections, p.capacity_ms)?;
    runner.metric("burst_capacity_rps", round3(capacity));
    let steady = (capacity * p.steady_share) as u64;
    let spike = (capacity * p.burst_factor) as u64;
    let before = runner.phase(
        "before",
        &LoadSpec::open(p.connections, p.before_ms, steady),
    )?;
    let backpressure_before = backpressure_total(runner)?;
    runner.say(&format!(
        "burst: {spike} req/s on {} connections",
        p.burst_connections
    ));
    // The burst and the load after it in timeline buckets, which the recovery is read from.
    let timed = |connections, ms, rate| LoadSpec {
        timeline_ms: Some(p.bucket_ms),
        ..LoadSpec::open(connections, ms, rate)
    };
    let burst = runner.phase("burst", &timed(p.burst_connections, p.burst_ms, spike))?;
    let backpressure = backpressure_total(runner)? - backpressure_before;
    let after = runner.phase("after", &timed(p.connections, p.after_ms, steady))?;
    let before_p99 = before.latency("p99");
    let burst_end_us = burst.timeline_start_us() + p.burst_ms as f64 * 1e3;
    let gap_ms = (after.timeline_start_us() - burst_end_us) / 1e3;
    let buckets = after
        .timeline
        .iter()
        .flat_map(|t| &t.buckets)
        .map(|b| crate::model::histogram::decode(&b.histogram))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| failed("decoding the after-burst timeline", e))?;
    // Only buckets inside the sending window: the drain after it is not steady load.
    let full = (p.after_ms / p.bucket_ms) as usize;
    let recovered = recovery_ms(
        before_p99,
        &buckets[..buckets.len().min(full)],
        gap_ms,
        p.bucket_ms as f64,
        p.window_buckets as usize,
        p.tolerance,
        p.slack_ms,
    );
    runner.metric("burst_success_rate", round4(success_rate(&burst)));
    runner.metric("burst_backpressure_total", backpressure);
    runner.metric("burst_p99_before_ms", round4(before_p99));
    runner.metric("burst_p99_after_ms", round4(after.latency("p99")));
    runner.metric("burst_recovered", f64::from(u8::from(recovered.is_some())));
    // Never recovered: the whole after phase, which a `max` rule then fails.
    let recovery = recovered.unwrap_or(gap_ms.max(0.0) + p.after_ms as f64);
    runner.metric("burst_recovery_ms", round3(recovery));
    runner.note(&format!(
        "burst: capacity {capacity:.0} req/s, steady {steady}, spike {spike}; {backpressure} \
         backpressure activations; p99 before {before_p99:.3} ms; recovered {recovery:.0} ms \
         after the burst (gap {gap_ms:.1} ms)"
    ));
    Ok(())
}

#[cfg(test)]
mod tests;
