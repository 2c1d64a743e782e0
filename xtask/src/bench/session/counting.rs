//! Counting and profiling a session's routers: instructions (and system calls) per request
//! for each arm and a count-only reference, and the differential profile's callgrind runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Opened, Ready, Session, TEST_KNOBS};
use crate::bench::counters::{self, CountCtx, Method};
use crate::bench::runner::{Status, round3};
use crate::bench::{profile, syscalls};
use crate::model::metric::{INSTRUCTIONS_PER_REQ, SYSCALLS_PER_REQ, syscall_per_req};
use crate::model::profile::Profile;

/// One counting run's readings: metric -> value.
pub type Counted = BTreeMap<String, f64>;

/// Counting runs' readings as samples, metric by metric (a call one run did not list, 0).
pub(crate) fn by_metric(runs: &[Counted]) -> BTreeMap<String, Vec<f64>> {
    let names: BTreeSet<&String> = runs.iter().flat_map(|r| r.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let values = runs.iter().map(|r| r.get(name).copied().unwrap_or(0.0));
            (name.clone(), values.collect())
        })
        .collect()
}

/// `f` of every router at once, one thread each (a count does not depend on load); the
/// results in their order, `what` naming a thread that panicked.
fn at_once<R: Send>(
    routers: &[CountCtx<'_>],
    what: &str,
    f: impl Fn(&CountCtx<'_>) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = routers.iter().map(|ctx| s.spawn(|| f(ctx))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("{what} panicked")))
            })
            .collect()
    })
}

/// One counting run of one router: its instructions per request, then, with `strace`, its
/// system calls per request (a run of its own: under valgrind they would be valgrind's).
fn count_one(
    ctx: &CountCtx<'_>,
    method: Method,
    strace: Option<&Path>,
    requests: u64,
) -> Result<Counted> {
    let instructions = counters::instructions_per_req(ctx, method, requests)?;
    let mut counted = Counted::from([(INSTRUCTIONS_PER_REQ.to_string(), round3(instructions))]);
    if let Some(strace) = strace {
        let calls = syscalls::per_req(ctx, strace, requests)?;
        counted.insert(SYSCALLS_PER_REQ.to_string(), calls.total);
        for (name, per) in calls.by_name {
            counted.insert(syscall_per_req(&name), per);
        }
    }
    Ok(counted)
}

impl Ready {
    /// Router `bin` counted or profiled without `env` in its environment, on the CPUs every
    /// arm's router has.
    fn count_ctx<'r>(&'r self, out: &'r Opened, bin: &'r Path, env: &'r [String]) -> CountCtx<'r> {
        CountCtx {
            router_bin: bin,
            router_args: &self.router_args,
            router_env_remove: env,
            cpus: self.specs[0].cpus.clone(),
            loadgen: &self.counting,
            workdir: self.tmp.path(),
            log: &out.log_path,
            deadline: out.deadline,
        }
    }
}

impl Session<'_> {
    /// Counts instructions (and with strace system calls) per request, `runs` counting runs
    /// per arm. Counts are deterministic: one run gives the number (xtask/BENCHMARKS.md has
    /// the spread), more only confirm it. The router `reference` (a stored baseline's commit,
    /// when only the count is paired) is counted beside each run, unless it is the candidate's
    /// own program. Returns the reference's counts, one per counting run: `reference`'s, else
    /// the first arm's (a paired session's reference, or a lone candidate, whose program is
    /// then the reference's too).
    pub fn count(&mut self, runs: u32, reference: Option<&Path>) -> Vec<Counted> {
        let mut counted_reference = Vec::new();
        let (Some(counter), Some(ready), true) = (&self.plan.counter, &self.ready, self.ok())
        else {
            return counted_reference;
        };
        let reference = reference.filter(|&bin| ready.specs.last().is_some_and(|c| c.bin != bin));
        self.out.log.line(&counter.describe());
        self.out.log.line(&match &self.plan.strace {
            Ok(path) => format!("system calls: counted with {} -f -c", path.display()),
            Err(why) => format!("system calls: not counted: {why}"),
        });
        let strace = self.plan.strace.as_deref().ok();
        // Each arm's router, and the count-only reference without the test knobs (a reference
        // never gets them).
        let knobs: Vec<String> = TEST_KNOBS.map(String::from).into();
        let ctx = |bin, env_remove| ready.count_ctx(&self.out, bin, env_remove);
        let mut routers: Vec<CountCtx<'_>> = (ready.specs.iter())
            .map(|spec| ctx(&spec.bin, &spec.env_remove))
            .collect();
        routers.extend(reference.map(|bin| ctx(bin, &knobs)));
        let mut slowest = Duration::ZERO;
        'runs: for n in 1..=runs {
            // Bounded in time: a run that would not fit before the --timeout is not started;
            // the runs done so far still make the metric.
            if n > 1 && !self.time_for_another(n, runs, slowest) {
                break;
            }
            self.out.progress.note(&format!(
                "counting run {n}/{runs}: {}, {} requests{}",
                counter.name(),
                self.args.counter_requests,
                if routers.len() > 1 {
                    ", both routers at once (a count does not depend on load)"
                } else {
                    ""
                }
            ));
            let run_started = Instant::now();
            let (method, requests) = (counter.method, self.args.counter_requests);
            let counted = at_once(&routers, "a counting run", |ctx| {
                count_one(ctx, method, strace, requests)
            });
            for (i, result) in counted.into_iter().enumerate() {
                let side = self
                    .arms
                    .get(i)
                    .map_or("reference (count only)", |a| a.prefix);
                let counted = match result {
                    Ok(counted) => counted,
                    Err(e) => {
                        self.fail(Status::Failed(format!("counting run {n} ({side}): {e:#}")));
                        break 'runs;
                    }
                };
                let readings: Vec<String> =
                    counted.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let how = counter.name();
                self.out.log.line(&format!(
                    "counting run {n} ({side}, {how}): {}",
                    readings.join(", ")
                ));
                match self.runs.get_mut(i) {
                    Some(arm) => arm.counted.push(counted),
                    None => counted_reference.push(counted),
                }
            }
            slowest = slowest.max(run_started.elapsed());
        }
        match reference {
            Some(_) => counted_reference,
            None => self.runs[0].counted.clone(),
        }
    }

    /// Whether counting run `n` fits before the --timeout, when the slowest so far took
    /// `slowest`; a warning says what was left out when it does not.
    fn time_for_another(&self, n: u32, runs: u32, slowest: Duration) -> bool {
        let left = self.out.deadline.saturating_duration_since(Instant::now());
        if left >= slowest * 2 {
            return true;
        }
        self.out.progress.note(&format!(
            "perf-bench: warning: {} of {runs} counting runs: the --timeout leaves {:.0} s, a \
             counting run took up to {:.0} s; a longer --timeout would allow all of them",
            n - 1,
            left.as_secs_f64(),
            slowest.as_secs_f64()
        ));
        false
    }

    /// Profiles each arm's router under callgrind at once (`reference` instead of the first
    /// arm's when given) and keeps the raw files with the artifacts: (reference, candidate).
    pub fn profile(&self, reference: Option<PathBuf>) -> Result<(Profile, Profile)> {
        let ready = self.ready.as_ref().context("the session did not start")?;
        let candidate = ready.specs.last().expect("a candidate arm");
        let reference = reference.unwrap_or_else(|| ready.specs[0].bin.clone());
        self.say("perf-gate: profiling both routers under callgrind");
        let requests = self.args.counter_requests;
        // The reference never gets the test knobs; the candidate keeps its own settings.
        let knobs: Vec<String> = TEST_KNOBS.map(String::from).into();
        let routers = [
            ready.count_ctx(&self.out, &reference, &knobs),
            ready.count_ctx(&self.out, &candidate.bin, &candidate.env_remove),
        ];
        let mut profiles = at_once(&routers, "profiling", |ctx| {
            profile::collect_with_env(ctx, requests, &[])
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        for (p, side) in profiles.iter_mut().zip(["perf_reference", "perf_baseline"]) {
            profile::keep(p, &self.out.dir, &format!("{side}_{}", self.out.stamp))?;
        }
        let candidate = profiles.pop().expect("two profiles");
        Ok((profiles.pop().expect("two profiles"), candidate))
    }
}
