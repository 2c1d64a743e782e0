//! Command-line flags (clap types and nothing else); doc comments are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::config::{self, Config, Method, MoreTarget, Route};
use crate::error::ConfigError;
use perf_core::model::load::{Model, Transport};

/// Drives HTTP/1.1 (or NATS request-reply) load at a server on loopback and prints one JSON document of results on
/// stdout (progress goes to stderr).
///
/// Exit codes: 0 ok, 1 the target could not be reached at all, 2 bad usage or input.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
pub struct Flags {
    /// Server address, HOST:PORT; must be loopback (127.0.0.0/8, ::1 or localhost). Give it
    /// up to 4 times to drive several servers at once: each gets the whole load (its own
    /// --connections, --rate and --max-requests) from the same threads, and the JSON is then
    /// `{"targets": [...]}`, one result per target in the order given.
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Vec<String>,
    /// http: POST to --target; nats: request-reply through the NATS server at --nats-url.
    #[arg(long, value_enum, default_value = "http")]
    pub transport: Transport,
    /// NATS server, nats://HOST:PORT; must be loopback. Used with --transport nats.
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// NATS subject of the requests (with --transport nats). Give it up to 4 times to drive
    /// several subjects on the one server at once, each a target as with a repeated --target.
    #[arg(long, default_value = "beamline.router.v1.decide")]
    pub subject: Vec<String>,
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
    pub model: Model,
    /// Keep-alive connections to each target.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// OS threads, each a runtime owning an equal share of every target's connections (and,
    /// in the open model, that share of each target's rate).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// How long to send, in milliseconds.
    #[arg(long)]
    pub duration_ms: u64,
    /// Requests per second over all connections to a target (each target gets this rate);
    /// required for --model open.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Hard bound on the number of requests sent to each target.
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
    /// Keep this file updated with `ELAPSED_MS RESPONSES` (all targets together) about every
    /// 200 ms, so a harness can show live throughput.
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

impl Flags {
    /// Checks the flags and reads the bodies file.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        // A single --target with nats or --subject with http is ignored, as it always was;
        // repeated, it asks for several targets the transport cannot give.
        let (target, host, route, more_targets) = match self.transport {
            Transport::Http => {
                if self.subject.len() > 1 {
                    return Err(ConfigError::SubjectsWithoutNats {
                        count: self.subject.len(),
                    });
                }
                let mut targets = self.target.into_iter();
                let host = targets.next().ok_or(ConfigError::TargetMissing)?;
                let addr = config::parse_target(&host)?;
                let more = targets
                    .map(|host| {
                        let addr = config::parse_target(&host)?;
                        Ok(MoreTarget::Http { addr, host })
                    })
                    .collect::<Result<_, ConfigError>>()?;
                (addr, host, Route::Http, more)
            }
            Transport::Nats => {
                if self.target.len() > 1 {
                    return Err(ConfigError::TargetsWithNats {
                        count: self.target.len(),
                    });
                }
                let url = self.nats_url.ok_or(ConfigError::NatsUrlMissing)?;
                let mut subjects = self.subject.into_iter();
                // clap's default fills the list when the flag is not given.
                let subject = subjects.next().unwrap_or_default();
                let more = subjects
                    .map(|subject| MoreTarget::Nats { subject })
                    .collect();
                let route = Route::Nats { subject };
                (config::parse_nats_url(&url)?, url, route, more)
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
            route,
            more_targets,
            path: self.path,
            method,
            bodies,
            body_kinds,
            model: self.model,
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

    /// Flags of a closed run with `args`: GET for HTTP, a bodies file for NATS.
    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let base = ["loadgen", "--model", "closed", "--duration-ms", "10"];
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bodies =
            std::env::temp_dir().join(format!("loadgen-flags-{}-{n}.jsonl", std::process::id()));
        std::fs::write(&bodies, "{}\n").unwrap();
        let bodies_flag = ["--bodies", bodies.to_str().unwrap()];
        let extra: &[&str] = if args.contains(&"nats") {
            &bodies_flag
        } else {
            &["--method", "get"]
        };
        let parsed = Flags::try_parse_from(base.iter().chain(extra).chain(args));
        let cfg = parsed.unwrap().into_config();
        let _ = std::fs::remove_file(&bodies);
        cfg
    }

    #[test]
    fn repeated_targets() {
        let cfg = parse(&["--target", "127.0.0.1:9", "--target", "localhost:10"]).unwrap();
        assert_eq!(cfg.host, "127.0.0.1:9");
        assert_eq!(
            cfg.more_targets,
            [MoreTarget::Http {
                addr: "127.0.0.1:10".parse().unwrap(),
                host: "localhost:10".into(),
            }]
        );
        // A single --subject with http is ignored, as it always was.
        let cfg = parse(&["--target", "127.0.0.1:9", "--subject", "a"]).unwrap();
        assert!(cfg.more_targets.is_empty());

        let five: Vec<&str> = ["--target", "127.0.0.1:9"].repeat(5);
        let refused = [
            (five, "--target given 5 times: at most 4 targets"),
            (
                vec![
                    "--target",
                    "127.0.0.1:9",
                    "--subject",
                    "a",
                    "--subject",
                    "b",
                ],
                "--subject given 2 times: several subjects (one target each) need --transport nats",
            ),
            (
                vec!["--target", "127.0.0.1:9", "--target", "192.0.2.1:80"],
                "--target 192.0.2.1:80: not a loopback",
            ),
            (
                vec!["--transport", "nats", "--nats-url", "nats://127.0.0.1:4222"]
                    .into_iter()
                    .chain(["--target", "127.0.0.1:9", "--target", "127.0.0.1:10"])
                    .collect(),
                "--target given 2 times with --transport nats",
            ),
        ];
        for (args, want) in refused {
            let err = parse(&args).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{args:?}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn repeated_subjects() {
        let url = ["--transport", "nats", "--nats-url", "nats://127.0.0.1:4222"];
        let cfg = parse(&url).unwrap();
        assert_eq!(
            cfg.route,
            Route::Nats {
                subject: "beamline.router.v1.decide".into()
            }
        );
        assert!(cfg.more_targets.is_empty());
        let subjects = ["--subject", "a", "--subject", "b", "--subject", "c"];
        let cfg = parse(&[&url[..], &subjects].concat()).unwrap();
        let got: Vec<_> = cfg.per_target().into_iter().map(|c| c.route).collect();
        let want: Vec<_> = ["a", "b", "c"]
            .map(|s| Route::Nats { subject: s.into() })
            .into();
        assert_eq!(got, want);
        let five = ["--subject", "a"].repeat(5);
        let err = parse(&[&url[..], &five].concat()).unwrap_err().to_string();
        assert!(err.contains("--subject given 5 times"), "{err}");
    }
}
