//! `cargo xtask perf-gate --candidate FILE` end to end, on hand-written run files: exit codes,
//! stdout, stderr, the four artifacts and `$GITHUB_STEP_SUMMARY`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const POLICY: &str = include_str!("../../../perf/policy_cp1.json");

/// A run file with the CP1 metrics (and a key the gate must ignore); `tweak` edits it
/// before it is written.
fn run_doc(tweak: impl FnOnce(&mut Value)) -> Value {
    let mut doc = crate::support::cp1_run();
    doc["an_unknown_key"] = json!({"is": "ignored"});
    tweak(&mut doc);
    doc
}

/// How many rules the committed CP1 policy has: one row, one testcase each.
fn rules() -> usize {
    let policy: Value = serde_json::from_str(POLICY).unwrap();
    policy["rules"].as_object().unwrap().len()
}

struct Gate {
    dir: tempfile::TempDir,
}

impl Gate {
    /// A temp dir with `baseline.json` and `policy.json` (the committed CP1 policy).
    fn new() -> Self {
        let gate = Gate {
            dir: tempfile::tempdir().unwrap(),
        };
        gate.write("baseline.json", &run_doc(|_| {}).to_string());
        gate.write("policy.json", POLICY);
        gate
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn candidate(&self, tweak: impl FnOnce(&mut Value)) -> PathBuf {
        self.write("candidate.json", &run_doc(tweak).to_string())
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.current_dir(self.dir.path())
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("CANDIDATE_FILE");
        cmd
    }

    /// `perf-gate` with every input explicit.
    fn run(&self, candidate: &Path) -> Output {
        self.run_with(candidate, |_| {})
    }

    fn run_with(&self, candidate: &Path, extra: impl FnOnce(&mut Command)) -> Output {
        let mut cmd = self.command();
        cmd.arg("perf-gate")
            .arg("--candidate")
            .arg(candidate)
            .arg("--baseline")
            .arg(self.path("baseline.json"))
            .arg("--policy")
            .arg(self.path("policy.json"))
            .arg("--artifacts-dir")
            .arg(self.path("art"));
        extra(&mut cmd);
        let started = Instant::now();
        let out = cmd.output().expect("running xtask");
        // The gate on a ready candidate is meant to take well under a second; the bound here
        // is loose because CI machines are busy and this is a debug build.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        out
    }

    /// The artifacts of the (only) gate run, by extension.
    fn artifact(&self, ext: &str) -> String {
        let dir = self.path("art");
        let found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("perf_gate_") && name.ends_with(&format!(".{ext}"))
            })
            .collect();
        assert_eq!(found.len(), 1, "{ext}: {found:?}");
        std::fs::read_to_string(&found[0]).unwrap()
    }

    fn verdict_json(&self) -> Value {
        serde_json::from_str(&self.artifact("json")).expect("the verdict JSON parses")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

#[test]
fn pass_exits_0_and_writes_every_artifact() {
    let g = Gate::new();
    let out = g.run(&g.candidate(|_| {}));
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("metric") && stdout.contains("latency_p95_ms"),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("perf-gate: PASS ({} rules, 0 warnings)", rules())),
        "{stdout}"
    );

    let verdict = g.verdict_json();
    assert_eq!(verdict["overall"], "pass");
    assert_eq!(verdict["exit_code"], 0);
    assert_eq!(verdict["rows"].as_array().unwrap().len(), rules());
    assert!(
        verdict["inputs"]["candidate"]
            .as_str()
            .unwrap()
            .ends_with("candidate.json")
    );

    let junit = g.artifact("junit.xml");
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), rules(), "{junit}");
    assert_eq!(junit.matches("<failure").count(), 0, "{junit}");
    assert_eq!(
        junit.matches("<testsuite ").count(),
        junit.matches("</testsuite>").count()
    );

    let log = g.artifact("log");
    assert!(
        log.contains("candidate.json") && log.contains("perf-gate: PASS"),
        "{log}"
    );
    let md = g.artifact("md");
    assert!(md.contains("| rps |"), "{md}");
}

#[test]
fn regression_exits_1_and_names_every_failing_metric() {
    let g = Gate::new();
    let candidate = g.candidate(|d| {
        d["metrics"]["rps"] = json!(46900.0);
        d["samples"]["rps"] = json!([46900.0, 46000.0, 47500.0, 47100.0, 46500.0]);
        d["samples"]["errors_total"] = json!([0, 0, 4, 0, 0]);
    });
    let out = g.run(&candidate);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}\n{}", text(&out.stderr));
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("perf-gate: FAIL: "), "{stdout}");
    assert!(last.contains("rps -23.4% ["), "{last}");
    assert!(last.contains("errors_total was 4 in trial 3"), "{last}");
    let verdict = g.verdict_json();
    assert_eq!(verdict["overall"], "fail");
    assert_eq!(verdict["exit_code"], 1);
    let junit = g.artifact("junit.xml");
    assert_eq!(junit.matches("<failure ").count(), 2, "{junit}");
}

#[test]
fn bad_policy_exits_2_naming_file_and_field() {
    let g = Gate::new();
    let policy = POLICY.replace(r#""warn_pct": 5"#, r#""warn_pct": 50"#);
    assert_ne!(policy, POLICY);
    let policy_path = g.write("policy.json", &policy);
    let out = g.run(&g.candidate(|_| {}));
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{}\n{stderr}", text(&out.stdout));
    assert!(
        stderr.contains(&policy_path.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("rules.rps.warn_pct"), "{stderr}");
    // The error is recorded in the artifacts too.
    let verdict = g.verdict_json();
    assert_eq!(verdict["overall"], "error");
    assert_eq!(verdict["exit_code"], 2);
}

#[test]
fn unknown_policy_key_exits_2() {
    let g = Gate::new();
    g.write(
        "policy.json",
        &POLICY.replace("\"confidence\"", "\"confidance\""),
    );
    let out = g.run(&g.candidate(|_| {}));
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(
        stderr.contains("gate.confidance") && stderr.contains("unknown key"),
        "{stderr}"
    );
}

#[test]
fn bad_baseline_value_exits_2_naming_file_and_field() {
    let g = Gate::new();
    let baseline = g.write(
        "baseline.json",
        &run_doc(|d| d["metrics"]["latency_p99_ms"] = Value::Null).to_string(),
    );
    let out = g.run(&g.candidate(|_| {}));
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains(&baseline.display().to_string()), "{stderr}");
    assert!(stderr.contains("metrics.latency_p99_ms"), "{stderr}");
}

#[test]
fn failed_run_exits_3_after_writing_artifacts() {
    let g = Gate::new();
    let candidate = g.candidate(|d| {
        d["run"] = json!({"status": "timeout", "exit_code": 3, "message": "router did not start"});
        d["metrics"] = json!({});
        d["samples"] = json!({});
    });
    let out = g.run(&candidate);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("router did not start"), "{stdout}");
    let verdict = g.verdict_json();
    assert_eq!(verdict["overall"], "bench_failed");
    assert_eq!(verdict["exit_code"], 3);
    let junit = g.artifact("junit.xml");
    assert!(junit.contains("[gate] benchmark run"), "{junit}");
    assert!(!g.artifact("md").is_empty());
    assert!(g.artifact("log").contains("exit code: 3"));
}

#[test]
fn malformed_candidate_exits_2() {
    let g = Gate::new();
    let candidate = g.write("candidate.json", "{ \"metrics\": ");
    let out = g.run(&candidate);
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("candidate.json"), "{stderr}");
}

#[test]
fn missing_candidate_file_exits_2() {
    let g = Gate::new();
    let out = g.run(&g.path("nope.json"));
    let stderr = text(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("nope.json"), "{stderr}");
}

#[test]
fn github_step_summary_is_appended() {
    let g = Gate::new();
    let summary = g.write("summary.md", "# earlier step\n");
    let out = g.run_with(&g.candidate(|_| {}), |cmd| {
        cmd.env("GITHUB_STEP_SUMMARY", &summary);
    });
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("# earlier step\n"), "{text}");
    assert!(text.contains("perf-gate: PASS"), "{text}");
    assert_eq!(text.matches("| rps |").count(), 1, "{text}");
}

#[test]
fn candidate_file_env_and_default_paths() {
    // A directory laid out like the workspace: `perf/baseline_cp1.json` and
    // `perf/policy_cp1.json` are found from the current directory, and a relative
    // `--artifacts-dir` lands under it.
    let g = Gate::new();
    g.write("perf/baseline_cp1.json", &run_doc(|_| {}).to_string());
    g.write("perf/policy_cp1.json", POLICY);
    let candidate = g.candidate(|_| {});
    let out = g
        .command()
        .args(["perf-gate", "--artifacts-dir", "out"])
        .env("CANDIDATE_FILE", &candidate)
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let written: Vec<_> = std::fs::read_dir(g.path("out")).unwrap().collect();
    assert_eq!(written.len(), 5, "{written:?}");
}

#[test]
fn two_runs_in_the_same_second_keep_both_artifacts() {
    let g = Gate::new();
    let candidate = g.candidate(|_| {});
    assert_eq!(code(&g.run(&candidate)), 0);
    assert_eq!(code(&g.run(&candidate)), 0);
    let n = std::fs::read_dir(g.path("art")).unwrap().count();
    assert_eq!(n, 10);
}
