//! Counting another process's events with Linux `perf_event_open(2)`: one counter per thread
//! (with `inherit`: threads it spawns later count too), read around a measurement window.
//! Hardware instructions need a PMU; the software task clock tests the path without one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{Context, Result, bail};

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

    fn type_and_config(self) -> (u32, u64) {
        match self {
            Event::Instructions => (PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS),
            Event::TaskClock => (PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK),
        }
    }
}

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_HW_INSTRUCTIONS: u64 = 1;
const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;

/// `read_format` bits: the times let a read tell whether the counter was multiplexed.
const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1 << 0;
const PERF_FORMAT_TOTAL_TIME_RUNNING: u64 = 1 << 1;

/// Bits of the flags word (the C struct's bitfield, in declaration order from bit 0).
const FLAG_INHERIT: u64 = 1 << 1;
const FLAG_EXCLUDE_KERNEL: u64 = 1 << 5;
const FLAG_EXCLUDE_HV: u64 = 1 << 6;

/// `PERF_FLAG_FD_CLOEXEC`: the processes this harness starts must not inherit the descriptors.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// `struct perf_event_attr` of `<linux/perf_event.h>` in its first size, `PERF_ATTR_SIZE_VER0`
/// (64 bytes, up to `config1`): every kernel accepts it and zero-fills the later fields, none
/// of which a plain counter needs; a larger struct would be refused by older kernels (E2BIG).
#[repr(C)]
#[derive(Debug, Default)]
struct PerfEventAttr {
    type_: u32,
    /// `size_of::<PerfEventAttr>()`: tells the kernel which version of the ABI this is.
    size: u32,
    config: u64,
    /// A union with `sample_freq`; 0: counting, not sampling.
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// The bitfield word: `disabled`, `inherit`, ..., `exclude_kernel`, `exclude_hv`, ...
    flags: u64,
    /// A union with `wakeup_watermark`.
    wakeup_events: u32,
    bp_type: u32,
    /// A union with `bp_addr`, `kprobe_func`, `uprobe_path`.
    config1: u64,
}

const PERF_ATTR_SIZE_VER0: usize = 64;
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER0);

/// Opens one counter of `event` on thread `tid` (0: this one), any CPU, counting from now on,
/// with `inherit`. User space only: `exclude_kernel` needs no privilege under
/// `perf_event_paranoid` 2, and the kernel's share varies with the machine more than the
/// process's own code does.
fn open_counter(event: Event, tid: libc::pid_t) -> io::Result<File> {
    let (type_, config) = event.type_and_config();
    let attr = PerfEventAttr {
        type_,
        size: PERF_ATTR_SIZE_VER0 as u32,
        config,
        read_format: PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING,
        flags: FLAG_INHERIT | FLAG_EXCLUDE_KERNEL | FLAG_EXCLUDE_HV,
        ..PerfEventAttr::default()
    };
    // SAFETY: perf_event_open(attr, pid, cpu, group_fd, flags) reads `size` bytes of `attr`,
    // which is a live, fully initialised #[repr(C)] struct of exactly that size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            tid,
            -1 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// One read of a counter: (value, ns enabled, ns running); running less than enabled means
/// the kernel multiplexed it and the value is partial.
fn read_counter(file: &File) -> io::Result<(u64, u64, u64)> {
    let mut buf = [0u8; 24];
    let mut f = file;
    f.read_exact(&mut buf)?;
    let word = |i: usize| u64::from_ne_bytes(buf[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok((word(0), word(1), word(2)))
}

/// Why the machine cannot count hardware instructions, or `Ok` when it can.
pub fn probe(event: Event) -> Result<(), String> {
    let file = open_counter(event, 0).map_err(|e| unavailable_reason(event, &e))?;
    // Work the counter must see: a loop the optimiser cannot remove.
    let mut x = 0u64;
    for i in 0..100_000u64 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    std::hint::black_box(x);
    let (value, enabled, running) =
        read_counter(&file).map_err(|e| format!("reading the probe counter: {e}"))?;
    if value == 0 {
        // Some hypervisors expose a PMU that opens but never counts.
        return Err(format!(
            "a {} counter opened but counted nothing over 100,000 loop iterations \
             (enabled {enabled} ns, running {running} ns): a virtual PMU that does not count",
            event.name()
        ));
    }
    Ok(())
}

/// The reason behind a failed open, in words: no PMU, the paranoid level, or the errno.
fn unavailable_reason(event: Event, err: &io::Error) -> String {
    let errno = err.raw_os_error().unwrap_or(0);
    match errno {
        libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP | libc::EINVAL => {
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
        libc::EACCES | libc::EPERM => format!(
            "perf_event_open is not allowed (perf_event_open: {err}; \
             /proc/sys/kernel/perf_event_paranoid is {}): lower it with \
             `sysctl kernel.perf_event_paranoid=2` or below, or a container's seccomp \
             policy blocks the syscall",
            paranoid_level()
        ),
        libc::ENOSYS => format!("the kernel has no perf_event_open (perf_event_open: {err})"),
        _ => format!("perf_event_open for {} failed: {err}", event.name()),
    }
}

fn paranoid_level() -> String {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unreadable".to_string())
}

/// The thread ids of `pid` now, from `/proc/<pid>/task`.
fn thread_ids(pid: u32) -> Result<BTreeSet<libc::pid_t>> {
    let dir = format!("/proc/{pid}/task");
    let mut tids = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let entry = entry.with_context(|| format!("reading {dir}"))?;
        if let Ok(tid) = entry.file_name().to_string_lossy().parse() {
            tids.insert(tid);
        }
    }
    Ok(tids)
}

/// Counters on every thread of one process.
#[derive(Debug)]
pub struct ProcessCounter {
    pub event: Event,
    /// (thread id, counter); a thread spawned after the open is counted in its parent's.
    counters: Vec<(libc::pid_t, File)>,
}

/// A read of all of a process's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Per thread: (thread id, value).
    pub per_thread: Vec<(libc::pid_t, u64)>,
    pub total: u64,
}

impl ProcessCounter {
    /// Opens a counter on each thread of `pid`, listing the threads again until a pass finds
    /// no new one (a thread started by one without a counter yet would be missed); a thread
    /// that exits before its counter opens is skipped.
    pub fn open(pid: u32, event: Event) -> Result<Self> {
        let mut counters: Vec<(libc::pid_t, File)> = Vec::new();
        for _ in 0..10 {
            let new: Vec<libc::pid_t> = thread_ids(pid)?
                .into_iter()
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
                    Ok(file) => counters.push((tid, file)),
                    // The thread exited between the listing and the open.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
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
        for (tid, file) in &self.counters {
            let (value, enabled, running) = read_counter(file).with_context(|| {
                format!("reading the {} counter of thread {tid}", self.event.name())
            })?;
            if running < enabled {
                bail!(
                    "the {} counter of thread {tid} ran {running} of {enabled} ns: the kernel \
                     multiplexed it with other counters (another `perf` session?); stop them \
                     and retry",
                    self.event.name()
                );
            }
            per_thread.push((*tid, value));
        }
        let total = per_thread.iter().map(|(_, v)| v).sum();
        Ok(Reading { per_thread, total })
    }
}

#[cfg(test)]
mod tests;
