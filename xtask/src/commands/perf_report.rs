//! `cargo xtask perf-report`: one self-contained HTML file (inline CSS and SVG, no script, no
//! network) for a gate verdict or a pair of runs; see `report::html`.

use anyhow::{Context as _, Result, bail};

use crate::exit;
use crate::flags::ReportArgs;
use crate::model::{artifacts, paths};
use crate::report::html;

/// `cargo xtask perf-report`: gathers the inputs, writes the file, prints its path.
pub fn run(args: &ReportArgs) -> Result<u8> {
    let inputs = paths::Inputs::resolve(
        &args.workload,
        args.baseline.as_deref(),
        args.policy.as_deref(),
        &args.artifacts_dir,
    )?;
    let (root, dir) = (&inputs.root, &inputs.artifacts);
    let mut report = match (&args.verdict, &args.candidate) {
        (Some(_), Some(_)) => bail!(
            "--verdict and --candidate do not go together: a verdict names its own baseline and candidate"
        ),
        (Some(v), None) => html::from_verdict(root, v)?,
        (None, Some(c)) => html::from_runs(&inputs.baseline, c, &inputs.policy, &inputs.workload)?,
        (None, None) => {
            let is_verdict = |n: &str| n.starts_with("perf_gate_") && n.ends_with(".json");
            let newest = artifacts::newest_file(dir, is_verdict).ok().flatten().with_context(|| {
                format!(
                    "no --verdict or --candidate given and no perf_gate_*.json in {} (run `cargo xtask perf-gate` first)",
                    dir.display()
                )
            })?;
            eprintln!(
                "perf-report: using the newest verdict, {}",
                newest.display()
            );
            html::from_verdict(root, &newest)?
        }
    };
    report.history = html::history_for(root, args.history.as_deref())?;
    let stamp = crate::model::artifacts::claim(dir, &[("perf_report", "html")])?;
    let path = html::write(dir, &stamp, &report)?;
    println!("{}", path.display());
    Ok(exit::OK)
}
