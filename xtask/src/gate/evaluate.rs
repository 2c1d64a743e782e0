//! The gate's decision as a pure function: `evaluate(&baseline, &candidate, &policy)` looks at
//! two runs and a policy and returns a `Verdict` (one row per rule, every failure, warning and
//! note, the exit code). No IO: the command around it reads files and writes reports.
//! The statistical method is documented in `perf/README.md`, "How the gate decides".

use std::fmt;

use serde_json::Value;

use crate::exit;
use crate::gate::stats;
use crate::model::policy::{Check, Direction, EnvMismatch, Inconclusive, Policy, Rule, fmt_num};
use crate::model::run_file::{Invalid, MetricValue, RunFile, Samples};

/// Below this many samples on either side, a relative rule compares the medians directly.
pub const MIN_SAMPLES: usize = 3;

pub use crate::model::run_file::ENV_FIELDS;

/// The whole decision.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub outcome: Outcome,
    /// One row per policy rule, in the policy's (sorted) order. Empty on `InputError`.
    pub rows: Vec<Row>,
    /// Every reason the gate fails, each a full sentence starting with what failed: first one
    /// per blocking row (in row order), then the gate-level ones (environment).
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    /// Information that changes nothing (methods used, skipped pairing).
    pub notes: Vec<String>,
    /// Problems with the baseline or the policy; non-empty exactly when `InputError`.
    pub errors: Vec<String>,
    /// Why the candidate's benchmark run failed, when it did.
    pub bench_failure: Option<String>,
    /// Environment fields that differ between baseline and candidate.
    pub env_differences: Vec<EnvDifference>,
    /// The policy asks for a paired re-run because the environments differ.
    pub needs_paired_rerun: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// A regression (or a policy-level failure such as `env_mismatch: fail`).
    Fail,
    /// The candidate's benchmark run did not succeed (`require_bench_exit_code_zero`).
    BenchFailed,
    /// The baseline does not fit the policy: nothing could be judged.
    InputError,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => exit::OK,
            Outcome::Fail => exit::REGRESSION,
            Outcome::BenchFailed => exit::BENCH_FAILED,
            Outcome::InputError => exit::BAD_INPUT,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::BenchFailed => "bench_failed",
            Outcome::InputError => "error",
        }
    }
}

impl Verdict {
    pub fn exit_code(&self) -> u8 {
        self.outcome.exit_code()
    }

    /// A verdict that judged nothing because the inputs are unusable (exit 2).
    pub fn from_errors(errors: Vec<String>) -> Self {
        Verdict {
            outcome: Outcome::InputError,
            rows: Vec::new(),
            failures: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            errors,
            bench_failure: None,
            env_differences: Vec::new(),
            needs_paired_rerun: false,
        }
    }
}

/// One rule's result.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub check: Check,
    pub description: Option<String>,
    /// The baseline's median (`metrics.<name>`).
    pub baseline: Option<f64>,
    /// The candidate's median, `None` when missing or not a number.
    pub candidate: Option<f64>,
    pub n_baseline: usize,
    pub n_candidate: usize,
    /// Spread of the samples: MAD as a fraction of the median.
    pub baseline_rel_mad: Option<f64>,
    pub candidate_rel_mad: Option<f64>,
    /// Relative change candidate vs baseline, when one is defined.
    pub change: Option<Change>,
    pub method: Method,
    /// Size of the change on the severity ladder; relative rules only.
    pub severity: Option<Severity>,
    /// Half the interval's width in percent: the smallest change this run could tell from
    /// noise. Relative rules with an interval only.
    pub resolution_pct: Option<f64>,
    pub status: Status,
    /// The row counts against the gate: `Fail`, or `Inconclusive` under `inconclusive: fail`.
    pub blocking: bool,
    /// Why, written to follow the metric name ("rps -23.4% [...] beyond -10%").
    pub message: String,
}

/// A relative change in percent, with its confidence interval when there were samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub pct: f64,
    pub ci_pct: Option<(f64, f64)>,
}

impl fmt::Display for Change {
    /// `+3.1% [-1.2%, +7.4%]`, or `+3.1%` without an interval.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", fmt_pct(self.pct))?;
        if let Some((lo, hi)) = self.ci_pct {
            write!(f, " [{}, {}]", fmt_pct(lo), fmt_pct(hi))?;
        }
        Ok(())
    }
}

/// A signed percentage with one decimal: `+3.1%`, `-23.4%`, `+0.0%`.
pub fn fmt_pct(p: f64) -> String {
    if p.is_infinite() {
        return if p > 0.0 {
            "+inf%".into()
        } else {
            "-inf%".into()
        };
    }
    let p = if p.abs() < 0.05 { 0.0 } else { p };
    format!("{p:+.1}%")
}

/// How a row was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Bootstrap CI of the ratio of medians, each side resampled independently.
    Bootstrap,
    /// Bootstrap CI of the median of per-pair ratios.
    PairedBootstrap,
    /// Fewer than `MIN_SAMPLES` samples on a side: medians compared directly.
    PointEstimate,
    /// Absolute rule: the candidate's median and every sample checked exactly.
    Exact,
    /// Nothing to compute (missing or invalid value, zero baseline).
    None,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Bootstrap => "bootstrap",
            Method::PairedBootstrap => "paired_bootstrap",
            Method::PointEstimate => "point_estimate",
            Method::Exact => "exact",
            Method::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// The interval straddles the threshold: the data cannot tell.
    Inconclusive,
    /// Not judged (metric absent from the candidate and not required).
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Inconclusive => "inconclusive",
            Status::Skipped => "skipped",
        }
    }
}

/// The severity ladder of the original freeze, applied to the change in the rule's bad
/// direction: <5% negligible, 5-10% low, 10-15% medium, 15-20% high, >20% critical.
/// A change of 5% or more in the good direction is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Improvement,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// `adverse_pct`: the change in percent, positive when it is in the bad direction.
    pub fn of(adverse_pct: f64) -> Severity {
        match adverse_pct {
            p if p <= -5.0 => Severity::Improvement,
            p if p < 5.0 => Severity::Negligible,
            p if p < 10.0 => Severity::Low,
            p if p < 15.0 => Severity::Medium,
            p if p <= 20.0 => Severity::High,
            _ => Severity::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Improvement => "improvement",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One `env` field that differs; `Null` stands for an absent value.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvDifference {
    pub field: &'static str,
    pub baseline: Value,
    pub candidate: Value,
}

impl fmt::Display for EnvDifference {
    /// `kernel "6.1" -> "6.9"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.field, self.baseline, self.candidate)
    }
}

/// The `ENV_FIELDS` whose values differ between the two runs.
pub fn env_differences(baseline: &RunFile, candidate: &RunFile) -> Vec<EnvDifference> {
    let get = |run: &RunFile, f: &str| run.env.get(f);
    ENV_FIELDS
        .iter()
        .map(|f| EnvDifference {
            field: f,
            baseline: get(baseline, f),
            candidate: get(candidate, f),
        })
        .filter(|d| d.baseline != d.candidate)
        .collect()
}

/// True when the policy wants environment differences settled by a paired re-run
/// (`env_mismatch: "paired"`), the environments differ, and the candidate is not already a
/// paired run. perf-bench's paired mode calls this to decide whether to run both sides.
pub fn needs_paired_rerun(baseline: &RunFile, candidate: &RunFile, policy: &Policy) -> bool {
    policy.gate.env_mismatch == EnvMismatch::Paired
        && candidate.paired_against().is_none()
        && !env_differences(baseline, candidate).is_empty()
}

/// Problems that make the baseline unusable under this policy (exit 2): a rule for a metric
/// the baseline lacks, a baseline value that is not a number, bad baseline samples, a
/// negative baseline under a relative rule. Each names the file and the field.
pub fn check_baseline(baseline: &RunFile, policy: &Policy) -> Vec<String> {
    let mut errors = Vec::new();
    let (b, p) = (&baseline.source, &policy.source);
    for (metric, rule) in &policy.rules {
        match baseline.metric(metric) {
            MetricValue::Invalid(Invalid::Missing) => errors.push(format!(
                "{p}: field `rules.{metric}`: the baseline {b} has no metric `{metric}` \
                 (remove the rule, or record a baseline that has it with \
                 `cargo xtask perf-baseline-bump`)"
            )),
            MetricValue::Invalid(why) => errors.push(format!(
                "{b}: field `metrics.{metric}`: {why}; the baseline must hold a number for \
                 every rule in {p}"
            )),
            MetricValue::Number(x) if x < 0.0 && matches!(rule.check, Check::Relative { .. }) => {
                errors.push(format!(
                    "{b}: field `metrics.{metric}`: is negative ({}), a relative rule needs a \
                     value of 0 or more",
                    fmt_num(x)
                ))
            }
            MetricValue::Number(_) => {}
        }
        if let Some(Samples::Invalid { field, problem }) = baseline.samples.get(metric) {
            errors.push(format!("{b}: field `{field}`: {problem}"));
        }
    }
    errors
}

/// Judges `candidate` against `baseline` under `policy`. Deterministic: the same inputs give
/// the same verdict, to the last digit of every interval.
pub fn evaluate(baseline: &RunFile, candidate: &RunFile, policy: &Policy) -> Verdict {
    let errors = check_baseline(baseline, policy);
    if !errors.is_empty() {
        return Verdict::from_errors(errors);
    }
    let mut v = Verdict {
        outcome: Outcome::Pass,
        ..Verdict::from_errors(Vec::new())
    };

    for (metric, rule) in &policy.rules {
        let row = evaluate_rule(metric, rule, baseline, candidate, policy, &mut v.notes);
        let line = format!("{metric} {}", row.message);
        match row.status {
            _ if row.blocking => v.failures.push(line),
            Status::Warn => v.warnings.push(line),
            Status::Inconclusive if policy.gate.inconclusive == Inconclusive::Warn => {
                v.warnings.push(line)
            }
            Status::Inconclusive => v.notes.push(line),
            Status::Skipped => v.warnings.push(line),
            _ => {}
        }
        noise_warnings(&row, &mut v.warnings);
        v.rows.push(row);
    }

    if let Some(why) = candidate.run.failure() {
        if policy.gate.require_bench_exit_code_zero {
            v.bench_failure = Some(format!("the benchmark failed: {why}"));
        } else {
            v.warnings.push(format!(
                "the candidate's benchmark run failed ({why}); judged on its numbers because \
                 gate.require_bench_exit_code_zero is false"
            ));
        }
    }

    v.env_differences = env_differences(baseline, candidate);
    if !v.env_differences.is_empty() {
        let fields: Vec<String> = v.env_differences.iter().map(ToString::to_string).collect();
        let fields = fields.join(", ");
        match policy.gate.env_mismatch {
            EnvMismatch::Warn => v.warnings.push(format!(
                "env differs from the baseline (baseline -> candidate): {fields}; numbers from \
                 different machines or toolchains compare poorly"
            )),
            EnvMismatch::Fail => v.failures.push(format!(
                "env differs from the baseline (baseline -> candidate): {fields} \
                 (gate.env_mismatch is \"fail\")"
            )),
            EnvMismatch::Paired if candidate.paired_against().is_some() => v.notes.push(format!(
                "env differs from the baseline ({fields}), but the candidate is a paired run"
            )),
            EnvMismatch::Paired => {
                v.warnings.push(format!(
                    "env differs: paired mode needed (baseline -> candidate: {fields})"
                ));
            }
        }
    }
    v.needs_paired_rerun = needs_paired_rerun(baseline, candidate, policy);

    for (run, side) in [(candidate, "candidate"), (baseline, "baseline")] {
        if run.slowdown_knob() {
            v.warnings.push(format!(
                "the {side} ran with the slowdown knob on (env.slowdown_knob = true in {}): its \
                 numbers are slowed on purpose",
                run.source
            ));
        }
    }
    for run in [baseline, candidate] {
        if let Some(version) = run.schema_version.filter(|v| *v != 1) {
            v.notes.push(format!(
                "{} has schema_version {version}; read with the version 1 reader",
                run.source
            ));
        }
    }
    if let (Some(b), Some(c)) = (&baseline.workload, &candidate.workload)
        && b != c
    {
        v.warnings.push(format!(
            "the candidate ran workload `{c}` but the baseline is for `{b}`"
        ));
    }

    v.outcome = if v.bench_failure.is_some() {
        Outcome::BenchFailed
    } else if v.failures.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    v
}

/// Warns when a side's spread is large next to the rule's threshold, and says what helps.
fn noise_warnings(row: &Row, warnings: &mut Vec<String>) {
    let Check::Relative { max_pct, .. } = row.check else {
        return;
    };
    for (side, mad) in [
        ("baseline", row.baseline_rel_mad),
        ("candidate", row.candidate_rel_mad),
    ] {
        if let Some(m) = mad
            && m * 100.0 > max_pct / 2.0
            && max_pct > 0.0
        {
            warnings.push(format!(
                "{} is noisy in the {side}: its spread (MAD) is {:.1}% of the median, more than \
                 half the {}% threshold; more trials (--trials) or a quieter machine would narrow \
                 the interval",
                row.metric,
                m * 100.0,
                fmt_num(max_pct)
            ));
        }
    }
}

/// What was found for one metric's samples: usable values (possibly none) or a reason.
fn sample_values<'a>(run: &'a RunFile, metric: &str) -> Result<&'a [f64], String> {
    match run.samples.get(metric) {
        None => Ok(&[]),
        Some(Samples::Values(v)) => Ok(v),
        Some(Samples::Invalid { field, problem }) => Err(format!("{field} {problem}")),
    }
}

fn evaluate_rule(
    metric: &str,
    rule: &Rule,
    baseline: &RunFile,
    candidate: &RunFile,
    policy: &Policy,
    notes: &mut Vec<String>,
) -> Row {
    // `check_baseline` has made sure these are usable.
    let base = match baseline.metric(metric) {
        MetricValue::Number(x) => x,
        MetricValue::Invalid(_) => unreachable!("check_baseline rejects invalid baseline values"),
    };
    let base_samples = sample_values(baseline, metric).unwrap_or(&[]);
    let mut row = Row {
        metric: metric.to_string(),
        check: rule.check,
        description: rule.description.clone(),
        baseline: Some(base),
        candidate: None,
        n_baseline: base_samples.len(),
        n_candidate: 0,
        baseline_rel_mad: rel_mad(base_samples),
        candidate_rel_mad: None,
        change: None,
        method: Method::None,
        severity: None,
        resolution_pct: None,
        status: Status::Fail,
        blocking: true,
        message: String::new(),
    };

    let cand = match candidate.metric(metric) {
        MetricValue::Number(x) => x,
        MetricValue::Invalid(Invalid::Missing) if !policy.gate.require_all_metrics_present => {
            row.status = Status::Skipped;
            row.blocking = false;
            row.message = format!(
                "is missing in the candidate (metrics.{metric}); rule skipped because \
                 gate.require_all_metrics_present is false"
            );
            return row;
        }
        MetricValue::Invalid(Invalid::Missing) => {
            row.message = format!("is missing in the candidate (metrics.{metric})");
            return row;
        }
        MetricValue::Invalid(why) => {
            row.message = format!("is invalid in the candidate: metrics.{metric} {why}");
            return row;
        }
    };
    row.candidate = Some(cand);
    let cand_samples = match sample_values(candidate, metric) {
        Ok(s) => s,
        Err(why) => {
            row.message = format!("is invalid in the candidate: {why}");
            return row;
        }
    };
    row.n_candidate = cand_samples.len();
    row.candidate_rel_mad = rel_mad(cand_samples);

    match rule.check {
        Check::Absolute(bounds) => {
            row.method = Method::Exact;
            let mut broken = Vec::new();
            if let Some(why) = bounds.violation(cand) {
                broken.push(format!("= {}, {why}", fmt_num(cand)));
            }
            for (i, x) in cand_samples.iter().enumerate() {
                if let Some(why) = bounds.violation(*x) {
                    broken.push(format!(
                        "was {} in trial {} (samples.{metric}[{i}]), {why}",
                        fmt_num(*x),
                        i + 1
                    ));
                }
            }
            if broken.is_empty() {
                row.status = Status::Pass;
                row.blocking = false;
                row.message = if cand_samples.is_empty() {
                    format!("= {} (rule {})", fmt_num(cand), rule.check)
                } else {
                    format!(
                        "= {} and every one of {} trials within {}",
                        fmt_num(cand),
                        cand_samples.len(),
                        rule.check
                    )
                };
            } else {
                row.message = broken.join("; ");
            }
            row
        }
        Check::Relative { direction, max_pct } => {
            relative(
                &mut row,
                rule,
                direction,
                max_pct,
                base_samples,
                cand_samples,
                candidate,
                policy,
                notes,
            );
            row
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn relative(
    row: &mut Row,
    rule: &Rule,
    direction: Direction,
    max_pct: f64,
    base_samples: &[f64],
    cand_samples: &[f64],
    candidate: &RunFile,
    policy: &Policy,
    notes: &mut Vec<String>,
) {
    let (base, cand) = (row.baseline.unwrap_or(0.0), row.candidate.unwrap_or(0.0));
    let metric = row.metric.clone();
    if base == 0.0 {
        if cand == 0.0 {
            row.status = Status::Pass;
            row.blocking = false;
            row.message = "is 0 in both runs".to_string();
        } else {
            row.message = format!(
                "changed from 0 to {}: baseline is 0, relative change undefined",
                fmt_num(cand)
            );
        }
        return;
    }

    let gate = &policy.gate;
    let confidence = gate.look_confidence();
    let seed = stats::seed_for(&metric);
    let enough = base_samples.len() >= MIN_SAMPLES && cand_samples.len() >= MIN_SAMPLES;
    let paired = if enough && candidate.paired_against().is_some() {
        let ratios = stats::paired_ratios(base_samples, cand_samples);
        if ratios.is_none() {
            notes.push(format!(
                "{metric}: the candidate is a paired run but the sample counts differ ({} vs {}) \
                 or a baseline sample is 0; compared as independent runs",
                base_samples.len(),
                cand_samples.len()
            ));
        }
        ratios
    } else {
        None
    };
    let sample_medians = match (stats::median(base_samples), stats::median(cand_samples)) {
        (Some(b), Some(c)) if enough && b > 0.0 => Some((b, c)),
        _ => None,
    };

    // (point ratio, interval of ratios, method)
    let (point, ci) = if let Some(ratios) = &paired {
        row.method = Method::PairedBootstrap;
        let point = stats::median(ratios).unwrap_or(1.0);
        let ci = stats::bootstrap_median(ratios, confidence, gate.bootstrap_resamples, seed);
        (point, Some(ci))
    } else if let Some((b, c)) = sample_medians {
        row.method = Method::Bootstrap;
        let ci = stats::bootstrap_ratio_of_medians(
            base_samples,
            cand_samples,
            confidence,
            gate.bootstrap_resamples,
            seed,
        );
        if !close(b, base) || !close(c, cand) {
            notes.push(format!(
                "{metric}: `metrics.{metric}` differs from the median of its samples; the \
                 decision uses the samples"
            ));
        }
        (c / b, Some(ci))
    } else {
        row.method = Method::PointEstimate;
        // Too few samples for an interval, but what samples there are still decide: a
        // median that contradicts them must not pass on its own word.
        match (stats::median(base_samples), stats::median(cand_samples)) {
            (Some(b), Some(c)) if b > 0.0 => {
                if !close(b, base) || !close(c, cand) {
                    notes.push(format!(
                        "{metric}: `metrics.{metric}` differs from the median of its samples; \
                         the decision uses the samples"
                    ));
                }
                (c / b, None)
            }
            _ => (cand / base, None),
        }
    };

    let pct = to_pct(point);
    let ci_pct = ci.map(|i| (to_pct(i.lo), to_pct(i.hi)));
    let change = Change { pct, ci_pct };
    row.change = Some(change);
    // Work in "adverse" percent: positive is the bad direction for this rule.
    let sign = match direction {
        Direction::Increase => 1.0,
        Direction::Decrease => -1.0,
    };
    let adverse = sign * pct;
    row.severity = Some(Severity::of(adverse));
    let (adv_lo, adv_hi) = match ci_pct {
        Some((lo, hi)) => {
            let (a, b) = (sign * lo, sign * hi);
            (a.min(b), a.max(b))
        }
        None => (adverse, adverse),
    };
    let limit = fmt_pct(sign * max_pct);
    let shown = match row.method {
        Method::PointEstimate => format!("{change} (point estimate, {})", few(row)),
        Method::PairedBootstrap => format!("{change} (paired)"),
        _ => change.to_string(),
    };
    let warn = rule.warn_pct.filter(|w| adverse > *w);
    if ci.is_some() {
        row.resolution_pct = Some((adv_hi - adv_lo) / 2.0);
    }

    if adv_lo > max_pct {
        row.status = Status::Fail;
        row.blocking = true;
        row.message = format!("{shown} beyond {limit}");
    } else if adv_hi <= max_pct {
        row.blocking = false;
        if let Some(w) = warn {
            row.status = Status::Warn;
            row.message = format!(
                "{shown} past the {} warn tier, within {limit}",
                fmt_pct(sign * w)
            );
        } else {
            row.status = Status::Pass;
            row.message = format!("{shown} within {limit}");
        }
    } else {
        row.status = Status::Inconclusive;
        row.blocking = gate.inconclusive == Inconclusive::Fail;
        row.message = format!(
            "{shown} straddles {limit}: inconclusive (gate.inconclusive is \"{}\"); with {} \
             trials this run resolves changes of about ±{:.1}% and no smaller; more trials would \
             narrow the interval",
            gate.inconclusive.as_str(),
            row.n_candidate,
            row.resolution_pct.unwrap_or(f64::NAN)
        );
    }
}

/// Ratio to percent, rounded to 1e-9 so that an exact +15% is not read as 15.000000000000002.
fn to_pct(ratio: f64) -> f64 {
    if !ratio.is_finite() {
        return ratio;
    }
    ((ratio - 1.0) * 100.0 * 1e9).round() / 1e9
}

/// How many samples a point estimate had: `no samples`, or `2 samples` (fewer than an
/// interval needs).
pub fn few(row: &Row) -> String {
    match row.n_baseline.min(row.n_candidate) {
        0 => "no samples".to_string(),
        n => format!("{n} sample{}", if n == 1 { "" } else { "s" }),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-12)
}

fn rel_mad(samples: &[f64]) -> Option<f64> {
    if samples.len() < MIN_SAMPLES {
        return None;
    }
    stats::relative_mad(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{model::policy, model::run_file};

    const ENV: &str = r#""env": {"rustc": "rustc 1.95.0", "profile": "release",
        "cpu_model": "Test CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux",
        "mem_total_mb": 24000, "slowdown_knob": false, "load": {}, "router_flags": []}"#;

    /// A run file: the common parts, then `body`; a key `body` gives replaces the common
    /// one (a run file itself may not repeat a key).
    fn run(source: &str, body: &str) -> RunFile {
        let common = [
            ("schema_version", "1".to_string()),
            ("timestamp", r#""2026-11-22T08:01:02Z""#.to_string()),
            ("git", r#"{"commit": null, "dirty": false}"#.to_string()),
            ("env", ENV.trim_start_matches(r#""env": "#).to_string()),
            ("workload", r#""cp1""#.to_string()),
            ("trials", "5".to_string()),
            ("run", r#"{"status": "ok", "exit_code": 0}"#.to_string()),
        ];
        let mut text = String::from("{");
        for (key, value) in common {
            if !body.contains(&format!("\"{key}\":")) {
                text.push_str(&format!("\"{key}\": {value}, "));
            }
        }
        text.push_str(body);
        text.push('}');
        run_file::parse_str(&text, source).unwrap_or_else(|e| panic!("{e:#}\n{text}"))
    }

    /// The default test policy: p95 <= +15% (warn 10), rps >= -10% (warn 5), errors == 0.
    /// A policy with `gate` settings; one look unless the case sets `looks`, so that the
    /// intervals are at the plain `confidence`.
    fn policy_with(gate: &str, extra_rules: &str) -> Policy {
        let gate = if gate.contains("looks") {
            gate.to_string()
        } else if gate.trim().is_empty() {
            r#""looks": 1"#.to_string()
        } else {
            format!(r#"{gate}, "looks": 1"#)
        };
        let text = format!(
            r#"{{"schema_version": 1, "gate": {{ {gate} }}, "rules": {{
                "latency_p95_ms": {{"relative": {{"max_pct_increase": 15}}, "warn_pct": 10}},
                "rps": {{"relative": {{"max_pct_decrease": 10}}, "warn_pct": 5}},
                "errors_total": {{"absolute": {{"equals": 0}}}} {extra_rules} }} }}"#
        );
        policy::parse_str(&text, "policy.json").unwrap_or_else(|e| panic!("{e:#}\n{text}"))
    }

    const BASE: &str = r#""metrics": {"latency_p95_ms": 0.20, "rps": 1000, "errors_total": 0,
                                       "mem_mb_rss": 8.0, "fresh": 0},
        "samples": {"latency_p95_ms": [0.20, 0.199, 0.201, 0.2005, 0.1995],
                    "rps": [1000, 990, 1010, 1005, 995], "errors_total": [0, 0, 0, 0, 0]}"#;

    /// A candidate close to `BASE`: passes everything.
    const GOOD: &str = r#""metrics": {"latency_p95_ms": 0.202, "rps": 1002, "errors_total": 0,
                                       "mem_mb_rss": 8.1, "fresh": 0},
        "samples": {"latency_p95_ms": [0.202, 0.201, 0.203, 0.2025, 0.2015],
                    "rps": [1002, 992, 1012, 1007, 997], "errors_total": [0, 0, 0, 0, 0]}"#;

    struct Case {
        name: &'static str,
        gate: &'static str,
        extra_rules: &'static str,
        baseline: String,
        candidate: String,
        outcome: Outcome,
        /// (metric, status) pairs that must hold.
        rows: &'static [(&'static str, Status)],
        /// Texts that must appear somewhere in the verdict (rows, failures, warnings, notes,
        /// errors).
        says: &'static [&'static str],
        /// Number of warnings, when it matters.
        warnings: Option<usize>,
    }

    impl Default for Case {
        fn default() -> Self {
            Case {
                name: "",
                gate: "",
                extra_rules: "",
                baseline: BASE.to_string(),
                candidate: GOOD.to_string(),
                outcome: Outcome::Pass,
                rows: &[],
                says: &[],
                warnings: None,
            }
        }
    }

    /// `GOOD` with one metric's value and samples replaced (`samples` may be `None` to drop
    /// them), as a candidate body.
    fn cand(metric: &str, value: &str, samples: Option<&str>) -> String {
        let mut v: serde_json::Value =
            serde_json::from_str(&format!("{{{GOOD}}}")).expect("GOOD parses");
        let raw_value = format!("__RAW_{metric}__");
        v["metrics"][metric] = serde_json::Value::String(raw_value.clone());
        match samples {
            Some(_) => {
                v["samples"][metric] = serde_json::Value::String(format!("__RAWS_{metric}__"))
            }
            None => {
                v["samples"].as_object_mut().unwrap().remove(metric);
            }
        }
        let text = v.to_string();
        let text = text.replace(&format!("\"{raw_value}\""), value);
        let text = text.replace(&format!("\"__RAWS_{metric}__\""), samples.unwrap_or(""));
        // Strip the outer braces: `run` wraps the body in its own object.
        text[1..text.len() - 1].to_string()
    }

    fn without_metric(metric: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(&format!("{{{GOOD}}}")).unwrap();
        v["metrics"].as_object_mut().unwrap().remove(metric);
        v["samples"].as_object_mut().unwrap().remove(metric);
        let text = v.to_string();
        text[1..text.len() - 1].to_string()
    }

    fn all_text(v: &Verdict) -> String {
        let mut parts: Vec<String> = v
            .rows
            .iter()
            .map(|r| format!("{} {}", r.metric, r.message))
            .collect();
        parts.extend(v.failures.iter().cloned());
        parts.extend(v.warnings.iter().cloned());
        parts.extend(v.notes.iter().cloned());
        parts.extend(v.errors.iter().cloned());
        parts.extend(v.bench_failure.iter().cloned());
        parts.join("\n")
    }

    fn cases() -> Vec<Case> {
        vec![
            Case { name: "pass", rows: &[("latency_p95_ms", Status::Pass), ("rps", Status::Pass), ("errors_total", Status::Pass)], warnings: Some(0), ..Case::default() },
            Case {
                name: "relative increase beyond threshold",
                candidate: cand("latency_p95_ms", "0.30", Some("[0.30, 0.29, 0.31, 0.305, 0.295]")),
                outcome: Outcome::Fail,
                rows: &[("latency_p95_ms", Status::Fail), ("rps", Status::Pass)],
                says: &["latency_p95_ms +50.0% [", "beyond +15.0%"],
                ..Case::default()
            },
            Case {
                name: "relative decrease beyond threshold",
                candidate: cand("rps", "766", Some("[766, 760, 770, 768, 762]")),
                outcome: Outcome::Fail,
                rows: &[("rps", Status::Fail)],
                says: &["rps -23.4% [", "beyond -10.0%"],
                ..Case::default()
            },
            Case {
                name: "absolute equals fails on the median",
                candidate: cand("errors_total", "3", Some("[3, 3, 3, 3, 3]")),
                outcome: Outcome::Fail,
                rows: &[("errors_total", Status::Fail)],
                says: &["errors_total = 3, must equal 0"],
                ..Case::default()
            },
            Case {
                name: "absolute fails in one sample only",
                candidate: cand("errors_total", "0", Some("[0, 0, 2, 0, 0]")),
                outcome: Outcome::Fail,
                rows: &[("errors_total", Status::Fail)],
                says: &["was 2 in trial 3 (samples.errors_total[2]), must equal 0"],
                ..Case::default()
            },
            Case {
                name: "absolute max",
                extra_rules: r#", "mem_mb_rss": {"absolute": {"max": 8}}"#,
                outcome: Outcome::Fail,
                rows: &[("mem_mb_rss", Status::Fail)],
                says: &["mem_mb_rss = 8.1, must be <= 8"],
                ..Case::default()
            },
            Case {
                name: "absolute min",
                extra_rules: r#", "mem_mb_rss": {"absolute": {"min": 9}}"#,
                outcome: Outcome::Fail,
                rows: &[("mem_mb_rss", Status::Fail)],
                says: &["must be >= 9"],
                ..Case::default()
            },
            Case {
                name: "absolute min and max hold",
                extra_rules: r#", "mem_mb_rss": {"absolute": {"min": 1, "max": 9}}"#,
                rows: &[("mem_mb_rss", Status::Pass)],
                ..Case::default()
            },
            Case {
                name: "warn tier",
                candidate: cand("latency_p95_ms", "0.224", Some("[0.224, 0.2235, 0.2245, 0.224, 0.2242]")),
                rows: &[("latency_p95_ms", Status::Warn)],
                says: &["past the +10.0% warn tier, within +15.0%"],
                warnings: Some(1),
                ..Case::default()
            },
            Case {
                name: "inconclusive, policy pass",
                gate: r#""inconclusive": "pass""#,
                candidate: cand("latency_p95_ms", "0.23", Some("[0.18, 0.23, 0.26, 0.21, 0.245]")),
                rows: &[("latency_p95_ms", Status::Inconclusive)],
                says: &["straddles +15.0%: inconclusive"],
                ..Case::default()
            },
            Case {
                name: "inconclusive, policy warn",
                gate: r#""inconclusive": "warn""#,
                candidate: cand("latency_p95_ms", "0.23", Some("[0.18, 0.23, 0.26, 0.21, 0.245]")),
                rows: &[("latency_p95_ms", Status::Inconclusive)],
                says: &["inconclusive (gate.inconclusive is \"warn\")"],
                ..Case::default()
            },
            Case {
                name: "inconclusive, policy fail",
                gate: r#""inconclusive": "fail""#,
                candidate: cand("latency_p95_ms", "0.23", Some("[0.18, 0.23, 0.26, 0.21, 0.245]")),
                outcome: Outcome::Fail,
                rows: &[("latency_p95_ms", Status::Inconclusive)],
                says: &["inconclusive (gate.inconclusive is \"fail\")"],
                ..Case::default()
            },
            Case {
                name: "missing metric, required",
                candidate: without_metric("rps"),
                outcome: Outcome::Fail,
                rows: &[("rps", Status::Fail)],
                says: &["rps is missing in the candidate (metrics.rps)"],
                ..Case::default()
            },
            Case {
                name: "missing metric, not required",
                gate: r#""require_all_metrics_present": false"#,
                candidate: without_metric("rps"),
                rows: &[("rps", Status::Skipped)],
                says: &["rule skipped"],
                warnings: Some(1),
                ..Case::default()
            },
            Case {
                name: "null metric",
                gate: r#""require_all_metrics_present": false"#,
                candidate: cand("rps", "null", None),
                outcome: Outcome::Fail,
                rows: &[("rps", Status::Fail)],
                says: &["rps is invalid in the candidate: metrics.rps is null"],
                ..Case::default()
            },
            Case {
                name: "NaN metric",
                candidate: cand("latency_p95_ms", "NaN", None),
                outcome: Outcome::Fail,
                rows: &[("latency_p95_ms", Status::Fail)],
                says: &["metrics.latency_p95_ms is NaN, not a finite number"],
                ..Case::default()
            },
            Case {
                name: "string metric",
                candidate: cand("rps", r#""1002""#, None),
                outcome: Outcome::Fail,
                rows: &[("rps", Status::Fail)],
                says: &["metrics.rps is a string (\"1002\"), not a number"],
                ..Case::default()
            },
            Case {
                name: "NaN in the samples",
                candidate: cand("rps", "1002", Some("[1002, NaN, 1000]")),
                outcome: Outcome::Fail,
                rows: &[("rps", Status::Fail)],
                says: &["samples.rps[1] is NaN"],
                ..Case::default()
            },
            Case {
                name: "zero baseline, zero candidate",
                extra_rules: r#", "fresh": {"relative": {"max_pct_increase": 10}}"#,
                rows: &[("fresh", Status::Pass)],
                says: &["fresh is 0 in both runs"],
                ..Case::default()
            },
            Case {
                name: "zero baseline, nonzero candidate",
                extra_rules: r#", "fresh": {"relative": {"max_pct_increase": 10}}"#,
                candidate: cand("fresh", "2", None),
                outcome: Outcome::Fail,
                rows: &[("fresh", Status::Fail)],
                says: &["fresh changed from 0 to 2: baseline is 0, relative change undefined"],
                ..Case::default()
            },
            Case {
                name: "few samples: point estimate, within",
                candidate: cand("rps", "960", Some("[960, 961]")),
                rows: &[("rps", Status::Pass)],
                says: &["rps -4.0% (point estimate, 2 samples) within -10.0%"],
                ..Case::default()
            },
            Case {
                // Two samples that contradict the median: the samples decide, not the median.
                name: "few samples that contradict the median",
                candidate: cand("rps", "1000", Some("[500, 400]")),
                outcome: Outcome::Fail,
                rows: &[("rps", Status::Fail)],
                says: &[
                    "rps -55.0% (point estimate, 2 samples) beyond -10.0%",
                    "differs from the median of its samples",
                ],
                ..Case::default()
            },
            Case {
                name: "no samples: point estimate, beyond",
                extra_rules: r#", "mem_mb_rss": {"relative": {"max_pct_increase": 15}}"#,
                candidate: cand("mem_mb_rss", "9.6", None),
                outcome: Outcome::Fail,
                rows: &[("mem_mb_rss", Status::Fail)],
                says: &["mem_mb_rss +20.0% (point estimate, no samples) beyond +15.0%"],
                ..Case::default()
            },
            Case {
                name: "point estimate exactly at the threshold passes",
                extra_rules: r#", "mem_mb_rss": {"relative": {"max_pct_increase": 15}}"#,
                candidate: cand("mem_mb_rss", "9.2", None),
                rows: &[("mem_mb_rss", Status::Pass)],
                ..Case::default()
            },
            Case {
                name: "paired ratios see through shared drift",
                baseline: r#""metrics": {"latency_p95_ms": 0.2, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.20, 0.26, 0.16, 0.22, 0.18, 0.25, 0.17]}"#.into(),
                candidate: r#""metrics": {"latency_p95_ms": 0.242, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.242, 0.315, 0.194, 0.266, 0.218, 0.303, 0.206]},
                    "paired": {"against": "main"}"#.into(),
                outcome: Outcome::Fail,
                rows: &[("latency_p95_ms", Status::Fail)],
                says: &["(paired) beyond +15.0%"],
                ..Case::default()
            },
            Case {
                name: "the same data unpaired is inconclusive",
                baseline: r#""metrics": {"latency_p95_ms": 0.2, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.20, 0.26, 0.16, 0.22, 0.18, 0.25, 0.17]}"#.into(),
                candidate: r#""metrics": {"latency_p95_ms": 0.242, "rps": 1000, "errors_total": 0},
                    "samples": {"latency_p95_ms": [0.242, 0.315, 0.194, 0.266, 0.218, 0.303, 0.206]}"#.into(),
                rows: &[("latency_p95_ms", Status::Inconclusive)],
                ..Case::default()
            },
            Case {
                name: "paired with unequal counts falls back",
                candidate: format!(r#"{}, "paired": {{"against": "main"}}"#, cand("rps", "1002", Some("[1002, 992, 1012, 1007]"))),
                rows: &[("rps", Status::Pass)],
                says: &["compared as independent runs"],
                ..Case::default()
            },
            Case {
                name: "baseline metric null is an input error",
                baseline: BASE.replace(r#""rps": 1000"#, r#""rps": null"#),
                outcome: Outcome::InputError,
                says: &["baseline.json: field `metrics.rps`: is null"],
                ..Case::default()
            },
            Case {
                name: "baseline metric string is an input error",
                baseline: BASE.replace(r#""rps": 1000"#, r#""rps": "fast""#),
                outcome: Outcome::InputError,
                says: &["baseline.json: field `metrics.rps`: is a string"],
                ..Case::default()
            },
            Case {
                name: "baseline sample NaN is an input error",
                baseline: BASE.replace("[1000, 990", "[NaN, 990"),
                outcome: Outcome::InputError,
                says: &["baseline.json: field `samples.rps[0]`: is NaN"],
                ..Case::default()
            },
            Case {
                name: "rule for a metric the baseline lacks",
                extra_rules: r#", "cpu_ms_per_1k_req": {"relative": {"max_pct_increase": 15}}"#,
                outcome: Outcome::InputError,
                says: &["policy.json: field `rules.cpu_ms_per_1k_req`: the baseline baseline.json has no metric"],
                ..Case::default()
            },
            Case {
                name: "candidate run failed",
                candidate: format!(r#"{}, "run": {{"status": "failed", "exit_code": 3, "message": "router crashed"}}"#, without_metric("rps")),
                outcome: Outcome::BenchFailed,
                rows: &[("rps", Status::Fail)],
                says: &["the benchmark failed: run.status = failed, run.exit_code = 3: router crashed"],
                ..Case::default()
            },
            Case {
                name: "candidate run failed, not required",
                gate: r#""require_bench_exit_code_zero": false"#,
                candidate: format!(r#"{GOOD}, "run": {{"status": "timeout", "exit_code": 3}}"#),
                says: &["gate.require_bench_exit_code_zero is false"],
                warnings: Some(1),
                ..Case::default()
            },
            Case {
                name: "env mismatch, warn",
                gate: r#""env_mismatch": "warn""#,
                candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Other CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux"}}"#),
                says: &[r#"env differs from the baseline (baseline -> candidate): cpu_model "Test CPU" -> "Other CPU""#],
                warnings: Some(1),
                ..Case::default()
            },
            Case {
                name: "env mismatch, fail",
                gate: r#""env_mismatch": "fail""#,
                candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Test CPU", "cpu_count": 4, "kernel": "6.9.0", "os": "linux"}}"#),
                outcome: Outcome::Fail,
                says: &[r#"cpu_count 2 -> 4, kernel "6.1.0" -> "6.9.0""#, "gate.env_mismatch is \"fail\""],
                ..Case::default()
            },
            Case {
                name: "env mismatch, paired",
                gate: r#""env_mismatch": "paired""#,
                candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.96.0", "profile": "release", "cpu_model": "Test CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux"}}"#),
                says: &["env differs: paired mode needed (baseline -> candidate: rustc"],
                warnings: Some(1),
                ..Case::default()
            },
            Case {
                name: "slowdown knob flagged",
                candidate: format!(r#"{GOOD}, "env": {{"rustc": "rustc 1.95.0", "profile": "release", "cpu_model": "Test CPU", "cpu_count": 2, "kernel": "6.1.0", "os": "linux", "slowdown_knob": true}}"#),
                says: &["the candidate ran with the slowdown knob on"],
                warnings: Some(1),
                ..Case::default()
            },
            Case {
                name: "every failure is reported",
                candidate: r#""metrics": {"latency_p95_ms": 0.4, "rps": 500, "errors_total": 1}"#.into(),
                outcome: Outcome::Fail,
                rows: &[("latency_p95_ms", Status::Fail), ("rps", Status::Fail), ("errors_total", Status::Fail)],
                says: &["latency_p95_ms +100.0%", "rps -50.0%", "errors_total = 1"],
                ..Case::default()
            },
            Case {
                name: "noisy candidate gets a hint",
                candidate: cand("rps", "1000", Some("[1000, 800, 1200, 900, 1100]")),
                rows: &[("rps", Status::Inconclusive)],
                says: &["rps is noisy in the candidate", "more trials (--trials)"],
                ..Case::default()
            },
        ]
    }

    #[test]
    fn table() {
        let cases = cases();
        assert!(cases.len() >= 25);
        for case in cases {
            let policy = policy_with(case.gate, case.extra_rules);
            let baseline = run("baseline.json", &case.baseline);
            let candidate = run("candidate.json", &case.candidate);
            let v = evaluate(&baseline, &candidate, &policy);
            let text = all_text(&v);
            let ctx = format!("case {:?}:\n{text}\n{v:#?}", case.name);
            assert_eq!(v.outcome, case.outcome, "{ctx}");
            assert_eq!(v.exit_code(), case.outcome.exit_code(), "{ctx}");
            if case.outcome == Outcome::InputError {
                assert!(v.rows.is_empty() && !v.errors.is_empty(), "{ctx}");
            } else {
                assert_eq!(v.rows.len(), policy.rules.len(), "{ctx}");
            }
            for (metric, status) in case.rows {
                let row = v
                    .rows
                    .iter()
                    .find(|r| r.metric == *metric)
                    .unwrap_or_else(|| panic!("no row {metric}: {ctx}"));
                assert_eq!(row.status, *status, "{metric}: {ctx}");
            }
            for needle in case.says {
                assert!(text.contains(needle), "{needle:?} missing: {ctx}");
            }
            if let Some(n) = case.warnings {
                assert_eq!(v.warnings.len(), n, "warnings: {ctx}");
            }
            // Blocking rows are exactly the failures they cause.
            let blocking = v.rows.iter().filter(|r| r.blocking).count();
            assert!(v.failures.len() >= blocking, "{ctx}");
            // Deterministic: the same inputs give the same verdict.
            let again = evaluate(&baseline, &candidate, &policy);
            assert_eq!(all_text(&again), text, "{ctx}");
        }
    }

    #[test]
    fn rows_carry_numbers_and_methods() {
        let policy = policy_with("", "");
        let v = evaluate(&run("b.json", BASE), &run("c.json", GOOD), &policy);
        let rps = v.rows.iter().find(|r| r.metric == "rps").unwrap();
        assert_eq!(rps.method, Method::Bootstrap);
        assert_eq!((rps.n_baseline, rps.n_candidate), (5, 5));
        let change = rps.change.unwrap();
        assert!((change.pct - 0.2).abs() < 1e-9, "{change:?}");
        let (lo, hi) = change.ci_pct.unwrap();
        assert!(lo <= change.pct && change.pct <= hi, "{change:?}");
        assert_eq!(rps.severity, Some(Severity::Negligible));
        let errors = v.rows.iter().find(|r| r.metric == "errors_total").unwrap();
        assert_eq!(errors.method, Method::Exact);
        assert_eq!(errors.severity, None);
    }

    #[test]
    fn severity_ladder() {
        assert_eq!(Severity::of(-30.0), Severity::Improvement);
        assert_eq!(Severity::of(-4.9), Severity::Negligible);
        assert_eq!(Severity::of(4.99), Severity::Negligible);
        assert_eq!(Severity::of(5.0), Severity::Low);
        assert_eq!(Severity::of(10.0), Severity::Medium);
        assert_eq!(Severity::of(15.0), Severity::High);
        assert_eq!(Severity::of(20.0), Severity::High);
        assert_eq!(Severity::of(20.1), Severity::Critical);
    }

    #[test]
    fn paired_rerun_is_needed_only_when_envs_differ_under_paired_policy() {
        let other = format!(
            r#"{GOOD}, "env": {{"rustc": "x", "profile": "release", "cpu_model": "Test CPU",
                "cpu_count": 2, "kernel": "6.1.0", "os": "linux"}}"#
        );
        let base = run("b.json", BASE);
        let paired_policy = policy_with(r#""env_mismatch": "paired""#, "");
        let warn_policy = policy_with(r#""env_mismatch": "warn""#, "");
        assert!(needs_paired_rerun(
            &base,
            &run("c.json", &other),
            &paired_policy
        ));
        assert!(!needs_paired_rerun(
            &base,
            &run("c.json", GOOD),
            &paired_policy
        ));
        assert!(!needs_paired_rerun(
            &base,
            &run("c.json", &other),
            &warn_policy
        ));
        let already = format!(r#"{other}, "paired": {{"against": "main"}}"#);
        assert!(!needs_paired_rerun(
            &base,
            &run("c.json", &already),
            &paired_policy
        ));
        let v = evaluate(&base, &run("c.json", &other), &paired_policy);
        assert!(v.needs_paired_rerun);
        assert_eq!(v.env_differences.len(), 1);
        assert_eq!(v.env_differences[0].field, "rustc");
    }

    #[test]
    fn change_formatting() {
        let c = Change {
            pct: 3.06,
            ci_pct: Some((-1.2, 7.44)),
        };
        assert_eq!(c.to_string(), "+3.1% [-1.2%, +7.4%]");
        assert_eq!(fmt_pct(-0.01), "+0.0%");
        assert_eq!(fmt_pct(f64::INFINITY), "+inf%");
    }
}
