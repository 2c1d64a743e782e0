//! The candidate judged against the baseline it would replace.

use std::path::Path;

use anyhow::Result;

use crate::gate::evaluate::{self, Outcome, Verdict};
use crate::model::json;
use crate::model::policy::Policy;
use crate::model::run_file;
use crate::model::run_file::RunFile;

/// The candidate as judged against the previous baseline.
pub(super) struct Judged<'a> {
    pub(super) verdict: Verdict,
    pub(super) candidate: &'a RunFile,
    pub(super) previous: Option<&'a Previous>,
    /// Why the candidate was judged on its own, when it was.
    pub(super) judged_alone: Option<String>,
}

/// The baseline being replaced, as bytes (for the archive and its sha256) and as a run.
pub(super) struct Previous {
    pub(super) bytes: Vec<u8>,
    pub(super) run: RunFile,
}

impl Previous {
    /// `None` when there is no baseline yet: the bump then records the first one.
    pub(super) fn load(path: &Path) -> Result<Option<Previous>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = json::read_input(path, json::MAX_INPUT_BYTES)?;
        let run = run_file::parse_str(&text, &path.display().to_string())?;
        let bytes = text.into_bytes();
        Ok(Some(Previous { bytes, run }))
    }
}

/// Judges the candidate against the previous baseline. With no previous baseline, one that
/// no longer fits the policy (a rule for a metric it lacks: exactly what a bump fixes), or a
/// measurement correction of a baseline measured in another environment (its numbers say
/// nothing about this machine's), the candidate is judged on its own: against itself, so only
/// missing metrics and absolute rules can fail, with the "before" column blanked.
pub(super) fn judge<'a>(
    previous: Option<&'a Previous>,
    candidate: &'a RunFile,
    policy: &Policy,
    correction: bool,
) -> Judged<'a> {
    let judged = |verdict, judged_alone| Judged {
        verdict,
        candidate,
        previous,
        judged_alone,
    };
    // A paired run's samples pair with its own reference run, not with the stored baseline's:
    // against the baseline it is compared as an independent run.
    let mut unpaired = candidate.clone();
    unpaired.paired = None;
    let why = match previous.map(|p| (p, evaluate::env_differences(&p.run.env, &candidate.env))) {
        None => "there is no previous baseline".to_string(),
        Some((_, differs)) if correction && !differs.is_empty() => format!(
            "the previous baseline was measured in another environment ({}): a measurement \
             correction replaces it without comparing",
            listed(&differs)
        ),
        Some((p, _)) => {
            let verdict = evaluate::evaluate(&p.run, &unpaired, policy);
            if verdict.outcome != Outcome::InputError {
                return judged(verdict, None);
            }
            format!(
                "the previous baseline does not fit the policy ({})",
                verdict.errors.join("; ")
            )
        }
    };
    let mut verdict = evaluate::evaluate(&unpaired, &unpaired, policy);
    for row in &mut verdict.rows {
        row.baseline = None;
        row.change = None;
        row.severity = None;
    }
    judged(verdict, Some(why))
}

/// Items as a comma-separated list, for messages.
pub(super) fn listed(items: &[impl ToString]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    items.join(", ")
}
