//! Per-connection counters and latency histogram, merged into one at the end of a run.
//!
//! Each connection owns its `Stats` outright (no sharing, no locks on the hot path). With
//! `--body-kinds` it also keeps one [`KindStats`] per kind of request, merged the same way.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in nanoseconds with 3 significant digits. The histogram is sized
/// for 60 s up front so recording never allocates in the usual case, and auto-resizes past
/// that rather than dropping a sample.
const HIST_MAX_NS: u64 = 60_000_000_000;

/// How one sent request ended. Every sent request ends in exactly one of these, which is
/// what keeps `sent == responses + timeout + io`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response (head and body) with this status.
    Response(u16),
    /// No complete response within the per-request timeout.
    Timeout,
    /// The connection failed while the request was outstanding.
    Io,
}

#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every completed response, any status, in nanoseconds.
    pub hist: Histogram<u64>,
    pub sent: u64,
    pub responses: u64,
    /// Responses with a 2xx status.
    pub ok: u64,
    pub status_counts: BTreeMap<u16, u64>,
    /// Failed connection attempts (not requests).
    pub connect_errors: u64,
    /// Successful connection attempts; zero over the whole run means the target was unreachable.
    pub connects: u64,
    pub timeouts: u64,
    pub io_errors: u64,
    /// `--timeline-ms`: the same outcomes spread over time; `None` when not asked for.
    pub timeline: Option<Timeline>,
    /// `--body-kinds`: the same outcomes per kind, indexed like `BodyKinds::kinds`; empty
    /// without the flag. Every request recorded with a kind is in exactly one of these.
    pub kinds: Vec<KindStats>,
}

/// The outcomes of one kind of request. Counts by status class are derived from
/// `status_counts` at report time, which keeps recording to one map entry and one histogram.
#[derive(Debug, Clone)]
pub struct KindStats {
    /// Latency of this kind's responses, any status, in nanoseconds (2 significant digits).
    pub hist: Histogram<u64>,
    /// Invariant: `sent == responses() + timeouts + io_errors`.
    pub sent: u64,
    pub status_counts: BTreeMap<u16, u64>,
    pub timeouts: u64,
    pub io_errors: u64,
}

impl Default for KindStats {
    fn default() -> Self {
        // Two significant digits (a tenth of the memory of three): a connection keeps one of
        // these per kind, and the precise tails are in the run's own histogram.
        let mut hist = Histogram::new_with_bounds(1, HIST_MAX_NS, 2)
            .expect("constant histogram bounds are valid");
        hist.auto(true);
        KindStats {
            hist,
            sent: 0,
            status_counts: BTreeMap::new(),
            timeouts: 0,
            io_errors: 0,
        }
    }
}

impl KindStats {
    fn record(&mut self, outcome: Outcome, latency: Duration) {
        self.sent += 1;
        match outcome {
            Outcome::Response(status) => {
                *self.status_counts.entry(status).or_default() += 1;
                record_ns(&mut self.hist, latency);
            }
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Io => self.io_errors += 1,
        }
    }

    pub fn merge(&mut self, other: &KindStats) {
        self.hist
            .add(&other.hist)
            .expect("auto-resizing histograms always merge");
        self.sent += other.sent;
        for (status, n) in &other.status_counts {
            *self.status_counts.entry(*status).or_default() += n;
        }
        self.timeouts += other.timeouts;
        self.io_errors += other.io_errors;
    }

    pub fn responses(&self) -> u64 {
        self.status_counts.values().sum()
    }

    /// Responses whose status is in `range` (e.g. `200..300`).
    pub fn in_range(&self, range: std::ops::Range<u16>) -> u64 {
        self.status_counts.range(range).map(|(_, n)| n).sum()
    }
}

/// Outcomes over the run in fixed-width buckets. 2xx responses go to the bucket of their
/// completion (that is throughput as the client sees it); timeouts, errors and latencies go
/// to the bucket of the request's intended send time (the open model's schedule), so a
/// window around an event holds exactly the requests scheduled in it.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub bucket: Duration,
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    /// 2xx responses that completed in this bucket.
    pub ok: u64,
    /// Requests scheduled in this bucket that timed out.
    pub timeouts: u64,
    /// Requests scheduled in this bucket that failed otherwise (connection, non-2xx).
    pub errors: u64,
    /// Latency of the responses to requests scheduled in this bucket, in nanoseconds.
    pub hist: Histogram<u64>,
}

impl Timeline {
    pub fn new(bucket: Duration) -> Timeline {
        Timeline {
            bucket,
            buckets: Vec::new(),
        }
    }

    fn at(&mut self, since_start: Duration) -> &mut Bucket {
        let width = self.bucket.as_nanos().max(1);
        let i = usize::try_from(since_start.as_nanos() / width).unwrap_or(usize::MAX);
        // A bucket past an hour of 1 ms buckets is a clock quirk, not a run: clamp it.
        let i = i.min(3_600_000);
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::new);
        }
        &mut self.buckets[i]
    }

    /// Records one request scheduled `intended` after the start that ended after `latency`.
    pub fn record(&mut self, outcome: Outcome, intended: Duration, latency: Duration) {
        match outcome {
            Outcome::Response(status) => {
                record_ns(&mut self.at(intended).hist, latency);
                if (200..300).contains(&status) {
                    self.at(intended + latency).ok += 1;
                } else {
                    self.at(intended).errors += 1;
                }
            }
            Outcome::Timeout => self.at(intended).timeouts += 1,
            Outcome::Io => self.at(intended).errors += 1,
        }
    }

    pub fn merge(&mut self, other: &Timeline) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize_with(other.buckets.len(), Bucket::new);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.ok += theirs.ok;
            mine.timeouts += theirs.timeouts;
            mine.errors += theirs.errors;
            mine.hist
                .add(&theirs.hist)
                .expect("auto-resizing histograms always merge");
        }
    }
}

impl Bucket {
    fn new() -> Bucket {
        // Two significant digits: a timeline bucket needs its p99, not exact tails.
        let mut hist = Histogram::new_with_bounds(1, HIST_MAX_NS, 2)
            .expect("constant histogram bounds are valid");
        hist.auto(true);
        Bucket {
            ok: 0,
            timeouts: 0,
            errors: 0,
            hist,
        }
    }
}

/// An empty nanosecond histogram, sized for 60 s and auto-resizing past that.
pub fn new_histogram() -> Histogram<u64> {
    let mut hist =
        Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("constant histogram bounds are valid");
    hist.auto(true);
    hist
}

/// Records a duration in nanoseconds; zero (a clock quirk) is clamped to the lowest bound.
pub fn record_ns(hist: &mut Histogram<u64>, duration: Duration) {
    let ns = u64::try_from(duration.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    // `record` auto-resizes past 60 s; only a value beyond any resize (near u64::MAX)
    // falls back to clamping.
    if hist.record(ns).is_err() {
        hist.saturating_record(ns);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            hist: new_histogram(),
            sent: 0,
            responses: 0,
            ok: 0,
            status_counts: BTreeMap::new(),
            connect_errors: 0,
            connects: 0,
            timeouts: 0,
            io_errors: 0,
            timeline: None,
            kinds: Vec::new(),
        }
    }
}

impl Stats {
    /// Records the end of one sent request. `latency` is only used for responses.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        self.sent += 1;
        match outcome {
            Outcome::Response(status) => {
                self.responses += 1;
                if (200..300).contains(&status) {
                    self.ok += 1;
                }
                *self.status_counts.entry(status).or_default() += 1;
                record_ns(&mut self.hist, latency);
            }
            Outcome::Timeout => self.timeouts += 1,
            Outcome::Io => self.io_errors += 1,
        }
    }

    /// Non-2xx responses.
    pub fn status_errors(&self) -> u64 {
        self.responses - self.ok
    }

    pub fn merge(&mut self, other: &Stats) {
        // Both histograms auto-resize, so adding cannot fail for lack of range.
        self.hist
            .add(&other.hist)
            .expect("auto-resizing histograms always merge");
        self.sent += other.sent;
        self.responses += other.responses;
        self.ok += other.ok;
        for (status, n) in &other.status_counts {
            *self.status_counts.entry(*status).or_default() += n;
        }
        self.connect_errors += other.connect_errors;
        self.connects += other.connects;
        self.timeouts += other.timeouts;
        self.io_errors += other.io_errors;
        match (&mut self.timeline, &other.timeline) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.timeline = Some(theirs.clone()),
            _ => {}
        }
        if self.kinds.len() < other.kinds.len() {
            self.kinds
                .resize_with(other.kinds.len(), KindStats::default);
        }
        for (mine, theirs) in self.kinds.iter_mut().zip(&other.kinds) {
            mine.merge(theirs);
        }
    }

    /// Records the end of one request of kind `kind` (`None` without `--body-kinds`) and,
    /// with a timeline, when it was scheduled.
    pub fn record_timed(
        &mut self,
        outcome: Outcome,
        intended: Duration,
        latency: Duration,
        kind: Option<usize>,
    ) {
        self.record(outcome, latency);
        if let Some(kind) = kind.and_then(|k| self.kinds.get_mut(k)) {
            kind.record(outcome, latency);
        }
        if let Some(timeline) = &mut self.timeline {
            timeline.record(outcome, intended, latency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_buckets_by_intended_and_completion_time() {
        let ms = Duration::from_millis;
        let mut a = Stats {
            timeline: Some(Timeline::new(ms(100))),
            ..Stats::default()
        };
        a.record_timed(Outcome::Response(200), ms(50), ms(120), None);
        a.record_timed(Outcome::Timeout, ms(150), ms(500), None);
        let mut b = Stats {
            timeline: Some(Timeline::new(ms(100))),
            ..Stats::default()
        };
        b.record_timed(Outcome::Io, ms(310), ms(0), None);
        b.record_timed(Outcome::Response(503), ms(10), ms(1), None);
        a.merge(&b);
        let t = a.timeline.unwrap();
        assert_eq!(t.buckets.len(), 4);
        // The 2xx scheduled at 50 ms completed at 170 ms: bucket 1.
        assert_eq!(
            t.buckets.iter().map(|b| b.ok).collect::<Vec<_>>(),
            [0, 1, 0, 0]
        );
        assert_eq!(t.buckets[1].timeouts, 1);
        assert_eq!(t.buckets[0].errors, 1);
        assert_eq!(t.buckets[3].errors, 1);
        assert_eq!(t.buckets[0].hist.len(), 2);
        assert_eq!(a.sent, 4);
    }

    #[test]
    fn counts_stay_consistent_through_merge() {
        let mut a = Stats::default();
        a.record(Outcome::Response(200), Duration::from_millis(1));
        a.record(Outcome::Response(503), Duration::from_millis(2));
        a.record(Outcome::Timeout, Duration::ZERO);
        let mut b = Stats::default();
        b.record(Outcome::Io, Duration::ZERO);
        b.record(Outcome::Response(200), Duration::ZERO);
        b.record(Outcome::Response(200), Duration::from_secs(120));
        a.merge(&b);
        assert_eq!(a.sent, 6);
        assert_eq!(a.responses, 4);
        assert_eq!(a.ok, 3);
        assert_eq!(a.status_errors(), 1);
        assert_eq!(a.sent, a.responses + a.timeouts + a.io_errors);
        assert_eq!(a.hist.len(), a.responses);
        assert_eq!(a.status_counts[&200], 3);
        assert!(
            a.hist.max() >= 119_000_000_000,
            "auto-resize keeps long samples"
        );
    }

    #[test]
    fn kinds_are_counted_apart_and_merged() {
        let ms = Duration::from_millis;
        let with_kinds = || Stats {
            kinds: vec![KindStats::default(); 2],
            ..Stats::default()
        };
        let mut a = with_kinds();
        a.record_timed(Outcome::Response(200), ms(0), ms(1), Some(0));
        a.record_timed(Outcome::Response(400), ms(0), ms(2), Some(1));
        a.record_timed(Outcome::Timeout, ms(0), ms(9), Some(1));
        let mut b = with_kinds();
        b.record_timed(Outcome::Response(413), ms(0), ms(3), Some(1));
        b.record_timed(Outcome::Response(503), ms(0), ms(4), Some(0));
        b.record_timed(Outcome::Io, ms(0), ms(0), Some(0));
        // A worker without kinds (none configured) merges as all zeros.
        let mut merged = Stats::default();
        merged.merge(&a);
        merged.merge(&b);
        merged.merge(&Stats::default());
        assert_eq!(merged.kinds.len(), 2);
        let [k0, k1] = [&merged.kinds[0], &merged.kinds[1]];
        assert_eq!((k0.sent, k0.responses(), k0.io_errors), (3, 2, 1));
        assert_eq!((k0.in_range(200..300), k0.in_range(500..600)), (1, 1));
        assert_eq!((k1.sent, k1.responses(), k1.timeouts), (3, 2, 1));
        assert_eq!(k1.in_range(400..500), 2);
        assert_eq!(k1.status_counts[&413], 1);
        assert_eq!(k1.hist.len(), 2);
        for k in [k0, k1] {
            assert_eq!(k.sent, k.responses() + k.timeouts + k.io_errors);
        }
        // The kinds partition the run's own counts.
        assert_eq!(merged.sent, k0.sent + k1.sent);
        assert_eq!(merged.responses, k0.responses() + k1.responses());
        assert_eq!(merged.hist.len(), k0.hist.len() + k1.hist.len());
    }
}
