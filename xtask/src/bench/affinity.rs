//! CPU affinity for the processes the harness starts, so the router and the load generator
//! do not compete for one core.

use std::os::unix::process::CommandExt;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Makes `cmd`'s child run only on `cpus` (set between fork and exec, so every thread the
/// child later starts inherits it).
pub fn pin_child(cmd: &mut std::process::Command, cpus: Vec<usize>) {
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

/// The split perf-bench uses unless `--no-pin`: the router on the first allowed CPU, the load generator on the
/// second. `None` when fewer than two CPUs are allowed.
pub fn split() -> Option<(usize, usize)> {
    let cpus = allowed_cpus();
    (cpus.len() >= 2).then(|| (cpus[0], cpus[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }

    /// `Cpus_allowed_list` of a `/proc/.../status` text (`0-3,6`) as CPU numbers.
    fn cpus_allowed_list(status: &str) -> Vec<usize> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap();
        let mut cpus = Vec::new();
        for part in line.trim().split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            cpus.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
        }
        cpus
    }

    #[test]
    fn allowed_cpus_are_what_the_kernel_reports() {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        assert_eq!(allowed_cpus(), cpus_allowed_list(&status));
    }

    #[test]
    fn a_child_pinned_to_every_allowed_cpu_gets_them_all() {
        let cpus = allowed_cpus();
        let mut cmd = std::process::Command::new("cat");
        cmd.arg("/proc/self/status");
        pin_child(&mut cmd, cpus.clone());
        let out = cmd.output().unwrap();
        assert_eq!(
            cpus_allowed_list(&String::from_utf8_lossy(&out.stdout)),
            cpus
        );
    }

    #[test]
    fn pinned_child_sees_one_cpu() {
        let cpu = allowed_cpus()[0];
        let mut cmd = std::process::Command::new("cat");
        cmd.arg("/proc/self/status");
        pin_child(&mut cmd, vec![cpu]);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap();
        assert_eq!(
            line.split_whitespace().nth(1),
            Some(cpu.to_string().as_str())
        );
    }
}
