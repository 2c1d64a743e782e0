//! Instruction counts that do not flake: the router under valgrind's callgrind for a fixed
//! request count, so `instructions_per_req` is the same for the same binary and input, where
//! wall-clock numbers on a shared machine move by tens of percent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::loadgen_process::{LoadError, LoadSpec, Loadgen};
use crate::router_process::{RouterProcess, RouterSpec};
use crate::workload::Model;

/// The install hint for a missing valgrind.
pub const INSTALL_HINT: &str = "apt-get install valgrind";

/// Which instruction counter `--counters` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counters {
    /// valgrind's callgrind: all of the router's threads, slow (about 50x) but exact.
    Callgrind,
}

impl Counters {
    pub fn as_str(self) -> &'static str {
        match self {
            Counters::Callgrind => "callgrind",
        }
    }
}

/// Counting runs per bench run: enough to show the spread, few enough to stay quick.
pub const MAX_RUNS: u32 = 3;

/// valgrind's version line; an error with the install hint when it is not on PATH.
pub fn valgrind_version() -> Result<String> {
    let out = duct::cmd!("valgrind", "--version")
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("`valgrind` is not on PATH; install it: `{INSTALL_HINT}`"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || text.is_empty() {
        bail!("`valgrind --version` failed; reinstall it: `{INSTALL_HINT}`");
    }
    Ok(text)
}

/// valgrind's full path from PATH: the router is started in a working directory, where a
/// bare program name would not be looked up the same way.
fn valgrind_path() -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("valgrind"))
        .find(|p| p.is_file())
        .with_context(|| format!("`valgrind` is not on PATH; install it: `{INSTALL_HINT}`"))
}

/// The total instruction count (`Ir`, the first event) from a callgrind out file: its
/// `totals:` line, or the `summary:` line when there is no `totals:`.
pub fn parse_total_ir(text: &str) -> Result<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| text.lines().find(|l| l.starts_with("summary:")))
        .context("callgrind output has no `totals:` or `summary:` line")?;
    let (_, rest) = line.split_once(':').expect("the line starts with a key");
    rest.split_whitespace()
        .next()
        .context("empty callgrind totals line")?
        .parse::<u64>()
        .with_context(|| format!("unreadable callgrind totals line `{line}`"))
}

/// What one counting run needs.
pub struct CountCtx<'a> {
    /// The release router (run under valgrind).
    pub router_bin: &'a Path,
    /// Extra router flags (`--router-arg`).
    pub router_args: &'a [String],
    pub router_env_remove: &'a [String],
    pub cpus: Option<Vec<usize>>,
    pub loadgen: &'a Loadgen,
    pub workdir: &'a Path,
    pub log: &'a Path,
    pub deadline: Instant,
}

/// One counting run: the router under callgrind for `requests`, then for `requests / 2`;
/// the difference of the two totals over the difference of the responses is the cost of a
/// request with start-up and shutdown cancelled out.
pub fn instructions_per_req(ctx: &CountCtx<'_>, requests: u64) -> Result<f64> {
    if requests < 2 {
        bail!("--counter-requests: expected at least 2");
    }
    let (ir_full, resp_full) = callgrind_once(ctx, requests, "full")?;
    let (ir_half, resp_half) = callgrind_once(ctx, requests / 2, "half")?;
    if resp_full <= resp_half {
        bail!(
            "counting runs answered {resp_full} and {resp_half} requests; expected more in the first"
        );
    }
    if ir_full <= ir_half {
        bail!(
            "callgrind counted {ir_full} instructions for {resp_full} requests but {ir_half} for {resp_half}"
        );
    }
    Ok((ir_full - ir_half) as f64 / (resp_full - resp_half) as f64)
}

/// Runs the router under callgrind for `requests` closed-loop requests on one connection and
/// returns (total instructions, responses).
fn callgrind_once(ctx: &CountCtx<'_>, requests: u64, tag: &str) -> Result<(u64, u64)> {
    let out_file: PathBuf = ctx.workdir.join(format!("cg.{tag}.out"));
    let _ = std::fs::remove_file(&out_file);
    let spec = RouterSpec {
        bin: valgrind_path()?,
        prefix_args: vec![
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", out_file.display()),
            "--trace-children=no".into(),
            "--dump-instr=no".into(),
            "--collect-atstart=yes".into(),
            ctx.router_bin.display().to_string(),
        ],
        // One worker thread: fewer threads to schedule under valgrind's serialised threads;
        // callgrind counts every thread either way.
        args: ["--worker-threads".to_string(), "1".to_string()]
            .into_iter()
            .chain(ctx.router_args.iter().cloned())
            .collect(),
        env: Vec::new(),
        env_remove: ctx.router_env_remove.to_vec(),
        cpus: ctx.cpus.clone(),
    };
    let remaining = ctx.deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        bail!("the --timeout expired before the counting run");
    }
    // valgrind slows start-up by tens of times: a generous wait for the address and /ready.
    let router = RouterProcess::start(
        &spec,
        ctx.workdir,
        ctx.log,
        remaining.min(Duration::from_secs(180)),
    )
    .context("the router under callgrind did not start")?;
    let load = LoadSpec {
        model: Model::Closed,
        connections: 1,
        // Long enough never to end the run before the request budget does.
        duration_ms: 600_000,
        rate: None,
        histogram: false,
        timeline_ms: None,
        max_requests: Some(requests),
    };
    let result = match ctx.loadgen.run(router.addr, &load, ctx.deadline) {
        Ok(v) => v,
        Err(LoadError::Deadline) => bail!("the --timeout expired during the counting run"),
        Err(LoadError::Failed(e)) => return Err(e.context("counting run")),
    };
    let responses = result["responses"].as_u64().unwrap_or(0);
    let errors: u64 = ["connect", "timeout", "io", "status"]
        .iter()
        .map(|k| result["errors"][k].as_u64().unwrap_or(0))
        .sum();
    // SIGTERM lets the router shut down and callgrind write its totals.
    let stop = router.stop(Duration::from_secs(120));
    if !stop.clean {
        bail!("the router under callgrind did not stop cleanly: {stop:?}");
    }
    if errors > 0 {
        bail!("counting run: {errors} request(s) failed");
    }
    let text = std::fs::read_to_string(&out_file)
        .with_context(|| format!("reading {}", out_file.display()))?;
    Ok((parse_total_ir(&text)?, responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_line_gives_the_ir_total() {
        let text = "# callgrind format\nversion: 1\ncreator: callgrind-3.22.0\n\
            events: Ir\nsummary: 123\nfn=main\n0 5\ntotals: 987654321\n";
        assert_eq!(parse_total_ir(text).unwrap(), 987_654_321);
    }

    #[test]
    fn summary_line_when_there_is_no_totals_and_first_event_counts() {
        let text = "events: Ir Dr\nsummary: 4567 89\n";
        assert_eq!(parse_total_ir(text).unwrap(), 4567);
    }

    #[test]
    fn missing_or_bad_totals_is_an_error() {
        assert!(parse_total_ir("events: Ir\n").is_err());
        assert!(parse_total_ir("totals: many\n").is_err());
    }
}
