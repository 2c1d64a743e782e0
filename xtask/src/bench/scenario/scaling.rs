//! The `scaling` scenario: the same router under more and more connections. A closed loop
//! at each connection count measures throughput at that concurrency; then an open loop at a
//! fixed share of the first count's throughput, spread over each count's connections (up
//! and back down), measures latency: below capacity, it should barely move as connections
//! grow. (A closed loop alone saturates the router at
//! every step, where latency grows with connections by Little's law whatever the router
//! does; its numbers are kept in the phases for reference.)

use anyhow::Result;

use crate::bench::loadgen::LoadSpec;
use crate::bench::trial::{Runner, Status, num, round3, round4};
pub use crate::model::scenario::scaling::Params;

/// The largest relative increase, in percent, from one step's value to the next; NaN when
/// a value is missing or zero.
pub fn max_increase_pct(values: &[f64]) -> f64 {
    values
        .windows(2)
        .map(|w| {
            if w[0] > 0.0 && w[1].is_finite() {
                (w[1] / w[0] - 1.0) * 100.0
            } else {
                f64::NAN
            }
        })
        .fold(f64::NEG_INFINITY, |acc, x| {
            if acc.is_nan() || x.is_nan() {
                f64::NAN
            } else {
                acc.max(x)
            }
        })
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    let mut rps = Vec::new();
    for &c in &p.connections {
        let closed = runner.phase(&format!("closed_c{c}"), &LoadSpec::closed(c, p.closed_ms))?;
        let throughput = num(&closed, &["rps"]);
        runner.metric(&format!("scaling_rps_c{c}"), round3(throughput));
        rps.push(throughput);
    }
    // The open loop's rate is fixed by the first step, so every step carries the same work.
    let rate = (rps[0] * p.rate_share).max(1.0) as u64;
    // Up the connection counts and back down (ABC CBA), each count's latency the lower of
    // its two readings: a drift of the machine during the trial then favours no count, and
    // a host stall (this VM has ~100 ms ones), which only ever adds latency, spoils one
    // reading, not the count. At 50 us medians either would otherwise read as scaling.
    let n = p.connections.len();
    let mut p50 = vec![f64::INFINITY; n];
    let mut p99 = vec![f64::INFINITY; n];
    for (round, order) in [(1, (0..n).collect::<Vec<_>>()), (2, (0..n).rev().collect())] {
        for i in order {
            let c = p.connections[i];
            let open = runner.phase(
                &format!("open_c{c}_round{round}"),
                &LoadSpec::open(c, p.open_ms, rate),
            )?;
            // NaN (no responses) must win over any reading: `f64::min` would drop it.
            for (slot, q) in [(&mut p50[i], "p50"), (&mut p99[i], "p99")] {
                let v = num(&open, &["latency_ms", q]);
                *slot = if v.is_nan() || slot.is_nan() {
                    f64::NAN
                } else {
                    slot.min(v)
                };
            }
        }
    }
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
    runner.metric(
        "scaling_rps_min_share",
        round4(if hi > 0.0 { lo / hi } else { f64::NAN }),
    );
    Ok(())
}
