//! Runs the load generator binary for one phase and reads its JSON result.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::model::load_report::{Output, Report};
use anyhow::{Context, Result, bail};

use crate::model::workload::Model;

/// One invocation of the load generator.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub model: Model,
    pub connections: u32,
    pub duration_ms: u64,
    pub rate: Option<u64>,
    pub histogram: bool,
    /// `Some(ms)`: ask for a timeline in buckets this wide (`--timeline-ms`).
    pub timeline_ms: Option<u64>,
    /// `Some(n)`: stop after n requests (`--max-requests`), for a fixed-count run.
    pub max_requests: Option<u64>,
    /// In a concurrent pair: run the phase in turns (A B B A), not both routers at once.
    pub turns: bool,
}

/// Where the load generator is and what it sends.
#[derive(Debug, Clone)]
pub struct Loadgen {
    pub bin: PathBuf,
    pub bodies: PathBuf,
    /// `Some(file)`: each body's kind (`--body-kinds`), for per-kind results.
    pub body_kinds: Option<PathBuf>,
    pub cpu: Option<usize>,
    pub timeout_ms: u64,
    /// Where the load generator keeps its live count (`--progress-file`).
    pub progress_file: Option<PathBuf>,
    /// `Some(url)`: send over NATS request-reply through this server instead of HTTP.
    pub nats_url: Option<String>,
    /// The NATS subject (`--subject`); `None`: the router's default.
    pub subject: Option<String>,
}

/// How the run ended when it did not produce a result.
#[derive(Debug)]
pub enum LoadError {
    /// The overall deadline passed; the load generator was killed.
    Deadline,
    Failed(anyhow::Error),
}

impl Loadgen {
    /// Runs one phase against `addr`, killing the load generator at `deadline`.
    pub fn run(
        &self,
        addr: std::net::SocketAddr,
        spec: &LoadSpec,
        deadline: Instant,
    ) -> Result<Report, LoadError> {
        let mut results = self.run_targets(&[(addr, self.subject.clone())], spec, deadline)?;
        Ok(results.remove(0))
    }

    /// The load generator's flags for one phase against `targets`.
    fn args(
        &self,
        targets: &[(std::net::SocketAddr, Option<String>)],
        spec: &LoadSpec,
    ) -> Vec<String> {
        let mut args: Vec<String> = match &self.nats_url {
            Some(url) => ["--transport", "nats", "--nats-url", url]
                .map(String::from)
                .into_iter()
                .chain(targets.iter().flat_map(|(_, s)| {
                    [
                        "--subject".to_string(),
                        s.clone().unwrap_or(crate::bench::nats::SUBJECT.into()),
                    ]
                }))
                .collect(),
            None => targets
                .iter()
                .flat_map(|(addr, _)| ["--target".to_string(), addr.to_string()])
                .collect(),
        };
        args.extend([
            "--bodies".into(),
            path_arg(&self.bodies),
            "--model".into(),
            spec.model.as_str().into(),
            "--connections".into(),
            spec.connections.to_string(),
            "--duration-ms".into(),
            spec.duration_ms.to_string(),
            "--timeout-ms".into(),
            self.timeout_ms.to_string(),
        ]);
        for (flag, value) in [
            ("--body-kinds", self.body_kinds.as_deref().map(path_arg)),
            ("--rate", spec.rate.map(|rate| rate.to_string())),
            ("--cpu", self.cpu.map(|cpu| cpu.to_string())),
            ("--max-requests", spec.max_requests.map(|n| n.to_string())),
            ("--timeline-ms", spec.timeline_ms.map(|ms| ms.to_string())),
        ] {
            args.extend(value.map(|v| [flag.into(), v]).into_iter().flatten());
        }
        if spec.histogram {
            args.push("--histogram".into());
        }
        if let Some(path) = &self.progress_file {
            let _ = std::fs::remove_file(path);
            args.extend(["--progress-file".into(), path_arg(path)]);
        }
        args
    }

    /// Runs one phase against several targets (an HTTP address, or with NATS a subject) at
    /// once from one load generator, each getting the whole `spec`, their requests interleaved
    /// on the same threads; one result per target, in order.
    pub(crate) fn run_targets(
        &self,
        targets: &[(std::net::SocketAddr, Option<String>)],
        spec: &LoadSpec,
        deadline: Instant,
    ) -> Result<Vec<Report>, LoadError> {
        let args = self.args(targets, spec);
        let handle = crate::bench::env_info::captured(duct::cmd(&self.bin, &args))
            .start()
            .with_context(|| format!("starting load generator {}", self.bin.display()))
            .map_err(LoadError::Failed)?;
        let _registered = crate::bench::interrupt::register(handle.pids());
        let waited = (handle.wait_deadline(deadline))
            .context("waiting for the load generator")
            .map_err(LoadError::Failed)?;
        let Some(out) = waited else {
            let _ = handle.kill();
            return Err(LoadError::Deadline);
        };
        let reports = parse_output(&out.stdout, &out.stderr, out.status.code())
            .map_err(LoadError::Failed)?
            .into_reports();
        let n = targets.len();
        if reports.len() != n {
            return Err(LoadError::Failed(anyhow::anyhow!(
                "the load generator reported {} targets, not {n}",
                reports.len()
            )));
        }
        Ok(reports)
    }
}

/// The load generator's report, read with its own types (a missing field is an error naming it).
pub(crate) fn parse_output(stdout: &[u8], stderr: &[u8], code: Option<i32>) -> Result<Output> {
    if code != Some(0) {
        bail!(
            "load generator exited with {}: {}",
            code.map_or("a signal".to_string(), |c| format!("code {c}")),
            String::from_utf8_lossy(stderr).trim()
        );
    }
    Output::parse(stdout)
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// How long a phase may take before it counts as hung: duration, request timeout, start-up slack.
pub(crate) fn phase_budget(duration_ms: u64, timeout_ms: u64) -> Duration {
    Duration::from_millis(duration_ms + timeout_ms) + Duration::from_secs(10)
}

#[cfg(test)]
mod tests;
