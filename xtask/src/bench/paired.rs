//! The reference side of paired mode: a git ref's router built in a temporary worktree, once
//! per router sources, for `perf-gate --against REF`; and for the component benchmarks, the
//! ref's router in the working tree's bench harness (`components_of`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

use crate::bench::Options;
use crate::bench::env_info::silent;
use crate::bench::session::Pairing;
use crate::model::run_file::short_commit;

/// What goes into the router binary (sources, embedded policies, manifests, lock file, cargo's
/// configuration): when none differ between the reference commit and the working tree, one
/// build serves both sides. Tests, benches and docs are not here.
const ROUTER_SOURCES: [&str; 7] = [
    "router/src",
    "router/policies",
    "router/Cargo.toml",
    "router/build.rs",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
];

/// Resolves `against` to a commit and returns its release router: the working tree's build
/// when the router sources are the same (a rebuild would only cost minutes), else
/// [`router_of`] the commit.
pub fn reference(sh: &Shell, against: &str, bench: &Options) -> Result<Pairing> {
    let commit = resolve(sh, "--against", against)?;
    let reference_bin = if bench.router_bin.is_none() && same_sources(sh, &commit) {
        eprintln!(
            "perf-gate: {against} ({}) has the working tree's router sources ({}): both sides \
             run the working tree's build",
            short_commit(&commit),
            ROUTER_SOURCES.join(", ")
        );
        crate::model::paths::target_dir().join("release/router")
    } else {
        router_of(sh, &commit, false)?
    };
    Ok(Pairing {
        against: against.to_string(),
        commit,
        reference_bin,
    })
}

/// Resolves `r` (a branch, tag or sha) to a full commit id in `sh`'s repository; `flag`
/// names where it came from in the error.
///
/// A shallow clone (CI's default) lacks the baseline's commit: when `r` is a full sha and a
/// remote is configured, that commit alone is fetched (`--depth=1`: its tree is all a build
/// needs); otherwise the error says how to get the history.
pub fn resolve(sh: &Shell, flag: &str, r: &str) -> Result<String> {
    if let Some(commit) = rev_parse(sh, r) {
        return Ok(commit);
    }
    let shallow = silent(cmd!(sh, "git rev-parse --is-shallow-repository"))
        .read()
        .is_ok_and(|s| s.trim() == "true");
    if !shallow {
        bail!("{flag} {r}: not a commit in this repository (try a branch, tag or sha)");
    }
    let full_sha = r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit());
    let remote = silent(cmd!(sh, "git remote")).read().ok().and_then(|out| {
        let origin = out.lines().find(|r| *r == "origin");
        origin.or(out.lines().next()).map(str::to_string)
    });
    if let (true, Some(remote)) = (full_sha, &remote) {
        eprintln!("{flag} {r}: not in this shallow clone; fetching that one commit from {remote}");
        let fetched = cmd!(sh, "git fetch --quiet --no-tags --depth=1 {remote} {r}")
            .quiet()
            .run();
        if fetched.is_ok()
            && let Some(commit) = rev_parse(sh, r)
        {
            return Ok(commit);
        }
    }
    let tried = match (full_sha, remote) {
        (true, Some(remote)) => format!(" (fetching it from {remote} failed)"),
        (true, None) => " (no remote to fetch it from)".to_string(),
        (false, _) => String::new(),
    };
    bail!(
        "{flag} {r}: not in this clone, which is shallow: it has only the newest commits{tried}. \
         The gate builds that commit's router, so it needs the history: run `git fetch \
         --unshallow`, or clone with it (GitHub actions/checkout: `fetch-depth: 0`; GitLab: \
         `GIT_DEPTH: 0`)"
    )
}

/// `r` as a full commit id, when this repository has that commit.
fn rev_parse(sh: &Shell, r: &str) -> Option<String> {
    let spec = format!("{r}^{{commit}}");
    silent(cmd!(sh, "git rev-parse --verify --quiet {spec}"))
        .read()
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

/// `commit`'s router, built in a temporary worktree once per router sources, toolchain and
/// profile (`target/paired/routers/<sources>-<toolchain>/router`; `router-debug` for the
/// quicker dev profile, for tests), in one shared target directory (`target/paired/build`).
/// The toolchain is in the name because CI caches `target/`: a router cached under last
/// month's rustc would charge the compiler's difference to the change.
pub(crate) fn router_of(sh: &Shell, commit: &str, debug: bool) -> Result<PathBuf> {
    let paired_dir = crate::model::paths::target_dir().join("paired");
    let name = if debug { "router-debug" } else { "router" };
    let profile = if debug { "debug" } else { "release" };
    let key = format!("{}-{}", sources_key(sh, commit)?, toolchain_key(sh));
    let cached = paired_dir.join("routers").join(key).join(name);
    if cached.is_file() {
        eprintln!(
            "reusing the router built for {} (or a commit with the same router sources)",
            short_commit(commit)
        );
        return Ok(cached);
    }
    eprintln!(
        "building the router of {} ({profile}) in a temporary worktree",
        short_commit(commit)
    );
    let checkout = Worktree::add(sh, commit)?;
    let target = paired_dir.join("build");
    let cargo = crate::model::paths::cargo();
    let manifest = checkout.path.join("Cargo.toml");
    let release = (!debug).then_some("--release");
    cmd!(
        sh,
        "{cargo} build {release...} --quiet -p router --manifest-path {manifest}"
    )
    .env("CARGO_TARGET_DIR", &target)
    .run()
    .with_context(|| {
        format!("building the router of {commit} (does that commit have a `router` package?)")
    })?;
    let bin = target.join(profile).join("router");
    if !bin.is_file() {
        bail!(
            "building {commit} left no router binary at {}",
            bin.display()
        );
    }
    place(&bin, &cached, "router.partial")?;
    Ok(cached)
}

/// A short hash of `commit`'s router sources (git's ids of `ROUTER_SOURCES`): commits that
/// differ elsewhere share one build (keyed by commit, a suite whose baselines were bumped one
/// commit after another built one router per scenario).
fn sources_key(sh: &Shell, commit: &str) -> Result<String> {
    let sources = ROUTER_SOURCES;
    let listing = cmd!(sh, "git ls-tree {commit} -- {sources...}")
        .quiet()
        .read()
        .with_context(|| format!("listing the router sources of {commit}"))?;
    Ok(hex(&Sha256::digest(listing.as_bytes())[..8]))
}

/// A short hash of what else decides the binary besides the commit: the compiler
/// (`rustc -vV`: version, commit, host), the flags it is given, and the profile settings the
/// environment overrides (`CARGO_PROFILE_RELEASE_LTO=off` builds another binary from the same
/// sources; a cached router of the shipped profile must not stand in for it).
fn toolchain_key(sh: &Shell) -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = silent(cmd!(sh, "{rustc} -vV")).read().unwrap_or_default();
    toolchain_key_of(&version, std::env::vars())
}

fn toolchain_key_of(version: &str, env: impl Iterator<Item = (String, String)>) -> String {
    let mut hash = Sha256::new();
    hash.update(version.as_bytes());
    let mut vars: Vec<(String, String)> = env
        .filter(|(k, _)| {
            k == "RUSTFLAGS" || k == "CARGO_ENCODED_RUSTFLAGS" || k.starts_with("CARGO_PROFILE_")
        })
        .collect();
    vars.sort();
    for (k, v) in vars {
        hash.update([k.as_bytes(), &[0], v.as_bytes(), &[0]].concat());
    }
    hex(&hash.finalize()[..6])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when no router source differs between `commit` and the working tree, uncommitted
/// and untracked files included.
pub(crate) fn same_sources(sh: &Shell, commit: &str) -> bool {
    let sources = ROUTER_SOURCES;
    let unchanged = silent(cmd!(sh, "git diff --quiet {commit} -- {sources...}")).run();
    let untracked = silent(cmd!(
        sh,
        "git ls-files --others --exclude-standard -- {sources...}"
    ))
    .read();
    unchanged.is_ok() && untracked.is_ok_and(|u| u.trim().is_empty())
}

/// Copies a built binary to `dest`, through `partial` beside it and a rename: a half-copied
/// binary must never look like a finished build.
fn place(bin: &Path, dest: &Path, partial: &str) -> Result<()> {
    let dir = dest.parent().expect("dest has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = dir.join(partial);
    std::fs::copy(bin, &partial).with_context(|| format!("copying {}", bin.display()))?;
    std::fs::rename(&partial, dest).with_context(|| format!("placing {}", dest.display()))
}

/// The working tree's component harness: the bench and the fixtures module it includes.
const HARNESS: [&str; 2] = ["router/benches/components.rs", "router/benches/fixtures"];

/// `commit`'s router in the working tree's component harness (`HARNESS` copied over a
/// temporary worktree of the commit), built in release and cached in
/// `target/paired/components/<commit>-<harness>-<toolchain>/components`. The working tree's
/// harness, so both sides run the same operations (a changed benchmark is not the router's
/// doing, and a bench that predates counting still counts); a commit the harness no longer
/// compiles against is an error naming it.
pub(crate) fn components_of(sh: &Shell, commit: &str) -> Result<PathBuf> {
    let root = crate::model::paths::root();
    let harness = harness_key(&root)?;
    let paired_dir = crate::model::paths::target_dir().join("paired");
    let key = format!("{commit}-{harness}-{}", toolchain_key(sh));
    let cached = paired_dir.join("components").join(key).join("components");
    if cached.is_file() {
        eprintln!(
            "reusing the component bench built for {}",
            short_commit(commit)
        );
        return Ok(cached);
    }
    eprintln!(
        "building {}'s router in the working tree's component bench (release) in a temporary worktree",
        short_commit(commit)
    );
    let checkout = Worktree::add(sh, commit)?;
    let worktree = &checkout.path;
    for path in HARNESS {
        let (from, to) = (root.join(path), worktree.join(path));
        if to.is_dir() {
            std::fs::remove_dir_all(&to).with_context(|| format!("removing {}", to.display()))?;
        }
        copy_tree(&from, &to)?;
    }
    let target = paired_dir.join("build");
    let cargo = crate::model::paths::cargo();
    let manifest = worktree.join("Cargo.toml");
    let out = cmd!(
        sh,
        "{cargo} bench --quiet -p router --bench components --no-run --manifest-path {manifest} --message-format=json-render-diagnostics"
    )
    .env("CARGO_TARGET_DIR", &target)
    .read()
    .with_context(|| {
        format!(
            "building {commit}'s router with the working tree's component bench (does the \
             bench still compile against that commit's router API, and does its \
             router/Cargo.toml declare the `components` bench?)"
        )
    })?;
    let bin = executable_from_messages(&out)
        .with_context(|| format!("building {commit}'s component bench named no executable"))?;
    place(&bin, &cached, "components.partial")?;
    Ok(cached)
}

/// A short hash of the harness files' paths and contents in the working tree.
fn harness_key(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    for path in HARNESS {
        list_files(&root.join(path), &mut files)?;
    }
    files.sort();
    let mut hash = Sha256::new();
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.strip_prefix(root).unwrap_or(&f).to_string_lossy();
        hash.update([name.as_bytes(), &[0], &bytes, &[0]].concat());
    }
    Ok(hex(&hash.finalize()[..6]))
}

/// Every file under `path` (or `path` itself when it is a file).
fn list_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        list_files(&entry?.path(), out)?;
    }
    Ok(())
}

/// Copies the file or directory `from` to `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut files = Vec::new();
    list_files(from, &mut files)?;
    for f in files {
        let rel = f.strip_prefix(from).expect("listed under from");
        // `from` itself when it is a file: joining an empty path would add a slash.
        let dest = if rel.as_os_str().is_empty() {
            to.to_path_buf()
        } else {
            to.join(rel)
        };
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::copy(&f, &dest).with_context(|| format!("copying {}", f.display()))?;
    }
    Ok(())
}

/// `commit` checked out in a temporary git worktree, removed (with git's record of it) when
/// dropped, however the build that uses it ends.
struct Worktree<'a> {
    sh: &'a Shell,
    path: PathBuf,
    /// The worktree's directory, removed after it (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl<'a> Worktree<'a> {
    fn add(sh: &'a Shell, commit: &str) -> Result<Worktree<'a>> {
        let dir = tempfile::tempdir().context("creating a directory for the worktree")?;
        let path = dir.path().join("ref");
        cmd!(sh, "git worktree add --detach --quiet {path} {commit}")
            .quiet()
            .run()
            .with_context(|| format!("git worktree add for {commit}"))?;
        Ok(Worktree {
            sh,
            path,
            _dir: dir,
        })
    }
}

impl Drop for Worktree<'_> {
    fn drop(&mut self) {
        let path = &self.path;
        let _ = silent(cmd!(self.sh, "git worktree remove --force {path}")).run();
        let _ = silent(cmd!(self.sh, "git worktree prune")).run();
    }
}

/// The `executable` of the components bench in cargo's `--message-format=json` output.
pub(crate) fn executable_from_messages(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "components"
                && m["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_toolchain_key_changes_with_the_compiler_flags_and_profile_overrides() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
                .into_iter()
        };
        let plain = super::toolchain_key_of("rustc 1.95.0", env(&[("HOME", "/root")]));
        assert_eq!(plain, super::toolchain_key_of("rustc 1.95.0", env(&[])));
        assert_ne!(plain, super::toolchain_key_of("rustc 1.96.0", env(&[])));
        assert_ne!(
            plain,
            super::toolchain_key_of("rustc 1.95.0", env(&[("RUSTFLAGS", "-Ctarget-cpu=native")]))
        );
        let fast = env(&[
            ("CARGO_PROFILE_RELEASE_LTO", "off"),
            ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
        ]);
        let reordered = env(&[
            ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
            ("CARGO_PROFILE_RELEASE_LTO", "off"),
        ]);
        let fast = super::toolchain_key_of("rustc 1.95.0", fast);
        assert_ne!(plain, fast);
        assert_eq!(fast, super::toolchain_key_of("rustc 1.95.0", reordered));
    }

    use xshell::{Shell, cmd};

    /// A repository of three commits in `dir`; returns their shas, oldest first.
    fn origin_with_history(sh: &Shell, dir: &std::path::Path) -> Vec<String> {
        sh.change_dir(dir);
        cmd!(sh, "git init --quiet -b main").run().unwrap();
        let mut shas = Vec::new();
        for i in 0..3 {
            sh.write_file(dir.join("f"), format!("{i}")).unwrap();
            cmd!(sh, "git add f").run().unwrap();
            let message = format!("c{i}");
            cmd!(
                sh,
                "git -c user.name=t -c user.email=t@t commit --quiet -m {message}"
            )
            .run()
            .unwrap();
            shas.push(cmd!(sh, "git rev-parse HEAD").read().unwrap());
        }
        shas
    }

    #[test]
    fn only_what_goes_into_the_router_binary_needs_a_second_build() {
        let tmp = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        let repo = tmp.path();
        sh.change_dir(repo);
        for (path, text) in [
            ("Cargo.toml", "[workspace]\n"),
            ("router/Cargo.toml", "[package]\n"),
            ("router/src/main.rs", "fn main() {}\n"),
            ("router/policies/acme.json", "{}\n"),
            ("router/tests/it/main.rs", "\n"),
            ("router/BENCHMARKS.md", "\n"),
            ("xtask/src/main.rs", "\n"),
        ] {
            sh.write_file(repo.join(path), text).unwrap();
        }
        cmd!(sh, "git init --quiet -b main").run().unwrap();
        cmd!(sh, "git add .").run().unwrap();
        cmd!(
            sh,
            "git -c user.name=t -c user.email=t@t commit --quiet -m base"
        )
        .run()
        .unwrap();
        let base = cmd!(sh, "git rev-parse HEAD").read().unwrap();
        assert!(super::same_sources(&sh, &base));

        // Tests, docs and the harness are not in the binary.
        for path in [
            "router/tests/it/main.rs",
            "router/BENCHMARKS.md",
            "xtask/src/main.rs",
        ] {
            sh.write_file(repo.join(path), "// edited\n").unwrap();
        }
        sh.write_file(repo.join("router/tests/it/new.rs"), "\n")
            .unwrap();
        assert!(super::same_sources(&sh, &base), "a test-only edit rebuilt");

        // Sources, embedded policies, manifests are; so is a new, untracked source file.
        for path in [
            "router/src/main.rs",
            "router/policies/acme.json",
            "Cargo.toml",
        ] {
            let before = sh.read_file(repo.join(path)).unwrap();
            sh.write_file(repo.join(path), format!("{before}// edited\n"))
                .unwrap();
            assert!(
                !super::same_sources(&sh, &base),
                "{path} changed the binary"
            );
            sh.write_file(repo.join(path), before).unwrap();
        }
        sh.write_file(repo.join("router/src/new.rs"), "\n").unwrap();
        assert!(!super::same_sources(&sh, &base), "an untracked source file");
    }

    #[test]
    fn a_shallow_clone_fetches_the_one_commit_it_lacks_or_says_how_to_get_it() {
        let tmp = tempfile::tempdir().unwrap();
        let sh = Shell::new().unwrap();
        let origin = tmp.path().join("origin");
        std::fs::create_dir(&origin).unwrap();
        let shas = origin_with_history(&sh, &origin);
        // Fetching an unadvertised commit by sha is what hosted forges allow; a local origin
        // must be told to.
        cmd!(sh, "git config uploadpack.allowAnySHA1InWant true")
            .run()
            .unwrap();

        let clone = tmp.path().join("clone");
        let url = format!("file://{}", origin.display());
        cmd!(sh, "git clone --quiet --depth 1 {url} {clone}")
            .run()
            .unwrap();
        sh.change_dir(&clone);
        assert_eq!(
            super::rev_parse(&sh, &shas[0]),
            None,
            "the clone is shallow"
        );

        // A full sha is fetched from origin.
        assert_eq!(super::resolve(&sh, "--against", &shas[0]).unwrap(), shas[0]);

        // A name the clone does not have cannot be fetched by sha: the error says why and how.
        let err = super::resolve(&sh, "--against", "v0.9")
            .unwrap_err()
            .to_string();
        assert!(err.contains("shallow"), "{err}");
        assert!(err.contains("git fetch --unshallow"), "{err}");
        assert!(
            err.contains("fetch-depth: 0") && err.contains("GIT_DEPTH: 0"),
            "{err}"
        );

        // Without a remote, the same advice, and why the fetch was not tried.
        cmd!(sh, "git remote remove origin").run().unwrap();
        let err = super::resolve(&sh, "--against", &shas[1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no remote to fetch it from"), "{err}");

        // A full clone keeps the old message: the ref is not there at all.
        sh.change_dir(&origin);
        let err = super::resolve(&sh, "--against", "nope")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a commit in this repository"), "{err}");
    }
}
