//! The bump's decision from the judged candidate: refused, skipped (a ratchet), or what it
//! records.

use anyhow::{Result, anyhow};

use super::checks::{across_machines, rule_problems};
use super::judged::Judged;
use super::ratchet::{ratchet, ratchet_justification};
use super::reason::{RATCHET_REASON, TRADE_OFF};
use crate::flags::BumpArgs;
use crate::report::verdict;

/// What a bump records, once every check has passed.
pub(super) struct Decision {
    pub(super) reason: String,
    pub(super) justification: String,
    /// Regressions beyond policy accepted as a trade-off.
    pub(super) accepted: Vec<String>,
    /// Metrics that improved with confidence (ratchet bumps only).
    pub(super) improved: Vec<String>,
}

/// Decides whether to bump: the decision, or `None` when a ratchet skips (it says why). A
/// refusal (exit 2) is an error listing every problem, after the table that shows them.
/// `refusals` holds the problems found so far (flags, work tree, candidate); a ratchet run
/// refuses on those but only skips on what the rules say.
pub(super) fn decide(
    args: &BumpArgs,
    judged: &Judged<'_>,
    mut refusals: Vec<String>,
    today: &str,
) -> Result<Option<Decision>> {
    let table = || print!("{}", verdict::table(&verdict::rows(&judged.verdict)));
    let refuse = |problems: &[String]| {
        if !judged.verdict.rows.is_empty() {
            table();
        }
        Err(refusal(problems))
    };
    if args.ratchet {
        if !refusals.is_empty() {
            return refuse(&refusals);
        }
        let improved = match ratchet(judged, today) {
            Ok(improved) => improved,
            Err(why) => {
                table();
                println!("perf-baseline-bump: ratchet skipped: {why}");
                return Ok(None);
            }
        };
        return Ok(Some(Decision {
            reason: RATCHET_REASON.to_string(),
            justification: ratchet_justification(judged.candidate, &improved),
            accepted: Vec::new(),
            improved: improved.iter().map(|r| r.metric.clone()).collect(),
        }));
    }
    let trade_off = args.reason.as_deref() == Some(TRADE_OFF);
    refusals.extend(across_machines(judged));
    let (problems, accepted) = rule_problems(&judged.verdict, &args.accept, trade_off);
    refusals.extend(problems);
    if !refusals.is_empty() {
        return refuse(&refusals);
    }
    let justification = args.justification.as_deref().unwrap_or_default().trim();
    Ok(Some(Decision {
        reason: args.reason.clone().unwrap_or_default(),
        justification: justification.to_string(),
        accepted,
        improved: Vec::new(),
    }))
}

/// The error that refuses a bump: every problem, one per line.
pub(super) fn refusal(problems: &[String]) -> anyhow::Error {
    let listed: String = problems.iter().map(|p| format!("\n  - {p}")).collect();
    anyhow!(
        "perf-baseline-bump refused ({} problem{}), nothing was written:{listed}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_lists_every_problem() {
        let err = refusal(&["one".into(), "two".into()]);
        let text = format!("{err:#}");
        assert!(text.contains("2 problems") && text.contains("- one") && text.contains("- two"));
    }
}
