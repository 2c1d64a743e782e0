//! Change-point and drift detection over a metric's history, as pure, deterministic functions:
//! E-divisive means (Matteson & James 2014, as MongoDB's signal processing and Hunter use it)
//! finds the runs where a metric's level moved, and a Mann-Kendall trend test with Sen's slope
//! finds slow drift that no single change point explains (many small same-direction steps).

use crate::gate::stats::SplitMix64;

/// How the detection is tuned. The defaults are documented in perf/README.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Fewest points on each side of a change point; a shorter run of points is not a level.
    pub min_segment: usize,
    /// Significance level for both the permutation test and the drift test.
    pub alpha: f64,
    /// Permutations per significance test. With 199 the smallest p-value is 1/200 = 0.005.
    pub permutations: u32,
    /// Seed of the permutation stream, fixed so reruns agree.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_segment: 5,
            alpha: 0.01,
            permutations: 199,
            seed: 0x5EED_C4A9_E001,
        }
    }
}

/// A level shift: the series moves at `index` (the first point of the new level).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    pub index: usize,
    /// Mean of the segment before and of the segment after (between the neighbouring change
    /// points), for the size of the move.
    pub mean_before: f64,
    pub mean_after: f64,
    /// Permutation p-value: (1 + permutations at least as extreme) / (1 + permutations).
    pub p_value: f64,
}

impl ChangePoint {
    /// The move in percent of the level before; `None` when that level is 0.
    pub fn change_pct(&self) -> Option<f64> {
        (self.mean_before != 0.0)
            .then(|| (self.mean_after - self.mean_before) / self.mean_before.abs() * 100.0)
    }
}

/// A monotonic trend inside the segments between change points.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Sen's slope: the median of the pairwise slopes, per run.
    pub slope_per_run: f64,
    /// The slope over the whole series in percent of the median before the first change point.
    pub total_pct: Option<f64>,
    /// Two-sided p-value of the Mann-Kendall statistic (normal approximation, tie-corrected).
    pub p_value: f64,
}

/// What the detection found in one series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    pub change_points: Vec<ChangePoint>,
    pub drift: Option<Drift>,
}

/// Runs both detectors over `series` (in run order).
pub fn analyze(series: &[f64], params: &Params) -> Analysis {
    let change_points = e_divisive(series, params);
    let drift = drift(series, &change_points, params.alpha);
    Analysis {
        change_points,
        drift,
    }
}

/// E-divisive means with the energy statistic (exponent 1, so differences are absolute):
/// repeatedly take the segment whose best split has the largest statistic, test that split
/// with a permutation test, and keep it when p <= alpha; stop at the first split that is not
/// significant. Returns the change points sorted by index.
pub fn e_divisive(series: &[f64], params: &Params) -> Vec<ChangePoint> {
    let n = series.len();
    let min = params.min_segment.max(2);
    if n < 2 * min || series.iter().any(|x| !x.is_finite()) {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(params.seed);
    // The cuts (index, p-value) so far in index order, and with 0 and n the segments' bounds.
    let (mut cuts, mut bounds): (Vec<(usize, f64)>, _) = (Vec::new(), vec![0, n]);
    loop {
        let best = bounds
            .windows(2)
            .filter_map(|w| {
                best_split(&series[w[0]..w[1]], min).map(|(tau, q)| (w[0], w[1], w[0] + tau, q))
            })
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let Some((start, end, at, q)) = best else {
            break;
        };
        let p = permutation_p(&series[start..end], q, min, params, &mut rng);
        if p > params.alpha {
            break;
        }
        let i = bounds.partition_point(|&b| b < at);
        bounds.insert(i, at);
        cuts.insert(i - 1, (at, p));
    }
    cuts.iter()
        .enumerate()
        .map(|(i, &(index, p_value))| ChangePoint {
            index,
            mean_before: mean(&series[bounds[i]..index]),
            mean_after: mean(&series[index..bounds[i + 2]]),
            p_value,
        })
        .collect()
}

/// The split of `x` with the largest energy statistic, as (index in `x`, statistic), with at
/// least `min` points on each side, in O(n log n).
fn best_split(x: &[f64], min: usize) -> Option<(usize, f64)> {
    let n = x.len();
    if n < 2 * min {
        return None;
    }
    // left[t]: sum of |xi - xj| over pairs i < j < t; right[t]: over pairs t <= i < j.
    let left = pair_sums(x);
    let reversed: Vec<f64> = x.iter().rev().copied().collect();
    let mut right = pair_sums(&reversed);
    right.reverse();
    let total = left[n];
    (min..=n - min)
        .map(|t| {
            let (a, b) = (t as f64, (n - t) as f64);
            let cross = total - left[t] - right[t];
            let within_a = left[t] / (a * (a - 1.0) / 2.0);
            let within_b = right[t] / (b * (b - 1.0) / 2.0);
            let energy = 2.0 * cross / (a * b) - within_a - within_b;
            (t, a * b / (a + b) * energy)
        })
        .reduce(|best, split| if split.1 > best.1 { split } else { best })
}

/// `out[t]` = the sum of `|x[i] - x[j]|` over the pairs `i < j < t`, for `t` in `0..=n`, in
/// O(n log n): each new point's distances to the earlier ones come from the count and sum of
/// the earlier values below and above it, kept in Fenwick trees over value ranks.
fn pair_sums(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut rank = vec![0; n];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    let (mut count, mut sum) = (Fenwick::new(n), Fenwick::new(n));
    let (mut seen, mut seen_sum) = (0.0, 0.0);
    let mut out = vec![0.0; n + 1];
    for t in 0..n {
        let (below, below_sum) = (count.prefix(rank[t]), sum.prefix(rank[t]));
        let (above, above_sum) = (seen - below, seen_sum - below_sum);
        out[t + 1] = out[t] + (x[t] * below - below_sum) + (above_sum - x[t] * above);
        count.add(rank[t], 1.0);
        sum.add(rank[t], x[t]);
        seen += 1.0;
        seen_sum += x[t];
    }
    out
}

/// A Fenwick (binary indexed) tree of sums over positions `0..n`.
struct Fenwick(Vec<f64>);

impl Fenwick {
    fn new(n: usize) -> Self {
        Fenwick(vec![0.0; n + 1])
    }

    fn add(&mut self, at: usize, v: f64) {
        let mut i = at + 1;
        while i < self.0.len() {
            self.0[i] += v;
            i += i & i.wrapping_neg();
        }
    }

    /// The sum over positions `0..end`.
    fn prefix(&self, end: usize) -> f64 {
        let (mut i, mut s) = (end, 0.0);
        while i > 0 {
            s += self.0[i];
            i -= i & i.wrapping_neg();
        }
        s
    }
}

/// Share of random reorderings of `x` whose best split is at least as strong as `observed`
/// (with the +1 correction, so it is never 0). It stops as soon as the p-value can no longer
/// come out at or below alpha, which changes no decision: the p-value it then returns is
/// already above alpha (a lower bound of the full one).
fn permutation_p(
    x: &[f64],
    observed: f64,
    min: usize,
    params: &Params,
    rng: &mut SplitMix64,
) -> f64 {
    let perms = params.permutations;
    let mut work = x.to_vec();
    let mut extreme = 0u32;
    for _ in 0..perms {
        if f64::from(extreme + 1) / f64::from(perms + 1) > params.alpha {
            break;
        }
        // Fisher-Yates.
        for i in (1..work.len()).rev() {
            let j = rng.below(i + 1);
            work.swap(i, j);
        }
        if best_split(&work, min).is_some_and(|(_, q)| q >= observed) {
            extreme += 1;
        }
    }
    f64::from(extreme + 1) / f64::from(perms + 1)
}

/// Slow drift: the Mann-Kendall trend test over the whole series is significant at `alpha`,
/// and no single change point made half of the move from the first segment's mean to the last
/// one's (many small same-direction steps, or a steady slope). `None` otherwise, or below 4
/// points.
pub fn drift(series: &[f64], change_points: &[ChangePoint], alpha: f64) -> Option<Drift> {
    let n = series.len();
    if n < 4 || series.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let (s, var) = mann_kendall(series);
    if var <= 0.0 {
        return None;
    }
    // Continuity correction, as in the usual normal approximation.
    let z = (s - s.signum()) / var.sqrt();
    let p_value = 2.0 * (1.0 - normal_cdf(z.abs()));
    if p_value > alpha {
        return None;
    }
    let slopes: Vec<f64> = pairs(n)
        .map(|(i, j)| (series[j] - series[i]) / (j - i) as f64)
        .collect();
    let slope = crate::gate::stats::median(&slopes)?;
    let total = slope * (n - 1) as f64;
    if let (Some(first), Some(last)) = (change_points.first(), change_points.last()) {
        let moved = (last.mean_after - first.mean_before).abs();
        let largest_step = change_points
            .iter()
            .map(|c| (c.mean_after - c.mean_before).abs())
            .fold(0.0, f64::max);
        if largest_step >= 0.5 * moved {
            return None;
        }
    }
    let first = change_points.first().map_or(n, |c| c.index);
    let level = crate::gate::stats::median(&series[..first])?;
    Some(Drift {
        slope_per_run: slope,
        total_pct: (level != 0.0).then(|| total / level.abs() * 100.0),
        p_value,
    })
}

/// Mann-Kendall S and its variance under no trend, with the correction for ties.
fn mann_kendall(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let s: f64 = pairs(n)
        .map(|(i, j)| (x[j] - x[i]).signum() * f64::from(u8::from(x[j] != x[i])))
        .sum();
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 = sorted
        .chunk_by(|a, b| a == b)
        .map(|run| run.len() as f64)
        .map(|t| t * (t - 1.0) * (2.0 * t + 5.0))
        .sum();
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    (s, var)
}

/// Standard normal CDF through the Abramowitz-Stegun 7.1.26 erf approximation (error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    0.5 * (1.0 + if z >= 0.0 { erf } else { -erf })
}

/// Every pair of indices `i < j` below `n`, in order.
fn pairs(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |i| (i + 1..n).map(move |j| (i, j)))
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

// Tests of private helpers; the public interface is tested in tests/it/unit/changepoint.rs.
#[cfg(test)]
mod tests {
    use super::*;

    /// `level(i) * (1 + 5% noise)`: a step the helpers below must see through.
    fn series(n: usize, seed: u64, level: impl Fn(usize) -> f64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|i| level(i) * (1.0 + 0.05 * rng.normal()))
            .collect()
    }

    #[test]
    fn pair_sums_match_the_direct_sum() {
        let x = series(40, 5, |i| if i % 7 == 0 { 3.0 } else { 1.0 });
        let mut with_ties = x.clone();
        with_ties.extend([2.0, 2.0, 2.0]);
        for x in [x, with_ties, vec![], vec![4.0]] {
            let fast = pair_sums(&x);
            for (t, fast_t) in fast.iter().enumerate() {
                let mut direct = 0.0;
                for j in 0..t {
                    for i in 0..j {
                        direct += (x[i] - x[j]).abs();
                    }
                }
                assert!((fast_t - direct).abs() <= 1e-9 * direct.max(1.0), "{t}");
            }
        }
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-2.575_829) - 0.005).abs() < 1e-6);
    }
}
