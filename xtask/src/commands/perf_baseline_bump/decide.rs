//! The bump's decision from the judged candidate: refused, skipped (a ratchet), or what it
//! records.

use super::checks::{across_machines, rule_problems};
use super::judged::Judged;
use super::ratchet::{ratchet, ratchet_justification};
use super::reason::{RATCHET_REASON, TRADE_OFF};
use crate::flags::BumpArgs;

/// What a bump records, once every check has passed.
pub(super) struct Decision {
    pub(super) reason: String,
    pub(super) justification: String,
    /// Regressions beyond policy accepted as a trade-off.
    pub(super) accepted: Vec<String>,
    /// Metrics that improved with confidence (ratchet bumps only).
    pub(super) improved: Vec<String>,
}

/// Why there is no bump: refused (exit 2, every problem) or, for the ratchet, skipped (exit 0).
pub(super) enum Stop {
    Refused(Vec<String>),
    Skipped(String),
}

/// Decides whether to bump. `refusals` holds the problems found so far (flags, work tree,
/// candidate); a ratchet run refuses on those but only skips on what the rules say.
pub(super) fn decide(
    args: &BumpArgs,
    judged: &Judged<'_>,
    mut refusals: Vec<String>,
    today: &str,
) -> Result<Decision, Stop> {
    if args.ratchet {
        if !refusals.is_empty() {
            return Err(Stop::Refused(refusals));
        }
        let improved = ratchet(judged, today).map_err(Stop::Skipped)?;
        return Ok(Decision {
            reason: RATCHET_REASON.to_string(),
            justification: ratchet_justification(judged.candidate, &improved),
            accepted: Vec::new(),
            improved: improved.iter().map(|r| r.metric.clone()).collect(),
        });
    }
    let trade_off = args.reason.as_deref() == Some(TRADE_OFF);
    refusals.extend(across_machines(judged));
    let (problems, accepted) = rule_problems(&judged.verdict, &args.accept, trade_off);
    refusals.extend(problems);
    if !refusals.is_empty() {
        return Err(Stop::Refused(refusals));
    }
    let justification = args.justification.as_deref().unwrap_or_default().trim();
    Ok(Decision {
        reason: args.reason.clone().unwrap_or_default(),
        justification: justification.to_string(),
        accepted,
        improved: Vec::new(),
    })
}
