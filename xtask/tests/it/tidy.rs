//! Consistency of the registry, the docs and the shipped files (rust-analyzer's tidy, in
//! small): a metric, a workload or a policy cannot be added in one place and forgotten in
//! another.

use std::path::{Path, PathBuf};

use xtask::model::metric::{METRICS, unknown};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json_files(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".json")
        })
        .collect();
    out.sort();
    out
}

/// Every metric of the registry is documented in perf/README.md's "Metrics" table.
#[test]
fn every_metric_is_documented() {
    let readme = std::fs::read_to_string(root().join("perf/README.md")).unwrap();
    let table = &readme[readme.find("## Metrics").expect("a Metrics section")..];
    let missing: Vec<&str> = METRICS
        .iter()
        .map(|m| m.name)
        .filter(|name| !table.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in perf/README.md, \"Metrics\": {missing:?}"
    );
}

/// Every metric a committed baseline records is one the registry knows.
#[test]
fn every_recorded_metric_is_known() {
    let mut problems = Vec::new();
    for path in json_files("perf", "baseline_") {
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for metric in run["metrics"].as_object().unwrap().keys() {
            if let Some(why) = unknown(metric) {
                problems.push(format!("{}: {why}", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Every shipped workload has its own policy and baseline (`-` written `_` in file names).
#[test]
fn every_workload_has_its_own_policy_and_baseline() {
    let mut missing = Vec::new();
    for path in json_files("perf/workloads", "") {
        let stem = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        for kind in ["policy", "baseline"] {
            let file = root().join(format!("perf/{kind}_{stem}.json"));
            if !file.is_file() {
                missing.push(file.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// The metrics of a run file that the registry does not know, each with the nearest known
/// name: the scenario and bench tests call it on every run they make, so that a metric the
/// code emits cannot miss the registry.
pub(crate) fn unknown_metrics(run: &serde_json::Value) -> Vec<String> {
    run["metrics"]
        .as_object()
        .map(|m| m.keys().filter_map(|k| unknown(k)).collect())
        .unwrap_or_default()
}
