//! The metric registry: every metric a run can record, with its unit, the direction that is
//! better, what kind of number it is and how the gate pools it. Producers name metrics from
//! here; exports, reports, pooling, the gate's cross-machine rule and policy parsing read it,
//! so nothing guesses a metric's meaning from its name.
//!
//! A new metric is one entry in [`METRICS`] (and its line in perf/README.md, which a test
//! checks), then the code that measures it.

/// The metric `--counters` records.
pub const INSTRUCTIONS_PER_REQ: &str = "instructions_per_req";
/// The system calls per request a counting run records beside it (with strace).
pub const SYSCALLS_PER_REQ: &str = "syscalls_per_req";
/// The p99 of the router's own decision time over a wall-clock trial.
pub const DECISION_P99_MS: &str = "decision_p99_ms";
/// The router's voluntary context switches per response over a wall-clock trial.
pub const VOLUNTARY_SWITCHES_PER_REQ: &str = "ctx_switches_voluntary_per_req";

/// The metric of one system call's count per request (`syscall_write_per_req`).
pub fn syscall_per_req(name: &str) -> String {
    format!("syscall_{name}_per_req")
}

/// The system call a `syscall_<name>_per_req` metric counts.
pub fn syscall_of(metric: &str) -> Option<&str> {
    metric.strip_prefix("syscall_")?.strip_suffix("_per_req")
}

/// The metric of the share of router thread samples blocked at one kernel wait point
/// (`wait_hrtimer_nanosleep_share`).
pub fn wait_share(point: &str) -> String {
    format!("wait_{point}_share")
}

/// The wait point a `wait_<point>_share` metric samples.
pub fn wait_of(metric: &str) -> Option<&str> {
    metric.strip_prefix("wait_")?.strip_suffix("_share")
}

/// What kind of number a metric is: what a regression in it means, and what can explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Instructions executed, counted: a number of the code, nearly the same on any x86-64
    /// machine and deterministic for one binary and input.
    Count,
    /// CPU time (user, kernel) or the time of an in-process operation: work, read off one
    /// machine's clock.
    Cpu,
    /// How often the router's threads block: voluntary context switches (a socket with
    /// nothing to read, a lock, a sleep, a blocking call), read off one machine's scheduler.
    Waiting,
    /// Requests per second.
    Throughput,
    /// Time a request or a recovery waited: latency percentiles, recovery times.
    Latency,
    /// Resident memory and its growth.
    Memory,
    /// Events that must not happen (errors, dropped connections).
    Errors,
    /// A share of 0 to 1 (or a percentage), a flag of 0 or 1, or a tally a scenario checks
    /// against a bound (connections opened, backpressure activations).
    Level,
}

names!(Kind:
    Count => "count", Cpu => "cpu", Waiting => "waiting", Throughput => "throughput",
    Latency => "latency", Memory => "memory", Errors => "errors", Level => "level",
);

/// Which way a metric gets better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Neither: a flag or a level checked against absolute bounds.
    Neither,
}

/// One metric, or a family of them (`mixed_{name}_p99_ms`: one per request kind).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// The name, or a pattern with one placeholder: `{n}` stands for digits (a connection
    /// count), `{name}` for a lower-case name (a request kind, a component benchmark).
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub kind: Kind,
    /// The quantile of a latency percentile that a paired gate pools over all of a side's
    /// requests (`gate::pooled`); `None` for every other metric.
    pub pooled: Option<f64>,
    pub doc: &'static str,
}

const fn m(
    name: &'static str,
    unit: &'static str,
    better: Better,
    kind: Kind,
    doc: &'static str,
) -> Metric {
    Metric {
        name,
        unit,
        better,
        kind,
        pooled: None,
        doc,
    }
}

const fn pooled(name: &'static str, q: f64, doc: &'static str) -> Metric {
    Metric {
        pooled: Some(q),
        ..m(name, "ms", Better::Lower, Kind::Latency, doc)
    }
}

use Better::{Higher, Lower, Neither};
use Kind::{Count, Cpu, Errors, Latency, Level, Memory, Throughput, Waiting};

/// Every metric, exact names first. perf/README.md documents each (a test checks it).
#[rustfmt::skip]
pub const METRICS: &[Metric] = &[
    // Counts.
    m("instructions_per_req", "instr/req", Lower, Count, "router instructions per request, counted under callgrind or perf_event, start-up and shutdown excluded"),
    m("syscalls_per_req", "calls/req", Lower, Count, "router system calls per request, counted with strace -f -c over the counting run's requests, start-up and shutdown excluded: what the router asks of the kernel"),
    m("syscall_{name}_per_req", "calls/req", Lower, Count, "one system call's count per request (listed from 0.01, one call in 100 requests)"),
    m("component_{name}_ir", "instr/op", Lower, Count, "instructions per operation of a component benchmark, counted under callgrind"),
    m("component_{name}_ns", "ns/op", Lower, Cpu, "wall-clock nanoseconds per operation of a component benchmark (information: a shared VM's clock)"),
    // CPU.
    m("cpu_ms_per_1k_req", "ms/1k req", Lower, Cpu, "router CPU time (user + kernel) per 1,000 responses"),
    m("cpu_user_ms_per_1k_req", "ms/1k req", Lower, Cpu, "router CPU time in user space per 1,000 responses: the router's own code"),
    m("cpu_sys_ms_per_1k_req", "ms/1k req", Lower, Cpu, "router CPU time in the kernel per 1,000 responses: system calls, socket work, page faults"),
    m("router_cpu_ms", "ms", Lower, Cpu, "router CPU time (user + kernel) over the measured phases"),
    // Waiting.
    m("ctx_switches_voluntary_per_req", "switches/req", Lower, Waiting, "voluntary context switches of all router threads per response over a trial's measured phases: how often a thread blocked (an idle socket, a lock, a sleep, a blocking call)"),
    m("ctx_switches_involuntary_per_req", "switches/req", Lower, Waiting, "involuntary context switches of all router threads per response over a trial's measured phases: how often the scheduler took a core away from a router thread that could run (other processes competing for the machine)"),
    m("wait_{name}_share", "share", Neither, Waiting, "share of router thread samples blocked at this kernel wait point (its wchan), sampled at 200 Hz over all trials' measured phases: the off-CPU view (listed from 0.005)"),
    // Throughput.
    m("rps", "req/s", Higher, Throughput, "2xx responses per second of the closed-loop throughput phase"),
    m("sequential_rps", "req/s", Higher, Throughput, "responses per second on one connection, one request at a time"),
    m("latency_rate_achieved_rps", "req/s", Higher, Throughput, "the rate the open-loop latency phase achieved"),
    m("burst_capacity_rps", "req/s", Higher, Throughput, "the closed-loop capacity the burst scenario scales its load from"),
    m("malformed_storm_answered_rps", "req/s", Higher, Throughput, "answers per second during the malformed-request storm"),
    m("payloads_{name}_rps", "req/s", Higher, Throughput, "responses per second of one payload size"),
    m("ramp_capacity_rps", "req/s", Higher, Throughput, "the closed-loop capacity the ramp steps up to"),
    m("ramp_knee_rps", "req/s", Higher, Throughput, "the offered rate at which the ramp's p99 first crossed its bound"),
    m("scaling_rps_c{n}", "req/s", Higher, Throughput, "closed-loop throughput at this many connections"),
    m("soak_rate_achieved_rps", "req/s", Higher, Throughput, "the rate the soak achieved"),
    // Latency.
    pooled("latency_p50_ms", 0.50, "median decision latency of the open-loop phase (from intended send time)"),
    pooled("latency_p90_ms", 0.90, "90th percentile decision latency"),
    pooled("latency_p95_ms", 0.95, "95th percentile decision latency"),
    pooled("latency_p99_ms", 0.99, "99th percentile decision latency"),
    pooled("latency_p999_ms", 0.999, "99.9th percentile decision latency"),
    m("latency_max_ms", "ms", Lower, Latency, "slowest decision of the open-loop phase"),
    m("decision_p99_ms", "ms", Lower, Latency, "p99 of the router's own decision time (its router_decision_duration_seconds histogram: admission to encoded decision) over a trial's measured phases, interpolated in buckets twice as wide as the one below: the router's floor, without the load generator, sockets or queues"),
    m("burst_p99_before_ms", "ms", Lower, Latency, "p99 of the steady load before the spike"),
    m("burst_p99_after_ms", "ms", Lower, Latency, "p99 of the steady load after the spike"),
    m("burst_recovery_ms", "ms", Lower, Latency, "time from the spike's end until the p99 is back"),
    m("conn_active_p50_ms_{n}", "ms", Lower, Latency, "median latency on the active connections while this many idle ones are held"),
    m("conn_active_p99_ms_{n}", "ms", Lower, Latency, "p99 on the active connections while this many idle ones are held"),
    m("failover_p99_ms", "ms", Lower, Latency, "p99 across a NATS router's failover"),
    m("failover_recovery_ms", "ms", Lower, Latency, "time until requests succeed again after the failover"),
    m("malformed_good_p99_after_ms", "ms", Lower, Latency, "p99 of good requests after the malformed storm"),
    m("mixed_{name}_p50_ms", "ms", Lower, Latency, "median latency of one request kind in mixed traffic"),
    m("mixed_{name}_p99_ms", "ms", Lower, Latency, "p99 of one request kind in mixed traffic"),
    m("payloads_{name}_p50_ms", "ms", Lower, Latency, "median latency of one payload size"),
    m("payloads_{name}_p99_ms", "ms", Lower, Latency, "p99 of one payload size"),
    m("scaling_p50_ms_c{n}", "ms", Lower, Latency, "open-loop p50 at this many connections"),
    m("scaling_p99_ms_c{n}", "ms", Lower, Latency, "open-loop p99 at this many connections"),
    m("scaling_p50_increase_pct", "%", Lower, Latency, "largest p50 increase from one connection count to the next"),
    m("scaling_p99_increase_pct", "%", Lower, Latency, "largest p99 increase from one connection count to the next"),
    m("soak_latency_p99_ms", "ms", Lower, Latency, "p99 over the soak"),
    // Memory.
    m("mem_mb_rss", "MB", Lower, Memory, "router peak resident memory (VmHWM)"),
    m("mem_mb_rss_final", "MB", Lower, Memory, "router resident memory at the end of the trial (VmRSS)"),
    m("conn_rss_kb_per_conn_{n}", "KB/conn", Lower, Memory, "router RSS growth per idle keep-alive connection with this many held"),
    m("soak_rss_slope_mb_per_s", "MB/s", Lower, Memory, "RSS growth over the soak, least-squares slope"),
    m("soak_rss_early_slope_mb_per_s", "MB/s", Lower, Memory, "RSS slope over the soak's early half"),
    m("soak_rss_late_slope_mb_per_s", "MB/s", Lower, Memory, "RSS slope over the soak's late half"),
    m("soak_rss_superlinear", "flag", Lower, Memory, "1 when memory growth speeds up over the soak"),
    m("soak_sticky_entries_max", "entries", Lower, Memory, "largest sticky-store size sampled"),
    m("soak_sticky_fill", "share", Lower, Memory, "largest sticky-store size over its capacity"),
    // Errors.
    m("errors_total", "count", Lower, Errors, "router errors (4xx/5xx it counted, backpressure excluded)"),
    m("client_errors_total", "count", Lower, Errors, "requests the load generator saw fail (connect, timeout, I/O, unexpected status)"),
    m("backpressure_active_total", "count", Lower, Errors, "backpressure activations where none are expected"),
    m("conn_idle_closed_{n}", "count", Lower, Errors, "idle connections the router closed with this many held"),
    m("failover_lost_requests", "count", Lower, Errors, "requests lost across a NATS failover"),
    m("malformed_5xx_total", "count", Lower, Errors, "5xx answers during and after the malformed storm"),
    // Levels, shares and flags.
    m("burst_backpressure_total", "count", Neither, Level, "backpressure activations during the spike (expected > 0)"),
    m("burst_recovered", "flag", Higher, Level, "1 when the p99 came back after the spike"),
    m("burst_success_rate", "share", Higher, Level, "share of spike requests answered 2xx"),
    m("conn_opened_{n}", "count", Higher, Level, "idle keep-alive connections actually opened at this level"),
    m("malformed_good_success_after", "share", Higher, Level, "share of good requests answered 2xx after the storm"),
    m("malformed_ready_after", "flag", Higher, Level, "1 when /ready answers 200 after the storm"),
    m("malformed_rejected_share", "share", Higher, Level, "share of malformed requests answered 4xx"),
    m("payloads_{name}_413_total", "count", Neither, Level, "413 answers of one payload size"),
    m("payloads_{name}_rejected_share", "share", Higher, Level, "share of one payload size rejected as expected"),
    m("ramp_knee_found", "flag", Neither, Level, "1 when the ramp found a knee below capacity"),
    m("ramp_knee_pct", "%", Higher, Level, "the knee's step as a percentage of capacity"),
    m("ramp_min_success_rate", "share", Higher, Level, "lowest success rate over the ramp's steps"),
    m("scaling_rps_min_share", "share", Higher, Level, "throughput at the weakest connection count over the strongest"),
];

/// The registry's entry for `metric`: its exact name, else the first pattern it fits.
pub fn find(metric: &str) -> Option<&'static Metric> {
    METRICS
        .iter()
        .find(|m| m.name == metric)
        .or_else(|| METRICS.iter().find(|m| fits(m.name, metric)))
}

/// Whether `metric` fits `pattern`'s one placeholder (`{n}`: digits; `{name}`: a lower-case
/// name of letters, digits and underscores).
fn fits(pattern: &str, metric: &str) -> bool {
    let split = || {
        let (prefix, rest) = pattern.split_once('{')?;
        let (placeholder, suffix) = rest.split_once('}')?;
        Some((
            placeholder,
            metric.strip_prefix(prefix)?.strip_suffix(suffix)?,
        ))
    };
    split().is_some_and(|(placeholder, middle)| {
        let name = placeholder != "n";
        let fits = |b: u8| b.is_ascii_digit() || (name && (b.is_ascii_lowercase() || b == b'_'));
        !middle.is_empty() && middle.bytes().all(fits)
    })
}

/// Why `metric` is not a metric, naming the known name (or pattern) closest to it; `None`
/// when the registry knows it.
pub fn unknown(metric: &str) -> Option<String> {
    if find(metric).is_some() {
        return None;
    }
    let nearest = METRICS
        .iter()
        .map(|m| m.name)
        .min_by_key(|name| strsim::osa_distance(name, metric))?;
    Some(format!(
        "unknown metric `{metric}` (did you mean `{nearest}`? every metric is listed in \
         perf/README.md, \"Metrics\")"
    ))
}

/// Whether a metric is an instruction count: a number of the code, comparable across
/// machines, where every other metric is a reading of the machine it ran on.
pub fn is_counted(metric: &str) -> bool {
    find(metric).is_some_and(|m| m.kind == Kind::Count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_families_are_found() {
        assert_eq!(find("rps").unwrap().better, Better::Higher);
        assert_eq!(find("scaling_rps_c25").unwrap().name, "scaling_rps_c{n}");
        assert_eq!(find("scaling_rps_min_share").unwrap().kind, Kind::Level);
        assert_eq!(find("mixed_large_body_p99_ms").unwrap().kind, Kind::Latency);
        assert_eq!(
            find("component_sticky_get_100k_ns").unwrap().kind,
            Kind::Cpu
        );
        assert_eq!(find("latency_p99_ms").unwrap().pooled, Some(0.99));
        assert!(find("scaling_rps_cx").is_none());
        assert!(find("conn_opened_").is_none());
        assert!(find("latency_p98_ms").is_none());
    }

    #[test]
    fn counts_are_told_from_readings() {
        assert!(is_counted("instructions_per_req"));
        assert!(is_counted("component_sticky_get_1k_ir"));
        assert!(!is_counted("component_sticky_get_1k_ns"));
        assert!(!is_counted("latency_p99_ms"));
        assert!(!is_counted("rps"));
    }

    #[test]
    fn an_unknown_metric_names_the_nearest_known_one() {
        assert!(
            unknown("latency_p99")
                .unwrap()
                .contains("`latency_p99_ms`?")
        );
        assert!(
            unknown("instructions_per_request")
                .unwrap()
                .contains("`instructions_per_req`?")
        );
        let why = unknown("rsp").unwrap();
        assert!(
            why.contains("unknown metric `rsp`") && why.contains("`rps`"),
            "{why}"
        );
        assert!(unknown("conn_opened_1000").is_none());
    }

    #[test]
    fn every_entry_is_unique_and_well_formed() {
        for (i, m) in METRICS.iter().enumerate() {
            assert!(
                METRICS[..i].iter().all(|o| o.name != m.name),
                "{} twice",
                m.name
            );
            assert!(!m.unit.is_empty() && !m.doc.is_empty(), "{}", m.name);
            assert_eq!(
                m.pooled.is_some(),
                m.name.starts_with("latency_p") && m.name != "latency_max_ms"
            );
            if m.name.contains('{') {
                assert!(m.name.matches('{').count() == 1, "{}", m.name);
            }
        }
    }
}
