//! The run file: one run of a workload, as perf-bench and the component suite write it
//! (`perf_baseline_<ts>.json`) and the baselines in `perf/` keep it; one typed record for
//! every reader and writer.
//!
//! Reading is strict where the gate depends on a field (types of `schema_version`, `trials`,
//! `git`, `run`, `paired`; no negative value where none can be): an error naming the file and
//! field (exit 2). Unusable metric values are kept with the reason, so that the gate FAILs
//! that rule saying why, and unknown top-level keys are kept: run files grow.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::model::histogram::Encoded;

/// Version of the shape this writes (the baseline shape of DESIGN.md, extended).
pub const SCHEMA_VERSION: u64 = 1;

/// `kind` of a benchmark run.
pub const KIND: &str = "perf_run";

/// One run. Field order is the file's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFile {
    /// Where it came from (a path as given), for messages; not part of the file.
    #[serde(skip)]
    pub source: String,
    pub schema_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When the run was measured, RFC 3339 UTC.
    pub timestamp: Option<String>,
    pub git: Git,
    pub env: Env,
    pub workload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_description: Option<String>,
    /// Trials planned.
    pub trials: Option<u32>,
    /// Trials that finished (fewer when the run failed part-way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trials_completed: Option<u32>,
    /// The median over trials per metric, or what was there instead of a usable number.
    pub metrics: BTreeMap<String, MetricValue>,
    /// Every trial's value per metric, as found.
    #[serde(deserialize_with = "de_samples")]
    pub samples: BTreeMap<String, Samples>,
    /// `{min, max, spread_pct}` of the finite samples per metric.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub spread: BTreeMap<String, Spread>,
    pub run: RunStatus,
    /// Per trial: each phase's load-generator result (its own format) and scenario notes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<BTreeMap<String, Value>>,
    /// Per trial: how the router stopped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub router_stop: Vec<Option<StopReport>>,
    #[serde(skip_serializing_if = "Histograms::is_empty")]
    pub histograms: Histograms,
    /// Present when the run was one side of a paired session: `samples[i]` pairs with the
    /// other side's `samples[i]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired: Option<Paired>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<Failover>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Components>,
    /// Present in a baseline: why it replaced the one before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bump: Option<Bump>,
    /// Keys this version does not know, kept as they were.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `git`: the measured commit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Git {
    pub commit: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub dirty: Option<bool>,
    /// The ref a paired reference was given as (`--against REF`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A commit id as messages show it: its first 12 characters.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `env`: where and how the run was measured. The fields the gate compares are typed; the
/// rest (load settings, tool versions, ...) are kept as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Env {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rustc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// A hash of the comparable fields: runs compare only within one fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The router ran with the test slowdown knob on: slowed on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowdown_knob: Option<bool>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The `env` fields that must match for two runs to be comparable.
pub const ENV_FIELDS: [&str; 6] = ["cpu_model", "cpu_count", "kernel", "os", "rustc", "profile"];

impl Env {
    /// One field as JSON (`Null` when absent), typed or not.
    pub fn get(&self, field: &str) -> Value {
        self.to_map().remove(field).unwrap_or(Value::Null)
    }

    /// Every field as one JSON object, for display.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}

/// `run`: how the benchmark itself went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunStatus {
    /// `ok`, `failed`, `timeout` or `interrupted`.
    pub status: Option<String>,
    pub exit_code: Option<i64>,
    /// Why the run did not complete.
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<bool>,
}

impl RunStatus {
    /// Why the run counts as failed, or `None` when it reported `ok` with exit code 0.
    /// A run file without a `run` section is not called failed: perf-bench always writes one,
    /// and a hand-written file without it is judged on its numbers.
    pub fn failure(&self) -> Option<String> {
        let bad_status = self.status.as_deref().is_some_and(|s| s != "ok");
        let bad_code = self.exit_code.is_some_and(|c| c != 0);
        if !bad_status && !bad_code {
            return None;
        }
        let code = self.exit_code.map_or("(none)".into(), |c| c.to_string());
        let status = self.status.as_deref().unwrap_or("(none)");
        let why = self
            .message
            .as_ref()
            .map_or(String::new(), |m| format!(": {m}"));
        Some(format!(
            "run.status = {status}, run.exit_code = {code}{why}"
        ))
    }
}

/// `paired`: this run alternated with another router in one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paired {
    /// The ref the other side was given as (`--against REF`).
    pub against: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The other side's run file, as written next to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_file: Option<String>,
}

/// `spread.<metric>`: the range of the finite samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub min: f64,
    pub max: f64,
    /// `(max - min) / median` in percent.
    pub spread_pct: f64,
}

/// How a router process ended when it was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopReport {
    /// It exited by itself after SIGTERM with status 0.
    pub clean: bool,
    pub exit_code: Option<i32>,
    /// It had to be SIGKILLed.
    pub killed: bool,
}

/// `histograms`: the latency histogram of each trial's latency phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    #[serde(default)]
    pub latency: Vec<Option<Encoded>>,
}

impl Histograms {
    pub fn is_empty(&self) -> bool {
        self.latency.is_empty()
    }
}

/// `failover`: the failover workload's second router, killed each trial.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Failover {
    pub kill_after_ms: Option<u64>,
    pub router_killed: Vec<Option<StopReport>>,
}

/// `components`: what the component benchmarks measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Components {
    pub unit: String,
    pub iterations_per_sample: BTreeMap<String, u64>,
    /// Iterations of a full counting run (the half run does half as many), when the
    /// benchmarks were counted (`component_<name>_ir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_iterations: Option<u64>,
}

/// `bump`: why this baseline replaced the one before (written by perf-baseline-bump).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bump {
    pub reason: String,
    pub justification: String,
    pub date: String,
    pub author: String,
    #[serde(default)]
    pub previous: Option<BumpPrevious>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_artifact: Option<String>,
    /// Metrics accepted beyond the policy (`--accept`, trade-off only).
    #[serde(default)]
    pub accepted_metrics: Vec<String>,
    /// Metrics that improved with confidence (the ratchet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub improved_metrics: Vec<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The baseline a bump replaced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BumpPrevious {
    pub commit: Option<String>,
    pub sha256: Option<String>,
    pub timestamp: Option<String>,
    /// Where it was archived, relative to the workspace root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
}

/// A metric's value as found in a run file.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Number(f64),
    Invalid(Invalid),
}

/// Why a value is not a usable number.
#[derive(Debug, Clone, PartialEq)]
pub enum Invalid {
    Missing,
    Null,
    /// NaN or an infinity (bare `NaN`/`Infinity` tokens, or those words as strings).
    NotFinite(String),
    /// Some other JSON type; the text says which, e.g. `a string ("fast")`.
    NotANumber(String),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Missing => f.write_str("is missing"),
            Invalid::Null => f.write_str("is null"),
            Invalid::NotFinite(what) => write!(f, "is {what}, not a finite number"),
            Invalid::NotANumber(what) => write!(f, "is {what}, not a number"),
        }
    }
}

impl From<f64> for MetricValue {
    /// A measured value; NaN or infinite (nothing measured) is written as null.
    fn from(x: f64) -> Self {
        if x.is_finite() {
            MetricValue::Number(x)
        } else {
            MetricValue::Invalid(Invalid::Null)
        }
    }
}

impl MetricValue {
    pub fn number(&self) -> Option<f64> {
        match self {
            MetricValue::Number(x) => Some(*x),
            MetricValue::Invalid(_) => None,
        }
    }
}

impl Serialize for MetricValue {
    /// The number, or null.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.number().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MetricValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(metric_value(Some(&Value::deserialize(d)?)))
    }
}

/// A metric's per-trial samples as found in a run file.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    Values(Vec<f64>),
    /// The field path of the first bad element (e.g. `samples.rps[2]`) and what is wrong.
    Invalid {
        field: String,
        problem: Invalid,
    },
}

impl Serialize for Samples {
    /// serde_json writes a NaN (a trial without a value) as null, in its place.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Samples::Values(values) => values.serialize(s),
            Samples::Invalid { .. } => s.serialize_none(),
        }
    }
}

fn de_samples<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Samples>, D::Error> {
    let raw = BTreeMap::<String, Value>::deserialize(d)?;
    Ok(raw
        .iter()
        .map(|(k, v)| (k.clone(), samples(k, v)))
        .collect())
}

impl RunFile {
    /// The metric's value, `Invalid::Missing` when the file has none.
    pub fn metric(&self, name: &str) -> MetricValue {
        self.metrics
            .get(name)
            .cloned()
            .unwrap_or(MetricValue::Invalid(Invalid::Missing))
    }

    /// `env.slowdown_knob`, the deliberate slow-down switch used to test the gate.
    pub fn slowdown_knob(&self) -> bool {
        self.env.slowdown_knob == Some(true)
    }

    /// `paired.against`: present when samples[i] pairs with the baseline's samples[i].
    pub fn paired_against(&self) -> Option<&str> {
        self.paired.as_ref().map(|p| p.against.as_str())
    }

    /// The file as written: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String> {
        let mut text = serde_json::to_string_pretty(self).context("encoding the run file")?;
        text.push('\n');
        Ok(text)
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::model::artifacts::write_atomic(path, self.to_json()?.as_bytes())
    }
}

/// Reads and parses a run file.
pub fn load(path: &Path) -> Result<RunFile> {
    let text = crate::model::json::read_input(path, crate::model::json::MAX_INPUT_BYTES)?;
    parse_str(&text, &path.display().to_string())
}

/// Parses run-file text; `source` names it in messages.
pub fn parse_str(text: &str, source: &str) -> Result<RunFile> {
    let text = quote_non_finite_tokens(text);
    let value: Value = crate::model::json::parse(&text, source)?;
    if !value.is_object() {
        bail!("{source}: expected a JSON object at the top level");
    }
    // Sections read as objects: a wrong type there names the section, as a reader expects.
    for key in ["metrics", "samples", "git", "env", "run", "paired"] {
        match value.get(key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => bail!(
                "{source}: field `{key}`: expected an object, found {}",
                kind(other)
            ),
        }
    }
    let mut run: RunFile = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("{source}: field `{path}`: {}", e.into_inner())
    })?;
    run.source = source.to_string();
    validate(&run)?;
    Ok(run)
}

/// Metrics whose values may be below zero: slopes and changes.
fn may_be_negative(metric: &str) -> bool {
    metric.contains("slope") || metric.ends_with("_increase_pct") || metric.ends_with("_change_pct")
}

/// What serde cannot check: values that cannot be negative.
fn validate(run: &RunFile) -> Result<()> {
    let source = &run.source;
    for (name, v) in &run.metrics {
        if let MetricValue::Number(x) = v
            && *x < 0.0
            && !may_be_negative(name)
        {
            bail!(
                "{source}: field `metrics.{name}`: is negative ({x}); `{name}` cannot be below 0"
            );
        }
    }
    for (name, s) in &run.samples {
        let Samples::Values(values) = s else { continue };
        if let Some(i) = values.iter().position(|x| *x < 0.0)
            && !may_be_negative(name)
        {
            bail!(
                "{source}: field `samples.{name}[{i}]`: is negative ({}); `{name}` cannot be below 0",
                values[i]
            );
        }
    }
    Ok(())
}

/// Classifies one JSON value as a metric number or the reason it is not one.
fn metric_value(v: Option<&Value>) -> MetricValue {
    let problem = match v {
        None => Invalid::Missing,
        Some(Value::Null) => Invalid::Null,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => return MetricValue::Number(x),
            _ => Invalid::NotFinite(n.to_string()),
        },
        Some(Value::String(s)) if is_non_finite_word(s) => Invalid::NotFinite(s.clone()),
        Some(other) => Invalid::NotANumber(kind(other)),
    };
    MetricValue::Invalid(problem)
}

fn samples(name: &str, v: &Value) -> Samples {
    let Value::Array(items) = v else {
        return Samples::Invalid {
            field: format!("samples.{name}"),
            problem: Invalid::NotANumber(kind(v)),
        };
    };
    let mut values = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match metric_value(Some(item)) {
            MetricValue::Number(x) => values.push(x),
            MetricValue::Invalid(problem) => {
                return Samples::Invalid {
                    field: format!("samples.{name}[{i}]"),
                    problem,
                };
            }
        }
    }
    Samples::Values(values)
}

fn is_non_finite_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "nan" | "-nan" | "inf" | "-inf" | "+inf" | "infinity" | "-infinity" | "+infinity"
    )
}

/// Describes a JSON value's type for messages, with a short preview of strings.
fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => {
            let preview: String = s.chars().take(40).collect();
            format!("a string ({preview:?})")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Writers such as Python's `json` emit bare `NaN`, `Infinity` and `-Infinity`, which are not
/// JSON. Outside strings they can only be such tokens, so they are quoted to keep the file
/// readable; the metric is then reported as not finite instead of the whole file as broken.
fn quote_non_finite_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    if !TOKENS.iter().any(|t| text.contains(t)) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(t) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            out.push('"');
            out.push_str(t);
            out.push('"');
            rest = &rest[t.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

// Tests of private helpers; the public interface is tested in tests/it/unit/run_file.rs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_quoting_leaves_strings_alone() {
        let s = r#"{"a": "say \"NaN\"", "b": NaN, "c": [-Infinity, Infinity]}"#;
        assert_eq!(
            quote_non_finite_tokens(s),
            r#"{"a": "say \"NaN\"", "b": "NaN", "c": ["-Infinity", "Infinity"]}"#
        );
    }
}
