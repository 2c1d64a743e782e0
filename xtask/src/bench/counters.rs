//! Instruction counts that do not flake: `instructions_per_req` over a fixed request count is
//! the same for the same binary and input, where wall-clock numbers on a shared machine move by
//! tens of percent. Hardware counters (`perf_counter`) where the machine has them, else callgrind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::loadgen::{LoadError, LoadSpec, Loadgen};
use crate::bench::router::{RouterProcess, RouterSpec};
use crate::model::counters::Counters;

use crate::bench::perf_counter::{self, Event, ProcessCounter};

pub(crate) const INSTALL_HINT: &str = "apt-get install valgrind";

/// Decides the counter to use, before anything starts: `perf` on a machine that cannot
/// count is an error naming why (exit 2), as is `callgrind` without valgrind.
pub(crate) fn choose(requested: Counters) -> Result<Chosen> {
    let chosen = |method, valgrind_version, why| Chosen {
        requested,
        method,
        valgrind_version,
        why,
    };
    match requested {
        Counters::Perf => match perf_counter::probe(Event::Instructions) {
            Ok(()) => Ok(chosen(Method::Perf, None, None)),
            Err(why) => bail!(
                "--counters perf: this machine cannot count hardware instructions: {why}; \
                 use `--counters callgrind` (or `--counters auto`)"
            ),
        },
        Counters::Callgrind => Ok(chosen(Method::Callgrind, Some(valgrind_version()?), None)),
        Counters::Auto => match perf_counter::probe(Event::Instructions) {
            Ok(()) => {
                let why = "hardware counters available".to_string();
                Ok(chosen(Method::Perf, None, Some(why)))
            }
            Err(why) => {
                let version = valgrind_version().with_context(|| {
                    format!("--counters auto: no hardware counters ({why}) and no callgrind")
                })?;
                let why = format!("hardware counters unavailable: {why}");
                Ok(chosen(Method::Callgrind, Some(version), Some(why)))
            }
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Perf,
    Callgrind,
}

/// The counter a run uses, decided before it starts.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    /// What was asked for (`auto` resolves to one of the methods).
    pub requested: Counters,
    pub method: Method,
    /// valgrind's version line, with `Method::Callgrind`.
    pub valgrind_version: Option<String>,
    /// Why `auto` chose what it did.
    pub why: Option<String>,
}

impl Chosen {
    /// `perf` or `callgrind`: what `env.counters` of the run file records.
    pub fn name(&self) -> &'static str {
        match self.method {
            Method::Perf => "perf",
            Method::Callgrind => "callgrind",
        }
    }

    /// One line for the log: which counter, and for `auto` why.
    pub(crate) fn describe(&self) -> String {
        let what = match self.method {
            Method::Perf => {
                "perf_event_open, hardware instructions, user space, all router threads".to_string()
            }
            Method::Callgrind => format!(
                "valgrind callgrind ({}), all router threads",
                self.valgrind_version.as_deref().unwrap_or("?")
            ),
        };
        match &self.why {
            Some(why) => format!("counters: auto chose {} ({what}): {why}", self.name()),
            None => format!("counters: {} ({what})", self.name()),
        }
    }
}

/// valgrind's version line; an error with the install hint when it is not on PATH.
pub(crate) fn valgrind_version() -> Result<String> {
    crate::bench::env_info::version_of("valgrind", INSTALL_HINT)
}

pub(crate) fn valgrind_path() -> Result<PathBuf> {
    on_path("valgrind", INSTALL_HINT)
}

/// A program's full path from PATH, or an error with its install hint: a wrapper (valgrind,
/// strace) started in a working directory would not look a bare name up the same way.
pub(crate) fn on_path(program: &str, install_hint: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("`{program}` is not on PATH; install it: `{install_hint}`"))
}

/// The total instruction count (`Ir`, the first event) from a callgrind out file: its
/// `totals:` line, or the `summary:` line when there is no `totals:`.
pub(crate) fn parse_total_ir(text: &str) -> Result<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| text.lines().find(|l| l.starts_with("summary:")))
        .context("callgrind output has no `totals:` or `summary:` line")?;
    let (_, rest) = line.split_once(':').expect("the line starts with a key");
    rest.split_whitespace()
        .next()
        .context("empty callgrind totals line")?
        .parse::<u64>()
        .with_context(|| format!("unreadable callgrind totals line `{line}`"))
}

/// What one counting run needs.
pub struct CountCtx<'a> {
    /// The release router.
    pub router_bin: &'a Path,
    /// Extra router flags (`--router-arg`).
    pub router_args: &'a [String],
    pub router_env_remove: &'a [String],
    pub cpus: Option<Vec<usize>>,
    pub loadgen: &'a Loadgen,
    pub workdir: &'a Path,
    pub log: &'a Path,
    pub deadline: Instant,
}

impl CountCtx<'_> {
    /// The counted router: `bin` (with `prefix_args`: valgrind and its flags) and the run's
    /// flags, environment and CPUs. One worker thread: under valgrind threads are serialised,
    /// and no work stealing varies the count; every thread is counted either way.
    pub(crate) fn spec(&self, bin: PathBuf, prefix_args: Vec<String>) -> RouterSpec {
        RouterSpec {
            bin,
            prefix_args,
            args: ["--worker-threads", "1"]
                .into_iter()
                .map(String::from)
                .chain(self.router_args.iter().cloned())
                .collect(),
            env: Vec::new(),
            env_remove: self.router_env_remove.to_vec(),
            cpus: self.cpus.clone(),
        }
    }

    /// Starts `spec` for a counting run, waiting at most `ready` (and never past the
    /// deadline) for it; `failed` is the error's context.
    pub(crate) fn start(
        &self,
        spec: &RouterSpec,
        ready: Duration,
        failed: &'static str,
    ) -> Result<RouterProcess> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            bail!("the --timeout expired before the counting run");
        }
        RouterProcess::start(spec, self.workdir, self.log, remaining.min(ready)).context(failed)
    }

    /// Sends `requests` closed-loop requests over one HTTP connection, for at most `window`
    /// when one is given; returns (responses, failed requests).
    pub(crate) fn drive(
        &self,
        router: &RouterProcess,
        requests: u64,
        window: Option<Duration>,
    ) -> Result<(u64, u64)> {
        // Without a window, long enough never to end the run before the request budget.
        let duration_ms = window.map_or(600_000, |w| w.as_millis().max(1) as u64);
        let load = LoadSpec {
            max_requests: Some(requests),
            ..LoadSpec::closed(1, duration_ms)
        };
        let result = match self.loadgen.run(router.addr, &load, self.deadline) {
            Ok(v) => v,
            Err(LoadError::Deadline) => bail!("the --timeout expired during the counting run"),
            Err(LoadError::Failed(e)) => return Err(e.context("counting run")),
        };
        Ok((result.responses, result.errors.total()))
    }
}

pub fn instructions_per_req(ctx: &CountCtx<'_>, method: Method, requests: u64) -> Result<f64> {
    if requests < 2 {
        bail!("--counter-requests: expected at least 2");
    }
    match method {
        Method::Perf => perf_per_req(ctx, requests),
        Method::Callgrind => {
            let (((ir_full, _), full), ((ir_half, _), half)) =
                callgrind_pair(ctx, requests, "", &[])?;
            Ok((ir_full - ir_half) as f64 / (full - half) as f64)
        }
    }
}

/// With perf_event_open: `requests / 2` requests to warm the router up (first-touch
/// allocations, lazy state), then counters on every thread read around `requests` more.
fn perf_per_req(ctx: &CountCtx<'_>, requests: u64) -> Result<f64> {
    let spec = ctx.spec(ctx.router_bin.to_path_buf(), Vec::new());
    let router = ctx.start(
        &spec,
        Duration::from_secs(30),
        "the router did not start for the counting run",
    )?;
    let (_, warm_errors) = ctx.drive(&router, requests / 2, None)?;
    let counter = ProcessCounter::open(router.pid, Event::Instructions)?;
    let before = counter.read()?;
    let (responses, errors) = ctx.drive(&router, requests, None)?;
    let after = counter.read()?;
    let stop = router.stop(Duration::from_secs(10));
    if warm_errors + errors > 0 {
        bail!("counting run: {} request(s) failed", warm_errors + errors);
    }
    if !stop.clean {
        bail!("the router did not stop cleanly after the counting run: {stop:?}");
    }
    per_request(after.total.saturating_sub(before.total), responses)
        .with_context(|| format!("counters on {} router threads", counter.threads()))
}

/// The count over the responses, refusing a run that answered or counted nothing.
fn per_request(instructions: u64, responses: u64) -> Result<f64> {
    if responses == 0 {
        bail!("the counting run answered no requests");
    }
    if instructions == 0 {
        bail!("the counters saw no instructions over {responses} requests");
    }
    Ok(instructions as f64 / responses as f64)
}

/// How long the first of a pair of callgrind runs may send requests. A release router answers
/// the default 2,000 in about 2.5 s there, so this bounds only a router made many times slower:
/// it answers fewer requests, and the per-request figure (a difference over a difference) is
/// as good, and as quick, as for a small regression.
pub(crate) const CALLGRIND_WINDOW: Duration = Duration::from_secs(8);

/// One callgrind run of a pair: ((total instructions, the callgrind out file), responses).
pub(crate) type CallgrindRun = ((u64, PathBuf), u64);

/// The two runs every count makes: up to `requests` (within [`CALLGRIND_WINDOW`]), then half
/// the responses the first got; their difference over the responses' difference is a
/// request's, start-up and shutdown cancelled out. `run(requests, window, "full" | "half")`
/// is one run under `tool`, returning its reading and its responses.
pub(crate) fn full_and_half<T>(
    tool: &str,
    requests: u64,
    mut run: impl FnMut(u64, Option<Duration>, &str) -> Result<(T, u64)>,
) -> Result<((T, u64), (T, u64))> {
    let full = run(requests, Some(CALLGRIND_WINDOW), "full")?;
    if full.1 < 2 {
        bail!(
            "the router under {tool} answered {} request(s) in {} s; too slow to count",
            full.1,
            CALLGRIND_WINDOW.as_secs()
        );
    }
    let half = run(full.1 / 2, None, "half")?;
    if full.1 <= half.1 {
        bail!(
            "counting runs answered {} and {} requests; expected more in the first",
            full.1,
            half.1
        );
    }
    Ok((full, half))
}

/// The router under callgrind, twice ([`full_and_half`]). `tag` names the out files, `env`
/// is set for the router only.
pub(crate) fn callgrind_pair(
    ctx: &CountCtx<'_>,
    requests: u64,
    tag: &str,
    env: &[(String, String)],
) -> Result<(CallgrindRun, CallgrindRun)> {
    let (full, half) = full_and_half("callgrind", requests, |requests, window, which| {
        callgrind_once(ctx, requests, &format!("{tag}{which}"), env, window)
    })?;
    let (((full_ir, _), full_n), ((half_ir, _), half_n)) = (&full, &half);
    if full_ir <= half_ir {
        bail!(
            "callgrind counted {full_ir} instructions for {full_n} requests but {half_ir} for {half_n}"
        );
    }
    Ok((full, half))
}

/// The router under callgrind, with `env`, for `requests` requests on one connection (within
/// `window`): ((total instructions, the out file `bench::profile` reads further), responses).
fn callgrind_once(
    ctx: &CountCtx<'_>,
    requests: u64,
    tag: &str,
    env: &[(String, String)],
    window: Option<Duration>,
) -> Result<CallgrindRun> {
    // A name of its own: the routers of a paired session are counted at the same time.
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_file: PathBuf = ctx.workdir.join(format!("cg.{n}.{tag}.out"));
    let _ = std::fs::remove_file(&out_file);
    let mut spec = ctx.spec(
        valgrind_path()?,
        vec![
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", out_file.display()),
            "--trace-children=no".into(),
            "--dump-instr=no".into(),
            "--collect-atstart=yes".into(),
            // Mangled names keep two instances of a generic function apart (a profile
            // demangles them itself); counts do not depend on it.
            "--demangle=no".into(),
            ctx.router_bin.display().to_string(),
        ],
    );
    spec.env = env.to_vec();
    // valgrind slows start-up by tens of times: a generous wait for the address and /ready.
    let router = ctx.start(
        &spec,
        Duration::from_secs(180),
        "the router under callgrind did not start",
    )?;
    let (responses, errors) = ctx.drive(&router, requests, window)?;
    // SIGTERM lets the router shut down and callgrind write its totals.
    let stop = router.stop(Duration::from_secs(120));
    if !stop.clean {
        bail!("the router under callgrind did not stop cleanly: {stop:?}");
    }
    if errors > 0 {
        bail!("counting run: {errors} request(s) failed");
    }
    let text = std::fs::read_to_string(&out_file)
        .with_context(|| format!("reading {}", out_file.display()))?;
    Ok(((parse_total_ir(&text)?, out_file), responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_line_gives_the_ir_total() {
        let text = "# callgrind format\nversion: 1\ncreator: callgrind-3.22.0\n\
            events: Ir\nsummary: 123\nfn=main\n0 5\ntotals: 987654321\n";
        assert_eq!(parse_total_ir(text).unwrap(), 987_654_321);
    }

    #[test]
    fn summary_line_when_there_is_no_totals_and_first_event_counts() {
        let text = "events: Ir Dr\nsummary: 4567 89\n";
        assert_eq!(parse_total_ir(text).unwrap(), 4567);
    }

    #[test]
    fn missing_or_bad_totals_is_an_error() {
        assert!(parse_total_ir("events: Ir\n").is_err());
        assert!(parse_total_ir("totals: many\n").is_err());
    }
}
