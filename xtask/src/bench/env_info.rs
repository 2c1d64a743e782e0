//! The environment a run was measured in, pinned into every artifact so two runs can be
//! compared knowingly: git state, toolchain, CPU, kernel, OS, memory.

use std::path::Path;

use anyhow::{Context, Result, bail};
use procfs::{CpuInfo, Current, Meminfo};
use serde_json::{Value, json};

use crate::model::run_file::{Env, Git};
use xshell::{Shell, cmd};

/// `cmd` neither echoed nor letting its stderr through.
pub(crate) fn silent(cmd: xshell::Cmd<'_>) -> xshell::Cmd<'_> {
    cmd.quiet().ignore_stderr()
}

/// A shell in the workspace root.
pub(crate) fn root_shell() -> Result<Shell> {
    let sh = Shell::new().context("creating a shell")?;
    sh.change_dir(crate::model::paths::root());
    Ok(sh)
}

/// Git commit and whether the work tree had uncommitted changes.
pub fn git(sh: &Shell) -> Git {
    let commit = silent(cmd!(sh, "git rev-parse HEAD")).read().ok();
    let dirty = silent(cmd!(sh, "git status --porcelain --untracked-files=no"))
        .read()
        .map(|s| !s.trim().is_empty())
        .ok();
    Git {
        commit: commit.map(|c| c.trim().to_string()),
        dirty,
        reference: None,
    }
}

/// `cmd` without stdin, its output captured, its exit status left to the caller.
pub(crate) fn captured(cmd: duct::Expression) -> duct::Expression {
    cmd.stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
}

/// `program --version`; an error with `install_hint` when it is not on PATH or says nothing.
pub(crate) fn version_of(program: &str, install_hint: &str) -> Result<String> {
    let out = captured(duct::cmd!(program, "--version"))
        .run()
        .with_context(|| format!("`{program}` is not on PATH; install it: `{install_hint}`"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || text.is_empty() {
        bail!("`{program} --version` failed; reinstall it: `{install_hint}`");
    }
    Ok(text)
}

/// The machine and toolchain. `extra` (load settings, affinity, router flags, ...) is merged in.
pub fn machine(sh: &Shell, extra: serde_json::Map<String, Value>) -> Env {
    let cargo = crate::model::paths::cargo();
    let rustc = silent(cmd!(sh, "rustc -V")).read().ok();
    let cargo_v = silent(cmd!(sh, "{cargo} -V")).read().ok();
    let cpuinfo = CpuInfo::current().ok();
    let cpu_model = cpuinfo
        .as_ref()
        .and_then(|c| c.model_name(0))
        .map(str::to_string);
    let cpu_count = cpuinfo.map_or(0, |c| c.num_cores());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_string());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    let mem_total_mb = Meminfo::current().ok().map(|m| m.mem_total / 1024 / 1024);
    let mut env = json!({
        "rustc": rustc,
        "cargo": cargo_v,
        "profile": "release",
        "cpu_model": cpu_model,
        "cpu_count": cpu_count,
        "cpus_allowed": crate::bench::affinity::allowed_cpus().len(),
        "kernel": kernel,
        "os": os,
        "arch": std::env::consts::ARCH,
        "mem_total_mb": mem_total_mb,
        "ci": std::env::var("CI").is_ok(),
    });
    let map = env.as_object_mut().expect("object literal");
    map.extend(extra);
    let fingerprint = fingerprint(map);
    map.insert("fingerprint".into(), fingerprint.into());
    serde_json::from_value(env).expect("the fields written here have the types Env reads")
}

/// `release` or `debug` from where cargo put the binary (`target/<profile>/...`), or the
/// name a paired debug build is cached under (`router-debug`), when the path says.
pub(crate) fn profile_of(bin: &Path) -> Option<&'static str> {
    let parts: Vec<_> = bin.components().map(|c| c.as_os_str()).collect();
    let debug_build = bin
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("-debug"));
    if parts.iter().any(|p| *p == "release") {
        Some("release")
    } else if debug_build || parts.iter().any(|p| *p == "debug") {
        Some("debug")
    } else {
        None
    }
}

/// Fields that make two environments not comparable, hashed into a short identifier.
pub(crate) const FINGERPRINT_FIELDS: [&str; 6] =
    ["cpu_model", "cpu_count", "kernel", "os", "rustc", "profile"];

fn fingerprint(env: &serde_json::Map<String, Value>) -> String {
    // FNV-1a over the canonical field text: stable across runs and builds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for key in FINGERPRINT_FIELDS {
        let text = format!("{key}={};", env.get(key).unwrap_or(&Value::Null));
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;
