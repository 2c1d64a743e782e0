//! Counting another process's events with Linux `perf_event_open(2)`: one counter per thread
//! (with `inherit`: threads it spawns later count too), read around a measurement window.
//! Hardware instructions need a PMU; the software task clock tests the path without one.

use std::cell::RefCell;
use std::io;

use anyhow::{Context, Result, bail};
use perf_event::events::{Hardware, Software};
use perf_event::{Builder, Counter};
use rustix::io::Errno;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Retired instructions (`PERF_COUNT_HW_INSTRUCTIONS`), user space only: needs a PMU.
    Instructions,
    /// CPU time in ns (`PERF_COUNT_SW_TASK_CLOCK`): a software event every kernel has (tests).
    TaskClock,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Instructions => "instructions",
            Event::TaskClock => "task-clock",
        }
    }
}

/// Opens one counter of `event` on thread `tid` (0: this one), any CPU, counting from now on,
/// with `inherit`. The builder's defaults do the rest: close-on-exec (the processes this
/// harness starts must not inherit it), the enabled and running times in every read, and user
/// space only: `exclude_kernel` needs no privilege under `perf_event_paranoid` 2, and the
/// kernel's share varies with the machine more than the process's own code does.
fn open_counter(event: Event, tid: i32) -> io::Result<Counter> {
    let mut builder = match event {
        Event::Instructions => Builder::new(Hardware::INSTRUCTIONS),
        Event::TaskClock => Builder::new(Software::TASK_CLOCK),
    };
    builder.observe_pid(tid).inherit(true).enabled(true).build()
}

/// Why the machine cannot count hardware instructions, or `Ok` when it can.
pub fn probe(event: Event) -> Result<(), String> {
    let mut counter = open_counter(event, 0).map_err(|e| unavailable_reason(event, &e))?;
    // Work the counter must see: a loop the optimiser cannot remove.
    let mut x = 0u64;
    for i in 0..100_000u64 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    std::hint::black_box(x);
    let read = counter.read_count_and_time();
    let read = read.map_err(|e| format!("reading the probe counter: {e}"))?;
    if read.count == 0 {
        // Some hypervisors expose a PMU that opens but never counts.
        return Err(format!(
            "a {} counter opened but counted nothing over 100,000 loop iterations \
             (enabled {} ns, running {} ns): a virtual PMU that does not count",
            event.name(),
            read.time_enabled,
            read.time_running
        ));
    }
    Ok(())
}

/// The reason behind a failed open, in words: no PMU, the paranoid level, or the errno.
fn unavailable_reason(event: Event, err: &io::Error) -> String {
    match Errno::from_io_error(err) {
        Some(Errno::NOENT | Errno::NODEV | Errno::OPNOTSUPP | Errno::INVAL) => {
            let pmus = std::fs::read_dir("/sys/bus/event_source/devices")
                .map(|dir| {
                    let mut names: Vec<String> = dir
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    names.join(", ")
                })
                .unwrap_or_else(|_| "unreadable".to_string());
            format!(
                "no hardware PMU for {} (perf_event_open: {err}; /sys/bus/event_source/devices \
                 has: {pmus}; a VM without a virtual PMU has no `cpu` there)",
                event.name()
            )
        }
        Some(Errno::ACCESS | Errno::PERM) => format!(
            "perf_event_open is not allowed (perf_event_open: {err}; \
             /proc/sys/kernel/perf_event_paranoid is {}): lower it with \
             `sysctl kernel.perf_event_paranoid=2` or below, or a container's seccomp \
             policy blocks the syscall",
            paranoid_level()
        ),
        Some(Errno::NOSYS) => format!("the kernel has no perf_event_open (perf_event_open: {err})"),
        _ => format!("perf_event_open for {} failed: {err}", event.name()),
    }
}

fn paranoid_level() -> String {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unreadable".to_string())
}

/// Counters on every thread of one process.
#[derive(Debug)]
pub struct ProcessCounter {
    pub event: Event,
    /// (thread id, counter); a thread spawned after the open is counted in its parent's.
    counters: Vec<(i32, RefCell<Counter>)>,
}

/// A read of all of a process's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Per thread: (thread id, value).
    pub per_thread: Vec<(i32, u64)>,
    pub total: u64,
}

impl ProcessCounter {
    /// Opens a counter on each thread of `pid`, listing the threads again until a pass finds
    /// no new one (a thread started by one without a counter yet would be missed); a thread
    /// that exits before its counter opens is skipped.
    pub fn open(pid: u32, event: Event) -> Result<Self> {
        let mut counters: Vec<(i32, RefCell<Counter>)> = Vec::new();
        for _ in 0..10 {
            let new: Vec<i32> = crate::bench::router::threads(pid)?
                .into_iter()
                .map(|task| task.tid)
                .filter(|tid| !counters.iter().any(|(t, _)| t == tid))
                .collect();
            if new.is_empty() {
                if counters.is_empty() {
                    bail!("process {pid} has no threads (has it exited?)");
                }
                return Ok(ProcessCounter { event, counters });
            }
            for tid in new {
                match open_counter(event, tid) {
                    Ok(counter) => counters.push((tid, RefCell::new(counter))),
                    // The thread exited between the listing and the open.
                    Err(e) if Errno::from_io_error(&e) == Some(Errno::SRCH) => {}
                    Err(e) => bail!(
                        "opening a {} counter on thread {tid} of process {pid}: {}",
                        event.name(),
                        unavailable_reason(event, &e)
                    ),
                }
            }
        }
        bail!("process {pid} kept starting threads while its counters were opened")
    }

    pub fn threads(&self) -> usize {
        self.counters.len()
    }

    /// Reads every counter; an error when one was multiplexed (an estimate, not a count).
    pub fn read(&self) -> Result<Reading> {
        let mut per_thread = Vec::with_capacity(self.counters.len());
        for (tid, counter) in &self.counters {
            let read = (counter.borrow_mut().read_count_and_time()).with_context(|| {
                format!("reading the {} counter of thread {tid}", self.event.name())
            })?;
            let (enabled, running) = (read.time_enabled, read.time_running);
            if running < enabled {
                bail!(
                    "the {} counter of thread {tid} ran {running} of {enabled} ns: the kernel \
                     multiplexed it with other counters (another `perf` session?); stop them \
                     and retry",
                    self.event.name()
                );
            }
            per_thread.push((*tid, read.count));
        }
        let total = per_thread.iter().map(|(_, v)| v).sum();
        Ok(Reading { per_thread, total })
    }
}

#[cfg(test)]
mod tests;
