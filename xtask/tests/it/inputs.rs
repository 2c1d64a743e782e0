//! Strict input files end to end (`model::json`): a mistyped policy key is named with the key
//! it probably meant, a duplicated key is refused (in policies and workloads) instead of the
//! last one silently winning, and an endless input is refused before it fills memory. All
//! exit 2 quickly, without building or starting anything.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const POLICY: &str = include_str!("../../../perf/policy_cp1.json");

/// A temp dir with `run.json` (the CP1 run, baseline and candidate alike).
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Self {
        let inputs = Inputs {
            dir: tempfile::tempdir().unwrap(),
        };
        inputs.write("run.json", &crate::support::cp1_run().to_string());
        inputs
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `perf-gate` on the CP1 run against itself under `policy`.
    fn gate(&self, policy: &Path) -> Output {
        let run = self.dir.path().join("run.json");
        let mut cmd = xtask(self.dir.path());
        cmd.arg("perf-gate")
            .arg("--candidate")
            .arg(&run)
            .arg("--baseline")
            .arg(&run)
            .arg("--policy")
            .arg(policy)
            .arg("--artifacts-dir")
            .arg(self.dir.path().join("art"));
        quick(cmd)
    }
}

fn xtask(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(dir)
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CANDIDATE_FILE");
    cmd
}

/// Runs `cmd`, which must refuse its input well within a few seconds (a debug build on a
/// busy machine), with its memory bounded so that a reader without a size limit fails here
/// instead of taking the machine's memory.
fn quick(mut cmd: Command) -> Output {
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let out = cmd.output().expect("running xtask");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_mistyped_policy_key_is_named_with_the_key_it_meant() {
    let t = Inputs::new();
    let text = POLICY.replacen(r#""max_pct_increase": 15"#, r#""max_pct_increse": 15"#, 1);
    assert_ne!(text, POLICY);
    let policy = t.write("policy.json", &text);
    let out = t.gate(&policy);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&policy.display().to_string()), "{err}");
    assert!(
        err.contains(
            "field `rules.latency_p95_ms.relative.max_pct_increse`: unknown key; \
             did you mean `max_pct_increase`?"
        ),
        "{err}"
    );
    assert!(
        err.contains("one of: max_pct_decrease, max_pct_increase"),
        "{err}"
    );
}

#[test]
fn a_duplicated_policy_rule_is_refused_not_loosened() {
    let t = Inputs::new();
    // A second `rps` rule that would let throughput fall by 90% if the last one won.
    let text = POLICY.replacen(
        r#""rules": {"#,
        r#""rules": {
    "rps": { "relative": { "max_pct_decrease": 90 } },"#,
        1,
    );
    assert_ne!(text, POLICY);
    let policy = t.write("policy.json", &text);
    let out = t.gate(&policy);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: field `rules.rps`: duplicate key",
            policy.display()
        )),
        "{err}"
    );
}

#[test]
fn a_duplicate_key_in_a_workload_is_refused_before_anything_runs() {
    let t = Inputs::new();
    let workload = t.write(
        "dup.json",
        r#"{
      "name": "dup", "description": "test workload",
      "warmup": {"duration_ms": 200, "connections": 2},
      "phases": [
        {"name": "concurrent", "role": "throughput", "model": "closed", "connections": 4,
         "duration_ms": 300, "duration_ms": 30000}
      ],
      "mix": {"seed": 1, "distinct_bodies": 64, "templates": [
        {"name": "weighted", "weight": 2, "tenant_id": "acme", "task_type": "chat"}
      ]}
    }"#,
    );
    let art = t.dir.path().join("art");
    let mut cmd = xtask(t.dir.path());
    cmd.arg("perf-bench")
        .arg("--workload")
        .arg(&workload)
        .arg("--no-build")
        .arg("--router-bin")
        .arg("/nonexistent/router")
        .arg("--loadgen-bin")
        .arg("/nonexistent/loadgen")
        .arg("--trials")
        .arg("1")
        .arg("--artifacts-dir")
        .arg(&art);
    let out = quick(cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "workload {}: field `phases[0].duration_ms`: duplicate key",
            workload.display()
        )),
        "{err}"
    );
    assert!(!art.exists(), "bad input is refused before anything runs");
}

#[test]
fn an_endless_policy_file_is_refused_at_the_size_limit() {
    let t = Inputs::new();
    let out = t.gate(Path::new("/dev/zero"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/zero is larger than 64 MiB"), "{err}");
}

/// A policy that gates system calls, on a machine without strace: exit 2 before anything is
/// built, naming the policy's rule and the install command.
#[test]
fn a_syscall_rule_without_strace_is_bad_input_with_the_install_hint() {
    let inputs = Inputs::new();
    let mut policy: serde_json::Value = serde_json::from_str(POLICY).unwrap();
    policy["rules"]["syscalls_per_req"] = serde_json::json!({"relative": {"max_pct_increase": 5}});
    let policy = inputs.write("policy.json", &policy.to_string());
    let empty = inputs.dir.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let mut cmd = xtask(inputs.dir.path());
    cmd.env("PATH", &empty)
        .arg("perf-gate")
        .arg("--baseline")
        .arg(inputs.dir.path().join("run.json"))
        .arg("--policy")
        .arg(&policy)
        .arg("--artifacts-dir")
        .arg(inputs.dir.path().join("art"));
    let out = quick(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rules.syscalls_per_req"), "{stderr}");
    assert!(stderr.contains("apt-get install strace"), "{stderr}");
}
