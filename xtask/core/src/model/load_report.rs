//! The load generator's report: the document `loadgen` prints on stdout and the harness reads
//! back. One set of types for both sides, so a field the harness reads and the generator no
//! longer writes is a compile error, and a report missing a field is a parse error naming it
//! (not a NaN that turns into a null metric later). Units are in the field names.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

use hdrhistogram::Histogram;

use crate::model::histogram::{self, Encoded};
use crate::model::load::Model;
use crate::model::workload::Expect;

/// What the generator prints: one target's report as the document itself, or
/// `{"targets": [...]}` with one report per target, in the order they were given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Output {
    Several { targets: Vec<Report> },
    One(Box<Report>),
}

impl Output {
    /// `reports` in the order of the targets; a single one stands alone.
    pub fn new(reports: Vec<Report>) -> Output {
        match <[Report; 1]>::try_from(reports) {
            Ok([report]) => Output::One(Box::new(report)),
            Err(targets) => Output::Several { targets },
        }
    }

    /// The reports, in the order of the targets.
    pub fn reports(&self) -> &[Report] {
        match self {
            Output::One(report) => std::slice::from_ref(&**report),
            Output::Several { targets } => targets,
        }
    }

    pub fn into_reports(self) -> Vec<Report> {
        match self {
            Output::One(report) => vec![*report],
            Output::Several { targets } => targets,
        }
    }

    /// Reads the generator's stdout. An error names the field that is missing or wrong.
    pub fn parse(json: &[u8]) -> Result<Output> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| anyhow!("the load generator printed unreadable JSON: {e}"))?;
        // Untagged enums say only "did not match any variant": read each shape by its mark.
        let parsed = if value.get("targets").is_some() {
            serde_path_to_error::deserialize(value)
                .map(|s: Several| Output::Several { targets: s.targets })
        } else {
            serde_path_to_error::deserialize(value).map(|r: Report| Output::One(Box::new(r)))
        };
        parsed.map_err(|e| {
            let path = e.path().to_string();
            anyhow!(
                "the load generator's report: field `{path}`: {}",
                e.into_inner()
            )
        })
    }
}

#[derive(Deserialize)]
struct Several {
    targets: Vec<Report>,
}

/// One target's results (with one target, the run's). Invariants:
///
/// - `requests_sent == responses + errors.timeout + errors.io`;
/// - `responses == ok + expected_rejections + errors.status` (each field says which);
/// - with `--body-kinds`, the `kinds`' counts add up to the run's own;
/// - the latency percentiles never decrease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub model: Model,
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
    /// 2xx responses to requests that expect a 2xx (all requests without `--body-kinds`).
    pub ok: u64,
    /// 4xx responses to kinds that expect `reject`: the server refused a request it should
    /// refuse. Always 0 without `--body-kinds`.
    pub expected_rejections: u64,
    /// `ok / duration_s`.
    pub rps: f64,
    pub status_counts: BTreeMap<String, u64>,
    pub errors: Errors,
    pub latency_ms: Latency,
    /// The CPUs the load generator was pinned to, or `null` when not pinned.
    pub affinity: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Encoded>,
    /// `--timeline-ms`: the run in buckets; absent without the flag. Its `ok` counts every
    /// 2xx, whatever the request's kind expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
    /// `--body-kinds`: each kind's results, keyed by kind name; absent without the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<BTreeMap<String, KindReport>>,
    /// Successful connection attempts; zero means the target could not be reached at all.
    /// The generator's own: not printed.
    #[serde(skip)]
    pub connects: u64,
    /// Open model: how late sends started after their intended time (stderr diagnostics).
    #[serde(skip)]
    pub send_lag: Option<SendLag>,
    /// How stderr names the target (`127.0.0.1:8080/v1/decide`).
    #[serde(skip)]
    pub name: String,
}

impl Report {
    /// One report of two runs against the same target one after the other (the halves of an
    /// alternated phase): counts and durations add up, latencies from the merged histograms.
    pub fn merge(&self, other: &Report) -> Result<Report> {
        if self.timeline.is_some() || other.timeline.is_some() {
            anyhow::bail!("reports with a timeline do not merge");
        }
        if self.kinds.is_some() || other.kinds.is_some() {
            anyhow::bail!("reports with per-kind results do not merge");
        }
        let (Some(a), Some(b)) = (&self.histogram, &other.histogram) else {
            anyhow::bail!("only reports with their histogram merge");
        };
        let mut hist = histogram::decode(a)?;
        // The other half's slowest request may lie beyond the range this one was written with.
        hist.auto(true);
        hist.add(histogram::decode(b)?)
            .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
        let duration_s = self.duration_s + other.duration_s;
        // Time spent sending, from each run's own rate: the merged rate is over both.
        let sending = |r: &Report| r.rate_achieved_rps.map(|x| r.requests_sent as f64 / x);
        let requests_sent = self.requests_sent + other.requests_sent;
        let rate_achieved_rps = match (sending(self), sending(other)) {
            (Some(x), Some(y)) if x + y > 0.0 => Some(requests_sent as f64 / (x + y)),
            _ => None,
        };
        let ok = self.ok + other.ok;
        let mut status_counts = self.status_counts.clone();
        for (status, n) in &other.status_counts {
            *status_counts.entry(status.clone()).or_default() += n;
        }
        let (e, f) = (&self.errors, &other.errors);
        Ok(Report {
            duration_s,
            rate_achieved_rps,
            requests_sent,
            responses: self.responses + other.responses,
            ok,
            expected_rejections: self.expected_rejections + other.expected_rejections,
            rps: if duration_s > 0.0 {
                ok as f64 / duration_s
            } else {
                0.0
            },
            status_counts,
            errors: Errors {
                connect: e.connect + f.connect,
                timeout: e.timeout + f.timeout,
                status: e.status + f.status,
                io: e.io + f.io,
            },
            latency_ms: Latency::from_histogram(&hist),
            histogram: Some(histogram::encode(&hist)),
            connects: self.connects + other.connects,
            ..self.clone()
        })
    }

    /// True when no connection could ever be opened.
    pub fn target_unreachable(&self) -> bool {
        self.connects == 0
    }

    /// A latency percentile in ms (`"p99"`), NaN when there was no response (a metric of
    /// NaN is recorded as missing).
    pub fn latency(&self, key: &str) -> f64 {
        let value = serde_json::to_value(&self.latency_ms).ok();
        value.and_then(|v| v.get(key)?.as_f64()).unwrap_or(f64::NAN)
    }

    /// The timeline's start on the wall clock, µs since the epoch (NaN without a timeline).
    pub fn timeline_start_us(&self) -> f64 {
        self.timeline
            .as_ref()
            .map_or(f64::NAN, |t| t.start_unix_us as f64)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Errors {
    /// Failed connection attempts.
    pub connect: u64,
    /// Requests without a complete response within the timeout.
    pub timeout: u64,
    /// Responses with an unexpected status: non-2xx to kinds that expect `ok` (all
    /// requests without `--body-kinds`) and non-4xx to kinds that expect `reject`.
    pub status: u64,
    /// Requests lost to a connection error.
    pub io: u64,
}

impl Errors {
    /// Every request or connection attempt that failed: what the harness counts as client
    /// errors.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.io + self.status
    }
}

/// Latency of completed responses in milliseconds; every field is `null` when there was none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

impl Latency {
    /// Percentiles of `hist` (ns) in ms, in order, each raised to at least the one before,
    /// so `p50 <= p90 <= ... <= max` holds even where bucket rounding might disagree.
    pub fn from_histogram(hist: &Histogram<u64>) -> Latency {
        if hist.is_empty() {
            return Latency::default();
        }
        // Division by 1e6 is correctly rounded: 0.498432, not 0.49843200000000004.
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut floor = 0;
        let ordered = |ns: u64| {
            floor = floor.max(ns);
            Some(ms(floor))
        };
        let q = |q| hist.value_at_quantile(q);
        let [min, p50, p90, p95, p99, p999, max] = [
            hist.min(),
            q(0.5),
            q(0.9),
            q(0.95),
            q(0.99),
            q(0.999),
            hist.max(),
        ]
        .map(ordered);
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

/// One kind of request (`--body-kinds`): `sent == responses + timeouts + io_errors`, and
/// `status_counts` add up to `responses`; `ok` and `status_*` count statuses by class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindReport {
    pub expect: Expect,
    pub sent: u64,
    pub responses: u64,
    /// 2xx responses.
    pub ok: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub timeouts: u64,
    pub io_errors: u64,
    pub status_counts: BTreeMap<String, u64>,
    pub latency_ms: KindLatency,
}

/// Latency of one kind's responses (any status) in milliseconds, to two significant
/// digits; every field is `null` when the kind had no response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindLatency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

impl KindLatency {
    /// One field by its name (`"p99"`), NaN for a missing value.
    pub fn get(&self, key: &str) -> f64 {
        let value = serde_json::to_value(self).ok();
        value.and_then(|v| v.get(key)?.as_f64()).unwrap_or(f64::NAN)
    }
}

/// The run over time. Bucket i covers `[i, i+1) * bucket_ms` after the common start, which
/// was at `start_unix_us` on the wall clock (so a harness can place its own events on it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineReport {
    pub bucket_ms: f64,
    pub start_unix_us: u64,
    pub buckets: Vec<TimelineBucket>,
}

/// One bucket: `ok` by completion time; the rest by intended send time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimelineBucket {
    pub ok: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub latency_p99_ms: Option<f64>,
    /// All latencies of the bucket, so windows of buckets merge exactly.
    pub histogram: Encoded,
}

/// How well the open model kept its schedule.
#[derive(Debug, Clone, Default)]
pub struct SendLag {
    pub p50_us: f64,
    pub p99_us: f64,
    /// Sends that started more than 1 ms late.
    pub late: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"model": "open", "target": "127.0.0.1:1", "path": "/v1/decide",
        "connections": 2, "threads": 1, "duration_s": 1.0, "rate_target_rps": 100.0,
        "rate_achieved_rps": 99.0, "requests_sent": 100, "responses": 100, "ok": 100,
        "expected_rejections": 0, "rps": 100.0, "status_counts": {"200": 100},
        "errors": {"connect": 0, "timeout": 0, "status": 0, "io": 0},
        "latency_ms": {"min": 0.1, "mean": 0.2, "p50": 0.2, "p90": 0.3, "p95": 0.3,
                       "p99": 0.4, "p999": 0.5, "max": 0.6},
        "affinity": null}"#;

    #[test]
    fn one_report_or_several_read_back_as_written() {
        let one = Output::parse(ONE.as_bytes()).unwrap();
        let report = &one.reports()[0];
        assert_eq!(report.model, Model::Open);
        assert_eq!(report.latency("p99"), 0.4);
        assert!(report.timeline_start_us().is_nan());
        let text = serde_json::to_string(&one).unwrap();
        let again = Output::parse(text.as_bytes()).unwrap();
        assert_eq!(again.reports()[0].latency_ms, report.latency_ms);

        let several = format!(r#"{{"targets": [{ONE}, {ONE}]}}"#);
        assert_eq!(
            Output::parse(several.as_bytes())
                .unwrap()
                .into_reports()
                .len(),
            2
        );
    }

    #[test]
    fn two_halves_merge_into_one_report() {
        let half = |values_us: &[u64], rate: f64| {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for v in values_us {
                h.record(v * 1000).unwrap();
            }
            let mut r: Report = serde_json::from_str(ONE).unwrap();
            r.requests_sent = values_us.len() as u64;
            r.responses = r.requests_sent;
            r.ok = r.requests_sent;
            r.duration_s = 1.0;
            r.rate_achieved_rps = Some(rate);
            r.latency_ms = Latency::from_histogram(&h);
            r.histogram = Some(histogram::encode(&h));
            r
        };
        // 100 fast requests, then 100 of which 20 are slow.
        let fast: Vec<u64> = vec![100; 100];
        let mut slow: Vec<u64> = vec![100; 80];
        slow.extend([5000; 20]);
        let merged = half(&fast, 100.0).merge(&half(&slow, 100.0)).unwrap();
        assert_eq!((merged.requests_sent, merged.ok), (200, 200));
        assert_eq!(merged.duration_s, 2.0);
        assert_eq!(merged.rps, 100.0);
        assert_eq!(merged.rate_achieved_rps, Some(100.0));
        // 20 slow in 200: the p95 is a slow one, the p90 a fast one.
        assert!(merged.latency("p90") < 0.2, "{:?}", merged.latency_ms);
        assert!(merged.latency("p95") > 4.9, "{:?}", merged.latency_ms);
        assert_eq!(
            histogram::decode(merged.histogram.as_ref().unwrap())
                .unwrap()
                .len(),
            200
        );
        let mut no_hist = half(&fast, 100.0);
        no_hist.histogram = None;
        assert!(no_hist.merge(&half(&fast, 100.0)).is_err());
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = ONE.replace(r#""rps": 100.0,"#, "");
        let err = Output::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("rps"), "{err}");
        let text = ONE.replace(r#""p99": 0.4,"#, r#""p99": "slow","#);
        let err = Output::parse(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("latency_ms.p99"), "{err}");
        let several = format!(r#"{{"targets": [{ONE}, {{"model": "open"}}]}}"#);
        let err = Output::parse(several.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("targets[1]"), "{err}");
    }
}
