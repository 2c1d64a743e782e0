//! Every output format in one list, `EXPORTERS`: the gate's artifacts (`perf_gate_<ts>.log`,
//! `.json`, `.md`, `.junit.xml`, written by every gate) and the `--export KIND FILE` formats
//! other tools read: Bencher Metric Format (`bmf`), OpenMetrics text for a Pushgateway
//! (`openmetrics`), and github-action-benchmark's custom arrays (`github`); any gate
//! artifact's kind can be exported to a file of one's choosing too. A new format is one line in
//! the list (a `Format`, or its own `Exporter`). The shapes are documented in perf/README.md; the text builders are pure and the
//! writers are atomic.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::model::metric::{self, Better};
use crate::model::run_file::{MetricValue, RunFile, Samples};
use crate::report::junit;
use crate::report::verdict::{self, Record};

/// What an exporter renders from: the run, when there is one (a gate whose inputs could not
/// be read has none), and the gate's verdict, when a gate exports.
pub struct Subject<'a> {
    pub run: Option<Summary>,
    pub gate: Option<&'a Record>,
}

/// An output format. Most are a line of `EXPORTERS` (a `Format`); a format that renders
/// some other way implements the trait itself and takes its place in the list.
pub trait Exporter: Sync {
    /// Its `--export` KIND.
    fn kind(&self) -> &'static str;
    /// The extension of the artifact every gate writes in this format
    /// (`perf_gate_<ts>.<ext>`); none for a format written only when asked.
    fn gate_artifact(&self) -> Option<&'static str>;
    /// The files to write for `path` (the one asked for), with their text; an error when
    /// the subject lacks what the format shows.
    fn render(&self, path: &Path, subject: &Subject<'_>) -> Files;
}

type Files = Result<Vec<(PathBuf, String)>>;

/// A format given by its `--export` KIND and what it renders from.
pub struct Format(&'static str, Render);

enum Render {
    /// A gate verdict, to the one file asked for; with the extension of the artifact every
    /// gate writes in this format.
    Gate(&'static str, fn(&Record) -> Result<String>),
    /// A run: the files to write for the one asked for, with their text.
    Run(fn(&Path, &Summary) -> Files),
}
use Render::{Gate, Run};

/// Every format, gate artifacts first (in the order the gate writes them).
pub(crate) static EXPORTERS: [&dyn Exporter; 7] = [
    &Format("log", Gate("log", |g| Ok(verdict::log_text(g)))),
    &Format("verdict", Gate("json", pretty)),
    &Format("markdown", Gate("md", |g| Ok(verdict::markdown(g)))),
    &Format("junit", Gate("junit.xml", |g| Ok(junit::render(g)))),
    &Format("bmf", Run(|path, s| one(path, pretty(&bmf(s))?))),
    &Format("openmetrics", Run(|path, s| one(path, openmetrics(s)))),
    &Format(
        "github",
        Run(|path, s| {
            let (smaller, bigger) = github(s);
            Ok(vec![
                (path.into(), pretty(&smaller)?),
                (github_bigger_path(path), pretty(&bigger)?),
            ])
        }),
    ),
];

/// One file, the one asked for.
fn one(path: &Path, text: String) -> Files {
    Ok(vec![(path.into(), text)])
}

impl Exporter for Format {
    fn kind(&self) -> &'static str {
        self.0
    }

    fn gate_artifact(&self) -> Option<&'static str> {
        match self.1 {
            Gate(ext, _) => Some(ext),
            Run(_) => None,
        }
    }

    fn render(&self, path: &Path, subject: &Subject<'_>) -> Files {
        let kind = self.0;
        match (&self.1, subject.gate, &subject.run) {
            (Gate(_, f), Some(gate), _) => one(path, f(gate)?),
            (Gate(..), None, _) => Err(needs_gate(kind)),
            (Run(f), _, Some(run)) => f(path, run),
            (Run(_), _, None) => bail!("--export {kind}: there is no run to export"),
        }
    }
}

/// The error for a format that shows a gate verdict, asked of a command that has none.
pub(crate) fn needs_gate(kind: &str) -> anyhow::Error {
    anyhow!("--export {kind}: the format shows a gate verdict; only perf-gate has one")
}

/// The exporter whose kind is `name`.
pub fn find(name: &str) -> Result<&'static dyn Exporter> {
    EXPORTERS
        .iter()
        .copied()
        .find(|e| e.kind() == name)
        .ok_or_else(|| {
            let kinds: Vec<&str> = EXPORTERS.iter().map(|e| e.kind()).collect();
            anyhow!(
                "--export: unknown kind {name:?}; expected one of {}",
                kinds.join(", ")
            )
        })
}

/// Pairs up `--export KIND FILE` values (clap hands them over flat) and checks the kinds, so
/// a typo fails before the benchmark runs.
pub(crate) fn parse_args(flat: &[String]) -> Result<Vec<(&'static dyn Exporter, PathBuf)>> {
    if !flat.len().is_multiple_of(2) {
        bail!("--export: expected KIND FILE pairs");
    }
    flat.chunks(2)
        .map(|p| Ok((find(&p[0])?, PathBuf::from(&p[1]))))
        .collect()
}

/// Writes what `exporter` renders of `subject` for `path`, atomically, and returns the files
/// written; an error names the file.
pub fn write(exporter: &dyn Exporter, path: &Path, subject: &Subject<'_>) -> Result<Vec<PathBuf>> {
    let files = exporter.render(path, subject)?;
    for (file, text) in &files {
        crate::model::artifacts::write_atomic(file, text.as_bytes())
            .with_context(|| format!("--export {}: writing {}", exporter.kind(), file.display()))?;
    }
    Ok(files.into_iter().map(|(f, _)| f).collect())
}

/// One metric of a run, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    /// The median over trials (the run file's `metrics.<name>`).
    pub median: f64,
    /// The smallest and largest trial; the median itself when the run has no samples.
    pub min: f64,
    pub max: f64,
    pub trials: usize,
}

/// What an export says about a run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub workload: String,
    pub commit: Option<String>,
    /// The gate's outcome when a gate exports.
    pub verdict: Option<String>,
    pub metrics: Vec<Metric>,
}

impl Summary {
    /// Every metric of `run` with a finite median.
    pub(crate) fn from_run(run: &RunFile, verdict: Option<&str>) -> Summary {
        let metrics = run
            .metrics
            .iter()
            .filter_map(|(name, v)| {
                let MetricValue::Number(median) = v else {
                    return None;
                };
                let samples = match run.samples.get(name) {
                    Some(Samples::Values(s)) if !s.is_empty() => s.as_slice(),
                    _ => std::slice::from_ref(median),
                };
                Some(Metric {
                    name: name.clone(),
                    median: *median,
                    min: samples.iter().copied().fold(f64::INFINITY, f64::min),
                    max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    trials: samples.len(),
                })
            })
            .collect();
        Summary {
            workload: run.workload.clone().unwrap_or_else(|| "unknown".into()),
            commit: run.git.commit.clone(),
            verdict: verdict.map(str::to_string),
            metrics,
        }
    }
}

/// Pretty JSON with a trailing newline, as every JSON artifact is written.
fn pretty(v: &impl serde::Serialize) -> Result<String> {
    let bytes = crate::model::artifacts::pretty_json(v, "JSON")?;
    Ok(String::from_utf8(bytes).expect("serde_json writes UTF-8"))
}

/// Bencher Metric Format: one benchmark per workload (`router/<workload>`), one measure per
/// metric: `{"router/cp1": {"latency_p95_ms": {"value", "lower_value", "upper_value"}}}` with
/// the median and the min and max over trials.
pub fn bmf(summary: &Summary) -> Value {
    let measures: Map<String, Value> = summary
        .metrics
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                json!({"value": m.median, "lower_value": m.min, "upper_value": m.max}),
            )
        })
        .collect();
    json!({ format!("router/{}", summary.workload): measures })
}

/// OpenMetrics text: one gauge family `router_perf_<metric>` per metric with samples for the
/// median, min and max (label `stat`), labelled with the workload and commit; `# EOF` last.
/// Prometheus' text parser reads it too (`# EOF` is a comment there).
pub fn openmetrics(summary: &Summary) -> String {
    let mut labels = format!("workload=\"{}\"", escape_label(&summary.workload));
    if let Some(c) = &summary.commit {
        labels.push_str(&format!(",commit=\"{}\"", escape_label(c)));
    }
    let mut out = String::new();
    for m in &summary.metrics {
        let family = format!("router_perf_{}", metric_name(&m.name));
        let _ = writeln!(out, "# TYPE {family} gauge");
        let (name, n) = (&m.name, m.trials);
        let _ = writeln!(
            out,
            "# HELP {family} {name} over {n} trial(s) of perf-bench"
        );
        for (stat, v) in [("median", m.median), ("min", m.min), ("max", m.max)] {
            let _ = writeln!(out, "{family}{{{labels},stat=\"{stat}\"}} {v}");
        }
    }
    if let Some(verdict) = &summary.verdict {
        let family = "router_perf_gate_passed";
        let _ = writeln!(out, "# TYPE {family} gauge");
        let _ = writeln!(out, "# HELP {family} 1 when perf-gate passed, else 0");
        let (v, passed) = (escape_label(verdict), u8::from(verdict == "pass"));
        let _ = writeln!(out, "{family}{{{labels},verdict=\"{v}\"}} {passed}");
    }
    out.push_str("# EOF\n");
    out
}

/// A metric name made of `[a-zA-Z0-9_]` (run-file names already are).
fn metric_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// github-action-benchmark's inputs: (`customSmallerIsBetter`, `customBiggerIsBetter`) arrays
/// of `{"name", "unit", "value", "range", "extra"}`, units from the registry. What it says
/// gets better higher (throughput, success shares) is bigger-is-better, the rest smaller.
pub fn github(summary: &Summary) -> (Value, Value) {
    let (mut smaller, mut bigger) = (Vec::new(), Vec::new());
    for m in &summary.metrics {
        let known = metric::find(&m.name);
        let entry = json!({
            "name": format!("{} {}", summary.workload, m.name),
            "unit": known.map_or("", |k| k.unit),
            "value": m.median,
            "range": format!("± {}", round6((m.max - m.min) / 2.0)),
            "extra": format!(
                "median of {} trial(s), min {} max {}{}",
                m.trials,
                m.min,
                m.max,
                summary.commit.as_deref().map(|c| format!(", commit {c}")).unwrap_or_default()
            ),
        });
        let higher = known.is_some_and(|k| k.better == Better::Higher);
        if higher { &mut bigger } else { &mut smaller }.push(entry);
    }
    (Value::Array(smaller), Value::Array(bigger))
}

/// Where `--export github FILE` puts the bigger-is-better array: `FILE` with `.bigger` before
/// its extension (`bench.json` -> `bench.bigger.json`).
pub(crate) fn github_bigger_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.bigger.{}", ext.to_string_lossy()),
        None => format!("{stem}.bigger"),
    };
    path.with_file_name(name)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests;
