//! The gate policy (`perf/policy_<workload>.json`): which metrics are gated, by which rule,
//! and how the gate treats noise, environment differences and failed runs. Parsing is strict:
//! an unknown key, a wrong type or a threshold that makes no sense is an error naming the file
//! and the field path, because a typo in a policy must never silently turn a rule off.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// The only policy schema this xtask reads.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Where it came from (a path as given), for messages.
    pub source: String,
    pub gate: GateSettings,
    /// Rules by metric name (sorted by name, which is also the report order).
    pub rules: BTreeMap<String, Rule>,
}

/// `gate`: settings that apply to the whole gate. Every key is optional; the defaults are
/// those of `perf/policy_cp1.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct GateSettings {
    /// Every baseline metric that has a rule must be in the candidate (else that rule fails).
    pub require_all_metrics_present: bool,
    /// A candidate whose `run` is not `ok` / exit code 0 fails the gate with exit 3.
    pub require_bench_exit_code_zero: bool,
    /// Confidence of the bootstrap intervals, strictly between 0.5 and 1.
    pub confidence: f64,
    /// Bootstrap resamples per relative rule (100..=100000).
    pub bootstrap_resamples: u32,
    pub env_mismatch: EnvMismatch,
    pub inconclusive: Inconclusive,
    /// Paths whose changes make the pre-push hook run the quick gate.
    pub watch_paths: Vec<String>,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            require_all_metrics_present: true,
            require_bench_exit_code_zero: true,
            confidence: 0.95,
            bootstrap_resamples: 2000,
            env_mismatch: EnvMismatch::Warn,
            inconclusive: Inconclusive::Warn,
            watch_paths: Vec::new(),
        }
    }
}

/// What a difference between the baseline's and the candidate's environment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvMismatch {
    /// Report the differing fields as a warning.
    Warn,
    /// Fail the gate (exit 1), naming the fields.
    Fail,
    /// Re-run baseline and candidate side by side (`--against`); until that exists, a warning.
    Paired,
}

/// What a rule whose interval straddles its threshold does to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inconclusive {
    Pass,
    Warn,
    Fail,
}

impl EnvMismatch {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvMismatch::Warn => "warn",
            EnvMismatch::Fail => "fail",
            EnvMismatch::Paired => "paired",
        }
    }
}

impl Inconclusive {
    pub fn as_str(self) -> &'static str {
        match self {
            Inconclusive::Pass => "pass",
            Inconclusive::Warn => "warn",
            Inconclusive::Fail => "fail",
        }
    }
}

/// One metric's rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub check: Check,
    /// Relative rules only: a change past this many percent (in the bad direction) warns.
    /// Always below the fail threshold.
    pub warn_pct: Option<f64>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// The candidate may be at most `max_pct` percent worse than the baseline, where worse
    /// means higher for `Direction::Increase` and lower for `Direction::Decrease`.
    Relative { direction: Direction, max_pct: f64 },
    /// Bounds on the candidate's median and on every candidate sample.
    Absolute(Bounds),
}

/// Which way a relative change is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `max_pct_increase`: higher is worse (latency, memory, CPU).
    Increase,
    /// `max_pct_decrease`: lower is worse (throughput).
    Decrease,
}

/// Absolute bounds: `equals` alone, or `min` and/or `max` with `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    pub equals: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Bounds {
    /// Why `x` breaks the bounds, or `None` when it is within them.
    pub fn violation(&self, x: f64) -> Option<String> {
        if let Some(e) = self.equals
            && x != e
        {
            return Some(format!("must equal {}", fmt_num(e)));
        }
        if let Some(m) = self.min
            && x < m
        {
            return Some(format!("must be >= {}", fmt_num(m)));
        }
        if let Some(m) = self.max
            && x > m
        {
            return Some(format!("must be <= {}", fmt_num(m)));
        }
        None
    }
}

impl fmt::Display for Check {
    /// The rule in short, as shown in the report's "rule" column: `<= +15%`, `>= -10%`,
    /// `== 0`, `<= 100`, `in [1, 5]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Relative {
                direction: Direction::Increase,
                max_pct,
            } => {
                write!(f, "<= +{}%", fmt_num(*max_pct))
            }
            Check::Relative {
                direction: Direction::Decrease,
                max_pct,
            } => {
                write!(f, ">= -{}%", fmt_num(*max_pct))
            }
            Check::Absolute(b) => match (b.equals, b.min, b.max) {
                (Some(e), _, _) => write!(f, "== {}", fmt_num(e)),
                (None, Some(lo), Some(hi)) => write!(f, "in [{}, {}]", fmt_num(lo), fmt_num(hi)),
                (None, Some(lo), None) => write!(f, ">= {}", fmt_num(lo)),
                (None, None, Some(hi)) => write!(f, "<= {}", fmt_num(hi)),
                (None, None, None) => f.write_str("(none)"),
            },
        }
    }
}

/// A number without noise: integers without a fraction, others with up to 4 decimals.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Reads and validates a policy file.
pub fn load(path: &Path) -> Result<Policy> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_str(&text, &path.display().to_string())
}

/// Parses and validates policy text; `source` names it in messages.
pub fn parse_str(text: &str, source: &str) -> Result<Policy> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("parsing {source} as JSON"))?;
    let mut top = Obj::new(&value, "", source)?;

    let version = top.req("schema_version")?;
    match version.as_u64() {
        Some(SCHEMA_VERSION) => {}
        Some(v) => bail!(top.err_at(
            "schema_version",
            &format!("unsupported version {v} (this xtask reads {SCHEMA_VERSION})")
        )),
        None => bail!(top.err_at(
            "schema_version",
            &format!("expected an integer, found {}", kind(version))
        )),
    }

    let gate = match top.opt("gate") {
        None => GateSettings::default(),
        Some(v) => parse_gate(Obj::new(v, "gate", source)?)?,
    };

    let rules_value = top.req("rules")?;
    let rules_obj = Obj::new(rules_value, "rules", source)?;
    if rules_obj.map.is_empty() {
        bail!(rules_obj.err_here("a policy needs at least one rule"));
    }
    let mut rules = BTreeMap::new();
    for (metric, v) in rules_obj.map {
        if metric.trim().is_empty() {
            bail!(rules_obj.err_here("a rule needs a metric name, found an empty key"));
        }
        let rule = parse_rule(Obj::new(v, &format!("rules.{metric}"), source)?)?;
        rules.insert(metric.clone(), rule);
    }
    top.finish()?;
    Ok(Policy {
        source: source.to_string(),
        gate,
        rules,
    })
}

fn parse_gate(mut o: Obj<'_>) -> Result<GateSettings> {
    let d = GateSettings::default();
    let g = GateSettings {
        require_all_metrics_present: o
            .opt_bool("require_all_metrics_present")?
            .unwrap_or(d.require_all_metrics_present),
        require_bench_exit_code_zero: o
            .opt_bool("require_bench_exit_code_zero")?
            .unwrap_or(d.require_bench_exit_code_zero),
        confidence: match o.opt_num("confidence")? {
            None => d.confidence,
            Some(c) if c > 0.5 && c < 1.0 => c,
            Some(c) => bail!(o.err_at(
                "confidence",
                &format!(
                    "must be strictly between 0.5 and 1 (e.g. 0.95), got {}",
                    fmt_num(c)
                )
            )),
        },
        bootstrap_resamples: match o.opt("bootstrap_resamples") {
            None => d.bootstrap_resamples,
            Some(v) => match v.as_u64() {
                Some(n @ 100..=100_000) => n as u32,
                _ => bail!(o.err_at(
                    "bootstrap_resamples",
                    &format!("must be an integer from 100 to 100000, found {}", kind(v))
                )),
            },
        },
        env_mismatch: match o.opt_str("env_mismatch")? {
            None => d.env_mismatch,
            Some("warn") => EnvMismatch::Warn,
            Some("fail") => EnvMismatch::Fail,
            Some("paired") => EnvMismatch::Paired,
            Some(other) => bail!(o.err_at(
                "env_mismatch",
                &format!("must be \"warn\", \"fail\" or \"paired\", got {other:?}")
            )),
        },
        inconclusive: match o.opt_str("inconclusive")? {
            None => d.inconclusive,
            Some("pass") => Inconclusive::Pass,
            Some("warn") => Inconclusive::Warn,
            Some("fail") => Inconclusive::Fail,
            Some(other) => bail!(o.err_at(
                "inconclusive",
                &format!("must be \"pass\", \"warn\" or \"fail\", got {other:?}")
            )),
        },
        watch_paths: match o.opt("watch_paths") {
            None => d.watch_paths,
            Some(Value::Array(items)) => {
                let mut paths = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if !s.is_empty() => paths.push(s.to_string()),
                        _ => bail!(o.err_at(
                            &format!("watch_paths[{i}]"),
                            &format!("expected a non-empty path string, found {}", kind(item))
                        )),
                    }
                }
                paths
            }
            Some(other) => bail!(o.err_at(
                "watch_paths",
                &format!("expected an array of path strings, found {}", kind(other))
            )),
        },
    };
    o.finish()?;
    Ok(g)
}

fn parse_rule(mut o: Obj<'_>) -> Result<Rule> {
    let relative = o.opt("relative");
    let absolute = o.opt("absolute");
    let check = match (relative, absolute) {
        (Some(_), Some(_)) => bail!(o.err_here(
            "a rule has either `relative` or `absolute`, not both (write two metrics if both are needed)"
        )),
        (None, None) => bail!(o.err_here("a rule needs `relative` or `absolute`")),
        (Some(v), None) => {
            let mut r = Obj::new(v, &format!("{}.relative", o.path), o.source)?;
            let inc = r.opt_num("max_pct_increase")?;
            let dec = r.opt_num("max_pct_decrease")?;
            let (direction, key, max_pct) = match (inc, dec) {
                (Some(_), Some(_)) => bail!(r.err_here(
                    "has both `max_pct_increase` and `max_pct_decrease`; a relative rule bounds one direction"
                )),
                (None, None) => bail!(r.err_here("needs `max_pct_increase` or `max_pct_decrease`")),
                (Some(x), None) => (Direction::Increase, "max_pct_increase", x),
                (None, Some(x)) => (Direction::Decrease, "max_pct_decrease", x),
            };
            if max_pct < 0.0 {
                bail!(r.err_at(key, &format!("must not be negative, got {}", fmt_num(max_pct))));
            }
            if direction == Direction::Decrease && max_pct >= 100.0 {
                bail!(r.err_at(
                    key,
                    &format!("must be below 100 (a decrease of 100% or more cannot happen), got {}", fmt_num(max_pct))
                ));
            }
            r.finish()?;
            Check::Relative { direction, max_pct }
        }
        (None, Some(v)) => {
            let mut a = Obj::new(v, &format!("{}.absolute", o.path), o.source)?;
            let b = Bounds {
                equals: a.opt_num("equals")?,
                min: a.opt_num("min")?,
                max: a.opt_num("max")?,
            };
            match b {
                Bounds { equals: None, min: None, max: None } => {
                    bail!(a.err_here("needs `equals`, `max` or `min`"))
                }
                Bounds { equals: Some(_), min, max } if min.is_some() || max.is_some() => {
                    bail!(a.err_here("`equals` cannot be combined with `min` or `max`"))
                }
                Bounds { min: Some(lo), max: Some(hi), .. } if lo > hi => bail!(a.err_at(
                    "min",
                    &format!("is above `max` ({} > {})", fmt_num(lo), fmt_num(hi))
                )),
                _ => {}
            }
            a.finish()?;
            Check::Absolute(b)
        }
    };
    let warn_pct = o.opt_num("warn_pct")?;
    if let Some(w) = warn_pct {
        match check {
            Check::Absolute(_) => bail!(o.err_at(
                "warn_pct",
                "only relative rules have a warn tier (an absolute rule passes or fails)"
            )),
            _ if w < 0.0 => {
                bail!(o.err_at(
                    "warn_pct",
                    &format!("must not be negative, got {}", fmt_num(w))
                ))
            }
            Check::Relative { max_pct, .. } if w >= max_pct => bail!(o.err_at(
                "warn_pct",
                &format!(
                    "must be below the fail threshold ({}), got {}",
                    fmt_num(max_pct),
                    fmt_num(w)
                )
            )),
            _ => {}
        }
    }
    let description = o.opt_str("description")?.map(str::to_string);
    o.finish()?;
    Ok(Rule {
        check,
        warn_pct,
        description,
    })
}

/// A JSON object being read strictly: remembers which keys were taken so that `finish` can
/// reject the rest, and knows its field path for messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    source: &'a str,
    taken: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str, source: &'a str) -> Result<Self> {
        match v {
            Value::Object(map) => Ok(Self {
                map,
                path: path.to_string(),
                source,
                taken: Vec::new(),
            }),
            other => {
                let what = if path.is_empty() {
                    "the top level".to_string()
                } else {
                    format!("field `{path}`")
                };
                bail!(
                    "{source}: {what}: expected an object, found {}",
                    kind(other)
                )
            }
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn err_at(&self, key: &str, msg: &str) -> anyhow::Error {
        anyhow::anyhow!("{}: field `{}`: {msg}", self.source, self.field(key))
    }

    fn err_here(&self, msg: &str) -> anyhow::Error {
        if self.path.is_empty() {
            anyhow::anyhow!("{}: {msg}", self.source)
        } else {
            anyhow::anyhow!("{}: field `{}`: {msg}", self.source, self.path)
        }
    }

    fn opt(&mut self, key: &'static str) -> Option<&'a Value> {
        self.taken.push(key);
        self.map.get(key)
    }

    fn req(&mut self, key: &'static str) -> Result<&'a Value> {
        self.opt(key).ok_or_else(|| self.err_at(key, "is required"))
    }

    fn opt_bool(&mut self, key: &'static str) -> Result<Option<bool>> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err_at(
                key,
                &format!("expected true or false, found {}", kind(other)),
            )),
        }
    }

    fn opt_num(&mut self, key: &'static str) -> Result<Option<f64>> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(self.err_at(key, "expected a finite number")),
            },
            Some(other) => {
                Err(self.err_at(key, &format!("expected a number, found {}", kind(other))))
            }
        }
    }

    fn opt_str(&mut self, key: &'static str) -> Result<Option<&'a str>> {
        match self.opt(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(self.err_at(key, &format!("expected a string, found {}", kind(other))))
            }
        }
    }

    /// Rejects keys that were never taken: a typo must not silently disable a setting.
    fn finish(self) -> Result<()> {
        let unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.taken.contains(&k.as_str()))
            .collect();
        match unknown.first() {
            None => Ok(()),
            Some(k) => {
                let mut expected = self.taken.clone();
                expected.sort_unstable();
                Err(self.err_at(
                    k,
                    &format!("unknown key (expected one of: {})", expected.join(", ")),
                ))
            }
        }
    }
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CP1: &str = include_str!("../../../perf/policy_cp1.json");

    fn err(text: &str) -> String {
        format!(
            "{:#}",
            parse_str(text, "perf/policy_test.json").unwrap_err()
        )
    }

    /// A minimal valid policy with `gate` and one `rules.rps` rule spliced in.
    fn with(gate: &str, rps_rule: &str) -> String {
        format!(
            r#"{{ "schema_version": 1, "gate": {{ {gate} }}, "rules": {{ "rps": {rps_rule} }} }}"#
        )
    }

    #[test]
    fn the_committed_failover_policy_parses_with_absolute_rules() {
        let text = include_str!("../../../perf/policy_failover_nats.json");
        let p = parse_str(text, "perf/policy_failover_nats.json").unwrap();
        assert_eq!(
            p.rules["failover_lost_requests"].check,
            Check::Absolute(Bounds {
                max: Some(9.0),
                ..Bounds::default()
            })
        );
        assert!(
            p.rules
                .values()
                .all(|r| matches!(r.check, Check::Absolute(_)))
        );
    }

    #[test]
    fn the_committed_cp1_policy_parses() {
        let p = parse_str(CP1, "perf/policy_cp1.json").unwrap();
        assert_eq!(p.rules.len(), 8);
        assert_eq!(
            p.rules["rps"].check,
            Check::Relative {
                direction: Direction::Decrease,
                max_pct: 10.0
            }
        );
        assert_eq!(
            p.rules["errors_total"].check,
            Check::Absolute(Bounds {
                equals: Some(0.0),
                ..Bounds::default()
            })
        );
        assert_eq!(p.gate.confidence, 0.95);
        assert!(p.gate.watch_paths.iter().any(|w| w == "router/"));
    }

    #[test]
    fn defaults_fill_a_missing_gate() {
        let p = parse_str(
            r#"{"schema_version": 1, "rules": {"m": {"absolute": {"min": 1, "max": 5}}}}"#,
            "p.json",
        )
        .unwrap();
        assert_eq!(p.gate, GateSettings::default());
        assert_eq!(p.rules["m"].check.to_string(), "in [1, 5]");
    }

    #[test]
    fn rejects_bad_policies_naming_file_and_field() {
        let ok_rule = r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 5}"#;
        // (policy text, text that must appear in the error)
        let cases: Vec<(String, &str)> = vec![
            ("{ not json".into(), "parsing perf/policy_test.json"),
            ("[]".into(), "top level"),
            (r#"{"schema_version": 1, "rules": {}, "extra": 1}"#.into(), "rules"),
            (
                r#"{"schema_version": 1, "rules": {"rps": {"absolute": {"equals": 0}}}, "extra": 1}"#.into(),
                "field `extra`: unknown key",
            ),
            (r#"{"rules": {"rps": {"absolute": {"equals": 0}}}}"#.into(), "field `schema_version`: is required"),
            (
                r#"{"schema_version": 2, "rules": {"rps": {"absolute": {"equals": 0}}}}"#.into(),
                "unsupported version 2",
            ),
            (with(r#""confidenc": 0.9"#, ok_rule), "field `gate.confidenc`: unknown key"),
            (with(r#""confidence": 1.0"#, ok_rule), "field `gate.confidence`"),
            (with(r#""confidence": 0.5"#, ok_rule), "strictly between 0.5 and 1"),
            (with(r#""confidence": "high""#, ok_rule), "expected a number"),
            (with(r#""bootstrap_resamples": 5"#, ok_rule), "field `gate.bootstrap_resamples`"),
            (with(r#""env_mismatch": "ignore""#, ok_rule), "field `gate.env_mismatch`"),
            (with(r#""inconclusive": "maybe""#, ok_rule), "field `gate.inconclusive`"),
            (with(r#""require_all_metrics_present": "yes""#, ok_rule), "expected true or false"),
            (with(r#""watch_paths": [1]"#, ok_rule), "field `gate.watch_paths[0]`"),
            (
                with("", r#"{"relative": {"max_pct_decrease": 10}, "wran_pct": 5}"#),
                "field `rules.rps.wran_pct`: unknown key",
            ),
            (
                with("", r#"{"relative": {"max_pct_decrese": 10}}"#),
                "field `rules.rps.relative`",
            ),
            (with("", r#"{"relative": {"max_pct_decrease": -10}}"#), "must not be negative"),
            (with("", r#"{"relative": {"max_pct_increase": -1}}"#), "field `rules.rps.relative.max_pct_increase`"),
            (with("", r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 10}"#), "must be below the fail threshold"),
            (with("", r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": 12}"#), "field `rules.rps.warn_pct`"),
            (with("", r#"{"relative": {"max_pct_decrease": 10}, "warn_pct": -1}"#), "must not be negative"),
            (with("", r#"{"warn_pct": 1}"#), "needs `relative` or `absolute`"),
            (
                with("", r#"{"relative": {"max_pct_decrease": 10}, "absolute": {"min": 1}}"#),
                "not both",
            ),
            (
                with("", r#"{"relative": {"max_pct_decrease": 10, "max_pct_increase": 10}}"#),
                "one direction",
            ),
            (with("", r#"{"relative": {"max_pct_decrease": 100}}"#), "below 100"),
            (with("", r#"{"absolute": {}}"#), "field `rules.rps.absolute`: needs"),
            (with("", r#"{"absolute": {"equals": 0, "max": 1}}"#), "cannot be combined"),
            (with("", r#"{"absolute": {"min": 5, "max": 1}}"#), "field `rules.rps.absolute.min`"),
            (with("", r#"{"absolute": {"equals": 0}, "warn_pct": 1}"#), "only relative rules"),
            (with("", r#"{"absolute": {"equals": "0"}}"#), "expected a number"),
            (with("", r#"{"absolute": {"equals": 0}, "description": 3}"#), "field `rules.rps.description`"),
            (with("", "[]"), "field `rules.rps`: expected an object"),
        ];
        for (text, needle) in cases {
            let e = err(&text);
            assert!(
                e.contains("perf/policy_test.json"),
                "no file name in {e:?} for {text}"
            );
            assert!(e.contains(needle), "{needle:?} not in {e:?} for {text}");
        }
    }

    #[test]
    fn rule_display_and_bounds() {
        let inc = Check::Relative {
            direction: Direction::Increase,
            max_pct: 15.0,
        };
        assert_eq!(inc.to_string(), "<= +15%");
        let dec = Check::Relative {
            direction: Direction::Decrease,
            max_pct: 7.5,
        };
        assert_eq!(dec.to_string(), ">= -7.5%");
        let b = Bounds {
            max: Some(3.0),
            ..Bounds::default()
        };
        assert_eq!(Check::Absolute(b).to_string(), "<= 3");
        assert_eq!(b.violation(3.0), None);
        assert_eq!(b.violation(3.5).unwrap(), "must be <= 3");
        let e = Bounds {
            equals: Some(0.0),
            ..Bounds::default()
        };
        assert_eq!(e.violation(1.0).unwrap(), "must equal 0");
        assert_eq!(fmt_num(0.21), "0.21");
        assert_eq!(fmt_num(61234.5), "61234.5");
    }
}
