//! A bench run for people: the metrics table perf-bench prints, its Markdown summary
//! (`perf_summary_<ts>.md`), and hyperfine-style warnings when a measurement looks noisy.

use std::fmt::Write as _;

use crate::model::run_file::{RunFile, Samples};
use crate::model::suite::COMPONENTS;

/// Spread (max − min over the median) past which a trial metric is called noisy.
const NOISY_TRIALS_PCT: f64 = 10.0;
/// The same for component benchmarks, whose samples are short and vary more.
const NOISY_SAMPLES_PCT: f64 = 20.0;
/// The workload metrics whose noise is warned about (every component's is).
const WATCHED: [&str; 4] = [
    "rps",
    "sequential_rps",
    "latency_p99_ms",
    "cpu_ms_per_1k_req",
];

/// Metrics whose spread across trials deserves a warning, with what would help.
pub(crate) fn noise_warnings(run: &RunFile) -> Vec<String> {
    let components = run.workload.as_deref() == Some(COMPONENTS);
    let (limit, what) = if components {
        (NOISY_SAMPLES_PCT, "samples")
    } else {
        (NOISY_TRIALS_PCT, "trials")
    };
    run.spread
        .iter()
        .filter(|(name, _)| components || WATCHED.contains(&name.as_str()))
        .filter(|(_, s)| s.spread_pct > limit)
        .map(|(name, s)| {
            format!(
                "{name} varies by {:.0}% across {what}; close other programs or raise --trials",
                s.spread_pct
            )
        })
        .collect()
}

/// The terminal table: metric, median, min, max, spread.
pub(crate) fn metrics_table(run: &RunFile) -> String {
    let mut out = format!(
        "{:<28} {:>14} {:>14} {:>14} {:>8}\n",
        "metric", "median", "min", "max", "spread"
    );
    for (name, v) in &run.metrics {
        let s = run.spread.get(name);
        let _ = writeln!(
            out,
            "{:<28} {:>14} {:>14} {:>14} {:>7}%",
            name,
            fmt_num(v.number()),
            fmt_num(s.map(|s| s.min)),
            fmt_num(s.map(|s| s.max)),
            s.map_or("-".into(), |s| format!("{:.1}", s.spread_pct))
        );
    }
    out.pop();
    out
}

fn fmt_num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "-".into(), fmt_fixed)
}

/// A measurement: one decimal from 100 up, else four (NaN and infinities as `{}` shows them).
pub(crate) fn fmt_fixed(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
    }
}

/// `perf_summary_<ts>.md`.
pub(crate) fn summary_markdown(run: &RunFile) -> String {
    let mut md = String::new();
    let r = &run.run;
    let workload = run.workload.as_deref().unwrap_or("?");
    let _ = writeln!(md, "# perf-bench: workload `{workload}`\n");
    let _ = writeln!(
        md,
        "- status: **{}** (exit code {}){}",
        r.status.as_deref().unwrap_or("?"),
        r.exit_code.map_or("null".into(), |c| c.to_string()),
        r.message
            .as_deref()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    );
    let shown = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    let _ = writeln!(
        md,
        "- trials: {} of {} completed, {} s\n- commit: `{}`{}\n- machine: {} ({} CPUs), {}\n- slowdown knob: {}\n",
        shown(run.trials_completed.map(|n| n.to_string())),
        shown(run.trials.map(|n| n.to_string())),
        shown(r.elapsed_s.map(|s| s.to_string())),
        run.git.commit.as_deref().unwrap_or("unknown"),
        if run.git.dirty == Some(true) {
            " (dirty)"
        } else {
            ""
        },
        run.env.cpu_model.as_deref().unwrap_or("?"),
        shown(run.env.cpu_count.map(|n| n.to_string())),
        run.env.kernel.as_deref().unwrap_or("?"),
        if run.slowdown_knob() {
            "**ON — not a normal run**"
        } else {
            "off"
        },
    );
    md.push_str(
        "| metric | median | min | max | spread | per trial |\n|---|---:|---:|---:|---:|---|\n",
    );
    for (name, v) in &run.metrics {
        let s = run.spread.get(name);
        let per: Vec<String> = match run.samples.get(name) {
            Some(Samples::Values(vals)) => vals.iter().map(|x| fmt_num(Some(*x))).collect(),
            _ => Vec::new(),
        };
        let _ = writeln!(
            md,
            "| `{name}` | {} | {} | {} | {} | {} |",
            fmt_num(v.number()),
            fmt_num(s.map(|s| s.min)),
            fmt_num(s.map(|s| s.max)),
            s.map_or("-".into(), |s| format!("{:.1}%", s.spread_pct)),
            per.join(", ")
        );
    }
    let warnings = noise_warnings(run);
    if !warnings.is_empty() {
        md.push_str("\n**Warnings**\n\n");
        for w in warnings {
            let _ = writeln!(md, "- {w}");
        }
    }
    md
}
