//! `cargo xtask perf-history`: reads the history store, prints each metric's trend with a
//! sparkline, and points at the runs where a metric moved (change points) or keeps creeping
//! (drift). Advisory: it exits 0 whatever it finds, and 2 only on bad input; with
//! `--fail-on-change-point` it exits 1 when a change point is recent (a nightly job's alarm).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};

use crate::flags::HistoryArgs;
use crate::gate::changepoint::{self, Analysis, Params};
use crate::model::history::{self, Record};
use crate::report::bench::fmt_fixed as fmt;

/// Runs the command; returns exit code 0 (or 1 with `--fail-on-change-point` and a recent
/// change point), or an error (exit 2) for bad flags or a file that cannot be read (missing,
/// too large). Lines that are not records are warnings.
pub fn run(args: &HistoryArgs) -> Result<u8> {
    let params = params(args)?;
    let path = history::resolve(&args.history);
    let store = history::read(&path)?;
    for problem in &store.problems {
        eprintln!("perf-history: warning: {problem}");
    }
    let mut workloads: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for (_, r) in &store.records {
        if r.status == "ok" && args.workload.as_ref().is_none_or(|w| &r.workload == w) {
            workloads.entry(r.workload.as_str()).or_default().push(r);
        }
    }
    if workloads.is_empty() {
        let of = args
            .workload
            .as_ref()
            .map_or(String::new(), |w| format!(" of workload {w}"));
        println!("{}: no successful runs{of}", path.display());
        return Ok(crate::exit::OK);
    }
    let mut recent = Vec::new();
    for (workload, runs) in &workloads {
        print!(
            "{}",
            workload_report(workload, runs, args, &params, &mut recent)
        );
    }
    if !args.fail_on_change_point || recent.is_empty() {
        return Ok(crate::exit::OK);
    }
    for line in &recent {
        println!("perf-history: {line}");
    }
    println!(
        "perf-history: exit 1 (--fail-on-change-point): {} recent change point(s), within the \
         newest {} runs (2 x --min-segment) of their series",
        recent.len(),
        recent_window(params.min_segment)
    );
    Ok(crate::exit::REGRESSION)
}

/// How many of a series' newest runs count as recent for `--fail-on-change-point`. A change
/// point needs `min_segment` runs after it to be found at all, so it stays recent for the
/// next `min_segment` runs or so: long enough for a nightly job to fail on it a few times,
/// short enough that a settled change stops failing every later night.
fn recent_window(min_segment: usize) -> usize {
    2 * min_segment
}

/// Largest `--permutations`: with 100,000 the smallest p is 1e-5, and one test over a long
/// history still takes seconds; beyond it a typo (`4000000000`) would run for days.
const MAX_PERMUTATIONS: u32 = 100_000;
/// Largest `--min-segment`: a level that must hold for more runs than this is no question a
/// history answers.
const MAX_MIN_SEGMENT: usize = 10_000;
/// Largest `--width`, in sparkline characters.
const MAX_WIDTH: usize = 10_000;

/// The analysis parameters, each checked against its range: a bad one is an error naming the
/// flag and the range (exit 2) before anything is read.
fn params(args: &HistoryArgs) -> Result<Params> {
    let (alpha, min_segment, permutations, width) =
        (args.alpha, args.min_segment, args.permutations, args.width);
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("--alpha: expected a level between 0 and 1 (exclusive), got {alpha}");
    }
    if !(2..=MAX_MIN_SEGMENT).contains(&min_segment) {
        bail!("--min-segment: expected 2 to {MAX_MIN_SEGMENT} runs, got {min_segment}");
    }
    if !(1..=MAX_PERMUTATIONS).contains(&permutations) {
        bail!("--permutations: expected 1 to {MAX_PERMUTATIONS}, got {permutations}");
    }
    if !(1..=MAX_WIDTH).contains(&width) {
        bail!("--width: expected 1 to {MAX_WIDTH} characters, got {width}");
    }
    let smallest_p = 1.0 / (f64::from(permutations) + 1.0);
    if alpha < smallest_p {
        let needed = ((1.0 / alpha) - 1.0).ceil();
        let fix = if needed <= f64::from(MAX_PERMUTATIONS) {
            format!("raise --permutations to at least {needed}")
        } else {
            format!("no --permutations up to {MAX_PERMUTATIONS} reaches it")
        };
        eprintln!(
            "perf-history: warning: with --permutations {permutations} the smallest p-value is \
             {smallest_p:.2e}, above --alpha {alpha}: no change point can be found (drift still \
             can); {fix}"
        );
    }
    Ok(Params {
        min_segment,
        alpha,
        permutations,
        ..Params::default()
    })
}

/// A workload's header: how many runs over what time, and whether they come from more than
/// one environment (where a change point may be a machine change).
fn header(workload: &str, runs: &[&Record]) -> String {
    let fingerprints: BTreeSet<&str> = runs
        .iter()
        .filter_map(|r| r.env_fingerprint.as_deref())
        .collect();
    let mut out = format!(
        "workload {workload}: {} run(s), {} to {}\n",
        runs.len(),
        runs[0].timestamp,
        runs[runs.len() - 1].timestamp
    );
    if fingerprints.len() > 1 {
        out.push_str(&format!(
            "  note: runs come from {} different environments (fingerprints {}); a change \
             point may be a machine change\n",
            fingerprints.len(),
            Vec::from_iter(fingerprints).join(", ")
        ));
    }
    out
}

/// One workload's trends: a header, then per metric a sparkline line and its findings.
fn workload_report(
    workload: &str,
    runs: &[&Record],
    args: &HistoryArgs,
    params: &Params,
    recent: &mut Vec<String>,
) -> String {
    let mut out = header(workload, runs);
    let mut names: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    if !args.metrics.is_empty() {
        for wanted in &args.metrics {
            if !names.contains(&wanted) {
                out.push_str(&format!(
                    "  {wanted}: no values in this workload's history\n"
                ));
            }
        }
        names.retain(|n| args.metrics.contains(n));
    }
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for name in names {
        // Runs without this metric are skipped; indexes below are into the metric's series.
        let points: Vec<(&Record, f64)> = runs
            .iter()
            .filter_map(|r| r.metrics.get(name).map(|v| (*r, *v)))
            .collect();
        let series: Vec<f64> = points.iter().map(|p| p.1).collect();
        let shown = &series[series.len().saturating_sub(args.width)..];
        let elided = if shown.len() < series.len() {
            "…"
        } else {
            ""
        };
        let (lo, hi) = min_max(&series);
        out.push_str(&format!(
            "  {name:<width$}  {elided}{}  {} run(s), last {}, min {}, max {}\n",
            sparkline(shown),
            series.len(),
            fmt(series[series.len() - 1]),
            fmt(lo),
            fmt(hi),
        ));
        let analysis = changepoint::analyze(&series, params);
        out.push_str(&findings(&analysis, &points, width));
        // Recent means near the end of this metric's own series, which may be shorter than
        // the workload's runs when older runs lack the metric.
        let window_start = series
            .len()
            .saturating_sub(recent_window(params.min_segment));
        for cp in analysis
            .change_points
            .iter()
            .filter(|cp| cp.index >= window_start)
        {
            recent.push(format!(
                "recent change point in {workload} {name} at run {} ({}): {}",
                cp.index + 1,
                commit(points[cp.index].0),
                cp.change_pct().map_or_else(
                    || format!("{} -> {}", fmt(cp.mean_before), fmt(cp.mean_after)),
                    |p| format!("{p:+.1}%")
                )
            ));
        }
    }
    out
}

/// The change points and drift of one metric, each on its own indented line.
fn findings(analysis: &Analysis, points: &[(&Record, f64)], width: usize) -> String {
    let pad = " ".repeat(width + 4);
    let mut out = String::new();
    for cp in &analysis.change_points {
        let at = points[cp.index].0;
        out.push_str(&format!(
            "{pad}change point at run {} ({}, {}): {} -> {} ({}), p = {:.3}\n",
            cp.index + 1,
            commit(at),
            at.timestamp,
            fmt(cp.mean_before),
            fmt(cp.mean_after),
            cp.change_pct()
                .map_or("-".to_string(), |p| format!("{p:+.1}%")),
            cp.p_value
        ));
    }
    if let Some(d) = &analysis.drift {
        let sign = if d.slope_per_run >= 0.0 { "+" } else { "" };
        let p = if d.p_value < 0.0001 {
            "< 0.0001".to_string()
        } else {
            format!("= {:.4}", d.p_value)
        };
        out.push_str(&format!(
            "{pad}drift: {sign}{} per run{} (Mann-Kendall p {p}); no single change point explains it\n",
            fmt(d.slope_per_run),
            d.total_pct
                .map(|p| format!(", {p:+.1}% over the series"))
                .unwrap_or_default(),
        ));
    }
    out
}

/// Unicode block sparkline scaled from the series' min (▁) to its max (█).
pub(crate) fn sparkline(series: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = min_max(series);
    series
        .iter()
        .map(|v| {
            if hi > lo {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            } else {
                BARS[3]
            }
        })
        .collect()
}

fn min_max(series: &[f64]) -> (f64, f64) {
    let lo = series.iter().copied().fold(f64::INFINITY, f64::min);
    (lo, series.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

/// The run's commit, short.
fn commit(run: &Record) -> &str {
    let c = run.commit.as_deref();
    c.map_or("unknown commit", |c| c.get(..10).unwrap_or(c))
}

#[cfg(test)]
mod tests;
