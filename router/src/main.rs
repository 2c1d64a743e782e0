//! The `router` binary: parses flags, loads policies, binds, serves until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use router::config::{
    DELAY_EVERY_ENV, DELAY_US_ENV, SLOWDOWN_ENV, TestDelay, parse_duration, parse_timeout,
};
use router::nats::NatsConfig;
use router::{AppState, Config, PolicySet};

/// Routing-decision service (HTTP/JSON, and NATS request-reply with --nats-url).
#[derive(Debug, Parser)]
#[command(name = "router", version, about)]
struct Cli {
    /// Address to listen on; port 0 picks a free port. The bound address is printed on one
    /// stdout line: `router listening on ADDR`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of tenant policy files (*.json); default: the sample set built into the binary.
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// Most decisions in progress at once; past it: 503 overloaded with Retry-After.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_inflight: u32,
    /// Largest accepted request body in bytes; larger: 413.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(64..))]
    max_body_bytes: u32,
    /// How long a session sticks to its provider (e.g. 300s, 5m, 250ms).
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    sticky_ttl: Duration,
    /// Most sticky-session entries held at once.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    sticky_capacity: u32,
    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    worker_threads: Option<u16>,
    /// How long shutdown waits for in-flight requests.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// How long a client may take to send a request's head (request line and headers);
    /// then the connection is closed without an answer. The wait starts when the
    /// connection is accepted and again when a response is ready, so this also closes a
    /// keep-alive connection that sits idle this long (as hyper's own header timeout does).
    /// It is checked every quarter of its length: a connection is closed after waiting this
    /// to 1.25 times this. Counted in router_request_timeouts_total{phase="header"}, or in
    /// router_idle_connections_closed_total when no byte of a next request had arrived.
    /// Behind a proxy that reuses connections, set it above the proxy's idle timeout. 30 s
    /// is in the range of nginx, Apache and Go servers (and hyper's default). (1ms to 24h)
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    header_read_timeout: Duration,
    /// How long a client may take to send a request's body, counted from the end of its
    /// head; then it gets 408 request_timeout with `connection: close`, counted in
    /// router_request_timeouts_total{phase="body"}. A body still arriving 100 ms after
    /// admission gives its --max-inflight slot back meanwhile and is admitted again once
    /// complete. 30 s lets a 64 KiB body through at 2 KiB/s. (1ms to 24h)
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    body_read_timeout: Duration,
    /// Also answer decision requests over NATS request-reply on this server (e.g.
    /// nats://127.0.0.1:4222). The router exits 2 if it cannot connect at start; later
    /// disconnects are retried forever while HTTP keeps serving.
    #[arg(long, value_name = "URL")]
    nats_url: Option<String>,
    /// The NATS subject of decision requests.
    #[arg(long, default_value = router::nats::DEFAULT_SUBJECT, requires = "nats_url")]
    nats_subject: String,
    /// The NATS queue group: routers in one group share the requests.
    #[arg(long, default_value = router::nats::DEFAULT_QUEUE, requires = "nats_url")]
    nats_queue: String,
    /// Log level on stderr (error, warn, info, debug, trace); also `ROUTER_LOG`.
    #[arg(long, env = "ROUTER_LOG", default_value = "warn")]
    log_level: tracing::level_filters::LevelFilter,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(cli.log_level)
        .init();

    let policies = match &cli.policies {
        Some(dir) => PolicySet::load_dir(dir),
        None => Ok(PolicySet::sample()),
    };
    let policies = match policies {
        Ok(p) => p,
        Err(err) => {
            eprintln!("router: error: {err}");
            return ExitCode::from(2);
        }
    };
    let slowdown_iters = match std::env::var(SLOWDOWN_ENV) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                eprintln!(
                    "router: error: {SLOWDOWN_ENV}=`{v}`: expected a whole number of iterations"
                );
                return ExitCode::from(2);
            }
        },
        Err(_) => 0,
    };
    if slowdown_iters > 0 {
        eprintln!(
            "router: warning: test slowdown knob on ({SLOWDOWN_ENV}={slowdown_iters}); not a normal run"
        );
    }
    let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let test_delay = match TestDelay::from_env(
        var(DELAY_US_ENV).as_deref(),
        var(DELAY_EVERY_ENV).as_deref(),
    ) {
        Ok(d) => d,
        Err(err) => {
            eprintln!("router: error: {err}");
            return ExitCode::from(2);
        }
    };
    if test_delay.is_on() {
        eprintln!(
            "router: warning: test delay knob on ({DELAY_US_ENV}={}, {DELAY_EVERY_ENV}={}): \
             one decision in {} waits {} us before its answer; not a normal run",
            test_delay.us, test_delay.every, test_delay.every, test_delay.us
        );
    }
    let config = Config {
        max_inflight: cli.max_inflight as usize,
        max_body_bytes: cli.max_body_bytes as usize,
        sticky_ttl: cli.sticky_ttl,
        sticky_capacity: cli.sticky_capacity as usize,
        slowdown_iters,
        test_delay,
        shutdown_timeout: cli.shutdown_timeout,
        header_read_timeout: cli.header_read_timeout,
        body_read_timeout: cli.body_read_timeout,
    };

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.worker_threads {
        builder.worker_threads(n.into());
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("router: error: starting the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let nats = cli.nats_url.clone().map(|url| NatsConfig {
        url,
        subject: cli.nats_subject.clone(),
        queue: cli.nats_queue.clone(),
    });
    runtime.block_on(async move {
        let state = AppState::new(config, policies);
        // Connect before binding: a router that cannot reach its bus says so and exits 2
        // (bad input), before a harness could mistake it for a healthy one.
        let nats = match nats {
            Some(nats) => match router::nats::connect(&nats, &state).await {
                Ok(front) => Some(front),
                Err(err) => {
                    eprintln!("router: error: {err}");
                    return ExitCode::from(2);
                }
            },
            None => None,
        };
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(err) => {
                eprintln!("router: error: binding {}: {err}", cli.listen);
                return ExitCode::from(1);
            }
        };
        let addr = listener
            .local_addr()
            .map_or_else(|_| cli.listen.to_string(), |a| a.to_string());
        // Install the signal handlers before announcing the address: a harness may signal
        // as soon as it reads the line, and without a handler that signal would kill the
        // process (the default action) instead of shutting it down gracefully with exit 0.
        let signal = shutdown_signal();
        // One signal stops both front ends.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = stop_tx.send(true);
        });
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        // The harness reads this line to learn the port; print it only once bound.
        println!("router listening on {addr}");
        let http = router::server::run(listener, state.clone(), stopped());
        match nats {
            Some(front) => {
                tokio::join!(http, front.serve(state, stopped()));
            }
            None => http.await,
        }
        ExitCode::SUCCESS
    })
}

/// Installs the SIGTERM and SIGINT handlers now (so it must run inside the runtime) and
/// returns a future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop the router with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
