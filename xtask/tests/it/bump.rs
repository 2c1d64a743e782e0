//! `cargo xtask perf-baseline-bump --candidate FILE` end to end, each test in a temporary git
//! repository with its own `perf/` (baseline and the committed CP1 policy): every refusal and
//! its message, a good bump's four files, `--dry-run`, and the ratchet's bump and skips; and
//! what concurrent and killed bumps leave (issue 16: nothing lost, nothing left half-done).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../perf/policy_cp1.json");

const JUSTIFICATION: &str = "The router now batches policy lookups: throughput drops a little \
    under 32 connections but p99 halves; the policy still guards both directions.";

/// The baseline's git commit; its archive is named `<date>_0123456.json`.
const BASE_COMMIT: &str = "0123456789abcdef0123";

/// A run file with every metric the CP1 policy rules, measured at `BASE_COMMIT`; `tweak`
/// edits it.
fn run_doc(tweak: impl FnOnce(&mut Value)) -> Value {
    let mut doc = crate::support::cp1_run();
    doc["timestamp"] = json!("2026-11-20T08:01:02Z");
    doc["git"]["commit"] = json!(BASE_COMMIT);
    tweak(&mut doc);
    doc
}

/// Multiplies a metric's median and every sample by `factor`.
fn scale(doc: &mut Value, metric: &str, factor: f64) {
    let m = &mut doc["metrics"][metric];
    *m = json!(m.as_f64().unwrap() * factor);
    for s in doc["samples"][metric].as_array_mut().unwrap() {
        *s = json!(s.as_f64().unwrap() * factor);
    }
}

/// A candidate from another commit; `tweak` edits it further.
fn candidate_doc(tweak: impl FnOnce(&mut Value)) -> Value {
    run_doc(|d| {
        d["git"]["commit"] = json!("fedcba9876543210");
        d["timestamp"] = json!("2026-11-21T09:00:00Z");
        tweak(d);
    })
}

/// A candidate clearly better than the baseline on throughput and latency, equal elsewhere.
fn improved(d: &mut Value) {
    scale(d, "rps", 1.2);
    scale(d, "latency_p95_ms", 0.8);
}

struct Repo {
    /// Kept for its `Drop`, which removes the repository.
    _dir: tempfile::TempDir,
    /// The repository's path, canonical so that it matches what git and the xtask see.
    root: PathBuf,
}

impl Repo {
    /// A git repository with `perf/baseline_cp1.json`, `perf/policy_cp1.json` and a README,
    /// all committed by "Test Author".
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo {
            root: dir.path().canonicalize().unwrap(),
            _dir: dir,
        };
        repo.write("perf/baseline_cp1.json", &pretty(&run_doc(|_| {})));
        repo.write("perf/policy_cp1.json", POLICY);
        repo.write("README.md", "a workspace\n");
        repo.git(&["init", "-q"]);
        repo.git(&["config", "user.name", "Test Author"]);
        repo.git(&["config", "user.email", "author@example.com"]);
        repo.commit("the first baseline");
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    fn json(&self, rel: &str) -> Value {
        serde_json::from_slice(&self.read(rel)).unwrap()
    }

    /// Runs git in the repository, isolated from the machine's and any hook's git settings.
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .expect("running git");
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "perf", "README.md"]);
        self.git(&["-c", "commit.gpgsign=false", "commit", "-q", "-m", message]);
    }

    /// Writes a candidate under `_artifacts/` (untracked, as perf-bench leaves it).
    fn candidate(&self, doc: &Value) -> PathBuf {
        self.write("_artifacts/candidate.json", &pretty(doc))
    }

    fn artifacts(&self) -> PathBuf {
        self.path("_artifacts/bump")
    }

    /// `perf-baseline-bump --candidate FILE --artifacts-dir DIR ARGS...` in the repository.
    fn bump(&self, candidate: &Path, args: &[&str]) -> Output {
        self.bump_command(candidate, args)
            .output()
            .expect("running xtask")
    }

    /// The command `bump` runs, to spawn or to run with more settings.
    fn bump_command(&self, candidate: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("perf-baseline-bump")
            .arg("--candidate")
            .arg(candidate)
            .arg("--artifacts-dir")
            .arg(self.artifacts())
            .args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("XTASK_BUMP_CRASH_AFTER");
        cmd
    }

    /// Every file outside `.git`, with its bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == ".git") {
                    continue;
                }
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    /// The file names in `perf/baselines/` (empty when it does not exist).
    fn archived(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.path("perf/baselines")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn trade_off() -> Vec<&'static str> {
    vec!["--reason", "trade-off", "--justification", JUSTIFICATION]
}

/// Asserts a refusal: exit 2, each expected text on stderr, and nothing written.
fn assert_refused(repo: &Repo, out: &Output, expected: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(
        code(out),
        2,
        "stdout:\n{}\nstderr:\n{stderr}",
        text(&out.stdout)
    );
    assert!(stderr.contains("refused"), "{stderr}");
    for e in expected {
        assert!(stderr.contains(e), "expected {e:?} in:\n{stderr}");
    }
    assert_eq!(
        repo.read("perf/baseline_cp1.json"),
        pretty(&run_doc(|_| {})).into_bytes(),
        "the baseline changed"
    );
    assert!(repo.archived().is_empty(), "{:?}", repo.archived());
    assert!(!repo.artifacts().exists(), "the report was written");
}

#[test]
fn refuses_without_a_justification() {
    let repo = Repo::new();
    let out = repo.bump(
        &repo.candidate(&candidate_doc(|_| {})),
        &["--reason", "trade-off"],
    );
    assert_refused(&repo, &out, &["missing --justification", "40 characters"]);
}

#[test]
fn refuses_a_short_justification() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|_| {}));
    let out = repo.bump(
        &cand,
        &["--reason", "trade-off", "--justification", "faster now"],
    );
    assert_refused(
        &repo,
        &out,
        &["--justification is too short (10 characters, 2 words)"],
    );
}

#[test]
fn refuses_an_unknown_or_missing_reason() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|_| {}));
    let out = repo.bump(
        &cand,
        &["--reason", "because", "--justification", JUSTIFICATION],
    );
    assert_refused(
        &repo,
        &out,
        &[
            "--reason \"because\" is not one of trade-off, architectural-improvement, measurement-correction",
        ],
    );
    let out = repo.bump(&cand, &["--justification", JUSTIFICATION]);
    assert_refused(&repo, &out, &["missing --reason"]);
}

#[test]
fn refuses_a_failed_run() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| {
        d["run"] = json!({"status": "failed", "exit_code": 3, "message": "router did not start"});
    }));
    let out = repo.bump(&cand, &trade_off());
    assert_refused(&repo, &out, &["failed", "router did not start"]);
}

#[test]
fn refuses_an_absolute_failure() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| {
        d["samples"]["errors_total"] = json!([0, 0, 3, 0, 0]);
    }));
    let out = repo.bump(&cand, &trade_off());
    assert_refused(
        &repo,
        &out,
        &["absolute rule fails: errors_total", "trial 3"],
    );
}

#[test]
fn refuses_a_missing_or_invalid_metric() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| {
        d["metrics"].as_object_mut().unwrap().remove("mem_mb_rss");
        d["samples"].as_object_mut().unwrap().remove("mem_mb_rss");
        d["metrics"]["latency_p99_ms"] = Value::Null;
    }));
    let out = repo.bump(&cand, &trade_off());
    assert_refused(
        &repo,
        &out,
        &[
            "missing or invalid metric: mem_mb_rss is missing",
            "missing or invalid metric: latency_p99_ms",
        ],
    );
}

#[test]
fn refuses_a_dirty_tree_unless_allowed() {
    let repo = Repo::new();
    repo.write("README.md", "changed\n");
    let cand = repo.candidate(&candidate_doc(|_| {}));
    let out = repo.bump(&cand, &trade_off());
    assert_refused(
        &repo,
        &out,
        &["uncommitted changes (README.md)", "--allow-dirty"],
    );

    let mut args = trade_off();
    args.push("--allow-dirty");
    let out = repo.bump(&cand, &args);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}

#[test]
fn refuses_the_slowdown_knob() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| d["env"]["slowdown_knob"] = json!(true)));
    let out = repo.bump(&cand, &trade_off());
    assert_refused(&repo, &out, &["slowdown knob on"]);
}

#[test]
fn refuses_an_unaccepted_regression() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| scale(d, "rps", 0.7)));
    let out = repo.bump(&cand, &trade_off());
    assert_refused(
        &repo,
        &out,
        &["regression beyond policy: rps -30.0%", "--accept rps"],
    );
    // The table goes to stdout, so the refusal can be read next to the numbers.
    assert!(text(&out.stdout).contains("FAIL"), "{}", text(&out.stdout));
}

#[test]
fn refuses_accept_without_trade_off_or_without_a_regression() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| scale(d, "rps", 0.7)));
    let out = repo.bump(
        &cand,
        &[
            "--reason",
            "architectural-improvement",
            "--justification",
            JUSTIFICATION,
            "--accept",
            "rps",
        ],
    );
    assert_refused(&repo, &out, &["--accept rps needs --reason trade-off"]);

    let mut args = trade_off();
    args.extend([
        "--accept",
        "rps",
        "--accept",
        "latency_p95_ms",
        "--accept",
        "nope",
    ]);
    let out = repo.bump(&cand, &args);
    assert_refused(
        &repo,
        &out,
        &[
            "--accept latency_p95_ms: `latency_p95_ms` does not regress beyond policy",
            "--accept nope: the policy has no rule for `nope`",
        ],
    );
}

#[test]
fn reports_every_problem_at_once() {
    let repo = Repo::new();
    repo.write("README.md", "changed\n");
    let cand = repo.candidate(&candidate_doc(|d| {
        d["env"]["slowdown_knob"] = json!(true);
        scale(d, "rps", 0.7);
    }));
    let out = repo.bump(&cand, &["--reason", "nope"]);
    assert_refused(
        &repo,
        &out,
        &[
            "5 problems",
            "--reason \"nope\"",
            "missing --justification",
            "uncommitted changes",
            "slowdown knob",
            "regression beyond policy: rps",
        ],
    );
}

#[test]
fn a_good_bump_writes_the_four_files() {
    let repo = Repo::new();
    let old = repo.read("perf/baseline_cp1.json");
    let doc = candidate_doc(|d| scale(d, "rps", 0.7));
    let cand = repo.candidate(&doc);
    let mut args = trade_off();
    args.extend(["--accept", "rps"]);
    let out = repo.bump(&cand, &args);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));

    // The new baseline: the candidate plus the bump record.
    let new = repo.json("perf/baseline_cp1.json");
    assert_eq!(new["metrics"], doc["metrics"]);
    assert_eq!(new["samples"], doc["samples"]);
    assert_eq!(new["git"], doc["git"]);
    let bump = &new["bump"];
    assert_eq!(bump["reason"], "trade-off");
    assert_eq!(bump["justification"], JUSTIFICATION);
    assert_eq!(bump["author"], "Test Author <author@example.com>");
    assert_eq!(bump["accepted_metrics"], json!(["rps"]));
    assert_eq!(bump["source_artifact"], "_artifacts/candidate.json");
    assert_eq!(bump["previous"]["commit"], BASE_COMMIT);
    let sha = Command::new("sha256sum")
        .arg(repo.path("perf/baselines").join(repo.archived()[0].clone()))
        .output()
        .unwrap();
    let sha = text(&sha.stdout);
    assert_eq!(
        bump["previous"]["sha256"].as_str().unwrap(),
        sha.split_whitespace().next().unwrap()
    );
    let date = bump["date"].as_str().unwrap();
    let day = &date[..10];

    // The archive: the old baseline, byte for byte.
    let archive = format!("{day}_0123456.json");
    assert_eq!(repo.archived(), vec![archive.clone(), "LOG.md".to_string()]);
    assert_eq!(repo.read(&format!("perf/baselines/{archive}")), old);
    assert_eq!(
        bump["previous"]["archive"],
        format!("perf/baselines/{archive}")
    );

    // The log entry.
    let log = text(&repo.read("perf/baselines/LOG.md"));
    assert!(log.starts_with("# Baseline log"), "{log}");
    for expected in [
        &format!("## {day} · `cp1` · trade-off"),
        "Test Author <author@example.com>",
        "| rps | 61234.5 | 42864.15 | -30.0%",
        "> The router now batches policy lookups",
        &archive,
    ] {
        assert!(log.contains(expected), "expected {expected:?} in:\n{log}");
    }

    // The merge-request description, also on stdout.
    let reports: Vec<PathBuf> = std::fs::read_dir(repo.artifacts())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let name = reports[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("baseline_bump_") && name.ends_with(".md"),
        "{name}"
    );
    let report = std::fs::read_to_string(&reports[0]).unwrap();
    for expected in [
        "## Performance baseline bump: `cp1` (trade-off)",
        JUSTIFICATION,
        "### Before / after",
        "| latency_p95_ms | 0.21 | 0.21 |",
        "accepted as a trade-off: `rps`",
        "_artifacts/candidate.json",
        &format!("perf/baselines/{archive}"),
    ] {
        assert!(
            report.contains(expected),
            "expected {expected:?} in:\n{report}"
        );
    }
    assert_eq!(stdout, report);

    // A second bump archives the first one's result and appends to the log.
    repo.commit("bump");
    let bumped = repo.read("perf/baseline_cp1.json");
    let cand = repo.candidate(&candidate_doc(|d| {
        scale(d, "rps", 0.7);
        d["git"]["commit"] = json!("aaaabbbbcccc");
    }));
    let out = repo.bump(
        &cand,
        &[
            "--reason",
            "measurement-correction",
            "--justification",
            JUSTIFICATION,
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let second = format!("{day}_fedcba9.json");
    assert_eq!(
        repo.archived(),
        vec![archive, second.clone(), "LOG.md".into()]
    );
    assert_eq!(repo.read(&format!("perf/baselines/{second}")), bumped);
    let log = text(&repo.read("perf/baselines/LOG.md"));
    assert_eq!(log.matches("# Baseline log").count(), 1, "{log}");
    assert!(log.contains("measurement-correction"), "{log}");
}

#[test]
fn a_paired_candidate_is_compared_with_the_baseline_as_an_independent_run() {
    // Its samples pair with its own reference run, not with the stored baseline's.
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| d["paired"] = json!({"against": "main"})));
    let mut args = trade_off();
    args.push("--dry-run");
    let out = repo.bump(&cand, &args);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("| rps | 61234.5 |"), "{stdout}");
    assert!(!stdout.contains(" paired |"), "{stdout}");
}

/// A measurement correction.
fn correction() -> Vec<&'static str> {
    vec![
        "--reason",
        "measurement-correction",
        "--justification",
        JUSTIFICATION,
    ]
}

#[test]
fn a_correction_from_another_machine_replaces_the_baseline_without_comparing() {
    // A stored-only workload (in-process, not pairable) measured on another CPU: its old
    // numbers say nothing about this machine, so the correction records the new ones as they are.
    let repo = Repo::new();
    let doc = candidate_doc(|d| {
        scale(d, "rps", 0.5);
        d["env"]["cpu_model"] = json!("Other CPU");
    });
    let cand = repo.candidate(&doc);
    let out = repo.bump(&cand, &correction());
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let log = text(&repo.read("perf/baselines/LOG.md"));
    assert!(
        log.contains("Not compared: the previous baseline was measured in another environment (cpu_model \"Test CPU\" -> \"Other CPU\")"),
        "{log}"
    );
    assert_eq!(
        repo.json("perf/baseline_cp1.json")["metrics"],
        doc["metrics"]
    );
}

#[test]
fn a_correction_on_the_same_machine_or_a_trade_off_from_another_is_still_compared() {
    let repo = Repo::new();
    let same = repo.candidate(&candidate_doc(|d| scale(d, "rps", 0.5)));
    let out = repo.bump(&same, &correction());
    assert_refused(&repo, &out, &["regression beyond policy: rps -50.0%"]);

    let other = repo.candidate(&candidate_doc(|d| {
        scale(d, "rps", 0.5);
        d["env"]["cpu_model"] = json!("Other CPU");
    }));
    // From another CPU model the readings cannot be compared: the trade-off is refused for
    // that, not accepted (and not refused on a -50% that is partly the machine's).
    let out = repo.bump(&other, &trade_off());
    assert_refused(
        &repo,
        &out,
        &[
            "the candidate cannot be compared with the baseline",
            "measured on Test CPU and the candidate on Other CPU",
        ],
    );
}

#[test]
fn dry_run_writes_nothing() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| scale(d, "rps", 0.95)));
    let before = repo.snapshot();
    let mut args = trade_off();
    args.push("--dry-run");
    let out = repo.bump(&cand, &args);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("### Before / after") && stdout.contains("| rps | 61234.5 |"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("dry run"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(repo.snapshot(), before);
    assert!(!repo.artifacts().exists());
}

#[test]
fn ratchet_bumps_on_a_clear_improvement() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(improved));
    let out = repo.bump(&cand, &["--ratchet"]);
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let bump = repo.json("perf/baseline_cp1.json")["bump"].clone();
    assert_eq!(bump["reason"], "ratchet");
    assert_eq!(bump["improved_metrics"], json!(["latency_p95_ms", "rps"]));
    let justification = bump["justification"].as_str().unwrap();
    assert!(
        justification.contains("candidate.json") && justification.contains("rps +20.0%"),
        "{justification}"
    );
    assert_eq!(repo.archived().len(), 2, "{:?}", repo.archived());
}

/// Asserts that a ratchet run exited 0 without bumping, saying `why`.
fn assert_skipped(out: &Output, why: &str) {
    let stdout = text(&out.stdout);
    assert_eq!(code(out), 0, "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("ratchet skipped"), "{stdout}");
    assert!(stdout.contains(why), "expected {why:?} in:\n{stdout}");
}

#[test]
fn ratchet_skips_when_nothing_improved() {
    let repo = Repo::new();
    let before = repo.snapshot();
    let out = repo.bump(&repo.candidate(&candidate_doc(|_| {})), &["--ratchet"]);
    assert_skipped(&out, "no metric improved with confidence");
    // The candidate is the only new file.
    assert_eq!(repo.snapshot().len(), before.len() + 1);
    assert!(repo.archived().is_empty());
}

#[test]
fn ratchet_skips_when_a_rule_fails_or_a_metric_got_worse() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(|d| {
        improved(d);
        d["samples"]["errors_total"] = json!([0, 1, 0, 0, 0]);
    }));
    let out = repo.bump(&cand, &["--ratchet"]);
    assert_skipped(&out, "not every rule passes: errors_total FAIL");

    let cand = repo.candidate(&candidate_doc(|d| {
        improved(d);
        scale(d, "mem_mb_rss", 1.02);
    }));
    let out = repo.bump(&cand, &["--ratchet"]);
    assert_skipped(&out, "would loosen the target of mem_mb_rss +2.0%");
    assert!(repo.archived().is_empty());
}

#[test]
fn ratchet_moves_at_most_once_a_day() {
    let repo = Repo::new();
    let out = repo.bump(&repo.candidate(&candidate_doc(improved)), &["--ratchet"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    repo.commit("ratchet");
    let even_better = candidate_doc(|d| {
        improved(d);
        improved(d);
    });
    let bumped = repo.read("perf/baseline_cp1.json");
    let out = repo.bump(&repo.candidate(&even_better), &["--ratchet"]);
    assert_skipped(&out, "already bumped today");
    assert_eq!(repo.read("perf/baseline_cp1.json"), bumped);
}

#[test]
fn ratchet_refuses_flags_it_does_not_take() {
    let repo = Repo::new();
    let cand = repo.candidate(&candidate_doc(improved));
    let out = repo.bump(
        &cand,
        &["--ratchet", "--reason", "trade-off", "--accept", "rps"],
    );
    assert_refused(
        &repo,
        &out,
        &["--ratchet writes its own reason", "--ratchet never accepts"],
    );
}

/// A candidate that `a_good_bump_writes_the_four_files` accepts: rps -30% as a trade-off.
fn accepted_trade_off(repo: &Repo, name: &str, commit: &str) -> (PathBuf, Vec<&'static str>) {
    let doc = candidate_doc(|d| {
        scale(d, "rps", 0.7);
        d["git"]["commit"] = json!(commit);
    });
    let cand = repo.write(&format!("_artifacts/{name}"), &pretty(&doc));
    let mut args = trade_off();
    args.extend(["--accept", "rps"]);
    (cand, args)
}

/// Files whose name starts with a dot under `perf/` and the artifacts: locks, journals, staged
/// and temp files, none of which may outlive a bump.
fn hidden_files(repo: &Repo) -> Vec<String> {
    repo.snapshot()
        .into_keys()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .map(|p| p.strip_prefix(&repo.root).unwrap().display().to_string())
        .collect()
}

/// The archives in `perf/baselines/` a reader sees: without hidden (staged) files.
fn visible_archives(repo: &Repo) -> Vec<String> {
    repo.archived()
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// A log's text without the lines that hold the time of the bump.
fn without_times(log: &[u8]) -> String {
    text(log)
        .lines()
        .filter(|l| !l.starts_with("- date: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A child process killed (and reaped) when the test ends, even by a failed assertion.
struct Reaped(Option<std::process::Child>);

impl Reaped {
    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn wait_with_output(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The number of entries in `LOG.md` (0 without one).
fn log_entries(repo: &Repo) -> usize {
    std::fs::read_to_string(repo.path("perf/baselines/LOG.md"))
        .map(|log| {
            log.lines()
                .filter(|l| l.starts_with("## ") && l.contains(" · "))
                .count()
        })
        .unwrap_or(0)
}

/// Asserts that `perf/` is consistent: every archive has its LOG entry and the baseline's
/// `bump` record names the newest archive, which holds the baseline before it.
fn assert_consistent(repo: &Repo) {
    let archives: Vec<String> = visible_archives(repo)
        .into_iter()
        .filter(|n| n != "LOG.md")
        .collect();
    assert_eq!(
        log_entries(repo),
        archives.len(),
        "archives {archives:?} and LOG.md disagree"
    );
    let log = text(&repo.read_or_empty("perf/baselines/LOG.md"));
    for a in &archives {
        assert!(log.contains(a.as_str()), "{a} has no LOG entry:\n{log}");
    }
    let baseline = repo.json("perf/baseline_cp1.json");
    match baseline["bump"]["previous"]["archive"].as_str() {
        None => assert!(archives.is_empty(), "{archives:?} but no bump record"),
        Some(archive) => {
            let bytes = repo.read(archive);
            let sha = baseline["bump"]["previous"]["sha256"].as_str().unwrap();
            assert_eq!(
                sha256(&bytes),
                sha,
                "{archive} is not the replaced baseline"
            );
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Repo {
    fn read_or_empty(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_default()
    }
}

#[test]
fn a_second_bump_fails_at_once_naming_the_one_under_way() {
    // The first bump reads its candidate from a FIFO, so it stays under way (holding the
    // lock) until the test writes the candidate.
    let repo = Repo::new();
    std::fs::create_dir_all(repo.path("_artifacts")).unwrap();
    let fifo = repo.path("_artifacts/candidate.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let (_, args) = accepted_trade_off(&repo, "unused.json", "fedcba9876543210");
    let first = Reaped(Some(
        repo.bump_command(&fifo, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let lock = repo.path("perf/.lock");
    let holder = format!("pid {}\n", first.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.starts_with(&holder))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }

    let (cand, args) = accepted_trade_off(&repo, "second.json", "aaaabbbbcccc");
    let start = Instant::now();
    let second = repo.bump(&cand, &args);
    let stderr = text(&second.stderr);
    assert_eq!(code(&second), 2, "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10), "it waited");
    for expected in [
        "perf/.lock is locked: another perf-baseline-bump is already under way",
        &format!("held by pid {} since 20", first.id()),
        "running `",
        "candidate.fifo",
    ] {
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
    }
    assert!(repo.archived().is_empty(), "{:?}", repo.archived());

    // The first bump then finishes as if alone.
    let doc = candidate_doc(|d| scale(d, "rps", 0.7));
    std::fs::write(&fifo, pretty(&doc)).unwrap();
    let first_out = first.wait_with_output();
    assert_eq!(code(&first_out), 0, "{}", text(&first_out.stderr));
    assert_eq!(log_entries(&repo), 1);
    assert_consistent(&repo);
    assert_eq!(
        repo.json("perf/baseline_cp1.json")["git"]["commit"],
        "fedcba9876543210"
    );
    std::fs::remove_file(&fifo).unwrap();
    assert!(hidden_files(&repo).is_empty(), "{:?}", hidden_files(&repo));
}

#[test]
fn concurrent_bumps_never_lose_a_result() {
    // Whatever the timing, a bump either completes (its archive, LOG entry and baseline all
    // there) or is refused because another holds the lock.
    let repo = Repo::new();
    let bumps: Vec<_> = (0..4)
        .map(|i| {
            let (cand, mut args) =
                accepted_trade_off(&repo, &format!("c{i}.json"), &format!("{i}{i}{i}{i}cafe"));
            args.push("--allow-dirty");
            repo.bump_command(&cand, &args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut bumped = 0;
    for child in bumps {
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        match code(&out) {
            0 => bumped += 1,
            2 => assert!(stderr.contains("is locked"), "{stderr}"),
            other => panic!("exit {other}: {stderr}"),
        }
    }
    assert!(bumped >= 1);
    assert_eq!(log_entries(&repo), bumped);
    assert_consistent(&repo);
    assert!(hidden_files(&repo).is_empty(), "{:?}", hidden_files(&repo));
}

/// The steps a bump can be killed after (`XTASK_BUMP_CRASH_AFTER`), and whether the bump had
/// committed by then. `renamed-1` to `renamed-3` are inside the renames (archive, log,
/// baseline, report): only the journal then says what is under way.
const CRASH_STEPS: [(&str, bool); 9] = [
    ("locked", false),
    ("prepared", false),
    ("staged", false),
    ("committed", true),
    ("renamed-1", true),
    ("renamed-2", true),
    ("renamed-3", true),
    ("renamed-4", true),
    ("finished", true),
];

#[test]
fn a_killed_bump_leaves_the_old_state_or_the_new_one_and_the_next_bump_cleans_up() {
    let new_state = {
        let repo = Repo::new();
        let (cand, args) = accepted_trade_off(&repo, "candidate.json", "fedcba9876543210");
        let out = repo.bump(&cand, &args);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        (repo.archived(), repo.read("perf/baselines/LOG.md"))
    };
    for (step, committed) in CRASH_STEPS {
        let repo = Repo::new();
        let old = repo.read("perf/baseline_cp1.json");
        let (cand, args) = accepted_trade_off(&repo, "candidate.json", "fedcba9876543210");
        let out = repo
            .bump_command(&cand, &args)
            .env("XTASK_BUMP_CRASH_AFTER", step)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{step}: {:?}\n{}",
            out.status,
            text(&out.stderr)
        );
        let journal = repo.path("perf/.bump-journal.json").exists();
        let mid_rename = step.starts_with("renamed-") && step != "renamed-4";
        // Right after the kill: the old state, or the new one; inside the renames, the
        // journal marks the state as unfinished.
        if mid_rename {
            assert!(journal, "{step}: no journal");
        } else if step == "renamed-4" || step == "finished" {
            assert_eq!(visible_archives(&repo), new_state.0, "{step}");
            assert_consistent(&repo);
        } else {
            assert_eq!(repo.read("perf/baseline_cp1.json"), old, "{step}");
            assert!(visible_archives(&repo).is_empty(), "{step}");
        }

        // A dry run touches none of it, but says that a bump is unfinished.
        if journal {
            let before = repo.snapshot();
            let mut dry = args.clone();
            // The unfinished bump's files make the tree dirty.
            dry.extend(["--dry-run", "--allow-dirty"]);
            // Its exit code depends on the baseline it happens to see (inside the renames,
            // already the candidate's, so there is nothing to --accept).
            let out = repo.bump(&cand, &dry);
            assert!(
                text(&out.stderr).contains(".bump-journal.json is left from an interrupted bump"),
                "{step}: {}",
                text(&out.stderr)
            );
            assert_eq!(repo.snapshot(), before, "{step}: the dry run wrote");
        }

        // The next bump (here one refused for its flags) first finishes or undoes it.
        let next = repo.bump(&cand, &["--reason", "nope"]);
        let stderr = text(&next.stderr);
        assert_eq!(code(&next), 2, "{step}: {stderr}");
        if journal {
            let said = if committed {
                "finished an interrupted write"
            } else {
                "undid an interrupted write"
            };
            assert!(stderr.contains(said), "{step}: {stderr}");
        }
        assert!(
            hidden_files(&repo).is_empty(),
            "{step}: {:?}",
            hidden_files(&repo)
        );
        assert_consistent(&repo);
        if committed {
            assert_eq!(repo.archived(), new_state.0, "{step}");
            assert_eq!(
                without_times(&repo.read("perf/baselines/LOG.md")),
                without_times(&new_state.1),
                "{step}"
            );
            let reports = std::fs::read_dir(repo.artifacts()).unwrap().count();
            assert_eq!(reports, 1, "{step}: one report");
        } else {
            assert_eq!(repo.read("perf/baseline_cp1.json"), old, "{step}");
            assert!(repo.archived().is_empty(), "{step}");
            // Not even the report's claimed name is left.
            let reports = std::fs::read_dir(repo.artifacts()).map_or(0, |d| d.count());
            assert_eq!(reports, 0, "{step}");
        }
    }
}

#[test]
fn bumped_files_keep_their_mode_and_new_ones_get_a_plain_create_mode() {
    let repo = Repo::new();
    let baseline = repo.path("perf/baseline_cp1.json");
    std::fs::set_permissions(&baseline, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (cand, args) = accepted_trade_off(&repo, "candidate.json", "fedcba9876543210");
    let out = repo.bump(&cand, &args);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&baseline), 0o640, "the baseline's mode changed");
    // What a plain create gives here (0644 under the usual umask 022).
    let plain = repo.write("_artifacts/plain", "x");
    let report = std::fs::read_dir(repo.artifacts())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let archive = repo.path("perf/baselines").join(&repo.archived()[0]);
    for new in [archive, repo.path("perf/baselines/LOG.md"), report] {
        assert_eq!(mode(&new), mode(&plain), "{}", new.display());
    }
}
