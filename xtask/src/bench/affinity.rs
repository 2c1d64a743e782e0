//! CPU affinity for the harness's children: the router and the load generator on separate cores.

use std::os::unix::process::CommandExt;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Makes `cmd`'s child run only on `cpus` (set between fork and exec, so every thread the
/// child later starts inherits it).
pub(crate) fn pin_child(cmd: &mut std::process::Command, cpus: Vec<usize>) {
    // Built here, before the fork: the child only makes the one system call.
    let mut set = CpuSet::new();
    for c in cpus {
        set.set(c);
    }
    // SAFETY: `pre_exec` is unsafe because the closure runs in the forked child, where only
    // async-signal-safe work is allowed. It makes one raw sched_setaffinity system call on a
    // copied stack value: no allocation, no lock. Pinning after spawn instead (by pid) would
    // not be the same: threads the child started by then would keep the old mask.
    unsafe {
        cmd.pre_exec(move || Ok(sched_setaffinity(None, &set)?));
    }
}

/// The router's and the load generator's CPUs unless `--no-pin`: the first two allowed, if two are.
pub fn split() -> Option<(usize, usize)> {
    let cpus = allowed_cpus();
    (cpus.len() >= 2).then(|| (cpus[0], cpus[1]))
}

#[cfg(test)]
mod tests;
