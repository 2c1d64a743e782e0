//! `perf-bench --suite components`: the in-process component benchmarks and their artifact.
//! The bench is a debug build with a fraction of a millisecond per sample, so the tests stay
//! quick; the numbers are meaningless, the shape is what is checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use super::bench::{artifacts, root, serial};

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
        .output()
        .expect("running xtask")
}

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

#[test]
fn component_benchmarks_produce_samples() {
    let bin = components_bin();
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = bench(dir.path(), bin, &["--trials", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
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
    assert_eq!(
        run["metrics"].as_object().unwrap().len(),
        BENCHMARKS.len(),
        "{}",
        run["metrics"]
    );

    // The gate reads it: a run judged against itself under the shipped policy passes.
    let file = std::fs::read_dir(dir.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("perf_baseline_")
        })
        .unwrap();
    let gate = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-gate", "--workload", "components", "--candidate"])
        .arg(&file)
        .arg("--baseline")
        .arg(&file)
        .arg("--policy")
        .arg(root().join("perf/policy_components.json"))
        .arg("--artifacts-dir")
        .arg(dir.path().join("gate"))
        .output()
        .unwrap();
    assert_eq!(
        gate.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&gate.stdout),
        String::from_utf8_lossy(&gate.stderr)
    );
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
fn components_cannot_run_paired() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf-gate", "--workload", "components", "--against", "HEAD"])
        .arg("--artifacts-dir")
        .arg(dir.path())
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot run paired"), "{stderr}");
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
    for name in BENCHMARKS {
        let metric = format!("component_{name}_ns");
        assert!(
            policy["rules"][&metric]["relative"]["max_pct_increase"].is_number(),
            "{metric}"
        );
        assert!(
            baseline["metrics"][&metric].as_f64() > Some(0.0),
            "{metric}"
        );
        assert_eq!(
            baseline["samples"][&metric].as_array().map(Vec::len),
            Some(20)
        );
    }
    assert_eq!(policy["rules"].as_object().unwrap().len(), BENCHMARKS.len());
}
