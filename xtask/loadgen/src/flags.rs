//! Command-line flags (clap types and nothing else); doc comments are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::config::{self, Config, Method, Model, Transport};
use crate::error::ConfigError;

/// Drives HTTP/1.1 (or NATS request-reply) load at a server on loopback and prints one JSON document of results on
/// stdout (progress goes to stderr).
///
/// Exit codes: 0 ok, 1 the target could not be reached at all, 2 bad usage or input.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Flags {
    /// Server address, HOST:PORT; must be loopback (127.0.0.0/8, ::1 or localhost).
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Option<String>,
    /// http: POST to --target; nats: request-reply through the NATS server at --nats-url.
    #[arg(long, value_enum, default_value = "http")]
    pub transport: TransportFlag,
    /// NATS server, nats://HOST:PORT; must be loopback. Used with --transport nats.
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// NATS subject of the requests (with --transport nats).
    #[arg(long, default_value = "beamline.router.v1.decide")]
    pub subject: String,
    /// Request path.
    #[arg(long, default_value = "/v1/decide")]
    pub path: String,
    /// Request method; GET sends no body.
    #[arg(long, value_enum, ignore_case = true, default_value = "POST")]
    pub method: MethodFlag,
    /// Request bodies, one raw JSON body per line (blank lines ignored); required for POST.
    #[arg(long, value_name = "FILE")]
    pub bodies: Option<PathBuf>,
    /// The kind of each body, for per-kind stats: JSON
    /// `{"kinds": [{"name": "weighted", "expect": "ok"}, {"name": "bad_json", "expect":
    /// "reject"}], "body_kind": [0, 1, ...]}`, where `body_kind[i]` indexes `kinds` for body i
    /// of --bodies (blank lines not counted). `expect` is `ok` (a 2xx is the expected answer)
    /// or `reject` (a 4xx is): a 4xx to a reject kind counts under `expected_rejections`, not
    /// `errors.status`. The report then has a `kinds` object keyed by name.
    #[arg(long, value_name = "FILE", requires = "bodies")]
    pub body_kinds: Option<PathBuf>,
    /// closed: back-to-back requests (throughput); open: constant arrival rate (latency).
    #[arg(long, value_enum)]
    pub model: ModelFlag,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// OS threads, each a runtime owning connections/threads of the connections (and, in
    /// the open model, that share of the rate).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// How long to send, in milliseconds.
    #[arg(long)]
    pub duration_ms: u64,
    /// Total requests per second over all connections; required for --model open.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Hard bound on the number of requests sent.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: u64,
    /// Per-request timeout in milliseconds; a timed-out connection is dropped and reopened.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Pin every loadgen thread to this CPU.
    #[arg(long, value_name = "N")]
    pub cpu: Option<usize>,
    /// Include the serialized HDR histogram (nanoseconds) in the JSON.
    #[arg(long)]
    pub histogram: bool,
    /// Keep this file updated with `ELAPSED_MS RESPONSES` about every 200 ms, so a harness
    /// can show live throughput.
    #[arg(long, value_name = "FILE")]
    pub progress_file: Option<PathBuf>,
    /// Also report a timeline in buckets of N ms: per bucket, requests answered 2xx by
    /// completion time, and timeouts, errors and latencies by intended send time.
    #[arg(long, value_name = "N")]
    pub timeline_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodFlag {
    #[value(name = "GET")]
    Get,
    #[value(name = "POST")]
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportFlag {
    Http,
    Nats,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelFlag {
    Closed,
    Open,
}

impl Flags {
    /// Checks the flags and reads the bodies file.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let (target, host, transport) = match self.transport {
            TransportFlag::Http => {
                let host = self.target.ok_or(ConfigError::TargetMissing)?;
                (config::parse_target(&host)?, host, Transport::Http)
            }
            TransportFlag::Nats => {
                let url = self.nats_url.ok_or(ConfigError::NatsUrlMissing)?;
                let transport = Transport::Nats {
                    subject: self.subject,
                };
                (config::parse_nats_url(&url)?, url, transport)
            }
        };
        let method = match self.method {
            MethodFlag::Get => Method::Get,
            MethodFlag::Post => Method::Post,
        };
        let bodies = match &self.bodies {
            Some(path) => config::read_bodies(path)?,
            None => Vec::new(),
        };
        let body_kinds = match &self.body_kinds {
            Some(path) => Some(config::read_body_kinds(path, bodies.len())?),
            None => None,
        };
        let cfg = Config {
            target,
            host,
            transport,
            path: self.path,
            method,
            bodies,
            body_kinds,
            model: match self.model {
                ModelFlag::Closed => Model::Closed,
                ModelFlag::Open => Model::Open,
            },
            connections: self.connections,
            threads: self.threads,
            duration: Duration::from_millis(self.duration_ms),
            rate: self.rate,
            max_requests: self.max_requests,
            timeout: Duration::from_millis(self.timeout_ms),
            cpu: self.cpu,
            histogram: self.histogram,
            progress_file: self.progress_file,
            timeline: self.timeline_ms.map(Duration::from_millis),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Flags::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let flags = Flags::try_parse_from([
            "loadgen",
            "--target",
            "127.0.0.1:9",
            "--model",
            "closed",
            "--duration-ms",
            "10",
            "--method",
            "get",
        ])
        .unwrap();
        let cfg = flags.into_config().unwrap();
        assert_eq!(cfg.path, "/v1/decide");
        assert_eq!(cfg.method, Method::Get);
        assert_eq!((cfg.connections, cfg.threads), (1, 1));
        assert_eq!(cfg.max_requests, 10_000_000);
        assert_eq!(cfg.timeout, Duration::from_millis(2000));
    }
}
