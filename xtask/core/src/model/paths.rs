//! Where things are: the workspace root, its target directory and cargo; `perf/` and the
//! default baseline, policy and workload files; the artifacts directory and unique stamps.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The workspace root (above xtask/core).
pub fn root() -> PathBuf {
    // This crate is xtask/core: the workspace is two levels up.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or(manifest.clone(), PathBuf::from)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => root().join("target"),
    }
}

/// The cargo that runs us (`$CARGO`), so the same toolchain builds the router.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Where `perf/` is read from: the current directory when it has `perf/` (running from the root, or
/// tests that lay out their own), else the workspace xtask was built in.
pub fn perf_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if cwd.join("perf").is_dir() {
        return cwd;
    }
    let built = root();
    if built.join("perf").is_dir() {
        built
    } else {
        cwd
    }
}

/// The baseline and policy files: the given ones, else `perf/baseline_<workload>.json` and
/// `perf/policy_<workload>.json` (falling back to `perf/policy_cp1.json`).
pub fn default_inputs(
    root: &Path,
    workload: &str,
    baseline: Option<&Path>,
    policy: Option<&Path>,
) -> (PathBuf, PathBuf) {
    let perf = root.join("perf");
    // File names use `_` where workload names use `-` (`cp1-nats` -> baseline_cp1_nats.json).
    let stem = workload.replace('-', "_");
    let baseline = baseline
        .map(Path::to_path_buf)
        .unwrap_or_else(|| perf.join(format!("baseline_{stem}.json")));
    let policy = policy.map(Path::to_path_buf).unwrap_or_else(|| {
        let own = perf.join(format!("policy_{stem}.json"));
        if own.is_file() {
            own
        } else {
            perf.join("policy_cp1.json")
        }
    });
    (baseline, policy)
}

/// Like perf-bench: a relative artifacts directory is under the workspace root, so every
/// command's artifacts land next to the bench's wherever the command is started.
pub fn artifacts_dir(root: &Path, dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        root.join(dir)
    }
}

/// The workload's name for default file names: `--workload` is a name (`cp1`) or, as for
/// perf-bench, a path to a workload file (`perf/workloads/quick.json` is named `quick`).
pub fn workload_name(arg: &str) -> Result<String> {
    let name = if arg.ends_with(".json") || arg.contains('/') {
        Path::new(arg)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
    } else {
        arg
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!(
            "--workload: expected a name like `cp1` (letters, digits, `_`, `-`) or a workload file, got {arg:?}"
        );
    }
    Ok(name.to_string())
}

/// `--workload` is a name under `perf/workloads/`, or a path to a `.json` file.
pub fn resolve_workload(root: &Path, name: &str) -> PathBuf {
    if name.ends_with(".json") || name.contains('/') {
        PathBuf::from(name)
    } else {
        crate::model::workload::Workload::path_for(root, name)
    }
}
