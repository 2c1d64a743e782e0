//! Instruction counts of the component benchmarks: `component_<name>_ir`, one operation's
//! instructions under callgrind, deterministic and nearly machine-independent (the wall-clock
//! ns moved by tens of percent between weeks). Each benchmark runs alone
//! (`components --iterations N --filter NAME`), collected only inside `bench_loop`, for N and
//! N/2 iterations: `(Ir(N) - Ir(N/2)) / (N - N/2)` cancels what runs once per process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::counters::{parse_total_ir, valgrind_path};
use crate::bench::env_info::captured;
use crate::bench::runner::{Log, Status, failed};
use crate::bench::session::Opened;

/// The metric a benchmark's count is gated as.
pub(crate) fn metric_name(benchmark: &str) -> String {
    format!("component_{benchmark}_ir")
}

/// Instructions per operation from a full run and a half run, each (iterations, Ir).
pub(crate) fn per_op(full: (u64, u64), half: (u64, u64)) -> Result<f64> {
    let ((n_full, ir_full), (n_half, ir_half)) = (full, half);
    if n_full <= n_half {
        bail!("counting runs of {n_full} and {n_half} iterations; expected more in the first");
    }
    if ir_full <= ir_half {
        bail!(
            "callgrind counted {ir_full} instructions for {n_full} iterations but {ir_half} for \
             {n_half}: the benchmark's loop was not collected (is `bench_loop` inlined?)"
        );
    }
    Ok((ir_full - ir_half) as f64 / (n_full - n_half) as f64)
}

/// The benchmarks `bin` offers (`--list`) matching `filter`; none is an error naming it, and
/// so is a bench without `--list` (it predates counting).
pub fn list(bin: &Path, filter: Option<&str>) -> Result<Vec<String>> {
    let mut args = vec!["--list"];
    args.extend(filter.map(|f| ["--filter", f]).into_iter().flatten());
    let out = captured(duct::cmd(bin, args))
        .run()
        .with_context(|| format!("running {} --list", bin.display()))?;
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if out.status.success() && names.is_empty() {
        bail!(
            "no benchmark of {} matches the filter {filter:?}",
            bin.display()
        );
    }
    if !out.status.success() {
        bail!(
            "{} has no counting mode (`--list` failed: {}): it predates counted components",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(names)
}

/// One benchmark of one bench binary (`sides[side]` of [`count`]) to count.
#[derive(Debug, Clone)]
pub(crate) struct Job<'a> {
    pub side: usize,
    pub bin: &'a Path,
    pub benchmark: &'a str,
}

/// Counts `jobs`, two processes at a time (counts do not depend on load); returns each job's
/// instructions per operation in order, logging each as it comes.
fn count_all(
    jobs: &[Job<'_>],
    iterations: u64,
    workdir: &Path,
    deadline: Instant,
    log: &Log,
) -> Vec<Result<f64>> {
    // One job: the full run, then the half run.
    let count_one = |job: &Job<'_>, i: usize| -> Result<f64> {
        let half = iterations / 2;
        let run = |n, tag| callgrind(job, n, &workdir.join(format!("cg.{i}.{tag}")), deadline);
        per_op(
            (iterations, run(iterations, "full")?),
            (half, run(half, "half")?),
        )
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<f64>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 2);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    let r = count_one(job, i);
                    let what = match &r {
                        Ok(v) => format!("{v:.1} instructions per operation"),
                        Err(e) => format!("failed: {e:#}"),
                    };
                    log.line(&format!(
                        "count: {} {}: {what}",
                        job.bin.display(),
                        job.benchmark
                    ));
                    (results.lock().expect("no worker panics holding it")).push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no worker panicked holding it");
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The instructions callgrind collected in `bench_loop` over `iterations` operations.
fn callgrind(job: &Job<'_>, iterations: u64, out: &Path, deadline: Instant) -> Result<u64> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        bail!("the --timeout expired before the counting run");
    }
    let _ = std::fs::remove_file(out);
    let args: Vec<String> = vec![
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", out.display()),
        // Only the operations: the setup (building a 100k-session store, ...) is not counted.
        "--collect-atstart=no".into(),
        "--toggle-collect=*bench_loop*".into(),
        "--dump-instr=no".into(),
        job.bin.display().to_string(),
        "--iterations".into(),
        iterations.to_string(),
        "--filter".into(),
        job.benchmark.to_string(),
    ];
    let handle = captured(duct::cmd(valgrind_path()?, &args))
        .start()
        .context("starting valgrind")?;
    let Some(output) = handle.wait_timeout(remaining)? else {
        let _ = handle.kill();
        bail!(
            "the --timeout expired while counting {} (killed after {:.0} s)",
            job.benchmark,
            remaining.as_secs_f64()
        );
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        bail!(
            "{} --iterations {iterations} --filter {} under callgrind exited with {}: {}",
            job.bin.display(),
            job.benchmark,
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    let text =
        std::fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?;
    parse_total_ir(&text).with_context(|| format!("reading {}", out.display()))
}

/// Per metric (`component_<name>_ir`), one value per counting run.
pub(crate) type Counts = BTreeMap<String, Vec<f64>>;

/// Counts every benchmark (the first side's `--list` matching `filter`; the reference has the
/// same harness) `runs` times on each side's bench: per side, one value per run by metric.
pub(crate) fn count(
    out: &Opened,
    sides: &[&Path],
    filter: Option<&str>,
    runs: u32,
    iterations: u64,
) -> Result<Vec<Counts>, Status> {
    let benchmarks = list(sides[0], filter).map_err(|e| failed("listing the benchmarks", e))?;
    out.progress.note(&format!(
        "perf-bench: counting {} benchmark(s) under callgrind ({} side(s), {runs} run(s) each)",
        benchmarks.len(),
        sides.len()
    ));
    let started = Instant::now();
    let tmp = (tempfile::tempdir())
        .context("creating a directory for the callgrind files")
        .map_err(|e| failed("counting", e))?;
    let one_run = sides.iter().enumerate().flat_map(|(side, bin)| {
        (benchmarks.iter()).map(move |benchmark| Job {
            side,
            bin,
            benchmark,
        })
    });
    let jobs: Vec<Job<'_>> = (0..runs).flat_map(|_| one_run.clone()).collect();
    let results = count_all(&jobs, iterations, tmp.path(), out.deadline, &out.log);
    let took = started.elapsed().as_secs_f64();
    out.log.line(&format!("counting took {took:.1} s"));
    let mut per_side: Vec<Result<Counts>> = sides.iter().map(|_| Ok(BTreeMap::new())).collect();
    for (job, r) in jobs.iter().zip(results) {
        if let Ok(m) = &mut per_side[job.side] {
            match r {
                Ok(v) => m.entry(metric_name(job.benchmark)).or_default().push(v),
                Err(e) => per_side[job.side] = Err(e),
            }
        }
    }
    (per_side.into_iter().zip(sides))
        .map(|(r, bin)| r.map_err(|e| failed(&format!("counting {}", bin.display()), e)))
        .collect()
}
