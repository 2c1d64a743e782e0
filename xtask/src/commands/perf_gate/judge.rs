//! The verdict on what was measured, and everything the gate writes of it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::input::Input;
use crate::bench::session::DEFAULT_TRIALS;
use crate::flags::GateArgs;
use crate::gate::evaluate::{Outcome, Status, Verdict, evaluate};
use crate::model::artifacts;
use crate::model::metric::{self, Kind};
use crate::model::paths::Inputs;
use crate::model::policy::Policy;
use crate::model::run_file::RunFile;
use crate::report::export;
use crate::report::html;
use crate::report::profile::{self, Explanation};
use crate::report::verdict::{self, Context};

/// Evaluates, prints, writes every artifact, records the run; returns the exit code. Inputs
/// that could not be read are judged as errors: the artifacts record them, then exit 2.
pub(super) fn judge(
    args: &GateArgs,
    inputs: &Inputs,
    judged: Result<(Input, Input, Policy)>,
    (explanation, notes): (Option<Explanation>, Vec<String>),
) -> Result<u8> {
    let (root, workload, dir) = (&inputs.root, inputs.workload.as_str(), &inputs.artifacts);
    let names: Vec<(&str, &str)> = export::EXPORTERS
        .iter()
        .filter_map(|e| Some(("perf_gate", e.gate_artifact()?)))
        .chain([("perf_report", "html")])
        .collect();
    let stamp = artifacts::claim(dir, &names)?;
    let timestamp = artifacts::now_rfc3339();
    let verdict = verdict_of(&judged, notes, root, workload);
    let loaded = judged.as_ref().ok();
    // The files as the verdict names them: those judged, else those given.
    let shown = |p: &Path| p.display().to_string();
    let [baseline_shown, candidate_shown] = match loaded {
        Some((b, c, _)) => [shown(&b.path), shown(&c.path)],
        None => [
            shown(&inputs.baseline),
            args.candidate.as_deref().map_or_else(
                || "(not measured: the inputs were refused)".to_string(),
                shown,
            ),
        ],
    };
    let ctx = Context {
        timestamp: &timestamp,
        workload,
        baseline: &baseline_shown,
        candidate: &candidate_shown,
        policy_path: &shown(&inputs.policy),
        policy: loaded.map(|i| &i.2),
        baseline_run: loaded.map(|i| &i.0.run),
        candidate_run: loaded.map(|i| &i.1.run),
        explain: explanation.as_ref(),
    };
    let record = verdict::Record::new(&verdict, &ctx);
    print!("{}", verdict::terminal(&record));
    let _ = std::io::stdout().flush();

    write_artifacts(dir, &stamp, &record)?;
    let recorded = loaded.map_or(Ok(()), |(_, candidate, _)| {
        crate::report::publish::record(&args.record, &candidate.run, "perf-gate", Some(&record))
    });
    // After the history append, so that the report's trends end with this run.
    let history = args.record.history.as_deref();
    write_report(root, dir, &stamp, history, loaded, record);
    recorded?;

    if verdict.outcome == Outcome::InputError {
        bail!("{}", verdict.errors.join("\nerror: "));
    }
    Ok(verdict.exit_code())
}

/// The verdict on what was judged, with what explains it: the calibration's warnings, what
/// a profile cannot say, the CPU split and the kind of regression. Inputs that could not be
/// read are the verdict's errors.
pub(super) fn verdict_of(
    judged: &Result<(Input, Input, Policy)>,
    notes: Vec<String>,
    root: &Path,
    workload: &str,
) -> Verdict {
    match judged {
        Ok((baseline, candidate, policy)) => {
            let (b, c) = (&baseline.run, &candidate.run);
            let mut v = evaluate(b, c, policy);
            v.notes.extend(notes);
            v.warnings
                .extend(calibration_warnings(root, workload, policy, c));
            // Where a profile cannot say why, what can.
            v.notes.extend(
                v.rows
                    .iter()
                    .filter(|r| r.status == Status::Fail)
                    .filter_map(|r| profile::unexplained(&r.metric))
                    .map(|why| format!("why: {why}")),
            );
            // A failing CPU rule: was it the router's code or the kernel?
            let cpu_failed = v.rows.iter().any(|r| {
                r.status == Status::Fail
                    && metric::find(&r.metric).is_some_and(|m| m.kind == Kind::Cpu)
            });
            if cpu_failed {
                v.notes.extend(crate::gate::cpu_split::explain(b, c));
            }
            // Work, kernel, waiting or memory: named from the counts where they were made.
            v.notes.extend(crate::gate::cause::name(&v.rows, b, c));
            v
        }
        Err(err) => Verdict::from_errors(vec![format!("{err:#}")]),
    }
}

/// What the machine's calibration (`perf-calibrate --write`) says about rules it cannot
/// resolve; nothing when there is none. A calibration that cannot be read is a warning too.
pub(super) fn calibration_warnings(
    root: &Path,
    workload: &str,
    policy: &Policy,
    candidate: &RunFile,
) -> Vec<String> {
    let path = crate::model::calibration::path_for(root, workload);
    if !path.is_file() {
        return Vec::new();
    }
    match crate::model::calibration::load(&path) {
        Ok(c) => {
            let planned = candidate.trials.unwrap_or(DEFAULT_TRIALS);
            let mut out =
                crate::gate::calibrate::warnings(policy, &c, planned, &path.display().to_string());
            if c.env.fingerprint != candidate.env.fingerprint {
                out.iter_mut()
                    .for_each(|w| w.push_str(" (calibrated on another environment)"));
            }
            out
        }
        Err(e) => vec![format!("the calibration is unreadable: {e:#}")],
    }
}

/// Writes the HTML report next to the other artifacts, when the inputs could be read. It is
/// for people: a failure, even a panic, is a warning and never changes the gate's exit code.
fn write_report(
    root: &Path,
    dir: &Path,
    stamp: &str,
    history: Option<&Path>,
    judged: Option<&(Input, Input, Policy)>,
    verdict: verdict::Record,
) {
    let written = judged.map(|(baseline, candidate, _)| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let report =
                html::for_gate(root, baseline.clone(), candidate.clone(), history, verdict);
            html::write(dir, stamp, &report)
        }))
    });
    match written {
        Some(Ok(Ok(path))) => {
            eprintln!("perf-gate: wrote {}", path.display());
            return;
        }
        Some(Ok(Err(err))) => {
            eprintln!("perf-gate: warning: could not write the HTML report: {err:#}");
        }
        Some(Err(_)) => eprintln!("perf-gate: warning: writing the HTML report panicked (above)"),
        None => {}
    }
    // The claimed name must not stay behind as an empty report.
    let _ = std::fs::remove_file(dir.join(format!("perf_report_{stamp}.html")));
}

/// Writes the gate artifacts (every exporter that has one), sharing one timestamp, and
/// appends the Markdown to `$GITHUB_STEP_SUMMARY` when it is set.
pub(super) fn write_artifacts(dir: &Path, stamp: &str, gate: &verdict::Record) -> Result<()> {
    let subject = export::Subject {
        run: None,
        gate: Some(gate),
    };
    let mut extensions = Vec::new();
    for &exporter in &export::EXPORTERS {
        if let Some(ext) = exporter.gate_artifact() {
            let path = dir.join(format!("perf_gate_{stamp}.{ext}"));
            export::write(exporter, &path, &subject)?;
            extensions.push(ext);
        }
    }
    eprintln!(
        "perf-gate: wrote {}",
        dir.join(format!("perf_gate_{stamp}.{{{}}}", extensions.join(",")))
            .display()
    );

    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let summary = PathBuf::from(summary);
        crate::bench::router::append_to(&summary)
            .and_then(|mut f| f.write_all(verdict::markdown(gate).as_bytes()))
            .with_context(|| {
                format!("appending to $GITHUB_STEP_SUMMARY ({})", summary.display())
            })?;
    }
    Ok(())
}
