//! Consistency of the registry, the docs and the shipped files (rust-analyzer's tidy, in
//! small): a metric, a workload or a policy cannot be added in one place and forgotten in
//! another.

use std::collections::{BTreeMap, BTreeSet};
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

/// The modules of a crate's `src` directory, by path (`crate::bench::session`), with their
/// source up to the first `#[cfg(test)]` (tests may import what they like).
fn modules(src: &Path, krate: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = std::iter::once(krate.to_string())
                .chain(rel.iter().map(|p| p.to_string_lossy().into_owned()))
                .collect();
            if ["mod", "lib", "main"].contains(&parts.last().unwrap().as_str()) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap().to_string();
            out.insert(parts.join("::"), text);
        }
    }
    out
}

/// Every path a module's source names from `crate::`, `super::` or `perf_core::`, with `use`
/// groups (`use crate::a::{b, c::d}`) expanded, as segments.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "perf_core::"]
            .iter()
            .any(|p| text_at(&bytes, i, p))
            && (i == 0 || !ident(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        i = collect_path(&bytes, i, Vec::new(), &mut out);
    }
    out
}

fn text_at(chars: &[char], at: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(at + k) == Some(&c))
}

/// Reads `a::b::{c, d::e}` from `at`, pushing each full path (after `prefix`) to `out`;
/// returns where it stopped.
fn collect_path(
    chars: &[char],
    mut at: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut path = prefix;
    loop {
        while chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        if chars.get(at) == Some(&'{') {
            at += 1;
            loop {
                at = collect_path(chars, at, path.clone(), out);
                while chars
                    .get(at)
                    .is_some_and(|c| c.is_whitespace() || *c == ',')
                {
                    at += 1;
                }
                if chars.get(at) != Some(&'}') && at < chars.len() && ident(chars[at]) {
                    continue;
                }
                return at + 1;
            }
        }
        let start = at;
        while chars.get(at).is_some_and(|c| ident(*c)) {
            at += 1;
        }
        if at == start {
            break;
        }
        path.push(chars[start..at].iter().collect());
        if text_at(chars, at, "::") {
            at += 2;
        } else {
            break;
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    at
}

/// The module a path names from `module`: its longest prefix that is a module.
fn resolve(path: &[String], module: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let here: Vec<&str> = module.split("::").collect();
    let mut full: Vec<String> = match path[0].as_str() {
        "super" => here[..here.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        // xtask re-exports perf-core's layers (`crate::model` is `perf_core::model`).
        "crate" if here[0] == "perf_core" => vec!["perf_core".into()],
        "crate"
            if path
                .get(1)
                .is_some_and(|p| ["model", "gate", "exit"].contains(&p.as_str())) =>
        {
            vec!["perf_core".into()]
        }
        other => vec![other.to_string()],
    };
    full.extend(path[1..].iter().filter(|s| *s != "self").cloned());
    (1..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|m| known.contains_key(m))
}

/// No module imports one that imports it back, directly or through others (xtask and
/// perf-core, tests aside): the layers and the modules in them read one way.
#[test]
fn no_import_circle() {
    let mut known = modules(&root().join("xtask/src"), "crate");
    known.extend(modules(&root().join("xtask/core/src"), "perf_core"));
    let edges: BTreeMap<&String, BTreeSet<String>> = known
        .iter()
        .map(|(m, text)| {
            let to = named_paths(text)
                .iter()
                .filter_map(|p| resolve(p, m, &known))
                .filter(|t| t != m)
                .collect();
            (m, to)
        })
        .collect();
    // Depth-first, keeping the path: a module met again on it closes a circle.
    fn visit<'a>(
        m: &'a String,
        edges: &'a BTreeMap<&String, BTreeSet<String>>,
        path: &mut Vec<&'a String>,
        done: &mut BTreeSet<&'a String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == m) {
            let mut circle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            circle.push(m.clone());
            return Some(circle);
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for t in edges.get(m).into_iter().flatten() {
            let (t, _) = edges.get_key_value(t)?;
            if let Some(c) = visit(t, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(circle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
    // The walk saw the layers' real imports (a parse that found none would pass anything).
    assert!(
        edges[&"crate::commands::perf_gate::measure".to_string()].contains("crate::bench::session")
    );
    assert!(edges[&"perf_core::gate::evaluate".to_string()].contains("perf_core::model::policy"));
}
