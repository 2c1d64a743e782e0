//! The validated run configuration, and the checks that turn raw flag values into it.
//!
//! Everything here is pure apart from reading the bodies and body-kinds files, so the checks
//! are unit-tested.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use crate::error::ConfigError;

/// How requests are paced: the workload's own type (one definition for the harness and the
/// generator).
pub use perf_core::model::load::Model;
use perf_core::model::load::Transport;

/// Where a target's requests go on their transport (the workload's `Transport`): over HTTP
/// to `Config::path`, or over NATS to a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// HTTP/1.1 keep-alive connections; requests go to `Config::path`.
    Http,
    /// NATS request-reply through a server at `Config::target`, on this subject.
    Nats { subject: String },
}

impl Route {
    pub fn transport(&self) -> Transport {
        match self {
            Route::Http => Transport::Http,
            Route::Nats { .. } => Transport::Nats,
        }
    }
}

/// The HTTP method; only the two the harness needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// Most connections an open-loop run may use: more only dilutes the schedule across
/// connections that mostly sit idle.
pub const MAX_OPEN_CONNECTIONS: usize = 4096;

/// Most targets one run may drive (`--target` or `--subject` given this many times). Each
/// gets the whole load, so this bounds the work the shared threads take on.
pub const MAX_TARGETS: usize = 4;

/// A target after the first, from `--target` or `--subject` given again. It uses the run's
/// transport: another server for HTTP, another subject on the same server for NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoreTarget {
    /// Another HTTP server; `host` is the target as the user wrote it (the `host` header).
    Http { addr: SocketAddr, host: String },
    /// Another subject on the NATS server at `Config::target`.
    Nats { subject: String },
}

impl MoreTarget {
    /// An HTTP target at `addr`, named by its address.
    pub fn http(addr: SocketAddr) -> MoreTarget {
        MoreTarget::Http {
            addr,
            host: addr.to_string(),
        }
    }
}

/// A complete, checked description of one run. Build it with [`Config::validate`] or by
/// hand in tests; [`crate::run`] validates again so a hand-built one cannot slip through.
///
/// `target`, `host` and `transport` describe the first (usually only) target and
/// `more_targets` the others; [`Config::per_target`] gives each target's load as a config of
/// its own. Everything else is the load of *each* target: `connections`, `rate` and
/// `max_requests` apply to every target alike.
#[derive(Debug, Clone)]
pub struct Config {
    /// Always a loopback address.
    pub target: SocketAddr,
    /// The `host` header value, as the user wrote the target (for NATS: the URL).
    pub host: String,
    pub route: Route,
    /// The targets after the first, in the order given: at most `MAX_TARGETS - 1`, each
    /// of the variant of `transport` and (for HTTP) on loopback.
    pub more_targets: Vec<MoreTarget>,
    pub path: String,
    pub method: Method,
    /// Non-empty for POST, empty for GET.
    pub bodies: Vec<Bytes>,
    /// `--body-kinds`: the kind of each body, for per-kind stats and expected rejections.
    /// `Some` only with bodies, and then with exactly one kind per body.
    pub body_kinds: Option<BodyKinds>,
    pub model: Model,
    /// Connections per target.
    pub connections: usize,
    /// OS threads sharing the connections (each a current_thread runtime).
    pub threads: usize,
    pub duration: Duration,
    /// Requests per second over all of a target's connections (each target gets this rate);
    /// `Some` exactly for the open model.
    pub rate: Option<f64>,
    /// Requests sent to each target at most.
    pub max_requests: u64,
    pub timeout: Duration,
    pub cpu: Option<usize>,
    pub histogram: bool,
    /// Where to keep `elapsed_ms responses` up to date while the run goes (for live rps).
    pub progress_file: Option<std::path::PathBuf>,
    /// `Some(width)`: also report per-bucket counts and latencies over the run (`timeline`).
    pub timeline: Option<Duration>,
}

impl Config {
    /// Checks the invariants documented on the fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.target.ip().is_loopback() {
            return Err(ConfigError::NotLoopback {
                target: self.host.clone(),
            });
        }
        if !self.path.starts_with('/') || self.path.parse::<hyper::Uri>().is_err() {
            return Err(ConfigError::BadPath {
                path: self.path.clone(),
            });
        }
        if let Route::Nats { subject } = &self.route {
            check_subject(subject)?;
            if self.method != Method::Post {
                return Err(ConfigError::NatsNeedsBodies);
            }
        }
        self.check_more_targets()?;
        match (self.method, self.bodies.is_empty()) {
            (Method::Post, true) => return Err(ConfigError::BodiesMissing),
            (Method::Get, false) => return Err(ConfigError::BodiesWithGet),
            _ => {}
        }
        if let Some(kinds) = &self.body_kinds {
            if self.bodies.is_empty() {
                return Err(ConfigError::BodyKindsWithoutBodies);
            }
            kinds.check(self.bodies.len())?;
        }
        for (flag, zero) in [
            ("connections", self.connections == 0),
            ("threads", self.threads == 0),
            ("duration-ms", self.duration.is_zero()),
            ("max-requests", self.max_requests == 0),
            ("timeout-ms", self.timeout.is_zero()),
            ("timeline-ms", self.timeline.is_some_and(|t| t.is_zero())),
        ] {
            if zero {
                return Err(ConfigError::Zero { flag });
            }
        }
        match (self.model, self.rate) {
            (Model::Open, None) => return Err(ConfigError::RateMissing),
            (Model::Closed, Some(_)) => return Err(ConfigError::RateWithClosed),
            (_, Some(rate)) if !(rate.is_finite() && rate > 0.0) => {
                return Err(ConfigError::BadRate { rate });
            }
            _ => {}
        }
        if self.model == Model::Open && self.connections > MAX_OPEN_CONNECTIONS {
            return Err(ConfigError::TooManyOpenConnections {
                connections: self.connections,
                max: MAX_OPEN_CONNECTIONS,
            });
        }
        Ok(())
    }

    /// OS threads the run uses: the closed model never needs more threads than connections.
    /// With several targets this still counts one target's connections, so that every
    /// thread holds the same number of connections of each target.
    pub fn worker_threads(&self) -> usize {
        match self.model {
            Model::Closed | Model::Open => self.threads.min(self.connections),
        }
    }

    /// How many targets the run drives.
    pub fn target_count(&self) -> usize {
        1 + self.more_targets.len()
    }

    /// One config per target, in the order given: each describes that target's load as if
    /// it ran alone (the first is this config without the others).
    pub fn per_target(&self) -> Vec<Config> {
        let first = Config {
            more_targets: Vec::new(),
            ..self.clone()
        };
        let mut configs = Vec::with_capacity(self.target_count());
        for more in &self.more_targets {
            let mut cfg = first.clone();
            match more {
                MoreTarget::Http { addr, host } => {
                    cfg.target = *addr;
                    cfg.host = host.clone();
                }
                // The same NATS server (`target`, `host`), another subject.
                MoreTarget::Nats { subject } => {
                    cfg.route = Route::Nats {
                        subject: subject.clone(),
                    };
                }
            }
            configs.push(cfg);
        }
        configs.insert(0, first);
        configs
    }

    /// Checks the invariants of `more_targets`.
    fn check_more_targets(&self) -> Result<(), ConfigError> {
        let flag = match self.route {
            Route::Http => "--target",
            Route::Nats { .. } => "--subject",
        };
        if self.target_count() > MAX_TARGETS {
            return Err(ConfigError::TooManyTargets {
                flag,
                count: self.target_count(),
                max: MAX_TARGETS,
            });
        }
        for more in &self.more_targets {
            match (more, &self.route) {
                (MoreTarget::Http { addr, host }, Route::Http) => {
                    if !addr.ip().is_loopback() {
                        return Err(ConfigError::NotLoopback {
                            target: host.clone(),
                        });
                    }
                }
                (MoreTarget::Nats { subject }, Route::Nats { .. }) => check_subject(subject)?,
                _ => {
                    return Err(ConfigError::MixedTargets {
                        transport: self.route.transport().as_str(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A NATS subject requests can be sent to: no spaces, no wildcards.
fn check_subject(subject: &str) -> Result<(), ConfigError> {
    let bad =
        subject.is_empty() || subject.contains(char::is_whitespace) || subject.contains(['*', '>']);
    if bad {
        return Err(ConfigError::BadSubject {
            subject: subject.to_owned(),
        });
    }
    Ok(())
}

/// Parses `HOST:PORT` and refuses anything but loopback.
///
/// Only IP literals and `localhost` are accepted, so no name is ever looked up in DNS: the
/// check happens before any packet could leave the machine.
pub fn parse_target(target: &str) -> Result<SocketAddr, ConfigError> {
    let addr = match target.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            let (host, port) = target.rsplit_once(':').ok_or_else(|| bad_target(target))?;
            let port: u16 = port.parse().map_err(|_| bad_target(target))?;
            if host.eq_ignore_ascii_case("localhost") {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
            } else if host.parse::<IpAddr>().is_ok() || host.is_empty() {
                return Err(bad_target(target));
            } else {
                // A host name other than localhost: refusing it is the loopback rule, not
                // a syntax error, so say so.
                return Err(ConfigError::NotLoopback {
                    target: target.to_owned(),
                });
            }
        }
    };
    if addr.port() == 0 {
        return Err(bad_target(target));
    }
    if !addr.ip().is_loopback() {
        return Err(ConfigError::NotLoopback {
            target: target.to_owned(),
        });
    }
    Ok(addr)
}

/// Parses `nats://HOST:PORT` (the scheme is optional) and refuses anything but loopback,
/// by the same rules as [`parse_target`].
pub fn parse_nats_url(url: &str) -> Result<SocketAddr, ConfigError> {
    let hostport = url.strip_prefix("nats://").unwrap_or(url);
    let hostport = hostport.strip_suffix('/').unwrap_or(hostport);
    if hostport.contains(['/', '@', ',']) {
        return Err(ConfigError::BadNatsUrl {
            url: url.to_owned(),
        });
    }
    parse_target(hostport).map_err(|err| match err {
        ConfigError::NotLoopback { .. } => ConfigError::NatsNotLoopback {
            url: url.to_owned(),
        },
        _ => ConfigError::BadNatsUrl {
            url: url.to_owned(),
        },
    })
}

fn bad_target(target: &str) -> ConfigError {
    ConfigError::BadTarget {
        target: target.to_owned(),
    }
}

/// Reads request bodies, one per line; blank lines are skipped, an empty set is an error.
pub fn read_bodies(path: &Path) -> Result<Vec<Bytes>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::BodiesRead {
        path: path.to_owned(),
        source,
    })?;
    let bodies = split_bodies(&text);
    if bodies.is_empty() {
        return Err(ConfigError::BodiesEmpty {
            path: path.to_owned(),
        });
    }
    Ok(bodies)
}

/// What answer a kind of request expects: the workload's own type.
pub use perf_core::model::workload::Expect;

/// One kind of request in the mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    /// Non-empty and unique within the file; the key of the kind in the report.
    pub name: String,
    pub expect: Expect,
}

/// The `--body-kinds` file: a kind for every request body, so the report can show each kind
/// apart and count expected rejections apart from errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyKinds {
    /// Where it was read from, for error messages.
    pub path: PathBuf,
    pub kinds: Vec<Kind>,
    /// `body_kind[i]` is the index into `kinds` of body i (blank lines of the bodies file
    /// not counted); one entry per body, each in range (see [`BodyKinds::check`]).
    pub body_kind: Vec<usize>,
}

impl BodyKinds {
    /// Checks the invariants documented on the fields against `bodies` request bodies.
    pub fn check(&self, bodies: usize) -> Result<(), ConfigError> {
        let bad = |field: String, problem: String| ConfigError::BadBodyKinds {
            path: self.path.clone(),
            field,
            problem,
        };
        if self.kinds.is_empty() {
            return Err(bad("kinds".into(), "must list at least one kind".into()));
        }
        let mut seen = HashMap::new();
        for (i, kind) in self.kinds.iter().enumerate() {
            if kind.name.trim().is_empty() {
                return Err(bad(format!("kinds[{i}].name"), "must not be empty".into()));
            }
            if let Some(first) = seen.insert(kind.name.as_str(), i) {
                return Err(bad(
                    format!("kinds[{i}].name"),
                    format!("{:?} is already the name of kinds[{first}]", kind.name),
                ));
            }
        }
        if self.body_kind.len() != bodies {
            return Err(bad(
                "body_kind".into(),
                format!(
                    "has {} entries but --bodies has {bodies} bodies (blank lines not counted); \
                     give one kind index per body",
                    self.body_kind.len()
                ),
            ));
        }
        if let Some((i, k)) = self
            .body_kind
            .iter()
            .enumerate()
            .find(|(_, k)| **k >= self.kinds.len())
        {
            return Err(bad(
                format!("body_kind[{i}]"),
                format!(
                    "{k} is not an index into kinds (0 to {})",
                    self.kinds.len() - 1
                ),
            ));
        }
        Ok(())
    }
}

/// Reads and checks a `--body-kinds` file for `bodies` request bodies.
pub fn read_body_kinds(path: &Path, bodies: usize) -> Result<BodyKinds, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::BodyKindsRead {
        path: path.to_owned(),
        source,
    })?;
    let kinds = parse_body_kinds(path, &text)?;
    kinds.check(bodies)?;
    Ok(kinds)
}

/// The `--body-kinds` file as written, before [`BodyKinds::check`]. The fields are `Option`s
/// so that a missing one is reported at its own path (`kinds[0].name`): serde would name
/// the object that lacks it. Unknown and repeated keys are errors that name the key.
#[derive(serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `kinds` and `body_kind`"
)]
struct KindsFile {
    kinds: Option<Vec<KindEntry>>,
    body_kind: Option<Vec<KindIndex>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `name` and `expect`")]
struct KindEntry {
    name: Option<String>,
    expect: Option<Expect>,
}

/// An index into `kinds`, read from any JSON number so that a negative or fractional one is
/// reported as what it is, not as a type mismatch.
#[derive(serde::Deserialize)]
#[serde(try_from = "serde_json::Number")]
struct KindIndex(usize);

impl TryFrom<serde_json::Number> for KindIndex {
    type Error = String;

    fn try_from(n: serde_json::Number) -> Result<Self, Self::Error> {
        n.as_u64()
            .and_then(|k| usize::try_from(k).ok())
            .map(KindIndex)
            .ok_or_else(|| format!("{n} is not an index into kinds (a whole number from 0)"))
    }
}

/// Parses the file through derived serde types and `serde_path_to_error`, so every error
/// names the field at fault (`kinds[2].expect`), not only a line and column.
fn parse_body_kinds(path: &Path, text: &str) -> Result<BodyKinds, ConfigError> {
    let bad = |field: String, problem: String| ConfigError::BadBodyKinds {
        path: path.to_owned(),
        field,
        problem,
    };
    let not_json = |source| ConfigError::BodyKindsJson {
        path: path.to_owned(),
        source,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let file: KindsFile = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = match err.path().iter().next() {
            None => "(top level)".to_owned(),
            Some(_) => err.path().to_string(),
        };
        let source = err.into_inner();
        if source.is_data() {
            bad(field, source.to_string())
        } else {
            not_json(source)
        }
    })?;
    // Nothing but white space may follow the object.
    de.end().map_err(not_json)?;

    let missing = |field: String, what: &str| bad(field, format!("missing; expected {what}"));
    let kinds = file
        .kinds
        .ok_or_else(|| {
            let what = r#"a list of {"name": .., "expect": "ok"|"reject"}"#;
            missing("kinds".into(), what)
        })?
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let field = |name: &str| format!("kinds[{i}].{name}");
            Ok(Kind {
                name: kind
                    .name
                    .ok_or_else(|| missing(field("name"), "a string"))?,
                expect: kind
                    .expect
                    .ok_or_else(|| missing(field("expect"), r#""ok" or "reject""#))?,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    let body_kind = file
        .body_kind
        .ok_or_else(|| missing("body_kind".into(), "a list of indices into kinds"))?
        .into_iter()
        .map(|KindIndex(k)| k)
        .collect();
    Ok(BodyKinds {
        path: path.to_owned(),
        kinds,
        body_kind,
    })
}

fn split_bodies(text: &str) -> Vec<Bytes> {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(|line| Bytes::copy_from_slice(line.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ok = [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("127.3.4.5:1", "127.3.4.5:1"),
            ("[::1]:9000", "[::1]:9000"),
            ("localhost:80", "127.0.0.1:80"),
        ];
        for (input, want) in ok {
            assert_eq!(parse_target(input).unwrap().to_string(), want, "{input}");
        }
        let not_loopback = [
            "192.0.2.1:80",
            "10.0.0.1:80",
            "0.0.0.0:80",
            "[::]:80",
            "example.com:80",
        ];
        for input in not_loopback {
            assert!(
                matches!(parse_target(input), Err(ConfigError::NotLoopback { .. })),
                "{input}"
            );
        }
        for input in ["127.0.0.1", "127.0.0.1:x", ":80", "127.0.0.1:0", ""] {
            assert!(
                matches!(parse_target(input), Err(ConfigError::BadTarget { .. })),
                "{input}"
            );
        }
    }

    #[test]
    fn nats_urls() {
        assert_eq!(
            parse_nats_url("nats://127.0.0.1:4222").unwrap().to_string(),
            "127.0.0.1:4222"
        );
        assert_eq!(
            parse_nats_url("localhost:4222").unwrap().to_string(),
            "127.0.0.1:4222"
        );
        for url in ["nats://192.0.2.1:4222", "nats://demo.nats.io:4222"] {
            assert!(
                matches!(
                    parse_nats_url(url),
                    Err(ConfigError::NatsNotLoopback { .. })
                ),
                "{url}"
            );
        }
        for url in ["nats://127.0.0.1", "nats://u:p@127.0.0.1:4222", "tls://x"] {
            assert!(
                matches!(parse_nats_url(url), Err(ConfigError::BadNatsUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn bodies_skip_blank_lines() {
        let bodies = split_bodies("{\"a\":1}\n\n   \n{\"b\":2}\r\n");
        assert_eq!(
            bodies,
            vec![Bytes::from("{\"a\":1}"), Bytes::from("{\"b\":2}")]
        );
        assert!(split_bodies("\n \n").is_empty());
    }

    fn base() -> Config {
        Config {
            target: "127.0.0.1:1".parse().unwrap(),
            host: "127.0.0.1:1".into(),
            route: Route::Http,
            more_targets: Vec::new(),
            path: "/v1/decide".into(),
            method: Method::Post,
            bodies: vec![Bytes::from("{}")],
            body_kinds: None,
            model: Model::Closed,
            connections: 4,
            threads: 8,
            duration: Duration::from_secs(1),
            rate: None,
            max_requests: 10,
            timeout: Duration::from_secs(1),
            cpu: None,
            histogram: false,
            progress_file: None,
            timeline: None,
        }
    }

    #[test]
    fn validation() {
        assert!(base().validate().is_ok());
        assert_eq!(base().worker_threads(), 4);
        type Mutation = fn(&mut Config);
        let cases: Vec<(Mutation, &str)> = vec![
            (|c| c.model = Model::Open, "--rate is required"),
            (|c| c.rate = Some(5.0), "--rate is only used"),
            (
                |c| {
                    c.model = Model::Open;
                    c.rate = Some(0.0);
                },
                "--rate 0",
            ),
            (|c| c.bodies.clear(), "--bodies is required"),
            (
                |c| {
                    c.body_kinds = Some(BodyKinds {
                        path: "k.json".into(),
                        kinds: vec![Kind {
                            name: "a".into(),
                            expect: Expect::Ok,
                        }],
                        body_kind: vec![0, 0],
                    })
                },
                "--body-kinds k.json: body_kind: has 2 entries but --bodies has 1",
            ),
            (|c| c.method = Method::Get, "--bodies is only used"),
            (|c| c.connections = 0, "--connections"),
            (|c| c.duration = Duration::ZERO, "--duration-ms"),
            (|c| c.path = "v1".into(), "--path v1"),
            (
                |c| {
                    c.route = Route::Nats {
                        subject: "a.*".into(),
                    }
                },
                "--subject a.*",
            ),
            (
                |c| c.target = "192.0.2.1:80".parse().unwrap(),
                "not a loopback",
            ),
            (
                |c| {
                    let addr = "127.0.0.1:2".parse().unwrap();
                    c.more_targets = vec![MoreTarget::http(addr); 4];
                },
                "--target given 5 times: at most 4 targets",
            ),
            (
                |c| c.more_targets = vec![MoreTarget::http("192.0.2.1:80".parse().unwrap())],
                "--target 192.0.2.1:80: not a loopback",
            ),
            (
                |c| {
                    c.more_targets = vec![MoreTarget::Nats {
                        subject: "b".into(),
                    }]
                },
                "every target of a run uses its --transport http",
            ),
            (
                |c| {
                    c.route = Route::Nats {
                        subject: "a".into(),
                    };
                    c.more_targets = vec![MoreTarget::Nats {
                        subject: "b c".into(),
                    }];
                },
                "--subject b c",
            ),
        ];
        for (mutate, want) in cases {
            let mut cfg = base();
            mutate(&mut cfg);
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn each_target_gets_a_config_of_its_own() {
        let second: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let cfg = Config {
            more_targets: vec![MoreTarget::Http {
                addr: second,
                host: "localhost:2".into(),
            }],
            ..base()
        };
        assert!(cfg.validate().is_ok());
        let configs = cfg.per_target();
        assert_eq!(configs.len(), 2);
        assert_eq!(configs[0].target, cfg.target);
        assert_eq!(
            (configs[1].target, configs[1].host.as_str()),
            (second, "localhost:2")
        );
        for one in &configs {
            assert!(one.more_targets.is_empty());
            assert_eq!(one.target_count(), 1);
            // The load is each target's whole: nothing is divided between them.
            assert_eq!((one.connections, one.max_requests), (4, 10));
        }

        let nats = Config {
            route: Route::Nats {
                subject: "a".into(),
            },
            more_targets: vec![MoreTarget::Nats {
                subject: "b".into(),
            }],
            ..base()
        };
        assert!(nats.validate().is_ok());
        let subjects: Vec<_> = nats
            .per_target()
            .into_iter()
            .map(|c| (c.target, c.route))
            .collect();
        let subject = |s: &str| Route::Nats { subject: s.into() };
        assert_eq!(
            subjects,
            [(nats.target, subject("a")), (nats.target, subject("b"))]
        );
        assert_eq!(base().per_target().len(), 1);
    }

    #[test]
    fn body_kinds_parse() {
        let path = Path::new("kinds.json");
        let kinds = parse_body_kinds(
            path,
            r#"{"kinds": [{"name": "weighted", "expect": "ok"},
                          {"name": "bad_json", "expect": "reject"}],
                "body_kind": [0, 1, 0]}"#,
        )
        .unwrap();
        assert_eq!(kinds.body_kind, [0, 1, 0]);
        assert_eq!(kinds.kinds[1].name, "bad_json");
        assert_eq!(kinds.kinds[1].expect, Expect::Reject);
        assert!(kinds.check(3).is_ok());
    }

    #[test]
    fn repeated_keys_and_trailing_text_are_errors() {
        let cases = [
            (
                r#"{"kinds": [{"name": "a", "expect": "ok"}], "kinds": [], "body_kind": [0]}"#,
                "(top level): duplicate field `kinds`",
            ),
            (
                r#"{"kinds": [{"name": "a", "name": "b", "expect": "ok"}], "body_kind": [0]}"#,
                "kinds[0]: duplicate field `name`",
            ),
            (
                r#"{"kinds": [{"name": "a", "expect": "ok"}], "body_kind": [0]} {}"#,
                "not valid JSON: trailing characters",
            ),
        ];
        for (text, want) in cases {
            let err = parse_body_kinds(Path::new("k.json"), text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("--body-kinds k.json: ") && err.contains(want),
                "{text}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn bad_body_kinds_name_the_field() {
        let ok_kind = r#"{"name": "a", "expect": "ok"}"#;
        let cases = [
            ("[]".to_string(), 1, "(top level)"),
            (
                r#"{"kinds": [], "body_kind": [0]}"#.to_string(),
                1,
                ": kinds: must list at least one kind",
            ),
            (
                format!(r#"{{"kinds": [{ok_kind}]}}"#),
                1,
                ": body_kind: missing",
            ),
            (
                format!(r#"{{"kinds": [{ok_kind}], "body_kind": [0], "extra": 1}}"#),
                1,
                "extra: unknown field",
            ),
            (
                r#"{"kinds": [{"name": "a", "expect": "maybe"}], "body_kind": [0]}"#.to_string(),
                1,
                "kinds[0].expect",
            ),
            (
                r#"{"kinds": [{"expect": "ok"}], "body_kind": [0]}"#.to_string(),
                1,
                "kinds[0].name",
            ),
            (
                r#"{"kinds": [{"name": " ", "expect": "ok"}], "body_kind": [0]}"#.to_string(),
                1,
                "kinds[0].name: must not be empty",
            ),
            (
                format!(r#"{{"kinds": [{ok_kind}, {ok_kind}], "body_kind": [0]}}"#),
                1,
                "kinds[1].name: \"a\" is already the name of kinds[0]",
            ),
            (
                format!(r#"{{"kinds": [{ok_kind}], "body_kind": [0, 1]}}"#),
                2,
                "body_kind[1]: 1 is not an index into kinds (0 to 0)",
            ),
            (
                format!(r#"{{"kinds": [{ok_kind}], "body_kind": [0, -1]}}"#),
                2,
                "body_kind[1]: -1 is not an index",
            ),
            (
                format!(r#"{{"kinds": [{ok_kind}], "body_kind": [0]}}"#),
                2,
                "body_kind: has 1 entries but --bodies has 2 bodies",
            ),
        ];
        let path = Path::new("kinds.json");
        for (text, bodies, want) in cases {
            let err = parse_body_kinds(path, &text)
                .and_then(|kinds| kinds.check(bodies))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("--body-kinds kinds.json: ") && err.contains(want),
                "{text}: {err:?} should contain {want:?}"
            );
        }
        let err = parse_body_kinds(path, "{").unwrap_err().to_string();
        assert!(err.starts_with("--body-kinds kinds.json: "), "{err}");
    }
}
