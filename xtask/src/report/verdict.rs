//! The gate's verdict as a typed record (`Record`, the verdict JSON) and its renderings for
//! people and machines: the terminal table and one-line summary, the log, the Markdown
//! summary (also for `$GITHUB_STEP_SUMMARY`); `report::junit` has the JUnit XML and
//! `report::html` the HTML. Every renderer takes the record, so what one shows the others can.
//! Pure string building: `perf_gate` decides where the text goes.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::gate::evaluate::{Change, Method, Outcome, Row, Severity, Status, Verdict, few_samples};
use crate::model::policy::{Check, Direction, Policy, fmt_num};
use crate::model::run_file::{RunFile, short_commit};
use crate::report::profile::{self, Explanation};

/// Version of the verdict JSON's shape.
pub(crate) const VERDICT_SCHEMA_VERSION: u64 = 1;

/// Everything a report shows besides the verdict itself.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// RFC 3339 time of the gate run.
    pub timestamp: &'a str,
    pub workload: &'a str,
    pub baseline: &'a str,
    pub candidate: &'a str,
    pub policy_path: &'a str,
    /// The parsed policy; `None` when it could not be read.
    pub policy: Option<&'a Policy>,
    /// The parsed runs; `None` when they could not be read.
    pub baseline_run: Option<&'a RunFile>,
    pub candidate_run: Option<&'a RunFile>,
    /// The differential profile, when the gate made one.
    pub explain: Option<&'a Explanation>,
}

/// Where a run came from, in one line: `commit abc1234 (dirty), 2026-11-22T08:01:02Z, 5 trials`.
pub(crate) fn provenance(run: &RunFile) -> String {
    RunRecord::new(run).provenance()
}

const HEADERS: [&str; 7] = [
    "metric",
    "baseline",
    "candidate",
    "change",
    "rule",
    "severity",
    "verdict",
];

impl RowRecord {
    fn new(r: &Row) -> RowRecord {
        let (rule_kind, threshold) = match r.check {
            Check::Relative { direction, max_pct } => (
                match direction {
                    Direction::Increase => "max_pct_increase",
                    Direction::Decrease => "max_pct_decrease",
                },
                Threshold::Pct(max_pct),
            ),
            Check::Absolute(b) => (
                "absolute",
                Threshold::Bounds {
                    equals: b.equals,
                    min: b.min,
                    max: b.max,
                },
            ),
        };
        RowRecord {
            metric: r.metric.clone(),
            description: r.description.clone(),
            rule: r.check.to_string(),
            rule_kind: rule_kind.to_string(),
            threshold,
            baseline: r.baseline,
            candidate: r.candidate,
            values: Some(r.method.values().to_string()),
            baseline_median: r.baseline_median,
            candidate_median: r.candidate_median,
            n_baseline: r.n_baseline,
            n_candidate: r.n_candidate,
            baseline_rel_mad_pct: r.baseline_rel_mad.map(|m| m * 100.0),
            candidate_rel_mad_pct: r.candidate_rel_mad.map(|m| m * 100.0),
            change_pct: r.change.map(|c| c.pct),
            ci_low_pct: r.change.and_then(|c| c.ci_pct).map(|c| c.0),
            ci_high_pct: r.change.and_then(|c| c.ci_pct).map(|c| c.1),
            method: r.method,
            severity: r.severity,
            verdict: r.status,
            blocking: r.blocking,
            message: format!("{} {}", r.metric, r.message),
        }
    }

    /// The rule's message without the metric's name before it.
    fn bare_message(&self) -> &str {
        self.message
            .strip_prefix(&self.metric)
            .map_or(self.message.as_str(), str::trim_start)
    }

    /// The change and its interval, when the row has one.
    fn change(&self) -> Option<Change> {
        let ci_pct = self.ci_low_pct.zip(self.ci_high_pct);
        self.change_pct.map(|pct| Change { pct, ci_pct })
    }

    /// The cells of the row, in `HEADERS` order. The baseline and candidate cells are the
    /// two values its change is computed from (for a pooled latency row the pooled
    /// percentiles, not the medians of the trials' percentiles), so the change reads as
    /// `candidate / baseline - 1` of the cells beside it. Every report (table, Markdown, log,
    /// JSON, JUnit, HTML) shows these same fields.
    fn cells(&self) -> [String; 7] {
        let value = |x: Option<f64>| x.map_or_else(|| "-".to_string(), fmt_num);
        let candidate = match (self.candidate, self.verdict) {
            (Some(x), _) => fmt_num(x),
            (None, Status::Skipped) => "(missing)".to_string(),
            (None, _) if self.bare_message().starts_with("is missing") => "(missing)".to_string(),
            (None, _) => "(invalid)".to_string(),
        };
        let change = match (self.change(), self.method) {
            (Some(c), Method::PointEstimate) => format!(
                "{c} (point estimate, {})",
                few_samples(self.n_baseline, self.n_candidate)
            ),
            (Some(c), Method::PairedBootstrap) => format!("{c} paired"),
            (Some(c), Method::PooledPaired) => format!("{c} pooled"),
            (Some(c), _) => c.to_string(),
            (None, _) => "-".to_string(),
        };
        [
            self.metric.clone(),
            value(self.baseline),
            candidate,
            change,
            self.rule.clone(),
            self.severity.map_or("-", |s| s.as_str()).to_string(),
            self.verdict.as_str().to_string(),
        ]
    }

    /// The row's two values and what they are, for the reports that have no columns for
    /// them (the log's reasoning, JUnit): `baseline 0.4027, candidate 0.4124 (pooled: ...)`.
    /// `None` for a row without a change (absolute rules, missing values).
    pub fn compared_values(&self) -> Option<String> {
        let (Some(b), Some(c), Some(_)) = (self.baseline, self.candidate, self.change_pct) else {
            return None;
        };
        Some(format!(
            "baseline {}, candidate {} ({})",
            fmt_num(b),
            fmt_num(c),
            self.method.values()
        ))
    }
}

/// The rows of a verdict as its record has them (for a table without the rest).
pub fn rows(verdict: &Verdict) -> Vec<RowRecord> {
    verdict.rows.iter().map(RowRecord::new).collect()
}

/// The terminal table: aligned columns, a header and a rule line.
pub fn table(rows: &[RowRecord]) -> String {
    let rows: Vec<[String; 7]> = rows.iter().map(RowRecord::cells).collect();
    let widths = super::widths(HEADERS, &rows);
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        // Numbers read best right-aligned; text left-aligned.
        let text: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| match i {
                1 | 2 => format!("{c:>w$}"),
                _ => format!("{c:<w$}"),
            })
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&mut out, &HEADERS.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for r in &rows {
        line(&mut out, r);
    }
    out
}

/// The one-line overall verdict, e.g. `perf-gate: PASS (7 rules, 1 warning)` or
/// `perf-gate: FAIL: rps -23.4% [...] beyond -10.0%; errors_total = 3, must equal 0`.
fn summary_line(r: &Record) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match r.overall {
        Outcome::Pass => {
            let mut parts = vec![
                plural(r.rows.len(), "rule"),
                plural(r.warnings.len(), "warning"),
            ];
            let inconclusive = r
                .rows
                .iter()
                .filter(|row| row.verdict == Status::Inconclusive)
                .count();
            if inconclusive > 0 {
                parts.push(format!("{inconclusive} inconclusive"));
            }
            format!("perf-gate: PASS ({})", parts.join(", "))
        }
        Outcome::Fail => format!("perf-gate: FAIL: {}", r.failures.join("; ")),
        Outcome::BenchFailed => format!(
            "perf-gate: BENCHMARK FAILED: {}",
            r.bench_failure.as_deref().unwrap_or("the benchmark failed")
        ),
        Outcome::InputError => format!(
            "perf-gate: ERROR: {} (nothing was judged)",
            plural(r.errors.len(), "input problem")
        ),
    }
}

/// Failures, warnings, notes and errors as `label: text` lines (for stdout and the log).
pub fn findings(r: &Record) -> String {
    let mut out = String::new();
    for (label, _, items) in r.finding_lists() {
        for item in items {
            let _ = writeln!(out, "{label}: {item}");
        }
    }
    if let Some(b) = &r.bench_failure {
        let _ = writeln!(out, "failure: {b}");
    }
    out
}

/// What the gate prints on stdout: the table, the findings (errors go to stderr once,
/// through `main`), the differential profile, the summary line.
pub(crate) fn terminal(r: &Record) -> String {
    let mut out = String::new();
    if !r.rows.is_empty() {
        out.push_str(&table(&r.rows));
        out.push('\n');
    }
    if r.overall != Outcome::InputError {
        out.push_str(&findings(r));
    }
    if let Some(e) = &r.explain {
        if let Some(line) = profile::headline(e) {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&profile::table(&e.rows, profile::TOP));
    }
    out.push_str(&r.summary);
    out.push('\n');
    out
}

/// The gate log: inputs, the table, every finding, the verdict and the exit code.
pub(crate) fn log_text(r: &Record) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "perf-gate {} (workload {})", r.timestamp, r.workload);
    for (label, path, run) in [
        ("baseline: ", &r.inputs.baseline, &r.baseline_run),
        ("candidate:", &r.inputs.candidate, &r.candidate_run),
    ] {
        let _ = match run {
            Some(run) => writeln!(out, "{label} {path} ({})", run.provenance()),
            None => writeln!(out, "{label} {path}"),
        };
    }
    let _ = write!(out, "policy:    {}", r.inputs.policy);
    if let Some(p) = &r.policy {
        let _ = write!(out, " ({})", p.settings());
    }
    out.push_str("\n\n");
    if !r.rows.is_empty() {
        out.push_str(&table(&r.rows));
        out.push('\n');
        for row in &r.rows {
            let (message, method) = (row.bare_message(), row.method.as_str());
            let _ = write!(out, "{}: {message} [{method}; ", row.metric);
            if let Some(v) = row.compared_values() {
                let _ = write!(out, "{v}; ");
            }
            let (b, c) = (row.n_baseline, row.n_candidate);
            let _ = writeln!(out, "{b} baseline / {c} candidate samples]");
        }
        out.push('\n');
    }
    out.push_str(&findings(r));
    let _ = writeln!(out, "{}", r.summary);
    let _ = writeln!(out, "exit code: {}", r.exit_code);
    out
}

/// Escapes a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The rows as a Markdown table (metric, baseline, candidate, change, rule, severity,
/// verdict), blocking verdicts in bold.
pub(crate) fn markdown_table(rows: &[RowRecord]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for row in rows {
        let mut c = row.cells().map(|c| md_cell(&c));
        if row.blocking {
            c[6] = format!("**{}**", c[6]);
        }
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    out
}

/// The Markdown summary (also appended to `$GITHUB_STEP_SUMMARY`).
pub(crate) fn markdown(r: &Record) -> String {
    let mut out = String::new();
    let icon = match r.overall {
        Outcome::Pass if r.warnings.is_empty() => "✅",
        Outcome::Pass => "⚠️",
        _ => "❌",
    };
    let _ = writeln!(out, "## {icon} {}\n", md_cell(&r.summary));
    let _ = writeln!(
        out,
        "Workload `{}`, baseline `{}`, candidate `{}`, policy `{}`.\n",
        r.workload, r.inputs.baseline, r.inputs.candidate, r.inputs.policy
    );
    if !r.rows.is_empty() {
        out.push_str(&markdown_table(&r.rows));
        out.push('\n');
    }
    if let Some(e) = &r.explain {
        out.push_str(&profile::markdown(e, profile::TOP));
        out.push('\n');
    }
    for (_, title, items) in r.finding_lists() {
        let mut items: Vec<&String> = items.iter().collect();
        if title == "Failures"
            && let Some(b) = &r.bench_failure
        {
            items.push(b);
        }
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "**{title}**\n");
        for item in items {
            let _ = writeln!(out, "- {}", item.replace('\n', " "));
        }
        out.push('\n');
    }
    if let Some(p) = &r.policy {
        let _ = writeln!(
            out,
            "<sub>Each change is candidate / baseline of the two values beside it: medians over \
             trials, or, for a latency percentile of a paired run (`pooled`), the percentile of \
             all of a side's trials' requests pooled; the interval is a percentile bootstrap \
             around it, over pairs of trials in a paired run ({}). See perf/README.md, \"How \
             the gate decides\".</sub>\n",
            p.settings()
        );
    }
    out
}

/// The verdict JSON (`perf_gate_<ts>.json`): overall outcome, one object per rule with its
/// numbers, every finding, the inputs and the exit code. Units are in the field names. The
/// HTML report reads it back: a field it lacks is an error naming the field, except the
/// optional ones (`Option`), which a verdict written before them lacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub schema_version: u64,
    pub tool: String,
    pub timestamp: String,
    pub workload: String,
    /// `pass`, `fail`, `bench_failed` or `error`.
    pub overall: Outcome,
    pub exit_code: u8,
    pub summary: String,
    pub inputs: Inputs,
    pub baseline_run: Option<RunRecord>,
    pub candidate_run: Option<RunRecord>,
    pub policy: Option<PolicyRecord>,
    pub rows: Vec<RowRecord>,
    pub explain: Option<Explanation>,
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub errors: Vec<String>,
    pub bench_failure: Option<String>,
    pub env_differences: Vec<EnvDifferenceRecord>,
    pub needs_paired_rerun: bool,
}

/// The files the gate judged, as it was given them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inputs {
    pub baseline: String,
    pub candidate: String,
    pub policy: String,
}

/// Where a run came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub timestamp: Option<String>,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub workload: Option<String>,
    pub trials: Option<u32>,
    pub run_status: Option<String>,
    pub run_exit_code: Option<i64>,
}

/// The policy's gate settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub confidence: f64,
    pub bootstrap_resamples: u32,
    pub inconclusive: String,
    pub env_mismatch: String,
    pub require_all_metrics_present: bool,
    pub require_bench_exit_code_zero: bool,
    pub watch_paths: Vec<String>,
}

/// One rule's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowRecord {
    pub metric: String,
    pub description: Option<String>,
    pub rule: String,
    /// `max_pct_increase`, `max_pct_decrease` or `absolute`.
    pub rule_kind: String,
    pub threshold: Threshold,
    // The values the change is computed from (`change_pct` is `(candidate / baseline - 1) *
    // 100` of these); `values` says what they are, and the `*_median` fields keep each run
    // file's `metrics.<m>`.
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    pub values: Option<String>,
    pub baseline_median: Option<f64>,
    pub candidate_median: Option<f64>,
    pub n_baseline: usize,
    pub n_candidate: usize,
    pub baseline_rel_mad_pct: Option<f64>,
    pub candidate_rel_mad_pct: Option<f64>,
    pub change_pct: Option<f64>,
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
    pub method: Method,
    pub severity: Option<Severity>,
    /// The row's status, in lower case: `pass`, `warn`, `fail`, `inconclusive`, `skipped`.
    pub verdict: Status,
    pub blocking: bool,
    pub message: String,
}

/// A rule's threshold: a percentage for a relative rule, bounds for an absolute one.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Pct(f64),
    Bounds {
        equals: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    },
}

/// An environment field that differs between the two runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvDifferenceRecord {
    pub field: String,
    pub baseline: Value,
    pub candidate: Value,
}

impl PolicyRecord {
    /// The settings a reader needs to weigh the intervals, in one line.
    fn settings(&self) -> String {
        format!(
            "confidence {}, {} bootstrap resamples, inconclusive: {}, env_mismatch: {}",
            fmt_num(self.confidence),
            self.bootstrap_resamples,
            self.inconclusive,
            self.env_mismatch
        )
    }
}

impl RunRecord {
    /// Where the run came from, in one line: `commit abc1234 (dirty), 2026-11-22T08:01:02Z,
    /// 5 trials`.
    pub(crate) fn provenance(&self) -> String {
        let mut parts = vec![match (&self.git_commit, self.git_dirty) {
            (Some(c), Some(true)) => format!("commit {} (dirty)", short_commit(c)),
            (Some(c), _) => format!("commit {}", short_commit(c)),
            (None, _) => "commit unknown".to_string(),
        }];
        parts.extend(self.timestamp.clone());
        parts.extend(self.trials.map(|n| format!("{n} trials")));
        parts.join(", ")
    }

    fn new(r: &RunFile) -> RunRecord {
        RunRecord {
            timestamp: r.timestamp.clone(),
            git_commit: r.git.commit.clone(),
            git_dirty: r.git.dirty,
            workload: r.workload.clone(),
            trials: r.trials,
            run_status: r.run.status.clone(),
            run_exit_code: r.run.exit_code,
        }
    }
}

impl Record {
    /// The record of `verdict`, in the context the gate judged it.
    pub fn new(verdict: &Verdict, ctx: &Context<'_>) -> Record {
        let policy = ctx.policy.map(|p| {
            let g = &p.gate;
            PolicyRecord {
                confidence: g.confidence,
                bootstrap_resamples: g.bootstrap_resamples,
                inconclusive: g.inconclusive.as_str().to_string(),
                env_mismatch: g.env_mismatch.as_str().to_string(),
                require_all_metrics_present: g.require_all_metrics_present,
                require_bench_exit_code_zero: g.require_bench_exit_code_zero,
                watch_paths: g.watch_paths.clone(),
            }
        });
        let mut record = Record {
            schema_version: VERDICT_SCHEMA_VERSION,
            tool: "perf-gate".to_string(),
            timestamp: ctx.timestamp.to_string(),
            workload: ctx.workload.to_string(),
            overall: verdict.outcome,
            exit_code: verdict.exit_code(),
            summary: String::new(),
            inputs: Inputs {
                baseline: ctx.baseline.to_string(),
                candidate: ctx.candidate.to_string(),
                policy: ctx.policy_path.to_string(),
            },
            baseline_run: ctx.baseline_run.map(RunRecord::new),
            candidate_run: ctx.candidate_run.map(RunRecord::new),
            policy,
            rows: rows(verdict),
            explain: ctx.explain.cloned(),
            failures: verdict.failures.clone(),
            warnings: verdict.warnings.clone(),
            notes: verdict.notes.clone(),
            errors: verdict.errors.clone(),
            bench_failure: verdict.bench_failure.clone(),
            env_differences: verdict
                .env_differences
                .iter()
                .map(|d| EnvDifferenceRecord {
                    field: d.field.to_string(),
                    baseline: d.baseline.clone(),
                    candidate: d.candidate.clone(),
                })
                .collect(),
            needs_paired_rerun: verdict.needs_paired_rerun,
        };
        record.summary = summary_line(&record);
        record
    }

    /// The findings, each kind's label, title and items, in the order every report lists them.
    pub(crate) fn finding_lists(&self) -> [(&'static str, &'static str, &[String]); 4] {
        [
            ("error", "Errors", &self.errors),
            ("failure", "Failures", &self.failures),
            ("warning", "Warnings", &self.warnings),
            ("note", "Notes", &self.notes),
        ]
    }

    /// Reads a verdict JSON that perf-gate wrote.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Record> {
        let text = crate::model::json::read_input(path, crate::model::json::MAX_INPUT_BYTES)?;
        crate::model::json::parse(&text, &path.display().to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests;
