//! Renders a gate `Verdict` for people and machines: the terminal table and one-line summary,
//! the log, the Markdown summary (also for `$GITHUB_STEP_SUMMARY`) and the verdict JSON
//! (`report::junit` has the JUnit XML). Pure string building: `perf_gate` decides where the
//! text goes.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::gate::evaluate::{Method, Outcome, Row, Status, Verdict};
use crate::model::policy::{Check, Policy, fmt_num};
use crate::model::run_file::RunFile;
use crate::report::profile::{self, Explanation};

/// Version of the verdict JSON's shape.
pub const VERDICT_SCHEMA_VERSION: u64 = 1;

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
pub fn provenance(run: &RunFile) -> String {
    let mut parts = Vec::new();
    match (&run.git.commit, run.git.dirty) {
        (Some(c), Some(true)) => parts.push(format!("commit {} (dirty)", short(c))),
        (Some(c), _) => parts.push(format!("commit {}", short(c))),
        (None, _) => parts.push("commit unknown".to_string()),
    }
    if let Some(t) = &run.timestamp {
        parts.push(t.clone());
    }
    if let Some(n) = run.trials {
        parts.push(format!("{n} trials"));
    }
    parts.join(", ")
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn run_json(run: Option<&RunFile>) -> Value {
    match run {
        None => Value::Null,
        Some(r) => json!({
            "timestamp": r.timestamp,
            "git_commit": r.git.commit,
            "git_dirty": r.git.dirty,
            "workload": r.workload,
            "trials": r.trials,
            "run_status": r.run.status,
            "run_exit_code": r.run.exit_code,
        }),
    }
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

/// The cells of one row, in `HEADERS` order.
fn cells(row: &Row) -> [String; 7] {
    let value = |x: Option<f64>| x.map_or_else(|| "-".to_string(), fmt_num);
    let candidate = match (row.candidate, row.status) {
        (Some(x), _) => fmt_num(x),
        (None, Status::Skipped) => "(missing)".to_string(),
        (None, _) if row.message.starts_with("is missing") => "(missing)".to_string(),
        (None, _) => "(invalid)".to_string(),
    };
    let change = match (row.change, row.method) {
        (Some(c), Method::PointEstimate) => {
            format!("{c} (point estimate, {})", crate::gate::evaluate::few(row))
        }
        (Some(c), Method::PairedBootstrap) => format!("{c} paired"),
        (Some(c), Method::PooledPaired) => format!("{c} pooled"),
        (Some(c), _) => c.to_string(),
        (None, _) => "-".to_string(),
    };
    [
        row.metric.clone(),
        value(row.baseline),
        candidate,
        change,
        row.check.to_string(),
        row.severity.map_or("-", |s| s.as_str()).to_string(),
        verdict_cell(row).to_string(),
    ]
}

fn verdict_cell(row: &Row) -> &'static str {
    row.status.as_str()
}

/// The terminal table: aligned columns, a header and a rule line.
pub fn table(verdict: &Verdict) -> String {
    let rows: Vec<[String; 7]> = verdict.rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut text = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            // Numbers read best right-aligned; text left-aligned.
            if i == 1 || i == 2 {
                let _ = write!(text, "{c:>w$}");
            } else {
                let _ = write!(text, "{c:<w$}");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
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
pub fn summary_line(verdict: &Verdict) -> String {
    let rules = verdict.rows.len();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match verdict.outcome {
        Outcome::Pass => {
            let mut parts = vec![
                plural(rules, "rule"),
                plural(verdict.warnings.len(), "warning"),
            ];
            let inconclusive = verdict
                .rows
                .iter()
                .filter(|r| r.status == Status::Inconclusive)
                .count();
            if inconclusive > 0 {
                parts.push(format!("{inconclusive} inconclusive"));
            }
            format!("perf-gate: PASS ({})", parts.join(", "))
        }
        Outcome::Fail => format!("perf-gate: FAIL: {}", verdict.failures.join("; ")),
        Outcome::BenchFailed => format!(
            "perf-gate: BENCHMARK FAILED: {}",
            verdict
                .bench_failure
                .as_deref()
                .unwrap_or("the benchmark failed")
        ),
        Outcome::InputError => format!(
            "perf-gate: ERROR: {} (nothing was judged)",
            plural(verdict.errors.len(), "input problem")
        ),
    }
}

/// Failures, warnings, notes and errors as `label: text` lines (for stdout and the log).
pub fn findings(verdict: &Verdict) -> String {
    let mut out = String::new();
    for (label, items) in [
        ("error", &verdict.errors),
        ("failure", &verdict.failures),
        ("warning", &verdict.warnings),
        ("note", &verdict.notes),
    ] {
        for item in items {
            let _ = writeln!(out, "{label}: {item}");
        }
    }
    if let Some(b) = &verdict.bench_failure {
        let _ = writeln!(out, "failure: {b}");
    }
    out
}

fn policy_settings(policy: &Policy) -> String {
    let g = &policy.gate;
    format!(
        "confidence {}, {} bootstrap resamples, inconclusive: {}, env_mismatch: {}",
        fmt_num(g.confidence),
        g.bootstrap_resamples,
        g.inconclusive.as_str(),
        g.env_mismatch.as_str()
    )
}

/// The gate log: inputs, the table, every finding, the verdict and the exit code.
pub fn log_text(verdict: &Verdict, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "perf-gate {} (workload {})",
        ctx.timestamp, ctx.workload
    );
    for (label, path, run) in [
        ("baseline: ", ctx.baseline, ctx.baseline_run),
        ("candidate:", ctx.candidate, ctx.candidate_run),
    ] {
        let _ = match run {
            Some(r) => writeln!(out, "{label} {path} ({})", provenance(r)),
            None => writeln!(out, "{label} {path}"),
        };
    }
    let _ = write!(out, "policy:    {}", ctx.policy_path);
    if let Some(p) = ctx.policy {
        let _ = write!(out, " ({})", policy_settings(p));
    }
    out.push_str("\n\n");
    if !verdict.rows.is_empty() {
        out.push_str(&table(verdict));
        out.push('\n');
        for row in &verdict.rows {
            let _ = writeln!(
                out,
                "{}: {} [{}; {} baseline / {} candidate samples]",
                row.metric,
                row.message,
                row.method.as_str(),
                row.n_baseline,
                row.n_candidate
            );
        }
        out.push('\n');
    }
    out.push_str(&findings(verdict));
    let _ = writeln!(out, "{}", summary_line(verdict));
    let _ = writeln!(out, "exit code: {}", verdict.exit_code());
    out
}

/// Escapes a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The rows as a Markdown table (metric, baseline, candidate, change, rule, severity,
/// verdict), blocking verdicts in bold.
pub fn markdown_table(verdict: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for row in &verdict.rows {
        let mut c = cells(row).map(|c| md_cell(&c));
        if row.blocking {
            c[6] = format!("**{}**", c[6]);
        }
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    out
}

/// The Markdown summary (also appended to `$GITHUB_STEP_SUMMARY`).
pub fn markdown(verdict: &Verdict, ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let icon = match verdict.outcome {
        Outcome::Pass if verdict.warnings.is_empty() => "✅",
        Outcome::Pass => "⚠️",
        _ => "❌",
    };
    let _ = writeln!(out, "## {icon} {}\n", md_cell(&summary_line(verdict)));
    let _ = writeln!(
        out,
        "Workload `{}`, baseline `{}`, candidate `{}`, policy `{}`.\n",
        ctx.workload, ctx.baseline, ctx.candidate, ctx.policy_path
    );
    if !verdict.rows.is_empty() {
        out.push_str(&markdown_table(verdict));
        out.push('\n');
    }
    if let Some(e) = ctx.explain {
        if let Some(line) = profile::headline(e) {
            out.push_str(&line.replace('|', "\\|"));
            out.push_str("\n\n");
        }
        out.push_str(&profile::markdown(&e.rows, profile::TOP));
        out.push('\n');
    }
    for (title, items) in [
        ("Errors", &verdict.errors),
        ("Failures", &verdict.failures),
        ("Warnings", &verdict.warnings),
        ("Notes", &verdict.notes),
    ] {
        let mut items: Vec<&String> = items.iter().collect();
        if title == "Failures"
            && let Some(b) = &verdict.bench_failure
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
    if let Some(p) = ctx.policy {
        let _ = writeln!(
            out,
            "<sub>Changes are candidate/baseline ratios of medians with a percentile bootstrap \
             interval ({}). See perf/README.md, \"How the gate decides\".</sub>\n",
            policy_settings(p)
        );
    }
    out
}

/// The verdict JSON: overall outcome, one object per rule with its numbers, every finding,
/// the inputs and the exit code. Units are in the field names.
pub fn json(verdict: &Verdict, ctx: &Context<'_>) -> Value {
    let rows: Vec<Value> = verdict
        .rows
        .iter()
        .map(|r| {
            let (rule_kind, threshold) = match r.check {
                Check::Relative { direction, max_pct } => (
                    match direction {
                        crate::model::policy::Direction::Increase => "max_pct_increase",
                        crate::model::policy::Direction::Decrease => "max_pct_decrease",
                    },
                    json!(max_pct),
                ),
                Check::Absolute(b) => (
                    "absolute",
                    json!({"equals": b.equals, "min": b.min, "max": b.max}),
                ),
            };
            json!({
                "metric": r.metric,
                "description": r.description,
                "rule": r.check.to_string(),
                "rule_kind": rule_kind,
                "threshold": threshold,
                "baseline": r.baseline,
                "candidate": r.candidate,
                "n_baseline": r.n_baseline,
                "n_candidate": r.n_candidate,
                "baseline_rel_mad_pct": r.baseline_rel_mad.map(|m| m * 100.0),
                "candidate_rel_mad_pct": r.candidate_rel_mad.map(|m| m * 100.0),
                "change_pct": r.change.map(|c| c.pct),
                "ci_low_pct": r.change.and_then(|c| c.ci_pct).map(|c| c.0),
                "ci_high_pct": r.change.and_then(|c| c.ci_pct).map(|c| c.1),
                "method": r.method.as_str(),
                "severity": r.severity.map(|s| s.as_str()),
                "verdict": r.status.as_str().to_ascii_lowercase(),
                "blocking": r.blocking,
                "message": format!("{} {}", r.metric, r.message),
            })
        })
        .collect();
    let policy = ctx.policy.map(|p| {
        let g = &p.gate;
        json!({
            "confidence": g.confidence,
            "bootstrap_resamples": g.bootstrap_resamples,
            "inconclusive": g.inconclusive.as_str(),
            "env_mismatch": g.env_mismatch.as_str(),
            "require_all_metrics_present": g.require_all_metrics_present,
            "require_bench_exit_code_zero": g.require_bench_exit_code_zero,
            "watch_paths": g.watch_paths,
        })
    });
    json!({
        "schema_version": VERDICT_SCHEMA_VERSION,
        "tool": "perf-gate",
        "timestamp": ctx.timestamp,
        "workload": ctx.workload,
        "overall": verdict.outcome.as_str(),
        "exit_code": verdict.exit_code(),
        "summary": summary_line(verdict),
        "inputs": {"baseline": ctx.baseline, "candidate": ctx.candidate, "policy": ctx.policy_path},
        "baseline_run": run_json(ctx.baseline_run),
        "candidate_run": run_json(ctx.candidate_run),
        "policy": policy,
        "rows": rows,
        "explain": ctx.explain,
        "failures": verdict.failures,
        "warnings": verdict.warnings,
        "notes": verdict.notes,
        "errors": verdict.errors,
        "bench_failure": verdict.bench_failure,
        "env_differences": verdict.env_differences.iter().map(|d| json!({
            "field": d.field, "baseline": &d.baseline, "candidate": &d.candidate,
        })).collect::<Vec<_>>(),
        "needs_paired_rerun": verdict.needs_paired_rerun,
    })
}
