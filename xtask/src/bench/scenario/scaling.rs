//! The `scaling` scenario: the same router under more and more connections. A closed loop at
//! each count measures throughput; an open loop at a fixed share of the first count's
//! throughput measures latency, which below capacity should barely move as connections grow
//! (a saturating closed loop's latency grows with them by Little's law whatever the router does).

use anyhow::Result;

use crate::bench::loadgen::LoadSpec;
use crate::bench::runner::{Runner, Status, round3, round4};
use crate::model::load_report::Report;
pub use crate::model::scenario::scaling::Params;

/// The largest step-to-step increase, in percent; NaN when a value is missing or zero.
pub(crate) fn max_increase_pct(values: &[f64]) -> f64 {
    values
        .windows(2)
        .map(|w| {
            if w[0] > 0.0 && w[1].is_finite() {
                (w[1] / w[0] - 1.0) * 100.0
            } else {
                f64::NAN
            }
        })
        .fold(f64::NEG_INFINITY, |acc, x| nan_wins(acc, x, f64::max))
}

/// `f(a, b)`, or NaN when either is one (std's `min` and `max` would drop it).
fn nan_wins(a: f64, b: f64, f: fn(f64, f64) -> f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        f(a, b)
    }
}

/// Each connection count's readings of `fields` from phases `kind` (`closed_c10_round1`, ...),
/// up the counts and back down (ABC CBA), the better of two kept: a drift of the machine
/// favours no count, and a host stall (this VM has ~100 ms ones) spoils one reading, not the
/// count. NaN (no responses) wins over any reading.
fn up_and_down(
    runner: &mut Runner<'_, '_>,
    counts: &[u32],
    (kind, spec): (&str, &dyn Fn(u32) -> LoadSpec),
    fields: &[fn(&Report) -> f64],
    better: fn(f64, f64) -> f64,
) -> Result<Vec<Vec<f64>>, Status> {
    let n = counts.len();
    let mut best: Vec<Option<Vec<f64>>> = vec![None; n];
    for (round, order) in [(1, (0..n).collect::<Vec<_>>()), (2, (0..n).rev().collect())] {
        for i in order {
            let c = counts[i];
            let phase = runner.phase(&format!("{kind}_c{c}_round{round}"), &spec(c))?;
            let read = fields.iter().map(|f| f(&phase));
            best[i] = Some(match best[i].take() {
                None => read.collect(),
                Some(kept) => kept
                    .iter()
                    .zip(read)
                    .map(|(a, b)| nan_wins(*a, b, better))
                    .collect(),
            });
        }
    }
    Ok(best.into_iter().flatten().collect())
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    // Throughput: the higher of each count's two closed-loop readings.
    let closed = up_and_down(
        runner,
        &p.connections,
        ("closed", &|c| LoadSpec::closed(c, p.closed_ms)),
        &[|r| r.rps],
        f64::max,
    )?;
    let rps: Vec<f64> = closed.iter().map(|v| v[0]).collect();
    for (c, r) in p.connections.iter().zip(&rps) {
        runner.metric(&format!("scaling_rps_c{c}"), round3(*r));
    }
    // The open loop's rate is fixed by the first step, so every step carries the same work.
    let rate = (rps[0] * p.rate_share).max(1.0) as u64;
    // Latency: the lower of each count's two readings (at 50 us medians a stall would
    // otherwise read as scaling).
    let open = up_and_down(
        runner,
        &p.connections,
        ("open", &|c| LoadSpec::open(c, p.open_ms, rate)),
        &[|r| r.latency("p50"), |r| r.latency("p99")],
        f64::min,
    )?;
    let (p50, p99): (Vec<f64>, Vec<f64>) = open.iter().map(|v| (v[0], v[1])).unzip();
    for (i, c) in p.connections.iter().enumerate() {
        runner.metric(&format!("scaling_p50_ms_c{c}"), round4(p50[i]));
        runner.metric(&format!("scaling_p99_ms_c{c}"), round4(p99[i]));
    }
    runner.metric("scaling_p50_increase_pct", round3(max_increase_pct(&p50)));
    runner.metric("scaling_p99_increase_pct", round3(max_increase_pct(&p99)));
    // Throughput should hold as connections grow: the lowest step against the highest.
    let (lo, hi) = rps.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &x| {
        (lo.min(x), hi.max(x))
    });
    runner.metric("scaling_rps_min_share", round4(super::ratio(lo, hi)));
    Ok(())
}

#[cfg(test)]
mod tests;
