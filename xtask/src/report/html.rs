//! `cargo xtask perf-report`: one self-contained HTML file (inline CSS and SVG, no script, no
//! network) that shows a gate run: the verdict table, the latency distributions from the
//! bench's HDR histograms, every trial of every gated metric, both environments, and the
//! history trend when a history store exists. perf-gate writes one next to its artifacts.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::gate::changepoint::{self, Params};
use crate::gate::evaluate::{ENV_FIELDS, evaluate, fmt_pct};
use crate::model::artifacts;
use crate::model::history;
use crate::model::policy;
use crate::model::policy::fmt_num;
use crate::model::run_file;
use crate::model::run_file::{RunFile, Samples};
use crate::report::escape::xml_escape as esc;
use crate::report::profile;
use crate::report::svg::{self, BASELINE, CANDIDATE};
use crate::report::verdict::{self, Record, RowRecord, Threshold};

/// Points per percentile curve: every 0.02 "nines" from 0 to 99.99%.
pub(crate) const CURVE_POINTS: usize = 201;
/// The newest runs a history trend shows.
const HISTORY_RUNS: usize = 100;

/// A run file as read: where it came from, and what it holds (one side of a comparison).
#[derive(Clone)]
pub struct Side {
    pub path: PathBuf,
    pub run: RunFile,
}

impl Side {
    pub fn load(path: &Path) -> Result<Side> {
        Ok(Side {
            path: path.to_path_buf(),
            run: run_file::load(path)?,
        })
    }
}

/// Everything the report shows. Missing parts are left out, with a note saying why.
#[derive(Default)]
pub struct Report {
    pub baseline: Option<Side>,
    pub candidate: Option<Side>,
    /// The verdict as perf-gate writes it.
    pub verdict: Option<Record>,
    pub history: Option<History>,
    /// Problems met while gathering the inputs; shown at the top of the report.
    pub notes: Vec<String>,
}

/// The history store as read (`history::parse`): records in run order, and every line that
/// could not be used.
pub struct History {
    pub path: String,
    pub history: history::History,
}

/// Writes `<dir>/perf_report_<stamp>.html` and returns its path.
pub fn write(dir: &Path, stamp: &str, report: &Report) -> Result<PathBuf> {
    for note in &report.notes {
        eprintln!("perf-report: note: {note}");
    }
    if let Some(h) = &report.history {
        for p in &h.history.problems {
            eprintln!("perf-report: warning: {p}");
        }
    }
    let path = dir.join(format!("perf_report_{stamp}.html"));
    artifacts::write_atomic(&path, render(report).as_bytes())?;
    Ok(path)
}

/// The report perf-gate writes next to its artifacts, from the files it judged; `history` is
/// perf-gate's `--history` (else `perf/history.jsonl` when it exists).
pub(crate) fn for_gate(
    root: &Path,
    baseline: Side,
    candidate: Side,
    history: Option<&Path>,
    verdict: Record,
) -> Report {
    let (history, notes) = match history_for(root, history.map(history::resolve).as_deref()) {
        Ok(h) => (h, Vec::new()),
        Err(e) => (None, vec![format!("{e:#}")]),
    };
    Report {
        baseline: Some(baseline),
        candidate: Some(candidate),
        verdict: Some(verdict),
        history,
        notes,
    }
}

fn load_side(path: &Path, notes: &mut Vec<String>) -> Option<Side> {
    Side::load(path)
        .map_err(|e| notes.push(format!("{e:#}")))
        .ok()
}

/// A relative path in a verdict is as perf-gate was given it: relative to where it ran,
/// which is usually the workspace root.
fn resolve(root: &Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() || p.exists() {
        p
    } else {
        root.join(p)
    }
}

pub(crate) fn from_verdict(root: &Path, path: &Path) -> Result<Report> {
    let verdict = Record::load(path)?;
    let mut report = Report::default();
    report.baseline = load_side(&resolve(root, &verdict.inputs.baseline), &mut report.notes);
    report.candidate = load_side(&resolve(root, &verdict.inputs.candidate), &mut report.notes);
    report.verdict = Some(verdict);
    Ok(report)
}

pub(crate) fn from_runs(
    baseline: &Path,
    candidate: &Path,
    policy: &Path,
    workload: &str,
) -> Result<Report> {
    let policy_file = policy::load(policy)?;
    let mut report = Report::default();
    report.baseline = load_side(baseline, &mut report.notes);
    report.candidate = load_side(candidate, &mut report.notes);
    let (Some(b), Some(c)) = (&report.baseline, &report.candidate) else {
        bail!("{}", report.notes.join("; "));
    };
    let verdict = evaluate(&b.run, &c.run, &policy_file);
    let timestamp = artifacts::now_rfc3339();
    let [baseline, candidate, policy_shown] =
        [&b.path, &c.path, policy].map(|p| p.display().to_string());
    let ctx = verdict::Context {
        explain: None,
        timestamp: &timestamp,
        workload,
        baseline: &baseline,
        candidate: &candidate,
        policy_path: &policy_shown,
        policy: Some(&policy_file),
        baseline_run: Some(&b.run),
        candidate_run: Some(&c.run),
    };
    report.verdict = Some(Record::new(&verdict, &ctx));
    Ok(report)
}

/// The history store: the given path (an error when it cannot be read), else
/// `perf/history.jsonl` when it exists, else none. Reading is `history::read`: bounded in
/// size, and a torn last line (a crash mid-append) or a line that is not UTF-8 is reported,
/// never silently dropped and never the end of the report.
pub(crate) fn history_for(root: &Path, given: Option<&Path>) -> Result<Option<History>> {
    let path = given.map_or_else(|| root.join(history::DEFAULT_PATH), Path::to_path_buf);
    if given.is_none() && !path.is_file() {
        return Ok(None);
    }
    Ok(Some(History {
        history: history::read(&path)?,
        path: path.display().to_string(),
    }))
}

/// The latency trial histograms (the only ones a run file keeps) merged into one, with what
/// a recorded value is divided by to give milliseconds. `None` when the run has none; a trial
/// that cannot be decoded, or is in another or an unknown unit, is skipped with a note.
fn merged(side: &Side, notes: &mut Vec<String>) -> Option<(Histogram<u64>, f64)> {
    let mut merged: Option<(Histogram<u64>, f64)> = None;
    for (i, t) in side.run.histograms.latency.iter().enumerate() {
        let Some(t) = t else { continue };
        let at = format!("{}: histograms.latency[{i}]", side.path.display());
        let Some(per_ms) = t.per_ms() else {
            notes.push(format!("{at}: unknown unit {:?}", t.unit));
            continue;
        };
        match (crate::model::histogram::decode(t), &mut merged) {
            (Ok(h), None) => merged = Some((h, per_ms)),
            (Ok(h), Some((m, first))) if *first == per_ms => {
                if let Err(e) = m.add(&h) {
                    notes.push(format!("{at}: not merged: {e:?}"));
                }
            }
            (Ok(_), Some(_)) => notes.push(format!("{at}: not merged: another unit")),
            (Err(e), _) => notes.push(format!("{at}: {e:#}")),
        }
    }
    merged.filter(|(h, _)| !h.is_empty())
}

/// The percentile curve of a histogram: `CURVE_POINTS` points `(nines, value in ms)`.
pub fn curve(h: &Histogram<u64>, per_ms: f64) -> Vec<(f64, f64)> {
    (0..CURVE_POINTS)
        .map(|i| {
            let nines = svg::MAX_NINES * i as f64 / (CURVE_POINTS - 1) as f64;
            let q = 1.0 - 10f64.powf(-nines);
            (nines, h.value_at_quantile(q) as f64 / per_ms)
        })
        .collect()
}

fn samples(side: Option<&Side>, metric: &str) -> Vec<f64> {
    match side.and_then(|s| s.run.samples.get(metric)) {
        Some(Samples::Values(v)) => v.clone(),
        _ => Vec::new(),
    }
}

/// Where a verdict row's rule fails, relative to the baseline's median for relative rules:
/// the trials chart shows per-trial values and their median, so its line starts from the
/// median (`baseline_median`; `baseline` in a verdict written before it existed), not from a
/// pooled percentile the row may compare.
pub fn threshold(row: &RowRecord) -> svg::Threshold {
    let base = row.baseline_median.or(row.baseline);
    let (fail_above, fail_below) = match (row.rule_kind.as_str(), row.threshold, base) {
        ("max_pct_increase", Threshold::Pct(p), Some(b)) => (Some(b * (1.0 + p / 100.0)), None),
        ("max_pct_decrease", Threshold::Pct(p), Some(b)) => (None, Some(b * (1.0 - p / 100.0))),
        (_, Threshold::Bounds { equals, min, max }, _) => (equals.or(max), equals.or(min)),
        _ => (None, None),
    };
    svg::Threshold {
        fail_above,
        fail_below,
    }
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{display:inline-block;padding:6px 12px;border-radius:4px;font-weight:600;margin:8px 0}
.o-pass{background:#e3f4e6;color:#1b5e20}.o-fail,.o-error,.o-bench_failed{background:#fde2e1;color:#8b1a1a}
table{border-collapse:collapse;margin:8px 0;font-size:13px} th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.v-pass td.v{background:#e3f4e6} tr.v-warn td.v{background:#fff3cd} tr.v-fail td.v{background:#f8c9c6;font-weight:600}
tr.v-inconclusive td.v{background:#ece6f6} tr.v-skipped td.v{background:#eee} tr.blocking td{border-color:#d9534f}
tr.diff td{background:#fff3cd} tr.diff.gated td:first-child{font-weight:600;color:#8b1a1a}
code{font-size:12px;word-break:break-all}
.charts{display:flex;flex-wrap:wrap;gap:12px} .chart{border:1px solid #e3e3e3;background:#fff}
.chart .title{font-size:13px;font-weight:600} .chart .tick{font-size:11px;fill:#555} .chart .axis{font-size:11px;fill:#333}
.chart .grid{stroke:#eee} .chart .frame{fill:none;stroke:#bbb} .chart .axisline{stroke:#888}
.chart .changepoint{stroke:#6a3d9a;stroke-dasharray:4 3;stroke-width:1.5} .chart .threshold{stroke:#d9534f;stroke-dasharray:5 4;stroke-width:1.5} .chart .failzone{fill:#d9534f;fill-opacity:0.08}
.note{color:#8a5a00} ul{margin:4px 0}
.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}
";

/// The whole HTML document.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let v = r.verdict.as_ref();
    let workload = esc(v.map_or("", |v| v.workload.as_str()));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>perf report {workload}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(
        out,
        "<h1>Performance report: workload <code>{workload}</code></h1>"
    );
    if let Some(v) = v {
        let _ = writeln!(
            out,
            "<div class=\"verdict o-{}\">{}</div>",
            esc(v.overall.as_str()),
            esc(&v.summary)
        );
        let _ = writeln!(
            out,
            "<p>Gate run {}; baseline <code>{}</code>, candidate <code>{}</code>, policy <code>{}</code>.</p>",
            esc(&v.timestamp),
            esc(&v.inputs.baseline),
            esc(&v.inputs.candidate),
            esc(&v.inputs.policy),
        );
    }
    for (side, label) in [(&r.baseline, "Baseline"), (&r.candidate, "Candidate")] {
        if let Some(s) = side {
            let provenance = esc(&verdict::provenance(&s.run));
            let _ = writeln!(out, "<p>{label}: {provenance}.</p>");
        }
    }
    let _ = writeln!(
        out,
        "<p class=\"key\">Colours:<span style=\"background:{BASELINE}\"></span>baseline\
         <span style=\"background:{CANDIDATE}\"></span>candidate</p>"
    );
    let mut notes = r.notes.clone();
    let mut body = String::new();
    gate_section(&mut body, v);
    explain_section(&mut body, v);
    distribution_section(&mut body, r, &mut notes);
    trials_section(&mut body, r);
    env_section(&mut body, r);
    if let Some(h) = &r.history {
        history_section(&mut body, h, v);
    }
    list(&mut out, " class=\"note\"", &notes);
    out.push_str(&body);
    out.push_str("</body>\n</html>\n");
    out
}

fn rows(v: Option<&Record>) -> &[RowRecord] {
    v.map_or(&[], |v| v.rows.as_slice())
}

fn gate_section(out: &mut String, v: Option<&Record>) {
    out.push_str("<h2 id=\"gate\">Gate</h2>\n");
    let Some(v) = v else {
        out.push_str("<p>No verdict.</p>\n");
        return;
    };
    out.push_str(
        "<table class=\"gate\">\n<tr><th>metric</th><th>baseline</th><th>candidate</th>\
         <th>change</th><th>interval</th><th>method</th><th>rule</th><th>severity</th><th>verdict</th></tr>\n",
    );
    let num = |x: Option<f64>| x.map_or_else(|| "-".to_string(), fmt_num);
    let pct = |x: Option<f64>| x.map_or_else(|| "-".to_string(), fmt_pct);
    for row in &v.rows {
        // Lower case, as the verdict JSON has it (`fail`; the CSS classes are `v-fail`).
        let verdict = row.verdict.as_str().to_ascii_lowercase();
        let interval = match (row.ci_low_pct, row.ci_high_pct) {
            (Some(lo), Some(hi)) => format!("[{}, {}]", fmt_pct(lo), fmt_pct(hi)),
            _ => "-".to_string(),
        };
        let blocking = if row.blocking { " blocking" } else { "" };
        let _ = writeln!(
            out,
            "<tr class=\"v-{}{blocking}\" title=\"{}\"><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"v\">{}</td></tr>",
            esc(&verdict),
            esc(&row.message),
            esc(&row.metric),
            num(row.baseline),
            num(row.candidate),
            pct(row.change_pct),
            esc(&interval),
            esc(row.method.as_str()),
            esc(&row.rule),
            esc(row.severity.map_or("-", |s| s.as_str())),
            esc(&verdict),
        );
    }
    out.push_str("</table>\n");
    for (_, title, items) in v.finding_lists() {
        if !items.is_empty() {
            let _ = writeln!(out, "<p><b>{title}</b></p>");
            list(out, "", items);
        }
    }
}

/// `items` as a `<ul{attrs}>` list; nothing when there are none.
fn list(out: &mut String, attrs: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "<ul{attrs}>");
    for i in items {
        let _ = writeln!(out, "<li>{}</li>", esc(i));
    }
    out.push_str("</ul>\n");
}

/// The differential profile the gate made (`explain` in the verdict): every changed function
/// and the flame graph.
fn explain_section(out: &mut String, v: Option<&Record>) {
    let Some(e) = v.and_then(|v| v.explain.as_ref()) else {
        return;
    };
    out.push_str("<h2 id=\"explain\">Why it is slower: the differential profile</h2>\n");
    out.push_str(&profile::html(e));
    let raw: Vec<String> = e
        .raw
        .iter()
        .map(|p| esc(&p.display().to_string()))
        .collect();
    let _ = writeln!(
        out,
        "<p>Raw callgrind files (kcachegrind, <code>callgrind_annotate</code>): <code>{}</code></p>",
        raw.join("</code>, <code>")
    );
}

fn distribution_section(out: &mut String, r: &Report, notes: &mut Vec<String>) {
    out.push_str("<h2 id=\"distribution\">Latency distribution</h2>\n");
    let mut curves = Vec::new();
    for (side, label, colour) in [
        (&r.baseline, "baseline", BASELINE),
        (&r.candidate, "candidate", CANDIDATE),
    ] {
        if let Some((h, per_ms)) = side.as_ref().and_then(|s| merged(s, notes)) {
            curves.push(svg::Curve {
                label: format!("{label} ({} requests)", h.len()),
                colour,
                points: curve(&h, per_ms),
            });
        }
    }
    if curves.is_empty() {
        out.push_str("<p>Neither run has latency histograms.</p>\n");
        return;
    }
    let title = "latency: latency by percentile, all trials merged";
    let chart = svg::percentile_chart(title, "latency", "latency (ms)", &curves);
    let _ = write!(out, "<div class=\"charts\">\n{chart}</div>\n");
}

/// The metrics to draw: the verdict's rows', else every one of `names` (once each, sorted).
fn metrics<'a>(v: Option<&Record>, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    match rows(v) {
        [] => {
            let names: BTreeSet<&String> = names.collect();
            names.into_iter().cloned().collect()
        }
        rows => rows.iter().map(|r| r.metric.clone()).collect(),
    }
}

fn trials_section(out: &mut String, r: &Report) {
    out.push_str(
        "<h2 id=\"trials\">Trials</h2>\n<p>Each dot is one trial, the bar is the median. \
         The dashed line is the rule's threshold (relative rules: from the baseline's median); \
         the shaded side fails.</p>\n<div class=\"charts\">\n",
    );
    let v = r.verdict.as_ref();
    let sides = [&r.baseline, &r.candidate].into_iter().flatten();
    for metric in metrics(v, sides.flat_map(|s| s.run.samples.keys())) {
        let row = rows(v).iter().find(|row| row.metric == metric);
        let baseline = samples(r.baseline.as_ref(), &metric);
        let candidate = samples(r.candidate.as_ref(), &metric);
        if baseline.is_empty() && candidate.is_empty() {
            continue;
        }
        out.push_str(&svg::strip_plot(&svg::Strip {
            metric: &metric,
            baseline: &baseline,
            candidate: &candidate,
            threshold: row.map(threshold).unwrap_or_default(),
            rule: row.map_or("", |r| r.rule.as_str()),
        }));
    }
    out.push_str("</div>\n");
}

/// An env value as a short string: strings bare, everything else as compact JSON.
fn env_text(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn env_section(out: &mut String, r: &Report) {
    out.push_str("<h2 id=\"env\">Environment</h2>\n");
    let env = |s: &Option<Side>| s.as_ref().map(|s| s.run.env.to_map()).unwrap_or_default();
    let (b, c) = (env(&r.baseline), env(&r.candidate));
    let keys: BTreeSet<&String> = b.keys().chain(c.keys()).collect();
    if keys.is_empty() {
        out.push_str("<p>Neither run records its environment.</p>\n");
        return;
    }
    out.push_str(
        "<p>Differing fields are highlighted; those in bold are the fields the gate compares \
         (they make runs incomparable).</p>\n<table class=\"env\">\n\
         <tr><th>field</th><th>baseline</th><th>candidate</th></tr>\n",
    );
    for k in keys {
        let (bv, cv) = (b.get(k), c.get(k));
        let class = match (bv != cv, ENV_FIELDS.contains(&k.as_str())) {
            (false, _) => "",
            (true, false) => "diff",
            (true, true) => "diff gated",
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            esc(k),
            esc(&env_text(bv)),
            esc(&env_text(cv))
        );
    }
    out.push_str("</table>\n");
}

fn history_section(out: &mut String, h: &History, v: Option<&Record>) {
    let records: Vec<&history::Record> = h.history.records.iter().map(|(_, r)| r).collect();
    // Trends compare like with like: the report's workload (else the newest record's), and
    // only runs that finished.
    let workload = v
        .map(|v| v.workload.as_str())
        .filter(|w| !w.is_empty())
        .or_else(|| records.last().map(|r| r.workload.as_str()))
        .unwrap_or("");
    let runs: Vec<&history::Record> = records
        .iter()
        .copied()
        .filter(|r| r.workload == workload && r.status == "ok")
        .collect();
    let runs = &runs[runs.len().saturating_sub(HISTORY_RUNS)..];
    let _ = writeln!(
        out,
        "<h2 id=\"history\">History</h2>\n<p>From <code>{}</code>: the {} latest finished runs of \
         workload <code>{}</code> (of {} records). Dashed lines mark change points (E-divisive \
         means with a permutation test, as <code>cargo xtask perf-history</code> finds them).</p>",
        esc(&h.path),
        runs.len(),
        esc(workload),
        records.len(),
    );
    list(out, " class=\"note\"", &h.history.problems);
    let labels: Vec<String> = runs
        .iter()
        .map(|r| match &r.commit {
            Some(c) if !c.is_empty() => c.chars().take(8).collect(),
            _ => r.timestamp.chars().take(10).collect(),
        })
        .collect();
    out.push_str("<div class=\"charts\">\n");
    for m in metrics(v, runs.iter().flat_map(|r| r.metrics.keys())) {
        let points: Vec<svg::TrendPoint<'_>> = runs
            .iter()
            .zip(&labels)
            .filter_map(|(r, label)| {
                r.metrics
                    .get(&m)
                    .map(|&value| svg::TrendPoint { label, value })
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let series: Vec<f64> = points.iter().map(|p| p.value).collect();
        let changes: Vec<usize> = changepoint::analyze(&series, &Params::default())
            .change_points
            .iter()
            .map(|c| c.index)
            .collect();
        out.push_str(&svg::trend_chart(&m, &points, &changes));
    }
    out.push_str("</div>\n");
}

#[cfg(test)]
mod tests;
