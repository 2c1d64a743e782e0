//! The result document printed on stdout: counts, error kinds, latency percentiles and,
//! on request, the serialized HDR histogram. Units are in the field names.

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::Serialize;

use crate::config::{Config, Transport};
use crate::coord::WorkerResult;
use crate::stats::{self, Stats, Timeline};

/// One run's results. Invariants: `requests_sent == responses + errors.timeout + errors.io`,
/// `responses == ok + errors.status`, and the latency percentiles never decrease.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: &'static str,
    pub target: String,
    pub path: String,
    pub connections: usize,
    /// OS threads that generated load.
    pub threads: usize,
    /// From the common start to the last completed request.
    pub duration_s: f64,
    pub rate_target_rps: Option<f64>,
    /// Requests sent per second of the sending window (open model only).
    pub rate_achieved_rps: Option<f64>,
    pub requests_sent: u64,
    /// Complete responses, any status.
    pub responses: u64,
    /// 2xx responses.
    pub ok: u64,
    /// `ok / duration_s`.
    pub rps: f64,
    pub status_counts: BTreeMap<String, u64>,
    pub errors: Errors,
    pub latency_ms: Latency,
    /// The CPUs the load generator was pinned to, or `null` when not pinned.
    pub affinity: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<EncodedHistogram>,
    /// `--timeline-ms`: the run in buckets; absent without the flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
    /// Successful connection attempts; zero means the target could not be reached at all.
    #[serde(skip)]
    pub connects: u64,
    /// Open model: how late sends started after their intended time (stderr diagnostics).
    #[serde(skip)]
    pub send_lag: Option<SendLag>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    /// Failed connection attempts.
    pub connect: u64,
    /// Requests without a complete response within the timeout.
    pub timeout: u64,
    /// Non-2xx responses.
    pub status: u64,
    /// Requests lost to a connection error.
    pub io: u64,
}

/// Latency of completed responses in milliseconds; every field is `null` when there was none.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

/// The run over time. Bucket i covers `[i, i+1) * bucket_ms` after the common start, which
/// was at `start_unix_us` on the wall clock (so a harness can place its own events on it).
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    pub bucket_ms: f64,
    pub start_unix_us: u64,
    pub buckets: Vec<TimelineBucket>,
}

/// One bucket: `ok` by completion time; the rest by intended send time.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineBucket {
    pub ok: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub latency_p99_ms: Option<f64>,
    /// All latencies of the bucket, so windows of buckets merge exactly.
    pub histogram: EncodedHistogram,
}

impl TimelineReport {
    fn new(timeline: &Timeline, start: Instant) -> TimelineReport {
        let start_wall = std::time::SystemTime::now()
            .checked_sub(start.elapsed())
            .unwrap_or(std::time::UNIX_EPOCH);
        let start_unix_us = start_wall
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        TimelineReport {
            bucket_ms: timeline.bucket.as_secs_f64() * 1e3,
            start_unix_us,
            buckets: timeline
                .buckets
                .iter()
                .map(|b| TimelineBucket {
                    ok: b.ok,
                    timeouts: b.timeouts,
                    errors: b.errors,
                    latency_p99_ms: (!b.hist.is_empty())
                        .then(|| b.hist.value_at_quantile(0.99) as f64 / 1e6),
                    histogram: encode_histogram(&b.hist),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EncodedHistogram {
    pub unit: &'static str,
    pub encoding: &'static str,
    pub data: String,
}

impl Report {
    pub fn new(cfg: &Config, workers: &[WorkerResult], affinity: Option<Vec<usize>>) -> Report {
        let start = workers
            .iter()
            .map(|w| w.started)
            .min()
            .unwrap_or_else(Instant::now);
        let mut stats = Stats::default();
        for worker in workers {
            stats.merge(&worker.stats);
        }
        let end = workers.iter().map(|w| w.finished).max().unwrap_or(start);
        let duration_s = end.saturating_duration_since(start).as_secs_f64();
        let sending_s = workers
            .iter()
            .map(|w| w.sending_ended)
            .max()
            .unwrap_or(start)
            .saturating_duration_since(start)
            .as_secs_f64();
        let rate_achieved_rps = cfg.rate.map(|_| per_second(stats.sent, sending_s));
        Report {
            model: cfg.model.as_str(),
            target: match &cfg.transport {
                Transport::Http => cfg.target.to_string(),
                Transport::Nats { .. } => format!("nats://{}", cfg.target),
            },
            // For NATS, where the requests went is the subject.
            path: match &cfg.transport {
                Transport::Http => cfg.path.clone(),
                Transport::Nats { subject } => subject.clone(),
            },
            connections: cfg.connections,
            threads: cfg.worker_threads(),
            duration_s,
            rate_target_rps: cfg.rate,
            rate_achieved_rps,
            requests_sent: stats.sent,
            responses: stats.responses,
            ok: stats.ok,
            rps: per_second(stats.ok, duration_s),
            status_counts: stats
                .status_counts
                .iter()
                .map(|(status, n)| (status.to_string(), *n))
                .collect(),
            errors: Errors {
                connect: stats.connect_errors,
                timeout: stats.timeouts,
                status: stats.status_errors(),
                io: stats.io_errors,
            },
            latency_ms: Latency::from_histogram(&stats.hist),
            affinity,
            histogram: cfg.histogram.then(|| encode_histogram(&stats.hist)),
            timeline: cfg.timeline.map(|width| {
                let empty = Timeline::new(width);
                TimelineReport::new(stats.timeline.as_ref().unwrap_or(&empty), start)
            }),
            connects: stats.connects,
            send_lag: cfg.rate.map(|_| SendLag::new(workers)),
        }
    }

    /// True when no connection could ever be opened.
    pub fn target_unreachable(&self) -> bool {
        self.connects == 0
    }
}

/// How well the open model kept its schedule.
#[derive(Debug, Clone)]
pub struct SendLag {
    pub p50_us: f64,
    pub p99_us: f64,
    /// Sends that started more than 1 ms late.
    pub late: u64,
}

impl SendLag {
    const LATE_NS: u64 = 1_000_000;

    fn new(workers: &[WorkerResult]) -> SendLag {
        let mut lag = stats::new_histogram();
        for worker in workers {
            lag.add(&worker.send_lag)
                .expect("auto-resizing histograms always merge");
        }
        let late = lag.count_between(Self::LATE_NS + 1, u64::MAX);
        SendLag {
            p50_us: lag.value_at_quantile(0.5) as f64 / 1e3,
            p99_us: lag.value_at_quantile(0.99) as f64 / 1e3,
            late,
        }
    }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Latency {
    /// Percentiles in order, each raised to at least the one before, so
    /// `p50 <= p90 <= ... <= max` holds even where bucket rounding might disagree.
    fn from_histogram(hist: &Histogram<u64>) -> Latency {
        if hist.is_empty() {
            return Latency::default();
        }
        // Division by 1e6 is correctly rounded, so the JSON shows e.g. 0.498432, not
        // 0.49843200000000004.
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut floor = 0;
        let mut ordered = |ns: u64| {
            floor = floor.max(ns);
            Some(ms(floor))
        };
        let min = ordered(hist.min());
        let p50 = ordered(hist.value_at_quantile(0.50));
        let p90 = ordered(hist.value_at_quantile(0.90));
        let p95 = ordered(hist.value_at_quantile(0.95));
        let p99 = ordered(hist.value_at_quantile(0.99));
        let p999 = ordered(hist.value_at_quantile(0.999));
        let max = ordered(hist.max());
        Latency {
            min,
            mean: Some(hist.mean() / 1e6),
            p50,
            p90,
            p95,
            p99,
            p999,
            max,
        }
    }
}

/// The histogram in HdrHistogram's V2 compressed format, base64-encoded: readable by every
/// HdrHistogram implementation, so the harness can merge trials exactly.
pub fn encode_histogram(hist: &Histogram<u64>) -> EncodedHistogram {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut bytes)
        .expect("serializing into memory cannot fail");
    EncodedHistogram {
        unit: "ns",
        encoding: "hdrhistogram-v2-deflate+base64",
        data: BASE64.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn histogram_round_trips() {
        let mut stats = Stats::default();
        for us in 1..=5000u64 {
            stats.hist.record(us * 1000).unwrap();
        }
        stats.hist.record(30_000_000_000).unwrap();
        let encoded = encode_histogram(&stats.hist);
        assert_eq!(encoded.unit, "ns");
        let bytes = BASE64.decode(encoded.data).unwrap();
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(decoded.len(), stats.hist.len());
        assert_eq!(decoded.max(), stats.hist.max());
        assert_eq!(
            decoded.value_at_quantile(0.99),
            stats.hist.value_at_quantile(0.99)
        );
    }

    #[test]
    fn percentiles_are_ordered_and_in_ms() {
        let mut hist = Stats::default().hist;
        for ms in 1..=1000u64 {
            hist.record(ms * 1_000_000).unwrap();
        }
        let l = Latency::from_histogram(&hist);
        let seq = [l.min, l.p50, l.p90, l.p95, l.p99, l.p999, l.max].map(Option::unwrap);
        assert!(seq.windows(2).all(|w| w[0] <= w[1]), "{seq:?}");
        assert!((l.p50.unwrap() - 500.0).abs() < 1.0, "{l:?}");
        assert!((l.mean.unwrap() - 500.5).abs() < 1.0, "{l:?}");
    }

    #[test]
    fn no_responses_means_null_latency() {
        let l = Latency::from_histogram(&Stats::default().hist);
        assert!(l.p50.is_none() && l.max.is_none());
    }
}
