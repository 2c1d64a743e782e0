//! Per-connection counters and latency histogram, merged into one at the end of a run.
//!
//! Each connection owns its `Stats` outright (no sharing, no locks on the hot path).

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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
