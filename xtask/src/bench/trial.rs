//! One trial of a bench run: a fresh router, the warm-up, the workload's phases (or its
//! scenario, driven through a [`Runner`]), and the router's own numbers around them.

use std::time::{Duration, Instant};

use crate::bench::loadgen::LoadSpec;
use crate::bench::router::{
    ProcStats, RouterProcess, counter_sum, histogram_buckets, quantile_between,
};
use crate::bench::runner::{
    Knobs, Runner, Status, Trial, TrialCtx, failed, gauge, round3, round4, run_phase,
};
use crate::bench::waits::Sampler;
use crate::model::metric::{DECISION_P99_MS, VOLUNTARY_SWITCHES_PER_REQ};

/// Runs one trial.
pub(crate) fn run_trial(ctx: &TrialCtx<'_>) -> Result<Trial, Status> {
    let remaining = ctx.deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Status::Timeout(
            "the --timeout expired before the trial started".into(),
        ));
    }
    let start = |what: &str, said: &str| {
        let remaining = ctx.deadline.saturating_duration_since(Instant::now());
        let timeout = remaining.min(Duration::from_secs(30));
        let router = RouterProcess::start(ctx.spec, ctx.workdir, ctx.log_path, timeout)
            .map_err(|e| Status::Failed(format!("{what} did not start: {e:#}")))?;
        ctx.log.line(&format!(
            "{said} pid {} listening on {}",
            router.pid, router.addr
        ));
        Ok(router)
    };
    let router = start("router", "router")?;
    // Failover: a second router in the same queue group, killed during the latency phase.
    let victim = (ctx.workload.failover.as_ref())
        .map(|_| start("second router", "second router (to be killed)"))
        .transpose()?;
    let result = measure(ctx, &router, victim.as_ref().map(|v| v.pid));
    let stop = router.stop(Duration::from_secs(15));
    ctx.log.line(&format!("router stopped: {stop:?}"));
    // Only a victim the phase killed is reaped as killed; otherwise dropping it stops it.
    let killed = match (victim, &result) {
        (Some(v), Ok(t)) if t.metrics.contains_key("failover_lost_requests") => {
            let report = v.reap_killed(Duration::from_secs(5));
            ctx.log.line(&format!("second router ended: {report:?}"));
            Some(report)
        }
        _ => None,
    };
    let mut trial = result?;
    if ctx.workload.failover.is_some() && !killed.as_ref().is_some_and(|k| k.killed) {
        return Err(Status::Failed(format!(
            "the second router was not ended by SIGKILL: {killed:?}"
        )));
    }
    trial.killed = killed;
    if !stop.clean {
        return Err(Status::Failed(format!(
            "router did not shut down cleanly on SIGTERM: {stop:?}"
        )));
    }
    trial.stop = Some(stop);
    Ok(trial)
}

/// The router's own readings over a trial (its `/metrics` and `/proc` before and after):
/// errors, decision time, memory, CPU and switches per request, and `client_errors`.
fn router_metrics(
    m: &mut std::collections::BTreeMap<String, f64>,
    (before_text, before): (&str, &ProcStats),
    (after_text, after): (&str, &ProcStats),
    (responses, client_errors): (f64, f64),
) {
    let delta = |name: &str| {
        counter_sum(after_text, name).unwrap_or(f64::NAN)
            - counter_sum(before_text, name).unwrap_or(f64::NAN)
    };
    m.insert("errors_total".into(), delta("router_errors_total"));
    m.insert(
        "backpressure_active_total".into(),
        delta("router_backpressure_active_total"),
    );
    m.insert("client_errors_total".into(), client_errors);
    // The router's own time per decision, from its histogram: no load generator, socket or
    // queue in it, so its tail is the router's floor, not the machine's.
    let decisions = |text: &str| histogram_buckets(text, "router_decision_duration_seconds");
    m.insert(
        DECISION_P99_MS.into(),
        round4(quantile_between(&decisions(before_text), &decisions(after_text), 0.99) * 1e3),
    );
    m.insert("mem_mb_rss".into(), round3(after.peak_rss_mb));
    m.insert("mem_mb_rss_final".into(), round3(after.rss_mb));
    m.insert("router_cpu_ms".into(), round3(after.cpu_ms - before.cpu_ms));
    if responses > 0.0 {
        for (name, was, now) in [
            ("cpu_ms_per_1k_req", before.cpu_ms, after.cpu_ms),
            ("cpu_user_ms_per_1k_req", before.user_ms, after.user_ms),
            ("cpu_sys_ms_per_1k_req", before.sys_ms, after.sys_ms),
        ] {
            m.insert(name.into(), round3((now - was) * 1000.0 / responses));
        }
        m.insert(
            VOLUNTARY_SWITCHES_PER_REQ.into(),
            round3((after.voluntary_switches - before.voluntary_switches) / responses),
        );
        m.insert(
            "ctx_switches_involuntary_per_req".into(),
            round3((after.involuntary_switches - before.involuntary_switches) / responses),
        );
    }
}

fn measure(
    ctx: &TrialCtx<'_>,
    router: &RouterProcess,
    victim: Option<u32>,
) -> Result<Trial, Status> {
    let w = ctx.workload;
    if ctx.warmup && w.warmup.duration_ms > 0 {
        let spec = LoadSpec::closed(w.warmup.connections, w.warmup.duration_ms);
        run_phase(ctx, ctx.loadgen, router, "warmup", &spec)?;
    }
    let read = || -> Result<(String, ProcStats), Status> {
        let text = router
            .metrics_text()
            .map_err(|e| failed("reading /metrics", e))?;
        let stats = ProcStats::read(router.pid).map_err(|e| failed("reading /proc", e))?;
        Ok((text, stats))
    };
    let (before_text, before) = read()?;
    let sampler = Sampler::start(
        router.pid,
        ctx.deadline.saturating_duration_since(Instant::now()),
    );
    let mut runner = Runner {
        ctx,
        router,
        victim,
        trial: Trial::default(),
        reports: Default::default(),
        responses: 0.0,
        client_errors: 0.0,
    };
    let ran = match &w.scenario {
        Some(scenario) => crate::bench::scenario::run(scenario, &mut runner),
        None => runner.workload_phases(),
    };
    let waits = sampler.finish();
    ctx.log.line(&waits.describe());
    ran?;
    let Runner {
        mut trial,
        responses,
        client_errors,
        ..
    } = runner;
    let (after_text, after) = read()?;
    router_metrics(
        &mut trial.metrics,
        (&before_text, &before),
        (&after_text, &after),
        (responses, client_errors),
    );
    trial.waits = waits;
    trial.knobs = Knobs {
        slowdown_iterations: gauge(&after_text, "router_test_slowdown_iterations"),
        delay_us: gauge(&after_text, "router_test_delay_us"),
        delay_every: gauge(&after_text, "router_test_delay_every"),
    };
    Ok(trial)
}
