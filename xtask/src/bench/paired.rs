//! The reference side of paired mode: build a git ref's router in a temporary worktree, once
//! per commit, so `perf-gate --against REF` can run it alternately with the working tree's.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::bench::session::Pairing;
use crate::flags::BenchArgs;

/// What decides the router binary: when none of these differ between the reference commit
/// and the working tree, both sides are the same program, and one build serves both.
const ROUTER_SOURCES: [&str; 4] = ["router", "Cargo.toml", "Cargo.lock", ".cargo"];

/// Resolves `against` to a commit and returns its release router: the working tree's own
/// build when the commit's router sources are the working tree's (building it again would
/// only cost minutes), else a build of the commit, made once per commit. Builds share one
/// target directory (`target/paired/build`), so a second ref rebuilds only what changed.
pub fn reference(sh: &Shell, against: &str, bench: &BenchArgs) -> Result<Pairing> {
    let commit = resolve(sh, "--against", against)?;
    if bench.router_bin.is_none() && same_sources(sh, &commit) {
        eprintln!(
            "perf-gate: {against} ({}) has the working tree's router sources ({}): both sides \
             run the working tree's build",
            short(&commit),
            ROUTER_SOURCES.join(", ")
        );
        return Ok(Pairing {
            against: against.to_string(),
            commit,
            reference_bin: crate::model::paths::target_dir()
                .join("release")
                .join("router"),
        });
    }
    let reference_bin = router_of(sh, &commit, false)?;
    Ok(Pairing {
        against: against.to_string(),
        commit,
        reference_bin,
    })
}

/// Resolves `r` (a branch, tag or sha) to a full commit id in `sh`'s repository; `flag`
/// names where it came from in the error.
pub fn resolve(sh: &Shell, flag: &str, r: &str) -> Result<String> {
    let spec = format!("{r}^{{commit}}");
    let commit = cmd!(sh, "git rev-parse --verify --quiet {spec}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .filter(|c| !c.trim().is_empty())
        .with_context(|| {
            format!("{flag} {r}: not a commit in this repository (try a branch, tag or sha)")
        })?;
    Ok(commit.trim().to_string())
}

/// `commit`'s router, built in a temporary worktree of `sh`'s repository once per commit and
/// profile (`target/paired/routers/<commit>/router`, `router-debug` for `debug`, the dev
/// profile: much faster to build, for tests). Builds share one target directory
/// (`target/paired/build`), so a second commit rebuilds only what changed.
pub fn router_of(sh: &Shell, commit: &str, debug: bool) -> Result<PathBuf> {
    let paired_dir = crate::model::paths::target_dir().join("paired");
    let name = if debug { "router-debug" } else { "router" };
    let cached = paired_dir.join("routers").join(commit).join(name);
    if cached.is_file() {
        eprintln!("reusing the router built for {}", short(commit));
    } else {
        build(sh, commit, &paired_dir, &cached, debug)?;
    }
    Ok(cached)
}

/// True when no router source differs between `commit` and the working tree, uncommitted
/// and untracked files included.
fn same_sources(sh: &Shell, commit: &str) -> bool {
    let sources = ROUTER_SOURCES;
    let unchanged = cmd!(sh, "git diff --quiet {commit} -- {sources...}")
        .quiet()
        .ignore_stderr()
        .run()
        .is_ok();
    let untracked = cmd!(
        sh,
        "git ls-files --others --exclude-standard -- {sources...}"
    )
    .quiet()
    .ignore_stderr()
    .read();
    unchanged && untracked.is_ok_and(|u| u.trim().is_empty())
}

fn build(sh: &Shell, commit: &str, paired_dir: &Path, dest: &Path, debug: bool) -> Result<()> {
    let tmp = tempfile::tempdir().context("creating a directory for the worktree")?;
    let worktree = tmp.path().join("ref");
    let profile = if debug { "debug" } else { "release" };
    eprintln!(
        "building the router of {} ({profile}) in a temporary worktree",
        short(commit)
    );
    cmd!(sh, "git worktree add --detach --quiet {worktree} {commit}")
        .quiet()
        .run()
        .with_context(|| format!("git worktree add for {commit}"))?;
    let _cleanup = WorktreeGuard {
        sh,
        path: worktree.clone(),
    };
    let target = paired_dir.join("build");
    let cargo = crate::model::paths::cargo();
    let manifest = worktree.join("Cargo.toml");
    let release = (!debug).then_some("--release");
    let built = cmd!(
        sh,
        "{cargo} build {release...} --quiet -p router --manifest-path {manifest}"
    )
    .env("CARGO_TARGET_DIR", &target)
    .run();
    built.with_context(|| {
        format!("building the router of {commit} (does that commit have a `router` package?)")
    })?;
    let bin = target.join(profile).join("router");
    if !bin.is_file() {
        bail!(
            "building {commit} left no router binary at {}",
            bin.display()
        );
    }
    let dir = dest.parent().expect("dest has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Copy, then rename: a half-copied binary must never look like a finished build.
    let partial = dir.join("router.partial");
    std::fs::copy(&bin, &partial).with_context(|| format!("copying {}", bin.display()))?;
    std::fs::rename(&partial, dest).with_context(|| format!("placing {}", dest.display()))?;
    Ok(())
}

/// Removes the worktree (and git's record of it) however the build ends.
struct WorktreeGuard<'a> {
    sh: &'a Shell,
    path: PathBuf,
}

impl Drop for WorktreeGuard<'_> {
    fn drop(&mut self) {
        let path = &self.path;
        let _ = cmd!(self.sh, "git worktree remove --force {path}")
            .quiet()
            .ignore_stderr()
            .run();
        let _ = cmd!(self.sh, "git worktree prune")
            .quiet()
            .ignore_stderr()
            .run();
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}
