//! A real `nats-server` as a child process for NATS benchmarks: found on PATH, started on a
//! free loopback port from a temporary config file, stopped with SIGTERM (SIGKILL only when it
//! will not stop), also when the run fails: dropping the handle stops it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustix::process::Signal;

pub(crate) const INSTALL_HINT: &str = "apt-get install nats-server";

/// The router's default decision subject (its `--nats-subject`).
pub(crate) const SUBJECT: &str = "beamline.router.v1.decide";

pub(crate) struct NatsServer {
    /// Stopped by the interrupt handler if xtask is interrupted.
    _registered: crate::bench::interrupt::Registered,
    handle: Option<duct::Handle>,
    pid: u32,
    pub addr: SocketAddr,
    /// `nats-server --version`, e.g. `nats-server: v2.9.10`.
    pub version: String,
}

/// `nats-server --version`, or an error that carries the install hint.
pub fn version() -> Result<String> {
    crate::bench::env_info::version_of("nats-server", INSTALL_HINT)
}

impl NatsServer {
    /// Starts the server on a free loopback port (config in `workdir`, log appended to `log`)
    /// and waits up to `timeout` until it accepts connections.
    pub fn start(workdir: &Path, log: &Path, timeout: Duration) -> Result<NatsServer> {
        let version = version()?;
        // Bind port 0 and release it: the kernel does not hand the port out again at once.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free loopback port for nats-server")?;
        let config = workdir.join("nats-server.conf");
        // Loopback only, no monitoring port; the default limits fit the small replies.
        let text = format!(
            "# written by cargo xtask perf-bench\nlisten: \"127.0.0.1:{}\"\n",
            addr.port()
        );
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let log_file = crate::bench::router::append_to(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let handle = duct::cmd!("nats-server", "-c", &config)
            .stdin_null()
            .stdout_null()
            .stderr_file(log_file)
            .unchecked()
            .start()
            .context("starting nats-server")?;
        let pid = *handle.pids().first().context("nats-server has no pid")?;
        let mut server = NatsServer {
            _registered: crate::bench::interrupt::register(handle.pids()),
            handle: Some(handle),
            pid,
            addr,
            version,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect(addr).is_ok() {
                return Ok(server);
            }
            if let Some(Ok(Some(_))) = server.handle.as_ref().map(duct::Handle::try_wait) {
                server.handle = None;
                bail!("nats-server exited at start; see {}", log.display());
            }
            if Instant::now() >= deadline {
                server.stop();
                bail!("nats-server did not listen on {addr} within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        // The handle still owns the child (not reaped), so the pid is still the server's.
        crate::bench::interrupt::signal(self.pid, Signal::TERM);
        if !matches!(handle.wait_timeout(Duration::from_secs(5)), Ok(Some(_))) {
            let _ = handle.kill();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
