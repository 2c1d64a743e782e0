//! The failover workload's metrics, computed from the load generator's timeline (its
//! `--timeline-ms` buckets) and the moment one router of the queue group was killed.
//! Pure: no processes, no files.

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;

use crate::model::load_report::TimelineReport;

/// Timeline bucket width the bench asks the load generator for.
pub(crate) const BUCKET_MS: u64 = 100;
/// Per-request timeout of the failover phase: a request sent to the killed router must
/// fail fast and visibly instead of holding its load connection.
pub(crate) const REQUEST_TIMEOUT_MS: u64 = 500;
/// The p99 window around the kill, by intended send time.
pub(crate) const WINDOW_BEFORE_MS: f64 = 500.0;
pub(crate) const WINDOW_AFTER_MS: f64 = 2000.0;
/// Throughput counts as recovered at this share of the pre-kill level.
pub(crate) const RECOVERED_SHARE: f64 = 0.8;

/// What one trial's failover phase measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Requests of the phase that timed out or failed (none are expected before the kill).
    pub lost_requests: f64,
    /// From the kill until a bucket's completed 2xx count is back to 80% of the pre-kill
    /// level (bucket resolution); the rest of the phase when it never is.
    pub recovery_ms: f64,
    /// p99 latency of the requests scheduled in the window around the kill.
    pub p99_ms: f64,
}

/// `timeline` is the load generator's `timeline` object; `kill_ms` is when the router was
/// killed, after the timeline's start; `phase_ms` is the phase's sending duration.
pub fn metrics(timeline: &TimelineReport, kill_ms: f64, phase_ms: f64) -> Result<Metrics> {
    let width = timeline.bucket_ms;
    if width <= 0.0 {
        bail!("timeline without a positive `bucket_ms`");
    }
    let buckets = &timeline.buckets;
    if !(kill_ms.is_finite() && kill_ms >= width && kill_ms < phase_ms) {
        bail!("the kill at {kill_ms:.0} ms is not inside the phase after its first bucket");
    }
    let lost_requests = buckets.iter().map(|b| (b.timeouts + b.errors) as f64).sum();
    // Buckets that ended before the kill give the level; the one holding the kill does not.
    let kill_bucket = (kill_ms / width).floor() as usize;
    let pre: Vec<f64> = buckets
        .iter()
        .take(kill_bucket)
        .map(|b| b.ok as f64)
        .collect();
    if pre.is_empty() {
        bail!("no timeline bucket before the kill");
    }
    let level = pre.iter().sum::<f64>() / pre.len() as f64;
    // Only whole buckets inside the sending window: the drain after it is not throughput.
    let full = (phase_ms / width).floor() as usize;
    let recovered = (kill_bucket..full)
        .find(|&i| buckets.get(i).map_or(0.0, |b| b.ok as f64) >= RECOVERED_SHARE * level);
    let recovery_ms = recovered.map_or(phase_ms - kill_ms, |i| {
        (i as f64 * width - kill_ms).max(0.0)
    });
    let first = ((kill_ms - WINDOW_BEFORE_MS) / width).floor().max(0.0) as usize;
    let last = ((kill_ms + WINDOW_AFTER_MS) / width).ceil() as usize;
    let mut window: Option<Histogram<u64>> = None;
    for b in buckets.iter().take(last).skip(first) {
        let h = crate::model::histogram::decode(&b.histogram)
            .context("decoding a timeline bucket's histogram")?;
        match &mut window {
            Some(w) => w
                .add(&h)
                .map_err(|e| anyhow::anyhow!("merging histograms: {e:?}"))?,
            None => window = Some(h),
        }
    }
    let p99_ms = window
        .filter(|w| !w.is_empty())
        .map_or(f64::NAN, |w| w.value_at_quantile(0.99) as f64 / 1e6);
    Ok(Metrics {
        lost_requests,
        recovery_ms,
        p99_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    use serde_json::{Value, json};

    fn bucket(ok: u64, timeouts: u64, latency_ms: u64) -> Value {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2).unwrap();
        h.record(latency_ms * 1_000_000).unwrap();
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut bytes)
            .unwrap();
        json!({"ok": ok, "timeouts": timeouts, "errors": 0, "histogram": {
            "unit": "ns", "encoding": "hdrhistogram-v2-deflate+base64",
            "data": base64::engine::general_purpose::STANDARD.encode(bytes)}})
    }

    fn timeline(buckets: Vec<Value>) -> TimelineReport {
        serde_json::from_value(json!({"bucket_ms": 100.0, "start_unix_us": 0, "buckets": buckets}))
            .unwrap()
    }

    #[test]
    fn a_dip_after_the_kill_is_measured() {
        // 10 buckets at 200 ok; killed at 450 ms; buckets 4 and 5 dip, 6 is back.
        let mut b: Vec<Value> = (0..10).map(|_| bucket(200, 0, 1)).collect();
        b[4] = bucket(120, 3, 500);
        b[5] = bucket(100, 2, 400);
        b[6] = bucket(190, 0, 2);
        let m = metrics(&timeline(b), 450.0, 1000.0).unwrap();
        assert_eq!(m.lost_requests, 5.0);
        assert_eq!(m.recovery_ms, 150.0);
        assert!(m.p99_ms >= 490.0 && m.p99_ms < 510.0, "{m:?}");
    }

    #[test]
    fn no_dip_is_zero_recovery_and_never_recovering_is_the_rest_of_the_phase() {
        let b: Vec<Value> = (0..10).map(|_| bucket(200, 0, 1)).collect();
        let m = metrics(&timeline(b.clone()), 450.0, 1000.0).unwrap();
        assert_eq!((m.lost_requests, m.recovery_ms), (0.0, 0.0));
        let mut dead = b;
        for x in dead.iter_mut().skip(4) {
            *x = bucket(0, 0, 1);
        }
        let m = metrics(&timeline(dead), 450.0, 1000.0).unwrap();
        assert_eq!(m.recovery_ms, 550.0);
    }

    #[test]
    fn a_kill_outside_the_phase_is_an_error() {
        let b: Vec<Value> = (0..10).map(|_| bucket(200, 0, 1)).collect();
        assert!(metrics(&timeline(b.clone()), 50.0, 1000.0).is_err());
        assert!(metrics(&timeline(b), 1000.0, 1000.0).is_err());
    }
}
