//! The gate's decision as a pure function: `evaluate(&baseline, &candidate, &policy)` looks at
//! two runs and a policy and returns a `Verdict` (one row per rule, every failure, warning and
//! note, the exit code). No IO: the command around it reads files and writes reports.
//! The statistical method is documented in `perf/README.md`, "How the gate decides".

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::exit;
use crate::gate::{pooled, stats};
use crate::model::policy::{
    Bounds, Check, Direction, EnvMismatch, GateSettings, Inconclusive, Judged, Policy, Rule,
    fmt_num,
};
use crate::model::run_file::{Env, Invalid, MetricValue, RunFile, Samples};

/// Below this many samples on either side, a relative rule compares the medians directly.
pub const MIN_SAMPLES: usize = 3;

pub use crate::model::run_file::ENV_FIELDS;

/// The whole decision.
#[derive(Debug, Clone, Default)]
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

/// Serialized as `as_str` writes it (the verdict JSON's `overall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Pass,
    /// A regression (or a policy-level failure such as `env_mismatch: fail`).
    Fail,
    /// The candidate's benchmark run did not succeed (`require_bench_exit_code_zero`).
    BenchFailed,
    /// The baseline does not fit the policy: nothing could be judged.
    #[serde(rename = "error")]
    InputError,
}

names!(Outcome:
    Pass => "pass", Fail => "fail", BenchFailed => "bench_failed", InputError => "error",
);

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => exit::OK,
            Outcome::Fail => exit::REGRESSION,
            Outcome::BenchFailed => exit::BENCH_FAILED,
            Outcome::InputError => exit::BAD_INPUT,
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
            errors,
            ..Verdict::default()
        }
    }
}

/// One rule's result.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub check: Check,
    pub description: Option<String>,
    /// The baseline's value as the row compares and every report shows it: for a relative rule
    /// with a change, the value `change.pct = (candidate / baseline - 1) * 100` is computed
    /// from (see `Method::values`); otherwise the baseline's median (`metrics.<name>`).
    pub baseline: Option<f64>,
    /// The candidate's value, likewise; `None` when missing or not a number.
    pub candidate: Option<f64>,
    /// The baseline's `metrics.<name>`: `baseline` unless the change is computed from other
    /// values (pooled percentiles, or samples whose median is not the recorded one).
    pub baseline_median: Option<f64>,
    /// The candidate's `metrics.<name>`, likewise.
    pub candidate_median: Option<f64>,
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
    /// Half the interval's width in percent (relative rules with an interval): the smallest
    /// change this run could tell from noise.
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

impl Change {
    /// The change in percent towards `direction`'s bad side (positive is worse): the point
    /// estimate and the interval's two ends, lower first (the point twice without one).
    pub fn adverse(&self, direction: Direction) -> (f64, f64, f64) {
        let sign = direction.sign();
        let (lo, hi) = self.ci_pct.unwrap_or((self.pct, self.pct));
        let (a, b) = (sign * lo, sign * hi);
        (sign * self.pct, a.min(b), a.max(b))
    }
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
    match p {
        _ if p.is_infinite() => format!("{}inf%", if p > 0.0 { '+' } else { '-' }),
        _ if p.abs() < 0.05 => "+0.0%".into(),
        _ => format!("{p:+.1}%"),
    }
}

/// How a row was decided. A change is always the ratio of the two values the row shows
/// (`Row::baseline`, `Row::candidate`), its interval around that ratio.
/// Serialized as `as_str` writes it (a verdict row's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Bootstrap CI of the ratio of medians, each side resampled independently.
    Bootstrap,
    /// A paired run: the ratio of the two sides' medians over trials, with a bootstrap CI
    /// that resamples pairs of trials, so drift shared by a pair stays matched. (Not the
    /// median of the per-pair ratios: no two numbers a table shows give that ratio.)
    PairedBootstrap,
    /// A latency percentile of a paired run: the ratio of each side's pooled histograms'
    /// percentiles (shown instead of the medians), with a paired bootstrap (`gate::pooled`).
    #[serde(rename = "pooled_paired_bootstrap")]
    PooledPaired,
    /// Fewer than `MIN_SAMPLES` samples on a side: medians compared directly.
    PointEstimate,
    /// Absolute rule: the candidate's median and every sample checked exactly.
    Exact,
    /// Absolute rule with `judged: "median"`: the bootstrap interval of the candidate's
    /// median over trials against the bounds.
    MedianInterval,
    /// Nothing to compute (missing or invalid value, zero baseline).
    None,
}

names!(Method:
    Bootstrap => "bootstrap", PairedBootstrap => "paired_bootstrap",
    PooledPaired => "pooled_paired_bootstrap", PointEstimate => "point_estimate", Exact => "exact",
    MedianInterval => "median_interval", None => "none",
);

impl Method {
    /// What the row's baseline and candidate values are, for reports.
    pub fn values(self) -> &'static str {
        match self {
            Method::PooledPaired => "pooled: the percentile of all of a side's trials' requests",
            _ => "medians over trials",
        }
    }
}

/// Serialized in lower case (a verdict row's `verdict`: `fail`, where `as_str` shouts `FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// The interval straddles the threshold: the data cannot tell.
    Inconclusive,
    /// Not judged (metric absent from the candidate and not required).
    Skipped,
}

names!(Status:
    Pass => "pass", Warn => "warn", Fail => "FAIL", Inconclusive => "inconclusive",
    Skipped => "skipped",
);

/// The severity ladder of the original freeze, applied to the change in the rule's bad
/// direction (see `of`); serialized as `as_str` writes it (a verdict row's `severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Improvement,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

names!(Severity:
    Improvement => "improvement", Negligible => "negligible", Low => "low", Medium => "medium",
    High => "high", Critical => "critical",
);

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

/// The `ENV_FIELDS` whose values differ between two runs' environments.
pub fn env_differences(baseline: &Env, candidate: &Env) -> Vec<EnvDifference> {
    ENV_FIELDS
        .iter()
        .map(|f| EnvDifference {
            field: f,
            baseline: baseline.get(f),
            candidate: candidate.get(f),
        })
        .filter(|d| d.baseline != d.candidate)
        .collect()
}

/// The policy settles environment differences by a paired re-run (`env_mismatch:
/// "paired"`), the environments differ, and the candidate is not already paired.
pub fn needs_paired_rerun(baseline: &RunFile, candidate: &RunFile, policy: &Policy) -> bool {
    policy.gate.env_mismatch == EnvMismatch::Paired
        && candidate.paired_against().is_none()
        && !env_differences(&baseline.env, &candidate.env).is_empty()
}

/// Problems that make the baseline unusable under this policy (exit 2), each naming the
/// file and the field.
pub fn check_baseline(baseline: &RunFile, policy: &Policy) -> Vec<String> {
    let (b, p) = (&baseline.source, &policy.source);
    let mut errors: Vec<String> = baseline
        .metrics
        .keys()
        .filter_map(|m| {
            crate::model::metric::unknown(m).map(|why| format!("{b}: field `metrics.{m}`: {why}"))
        })
        .collect();
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
    let (mut v, gate) = (Verdict::default(), &policy.gate);
    for (metric, rule) in &policy.rules {
        let mut row = evaluate_rule(metric, rule, baseline, candidate, gate, &mut v.notes);
        // A row blocks when it fails, or is inconclusive under `inconclusive: fail`.
        row.blocking = row.status == Status::Fail
            || (row.status == Status::Inconclusive && gate.inconclusive == Inconclusive::Fail);
        let line = format!("{metric} {}", row.message);
        match row.status {
            _ if row.blocking => v.failures.push(line),
            Status::Inconclusive if gate.inconclusive != Inconclusive::Warn => v.notes.push(line),
            Status::Warn | Status::Inconclusive | Status::Skipped => v.warnings.push(line),
            _ => {}
        }
        noise_warnings(&row, &mut v.warnings);
        v.rows.push(row);
    }

    if let Some(why) = candidate.run.failure() {
        if gate.require_bench_exit_code_zero {
            v.bench_failure = Some(format!("the benchmark failed: {why}"));
        } else {
            v.warnings.push(format!(
                "the candidate's benchmark run failed ({why}); judged on its numbers because \
                 gate.require_bench_exit_code_zero is false"
            ));
        }
    }

    env_findings(&mut v, baseline, candidate, policy);
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

/// The environment fields that differ between the runs, and what the policy makes of them
/// (`gate.env_mismatch`): a warning, a failure, or, paired, a note.
fn env_findings(v: &mut Verdict, baseline: &RunFile, candidate: &RunFile, policy: &Policy) {
    v.env_differences = env_differences(&baseline.env, &candidate.env);
    if !v.env_differences.is_empty() {
        let fields = v.env_differences.iter().map(ToString::to_string);
        let fields = fields.collect::<Vec<_>>().join(", ");
        let differs = format!("env differs from the baseline (baseline -> candidate): {fields}");
        match policy.gate.env_mismatch {
            EnvMismatch::Warn => v.warnings.push(format!(
                "{differs}; numbers from different machines or toolchains compare poorly"
            )),
            EnvMismatch::Fail => v
                .failures
                .push(format!("{differs} (gate.env_mismatch is \"fail\")")),
            EnvMismatch::Paired if candidate.paired_against().is_some() => v.notes.push(format!(
                "env differs from the baseline ({fields}), but the candidate is a paired run"
            )),
            EnvMismatch::Paired => v.warnings.push(format!(
                "env differs: paired mode needed (baseline -> candidate: {fields})"
            )),
        }
    }
}

/// Warns when a side's spread is large next to the rule's threshold, and says what helps.
fn noise_warnings(row: &Row, warnings: &mut Vec<String>) {
    let Check::Relative { max_pct, .. } = row.check else {
        return;
    };
    // Paired, each side's spread is the machine's drift, which pairing cancels.
    if matches!(row.method, Method::PairedBootstrap | Method::PooledPaired) {
        return;
    }
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
pub(crate) fn sample_values<'a>(run: &'a RunFile, metric: &str) -> Result<&'a [f64], String> {
    match run.samples.get(metric) {
        None => Ok(&[]),
        Some(Samples::Values(v)) => Ok(v),
        Some(Samples::Invalid { field, problem }) => Err(format!("{field} {problem}")),
    }
}

impl Row {
    /// A row before the candidate is read: failing until a check decides.
    fn fresh(metric: &str, rule: &Rule, base: f64, base_samples: &[f64]) -> Row {
        Row {
            metric: metric.to_string(),
            check: rule.check,
            description: rule.description.clone(),
            baseline: Some(base),
            candidate: None,
            baseline_median: Some(base),
            candidate_median: None,
            n_baseline: base_samples.len(),
            n_candidate: 0,
            baseline_rel_mad: rel_mad(base_samples),
            candidate_rel_mad: None,
            change: None,
            method: Method::None,
            severity: None,
            resolution_pct: None,
            status: Status::Fail,
            blocking: false,
            message: String::new(),
        }
    }

    fn decide(&mut self, status: Status, message: String) {
        self.status = status;
        self.message = message;
    }
}

fn evaluate_rule(
    metric: &str,
    rule: &Rule,
    baseline: &RunFile,
    candidate: &RunFile,
    gate: &GateSettings,
    notes: &mut Vec<String>,
) -> Row {
    // `check_baseline` has made sure these are usable.
    let base = match baseline.metric(metric) {
        MetricValue::Number(x) => x,
        MetricValue::Invalid(_) => unreachable!("check_baseline rejects invalid baseline values"),
    };
    let base_samples = sample_values(baseline, metric).unwrap_or(&[]);
    let mut row = Row::fresh(metric, rule, base, base_samples);

    let cand = match candidate.metric(metric) {
        MetricValue::Number(x) => x,
        MetricValue::Invalid(Invalid::Missing) if !gate.require_all_metrics_present => {
            let why = format!(
                "is missing in the candidate (metrics.{metric}); rule skipped because \
                 gate.require_all_metrics_present is false"
            );
            row.decide(Status::Skipped, why);
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
    row.candidate_median = Some(cand);
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
        Check::Absolute(bounds) if bounds.judged == Judged::Median && cand_samples.len() > 1 => {
            median_within(&mut row, bounds, cand_samples, gate)
        }
        Check::Absolute(bounds) => {
            let reference = candidate.paired_against().map(|_| (base, base_samples));
            within_bounds(&mut row, bounds, (cand, cand_samples), reference)
        }
        Check::Relative { .. } => relative(&mut row, rule, (baseline, candidate), gate, notes),
    }
    row
}

/// An absolute rule: the candidate's median and every trial checked exactly.
///
/// In a paired run, `reference` is the other side's median and trials from the same session.
/// When it broke the bound in at least as many trials as the candidate (and in its median, if
/// the candidate's median broke it), the machine broke it as much as the change (a starved
/// host once made both routers drop thousands of requests a trial): not decided. Trials are
/// compared by count, not one by one: a stall hits one side of an alternating pair.
fn within_bounds(
    row: &mut Row,
    bounds: Bounds,
    (cand, samples): (f64, &[f64]),
    reference: Option<(f64, &[f64])>,
) {
    row.method = Method::Exact;
    let metric = &row.metric;
    let mut broken = Vec::new();
    if let Some(why) = bounds.violation(cand) {
        broken.push(format!("= {}, {why}", fmt_num(cand)));
    }
    for (i, x) in samples.iter().enumerate() {
        if let Some(why) = bounds.violation(*x) {
            broken.push(format!(
                "was {} in trial {} (samples.{metric}[{i}]), {why}",
                fmt_num(*x),
                i + 1
            ));
        }
    }
    if broken.is_empty() {
        let why = if samples.is_empty() {
            format!("= {} (rule {})", fmt_num(cand), row.check)
        } else {
            format!(
                "= {} and every one of {} trials within {}",
                fmt_num(cand),
                samples.len(),
                row.check
            )
        };
        return row.decide(Status::Pass, why);
    }
    row.message = broken.join("; ");
    let Some((ref_median, ref_trials)) = reference else {
        return;
    };
    let breaks = |t: &[f64]| t.iter().filter(|x| bounds.violation(**x).is_some()).count();
    let (mine, theirs) = (breaks(samples), breaks(ref_trials));
    let median_too = bounds.violation(cand).is_none() || bounds.violation(ref_median).is_some();
    if mine <= theirs && median_too {
        let trials: Vec<String> = ref_trials.iter().map(|x| fmt_num(*x)).collect();
        let why = format!(
            "{}; the baseline's router broke it too on this machine, in {theirs} of its {} \
             trials of the same session (median {}, trials {}; the candidate in {mine}): the \
             machine could not hold the bound for either side, so this run cannot tell whether \
             the change did (run it again on a quieter machine)",
            row.message,
            ref_trials.len(),
            fmt_num(ref_median),
            trials.join(", ")
        );
        row.decide(Status::Inconclusive, why);
    }
}

/// An absolute rule with `judged: "median"`: the bootstrap interval of the candidate's median
/// decides, so one trial a host stall pushed out of bounds does not fail the rule.
fn median_within(row: &mut Row, bounds: Bounds, samples: &[f64], gate: &GateSettings) {
    let median = stats::median(samples).expect("at least two samples");
    let ci = stats::bootstrap_median(
        samples,
        gate.confidence,
        gate.bootstrap_resamples,
        stats::seed_for(&row.metric),
    );
    // A lumpy bootstrap over few trials can miss the point it is around.
    let (lo, hi) = (ci.lo.min(median), ci.hi.max(median));
    row.method = Method::MedianInterval;
    row.candidate = Some(median);
    let shown = format!(
        "median {} [{}, {}] over {} trials",
        fmt_num(median),
        fmt_num(lo),
        fmt_num(hi),
        samples.len()
    );
    let (status, why) = match (bounds.violation(lo), bounds.violation(hi)) {
        (None, None) => (Status::Pass, format!("within {}", row.check)),
        (Some(why), Some(_)) if bounds.violation(median).is_some() => (
            Status::Fail,
            format!("the whole interval is out of bounds ({why})"),
        ),
        _ => (
            Status::Inconclusive,
            format!(
                "the interval crosses the bound of {}: the trials cannot tell (more trials \
                 would)",
                row.check
            ),
        ),
    };
    row.decide(status, format!("{shown}: {why}"));
}

/// Why a relative rule cannot be decided: a wall-clock reading (not a count) of one CPU model
/// against another, not paired, whose change is the machines' as much as the code's (an AMD
/// EPYC read -11% to -55% "improvements" against an Intel Xeon baseline).
pub fn across_machines(metric: &str, baseline: &RunFile, candidate: &RunFile) -> Option<String> {
    let (Some(b), Some(c)) = (&baseline.env.cpu_model, &candidate.env.cpu_model) else {
        return None;
    };
    if candidate.paired_against().is_some() || crate::model::metric::is_counted(metric) || b == c {
        return None;
    }
    Some(format!(
        "not decided: the baseline was measured on {b} and the candidate on {c}, so a change in \
         this wall-clock reading is the machines' as much as the code's; pair the runs \
         (`--against <the baseline's commit>`, or `gate.env_mismatch: \"paired\"`) or record \
         a baseline on this CPU model"
    ))
}

/// A relative rule: the change from the baseline to the candidate, with its interval where
/// the samples allow one, judged against the rule's `max_pct` in its bad direction.
fn relative(
    row: &mut Row,
    rule: &Rule,
    runs: (&RunFile, &RunFile),
    gate: &GateSettings,
    notes: &mut Vec<String>,
) {
    let (base, cand) = (row.baseline.unwrap_or(0.0), row.candidate.unwrap_or(0.0));
    if base == 0.0 {
        if cand == 0.0 {
            row.decide(Status::Pass, "is 0 in both runs".into());
        } else {
            row.message = format!(
                "changed from 0 to {}: baseline is 0, relative change undefined",
                fmt_num(cand)
            );
        }
        return;
    }
    if let Some(why) = across_machines(&row.metric, runs.0, runs.1) {
        return row.decide(Status::Inconclusive, why);
    }
    let (method, b, c, ci) = compared(&row.metric, (base, cand), runs, gate, notes);
    (row.method, row.baseline, row.candidate) = (method, Some(b), Some(c));
    let pct = to_pct(c / b);
    // A percentile interval over few trials is lumpy and can miss its own point estimate: it is
    // widened to reach it (less confident, never more). Compared in rounded percent: the
    // bootstrap may compute the same ratio in other units.
    let ci_pct = ci.map(|ci| {
        let (lo, hi) = (to_pct(ci.lo), to_pct(ci.hi));
        if lo <= pct && pct <= hi {
            (lo, hi)
        } else {
            notes.push(format!(
                "{}: the bootstrap interval [{lo:+.3}%, {hi:+.3}%] does not contain the \
                 change {pct:+.3}%; widened to reach it",
                row.metric
            ));
            (lo.min(pct), hi.max(pct))
        }
    });
    row.change = Some(Change { pct, ci_pct });
    judge_change(row, rule, gate);
}

/// How a relative row is decided, the two values it shows and compares (its change is exactly
/// their ratio), and the bootstrap interval of that ratio.
fn compared(
    metric: &str,
    (base, cand): (f64, f64),
    (baseline, candidate): (&RunFile, &RunFile),
    gate: &GateSettings,
    notes: &mut Vec<String>,
) -> (Method, f64, f64, Option<stats::Interval>) {
    // `evaluate_rule` has refused a candidate with invalid samples.
    let [base_samples, cand_samples] =
        [baseline, candidate].map(|run| sample_values(run, metric).unwrap_or(&[]));
    let (confidence, resamples) = (gate.look_confidence(), gate.bootstrap_resamples);
    let seed = stats::seed_for(metric);
    let enough = base_samples.len() >= MIN_SAMPLES && cand_samples.len() >= MIN_SAMPLES;
    // A paired candidate's samples compare pair by pair, when the pairs line up.
    let mut paired = enough && candidate.paired_against().is_some();
    if paired && stats::paired_ratios(base_samples, cand_samples).is_none() {
        notes.push(format!(
            "{metric}: the candidate is a paired run but the sample counts differ ({} vs {}) or a \
             baseline sample is 0; compared as independent runs",
            base_samples.len(),
            cand_samples.len()
        ));
        paired = false;
    }
    let sample_medians = match (stats::median(base_samples), stats::median(cand_samples)) {
        (Some(b), Some(c)) if b > 0.0 => Some((b, c)),
        _ => None,
    };
    // Paired latency percentiles pool every request of a side's trials.
    let pooled = paired
        .then(|| crate::model::metric::find(metric)?.pooled)
        .flatten()
        .and_then(|q| pooled::pooled(baseline, candidate, q, confidence, resamples, seed));
    match (pooled, sample_medians) {
        (Some((b, c, ci)), _) => (Method::PooledPaired, b, c, Some(ci)),
        (None, Some((b, c))) => {
            // Samples, where there are any, decide over a recorded median that contradicts them.
            if !close(b, base) || !close(c, cand) {
                notes.push(format!(
                    "{metric}: `metrics.{metric}` differs from the median of its samples; the \
                     decision uses, and the table shows, the samples' medians ({} -> {})",
                    fmt_num(b),
                    fmt_num(c)
                ));
            }
            let (method, bootstrap): (_, Option<stats::RatioBootstrap>) = match (enough, paired) {
                (false, _) => (Method::PointEstimate, None),
                (true, true) => (
                    Method::PairedBootstrap,
                    Some(stats::bootstrap_paired_ratio_of_medians),
                ),
                (true, false) => (Method::Bootstrap, Some(stats::bootstrap_ratio_of_medians)),
            };
            let ci = bootstrap.map(|f| f(base_samples, cand_samples, confidence, resamples, seed));
            (method, b, c, ci)
        }
        (None, None) => (Method::PointEstimate, base, cand, None),
    }
}

/// Judges a relative row's change: fail when the whole interval is past `max_pct` in the bad
/// direction, pass (or warn past the warn tier) when it is all within, else inconclusive.
fn judge_change(row: &mut Row, rule: &Rule, gate: &GateSettings) {
    let (Some(change), Check::Relative { direction, max_pct }) = (row.change, rule.check) else {
        return;
    };
    // Work in "adverse" percent: positive is the bad direction for this rule.
    let sign = direction.sign();
    let (adverse, adv_lo, adv_hi) = change.adverse(direction);
    row.severity = Some(Severity::of(adverse));
    let limit = fmt_pct(sign * max_pct);
    let shown = match row.method {
        Method::PointEstimate => format!(
            "{change} (point estimate, {})",
            few_samples(row.n_baseline, row.n_candidate)
        ),
        Method::PairedBootstrap => format!("{change} (paired)"),
        Method::PooledPaired => format!("{change} (paired, pooled)"),
        _ => change.to_string(),
    };
    let warn = rule.warn_pct.filter(|w| adverse > *w);
    if change.ci_pct.is_some() {
        row.resolution_pct = Some((adv_hi - adv_lo) / 2.0);
    }
    let (status, why) = match warn {
        _ if adv_lo > max_pct => (Status::Fail, format!("{shown} beyond {limit}")),
        Some(w) if adv_hi <= max_pct => (
            Status::Warn,
            format!(
                "{shown} past the {} warn tier, within {limit}",
                fmt_pct(sign * w)
            ),
        ),
        None if adv_hi <= max_pct => (Status::Pass, format!("{shown} within {limit}")),
        _ => (
            Status::Inconclusive,
            format!(
                "{shown} straddles {limit}: inconclusive (gate.inconclusive is \"{}\"); with {} \
                 trials this run resolves changes of about ±{:.1}% and no smaller; more trials \
                 would narrow the interval",
                gate.inconclusive.as_str(),
                row.n_candidate,
                row.resolution_pct.unwrap_or(f64::NAN)
            ),
        ),
    };
    row.decide(status, why);
}

/// Ratio to percent, rounded to 1e-9 so that an exact +15% is not read as 15.000000000000002.
fn to_pct(ratio: f64) -> f64 {
    if !ratio.is_finite() {
        return ratio;
    }
    ((ratio - 1.0) * 100.0 * 1e9).round() / 1e9
}

/// How few samples the smaller side has: `no samples`, `1 sample`, `3 samples`.
pub fn few_samples(n_baseline: usize, n_candidate: usize) -> String {
    match n_baseline.min(n_candidate) {
        0 => "no samples".to_string(),
        n => format!("{n} sample{}", if n == 1 { "" } else { "s" }),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-12)
}

fn rel_mad(samples: &[f64]) -> Option<f64> {
    (samples.len() >= MIN_SAMPLES).then(|| stats::relative_mad(samples))?
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
    use serde_json::{Value, json};

    use super::*;
    use crate::model::{policy, run_file};

    /// One trial's latencies as the load generator stores them: `(ns, requests)` buckets.
    fn trial(buckets: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for &(ns, n) in buckets {
            h.record_n(ns, n).unwrap();
        }
        h
    }

    fn encoded(h: &Histogram<u64>) -> Value {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut bytes).unwrap();
        json!({"encoding": "hdrhistogram-v2-deflate+base64", "unit": "ns",
               "data": base64::engine::general_purpose::STANDARD.encode(bytes)})
    }

    /// A run of these trials: per-trial latency percentiles in `samples` (as the bench
    /// writes them, `value_at_quantile / 1e6`) and their medians in `metrics`, plus the
    /// other metrics' `samples` (a metric without samples only gets its `metrics` value).
    fn run(trials: &[Histogram<u64>], other: &[(&str, f64, &[f64])], paired: bool) -> RunFile {
        let mut metrics = serde_json::Map::new();
        let mut samples = serde_json::Map::new();
        for (metric, q) in [("latency_p50_ms", 0.5), ("latency_p99_ms", 0.99)] {
            let per_trial: Vec<f64> = trials
                .iter()
                .map(|h| h.value_at_quantile(q) as f64 / 1e6)
                .collect();
            metrics.insert(metric.into(), json!(stats::median(&per_trial)));
            samples.insert(metric.into(), json!(per_trial));
        }
        for (metric, median, values) in other {
            metrics.insert((*metric).into(), json!(median));
            if !values.is_empty() {
                samples.insert((*metric).into(), json!(values));
            }
        }
        let mut doc = json!({
            "metrics": metrics,
            "samples": samples,
            "histograms": {"latency": trials.iter().map(encoded).collect::<Vec<_>>()},
        });
        if paired {
            doc["paired"] = json!({"against": "main"});
        }
        run_file::parse_str(&doc.to_string(), "run.json").unwrap()
    }

    const POLICY: &str = r#"{"schema_version": 1, "gate": {"looks": 1}, "rules": {
        "latency_p50_ms": {"relative": {"max_pct_increase": 15}},
        "latency_p99_ms": {"relative": {"max_pct_increase": 20}},
        "rps": {"relative": {"max_pct_decrease": 10}},
        "cpu_ms_per_1k_req": {"relative": {"max_pct_increase": 15}},
        "instructions_per_req": {"relative": {"max_pct_increase": 2}},
        "mem_mb_rss": {"relative": {"max_pct_increase": 15}},
        "errors_total": {"absolute": {"equals": 0}}}}"#;

    /// Five trials a side whose pooled p99 is far from the median of the trials' p99s: one
    /// trial of each side has a heavy tail, which the pool weighs with all its requests. The
    /// baseline's pooled p99 is that trial's 1 ms (the trials' p99s have a median of 0.1 ms);
    /// the candidate's tail trial is lighter, so its pooled p99 is 0.22 ms (median 0.11 ms):
    /// pooled, the candidate is 78% faster; by the medians, 10% slower. `rps` and
    /// `cpu_ms_per_1k_req` drift together within each pair, so the ratio of the medians is not
    /// the median of the per-pair ratios; `metrics.cpu_ms_per_1k_req` is not its samples'
    /// median; `instructions_per_req` has one counting run a side, `mem_mb_rss` no samples.
    fn runs(paired: bool) -> (RunFile, RunFile) {
        let mut b = vec![trial(&[(100_000, 990), (200_000, 10)]); 4];
        b.push(trial(&[(100_000, 900), (1_000_000, 100)]));
        let mut c = vec![trial(&[(110_000, 990), (220_000, 10)]); 4];
        c.push(trial(&[(110_000, 950), (1_200_000, 50)]));
        let baseline = run(
            &b,
            &[
                ("rps", 1000.0, &[1000.0, 1200.0, 800.0, 1100.0, 900.0]),
                ("cpu_ms_per_1k_req", 10.0, &[10.0, 12.0, 8.0, 11.0, 9.0]),
                ("instructions_per_req", 20_000.0, &[20_000.0]),
                ("mem_mb_rss", 8.0, &[]),
                ("errors_total", 0.0, &[0.0; 5]),
            ],
            false,
        );
        let candidate = run(
            &c,
            &[
                ("rps", 1030.0, &[1030.0, 1150.0, 850.0, 1120.0, 880.0]),
                ("cpu_ms_per_1k_req", 10.5, &[10.2, 12.6, 8.1, 11.7, 9.0]),
                ("instructions_per_req", 20_100.0, &[20_100.0]),
                ("mem_mb_rss", 8.2, &[]),
                ("errors_total", 0.0, &[0.0; 5]),
            ],
            paired,
        );
        (baseline, candidate)
    }

    fn verdict(paired: bool) -> Verdict {
        let (b, c) = runs(paired);
        evaluate(&b, &c, &policy::parse_str(POLICY, "policy.json").unwrap())
    }

    fn row<'v>(v: &'v Verdict, metric: &str) -> &'v Row {
        v.rows.iter().find(|r| r.metric == metric).unwrap()
    }

    /// Every row with a change: the change is the ratio of the two values the row shows, and
    /// its interval holds it.
    fn assert_adds_up(v: &Verdict) {
        for r in &v.rows {
            let Some(change) = r.change else {
                continue;
            };
            let (b, c) = (r.baseline.unwrap(), r.candidate.unwrap());
            let from_columns = (c / b - 1.0) * 100.0;
            assert!(
                (change.pct - from_columns).abs() < 1e-6,
                "{}: change {} but the columns {b} -> {c} say {from_columns}",
                r.metric,
                change.pct
            );
            if let Some((lo, hi)) = change.ci_pct {
                assert!(
                    lo <= change.pct && change.pct <= hi,
                    "{}: {change}",
                    r.metric
                );
            }
        }
    }

    #[test]
    fn a_paired_row_shows_the_values_its_change_is_computed_from() {
        let v = verdict(true);
        assert_adds_up(&v);
        assert_eq!(v.rows.len(), 7);
        // The pooled bootstrap works in the histograms' unit, the row in milliseconds: the
        // same ratio, so no interval needed widening to reach its point.
        assert!(
            v.notes.iter().all(|n| !n.contains("widened")),
            "{:?}",
            v.notes
        );

        // The pooled p99: each side's merged histogram, not the median of its trials' p99s.
        let p99 = row(&v, "latency_p99_ms");
        assert_eq!(p99.method, Method::PooledPaired);
        let (b_hist, c_hist) = runs(true);
        let merged = |run: &RunFile| {
            let mut all = trial(&[]);
            for h in &run.histograms.latency {
                all.add(crate::model::histogram::decode(h.as_ref().unwrap()).unwrap())
                    .unwrap();
            }
            all.value_at_quantile(0.99) as f64 / 1e6
        };
        assert_eq!(p99.baseline, Some(merged(&b_hist)));
        assert_eq!(p99.candidate, Some(merged(&c_hist)));
        assert!((p99.baseline.unwrap() - 1.0).abs() < 0.001, "{p99:?}");
        assert!((p99.candidate.unwrap() - 0.22).abs() < 0.001, "{p99:?}");
        // ... which the recorded medians are not: they stay in `*_median`.
        assert!(
            (p99.baseline_median.unwrap() - 0.1).abs() < 0.001,
            "{p99:?}"
        );
        assert!(
            (p99.candidate_median.unwrap() - 0.11).abs() < 0.001,
            "{p99:?}"
        );
        assert!(p99.change.unwrap().pct < -70.0, "{p99:?}");
        assert!(p99.message.starts_with("-78.0% ["), "{}", p99.message);
        assert_eq!(row(&v, "latency_p50_ms").method, Method::PooledPaired);

        // Paired without histograms: the ratio of the sides' medians (1030 / 1000), not the
        // median of the per-pair ratios (1.018), which no two shown numbers give.
        let rps = row(&v, "rps");
        assert_eq!(rps.method, Method::PairedBootstrap);
        assert_eq!((rps.baseline, rps.candidate), (Some(1000.0), Some(1030.0)));
        assert!((rps.change.unwrap().pct - 3.0).abs() < 1e-9, "{rps:?}");

        // The samples decide and are shown when `metrics` disagrees with their median.
        let cpu = row(&v, "cpu_ms_per_1k_req");
        assert_eq!(cpu.method, Method::PairedBootstrap);
        assert_eq!((cpu.baseline, cpu.candidate), (Some(10.0), Some(10.2)));
        assert_eq!(cpu.candidate_median, Some(10.5));
        assert!(
            v.notes.iter().any(|n| n.contains("cpu_ms_per_1k_req")
                && n.contains("the table shows, the samples' medians (10 -> 10.2)")),
            "{:?}",
            v.notes
        );

        let count = row(&v, "instructions_per_req");
        assert_eq!(count.method, Method::PointEstimate);
        assert_eq!(
            (count.baseline, count.candidate),
            (Some(20_000.0), Some(20_100.0))
        );
        let mem = row(&v, "mem_mb_rss");
        assert_eq!(
            (mem.method, mem.baseline, mem.candidate),
            (Method::PointEstimate, Some(8.0), Some(8.2))
        );
        let errors = row(&v, "errors_total");
        assert_eq!((errors.method, errors.change), (Method::Exact, None));
        assert_eq!((errors.baseline, errors.candidate), (Some(0.0), Some(0.0)));
    }

    #[test]
    fn a_stored_row_shows_the_medians_its_change_is_computed_from() {
        let v = verdict(false);
        assert_adds_up(&v);
        let p99 = row(&v, "latency_p99_ms");
        assert_eq!(p99.method, Method::Bootstrap);
        assert_eq!(p99.baseline, p99.baseline_median);
        assert_eq!(p99.candidate, p99.candidate_median);
        let cpu = row(&v, "cpu_ms_per_1k_req");
        assert_eq!((cpu.method, cpu.candidate), (Method::Bootstrap, Some(10.2)));
    }

    #[test]
    fn pooling_needs_one_known_unit() {
        let (b, c) = runs(true);
        let policy = policy::parse_str(POLICY, "policy.json").unwrap();
        let in_us = |run: &RunFile| {
            let mut run = run.clone();
            for h in run.histograms.latency.iter_mut().flatten() {
                h.unit = Some("us".into());
            }
            run
        };
        // Units that differ cannot be pooled: the per-trial values decide (and are shown).
        let v = evaluate(&b, &in_us(&c), &policy);
        assert_eq!(row(&v, "latency_p99_ms").method, Method::PairedBootstrap);
        assert_adds_up(&v);
        // Recorded in microseconds, the same counts are 1000 times longer in milliseconds.
        let v = evaluate(&in_us(&b), &in_us(&c), &policy);
        let p99 = row(&v, "latency_p99_ms");
        assert_eq!(p99.method, Method::PooledPaired);
        assert!((p99.baseline.unwrap() - 1000.0).abs() < 1.0, "{p99:?}");
        assert_adds_up(&v);
    }

    /// A run with these `(metric, samples)` on this CPU model; `metrics` the samples' medians.
    fn on(cpu: &str, values: &[(&str, &[f64])], paired: bool) -> RunFile {
        let mut doc = json!({"env": {"cpu_model": cpu}, "metrics": {}, "samples": {}});
        for (metric, v) in values {
            doc["metrics"][*metric] = json!(stats::median(v));
            doc["samples"][*metric] = json!(v);
        }
        if paired {
            doc["paired"] = json!({"against": "main"});
        }
        run_file::parse_str(&doc.to_string(), "run.json").unwrap()
    }

    const MEDIAN_RULE: &str = r#"{"schema_version": 1, "rules": {
        "scaling_rps_min_share": {"absolute": {"min": 0.8, "judged": "median"}}}}"#;

    fn judged_share(samples: &[f64]) -> Row {
        let policy = policy::parse_str(MEDIAN_RULE, "policy.json").unwrap();
        let b = on("x", &[("scaling_rps_min_share", &[0.9, 0.9, 0.9])], false);
        let c = on("x", &[("scaling_rps_min_share", samples)], false);
        let v = evaluate(&b, &c, &policy);
        v.rows.into_iter().next().unwrap()
    }

    /// `judged: "median"`: one trial out of bounds leaves the rule undecided, not failed;
    /// every trial out of bounds fails it; all within passes.
    #[test]
    fn a_median_rule_is_decided_by_the_interval_of_the_median() {
        let dip = judged_share(&[0.77, 0.86, 0.87]);
        assert_eq!(dip.status, Status::Inconclusive, "{}", dip.message);
        assert!(!dip.blocking);
        assert_eq!(dip.method, Method::MedianInterval);
        assert_eq!(dip.candidate, Some(0.86));
        let regressed = judged_share(&[0.70, 0.72, 0.75]);
        assert_eq!(regressed.status, Status::Fail, "{}", regressed.message);
        assert!(regressed.blocking);
        assert!(
            regressed.message.contains("must be >= 0.8"),
            "{}",
            regressed.message
        );
        let fine = judged_share(&[0.84, 0.86, 0.9, 0.88, 0.85]);
        assert_eq!(fine.status, Status::Pass, "{}", fine.message);
        // The same samples under the default (every trial) fail on the dip.
        let every = policy::parse_str(
            r#"{"schema_version": 1, "rules": {"scaling_rps_min_share": {"absolute": {"min": 0.8}}}}"#,
            "p.json",
        )
        .unwrap();
        let b = on("x", &[("scaling_rps_min_share", &[0.9, 0.9, 0.9])], false);
        let c = on(
            "x",
            &[("scaling_rps_min_share", &[0.77, 0.86, 0.87])],
            false,
        );
        assert_eq!(evaluate(&b, &c, &every).rows[0].status, Status::Fail);
    }

    /// A wall-clock reading against a baseline from another CPU model, not paired, is not
    /// decided either way; a count is, and so is a paired run.
    #[test]
    fn a_reading_from_another_cpu_model_is_not_decided_but_a_count_is() {
        let policy = policy::parse_str(
            r#"{"schema_version": 1, "gate": {"env_mismatch": "warn"}, "rules": {
                "rps": {"relative": {"max_pct_decrease": 10}},
                "instructions_per_req": {"relative": {"max_pct_increase": 2}}}}"#,
            "policy.json",
        )
        .unwrap();
        let base: &[(&str, &[f64])] = &[
            ("rps", &[100.0, 101.0, 99.0]),
            ("instructions_per_req", &[1000.0]),
        ];
        let slower: &[(&str, &[f64])] = &[
            ("rps", &[50.0, 51.0, 49.0]),
            ("instructions_per_req", &[1100.0]),
        ];
        let b = on("Intel Xeon", base, false);
        let v = evaluate(&b, &on("AMD EPYC", slower, false), &policy);
        let rps = v.rows.iter().find(|r| r.metric == "rps").unwrap();
        assert_eq!(rps.status, Status::Inconclusive, "{}", rps.message);
        assert!(rps.message.contains("Intel Xeon") && rps.message.contains("AMD EPYC"));
        let count = v
            .rows
            .iter()
            .find(|r| r.metric == "instructions_per_req")
            .unwrap();
        assert_eq!(count.status, Status::Fail, "{}", count.message);
        // Same CPU model, or paired: the reading decides.
        let v = evaluate(&b, &on("Intel Xeon", slower, false), &policy);
        assert_eq!(
            v.rows.iter().find(|r| r.metric == "rps").unwrap().status,
            Status::Fail
        );
        let b = on("Intel Xeon", base, true);
        let v = evaluate(&b, &on("AMD EPYC", slower, true), &policy);
        assert_eq!(
            v.rows.iter().find(|r| r.metric == "rps").unwrap().status,
            Status::Fail
        );
    }

    /// An absolute bound the reference side of a pair broke in as many trials as the
    /// candidate is the machine's: not decided. More broken trials on the candidate's side
    /// fail the rule, and so does any break in a stored-mode comparison (nothing was read
    /// beside it).
    #[test]
    fn a_bound_the_reference_broke_too_in_a_pair_is_not_decided() {
        let policy = policy::parse_str(
            r#"{"schema_version": 1, "rules": {
                "client_errors_total": {"absolute": {"equals": 0}}}}"#,
            "policy.json",
        )
        .unwrap();
        let judged = |reference: &[f64], candidate: &[f64], paired: bool| {
            let b = on("x", &[("client_errors_total", reference)], paired);
            let c = on("x", &[("client_errors_total", candidate)], paired);
            evaluate(&b, &c, &policy).rows.remove(0)
        };
        let starved = judged(&[8442.0, 2451.0, 7944.0], &[8492.0, 2599.0, 7859.0], true);
        assert_eq!(starved.status, Status::Inconclusive, "{}", starved.message);
        assert!(!starved.blocking);
        assert!(
            starved
                .message
                .contains("the baseline's router broke it too")
                && starved.message.contains("8442, 2451, 7944"),
            "{}",
            starved.message
        );
        // A stall in a different trial of each side (an alternating pair): not decided.
        let apart = judged(&[12.0, 0.0, 0.0], &[0.0, 0.0, 9.0], true);
        assert_eq!(apart.status, Status::Inconclusive, "{}", apart.message);
        // One stalled trial on both sides, and the candidate alone breaking another: fail.
        let own = judged(&[0.0, 12.0, 0.0], &[0.0, 9.0, 3.0], true);
        assert_eq!(own.status, Status::Fail, "{}", own.message);
        assert!(own.blocking);
        // Both medians broken, as many trials each: not decided; more trials broken: fail.
        let median = judged(&[1.0, 1.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 2.0, 2.0, 0.0], true);
        assert_eq!(median.status, Status::Inconclusive, "{}", median.message);
        let median = judged(&[1.0, 1.0, 1.0, 0.0, 0.0], &[0.0, 2.0, 2.0, 2.0, 0.0], true);
        assert_eq!(median.status, Status::Inconclusive, "{}", median.message);
        let median = judged(
            &[5.0, 5.0, 5.0, 0.0, 0.0, 0.0],
            &[0.0, 2.0, 2.0, 2.0, 2.0, 0.0],
            true,
        );
        assert_eq!(median.status, Status::Fail, "{}", median.message);
        let quiet_reference = judged(&[0.0, 0.0, 0.0], &[5.0, 9.0, 3.0], true);
        assert_eq!(quiet_reference.status, Status::Fail);
        let stored = judged(&[8442.0, 2451.0, 7944.0], &[8492.0, 2599.0, 7859.0], false);
        assert_eq!(stored.status, Status::Fail, "{}", stored.message);
        // A policy that fails on inconclusive rules still blocks.
        let strict = policy::parse_str(
            r#"{"schema_version": 1, "gate": {"inconclusive": "fail"}, "rules": {
                "client_errors_total": {"absolute": {"equals": 0}}}}"#,
            "policy.json",
        )
        .unwrap();
        let b = on("x", &[("client_errors_total", &[1.0, 2.0])], true);
        let c = on("x", &[("client_errors_total", &[1.0, 2.0])], true);
        let row = evaluate(&b, &c, &strict).rows.remove(0);
        assert_eq!((row.status, row.blocking), (Status::Inconclusive, true));
    }
}
