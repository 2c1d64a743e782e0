//! The `connections` scenario: thousands of idle keep-alive connections (opened by xtask, one
//! decision each, then silent) held on the router while a few others carry decisions. Its RSS
//! growth over the connections is its memory per idle connection; an open-loop phase on a few
//! active connections shows whether decisions stay fast meanwhile. The levels are cumulative,
//! so every level's RSS is measured against the same start, not a heap that just freed the
//! previous level's connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use procfs::process::{LimitValue, Process};
use rustix::process::{Pid, Resource, Rlimit, prlimit};
use serde_json::json;

use crate::bench::loadgen::LoadSpec;
use crate::bench::router::{ProcStats, status_code};
use crate::bench::runner::{Runner, Status, failed, round3, round4};
use crate::model::load_report::Report;
pub use crate::model::scenario::connections::{MAX_IDLE, Params};

/// File descriptors a process needs besides the idle connections: its listener, epoll,
/// logs, pipes to children, the active connections and the /metrics reads.
const FD_RESERVE: u64 = 128;

/// How long one idle connection may take to connect and be answered.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A process's `RLIMIT_NOFILE`: `(soft, hard)`, `u64::MAX` for unlimited.
type Limit = (u64, u64);

/// The open-file limit of `pid`, the soft one first raised towards `raise_to` as far as the
/// hard one allows.
fn nofile(pid: u32, raise_to: Option<u64>) -> Result<Limit> {
    let (soft, hard) = read_nofile(pid)?;
    let Some(want) = raise_to.filter(|&w| w > soft) else {
        return Ok((soft, hard));
    };
    let soft = want.min(hard);
    let new = Rlimit {
        current: Some(soft),
        maximum: (hard != u64::MAX).then_some(hard),
    };
    // Raising a soft limit up to the unchanged hard limit of this process or of a child it
    // started (same user); the kernel checks the permission.
    prlimit(Pid::from_raw(pid as i32), Resource::Nofile, new)?;
    Ok((soft, hard))
}

/// `pid`'s open-file limit from /proc/PID/limits: prlimit(2) can read it without setting
/// it, but rustix's `prlimit` always sets one.
fn read_nofile(pid: u32) -> Result<Limit> {
    let limits = Process::new(pid as i32).and_then(|p| p.limits());
    let limits = limits.with_context(|| format!("reading /proc/{pid}/limits"))?;
    Ok(soft_and_hard(limits.max_open_files))
}

pub(crate) fn soft_and_hard(limit: procfs::process::Limit) -> Limit {
    let value = |v| match v {
        LimitValue::Unlimited => u64::MAX,
        LimitValue::Value(n) => n,
    };
    (value(limit.soft_limit), value(limit.hard_limit))
}

/// Raises both sides' limits towards `want` idle connections where allowed; returns how many
/// they can hold, and notes for the log (the last says why, when fewer than wanted).
fn fit_fd_limits(pid: u32, want: u64) -> (u64, Vec<String>) {
    let mut notes = Vec::new();
    let mut room = |who: &str, limit: Result<Limit>| match limit {
        Ok((soft, hard)) => {
            notes.push(format!("{who} open-file limit: soft {soft}, hard {hard}"));
            soft.saturating_sub(FD_RESERVE)
        }
        Err(e) => {
            notes.push(format!("{who} open-file limit: {e:#}"));
            0
        }
    };
    let own = room(
        "xtask",
        nofile(std::process::id(), Some(want + FD_RESERVE)).context("could not be read or raised"),
    );
    // The router was started before this scenario could raise the limit it inherits, so
    // its limit is raised in place (prlimit), then read back from /proc as it sees it.
    let raised = nofile(pid, Some(want + FD_RESERVE));
    let router = match (read_nofile(pid), raised) {
        (Ok(limit), Err(e)) => room(&format!("router (not raised: {e})"), Ok(limit)),
        // The limit read back, else the one raised, else why it could not be read.
        (read, raised) => room("router", read.or_else(|e| raised.map_err(|_| e))),
    };
    let can = own.min(router);
    if can < want {
        notes.push(format!(
            "the machine refuses {want} open connections: at most {can} fit under the \
             open-file limits (raise the hard limit, e.g. `ulimit -Hn`, or lower \
             `scenario.connections.idle`)"
        ));
    }
    (can.min(want), notes)
}

/// An HTTP/1.1 POST of one decision body, keep-alive.
fn decide_request(addr: SocketAddr, body: &str) -> Vec<u8> {
    format!(
        "POST /v1/decide HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one response's status; an error when it is incomplete or closes the connection.
fn read_response(stream: &mut TcpStream) -> Result<u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            bail!("response head longer than 64 KiB");
        }
        let n = stream.read(&mut chunk).context("reading the response")?;
        if n == 0 {
            bail!("the router closed the connection before answering");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = status_code(&head)?;
    if head.contains("\r\nconnection: close") {
        bail!("the router answered with `Connection: close`, so nothing stays idle");
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("response without a Content-Length")?;
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream
            .read(&mut chunk)
            .context("reading the response body")?;
        if n == 0 {
            bail!("the router closed the connection mid-body");
        }
        have += n;
    }
    Ok(status)
}

/// Opens one keep-alive connection, makes one decision on it and leaves it idle.
fn open_idle(addr: SocketAddr, request: &[u8]) -> Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    stream.write_all(request).context("sending the request")?;
    let status = read_response(&mut stream)?;
    if !(200..300).contains(&status) {
        bail!("the decision was answered {status}");
    }
    Ok(stream)
}

/// Whether the router still holds `stream` open: a non-blocking peek would block.
fn still_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let open = match stream.peek(&mut byte) {
        Ok(n) => n > 0,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    open
}

/// The first few bodies of the workload, one per line, for the idle connections' requests.
fn bodies(path: &std::path::Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bodies: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(64)
        .map(str::to_string)
        .collect();
    if bodies.is_empty() {
        bail!("{} holds no request body", path.display());
    }
    Ok(bodies)
}

fn rss_mb(pid: u32) -> Result<f64, Status> {
    ProcStats::read(pid)
        .map(|s| s.rss_mb)
        .map_err(|e| failed("reading the router's memory", e))
}

/// Opens idle connections until `idle` has `want` (by `deadline`); returns why the router
/// refused one, if it did.
fn open_up_to(
    idle: &mut Vec<TcpStream>,
    want: usize,
    level: u32,
    addr: std::net::SocketAddr,
    requests: &[Vec<u8>],
    deadline: Instant,
) -> Result<Option<String>, Status> {
    while idle.len() < want {
        if Instant::now() >= deadline {
            return Err(Status::Timeout(format!(
                "the --timeout expired while opening idle connection {} of {level}",
                idle.len() + 1
            )));
        }
        match open_idle(addr, &requests[idle.len() % requests.len()]) {
            Ok(s) => idle.push(s),
            Err(e) => return Ok(Some(format!("{e:#}"))),
        }
    }
    Ok(None)
}

/// What one level of idle connections did to the router.
struct Reading {
    level: u32,
    opened: usize,
    open_ms: f64,
    rss_before: f64,
    rss: f64,
    closed: usize,
    refused: Option<String>,
}

/// Notes a level's reading, annotates its phase and records its metrics (opened, KB per
/// connection, the active phase's p50 and p99, closed).
fn record(runner: &mut Runner<'_, '_>, phase: &str, r: &Reading, result: &Report) {
    let (level, opened, closed) = (r.level, r.opened, r.closed);
    let kb_per_conn = super::ratio((r.rss - r.rss_before) * 1024.0, opened as f64);
    runner.note(&format!(
        "connections: {opened} idle opened in {:.0} ms, router RSS {:.3} MB \
         ({kb_per_conn:.2} KB per connection), {closed} closed by the router",
        r.open_ms, r.rss
    ));
    runner.annotate_phase(
        phase,
        "idle",
        json!({
            "requested": level,
            "opened": opened,
            "open_ms": round3(r.open_ms),
            "rss_before_mb": round3(r.rss_before),
            "rss_mb": round3(r.rss),
            "closed_by_router": closed,
            "refused": r.refused,
        }),
    );
    runner.metric(&format!("conn_opened_{level}"), opened as f64);
    runner.metric(
        &format!("conn_rss_kb_per_conn_{level}"),
        round3(kb_per_conn),
    );
    for q in ["p50", "p99"] {
        runner.metric(
            &format!("conn_active_{q}_ms_{level}"),
            round4(result.latency(q)),
        );
    }
    runner.metric(&format!("conn_idle_closed_{level}"), closed as f64);
}

pub fn run(p: &Params, runner: &mut Runner<'_, '_>) -> Result<(), Status> {
    let (pid, addr) = (runner.router.pid, runner.router.addr);
    let most = u64::from(*p.idle.last().expect("validated: at least one level"));
    let (can, notes) = fit_fd_limits(pid, most);
    for line in &notes {
        runner.note(&format!("connections: {line}"));
    }
    if can < most {
        runner.say(&format!(
            "warning: connections: {}",
            notes.last().map_or("", String::as_str)
        ));
    }
    let requests: Vec<Vec<u8>> = bodies(&runner.ctx.loadgen.bodies)
        .map_err(|e| failed("connections", e))?
        .iter()
        .map(|b| decide_request(addr, b))
        .collect();
    let settle = Duration::from_millis(p.settle_ms);
    std::thread::sleep(settle);
    let rss_before = rss_mb(pid)?;
    runner.note(&format!(
        "connections: router RSS {rss_before:.3} MB before any idle connection"
    ));
    let mut idle: Vec<TcpStream> = Vec::new();
    for &level in &p.idle {
        let want = u64::from(level).min(can) as usize;
        runner.say(&format!(
            "connections: opening idle connections up to {level}"
        ));
        let started = Instant::now();
        let refused = open_up_to(&mut idle, want, level, addr, &requests, runner.ctx.deadline)?;
        let open_ms = started.elapsed().as_secs_f64() * 1e3;
        let opened = idle.len();
        if opened < level as usize {
            let why = refused.as_deref().unwrap_or("the open-file limits");
            let line = format!("connections: opened {opened} of {level} idle connections: {why}");
            runner.note(&line);
            runner.say(&format!("warning: {line}"));
        }
        std::thread::sleep(settle);
        let rss = rss_mb(pid)?;
        let phase = format!("active_{level}");
        let spec = LoadSpec::open(p.active_connections, p.active_ms, p.active_rate);
        let result = runner.phase(&phase, &spec)?;
        // The router closes a connection idle for --header-read-timeout, which the workload
        // sets far beyond the scenario; this checks that none was closed meanwhile.
        let closed = idle.iter().filter(|s| !still_open(s)).count();
        if closed > 0 {
            let line = format!(
                "connections: the router closed {closed} of {opened} idle connections within \
                 {:.1} s; the numbers hold for the window before that",
                (Instant::now() - started).as_secs_f64()
            );
            runner.note(&line);
            runner.say(&format!("warning: {line}"));
        }
        let reading = Reading {
            level,
            opened,
            open_ms,
            rss_before,
            rss,
            closed,
            refused,
        };
        record(runner, &phase, &reading, &result);
    }
    drop(idle);
    Ok(())
}

#[cfg(test)]
mod tests;
