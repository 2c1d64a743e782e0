//! Suites: named sets of workloads that `--suite` runs together, each judged on its own.

use anyhow::Result;

use crate::model::workload::Workload;

/// The workload name of the in-process component benchmarks (no workload file: the router's
/// `components` bench defines them).
pub const COMPONENTS: &str = "components";

/// A named set of workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// In-process benchmarks of the router's parts.
    Components,
    /// Every workload under perf/workloads with a `scenario`.
    Scenarios,
    /// Every workload under perf/workloads, then the components.
    All,
}

/// The workload names of `suite`, in the order they run.
pub fn workloads(suite: Suite) -> Result<Vec<String>> {
    if suite == Suite::Components {
        return Ok(vec![COMPONENTS.to_string()]);
    }
    let dir = crate::model::paths::perf_root().join("perf/workloads");
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(&dir).map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let workload = Workload::load(&path)?;
        if suite == Suite::All || workload.scenario.is_some() {
            names.push(workload.name);
        }
    }
    names.sort();
    if suite == Suite::All {
        names.push(COMPONENTS.to_string());
    }
    Ok(names)
}
