//! Where things are: the workspace root, its target directory and cargo; `perf/` and the
//! default baseline, policy and workload files; the artifacts directory and unique stamps.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The workspace root: the nearest ancestor of the current directory whose `Cargo.toml` has
/// a `[workspace]` table and an `xtask/` beside it, else the one xtask was compiled in. Not
/// the compile-time path first: a shared `target/` (one `CARGO_TARGET_DIR` for two clones, a
/// restored CI cache, git worktrees) runs a binary compiled in another checkout.
pub fn root() -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| workspace_above(&cwd))
        .unwrap_or_else(compiled_root)
}

/// The nearest ancestor of `dir` (itself included) that is this project's workspace root.
fn workspace_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| {
            d.join("xtask").is_dir()
                && std::fs::read_to_string(d.join("Cargo.toml"))
                    .is_ok_and(|toml| toml.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

/// The workspace xtask was compiled in (this crate is xtask/core: two levels up).
fn compiled_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or(manifest.clone(), PathBuf::from)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    // An absolute directory replaces the root in `join`.
    root().join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or("target".into()))
}

/// The cargo that runs us (`$CARGO`), so the same toolchain builds the router.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Where `perf/` is read from: the current directory when it has `perf/` (running from the root, or
/// tests that lay out their own), else the workspace the command runs in ([`root`]).
pub fn perf_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    [cwd.clone(), root()]
        .into_iter()
        .find(|dir| dir.join("perf").is_dir())
        .unwrap_or(cwd)
}

/// Where a command's files are: the workspace, the workload's name, its baseline and policy
/// (the given ones, else `perf/baseline_<workload>.json` and `perf/policy_<workload>.json`)
/// and the artifacts directory. Every command that reads a workload's files resolves them
/// here, once.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub root: PathBuf,
    pub workload: String,
    pub baseline: PathBuf,
    pub policy: PathBuf,
    pub artifacts: PathBuf,
}

impl Inputs {
    /// `workload` as `--workload` takes it (a name or a workload file's path); `baseline` and
    /// `policy` as given on the command line; `artifacts` relative to the workspace unless
    /// absolute.
    pub fn resolve(
        workload: &str,
        baseline: Option<&Path>,
        policy: Option<&Path>,
        artifacts: &Path,
    ) -> Result<Inputs> {
        let root = perf_root();
        let workload = workload_name(workload)?;
        // File names use `_` where workload names use `-` (`cp1-nats` -> baseline_cp1_nats.json).
        // A workload is judged by its own policy, never silently by another's: a missing one is
        // an error when it is read (`policy::load`), naming the file to write or `--policy`.
        let default = |given: Option<&Path>, kind: &str| {
            let stem = workload.replace('-', "_");
            given.map_or_else(|| root.join(format!("perf/{kind}_{stem}.json")), Into::into)
        };
        Ok(Inputs {
            baseline: default(baseline, "baseline"),
            policy: default(policy, "policy"),
            artifacts: artifacts_dir(&root, artifacts),
            root,
            workload,
        })
    }
}

/// Like perf-bench: a relative artifacts directory is under the workspace root, so every
/// command's artifacts land next to the bench's wherever the command is started.
pub fn artifacts_dir(root: &Path, dir: &Path) -> PathBuf {
    root.join(dir) // an absolute `dir` replaces `root`
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

/// `--workload` is a name (`perf/workloads/<name>.json` under `root`), or a path to a `.json`
/// file.
pub fn resolve_workload(root: &Path, name: &str) -> PathBuf {
    if name.ends_with(".json") || name.contains('/') {
        PathBuf::from(name)
    } else {
        root.join(format!("perf/workloads/{name}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::workspace_above;

    #[test]
    fn the_workspace_is_found_from_where_the_command_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let clone = tmp.path().join("clone");
        std::fs::create_dir_all(clone.join("xtask/src")).unwrap();
        std::fs::create_dir_all(clone.join("router/src")).unwrap();
        std::fs::write(clone.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        // A member's own manifest has no [workspace]: the search goes on up.
        std::fs::write(
            clone.join("router/Cargo.toml"),
            "[package]\nname = \"router\"\n",
        )
        .unwrap();

        assert_eq!(
            workspace_above(&clone.join("router/src")),
            Some(clone.clone())
        );
        assert_eq!(workspace_above(&clone), Some(clone.clone()));
        // Another workspace (no xtask/ beside it) is not ours.
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("Cargo.toml"), "[workspace]\n").unwrap();
        assert_eq!(workspace_above(&other), None);
    }
}
