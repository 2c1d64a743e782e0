//! The result document printed on stdout, built from the workers' statistics. Its types are
//! perf-core's (`perf_core::model::load_report`), which the harness reads back with serde: one
//! definition for the writer and the reader. A run of several targets prints one report per
//! target ([`Output`]).

use std::collections::BTreeMap;
use std::time::Instant;

pub use perf_core::model::histogram::{Encoded as EncodedHistogram, encode as encode_histogram};
pub use perf_core::model::load_report::{
    Errors, KindLatency, KindReport, Latency, Output, Report, SendLag, TimelineBucket,
    TimelineReport,
};

use crate::config::{Config, Expect, Route};
use crate::coord::WorkerResult;
use crate::stats::{self, KindStats, Stats, Timeline};

/// The target of a single-target config as stderr names it: `127.0.0.1:8080/v1/decide`, or
/// `nats://127.0.0.1:4222 subject beamline.router.v1.decide`.
pub fn target_name(cfg: &Config) -> String {
    match &cfg.route {
        Route::Http => format!("{}{}", cfg.host, cfg.path),
        Route::Nats { subject } => format!("{} subject {subject}", cfg.host),
    }
}

/// One kind's report from its statistics.
fn kind_report(expect: Expect, stats: &KindStats) -> KindReport {
    let l = Latency::from_histogram(&stats.hist);
    KindReport {
        expect,
        sent: stats.sent,
        responses: stats.responses(),
        ok: stats.in_range(200..300),
        status_4xx: stats.in_range(400..500),
        status_5xx: stats.in_range(500..600),
        timeouts: stats.timeouts,
        io_errors: stats.io_errors,
        status_counts: status_strings(&stats.status_counts),
        latency_ms: KindLatency {
            p50: l.p50,
            p95: l.p95,
            p99: l.p99,
            p999: l.p999,
            max: l.max,
        },
    }
}

/// Splits the responses by what was expected: `(expected 2xx, expected 4xx)`. Only kinds
/// that expect `reject` change anything, so without kinds this is `(all 2xx, 0)`.
fn expected_responses(cfg: &Config, stats: &Stats) -> (u64, u64) {
    let mut ok = stats.ok;
    let mut rejections = 0;
    if let Some(body_kinds) = &cfg.body_kinds {
        for (kind, kind_stats) in body_kinds.kinds.iter().zip(&stats.kinds) {
            if kind.expect == Expect::Reject {
                ok = ok.saturating_sub(kind_stats.in_range(200..300));
                rejections += kind_stats.in_range(400..500);
            }
        }
    }
    (ok, rejections)
}

fn status_strings(counts: &BTreeMap<u16, u64>) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(status, n)| (status.to_string(), *n))
        .collect()
}

/// The timeline's buckets, placed on the wall clock at `start`.
fn timeline_report(timeline: &Timeline, start: Instant) -> TimelineReport {
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

/// The report of the target of `cfg`, a single-target config (see [`Config::per_target`]),
/// from the results of that target's connections.
pub fn build(cfg: &Config, workers: &[WorkerResult], affinity: Option<Vec<usize>>) -> Report {
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
    let (ok, expected_rejections) = expected_responses(cfg, &stats);
    // A kind no request was recorded under (no worker ran) still shows, with zeros.
    stats.kinds.resize_with(
        cfg.body_kinds.as_ref().map_or(0, |k| k.kinds.len()),
        Default::default,
    );
    Report {
        model: cfg.model,
        target: match &cfg.route {
            Route::Http => cfg.target.to_string(),
            Route::Nats { .. } => format!("nats://{}", cfg.target),
        },
        // For NATS, where the requests went is the subject.
        path: match &cfg.route {
            Route::Http => cfg.path.clone(),
            Route::Nats { subject } => subject.clone(),
        },
        connections: cfg.connections,
        threads: cfg.worker_threads(),
        duration_s,
        rate_target_rps: cfg.rate,
        rate_achieved_rps,
        requests_sent: stats.sent,
        responses: stats.responses,
        ok,
        expected_rejections,
        rps: per_second(ok, duration_s),
        status_counts: status_strings(&stats.status_counts),
        errors: Errors {
            connect: stats.connect_errors,
            timeout: stats.timeouts,
            status: stats.responses.saturating_sub(ok + expected_rejections),
            io: stats.io_errors,
        },
        latency_ms: Latency::from_histogram(&stats.hist),
        affinity,
        histogram: cfg.histogram.then(|| encode_histogram(&stats.hist)),
        timeline: cfg.timeline.map(|width| {
            let empty = Timeline::new(width);
            timeline_report(stats.timeline.as_ref().unwrap_or(&empty), start)
        }),
        kinds: cfg.body_kinds.as_ref().map(|body_kinds| {
            body_kinds
                .kinds
                .iter()
                .zip(&stats.kinds)
                .map(|(kind, kind_stats)| (kind.name.clone(), kind_report(kind.expect, kind_stats)))
                .collect()
        }),
        connects: stats.connects,
        send_lag: cfg.rate.map(|_| send_lag(workers)),
        name: target_name(cfg),
    }
}

/// A send that started more than this late is late.
const LATE_NS: u64 = 1_000_000;

/// How far behind schedule the open model's sends started, over all workers.
fn send_lag(workers: &[WorkerResult]) -> SendLag {
    let mut lag = stats::new_histogram();
    for worker in workers {
        lag.add(&worker.send_lag)
            .expect("auto-resizing histograms always merge");
    }
    let late = lag.count_between(LATE_NS + 1, u64::MAX);
    SendLag {
        p50_us: lag.value_at_quantile(0.5) as f64 / 1e3,
        p99_us: lag.value_at_quantile(0.99) as f64 / 1e3,
        late,
    }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn histogram_round_trips() {
        let mut stats = Stats::default();
        for us in 1..=5000u64 {
            stats.hist.record(us * 1000).unwrap();
        }
        stats.hist.record(30_000_000_000).unwrap();
        let encoded = encode_histogram(&stats.hist);
        assert_eq!(encoded.unit.as_deref(), Some("ns"));
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

    fn kinds_config() -> Config {
        use crate::config::{BodyKinds, Kind, Method};
        use perf_core::model::load::Model;
        let kind = |name: &str, expect| Kind {
            name: name.into(),
            expect,
        };
        Config {
            target: "127.0.0.1:1".parse().unwrap(),
            host: "127.0.0.1:1".into(),
            route: Route::Http,
            more_targets: Vec::new(),
            path: "/v1/decide".into(),
            method: Method::Post,
            bodies: vec!["{}".into(), "{".into(), "{}".into()],
            body_kinds: Some(BodyKinds {
                path: "kinds.json".into(),
                kinds: vec![
                    kind("weighted", Expect::Ok),
                    kind("bad_json", Expect::Reject),
                    kind("unused", Expect::Ok),
                ],
                body_kind: vec![0, 1, 0],
            }),
            model: Model::Closed,
            connections: 2,
            threads: 1,
            duration: std::time::Duration::from_secs(1),
            rate: None,
            max_requests: 10,
            timeout: std::time::Duration::from_secs(1),
            cpu: None,
            histogram: false,
            progress_file: None,
            timeline: None,
        }
    }

    #[test]
    fn kinds_split_expected_from_unexpected_statuses() {
        use crate::stats::Outcome::{Io, Response, Timeout};
        let ms = std::time::Duration::from_millis;
        let now = Instant::now();
        let worker = |records: &[(crate::stats::Outcome, usize)]| {
            let mut stats = Stats {
                kinds: vec![KindStats::default(); 3],
                ..Stats::default()
            };
            for (outcome, kind) in records {
                stats.record_timed(*outcome, ms(0), ms(1), Some(*kind));
            }
            WorkerResult {
                stats,
                started: now,
                finished: now + ms(1000),
                sending_ended: now + ms(1000),
                send_lag: stats::new_histogram(),
            }
        };
        let workers = [
            worker(&[(Response(200), 0), (Response(400), 1), (Response(413), 1)]),
            // Unexpected: a 404 to an ok kind, a 2xx and a 5xx to a reject kind.
            worker(&[
                (Response(404), 0),
                (Response(200), 1),
                (Response(503), 1),
                (Timeout, 0),
                (Io, 1),
            ]),
        ];
        let report = build(&kinds_config(), &workers, None);
        assert_eq!(report.requests_sent, 8);
        assert_eq!(report.responses, 6);
        assert_eq!(report.ok, 1);
        assert_eq!(report.expected_rejections, 2);
        assert_eq!(report.errors.status, 3);
        assert_eq!(
            report.responses,
            report.ok + report.expected_rejections + report.errors.status
        );
        assert_eq!(report.rps, 1.0);
        let kinds = report.kinds.as_ref().unwrap();
        assert_eq!(
            kinds.keys().collect::<Vec<_>>(),
            ["bad_json", "unused", "weighted"]
        );
        let bad = &kinds["bad_json"];
        assert_eq!(bad.expect, Expect::Reject);
        assert_eq!(
            (
                bad.sent,
                bad.responses,
                bad.ok,
                bad.status_4xx,
                bad.status_5xx
            ),
            (5, 4, 1, 2, 1)
        );
        assert_eq!((bad.timeouts, bad.io_errors), (0, 1));
        assert_eq!(bad.status_counts["413"], 1);
        let weighted = &kinds["weighted"];
        assert_eq!((weighted.sent, weighted.ok, weighted.status_4xx), (3, 1, 1));
        assert_eq!(weighted.timeouts, 1);
        assert!(weighted.latency_ms.p50.is_some());
        let unused = &kinds["unused"];
        assert_eq!(unused.sent, 0);
        assert!(unused.latency_ms.p50.is_none() && unused.latency_ms.max.is_none());

        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["kinds"]["bad_json"]["expect"], "reject");
        assert_eq!(
            json["kinds"]["unused"]["latency_ms"]["p99"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn without_kinds_every_non_2xx_is_an_error() {
        let mut cfg = kinds_config();
        cfg.body_kinds = None;
        let now = Instant::now();
        let mut stats = Stats::default();
        for status in [200, 400, 413, 503] {
            stats.record(stats::Outcome::Response(status), std::time::Duration::ZERO);
        }
        let workers = [WorkerResult {
            stats,
            started: now,
            finished: now,
            sending_ended: now,
            send_lag: stats::new_histogram(),
        }];
        let report = build(&cfg, &workers, None);
        assert_eq!((report.ok, report.expected_rejections), (1, 0));
        assert_eq!(report.errors.status, 3);
        let json = serde_json::to_value(&report).unwrap();
        assert!(json.get("kinds").is_none());
        assert_eq!(json["expected_rejections"], 0);
    }

    #[test]
    fn one_target_prints_its_report_and_several_a_list() {
        let now = Instant::now();
        let report = |target: &str| {
            let mut cfg = kinds_config();
            cfg.body_kinds = None;
            cfg.target = target.parse().unwrap();
            let workers = [WorkerResult {
                stats: Stats::default(),
                started: now,
                finished: now,
                sending_ended: now,
                send_lag: stats::new_histogram(),
            }];
            build(&cfg, &workers, None)
        };
        let one = serde_json::to_value(Output::new(vec![report("127.0.0.1:1")])).unwrap();
        assert_eq!(one, serde_json::to_value(report("127.0.0.1:1")).unwrap());
        assert!(one.get("targets").is_none());

        let output = Output::new(vec![report("127.0.0.1:1"), report("127.0.0.1:2")]);
        assert_eq!(output.reports().len(), 2);
        let several = serde_json::to_value(&output).unwrap();
        let keys: Vec<_> = several.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["targets"]);
        let targets = several["targets"].as_array().unwrap();
        assert_eq!(targets[0], one);
        assert_eq!(targets[1]["target"], "127.0.0.1:2");
    }
}
