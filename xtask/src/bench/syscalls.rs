//! What the router asks of the kernel per request: its system calls by name, counted with
//! `strace -f -c` over the same two runs as the instruction count. The kernel's work is
//! invisible to callgrind, but the calls that ask for it hardly move for one binary and
//! request mix (xtask/BENCHMARKS.md, "Kernel work counted"), where `cpu_sys_ms_per_1k_req`
//! reads a shared machine's clock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench::counters::{CountCtx, full_and_half, on_path};
use crate::bench::env_info::captured;

pub(crate) const INSTALL_HINT: &str = "apt-get install strace";

/// strace's full path once it has traced a short program here (a container may forbid ptrace:
/// better said before than midway); else an error with the install hint or strace's words.
pub(crate) fn strace_path() -> Result<PathBuf> {
    let path = on_path("strace", INSTALL_HINT)?;
    let out = captured(duct::cmd!(&path, "-f", "-c", "-o", "/dev/null", "true"))
        .run()
        .with_context(|| format!("running {}", path.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot trace a program on this machine: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(path)
}

/// The smallest per-request count a call is listed with: one call in 100 requests.
pub(crate) const MIN_PER_REQUEST: f64 = 0.01;

/// A request's system calls: their sum, and by name (from [`MIN_PER_REQUEST`] up).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct PerRequest {
    pub total: f64,
    pub by_name: BTreeMap<String, f64>,
}

/// The calls by name in strace's `-c` summary table (`% time  seconds  usecs/call  calls
/// [errors]  syscall`, between the dashed lines; the `total` row left out).
pub(crate) fn parse_summary(text: &str) -> Result<BTreeMap<String, u64>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("% time"));
    if lines.next().is_none() {
        bail!("no `% time ... syscall` header in strace's summary");
    }
    let mut calls = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("---") || fields.is_empty() {
            continue;
        }
        let name = fields[fields.len() - 1];
        if name == "total" {
            break;
        }
        let n = fields
            .get(3)
            .and_then(|f| f.parse::<u64>().ok())
            .with_context(|| format!("unreadable line in strace's summary: `{line}`"))?;
        *calls.entry(name.to_string()).or_default() += n;
    }
    Ok(calls)
}

/// The calls of the requests between two runs, each `(calls, responses)`, the longer first.
pub(crate) fn difference(
    (full, full_responses): (&BTreeMap<String, u64>, u64),
    (half, half_responses): (&BTreeMap<String, u64>, u64),
) -> Result<PerRequest> {
    if full_responses <= half_responses {
        bail!(
            "syscall counting runs answered {full_responses} and {half_responses} requests; \
             expected more in the first"
        );
    }
    let requests = (full_responses - half_responses) as f64;
    // Fewer calls in the longer run is noise in a call no request makes (a timer's futex
    // wake-ups on a 100-request run read -0.08 once): a rate below zero is zero, never a
    // negative metric that every reader of the run file refuses.
    let per = |a: f64, b: f64| (((a - b) / requests * 1000.0).round() / 1000.0).max(0.0);
    let calls = |m: &BTreeMap<String, u64>, name: &str| m.get(name).copied().unwrap_or(0) as f64;
    let by_name = full
        .keys()
        .chain(half.keys())
        .map(|name| (name.clone(), per(calls(full, name), calls(half, name))))
        // A call made once more in one run than the other is no request's.
        .filter(|(_, per)| *per >= MIN_PER_REQUEST)
        .collect();
    let sum = |m: &BTreeMap<String, u64>| m.values().sum::<u64>() as f64;
    let total = per(sum(full), sum(half));
    Ok(PerRequest { total, by_name })
}

/// The router's system calls per request, over [`full_and_half`]'s two runs.
pub(crate) fn per_req(ctx: &CountCtx<'_>, strace: &Path, requests: u64) -> Result<PerRequest> {
    let (full, half) = full_and_half("strace", requests, |requests, window, _| {
        traced(ctx, strace, requests, window)
    })?;
    difference((&full.0, full.1), (&half.0, half.1))
}

/// One run under `strace -f -c`: (calls by name, responses); strace writes its summary when
/// the router has exited.
fn traced(
    ctx: &CountCtx<'_>,
    strace: &Path,
    requests: u64,
    window: Option<Duration>,
) -> Result<(BTreeMap<String, u64>, u64)> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_file = ctx.workdir.join(format!("strace.{n}.txt"));
    let _ = std::fs::remove_file(&out_file);
    let spec = ctx.spec(
        strace.to_path_buf(),
        vec![
            "-f".into(),
            "-c".into(),
            "-o".into(),
            out_file.display().to_string(),
            ctx.router_bin.display().to_string(),
        ],
    );
    let router = ctx.start(
        &spec,
        Duration::from_secs(30),
        "the router under strace did not start",
    )?;
    let (responses, errors) = ctx.drive(&router, requests, window)?;
    let stop = router.stop_wrapped(Duration::from_secs(10));
    if errors > 0 {
        bail!("syscall counting run: {errors} request(s) failed");
    }
    if !stop.clean {
        bail!("strace did not stop cleanly after the syscall counting run: {stop:?}");
    }
    let text = std::fs::read_to_string(&out_file)
        .with_context(|| format!("reading strace's summary {}", out_file.display()))?;
    let calls = parse_summary(&text).with_context(|| format!("in {}", out_file.display()))?;
    Ok((calls, responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 41.02    0.010000           5      2000           epoll_wait
 30.00    0.008000           2      4000      2000 recvfrom
 20.00    0.005000           2      2000           sendto
  0.00    0.000000           0         3           mmap
------ ----------- ----------- --------- --------- ----------------
100.00    0.023000           2      8003      2000 total
";

    #[test]
    fn the_summary_gives_calls_by_name_with_or_without_errors() {
        let calls = parse_summary(SUMMARY).unwrap();
        assert_eq!(calls["recvfrom"], 4000);
        assert_eq!(calls["epoll_wait"], 2000);
        assert_eq!(calls["mmap"], 3);
        assert!(!calls.contains_key("total"));
        assert!(parse_summary("strace: exec failed\n").is_err());
        assert!(parse_summary("% time  seconds\n 1.0 0.1 5 many  write\n").is_err());
    }

    #[test]
    fn start_up_cancels_out_and_a_request_is_the_difference() {
        let full = parse_summary(SUMMARY).unwrap();
        let half: BTreeMap<String, u64> = [
            ("epoll_wait", 1000),
            ("recvfrom", 2000),
            ("sendto", 1000),
            ("mmap", 3),
            ("openat", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let per = difference((&full, 2000), (&half, 1000)).unwrap();
        assert_eq!(per.by_name["recvfrom"], 2.0);
        assert_eq!(per.by_name["sendto"], 1.0);
        assert_eq!(per.total, 3.999);
        // Start-up calls, and a call only the shorter run made, are no request's.
        assert!(!per.by_name.contains_key("mmap"));
        assert!(!per.by_name.contains_key("openat"));
        assert!(difference((&full, 1000), (&half, 1000)).is_err());
    }

    #[test]
    fn a_call_the_longer_run_made_less_often_is_no_requests_and_never_negative() {
        let full = parse_summary(SUMMARY).unwrap();
        let mut half = full.clone();
        // 80 more futex calls in the shorter run: -0.08 a request over 1000 requests.
        *half.entry("futex".to_string()).or_default() += 80;
        let per = difference((&full, 2000), (&half, 1000)).unwrap();
        assert!(!per.by_name.contains_key("futex"), "{:?}", per.by_name);
        assert!(per.by_name.values().all(|v| *v >= 0.0));
        assert_eq!(per.total, 0.0);
    }
}
