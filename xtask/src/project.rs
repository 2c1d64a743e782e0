//! Where the workspace is: its root, its target directory, the tools it runs.

use std::path::PathBuf;

/// The workspace root (the parent of the xtask crate).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
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
    let built = crate::project::root();
    if built.join("perf").is_dir() {
        built
    } else {
        cwd
    }
}
