//! Reading a benchmark run file (`perf_baseline_<ts>.json` from perf-bench, or a baseline in
//! `perf/`). Baseline and candidate have the same shape. Reading is lenient about extra keys
//! (run files grow) and keeps bad metric values as they are, so that the gate can say exactly
//! what is wrong instead of reading a missing number as 0.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// One run, as read from a file. Only the parts the gate looks at are typed.
#[derive(Debug, Clone)]
pub struct RunFile {
    /// Where it came from (a path as given), for messages.
    pub source: String,
    pub schema_version: Option<u64>,
    pub timestamp: Option<String>,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    /// The `env` object as written (empty when absent); compared field by field.
    pub env: Map<String, Value>,
    pub workload: Option<String>,
    pub trials: Option<u64>,
    /// `metrics.<name>`: the median over trials, or what was there instead of a number.
    pub metrics: BTreeMap<String, MetricValue>,
    /// `samples.<name>`: per-trial values, as found.
    pub samples: BTreeMap<String, Samples>,
    pub run: RunStatus,
    /// `paired.against`: present when samples[i] pairs with the baseline's samples[i].
    pub paired_against: Option<String>,
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

/// `run`: how the benchmark itself went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStatus {
    pub status: Option<String>,
    pub exit_code: Option<i64>,
    pub message: Option<String>,
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
        let mut text = format!(
            "run.status = {}, run.exit_code = {}",
            self.status.as_deref().unwrap_or("(none)"),
            self.exit_code
                .map_or("(none)".to_string(), |c| c.to_string())
        );
        if let Some(m) = &self.message {
            text.push_str(": ");
            text.push_str(m);
        }
        Some(text)
    }
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
        self.env.get("slowdown_knob").and_then(Value::as_bool) == Some(true)
    }
}

/// Reads and parses a run file.
pub fn load(path: &Path) -> Result<RunFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_str(&text, &path.display().to_string())
}

/// Parses run-file text; `source` names it in messages.
pub fn parse_str(text: &str, source: &str) -> Result<RunFile> {
    let text = quote_non_finite_tokens(text);
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {source} as JSON"))?;
    let Value::Object(top) = value else {
        bail!("{source}: expected a JSON object at the top level");
    };
    let field_err = |field: &str, what: &str| -> anyhow::Error {
        anyhow::anyhow!("{source}: field `{field}`: {what}")
    };
    let object_or_empty = |key: &str| -> Result<Map<String, Value>> {
        match top.get(key) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(other) => Err(field_err(
                key,
                &format!("expected an object, found {}", kind(other)),
            )),
        }
    };

    let metrics = object_or_empty("metrics")?
        .iter()
        .map(|(k, v)| (k.clone(), metric_value(Some(v))))
        .collect();
    let samples = object_or_empty("samples")?
        .iter()
        .map(|(k, v)| (k.clone(), samples(k, v)))
        .collect();
    let git = object_or_empty("git")?;
    let run = object_or_empty("run")?;
    let paired = object_or_empty("paired")?;

    Ok(RunFile {
        source: source.to_string(),
        schema_version: top.get("schema_version").and_then(Value::as_u64),
        timestamp: top
            .get("timestamp")
            .and_then(Value::as_str)
            .map(str::to_string),
        git_commit: git
            .get("commit")
            .and_then(Value::as_str)
            .map(str::to_string),
        git_dirty: git.get("dirty").and_then(Value::as_bool),
        env: object_or_empty("env")?,
        workload: top
            .get("workload")
            .and_then(Value::as_str)
            .map(str::to_string),
        trials: top.get("trials").and_then(Value::as_u64),
        metrics,
        samples,
        run: RunStatus {
            status: run
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string),
            exit_code: run.get("exit_code").and_then(Value::as_i64),
            message: run
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        paired_against: paired
            .get("against")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Classifies one JSON value as a metric number or the reason it is not one.
pub fn metric_value(v: Option<&Value>) -> MetricValue {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_run_and_ignores_extra_keys() {
        let run = parse_str(
            r#"{ "schema_version": 1, "timestamp": "2026-11-22T08:01:02Z",
                 "git": {"commit": "abc", "dirty": false},
                 "env": {"cpu_model": "X", "cpu_count": 2, "slowdown_knob": true},
                 "workload": "cp1", "trials": 3,
                 "metrics": {"rps": 100.5, "errors_total": 0},
                 "samples": {"rps": [100, 101, 99.5]},
                 "run": {"status": "ok", "exit_code": 0},
                 "paired": {"against": "main"},
                 "something_new": {"x": 1} }"#,
            "run.json",
        )
        .unwrap();
        assert_eq!(run.metric("rps"), MetricValue::Number(100.5));
        assert_eq!(run.metric("nope"), MetricValue::Invalid(Invalid::Missing));
        assert_eq!(
            run.samples["rps"],
            Samples::Values(vec![100.0, 101.0, 99.5])
        );
        assert_eq!(run.paired_against.as_deref(), Some("main"));
        assert_eq!(run.git_commit.as_deref(), Some("abc"));
        assert!(run.slowdown_knob());
        assert_eq!(run.run.failure(), None);
    }

    #[test]
    fn keeps_bad_values_as_reasons() {
        let run = parse_str(
            r#"{ "metrics": {"a": null, "b": NaN, "c": "fast", "d": "Infinity", "e": -Infinity,
                             "f": [1], "g": "NaN in a string stays a string"},
                 "samples": {"a": [1, NaN, 2], "b": "x", "c": [1, null]} }"#,
            "cand.json",
        )
        .unwrap();
        assert_eq!(run.metric("a"), MetricValue::Invalid(Invalid::Null));
        assert_eq!(
            run.metric("b"),
            MetricValue::Invalid(Invalid::NotFinite("NaN".into()))
        );
        assert!(
            matches!(run.metric("c"), MetricValue::Invalid(Invalid::NotANumber(s)) if s.contains("fast"))
        );
        assert!(matches!(
            run.metric("d"),
            MetricValue::Invalid(Invalid::NotFinite(_))
        ));
        assert!(matches!(
            run.metric("e"),
            MetricValue::Invalid(Invalid::NotFinite(_))
        ));
        assert!(matches!(
            run.metric("f"),
            MetricValue::Invalid(Invalid::NotANumber(_))
        ));
        assert!(matches!(
            run.metric("g"),
            MetricValue::Invalid(Invalid::NotANumber(_))
        ));
        assert!(
            matches!(&run.samples["a"], Samples::Invalid { field, .. } if field == "samples.a[1]")
        );
        assert!(
            matches!(&run.samples["b"], Samples::Invalid { field, .. } if field == "samples.b")
        );
        assert!(matches!(
            &run.samples["c"],
            Samples::Invalid {
                problem: Invalid::Null,
                ..
            }
        ));
    }

    #[test]
    fn malformed_json_names_the_file() {
        let err = parse_str("{ \"metrics\": ", "perf/x.json").unwrap_err();
        assert!(format!("{err:#}").contains("perf/x.json"), "{err:#}");
        let err = parse_str("[1, 2]", "perf/x.json").unwrap_err();
        assert!(format!("{err:#}").contains("top level"), "{err:#}");
        let err = parse_str(r#"{"metrics": [1]}"#, "perf/x.json").unwrap_err();
        assert!(format!("{err:#}").contains("field `metrics`"), "{err:#}");
    }

    #[test]
    fn failed_runs_say_why() {
        let run = parse_str(
            r#"{"run": {"status": "timeout", "exit_code": 3, "message": "router did not start"}}"#,
            "c.json",
        )
        .unwrap();
        let why = run.run.failure().unwrap();
        assert!(
            why.contains("timeout") && why.contains("router did not start"),
            "{why}"
        );
        let run = parse_str(r#"{"run": {"status": "ok", "exit_code": 1}}"#, "c.json").unwrap();
        assert!(run.run.failure().is_some());
        let run = parse_str(r#"{}"#, "c.json").unwrap();
        assert_eq!(run.run.failure(), None);
    }

    #[test]
    fn non_finite_quoting_leaves_strings_alone() {
        let s = r#"{"a": "say \"NaN\"", "b": NaN, "c": [-Infinity, Infinity]}"#;
        assert_eq!(
            quote_non_finite_tokens(s),
            r#"{"a": "say \"NaN\"", "b": "NaN", "c": ["-Infinity", "Infinity"]}"#
        );
    }
}
