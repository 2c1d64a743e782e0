//! Latency percentiles of a paired run, decided on pooled histograms. A trial's p99 rests on
//! its few slowest requests and swings by tens of percent on a shared VM; the percentile of
//! every trial's HDR histogram pooled per side uses all the requests at once. The interval is
//! a paired bootstrap over trials (a trial stays the unit of noise), pure and seeded. The
//! pooled percentiles are also what a verdict row shows, so that its change is their ratio.

use hdrhistogram::iterators::IterationValue;

use crate::gate::stats::{Interval, bootstrap};
use crate::model::histogram::{self, Encoded};
use crate::model::run_file::RunFile;

/// Per trial, the cumulative count of requests at or below each value of a grid shared by
/// both sides: what pooling needs, without merging histograms for every resample.
struct Cumulative {
    /// Every distinct recorded value (the histograms' bucket values), ascending.
    grid: Vec<u64>,
    /// Per trial, per grid value: requests at or below it.
    trials: Vec<Vec<u64>>,
    /// What a recorded value is divided by to give milliseconds (the metric's unit).
    per_ms: f64,
}

impl Cumulative {
    fn new(runs: &[&RunFile]) -> Option<(Cumulative, usize)> {
        // Pooling adds recorded values across trials and sides: they must share one unit.
        let mut latency = runs.iter().flat_map(|run| &run.histograms.latency);
        let first = latency.next()?.as_ref()?;
        if latency.any(|h| h.as_ref().map(|h| &h.unit) != Some(&first.unit)) {
            return None;
        }
        let per_ms = first.per_ms()?;
        // Per side, per trial: (value, count) of every recorded bucket.
        let recorded = |h: &Option<Encoded>| {
            let h = histogram::decode(h.as_ref()?).ok()?;
            let bucket = |v: IterationValue<u64>| (v.value_iterated_to(), v.count_at_value());
            Some(h.iter_recorded().map(bucket).collect())
        };
        let decoded: Vec<Vec<Vec<(u64, u64)>>> = runs
            .iter()
            .map(|run| run.histograms.latency.iter().map(recorded).collect())
            .collect::<Option<_>>()?;
        let per_side = decoded.first()?.len();
        if per_side < 3 || decoded.iter().any(|d| d.len() != per_side) {
            return None;
        }
        let mut grid: Vec<u64> = decoded
            .iter()
            .flatten()
            .flatten()
            .map(|(v, _)| *v)
            .collect();
        grid.sort_unstable();
        grid.dedup();
        let trials = decoded
            .iter()
            .flatten()
            .map(|values| {
                let mut at = values.iter().peekable();
                let mut total = 0;
                grid.iter()
                    .map(|g| {
                        while let Some((_, n)) = at.next_if(|(v, _)| v <= g) {
                            total += n;
                        }
                        total
                    })
                    .collect()
            })
            .collect();
        let cumulative = Cumulative {
            grid,
            trials,
            per_ms,
        };
        Some((cumulative, per_side))
    }

    /// The `q` percentile of the pool of `trials` (indices), in the histograms' unit.
    fn percentile(&self, trials: &[usize], q: f64, pool: &mut Vec<u64>) -> f64 {
        pool.clear();
        pool.resize(self.grid.len(), 0);
        for &t in trials {
            for (p, c) in pool.iter_mut().zip(&self.trials[t]) {
                *p += c;
            }
        }
        let total = pool.last().copied().unwrap_or(0);
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let i = pool.partition_point(|&c| c < rank);
        self.grid.get(i).copied().unwrap_or(0) as f64
    }
}

/// The `q` percentile of all of each side's trials pooled, in milliseconds (baseline, then
/// candidate), and the paired bootstrap interval over trials of their ratio candidate/baseline;
/// `None` (the caller falls back to the per-trial values) when a trial lacks its histogram,
/// the trial counts or units differ, or the baseline's pooled value is 0.
pub fn pooled(
    baseline: &RunFile,
    candidate: &RunFile,
    q: f64,
    confidence: f64,
    resamples: u32,
    seed: u64,
) -> Option<(f64, f64, Interval)> {
    let (cum, n) = Cumulative::new(&[baseline, candidate])?;
    let mut pool = Vec::new();
    let side = |picks: &[usize], offset: usize, pool: &mut Vec<u64>| {
        let trials: Vec<usize> = picks.iter().map(|i| i + offset).collect();
        cum.percentile(&trials, q, pool)
    };
    let all: Vec<usize> = (0..n).collect();
    let (b, c) = (side(&all, 0, &mut pool), side(&all, n, &mut pool));
    if b <= 0.0 {
        return None;
    }
    let mut picks = vec![0; n];
    let ci = bootstrap(resamples.min(1000), seed, confidence, |rng| {
        picks.iter_mut().for_each(|p| *p = rng.below(n));
        let b = side(&picks, 0, &mut pool);
        side(&picks, n, &mut pool) / b.max(f64::MIN_POSITIVE)
    });
    Some((b / cum.per_ms, c / cum.per_ms, ci))
}
