//! Typed errors of the load generator: what the caller branches on to pick an exit code.

use std::io;
use std::path::PathBuf;

/// A run that could not start because its input was wrong (exit code 2).
///
/// Each message names the flag or file at fault, so the harness log says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--target {target}: expected HOST:PORT, e.g. 127.0.0.1:8080")]
    BadTarget { target: String },
    #[error("--target {target}: not a loopback address; load only ever goes to 127.0.0.0/8 or ::1")]
    NotLoopback { target: String },
    #[error("--nats-url {url}: expected nats://HOST:PORT, e.g. nats://127.0.0.1:4222")]
    BadNatsUrl { url: String },
    #[error("--nats-url {url}: not a loopback address; load only ever goes to 127.0.0.0/8 or ::1")]
    NatsNotLoopback { url: String },
    #[error("--subject {subject}: must be a NATS subject without spaces or wildcards")]
    BadSubject { subject: String },
    #[error("--transport nats sends request bodies: use --method POST with --bodies")]
    NatsNeedsBodies,
    #[error("--target is required with --transport http")]
    TargetMissing,
    #[error("{flag} given {count} times: at most {max} targets per run")]
    TooManyTargets {
        flag: &'static str,
        count: usize,
        max: usize,
    },
    #[error(
        "--subject given {count} times: several subjects (one target each) need \
         --transport nats; with --transport http repeat --target instead"
    )]
    SubjectsWithoutNats { count: usize },
    #[error(
        "--target given {count} times with --transport nats: the NATS targets are subjects \
         on --nats-url, so repeat --subject instead"
    )]
    TargetsWithNats { count: usize },
    #[error("--target/--subject: every target of a run uses its --transport {transport}")]
    MixedTargets { transport: &'static str },
    #[error("--nats-url is required with --transport nats")]
    NatsUrlMissing,
    #[error("--path {path}: must be a URI path starting with '/'")]
    BadPath { path: String },
    #[error("--bodies {}: {source}", path.display())]
    BodiesRead { path: PathBuf, source: io::Error },
    #[error("--bodies {}: no request bodies (the file has no non-blank line)", path.display())]
    BodiesEmpty { path: PathBuf },
    #[error("--body-kinds {}: {source}", path.display())]
    BodyKindsRead { path: PathBuf, source: io::Error },
    #[error("--body-kinds {}: not valid JSON: {source}", path.display())]
    BodyKindsJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// `field` is the JSON path of the bad value, e.g. `kinds[2].expect` or `body_kind`.
    #[error("--body-kinds {}: {field}: {problem}", path.display())]
    BadBodyKinds {
        path: PathBuf,
        field: String,
        problem: String,
    },
    #[error("--body-kinds is only used with --bodies (it gives the kind of each body)")]
    BodyKindsWithoutBodies,
    #[error("--bodies is required with --method POST")]
    BodiesMissing,
    #[error("--bodies is only used with --method POST")]
    BodiesWithGet,
    #[error("--rate is required with --model open")]
    RateMissing,
    #[error("--rate is only used with --model open (the closed model sends as fast as it can)")]
    RateWithClosed,
    #[error("--rate {rate}: must be a finite number greater than zero")]
    BadRate { rate: f64 },
    #[error("--{flag}: must be greater than zero")]
    Zero { flag: &'static str },
    #[error(
        "--connections {connections}: the open model runs one thread per connection, at most {max}"
    )]
    TooManyOpenConnections { connections: usize, max: usize },
    #[error("--cpu {cpu}: cannot pin to this CPU (this process may use {allowed:?}): {source}")]
    Cpu {
        cpu: usize,
        allowed: Vec<usize>,
        source: io::Error,
    },
}

/// Why [`crate::run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("starting a tokio runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("spawning a worker thread: {0}")]
    Thread(#[source] io::Error),
    #[error("a worker thread panicked")]
    WorkerPanicked,
}

impl Error {
    /// The process exit code for this error: 2 for bad usage or input, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            Error::Runtime(_) | Error::Thread(_) | Error::WorkerPanicked => 1,
        }
    }
}
