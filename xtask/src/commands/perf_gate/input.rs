//! The runs the gate judges: a run file as read, the stored baseline, a paired candidate's
//! own reference.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::bench::session::BenchOutcome;

/// A run file as judged: the one the HTML report shows each side of.
pub(super) use crate::report::html::Side as Input;

pub(super) fn load_baseline(path: &Path) -> Result<Input> {
    Input::load(path).map_err(|e| {
        if path.exists() {
            e
        } else {
            e.context(format!(
                "no baseline at {} (record one with `cargo xtask perf-baseline-bump`, or pass \
                 --baseline FILE)",
                path.display()
            ))
        }
    })
}

/// The baseline a candidate file is judged against. A paired candidate is only meaningful
/// against its own reference run (trial i of one pairs with trial i of the other): without
/// `--baseline` that is the reference file its run names, and a stored baseline is refused.
pub(super) fn baseline_for(candidate: &Input, given: bool, baseline_path: &Path) -> Result<Input> {
    let Some(paired) = &candidate.run.paired else {
        return load_baseline(baseline_path);
    };
    let shown = candidate.path.display();
    if given {
        let baseline = load_baseline(baseline_path)?;
        if baseline.run.paired.is_none() {
            bail!(
                "{shown}: a paired run (against `{}`) is judged against its own reference run, \
                 but {} is not one side of a paired session; pass its perf_reference_<ts>.json \
                 with --baseline",
                paired.against,
                baseline_path.display()
            );
        }
        return Ok(baseline);
    }
    let Some(name) = &paired.reference_file else {
        bail!(
            "{shown}: a paired run (against `{}`) that does not name its reference run; pass the \
             perf_reference_<ts>.json of its session with --baseline",
            paired.against
        );
    };
    let path = candidate.path.parent().unwrap_or(Path::new(".")).join(name);
    Input::load(&path).with_context(|| {
        format!(
            "{shown}: a paired run is judged against its reference run ({name}, field \
             `paired.reference_file`), which is missing; pass it with --baseline"
        )
    })
}

pub(super) fn into_input(o: BenchOutcome) -> Input {
    Input {
        path: o.artifact,
        run: o.run,
    }
}
