//! `perf-bench --suite components`: the in-process component benchmarks and their artifact.
//! The bench is a debug build with a fraction of a millisecond per sample and a few counted
//! iterations, so the tests stay quick; the numbers are meaningless, the shape is what is
//! checked (the counts' own arithmetic is tested in unit/components.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use super::bench::{artifacts, have_valgrind, root, serial};

/// Every benchmark the suite must report, as named in router/benches/components.rs.
const BENCHMARKS: &[&str] = &[
    "decide_weighted",
    "decide_sticky_hit",
    "decide_fallback",
    "policy_lookup",
    "sticky_get_1k",
    "sticky_put_1k",
    "sticky_get_100k",
    "sticky_put_100k",
    "json_small",
    "json_medium",
    "json_large",
];

/// The decision benchmarks, which the paired test counts.
const DECIDE: &[&str] = &["decide_weighted", "decide_sticky_hit", "decide_fallback"];

/// Builds the components bench (dev profile) once per test run; its path from cargo's
/// JSON messages.
fn components_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "router",
                "--bench",
                "components",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(root())
            .output()
            .expect("running cargo build");
        assert!(out.status.success(), "building the components bench failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "components")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the components bench executable")
    })
}

/// `xtask perf-bench --workload components` on `bin`, artifacts under `dir/artifacts`.
fn bench(dir: &Path, bin: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-bench", "--workload", "components", "--no-build"])
        .arg("--components-bin")
        .arg(bin)
        .arg("--artifacts-dir")
        .arg(dir.join("artifacts"))
        .args(extra)
        .env("PERF_COMPONENTS_SAMPLE_MS", "0.2")
        .env("PERF_COMPONENTS_COUNT_ITERS", COUNT_ITERS)
        .output()
        .expect("running xtask")
}

/// Iterations of a counting run in the tests: a debug bench under callgrind is slow, and a
/// few operations are enough to prove the counting.
const COUNT_ITERS: &str = "6";

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A PATH with `git` and `rustc` from this one and nothing else: valgrind is not on it.
fn path_without_valgrind(dir: &Path) -> PathBuf {
    let bin = dir.join("path");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["git", "rustc"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(tool))
            .find(|p| p.is_file());
        if let Some(found) = found {
            std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
        }
    }
    bin
}

/// The wall-clock samples of every benchmark. Without valgrind (a PATH without it, so the
/// test stays quick: counting all eleven benchmarks of a debug bench under callgrind takes
/// half a minute; the paired test below counts) the run keeps its ns and says what it lacks.
#[test]
fn component_benchmarks_produce_samples() {
    let bin = components_bin();
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = path_without_valgrind(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-bench", "--workload", "components", "--no-build"])
        .arg("--components-bin")
        .arg(bin)
        .arg("--artifacts-dir")
        .arg(dir.path().join("artifacts"))
        .args(["--trials", "3"])
        .env("PERF_COMPONENTS_SAMPLE_MS", "0.2")
        .env("PATH", &path)
        .output()
        .expect("running xtask");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("`valgrind` is not on PATH, so no component_*_ir counts"),
        "{stderr}"
    );
    let run = artifacts(dir.path());
    assert_eq!(run["kind"], "perf_run");
    assert_eq!(run["workload"], "components");
    assert_eq!(run["trials"], 3);
    assert_eq!(run["run"]["status"], "ok");
    assert_eq!(run["env"]["profile"], "debug");
    assert_eq!(run["env"]["sample_ms"], 0.2);
    for name in BENCHMARKS {
        let metric = format!("component_{name}_ns");
        let samples: Vec<f64> = run["samples"][&metric]
            .as_array()
            .unwrap_or_else(|| panic!("{metric} has no samples: {}", run["samples"]))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(samples.len(), 3, "{metric}");
        assert!(samples.iter().all(|&v| v > 0.0), "{metric}: {samples:?}");
        assert_eq!(run["metrics"][&metric].as_f64(), Some(median(&samples)));
        assert!(run["spread"][&metric]["spread_pct"].is_number(), "{metric}");
        assert!(run["components"]["iterations_per_sample"][name].as_u64() >= Some(1));
    }
    // Not counted: only the ns, and nothing says it was.
    assert_eq!(
        run["metrics"].as_object().unwrap().len(),
        BENCHMARKS.len(),
        "{}",
        run["metrics"]
    );
    assert!(run["env"]["counters"].is_null());
    assert!(run["components"]["count_iterations"].is_null());
}

#[test]
fn a_failing_or_hanging_bench_still_writes_artifacts() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let hang = dir.path().join("hang.sh");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 30\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (bin, extra, status) in [
        (Path::new("/bin/false"), &[][..], "failed"),
        (hang.as_path(), &["--timeout", "1"][..], "timeout"),
    ] {
        let case = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let out = bench(case.path(), bin, extra);
        assert!(started.elapsed().as_secs() < 20, "{status}: not bounded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{status}: {stderr}");
        let run = artifacts(case.path());
        assert_eq!(run["run"]["status"], status);
        assert_eq!(run["run"]["exit_code"], 3);
        assert!(run["run"]["message"].is_string());
    }
}

#[test]
fn the_bench_binary_checks_without_flags_and_refuses_unknown_ones() {
    let bin = components_bin();
    let check = Command::new(bin).output().unwrap();
    assert!(check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    for name in BENCHMARKS {
        assert!(stderr.contains(&format!("{name}: ok")), "{stderr}");
    }
    let bad = Command::new(bin).arg("--nope").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--nope"));
}

#[test]
fn the_bench_binary_lists_and_runs_one_benchmark_for_counting() {
    let bin = components_bin();
    let list = Command::new(bin).arg("--list").output().unwrap();
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(names, BENCHMARKS);
    let some = Command::new(bin)
        .args(["--list", "--filter", "decide_"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&some.stdout)
            .lines()
            .collect::<Vec<_>>(),
        DECIDE
    );

    // One benchmark by its exact name, untimed: no JSON, just the iterations.
    let one = Command::new(bin)
        .args(["--iterations", "3", "--filter", "decide_weighted"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&one.stderr);
    assert!(one.status.success(), "{stderr}");
    assert_eq!(stderr.trim(), "decide_weighted: 3 iterations");
    assert!(one.stdout.is_empty());

    // A name that is only part of one, or none, or no name at all: refused (exit 2).
    for args in [
        &["--iterations", "3", "--filter", "decide"][..],
        &["--iterations", "3"][..],
        &["--iterations", "0", "--filter", "decide_weighted"][..],
    ] {
        let out = Command::new(bin).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Whether the working tree's router sources are HEAD's, so that `--against HEAD` runs one
/// bench for both sides; otherwise the paired test would build a release reference (minutes).
fn router_sources_are_heads(test: &str) -> bool {
    let same = Command::new("git")
        .args([
            "diff",
            "--quiet",
            "HEAD",
            "--",
            "router/src",
            "router/policies",
        ])
        .args(["router/Cargo.toml", "Cargo.toml", "Cargo.lock"])
        .current_dir(root())
        .status()
        .is_ok_and(|s| s.success());
    if !same {
        eprintln!(
            "\n*** SKIP {test}: the router's sources differ from HEAD, so --against HEAD would \
             build a release reference; commit them to run it ***\n"
        );
    }
    same
}

/// `perf-gate --workload components --against HEAD`: both sides counted on this machine in
/// one session (the same bench, HEAD having the working tree's router sources), two run
/// files that name each other, and an A/A verdict that passes on the counts alone.
#[test]
fn components_gate_runs_paired_and_counted() {
    let test = "components_gate_runs_paired_and_counted";
    if !have_valgrind(test) || !router_sources_are_heads(test) {
        return;
    }
    let bin = components_bin();
    let dir = tempfile::tempdir().unwrap();
    // The decide benchmarks only (the 100k stores take seconds to build in a debug bench
    // under callgrind), judged by the shipped policy's rules for them.
    let mut policy: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("perf/policy_components.json")).unwrap(),
    )
    .unwrap();
    let rules = policy["rules"].as_object_mut().unwrap();
    rules.retain(|metric, _| metric.starts_with("component_decide_"));
    assert_eq!(rules.len(), DECIDE.len());
    let policy_path = dir.path().join("policy.json");
    std::fs::write(&policy_path, policy.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-gate", "--workload", "components", "--against", "HEAD"])
        .args(["--no-build", "--trials", "0", "--components-bin"])
        .arg(bin)
        .arg("--policy")
        .arg(&policy_path)
        .arg("--artifacts-dir")
        .arg(dir.path())
        .env("PERF_COMPONENTS_COUNT_ITERS", COUNT_ITERS)
        .env("PERF_COMPONENTS_FILTER", "decide_")
        .env_remove("CANDIDATE_FILE")
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("one bench serves both sides"), "{stderr}");
    let read = |prefix: &str| -> Value {
        let path = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(prefix) && name.ends_with(".json")
            })
            .unwrap_or_else(|| panic!("no {prefix}*.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let (reference, candidate) = (read("perf_reference_"), read("perf_baseline_"));
    assert_eq!(
        candidate["paired"]["reference_file"]
            .as_str()
            .map(|f| f.starts_with("perf_reference_")),
        Some(true)
    );
    assert_eq!(reference["git"]["ref"], "HEAD");
    for name in DECIDE {
        let metric = format!("component_{name}_ir");
        let (r, c) = (
            reference["metrics"][&metric].as_f64(),
            candidate["metrics"][&metric].as_f64(),
        );
        assert!(r > Some(0.0), "{metric}");
        // The same binary counted twice: the same count, or within a hair of it.
        let (r, c) = (r.unwrap(), c.unwrap());
        assert!((c / r - 1.0).abs() < 0.01, "{metric}: {r} vs {c}");
        assert!(stdout.contains(&metric), "{stdout}");
    }
    // `--trials 0`: counts only, no wall-clock samples; the filter: no other benchmark.
    assert_eq!(
        candidate["metrics"].as_object().unwrap().len(),
        DECIDE.len(),
        "{}",
        candidate["metrics"]
    );
}

/// Without valgrind the components gate cannot decide, and says so before building anything.
#[test]
fn components_gate_without_valgrind_is_bad_input_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-gate", "--workload", "components", "--against", "HEAD"])
        .arg("--artifacts-dir")
        .arg(dir.path())
        .env("PATH", dir.path())
        .env_remove("CANDIDATE_FILE")
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apt-get install valgrind"), "{stderr}");
}

#[test]
fn the_committed_policy_and_baseline_cover_every_benchmark() {
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(root().join("perf").join(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let policy = read("policy_components.json");
    let baseline = read("baseline_components.json");
    assert_eq!(baseline["workload"], "components");
    assert_eq!(baseline["env"]["profile"], "release");
    // The counts decide; the wall-clock ns do not compare across machines and are not gated.
    for name in BENCHMARKS {
        let metric = format!("component_{name}_ir");
        let bound = policy["rules"][&metric]["relative"]["max_pct_increase"].as_f64();
        assert!(bound.is_some_and(|b| b > 0.0 && b <= 5.0), "{metric}");
        assert!(
            baseline["metrics"][&metric].as_f64() > Some(0.0),
            "{metric}"
        );
        assert!(policy["rules"][&format!("component_{name}_ns")].is_null());
    }
    assert_eq!(policy["rules"].as_object().unwrap().len(), BENCHMARKS.len());
    assert_eq!(policy["gate"]["always_paired"], true);
    assert!(baseline["git"]["commit"].is_string());
}
