//! The router as a child process: start it on an ephemeral loopback port, learn its address,
//! wait for `/ready`, read its counters, memory and CPU time, and stop it with SIGTERM
//! (SIGKILL only when it will not stop).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use procfs::process::{Process, Task};
use rustix::process::Signal;

use crate::bench::affinity;
use crate::bench::interrupt::signal;

/// How the router is started.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    pub bin: PathBuf,
    /// Arguments before `--listen`: for a wrapper such as valgrind, `bin` is the wrapper and
    /// these are its flags followed by the router binary. Empty for a plain router.
    pub prefix_args: Vec<String>,
    /// Extra flags after `--listen 127.0.0.1:0`.
    pub args: Vec<String>,
    /// Environment set for the router only.
    pub env: Vec<(String, String)>,
    /// Environment variables the router must not inherit.
    pub env_remove: Vec<String>,
    /// CPUs the router may run on; `None` leaves it to the scheduler.
    pub cpus: Option<Vec<usize>>,
}

pub struct RouterProcess {
    handle: duct::Handle,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Stopped by the interrupt handler if xtask is interrupted.
    _registered: crate::bench::interrupt::Registered,
}

pub use crate::model::run_file::StopReport;

impl RouterProcess {
    /// Starts the router in `workdir`, stderr appended to `log`; waits up to `ready_timeout`.
    pub fn start(
        spec: &RouterSpec,
        workdir: &Path,
        log: &Path,
        ready_timeout: Duration,
    ) -> Result<Self> {
        // A file of its own: the two routers of a paired trial start at the same moment.
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stdout_path = workdir.join(format!("router.{n}.stdout"));
        let log_file =
            append_to(log).with_context(|| format!("opening router log {}", log.display()))?;
        let mut args = spec.prefix_args.clone();
        args.extend(["--listen".to_string(), "127.0.0.1:0".to_string()]);
        args.extend(spec.args.iter().cloned());
        let mut expr = duct::cmd(&spec.bin, &args)
            .dir(workdir)
            .stdin_null()
            .stdout_path(&stdout_path)
            .stderr_file(log_file)
            .unchecked();
        expr = spec.env.iter().fold(expr, |e, (k, v)| e.env(k, v));
        expr = spec.env_remove.iter().fold(expr, |e, k| e.env_remove(k));
        if let Some(cpus) = spec.cpus.clone() {
            expr = expr.before_spawn(move |cmd| {
                affinity::pin_child(cmd, cpus.clone());
                Ok(())
            });
        }
        let handle = expr
            .start()
            .with_context(|| format!("starting router {}", spec.bin.display()))?;
        let pid = *handle.pids().first().context("router process has no pid")?;
        let mut router = RouterProcess {
            _registered: crate::bench::interrupt::register(handle.pids()),
            handle,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        // On an error, dropping `router` kills it.
        let deadline = Instant::now() + ready_timeout;
        router.addr = router.read_addr(&stdout_path, deadline)?;
        router.wait_ready(deadline)?;
        Ok(router)
    }

    /// An error if the router has already exited (it cannot become ready any more).
    fn bail_if_exited(&self, before: &str) -> Result<()> {
        if let Some(out) = self
            .handle
            .try_wait()
            .context("checking the router process")?
        {
            bail!("router exited before {before} ({})", out.status);
        }
        Ok(())
    }

    /// Polls the router's stdout file for `router listening on ADDR`.
    fn read_addr(&self, stdout_path: &Path, deadline: Instant) -> Result<SocketAddr> {
        loop {
            self.bail_if_exited("listening")?;
            let text = std::fs::read_to_string(stdout_path).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("router listening on ")) {
                let addr: SocketAddr = line["router listening on ".len()..]
                    .trim()
                    .parse()
                    .with_context(|| format!("router printed an unreadable address: `{line}`"))?;
                if !addr.ip().is_loopback() {
                    bail!(
                        "router listens on {addr}, which is not loopback; load only goes to loopback"
                    );
                }
                return Ok(addr);
            }
            if Instant::now() >= deadline {
                bail!("router did not print its address in time");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_ready(&self, deadline: Instant) -> Result<()> {
        loop {
            self.bail_if_exited("it was ready")?;
            if matches!(http_get(self.addr, "/ready"), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("router at {} was not ready in time", self.addr);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self.handle.try_wait(), Ok(None))
    }

    pub(crate) fn metrics_text(&self) -> Result<String> {
        let (status, body) = http_get(self.addr, "/metrics")?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        Ok(body)
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn stop(self, grace: Duration) -> StopReport {
        signal(self.pid, Signal::TERM);
        self.wait_stopped(grace)
    }

    /// Stops a router started under a wrapper that runs it as its child and exits with it
    /// (strace): SIGTERM to the router itself, then the wrapper waited for as `stop` does.
    /// SIGTERM to strace would have it detach from every thread it traces, which can hang.
    pub(crate) fn stop_wrapped(self, grace: Duration) -> StopReport {
        let children = Process::new(self.pid as i32).and_then(|p| p.task_main_thread()?.children());
        let Some(&pid) = children.iter().flatten().next() else {
            return self.stop(grace);
        };
        signal(pid, Signal::TERM);
        self.wait_stopped(grace)
    }

    /// Waits up to `grace` for the process to exit, then SIGKILL.
    fn wait_stopped(self, grace: Duration) -> StopReport {
        self.wait_or_kill(grace, |status| StopReport {
            clean: status.code() == Some(0),
            exit_code: status.code(),
            killed: false,
        })
    }

    /// Waits up to `grace` for the process to exit (reported by `exited`), then SIGKILL.
    fn wait_or_kill(
        self,
        grace: Duration,
        exited: impl FnOnce(std::process::ExitStatus) -> StopReport,
    ) -> StopReport {
        match self.handle.wait_timeout(grace) {
            Ok(Some(out)) => exited(out.status),
            _ => {
                let _ = self.handle.kill();
                StopReport {
                    clean: false,
                    exit_code: None,
                    killed: true,
                }
            }
        }
    }

    /// Reaps a router SIGKILLed on purpose (the failover's second router, killed by pid from
    /// another thread mid-phase); `killed`: if that did it.
    pub(crate) fn reap_killed(self, grace: Duration) -> StopReport {
        use std::os::unix::process::ExitStatusExt;
        self.wait_or_kill(grace, |status| StopReport {
            clean: false,
            exit_code: status.code(),
            killed: status.signal() == Some(Signal::KILL.as_raw()),
        })
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        // A router left running would skew the next trial and outlive the harness.
        if self.is_running() {
            let _ = self.handle.kill();
        }
    }
}

/// `path` opened for appending, created if missing: the log the harness and its children share.
pub(crate) fn append_to(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// A snapshot of a process's resources.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct ProcStats {
    /// Peak resident set (VmHWM), MiB.
    pub peak_rss_mb: f64,
    /// Current resident set (VmRSS), MiB.
    pub rss_mb: f64,
    /// User + system CPU time, milliseconds.
    pub cpu_ms: f64,
    /// Of which in user space (the router's own code) and in the kernel (system calls,
    /// socket work, page faults).
    pub user_ms: f64,
    pub sys_ms: f64,
    /// Context switches of all its threads so far: voluntary (a thread blocked: waiting on
    /// a socket, a lock, a timer) and involuntary (the scheduler took the CPU away).
    pub voluntary_switches: f64,
    pub involuntary_switches: f64,
}

impl ProcStats {
    pub fn read(pid: u32) -> Result<Self> {
        let read = |file: &str| format!("reading /proc/{pid}/{file}");
        let process = Process::new(pid as i32).with_context(|| read("status"))?;
        let status = process.status().with_context(|| read("status"))?;
        let stat = process.stat().with_context(|| read("stat"))?;
        let mb = |kb: Option<u64>, key: &str| {
            kb.map(|kb| kb as f64 / 1024.0)
                .with_context(|| format!("no {key} in /proc/{pid}/status"))
        };
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let ms = |ticks: u64| ticks as f64 * 1000.0 / hz;
        let (voluntary_switches, involuntary_switches) = context_switches(pid)?;
        Ok(ProcStats {
            peak_rss_mb: mb(status.vmhwm, "VmHWM:")?,
            rss_mb: mb(status.vmrss, "VmRSS:")?,
            cpu_ms: ms(stat.utime + stat.stime),
            user_ms: ms(stat.utime),
            sys_ms: ms(stat.stime),
            voluntary_switches,
            involuntary_switches,
        })
    }
}

/// The threads of `pid` now, from /proc/PID/task; one that ends meanwhile is left out.
pub(crate) fn threads(pid: u32) -> Result<Vec<Task>> {
    let tasks = Process::new(pid as i32).and_then(|p| p.tasks());
    let tasks = tasks.with_context(|| format!("reading /proc/{pid}/task"))?;
    Ok(tasks.flatten().collect())
}

/// The voluntary and involuntary context switches of every thread of `pid`, summed over
/// /proc/PID/task/*/status (/proc/PID/status counts only the main thread, which mostly
/// sleeps). A thread that exits takes its switches along; the router's workers do not exit.
fn context_switches(pid: u32) -> Result<(f64, f64)> {
    let mut sums = (0.0, 0.0);
    for task in threads(pid)? {
        // A thread that ended since the listing has no status any more.
        let Ok(status) = task.status() else {
            continue;
        };
        let (Some(voluntary), Some(involuntary)) = (
            status.voluntary_ctxt_switches,
            status.nonvoluntary_ctxt_switches,
        ) else {
            bail!(
                "no context switch counts in /proc/{pid}/task/{}/status",
                task.tid
            );
        };
        sums.0 += voluntary as f64;
        sums.1 += involuntary as f64;
    }
    Ok(sums)
}

/// Sums every sample of a counter family in Prometheus text (`name{...} value` lines).
pub(crate) fn counter_sum(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| line.strip_prefix(name))
        .filter(|rest| rest.starts_with('{') || rest.starts_with(' '))
        .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The cumulative buckets of a histogram family in Prometheus text
/// (`name_bucket{...,le="0.000004"} 12` lines), summed over its label sets: (upper bound,
/// count at or below it), by bound, `+Inf` last.
pub(crate) fn histogram_buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let le = labels
            .split_once("le=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .and_then(|(le, _)| match le {
                "+Inf" => Some(f64::INFINITY),
                le => le.parse::<f64>().ok(),
            });
        let (Some(le), Ok(count)) = (le, value.parse::<f64>()) else {
            continue;
        };
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, sum)) => *sum += count,
            None => buckets.push((le, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The `q` quantile of what a histogram recorded between two readings of its buckets,
/// interpolated as Prometheus's `histogram_quantile` does (the largest finite bound in
/// `+Inf`); NaN when nothing was recorded.
pub(crate) fn quantile_between(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> f64 {
    let count_before = |le: f64| {
        before
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0.0, |(_, c)| *c)
    };
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, c)| (*le, c - count_before(*le)))
        .collect();
    let Some(&(_, total)) = delta.last() else {
        return f64::NAN;
    };
    if total <= 0.0 {
        return f64::NAN;
    }
    let target = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, cumulative) in &delta {
        if cumulative >= target {
            if le.is_infinite() {
                return lower.0;
            }
            let share = (target - lower.1) / (cumulative - lower.1).max(f64::MIN_POSITIVE);
            return lower.0 + (le - lower.0) * share;
        }
        lower = (le, cumulative);
    }
    lower.0
}

/// A minimal HTTP/1.1 GET for the router's `/ready` and `/metrics`: a client library would
/// cost xtask compile time for nothing (the load generator, which sends the load, uses hyper).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading GET {path} from {addr}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("response without a header end")?;
    Ok((status_code(head)?, body.to_string()))
}

/// The status code of an HTTP/1.1 response head (`HTTP/1.1 200 OK\r\n...`).
pub(crate) fn status_code(head: &str) -> Result<u16> {
    (head.split_whitespace().nth(1).and_then(|s| s.parse().ok()))
        .context("response without a status code")
}

#[cfg(test)]
mod tests;
