//! Hostile input and faults (issue 16): an interrupted bench, concurrent runs, bad numbers,
//! pipes, endless inputs, concurrent bumps. Each test reproduces a defect a probe found.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bench::{bench_command, serial, tiny_workload};

/// Whether a process with this pid is still alive (not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// Router pids the bench log names (`router pid N listening on ...`).
fn router_pids(log: &str) -> Vec<u32> {
    log.lines()
        .filter_map(|l| l.split("router pid ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect()
}

fn artifact(dir: &std::path::Path, prefix: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
}

#[test]
fn sigterm_stops_the_children_and_writes_an_interrupted_run() {
    let _serial = serial();
    for (signal, name, code) in [
        (rustix::process::Signal::TERM, "SIGTERM", 143),
        (rustix::process::Signal::INT, "SIGINT", 130),
    ] {
        let dir = tempfile::tempdir().unwrap();
        // Long phases: the signal arrives mid-trial.
        let w = tiny_workload(dir.path(), 3000);
        let child = bench_command(dir.path(), &w, &["--trials", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let artifacts = dir.path().join("artifacts");
        // Wait until a router is up, then signal xtask alone (not its process group).
        let deadline = Instant::now() + Duration::from_secs(60);
        let pids = loop {
            let log = artifact(&artifacts, "bench_router_")
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            let pids = router_pids(&log);
            if !pids.is_empty() {
                break pids;
            }
            assert!(Instant::now() < deadline, "no router started");
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(500));
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        for pid in pids {
            assert!(!alive(pid), "{name}: router {pid} outlived xtask");
        }
        let run = artifact(&artifacts, "perf_baseline_").expect("the run file is written");
        let run: Value = serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
        assert_eq!(
            run["run"]["status"], "interrupted",
            "{name}: {}",
            run["run"]
        );
        assert!(
            run["run"]["message"].as_str().unwrap().contains(name),
            "{}",
            run["run"]
        );
        assert_eq!(run["run"]["exit_code"], 3);
        assert!(artifact(&artifacts, "perf_summary_").is_some(), "{name}");
    }
}

/// A CP1 baseline, a candidate edited by `tweak`, and the committed CP1 policy, in `dir`.
pub(crate) fn write_inputs(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut Value),
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let base = dir.join("baseline.json");
    std::fs::write(&base, super::support::cp1_run().to_string()).unwrap();
    let mut c = super::support::cp1_run();
    tweak(&mut c);
    let cand = dir.join("candidate.json");
    std::fs::write(&cand, c.to_string()).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(&policy, include_str!("../../../perf/policy_cp1.json")).unwrap();
    (base, cand, policy)
}

/// Multiplies a metric's median and samples by `factor`.
pub(crate) fn scale(run: &mut Value, metric: &str, factor: f64) {
    let m = run["metrics"][metric].as_f64().unwrap();
    run["metrics"][metric] = (m * factor).into();
    if let Some(samples) = run["samples"][metric].as_array_mut() {
        for s in samples {
            *s = (s.as_f64().unwrap() * factor).into();
        }
    }
}

/// `perf-gate --candidate` with explicit inputs; artifacts under `dir/artifacts`.
pub(crate) fn gate(
    dir: &std::path::Path,
    cand: &std::path::Path,
    base: &std::path::Path,
    policy: &std::path::Path,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-gate", "--candidate"])
        .arg(cand)
        .arg("--baseline")
        .arg(base)
        .arg("--policy")
        .arg(policy)
        .arg("--artifacts-dir")
        .arg(dir.join("artifacts"))
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CANDIDATE_FILE")
        .output()
        .unwrap()
}

#[test]
fn concurrent_gates_into_one_directory_never_share_a_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cand, policy) = write_inputs(dir.path(), |c| scale(c, "rps", 0.5));
    let artifacts = dir.path().join("artifacts");
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args(["perf-gate", "--candidate"])
                .arg(&cand)
                .arg("--baseline")
                .arg(&base)
                .arg("--policy")
                .arg(&policy)
                .arg("--artifacts-dir")
                .arg(&artifacts)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert_eq!(c.wait().unwrap().code(), Some(1));
    }
    let mut stamps: Vec<String> = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_prefix("perf_gate_")?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .collect();
    stamps.sort();
    stamps.dedup();
    assert_eq!(stamps.len(), 8, "{stamps:?}");
    // Each run's JUnit agrees with its own verdict.
    for s in stamps {
        let junit =
            std::fs::read_to_string(artifacts.join(format!("perf_gate_{s}.junit.xml"))).unwrap();
        assert!(junit.contains("<failure"), "{s}: {junit}");
    }
}

#[test]
fn negative_metrics_are_bad_input() {
    for (metric, value) in [("latency_p99_ms", -5.0), ("mem_mb_rss", -1.0)] {
        let dir = tempfile::tempdir().unwrap();
        let (base, cand, policy) = write_inputs(dir.path(), |c| {
            c["metrics"][metric] = value.into();
        });
        let out = gate(dir.path(), &cand, &base, &policy);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{metric}: {stderr}");
        assert!(
            stderr.contains(&format!("metrics.{metric}")) && stderr.contains("negative"),
            "{stderr}"
        );
    }
}

#[test]
fn wrong_typed_fields_the_gate_depends_on_are_bad_input() {
    for (field, tweak) in [
        (
            "run.exit_code",
            Box::new(|c: &mut Value| c["run"]["exit_code"] = "3".into()) as Box<dyn Fn(&mut Value)>,
        ),
        (
            "trials",
            Box::new(|c: &mut Value| c["trials"] = (-3).into()),
        ),
        (
            "paired.against",
            Box::new(|c: &mut Value| c["paired"] = serde_json::json!({"against": 1})),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (base, cand, policy) = write_inputs(dir.path(), |c| tweak(c));
        let out = gate(dir.path(), &cand, &base, &policy);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {stderr}");
        assert!(stderr.contains(field), "{field}: {stderr}");
    }
}

#[test]
fn a_paired_candidate_is_judged_against_its_reference_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paired = serde_json::json!({"against": "main", "reference_file": "perf_reference_x.json"});
    let (base, cand, policy) = write_inputs(dir.path(), |c| c["paired"] = paired.clone());
    // Against a stored baseline: refused, naming the reference it needs.
    let out = gate(dir.path(), &cand, &base, &policy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("its own reference run"), "{stderr}");
    // Without --baseline, its reference file next to it is used; missing, it is refused.
    let alone = |cand: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["perf-gate", "--candidate"])
            .arg(cand)
            .arg("--policy")
            .arg(&policy)
            .arg("--artifacts-dir")
            .arg(dir.path().join("artifacts"))
            .output()
            .unwrap()
    };
    let out = alone(&cand);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("perf_reference_x.json"), "{stderr}");
    let mut reference = super::support::cp1_run();
    reference["paired"] = paired;
    std::fs::write(
        dir.path().join("perf_reference_x.json"),
        reference.to_string(),
    )
    .unwrap();
    let out = alone(&cand);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("paired"), "{stdout}");
}

#[test]
fn a_piped_candidate_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cand, policy) = write_inputs(dir.path(), |_| {});
    let history = dir.path().join("history.jsonl");
    // `--candidate <(cat FILE)`: a pipe that can be read only once.
    let fifo = dir.path().join("candidate.fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let writer = {
        let (fifo, cand) = (fifo.clone(), cand.clone());
        std::thread::spawn(move || std::fs::write(&fifo, std::fs::read(cand).unwrap()))
    };
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-gate", "--candidate"])
        .arg(&fifo)
        .arg("--baseline")
        .arg(&base)
        .arg("--policy")
        .arg(&policy)
        .arg("--history")
        .arg(&history)
        .arg("--artifacts-dir")
        .arg(dir.path().join("artifacts"))
        .output()
        .unwrap();
    writer.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&history).unwrap().lines().count(),
        1
    );
}

#[test]
fn an_endless_candidate_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _, policy) = write_inputs(dir.path(), |_| {});
    let started = Instant::now();
    let out = gate(
        dir.path(),
        std::path::Path::new("/dev/zero"),
        &base,
        &policy,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("larger than"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
