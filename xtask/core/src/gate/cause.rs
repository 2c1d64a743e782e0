//! What kind of regression a failing verdict found: **work** (the router executes more
//! instructions per request), **kernel** (it asks more of the kernel: more system calls per
//! request, or CPU time that grew in the kernel), **waiting** (throughput or latency got worse
//! while the work it does per request held: blocking calls, locks, sleeps, I/O), or
//! **memory**. The counts decide between them where they were measured, so the name rests on
//! the deterministic numbers, not on the wall-clock readings that failed.

use std::collections::BTreeMap;

use crate::gate::cpu_split;
use crate::gate::evaluate::{Row, Status};
use crate::model::metric::{
    INSTRUCTIONS_PER_REQ, Kind, SYSCALLS_PER_REQ, VOLUNTARY_SWITCHES_PER_REQ, find, syscall_of,
    wait_of,
};
use crate::model::run_file::RunFile;

/// A change per request this small in one system call is not listed (the counts vary by a
/// few thousandths between runs).
const LISTED_CALLS: f64 = 0.01;

/// The members of a metric family in both runs (`of` names the member of a metric, as
/// `syscall_of`), with the candidate's value less the baseline's, a member missing on one side
/// counting 0 there; the largest change first. Empty unless both runs have the family.
fn deltas(
    baseline: &RunFile,
    candidate: &RunFile,
    of: fn(&str) -> Option<&str>,
) -> Vec<(String, f64)> {
    let members = |run: &RunFile| -> BTreeMap<String, f64> {
        run.metrics
            .iter()
            .filter_map(|(m, v)| Some((of(m)?.to_string(), v.number()?)))
            .collect()
    };
    let (b, mut c) = (members(baseline), members(candidate));
    if b.is_empty() || c.is_empty() {
        return Vec::new();
    }
    for (n, v) in b {
        *c.entry(n).or_default() -= v;
    }
    let mut changes: Vec<(String, f64)> = c.into_iter().collect();
    changes.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    changes
}

/// The system calls per request whose count changed, largest change first, as
/// `+1.000 statx/req`; empty when a run did not count them or none changed.
pub fn syscall_changes(baseline: &RunFile, candidate: &RunFile) -> Vec<String> {
    deltas(baseline, candidate, syscall_of)
        .into_iter()
        .filter(|(_, d)| d.abs() >= LISTED_CALLS)
        .map(|(n, d)| format!("{d:+.3} {n}/req"))
        .collect()
}

/// A wait point's share of thread samples must move this much (one percentage point) to be
/// listed: A/A runs move the shares of a quick gate's points by a few tenths.
const LISTED_WAIT_CHANGE: f64 = 0.01;

/// The wait points whose share of the router's thread samples grew, largest growth first, as
/// `+2.1 pts hrtimer_nanosleep`: the off-CPU view (bench/waits.rs). Empty when a run did
/// not sample them or nothing grew.
pub fn wait_changes(baseline: &RunFile, candidate: &RunFile) -> Vec<String> {
    deltas(baseline, candidate, wait_of)
        .into_iter()
        .filter(|(_, d)| *d >= LISTED_WAIT_CHANGE)
        .map(|(p, d)| format!("{:+.1} pts {p}", d * 100.0))
        .collect()
}

/// How the router's voluntary context switches per request moved (a router that waits blocks
/// more often), as `ctx_switches_voluntary_per_req 0.912 -> 0.951 (+4.3%)`; `None` unless
/// both runs have it.
pub fn switch_change(baseline: &RunFile, candidate: &RunFile) -> Option<String> {
    let value = |run: &RunFile| run.metrics.get(VOLUNTARY_SWITCHES_PER_REQ)?.number();
    let (b, c) = (value(baseline)?, value(candidate)?);
    let pct = if b > 0.0 {
        format!(" ({:+.1}%)", (c - b) / b * 100.0)
    } else {
        String::new()
    };
    Some(format!(
        "{VOLUNTARY_SWITCHES_PER_REQ} {b:.3} -> {c:.3}{pct}"
    ))
}

/// The waiting kind's line: the clock got worse while the counts held; with the counts that
/// held, and where the router's threads blocked more.
fn waiting(rows: &[Row], baseline: &RunFile, candidate: &RunFile, listed: &str) -> String {
    let held: Vec<String> = [INSTRUCTIONS_PER_REQ, SYSCALLS_PER_REQ]
        .iter()
        .filter_map(|m| rows.iter().find(|r| r.metric == *m))
        .map(|r| format!("{}{}", r.metric, change(r)))
        .collect();
    let switches =
        switch_change(baseline, candidate).map_or_else(String::new, |s| format!("; {s}"));
    let waits = wait_changes(baseline, candidate);
    let waits = if waits.is_empty() {
        String::new()
    } else {
        format!("; threads blocked more at {}", waits.join(", "))
    };
    format!(
        "waiting: throughput or latency got worse while the work per request held ({}): the \
         router waits (a blocking call, a lock, a sleep, I/O) instead of working{listed}{switches}{waits}",
        held.join(", ")
    )
}

/// A row's change, ` +3.1%`, or nothing when it has none.
fn change(r: &Row) -> String {
    r.change
        .map_or_else(String::new, |c| format!(" {:+.1}%", c.pct))
}

/// One line naming the kind of regression the failing rows show, with the evidence; `None`
/// when nothing failed.
pub fn name(rows: &[Row], baseline: &RunFile, candidate: &RunFile) -> Option<String> {
    let failed: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Fail).collect();
    if failed.is_empty() {
        return None;
    }
    let kind_failed = |kind: Kind| {
        failed
            .iter()
            .any(|r| find(&r.metric).is_some_and(|m| m.kind == kind))
    };
    let row = |metric: &str| rows.iter().find(|r| r.metric == metric);
    let calls = syscall_changes(baseline, candidate);
    let listed = if calls.is_empty() {
        String::new()
    } else {
        format!(" ({})", calls.join(", "))
    };
    let mut kinds = Vec::new();
    if let Some(r) = row(INSTRUCTIONS_PER_REQ).filter(|r| r.status == Status::Fail) {
        kinds.push(format!(
            "work: the router executes more instructions per request ({INSTRUCTIONS_PER_REQ}{})",
            change(r)
        ));
    }
    if let Some(r) = row(SYSCALLS_PER_REQ).filter(|r| r.status == Status::Fail) {
        kinds.push(format!(
            "kernel: the router makes more system calls per request ({SYSCALLS_PER_REQ}{}){listed}",
            change(r)
        ));
    }
    let counts_held = [INSTRUCTIONS_PER_REQ, SYSCALLS_PER_REQ]
        .iter()
        .filter_map(|m| row(m))
        .all(|r| r.status == Status::Pass)
        && row(INSTRUCTIONS_PER_REQ).is_some();
    let clock_failed =
        kind_failed(Kind::Throughput) || kind_failed(Kind::Latency) || kind_failed(Kind::Waiting);
    if kinds.is_empty() && kind_failed(Kind::Cpu) {
        kinds.push(match cpu_split::kernel_share(baseline, candidate) {
            Some(share) if share >= cpu_split::MOSTLY_KERNEL => format!(
                "kernel: the CPU time that grew is {:.0}% the kernel's, with the instructions \
                 per request unchanged{listed}",
                share * 100.0
            ),
            _ => "work: the router's CPU time per request grew".to_string(),
        });
    }
    if kinds.is_empty() && clock_failed && counts_held {
        kinds.push(waiting(rows, baseline, candidate, &listed));
    }
    if kind_failed(Kind::Memory) {
        kinds.push("memory: the router holds more memory".to_string());
    }
    (!kinds.is_empty()).then(|| format!("cause: {}", kinds.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::run_file::parse_str;

    fn run(metrics: serde_json::Value) -> RunFile {
        parse_str(
            &serde_json::json!({ "metrics": metrics }).to_string(),
            "run.json",
        )
        .unwrap()
    }

    fn verdict_cause(base: serde_json::Value, cand: serde_json::Value) -> Option<String> {
        let policy = crate::model::policy::parse_str(
            r#"{"schema_version": 1, "rules": {
                "instructions_per_req": {"relative": {"max_pct_increase": 2}},
                "syscalls_per_req": {"relative": {"max_pct_increase": 5}},
                "ctx_switches_voluntary_per_req": {"relative": {"max_pct_increase": 15}},
                "rps": {"relative": {"max_pct_decrease": 10}}
            }}"#,
            "policy.json",
        )
        .unwrap();
        let (b, c) = (run(base), run(cand));
        name(
            &crate::gate::evaluate::evaluate(&b, &c, &policy).rows,
            &b,
            &c,
        )
    }

    #[test]
    fn the_counts_name_the_kind() {
        let base = serde_json::json!({
            "instructions_per_req": 20000.0, "syscalls_per_req": 3.0, "rps": 1000.0,
            "syscall_writev_per_req": 1.0, "syscall_recvfrom_per_req": 1.0,
            "syscall_epoll_wait_per_req": 1.0, "ctx_switches_voluntary_per_req": 1.0,
            "wait_ep_poll_share": 0.52
        });
        let mut kernel = base.clone();
        kernel["syscalls_per_req"] = 4.0.into();
        kernel["syscall_statx_per_req"] = 1.0.into();
        let named = verdict_cause(base.clone(), kernel).unwrap();
        assert!(named.starts_with("cause: kernel"), "{named}");
        assert!(named.contains("+1.000 statx/req"), "{named}");

        let mut work = base.clone();
        work["instructions_per_req"] = 23000.0.into();
        let named = verdict_cause(base.clone(), work).unwrap();
        assert!(named.starts_with("cause: work"), "{named}");

        let mut waiting = base.clone();
        waiting["rps"] = 700.0.into();
        waiting["ctx_switches_voluntary_per_req"] = 1.02.into();
        waiting["wait_hrtimer_nanosleep_share"] = 0.021.into();
        waiting["wait_ep_poll_share"] = 0.5.into();
        waiting["syscall_clock_nanosleep_per_req"] = 0.02.into();
        waiting["syscalls_per_req"] = 3.02.into();
        let named = verdict_cause(base.clone(), waiting).unwrap();
        assert!(named.starts_with("cause: waiting"), "{named}");
        assert!(named.contains("+0.020 clock_nanosleep/req"), "{named}");
        assert!(
            named.contains("ctx_switches_voluntary_per_req 1.000 -> 1.020 (+2.0%)"),
            "{named}"
        );
        assert!(
            named.ends_with("threads blocked more at +2.1 pts hrtimer_nanosleep"),
            "{named}"
        );

        // A router that blocks more often per request, with its throughput held: waiting.
        let mut blocking = base.clone();
        blocking["ctx_switches_voluntary_per_req"] = 1.3.into();
        let named = verdict_cause(base.clone(), blocking).unwrap();
        assert!(named.starts_with("cause: waiting"), "{named}");
        assert!(named.contains("1.000 -> 1.300 (+30.0%)"), "{named}");

        assert_eq!(verdict_cause(base.clone(), base), None);
    }

    #[test]
    fn changed_calls_are_listed_largest_first() {
        let b = run(serde_json::json!({
            "syscall_sendto_per_req": 1.0, "syscall_recvfrom_per_req": 2.0,
            "syscall_futex_per_req": 0.004
        }));
        let c = run(serde_json::json!({
            "syscall_sendto_per_req": 1.0, "syscall_recvfrom_per_req": 2.0,
            "syscall_statx_per_req": 1.0, "syscall_clock_nanosleep_per_req": 0.02
        }));
        assert_eq!(
            syscall_changes(&b, &c),
            ["+1.000 statx/req", "+0.020 clock_nanosleep/req"]
        );
        assert!(syscall_changes(&b, &b).is_empty());
    }
}
