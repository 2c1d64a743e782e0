//! The gate policy (`perf/policy_<workload>.json`): which metrics are gated, by which rule,
//! and how the gate treats noise, environment differences and failed runs. It is read strictly
//! (`json::parse`) into private serde structs, then checked and converted into the public
//! types: a typo or a threshold that makes no sense must never silently turn a rule off.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::model::json::{self, Object};

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
/// those of `perf/policy_cp1.json` (`Default`), and for the adaptive-gate keys it leaves out
/// (`max_trials`, `time_budget_s`, `looks`) the ones documented on each field.
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
    /// `max_trials`: the most paired trials an adaptive gate may run per side (3..=200,
    /// default 15).
    pub max_trials: u32,
    /// `time_budget_s`: seconds an adaptive gate may spend on extra trials once the first
    /// ones are in (1..=3600, default 120); when it runs out the gate decides on what it has.
    pub time_budget_s: f64,
    /// `looks`: how many times an adaptive gate may look at the data, deciding or asking for
    /// more trials each time (1..=10, default 3).
    pub looks: u32,
    /// `always_paired`: `perf-gate` runs the baseline's commit alongside the working tree even
    /// when the environments match (default false): on a shared VM, wall-clock numbers from
    /// another session do not compare, whatever the environment fields say.
    pub always_paired: bool,
}

impl GateSettings {
    /// The confidence of each interval the gate computes: a rule may be decided at any of up
    /// to `looks` looks, so each spends an equal share of the error rate (Bonferroni), and the
    /// chance that any look calls a change that is not there stays below `1 - confidence`.
    pub fn look_confidence(&self) -> f64 {
        1.0 - (1.0 - self.confidence) / f64::from(self.looks.max(1))
    }
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
            max_trials: 15,
            time_budget_s: 120.0,
            looks: 3,
            always_paired: false,
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

names!(EnvMismatch: Warn => "warn", Fail => "fail", Paired => "paired");

names!(Inconclusive: Pass => "pass", Warn => "warn", Fail => "fail");

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

impl Direction {
    /// +1 when higher is worse, -1 when lower is: a change times this is positive when it
    /// moves the bad way.
    pub fn sign(self) -> f64 {
        match self {
            Direction::Increase => 1.0,
            Direction::Decrease => -1.0,
        }
    }
}

/// Absolute bounds: `equals` alone, or `min` and/or `max` with `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    pub equals: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// What must hold the bounds (`judged`): every trial, or the median over trials.
    pub judged: Judged,
}

/// What an absolute rule's bounds apply to (`absolute.judged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Judged {
    /// `"every_trial"` (the default): the median and every trial's value; one trial out of
    /// bounds fails the rule. For counts and for what must never happen (errors).
    #[default]
    EveryTrial,
    /// `"median"`: the median over trials, with its bootstrap interval (fail when all of it is
    /// out of bounds, pass when all is within, else inconclusive): for a reading whose single
    /// trials a shared host can push out of bounds while a real change moves them all.
    Median,
}

impl Bounds {
    /// Why `x` breaks the bounds, or `None` when it is within them.
    pub fn violation(&self, x: f64) -> Option<String> {
        match (self.equals, self.min, self.max) {
            (Some(e), _, _) if x != e => Some(format!("must equal {}", fmt_num(e))),
            (_, Some(m), _) if x < m => Some(format!("must be >= {}", fmt_num(m))),
            (_, _, Some(m)) if x > m => Some(format!("must be <= {}", fmt_num(m))),
            _ => None,
        }
    }
}

impl fmt::Display for Check {
    /// The rule in short, as shown in the report's "rule" column: `<= +15%`, `>= -10%`,
    /// `== 0`, `<= 100`, `in [1, 5]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Relative { direction, max_pct } => match direction {
                Direction::Increase => write!(f, "<= +{}%", fmt_num(*max_pct)),
                Direction::Decrease => write!(f, ">= -{}%", fmt_num(*max_pct)),
            },
            Check::Absolute(b) => {
                match (b.equals, b.min, b.max) {
                    (Some(e), _, _) => write!(f, "== {}", fmt_num(e)),
                    (None, Some(lo), Some(hi)) => {
                        write!(f, "in [{}, {}]", fmt_num(lo), fmt_num(hi))
                    }
                    (None, Some(lo), None) => write!(f, ">= {}", fmt_num(lo)),
                    (None, None, Some(hi)) => write!(f, "<= {}", fmt_num(hi)),
                    (None, None, None) => f.write_str("(none)"),
                }?;
                match b.judged {
                    Judged::EveryTrial => Ok(()),
                    Judged::Median => f.write_str(" (median)"),
                }
            }
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
    if !path.exists() {
        bail!(
            "{}: no such policy file; every workload is judged by its own policy \
             (perf/policy_<workload>.json): write one, or pass --policy FILE",
            path.display()
        );
    }
    let text = json::read_input(path, json::MAX_INPUT_BYTES)?;
    parse_str(&text, &path.display().to_string())
}

/// Parses and validates policy text; `source` names it in messages.
pub fn parse_str(text: &str, source: &str) -> Result<Policy> {
    let TopLevel(raw) = json::parse(text, source)?;
    let at = &At(source);
    let v = raw.schema_version.0;
    if v != SCHEMA_VERSION {
        bail!(at.field(
            "schema_version",
            format!("unsupported version {v} (this xtask reads {SCHEMA_VERSION})")
        ));
    }
    let gate = match raw.gate {
        None => GateSettings::default(),
        Some(Object(g)) => gate_settings(g, at)?,
    };
    if raw.rules.is_empty() {
        bail!(at.field("rules", "a policy needs at least one rule"));
    }
    let mut rules = BTreeMap::new();
    for (metric, Object(rule)) in raw.rules {
        if metric.trim().is_empty() {
            bail!(at.field("rules", "a rule needs a metric name, found an empty key"));
        }
        if let Some(why) = crate::model::metric::unknown(&metric) {
            bail!(at.field(&format!("rules.{metric}"), why));
        }
        let rule = convert_rule(rule, &format!("rules.{metric}"), at)?;
        rules.insert(metric, rule);
    }
    Ok(Policy {
        source: source.to_string(),
        gate,
        rules,
    })
}

/// Names the file in every message: `{source}: field `{path}`: {msg}`.
struct At<'a>(&'a str);

impl At<'_> {
    fn field(&self, path: &str, msg: impl fmt::Display) -> anyhow::Error {
        anyhow!("{}: field `{path}`: {msg}", self.0)
    }
}

fn gate_settings(g: RawGate, at: &At<'_>) -> Result<GateSettings> {
    let d = GateSettings::default();
    let confidence = match g.confidence {
        None => d.confidence,
        Some(Num(c)) if c > 0.5 && c < 1.0 => c,
        Some(Num(c)) => bail!(at.field(
            "gate.confidence",
            format!(
                "must be strictly between 0.5 and 1 (e.g. 0.95), got {}",
                fmt_num(c)
            )
        )),
    };
    let env_mismatch = match g.env_mismatch.as_deref() {
        None => d.env_mismatch,
        Some("warn") => EnvMismatch::Warn,
        Some("fail") => EnvMismatch::Fail,
        Some("paired") => EnvMismatch::Paired,
        Some(other) => bail!(at.field(
            "gate.env_mismatch",
            format!("must be \"warn\", \"fail\" or \"paired\", got {other:?}")
        )),
    };
    let inconclusive = match g.inconclusive.as_deref() {
        None => d.inconclusive,
        Some("pass") => Inconclusive::Pass,
        Some("warn") => Inconclusive::Warn,
        Some("fail") => Inconclusive::Fail,
        Some(other) => bail!(at.field(
            "gate.inconclusive",
            format!("must be \"pass\", \"warn\" or \"fail\", got {other:?}")
        )),
    };
    let watch_paths = g.watch_paths.unwrap_or(d.watch_paths);
    if let Some(i) = watch_paths.iter().position(|p| p.is_empty()) {
        let path = format!("gate.watch_paths[{i}]");
        bail!(at.field(&path, "expected a non-empty path, found an empty string"));
    }
    let time_budget_s = match g.time_budget_s {
        None => d.time_budget_s,
        Some(Num(s)) if (1.0..=3600.0).contains(&s) => s,
        Some(Num(s)) => bail!(at.field(
            "gate.time_budget_s",
            format!("must be from 1 to 3600 (seconds), got {}", fmt_num(s))
        )),
    };
    Ok(GateSettings {
        require_all_metrics_present: g
            .require_all_metrics_present
            .map_or(d.require_all_metrics_present, |b| b.0),
        require_bench_exit_code_zero: g
            .require_bench_exit_code_zero
            .map_or(d.require_bench_exit_code_zero, |b| b.0),
        confidence,
        bootstrap_resamples: int_in(
            g.bootstrap_resamples,
            100..=100_000,
            d.bootstrap_resamples,
            "gate.bootstrap_resamples",
            at,
        )?,
        env_mismatch,
        inconclusive,
        watch_paths,
        max_trials: int_in(g.max_trials, 3..=200, d.max_trials, "gate.max_trials", at)?,
        time_budget_s,
        looks: int_in(g.looks, 1..=10, d.looks, "gate.looks", at)?,
        always_paired: g.always_paired.map_or(d.always_paired, |b| b.0),
    })
}

/// An optional integer setting within `range`, or `default` when it is absent.
fn int_in(
    value: Option<Int>,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
    path: &str,
    at: &At<'_>,
) -> Result<u32> {
    let (lo, hi) = (range.start(), range.end());
    match value.map(|Int(n)| (n, u32::try_from(n))) {
        None => Ok(default),
        Some((_, Ok(n))) if range.contains(&n) => Ok(n),
        Some((n, _)) => Err(at.field(
            path,
            format!("must be an integer from {lo} to {hi}, got {n}"),
        )),
    }
}

/// A `relative` rule: one direction and its bound, a percentage.
fn relative_check(rel: RawRelative, path: &str, at: &At<'_>) -> Result<Check> {
    let here = format!("{path}.relative");
    let (direction, key, max_pct) = match (rel.max_pct_increase, rel.max_pct_decrease) {
        (Some(_), Some(_)) => bail!(at.field(
            &here,
            "has both `max_pct_increase` and `max_pct_decrease`; a relative rule \
             bounds one direction"
        )),
        (None, None) => {
            bail!(at.field(&here, "needs `max_pct_increase` or `max_pct_decrease`"))
        }
        (Some(Num(x)), None) => (Direction::Increase, "max_pct_increase", x),
        (None, Some(Num(x))) => (Direction::Decrease, "max_pct_decrease", x),
    };
    let why = match max_pct {
        x if x < 0.0 => "must not be negative",
        x if direction == Direction::Decrease && x >= 100.0 => {
            "must be below 100 (a decrease of 100% or more cannot happen)"
        }
        _ => return Ok(Check::Relative { direction, max_pct }),
    };
    let msg = format!("{why}, got {}", fmt_num(max_pct));
    bail!(at.field(&format!("{here}.{key}"), msg))
}

/// An `absolute` rule: `equals`, or `min` and/or `max`, judged on every trial or the median.
fn absolute_check(abs: RawAbsolute, path: &str, at: &At<'_>) -> Result<Check> {
    let here = format!("{path}.absolute");
    let [equals, min, max] = [abs.equals, abs.min, abs.max].map(|n| n.map(|n| n.0));
    let judged = match abs.judged.as_deref() {
        None | Some("every_trial") => Judged::EveryTrial,
        Some("median") => Judged::Median,
        Some(other) => bail!(at.field(
            &format!("{here}.judged"),
            format!("expected \"every_trial\" or \"median\", got {other:?}")
        )),
    };
    match (equals, min, max) {
        (None, None, None) => bail!(at.field(&here, "needs `equals`, `max` or `min`")),
        (Some(_), lo, hi) if lo.is_some() || hi.is_some() => {
            bail!(at.field(&here, "`equals` cannot be combined with `min` or `max`"))
        }
        (_, Some(lo), Some(hi)) if lo > hi => bail!(at.field(
            &format!("{here}.min"),
            format!("is above `max` ({} > {})", fmt_num(lo), fmt_num(hi))
        )),
        _ => Ok(Check::Absolute(Bounds {
            equals,
            min,
            max,
            judged,
        })),
    }
}

fn convert_rule(r: RawRule, path: &str, at: &At<'_>) -> Result<Rule> {
    let check = match (r.relative, r.absolute) {
        (Some(_), Some(_)) => bail!(at.field(
            path,
            "a rule has either `relative` or `absolute`, not both (write two metrics if both \
             are needed)"
        )),
        (None, None) => bail!(at.field(path, "a rule needs `relative` or `absolute`")),
        (Some(Object(rel)), None) => relative_check(rel, path, at)?,
        (None, Some(Object(abs))) => absolute_check(abs, path, at)?,
    };
    let warn_pct = r.warn_pct.map(|n| n.0);
    let why = match (check, warn_pct) {
        (_, None) => None,
        (Check::Absolute(_), _) => {
            Some("only relative rules have a warn tier (an absolute rule passes or fails)".into())
        }
        (_, Some(w)) if w < 0.0 => Some(format!("must not be negative, got {}", fmt_num(w))),
        (Check::Relative { max_pct, .. }, Some(w)) if w >= max_pct => Some(format!(
            "must be below the fail threshold ({}), got {}",
            fmt_num(max_pct),
            fmt_num(w)
        )),
        _ => None,
    };
    if let Some(why) = why {
        bail!(at.field(&format!("{path}.warn_pct"), why));
    }
    Ok(Rule {
        check,
        warn_pct,
        description: r.description,
    })
}

// The file as written. Every object goes through `json::Object` (an array is not an
// object), and every optional key through `present` (`null` does not leave a key out).

/// The top level, read only from an object.
struct TopLevel(RawPolicy);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        json::from_object(deserializer, "an object at the top level").map(TopLevel)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema_version: Int,
    #[serde(default, deserialize_with = "present")]
    gate: Option<Object<RawGate>>,
    rules: BTreeMap<String, Object<RawRule>>,
}

/// A struct of optional keys, each read through `present`, refusing unknown ones.
macro_rules! optional_keys {
    ($name:ident { $($key:ident: $ty:ty),+ $(,)? }) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $(#[serde(default, deserialize_with = "present")] $key: Option<$ty>,)+
        }
    };
}

optional_keys!(RawGate {
    require_all_metrics_present: Flag,
    require_bench_exit_code_zero: Flag,
    confidence: Num,
    bootstrap_resamples: Int,
    env_mismatch: String,
    inconclusive: String,
    watch_paths: Vec<String>,
    max_trials: Int,
    time_budget_s: Num,
    looks: Int,
    always_paired: Flag,
});

optional_keys!(RawRule {
    relative: Object<RawRelative>,
    absolute: Object<RawAbsolute>,
    warn_pct: Num,
    description: String,
});

optional_keys!(RawRelative {
    max_pct_increase: Num,
    max_pct_decrease: Num,
});

optional_keys!(RawAbsolute {
    equals: Num,
    min: Num,
    max: Num,
    judged: String,
});

/// A key that is there must hold a `T`; `null` included, which serde's `Option` would read
/// as "absent".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Any JSON number ("expected a number" when it is not one).
struct Num(f64);

/// A JSON integer from 0 up ("expected an integer": 5.0 is not one, as in the old reader).
struct Int(u64);

/// `true` or `false`.
struct Flag(bool);

/// `Deserialize` for a scalar newtype by a visitor that expects `$what` and takes the given
/// `visit_*` methods.
macro_rules! scalar {
    ($ty:ident, $what:literal, $($visit:ident($arg:ty) => $to:expr),+ $(,)?) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    $(fn $visit<E: de::Error>(self, v: $arg) -> Result<$ty, E> {
                        $to(v)
                    })+
                }
                d.deserialize_any(V)
            }
        }
    };
}

scalar!(Num, "a number",
    visit_f64(f64) => |v| Ok(Num(v)),
    visit_i64(i64) => |v| Ok(Num(v as f64)),
    visit_u64(u64) => |v| Ok(Num(v as f64)),
);
scalar!(Int, "an integer from 0 up",
    visit_u64(u64) => |v| Ok(Int(v)),
    visit_i64(i64) => |v| u64::try_from(v).map(Int).map_err(|_| {
        E::invalid_value(de::Unexpected::Signed(v), &"an integer from 0 up")
    }),
);
scalar!(Flag, "true or false", visit_bool(bool) => |v| Ok(Flag(v)));
