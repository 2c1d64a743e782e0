//! What a decided bump writes (the baseline, its archive, the LOG entry, the report),
//! together, through the journal.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use serde_json::Value;
use xshell::{Shell, cmd};

use super::decide::Decision;
use super::judged::Judged;
use crate::bench::env_info::silent;
use crate::model::artifacts;
use crate::model::json;
use crate::model::paths::Inputs;
use crate::model::run_file::{Bump, BumpPrevious};
use crate::report::verdict;

/// Test-only: `XTASK_BUMP_CRASH_AFTER=<step>` kills the bump with SIGKILL right after that
/// step (`locked`, then `replace_together`'s steps), so the tests can check what an
/// interrupted bump leaves. Not a user setting.
const CRASH_ENV: &str = "XTASK_BUMP_CRASH_AFTER";

/// See `CRASH_ENV`: stops the process as `kill -9` would when the variable names `step`.
pub(super) fn crash_point(step: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == step) {
        use rustix::process::{Signal, getpid, kill_process};
        let _ = kill_process(getpid(), Signal::KILL);
        std::process::abort();
    }
}

/// `git config user.name <user.email>`, or "unknown": a missing identity must not block a bump,
/// the record just says it is not known.
pub(super) fn author(sh: &Shell) -> String {
    let get = |key: &str| {
        silent(cmd!(sh, "git config {key}"))
            .read()
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match (get("user.name"), get("user.email")) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name,
        (None, Some(email)) => format!("<{email}>"),
        (None, None) => "unknown".to_string(),
    }
}

/// `<dir>/<date>_<short-commit>.json`, with `-2`, `-3`, ... when that archive exists already:
/// an archived baseline is never overwritten.
pub(super) fn archive_path(dir: &Path, date: &str, commit: Option<&str>) -> PathBuf {
    let short: String = commit
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(7)
        .collect();
    let short = if short.is_empty() { "unknown" } else { &short };
    let base = format!("{date}_{short}");
    std::iter::once(dir.join(format!("{base}.json")))
        .chain((2..).map(|n| dir.join(format!("{base}-{n}.json"))))
        .find(|p| !p.exists())
        .expect("an unused suffix exists")
}

/// Everything a decided bump writes, and the text it shows.
pub(super) struct Writes<'a> {
    pub(super) inputs: &'a Inputs,
    pub(super) decision: Decision,
    pub(super) author: String,
    /// RFC 3339 time of the bump.
    pub(super) date: String,
    /// Where the previous baseline is archived; `None` for a first baseline.
    pub(super) archive: Option<PathBuf>,
    pub(super) log: PathBuf,
    pub(super) report: PathBuf,
    pub(super) candidate_path: &'a Path,
    pub(super) judged: Judged<'a>,
}

impl Writes<'_> {
    /// The gate's record of the candidate judged against the baseline it replaces.
    fn gate_record(&self) -> verdict::Record {
        let i = self.inputs;
        let [baseline, candidate, policy] =
            [&*i.baseline, self.candidate_path, &i.policy].map(|p| self.shown(p));
        let ctx = verdict::Context {
            timestamp: &self.date,
            workload: &self.inputs.workload,
            baseline: &baseline,
            candidate: &candidate,
            policy_path: &policy,
            policy: None,
            baseline_run: self.judged.previous.map(|p| &p.run),
            candidate_run: Some(self.judged.candidate),
            explain: None,
        };
        verdict::Record::new(&self.judged.verdict, &ctx)
    }

    /// A path as shown in reports and records: relative to the workspace root when under it.
    pub(super) fn shown(&self, path: &Path) -> String {
        let root = &self.inputs.root;
        format!("{}", path.strip_prefix(root).unwrap_or(path).display())
    }

    /// The previous baseline's SHA-256 in lowercase hex, as `sha256sum` prints it.
    pub(super) fn previous_sha256(&self) -> Option<String> {
        use sha2::{Digest, Sha256};
        self.judged
            .previous
            .map(|p| format!("{:x}", Sha256::digest(&p.bytes)))
    }

    /// The `bump` record of the new baseline (the shape of the first one, extended).
    pub(super) fn record(&self) -> Bump {
        Bump {
            reason: self.decision.reason.clone(),
            justification: self.decision.justification.clone(),
            date: self.date.clone(),
            author: self.author.clone(),
            previous: self.judged.previous.map(|p| BumpPrevious {
                commit: p.run.git.commit.clone(),
                sha256: self.previous_sha256(),
                timestamp: p.run.timestamp.clone(),
                archive: self.archive.as_deref().map(|a| self.shown(a)),
            }),
            source_artifact: Some(self.shown(self.candidate_path)),
            accepted_metrics: self.decision.accepted.clone(),
            improved_metrics: self.decision.improved.clone(),
            other: Default::default(),
        }
    }

    /// One line on where the old baseline came from and where it goes.
    pub(super) fn before_line(&self) -> String {
        let why = self.judged.judged_alone.as_deref();
        let Some(p) = self.judged.previous else {
            return format!("Before: none ({}).", why.unwrap_or("no previous baseline"));
        };
        let archived = self.archive.as_ref().map(|a| self.shown(a));
        let archived = archived.map(|a| format!(", archived as `{a}`"));
        let why = why.map(|why| format!(" Not compared: {why}."));
        format!(
            "Before: `{}` ({}), sha256 `{}`{}.{}",
            self.shown(&self.inputs.baseline),
            verdict::provenance(&p.run),
            self.previous_sha256().unwrap_or_default(),
            archived.unwrap_or_default(),
            why.unwrap_or_default()
        )
    }

    pub(super) fn after_line(&self) -> String {
        format!(
            "After: `{}` ({}).",
            self.shown(self.candidate_path),
            verdict::provenance(self.judged.candidate)
        )
    }

    /// Accepted regressions and confident improvements, one line each when there are any.
    pub(super) fn decisions(&self) -> String {
        [
            (
                "Regressions beyond policy accepted as a trade-off",
                &self.decision.accepted,
            ),
            ("Improved with confidence", &self.decision.improved),
        ]
        .into_iter()
        .filter(|(_, metrics)| !metrics.is_empty())
        .map(|(what, metrics)| {
            let list: Vec<String> = metrics.iter().map(|m| format!("`{m}`")).collect();
            format!("{what}: {}.\n", list.join(", "))
        })
        .collect()
    }

    /// The before/after report, ready to paste as a merge-request description; also what
    /// `--dry-run` prints.
    pub(super) fn mr_markdown(&self) -> String {
        let record = self.gate_record();
        let mut decisions = self.decisions();
        if !decisions.is_empty() {
            decisions.push('\n');
        }
        let mut findings = prefixed("- ", &verdict::findings(&record));
        if !findings.is_empty() {
            findings = format!("Gate findings on the candidate:\n\n{findings}\n");
        }
        let archived = match &self.archive {
            Some(a) => format!("- previous baseline archived as `{}`\n", self.shown(a)),
            None => String::new(),
        };
        format!(
            "## Performance baseline bump: `{}` ({})\n\n**Justification.** {}\n\n\
             ### Before / after\n\n{}\n{}\n\n{}\n{decisions}{findings}\
             ### Files\n\n- new baseline: `{}` (with a `bump` record)\n{archived}\
             - log entry: `{}`\n- candidate run: `{}`\n- policy: `{}`\n- this report: `{}`\n\n\
             <sub>Bumped by {} on {} with `cargo xtask perf-baseline-bump`.</sub>\n",
            &self.inputs.workload,
            self.decision.reason,
            self.decision.justification,
            self.before_line(),
            self.after_line(),
            verdict::markdown_table(&record.rows),
            self.shown(&self.inputs.baseline),
            self.shown(&self.log),
            self.shown(self.candidate_path),
            self.shown(&self.inputs.policy),
            self.shown(&self.report),
            self.author,
            self.date
        )
    }

    /// The entry appended to `LOG.md`.
    pub(super) fn log_entry(&self) -> String {
        format!(
            "## {} · `{}` · {}\n\n- date: {}\n- author: {}\n- {}\n- {}\n{}\n{}\n{}\n",
            self.date.get(..10).unwrap_or(&self.date),
            &self.inputs.workload,
            self.decision.reason,
            self.date,
            self.author,
            self.before_line(),
            self.after_line(),
            prefixed("- ", &self.decisions()),
            verdict::markdown_table(&verdict::rows(&self.judged.verdict)),
            prefixed("> ", &self.decision.justification)
        )
    }

    /// Writes the archive, the new baseline, the log and the report as one
    /// (`artifacts::replace_together` with `journal`): staged first, then renamed in that
    /// order, the archive first so the old baseline is kept before anything replaces it.
    pub(super) fn write(&self, candidate_text: &str, report: &str, journal: &Path) -> Result<()> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        if let (Some(previous), Some(archive)) = (self.judged.previous, &self.archive) {
            files.push((archive.clone(), previous.bytes.clone()));
        }
        // The new baseline is the candidate file as measured, byte for byte in its values,
        // with the bump record added: re-encoding it could change how a number is written.
        let candidate = self.candidate_path.display();
        let mut doc: Value = serde_json::from_str(candidate_text).with_context(|| {
            format!("parsing {candidate} as JSON (the new baseline is written from it)")
        })?;
        let record = serde_json::to_value(self.record()).context("encoding the bump record")?;
        doc.as_object_mut()
            .ok_or_else(|| anyhow!("{candidate}: expected a JSON object"))?
            .insert("bump".to_string(), record);
        let mut log = if self.log.exists() {
            json::read_input(&self.log, json::MAX_INPUT_BYTES)?
        } else {
            LOG_HEADER.to_string()
        };
        if !log.ends_with("\n\n") {
            log.push('\n');
        }
        log.push_str(&self.log_entry());
        files.extend([
            (self.log.clone(), log.into_bytes()),
            (
                self.inputs.baseline.clone(),
                artifacts::pretty_json(&doc, "JSON")?,
            ),
            (self.report.clone(), report.as_bytes().to_vec()),
        ]);
        let claimed = std::slice::from_ref(&self.report);
        artifacts::replace_together(journal, &files, claimed, &mut crash_point)?;
        if let Some(archive) = &self.archive {
            let archive = archive.display();
            eprintln!("perf-baseline-bump: archived the previous baseline as {archive}");
        }
        let baseline = self.inputs.baseline.display();
        eprintln!("perf-baseline-bump: wrote {baseline}");
        eprintln!("perf-baseline-bump: appended to {}", self.log.display());
        eprintln!(
            "perf-baseline-bump: wrote {} (paste it as the merge-request description)",
            self.report.display()
        );
        Ok(())
    }
}

/// `text` with `prefix` before each of its lines (a Markdown list or quote).
pub(super) fn prefixed(prefix: &str, text: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}\n"))
        .collect()
}

pub(super) const LOG_HEADER: &str = "# Baseline log\n\n\
Every change of a `perf/baseline_<workload>.json`, oldest first, appended by \
`cargo xtask perf-baseline-bump`. The baselines it replaced are archived next to this file as \
`<date>_<short-commit>.json`.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let archive = |commit| archive_path(dir.path(), "2026-11-22", commit);
        let first = archive(Some("abcdef0123456789"));
        std::fs::write(&first, "{}").unwrap();
        for (path, name) in [
            (first, "2026-11-22_abcdef0.json"),
            (
                archive(Some("abcdef0123456789")),
                "2026-11-22_abcdef0-2.json",
            ),
            (archive(None), "2026-11-22_unknown.json"),
        ] {
            assert!(path.ends_with(name), "{}", path.display());
        }
    }
}
